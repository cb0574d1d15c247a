"""Small utilities shared by the interop harness: tools, ports, deadlines and child processes.

The harness runs real programs (aria2c, ``python -m torrentish``) and libtorrent sessions next to the
code under test. Everything here exists so that a test can (a) say which tool it needs, (b) wait for
something with a deadline instead of sleeping blindly, and (c) never leave a process behind, and show
what the process printed when it fails.
"""

from __future__ import annotations

import importlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable, Sequence

import pytest

POLL_INTERVAL = 0.05


def in_ci() -> bool:
    """True when running under CI (``CI`` set to anything but empty/0/false)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_tool(name: str):
    """Return the tool, or skip the test locally / fail it in CI when the tool is missing.

    ``name`` is an executable on PATH (``"aria2c"``, ``"mktorrent"``: returns its path) or a Python
    module (``"libtorrent"``: returns the imported module). In CI a missing reference client is a
    broken environment, never a reason to pass quietly.
    """
    found = shutil.which(name)
    if found is None:
        try:
            found = importlib.import_module(name)
        except ImportError:
            found = None
    if found is None:
        message = f"reference tool {name!r} is not installed (see scripts/test.sh)"
        if in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now.

    The kernel picks it; the port is free again the moment we close the probe socket, so there is a
    small race with other processes. Ports come from the ephemeral range, which a fresh process gets
    for outgoing connections only rarely in the few milliseconds before our child binds it.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(predicate: Callable[[], object], timeout: float, what: str,
               detail: Callable[[], str] | None = None, interval: float = POLL_INTERVAL):
    """Poll ``predicate`` until it returns something truthy, and return that.

    On timeout fail the test with "timed out after Ns waiting for <what>" plus ``detail()`` (a log
    tail, a status line) so the failure explains itself.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            extra = f"\n{detail()}" if detail is not None else ""
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}{extra}", pytrace=False)
        time.sleep(interval)


def _listening_ports() -> set[int]:
    """Local ports in LISTEN state, from /proc/net/tcp{,6} (no connection is made)."""
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 3 and fields[3] == "0A":  # TCP_LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def is_listening(port: int) -> bool:
    """True when some socket listens on TCP ``port``.

    Reads the kernel's socket table instead of connecting, so the peer under test never sees a probe
    connection that closes before the handshake. Falls back to a connect probe off Linux.
    """
    if Path("/proc/net/tcp").exists():
        return port in _listening_ports()
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a text file, or a note that it does not exist."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return f"({path} does not exist)"
    return "\n".join(text.splitlines()[-lines:])


class ManagedProcess:
    """A child process whose output goes to files and which is always ended on exit.

    Use as a context manager: ``__exit__`` sends SIGTERM, waits ``grace`` seconds, then SIGKILLs,
    whatever happened in the body. stdout and stderr go to ``<log_dir>/<label>.out`` / ``.err``;
    ``report()`` renders both tails (plus any extra log file) for a failure message.
    """

    def __init__(self, label: str, argv: Sequence[str], log_dir: Path, *, cwd: Path | None = None,
                 env: dict[str, str] | None = None, extra_log: Path | None = None,
                 grace: float = 5.0):
        self.label = label
        self.argv = [str(a) for a in argv]
        self.stdout_path = Path(log_dir) / f"{label}.out"
        self.stderr_path = Path(log_dir) / f"{label}.err"
        self.extra_log = extra_log
        self.cwd = cwd
        self.env = env
        self.grace = grace
        self.popen: subprocess.Popen | None = None

    def __enter__(self) -> "ManagedProcess":
        # Entered twice, the first child would outlive the test (only the second is stopped).
        assert self.popen is None or self.popen.poll() is not None, f"{self.label} is already running"
        self.stdout_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.popen = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out,
                                          stderr=err, cwd=self.cwd, env=self.env)
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def returncode(self) -> int | None:
        """The exit status, or None while the process runs."""
        return None if self.popen is None else self.popen.poll()

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        """End the process (``sig``, then SIGKILL after the grace period); return its exit status."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            try:
                self.popen.send_signal(sig)
                self.popen.wait(timeout=self.grace)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        return self.popen.returncode

    def wait_exit(self, timeout: float) -> int:
        """Wait for the process to exit by itself; fail the test with its output on timeout."""
        assert self.popen is not None, f"{self.label} was never started"
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass  # fail outside the handler: the TimeoutExpired traceback would only be noise
        pytest.fail(f"{self.label} did not finish within {timeout:.0f}s\n{self.report()}",
                    pytrace=False)

    def check_alive(self) -> None:
        """Fail now, with the output, if the process has exited (for loops waiting on others)."""
        if not self.running():
            pytest.fail(f"{self.label} exited early with status {self.returncode}\n{self.report()}",
                        pytrace=False)

    def wait_listening(self, port: int, timeout: float) -> None:
        """Wait until the process listens on ``port``; fail early if it exits instead."""
        def ready() -> bool:
            if not self.running():
                pytest.fail(f"{self.label} exited with status {self.returncode} before listening "
                            f"on port {port}\n{self.report()}", pytrace=False)
            return is_listening(port)
        wait_until(ready, timeout, f"{self.label} to listen on port {port}", self.report)

    def report(self, lines: int = 40) -> str:
        """Command line, exit status and the tails of the process's output, for failure messages."""
        parts = [f"--- {self.label}: {' '.join(self.argv)}",
                 f"--- status: {'running' if self.running() else self.returncode}",
                 f"--- stdout ({self.stdout_path}):", tail(self.stdout_path, lines),
                 f"--- stderr ({self.stderr_path}):", tail(self.stderr_path, lines)]
        if self.extra_log is not None:
            parts += [f"--- log ({self.extra_log}):", tail(self.extra_log, lines)]
        return "\n".join(parts)


# What keeps a torrentish process a test starts off the host's real network: no LSD multicast on
# its interfaces, no public DHT routers, no port mapping (SSDP multicast, NAT-PMP to the host's
# gateway). Tests that build an environment from scratch add these.
NO_HOST_DISCOVERY = {"TORRENTISH_LSD": "0", "TORRENTISH_DHT": "0", "TORRENTISH_PORT_MAPPING": "0"}
