"""A small process that runs a Session, for tests that must kill one (kill -9) and start it again.

    python -m tests.support.session_runner --state DIR --download DIR [--add FILE ...]
        [--peer HOST:PORT ...] [--down-limit BYTES] [--resume-interval S]

It adds the given .torrent files (those already in the state dir come back by themselves), dials
the given peers for every torrent, and prints one JSON line per scheduler pass:

    {"port": P, "torrents": [{"id", "hash", "state", "have", "pieces", "recorded", "at_start",
                              "error"}, ...]}

`have` counts the verified pieces, `recorded` those in the state file's resume data (what a
kill -9 keeps), `at_start` the pieces the torrent had once its start-up check was over (null
until then): a piece verified on disk before a restart must be among them, never fetched again.
It runs until SIGTERM/SIGINT (a clean stop) or SIGKILL. `SessionProcess` drives it from a test.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _parse_peer(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


async def _main(args) -> None:
    import trio

    from torrentish.session import DuplicateTorrent, SessionConfig, open_session

    config = SessionConfig(state_dir=Path(args.state), download_dir=Path(args.download), listen_port=args.port,
                           host="127.0.0.1", lsd=False, dht=False, pex=False, max_active_downloads=0,
                           max_active_seeds=0, down_limit=args.down_limit)
    config.engine.resume_interval = args.resume_interval
    peers = [_parse_peer(p) for p in args.peer]
    async with open_session(config) as session:
        for path in args.add:
            try:
                await session.add(Path(path))
            except DuplicateTorrent:
                pass
        for t in session.torrents():
            t.add_peers(peers)
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async with trio.open_nursery() as nursery:
                async def stop_on_signal() -> None:
                    async for _ in signals:
                        nursery.cancel_scope.cancel()

                nursery.start_soon(stop_on_signal)
                while True:
                    rows = []
                    for t in session.torrents():
                        record = getattr(t.resume_store, "resume", None) or {}
                        recorded = _count_bits(record.get(b"pieces", b""))
                        rows.append({"id": t.id, "hash": t.info_hash.hex(), "state": t.state,
                                     "have": t.have.count() if t.have is not None else 0,
                                     "pieces": t.info.num_pieces if t.info else 0, "recorded": recorded,
                                     "at_start": None if t.found_at_start is None else sorted(t.found_at_start), "error": t.error_string})
                    print(json.dumps({"port": session.port, "torrents": rows}), flush=True)
                    await session.next_pass()


def _count_bits(data: bytes) -> int:
    return sum(bin(b).count("1") for b in data)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--state", required=True)
    parser.add_argument("--download", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--add", action="append", default=[])
    parser.add_argument("--peer", action="append", default=[])
    parser.add_argument("--down-limit", type=int, default=0)
    parser.add_argument("--resume-interval", type=float, default=5.0)
    import trio

    trio.run(_main, parser.parse_args(argv))


class SessionProcess:
    """The runner as a child process whose JSON lines a test reads; always ended on exit."""

    def __init__(self, *args: str, log: Path) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
        self.log = log
        self._err = open(log, "wb")
        self.popen = subprocess.Popen([sys.executable, "-m", "tests.support.session_runner", *args], cwd=ROOT,
                                      env=env, stdout=subprocess.PIPE, stderr=self._err, text=True, bufsize=1)
        self.last: dict | None = None

    def __enter__(self) -> SessionProcess:
        return self

    def __exit__(self, *exc_info) -> None:
        self.kill()
        self._err.close()

    def wait_for(self, predicate, what: str) -> dict:
        """Read lines until `predicate(line)` holds for one; the process's exit or stderr fails it.
        (Each line comes within a second: the runner prints on every scheduler pass.)"""
        import pytest

        for line in self.popen.stdout:
            self.last = json.loads(line)
            if predicate(self.last):
                return self.last
        pytest.fail(f"the session process ended before {what}: {self.log.read_text()[-3000:]}", pytrace=False)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            self.popen.wait(timeout=30)
        if self.popen.stdout is not None:
            self.popen.stdout.close()


if __name__ == "__main__":
    main()
