"""One file from a torrentish seed over 127.0.0.1: into `torrentish get`, and into `torrentish daemon`
through its RPC, the two interleaved in one run.

    .venv/bin/python bench/bench_daemon_transfer.py [--size 1GiB] [--repeat 3]

The seed, the file, the tracker and the measurements are bench_transfer.py's (its docstring
says how). `get` is timed from its start to its exit; the daemon from the torrent-add request
(the daemon already running, its RPC answering) until torrent-get reports percentDone 1, polled
every 50 ms. Both find the seed through the same tracker; each leecher has a fresh state dir.
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_rpc import Rpc  # noqa: E402  (the old-envelope RPC call with its 409 handshake)
from bench_transfer import (  # noqa: E402
    PYTHON, Measured, Setup, check_copy, make_file, make_torrent, quiet_discovery_flags, start_leech, start_seed,
)

from tests.support import free_port, is_listening  # noqa: E402
from tests.support.tracker import Tracker  # noqa: E402
from torrentish.formats.metainfo import build_torrent  # noqa: E402
from torrentish.formats.units import format_size, parse_size  # noqa: E402


def run(kind: str, data: Path, info_raw: bytes, info_hash: bytes, work: Path, timeout: float) -> float:
    shutil.rmtree(work, ignore_errors=True)
    (work / "down").mkdir(parents=True)
    seed = leech = None
    try:
        with Tracker() as tracker:
            torrent = work / "bench.torrent"
            torrent.write_bytes(build_torrent(info_raw, [[tracker.announce_url]]))
            flags = quiet_discovery_flags("seed")
            s = Setup(torrent, info_hash, data, work / "down", work, tracker, free_port(), free_port(), flags,
                      quiet_discovery_flags("get"))
            os.sync()
            seed = start_seed("t", s)
            if kind == "get":
                start = time.perf_counter()
                leech = start_leech("t", s)
                if leech.proc.wait(timeout) != 0:
                    raise SystemExit(f"get failed:\n{leech.tail()}")
                wall = time.perf_counter() - start
            else:
                rpc_port = free_port()
                env = dict(os.environ, TORRENTISH_STATE_DIR=str(work / "daemon-state"))
                leech = Measured([PYTHON, "-m", "torrentish", "daemon", "--rpc-port", rpc_port, "--port",
                                  s.leech_port, "--download-dir", s.down, "--no-lsd", "--no-dht", "-q",
                                  "--log-file", work / "daemon.log"], work / "leech.log", env)
                while not is_listening(rpc_port):
                    if not leech.running():
                        raise SystemExit(f"the daemon exited:\n{leech.tail()}")
                    time.sleep(0.02)
                client = Rpc(rpc_port)
                metainfo = base64.b64encode(torrent.read_bytes()).decode()
                start = time.perf_counter()
                client.call("torrent-add", {"metainfo": metainfo})
                while client.call("torrent-get", {"fields": ["percentDone"]})["torrents"][0]["percentDone"] < 1:
                    if time.perf_counter() - start > timeout:
                        raise SystemExit(f"the daemon did not finish within {timeout:.0f}s:\n{leech.tail()}")
                    time.sleep(0.05)
                wall = time.perf_counter() - start
                leech.stop()
            seed.stop()
        check_copy(data, work / "down" / data.name, random.Random(1))
        return wall
    finally:
        for proc in (leech, seed):
            if proc is not None:
                proc.kill()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/torrentish-bench"))
    parser.add_argument("--size", default="1GiB")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    size = parse_size(args.size)
    args.dir.mkdir(parents=True, exist_ok=True)
    data = args.dir / f"bench-{size}.bin"  # the same file bench_create and bench_transfer use
    make_file(data, size)
    torrent, info_raw, info_hash, piece = make_torrent(data)
    walls: dict[str, list[float]] = {"get": [], "daemon": []}
    for _ in range(args.repeat):
        for kind in walls:
            walls[kind].append(run(kind, data, info_raw, info_hash, args.dir / f"work-{kind}", args.timeout))
    print(f"{format_size(size)} over 127.0.0.1 from `torrentish seed`, piece {format_size(piece)}, "
          f"median of {args.repeat} (interleaved)\n")
    print("| leecher | wall s (median) | MB/s | runs |")
    print("|---|---:|---:|---|")
    for kind, values in walls.items():
        median = statistics.median(values)
        label = "torrentish get" if kind == "get" else "torrentish daemon (RPC torrent-add)"
        print(f"| {label} | {median:.2f} | {size / median / 1e6:.0f} | {', '.join(f'{v:.2f}' for v in values)} |")


if __name__ == "__main__":
    main()
