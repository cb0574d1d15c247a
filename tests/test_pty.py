"""`get` on a real (pseudo) terminal: the live view is drawn and redrawn in place at 80x24, the
summary follows it, and Ctrl-C typed on the terminal stops cleanly with a word on resuming."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from tests.support.data import make_single_file, make_torrent
from tests.support import NO_HOST_DISCOVERY

CURSOR_UP = "\x1b[1A"
HIDE_CURSOR, SHOW_CURSOR = "\x1b[?25l", "\x1b[?25h"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\r")


def env_for(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TORRENTISH_") and k not in ("COLUMNS", "LINES")}
    env.update(TORRENTISH_STATE_DIR=str(tmp_path / "state"), TORRENTISH_CONFIG=str(tmp_path / "none.toml"),
               TERM="xterm-256color")
    env.update(NO_HOST_DISCOVERY)
    env.pop("NO_COLOR", None)
    return env


class Terminal:
    """A child process on a pseudo-terminal of a fixed size, which we read and type into."""

    def __init__(self, argv: list[str], env: dict[str, str], cols: int = 80, rows: int = 24):
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.process = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True,
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),  # the pty is its terminal: ^C works
        )
        os.close(slave)
        self.output = b""

    def read_until(self, predicate, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while not predicate(self.text) and time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # EIO: the child is gone and the terminal closed
                    break
                if not chunk:
                    break
                self.output += chunk
        return self.text

    def read_to_end(self, timeout: float) -> str:
        self.read_until(lambda _: False, timeout) if self.process.poll() is None else None
        self.read_until(lambda _: False, 0.5)
        self.process.wait(timeout=timeout)
        return self.text

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    @property
    def text(self) -> str:
        return self.output.decode("utf-8", "replace")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        os.close(self.master)


def start_seeder(tmp_path: Path, torrent: Path, data: Path, port: int) -> subprocess.Popen:
    child = subprocess.Popen(
        [sys.executable, "-m", "torrentish", "seed", str(torrent), "-d", str(data), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env_for(tmp_path),
    )
    assert "listening on port" in child.stdout.readline()
    return child


def stop(child: subprocess.Popen) -> None:
    child.send_signal(signal.SIGINT)
    try:
        child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()


def frames(text: str) -> int:
    """How many times the view was redrawn in place."""
    return text.count("\r" + "\x1b[2K" + CURSOR_UP)


def test_get_draws_the_live_view_and_ctrl_c_stops_it(tmp_path, port_factory):
    payload = make_single_file(tmp_path / "src", size=4 * 1024 * 1024)
    torrent = tmp_path / "s.torrent"
    make_torrent(payload, torrent)
    port = port_factory()
    seeder = start_seeder(tmp_path, torrent, payload.root, port)
    get = [sys.executable, "-m", "torrentish", "get", str(torrent), "-o", str(tmp_path / "dl"),
           "--peer", f"127.0.0.1:{port}"]
    try:
        # Ctrl-C typed on the terminal, mid-download.
        terminal = Terminal([*get, "--max-down", "256KiB/s"], env_for(tmp_path))
        try:
            terminal.read_until(lambda text: frames(text) >= 3, timeout=20)
            terminal.type(b"\x03")
            text = terminal.read_to_end(timeout=30)
        finally:
            terminal.close()
        assert terminal.process.returncode == 130, text
        plain = ANSI.sub("", text)
        assert "downloading" in plain and "stopped" in plain
        assert "progress is saved: run the same command again to resume" in plain
        assert text.rfind(SHOW_CURSOR) > text.rfind(HIDE_CURSOR)  # the cursor comes back

        # The same command resumes; the live view runs to the end.
        terminal = Terminal([*get, "--max-down", "1MiB/s"], env_for(tmp_path))
        try:
            text = terminal.read_to_end(timeout=60)
        finally:
            terminal.close()
    finally:
        stop(seeder)
    assert terminal.process.returncode == 0, text
    assert HIDE_CURSOR in text and "\x1b[" in text and "━" in text
    assert frames(text) >= 2, "the view is redrawn in place"
    plain = ANSI.sub("", text)
    assert "single.bin" in plain and "downloading" in plain and "complete" in plain
    assert "peer" in plain and f"127.0.0.1:{port}" in plain and "torrentish 0.1" in plain
    assert re.search(r"\d+\.\d%", plain) and "100%" in plain
    summary = [line for line in plain.splitlines() if line.startswith("done: single.bin")]
    assert summary and "this run" in summary[0] and "from 1 peer" in summary[0]
    assert (tmp_path / "dl" / "single.bin").read_bytes() == payload.root.read_bytes()


def test_demo_on_a_terminal(tmp_path):
    terminal = Terminal([sys.executable, "-m", "torrentish", "demo", "--size", "2MiB", "--rate", "1MiB/s"],
                        env_for(tmp_path), cols=80, rows=24)
    try:
        text = terminal.read_to_end(timeout=60)
    finally:
        terminal.close()
    assert terminal.process.returncode == 0, text
    plain = ANSI.sub("", text)
    assert "torrentish-demo.bin" in plain and "━" in plain and frames(text) >= 1
    assert re.search(r"demo: 2\.0 MiB copied in \d+s at .*, identical to the original", plain)
