"""Benchmark: a web-seed-only download (BEP 19) from nginx on 127.0.0.1, against aria2's plain
HTTP download of the same file from the same server, interleaved in one run.

    .venv/bin/python bench/bench_webseed.py [--size 1GiB] [--repeat 3] [--dir /tmp/torrentish-bench]

The file is bench_create's (random-ish bytes, made once in --dir, read once so it is in the
page cache); nginx (tests/support/nginx.py: our own nginx.conf, sendfile on) serves --dir. The
torrent (torrentish's automatic piece length) has the file's URL as its only web seed, and no
tracker: `torrentish get` fetches every piece from nginx with range requests and hashes it.
aria2 fetches the same URL as plain HTTP with the same number of connections as our web seed
(2), no torrent and no hashing. Each download runs under GNU time (wall, CPU user + system,
peak RSS); the copy is checked at 65 spots and deleted before the next run.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_create import make_file  # noqa: E402
from bench_transfer import GNU_TIME, PYTHON, Measured, check_copy, quiet_discovery_flags, warm  # noqa: E402

from tests.support.nginx import nginx_serving  # noqa: E402
from torrentish.app.create import create_torrent  # noqa: E402
from torrentish.formats.metainfo import build_torrent, parse_torrent  # noqa: E402
from torrentish.formats.units import format_size, parse_size  # noqa: E402

CONNECTIONS = 2  # WebSeedSettings.connections
GiB = 1 << 30


def run(kind: str, url: str, torrent: Path, name: str, work: Path, flags: list[str]) -> tuple[float, float, int]:
    """(wall s, CPU s, peak RSS bytes) of one download into a fresh `work`."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    if kind == "torrentish":
        argv = [PYTHON, "-m", "torrentish", "get", torrent, "-o", work, "-q", *flags]
    else:
        argv = ["aria2c", "--no-conf=true", "--quiet=true", "--file-allocation=none", "--allow-overwrite=true",
                f"--max-connection-per-server={CONNECTIONS}", f"--split={CONNECTIONS}", "--min-split-size=16M",
                f"--dir={work}", f"--out={name}", url]
    start = time.monotonic()
    proc = Measured(argv, work.parent / f"{kind}.log")
    code = proc.proc.wait()
    wall = time.monotonic() - start
    if code != 0:
        raise SystemExit(f"{kind} failed ({code}):\n{proc.tail()}")
    user, system, rss = proc.usage()
    return wall, user + system, rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/torrentish-bench"))
    parser.add_argument("--size", default="1GiB")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not Path(GNU_TIME).exists() or not shutil.which("aria2c"):
        raise SystemExit("needs GNU time (/usr/bin/time) and aria2c (apt-get install time aria2)")
    size = parse_size(args.size)
    serve = args.dir / "www"
    serve.mkdir(parents=True, exist_ok=True)
    data = serve / f"bench-{size}.bin"
    make_file(data, size)
    warm(data)
    raw = create_torrent(data)
    info = parse_torrent(raw).info
    print(f"# {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}, {format_size(size)}, "
          f"piece length {format_size(info.piece_length)}", flush=True)
    flags = quiet_discovery_flags("get")
    rng = random.Random(1)
    results: dict[str, list[tuple[float, float, int]]] = {"torrentish": [], "aria2": []}
    with nginx_serving(serve, args.dir / "nginx") as base:
        url = base + data.name
        torrent = args.dir / "webseed.torrent"
        torrent.write_bytes(build_torrent(info.raw, url_list=[url]))
        for round_ in range(args.repeat):
            for kind in results:  # interleaved, so drifting load hits both alike
                work = args.dir / "webseed-run" / kind
                figures = run(kind, url, torrent, data.name, work, flags)
                check_copy(data, work / data.name, rng)
                shutil.rmtree(work)
                results[kind].append(figures)
                wall, cpu, rss = figures
                print(f"  {kind:<10} round {round_ + 1}: {wall:6.2f} s, CPU {cpu:.2f} s, RSS {format_size(rss)}",
                      file=sys.stderr, flush=True)
    print(f"\n| client | wall s | MiB/s | CPU s | CPU s/GiB | peak RSS | wall / aria2 |\n|---|---:|---:|---:|---:|---:|---:|")
    aria_wall = statistics.median(r[0] for r in results["aria2"])
    for kind, runs in results.items():
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        rss = statistics.median(r[2] for r in runs)
        print(f"| {kind} | {wall:.2f} | {size / wall / (1 << 20):.0f} | {cpu:.2f} | {cpu / (size / GiB):.2f} | "
              f"{format_size(rss)} | {wall / aria_wall:.2f} |")
    print(f"\n# medians of {args.repeat}; load at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
