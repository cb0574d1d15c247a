"""aria2c (Debian aria2 1.36) as a reference peer in tests.

aria2 cannot dial a peer given by address: it learns peers from a tracker (the test tracker here)
and accepts incoming connections. So a test either lets aria2 find its peers through
``tests.support.tracker`` (registering peers that do not announce with ``tracker.add_peer``) or dials
aria2's ``--listen-port`` from the other side.

Observed with this aria2 and the test tracker:
- it accepts a tracker at http://127.0.0.1:<port>/announce and announces its real ``--listen-port``;
- it re-announces every ``interval`` the tracker gives (2 s here), and dials the peers it gets back,
  even while seeding;
- as a seed it verifies the data first (``-V``) and only then starts listening, so "listening" means
  "ready to serve";
- it exits 0 on SIGTERM, and 0 after a finished download with ``--seed-time=0``;
- when it dials a peer it opens with an MSE (BEP 8 obfuscation) handshake; when the peer closes
  that connection it dials again about 1 s later with the plain BitTorrent handshake (reserved
  bytes 00 00 00 00 00 10 00 04: extension protocol and fast extension). A client without MSE must
  drop a connection whose first byte is not 19 promptly, and pays about a second per connection.

Both helpers are context managers that always end the process (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support import ManagedProcess, require_tool, tail

# Flags for every aria2 run: nothing but the test tracker and direct connections, no console noise,
# short tracker timeouts, and never outlive the test process.
COMMON_FLAGS = (
    "--no-conf=true",
    "--enable-dht=false",
    "--enable-dht6=false",
    "--enable-peer-exchange=false",
    "--bt-enable-lpd=false",
    "--bt-tracker-connect-timeout=3",
    "--bt-tracker-timeout=3",
    "--quiet=true",
    "--summary-interval=0",
    "--show-console-readout=false",
    "--file-allocation=none",
    "--auto-file-renaming=false",
    "--log-level=info",
)


class Aria2(ManagedProcess):
    """One aria2c process working on one torrent (a .torrent file, or a magnet link as a string)
    in ``directory`` (the torrent's parent directory)."""

    def __init__(self, torrent: Path | str, directory: Path, port: int, log_dir: Path, *, seed: bool,
                 label: str | None = None, extra: tuple[str, ...] = ()):
        self.port = port
        self.seeding = seed
        self.log_path = Path(log_dir) / f"{label or ('aria2-seed' if seed else 'aria2-leech')}.log"
        mode = ("--check-integrity=true", "--seed-ratio=0.0") if seed else ("--seed-time=0",)
        argv = [require_tool("aria2c"), *COMMON_FLAGS, *mode,
                f"--dir={directory}", f"--listen-port={port}", f"--log={self.log_path}",
                f"--stop-with-process={os.getpid()}", *extra, str(torrent)]
        super().__init__(label or ("aria2-seed" if seed else "aria2-leech"), argv, log_dir,
                         extra_log=self.log_path)

    def __enter__(self) -> "Aria2":
        if not self.argv[-1].startswith("magnet:"):
            Path(self.argv[-1]).resolve(strict=True)  # a missing torrent is a test bug: say so early
        super().__enter__()
        return self

    def wait_ready(self, timeout: float = 30) -> None:
        """Seed: wait until the data verified and aria2 listens (it listens only after checking)."""
        self.wait_listening(self.port, timeout)
        if self.seeding and "Verification finished successfully" not in tail(self.log_path, 10_000):
            pytest.fail(f"aria2 did not verify the seed data\n{self.report()}", pytrace=False)

    def wait_complete(self, timeout: float) -> None:
        """Leech: wait for aria2 to finish the download and exit 0; show its log otherwise."""
        status = self.wait_exit(timeout)
        if status != 0:
            pytest.fail(f"aria2 exited with status {status}\n{self.report()}", pytrace=False)


def aria2_seed(torrent: Path, directory: Path, port: int, log_dir: Path, **kwargs) -> Aria2:
    """aria2 seeding ``torrent`` from data under ``directory``; enter it, then ``wait_ready()``."""
    return Aria2(torrent, directory, port, log_dir, seed=True, **kwargs)


def aria2_leech(torrent: Path, directory: Path, port: int, log_dir: Path, **kwargs) -> Aria2:
    """aria2 downloading ``torrent`` into ``directory`` and exiting when done."""
    Path(directory).mkdir(parents=True, exist_ok=True)
    return Aria2(torrent, directory, port, log_dir, seed=False, **kwargs)
