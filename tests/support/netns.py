"""A private LAN made of Linux network namespaces, for tests that need real interfaces.

    with Lan(hosts=2) as lan:            # needs root (CAP_NET_ADMIN) and iproute2
        lan.limit(0, "16mbit")           # optional: tc tbf on host 0's interface
        with lan.process(0, "share", [python, "-m", "torrentish", "share", ...], logs) as share:
            ...

Layout: one "switch" namespace holding a bridge, and one namespace per host, each with `lo` and an
`eth0` that is a veth pair plugged into the bridge. Host i has 10.199.N.(i+1)/24 and
fd99:199:N::(i+1)/64, with N derived from the pid; every name carries the pid and a counter, so
parallel runs never collide. Nothing is created in the machine's own namespace (the veths are
made inside the switch namespace), so deleting the namespaces removes every trace, and `close`
does that in every outcome: it also ends any process still running in them (all started by the
test). Multicast snooping is off on the bridge, so LSD's multicast reaches every host.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Iterable, Sequence

import pytest

from tests.support import ManagedProcess, in_ci

_counter = itertools.count()


def netns_unavailable() -> str | None:
    """Why namespaces cannot be made here, or None when they can."""
    if os.geteuid() != 0:
        return "network namespaces need root (CAP_NET_ADMIN)"
    if shutil.which("ip") is None or shutil.which("tc") is None:
        return "iproute2 (ip, tc) is not installed"
    probe = f"ttprobe{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"`ip netns add` failed: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def require_netns() -> None:
    """Skip (locally) or fail (in CI) with the reason, when namespaces cannot be made."""
    reason = netns_unavailable()
    if reason is None:
        return
    message = f"cannot build a namespace LAN: {reason}"
    if in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def delete_namespaces(names: Iterable[str]) -> None:
    """Kill whatever still runs in each namespace (all of it started by the test), then delete it."""
    for name in names:
        pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")


class NamespaceSet:
    """Namespaces a test builds (``_build``, which records each in ``_made``) on entering and
    deletes, with whatever runs in them, on leaving, in every outcome."""

    _made: list[str]

    def _build(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        delete_namespaces(reversed(self._made))
        self._made.clear()


class Lan(NamespaceSet):
    def __init__(self, hosts: int = 2):
        pid = os.getpid()
        serial = next(_counter)
        self.tag = f"tt{pid}n{serial}"
        self.switch = f"{self.tag}sw"
        self.hosts = [f"{self.tag}h{i}" for i in range(hosts)]
        self.net = (pid + serial) % 250 + 1  # the third octet of 10.199.N.0/24
        self.ipv4 = [f"10.199.{self.net}.{i + 1}" for i in range(hosts)]
        self.ipv6 = [f"fd99:199:{self.net:x}::{i + 1}" for i in range(hosts)]
        self._made: list[str] = []

    def _build(self) -> None:
        _ip("netns", "add", self.switch)
        self._made.append(self.switch)
        _ip("-n", self.switch, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0")
        _ip("-n", self.switch, "link", "set", "br0", "up")
        for i, host in enumerate(self.hosts):
            _ip("netns", "add", host)
            self._made.append(host)
            port = f"p{i}"
            _ip("-n", self.switch, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", host)
            _ip("-n", self.switch, "link", "set", port, "master", "br0", "up")
            _ip("-n", host, "link", "set", "lo", "up")
            _ip("-n", host, "addr", "add", f"{self.ipv4[i]}/24", "dev", "eth0")
            _ip("-n", host, "addr", "add", f"{self.ipv6[i]}/64", "dev", "eth0", "nodad")
            _ip("-n", host, "link", "set", "eth0", "up")

    # ------------------------------------------------------------------------------------- use
    def command(self, host: int, argv: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.hosts[host], *map(str, argv)]

    def process(self, host: int, label: str, argv: Sequence[str], log_dir: Path, **kwargs) -> ManagedProcess:
        """A ManagedProcess running `argv` inside host `host`."""
        return ManagedProcess(label, self.command(host, argv), log_dir, **kwargs)

    def limit(self, host: int, rate: str, burst: str = "64kb", latency: str = "100ms") -> None:
        """Cap what host `host` sends with a token bucket filter on its eth0."""
        _ip(
            "netns",
            "exec",
            self.hosts[host],
            "tc",
            "qdisc",
            "add",
            "dev",
            "eth0",
            "root",
            "tbf",
            "rate",
            rate,
            "burst",
            burst,
            "latency",
            latency,
        )

    def listening(self, pid: int, port: int) -> bool:
        """True when TCP `port` is listened on in the namespace of process `pid` (its /proc view)."""
        for table in (f"/proc/{pid}/net/tcp", f"/proc/{pid}/net/tcp6"):
            try:
                lines = Path(table).read_text().splitlines()[1:]
            except OSError:
                continue
            for line in lines:
                fields = line.split()
                if len(fields) > 3 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    return True
        return False

    def sent_bytes(self, host: int) -> int:
        result = subprocess.run(
            self.command(host, ["cat", "/sys/class/net/eth0/statistics/tx_bytes"]), capture_output=True, text=True
        )
        return int(result.stdout.strip() or 0)
