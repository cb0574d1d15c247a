"""Output never holds up a transfer: a seed or a `get` whose stdout is a pipe that nobody reads still
transfers, and a closed stdout ends a command with one line.

The pipes are full before the process starts (every byte of the kernel's buffer written), so the
first line a command prints would block it if it wrote to stdout from the engine's thread. The
positive control is the pipe itself: it is still full when the transfer has completed, so the
transfer ran while the command's output was stuck.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import termios
import threading
from pathlib import Path

import pytest

from tests.support.data import MiB, assert_identical, make_single_file, make_torrent
from tests.test_cli_transfer import env_for

pytestmark = pytest.mark.timeout(180)


class FullPipe:
    """A pipe whose kernel buffer is full: the next write to `write_fd` blocks until someone reads."""

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.write_fd, False)
        self.filled = 0
        try:
            while True:
                self.filled += os.write(self.write_fd, b"." * 4096)
        except BlockingIOError:
            pass
        os.set_blocking(self.write_fd, True)

    def unread(self) -> int:
        """Bytes waiting in the pipe."""
        count = bytearray(4)
        fcntl.ioctl(self.read_fd, termios.FIONREAD, count)
        return int.from_bytes(count, sys.byteorder)

    def hand_over(self) -> int:
        """The write end, for a child process; ours is closed once the child has it (close_ours)."""
        return self.write_fd

    def close_ours(self) -> None:
        os.close(self.write_fd)

    def read_all_in_background(self) -> threading.Thread:
        def read() -> None:
            chunks = []
            while chunk := os.read(self.read_fd, 1 << 16):
                chunks.append(chunk)
            self.text = b"".join(chunks).decode(errors="replace").lstrip(".")

        thread = threading.Thread(target=read, daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        for fd in (self.read_fd, self.write_fd):
            try:
                os.close(fd)
            except OSError:
                pass


def torrentish(*args: str) -> list[str]:
    return [sys.executable, "-m", "torrentish", *map(str, args)]


@pytest.fixture
def payload(tmp_path):
    data = make_single_file(tmp_path / "src", size=24 * MiB + 7)
    make_torrent(data, tmp_path / "t.torrent")
    return data


@pytest.mark.parametrize("json", [False, True], ids=["plain", "json"])
def test_a_seed_whose_stdout_nobody_reads_keeps_serving(tmp_path, port_factory, payload, json):
    port = port_factory()
    out, err = FullPipe(), FullPipe()
    seed = subprocess.Popen(
        torrentish("seed", tmp_path / "t.torrent", "-d", payload.root, "--port", port, "-vv",
                   *(["--json"] if json else [])),
        stdout=out.hand_over(), stderr=err.hand_over(), env=env_for(tmp_path),
    )
    out.close_ours(), err.close_ours()
    try:
        # `get` dials until the seed listens (the seed's own "listening" line is stuck in the pipe).
        done = subprocess.run(
            torrentish("get", tmp_path / "t.torrent", "-o", tmp_path / "dl", "--peer", f"127.0.0.1:{port}"),
            capture_output=True, text=True, env=env_for(tmp_path), timeout=150,
        )
        assert done.returncode == 0, done.stderr
        assert_identical(payload, tmp_path / "dl" / payload.name)
        assert out.unread() >= out.filled and seed.poll() is None  # the seed's output is still stuck
    finally:
        seed.send_signal(signal.SIGINT)
        readers = [out.read_all_in_background(), err.read_all_in_background()]
        try:
            assert seed.wait(60) == 0
        finally:
            if seed.poll() is None:
                seed.kill()
            for reader in readers:
                reader.join(30)
            out.close(), err.close()
    # What the seed printed while stuck arrived once the pipe was read, the summary last.
    if json:
        assert out.text.startswith('{"v":1,"event":"start"') and '"event":"summary"' in out.text.splitlines()[-1]
    else:
        assert "listening on port" in out.text.splitlines()[0] and "seeded" in out.text.splitlines()[-1]


def test_a_get_whose_stdout_nobody_reads_completes_and_exits(tmp_path, port_factory, payload):
    port = port_factory()
    seed = subprocess.Popen(torrentish("seed", tmp_path / "t.torrent", "-d", payload.root, "--port", port),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env_for(tmp_path))
    out = FullPipe()
    try:
        assert "listening on port" in seed.stdout.readline()
        get = subprocess.Popen(
            torrentish("get", tmp_path / "t.torrent", "-o", tmp_path / "dl", "--peer", f"127.0.0.1:{port}",
                       "--json", "-vv"),
            stdout=out.hand_over(), stderr=subprocess.DEVNULL, env=env_for(tmp_path),
        )
        out.close_ours()
        # It completes and exits although nobody ever reads (it waits a few seconds at most for
        # its last lines to get out).
        assert get.wait(150) == 0
        assert_identical(payload, tmp_path / "dl" / payload.name)
        assert out.unread() >= out.filled  # nothing was read: the pipe was full all along
    finally:
        seed.send_signal(signal.SIGINT)
        seed.communicate(timeout=60)
        out.close()


def test_a_closed_stdout_ends_get_with_one_line(tmp_path, port_factory, payload):
    port = port_factory()
    seed = subprocess.Popen(torrentish("seed", tmp_path / "t.torrent", "-d", payload.root, "--port", port,
                                       "--max-up", "256KiB/s"),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env_for(tmp_path))
    try:
        assert "listening on port" in seed.stdout.readline()
        read_fd, write_fd = os.pipe()
        os.close(read_fd)  # the reader is gone before the first line: `get ... | true`
        get = subprocess.run(
            torrentish("get", tmp_path / "t.torrent", "-o", tmp_path / "dl", "--peer", f"127.0.0.1:{port}"),
            stdout=write_fd, stderr=subprocess.PIPE, text=True, env=env_for(tmp_path), timeout=60,
        )
        os.close(write_fd)
    finally:
        seed.send_signal(signal.SIGINT)
        seed.communicate(timeout=60)
    assert get.returncode == 1
    assert get.stderr.strip().splitlines() == ["error: standard output was closed"], get.stderr
    resume = list(Path(env_for(tmp_path)["TORRENTISH_STATE_DIR"]).rglob("*"))
    assert resume  # it stopped the normal way: the resume state was saved
