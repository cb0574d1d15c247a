"""Benchmark: v2 and hybrid torrents (BEP 52), made and verified, beside libtorrent and mktorrent.

    .venv/bin/python bench/bench_v2.py [--dir /tmp/torrentish-bench] [--sizes 1GiB] [--repeat 3]

One file of random-ish bytes per size (shared with bench_create.py), the same piece length for
every tool (torrentish's automatic choice). Measured in this run, each in a child process of its
own under GNU time (CPU user + system, peak RSS), warm page cache, median of --repeat runs:

- raw SHA-256 and raw SHA-1 of the bytes in memory on every core: SHA-256 over 16 KiB leaves (the
  v2 cost floor of reading nothing) and SHA-1 over pieces (v1's);
- torrentish create --v2 / --hybrid / --v1 and torrentish verify of the v2 and hybrid torrents;
- libtorrent's create_torrent + set_piece_hashes, v2-only and hybrid (its default);
- mktorrent (v1 only, multi-threaded C).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_create import Run, make_file, median_run  # noqa: E402
from torrentish.app.create import auto_piece_length  # noqa: E402
from torrentish.formats.units import format_size, parse_size  # noqa: E402
from torrentish.storage.hashing import default_workers  # noqa: E402

RAW = """
import hashlib, sys, threading, time
path, algorithm, chunk, workers = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
data = memoryview(open(path, "rb").read())
size, new = len(data), getattr(hashlib, algorithm)
def run(lo, hi):
    for start in range(lo, hi, chunk):
        new(data[start:min(start + chunk, size)]).digest()
count = -(-size // chunk)
bounds = [count * n // workers * chunk for n in range(workers + 1)]
threads = [threading.Thread(target=run, args=(bounds[n], min(bounds[n + 1], size))) for n in range(workers)]
start = time.perf_counter()
for t in threads: t.start()
for t in threads: t.join()
print(time.perf_counter() - start)
"""

LIBTORRENT = """
import sys, time, warnings, libtorrent as lt
path, piece, flavour = sys.argv[1], int(sys.argv[2]), sys.argv[3]
flags = lt.create_torrent.v2_only if flavour == "v2" else 0
start = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    maker = lt.create_torrent(lt.list_files(path), piece, flags=flags)
    lt.set_piece_hashes(maker, __import__("os").path.dirname(path))
    data = lt.bencode(maker.generate())
print(time.perf_counter() - start)
"""


def bench_size(directory: Path, size: int, repeat: int, workers: int) -> tuple[int, dict[str, Run]]:
    data = directory / f"bench-{size}.bin"
    make_file(data, size)
    piece = auto_piece_length(size)
    python = sys.executable
    results: dict[str, Run] = {}
    with tempfile.TemporaryDirectory(dir=directory) as scratch:
        out = Path(scratch)
        results["raw SHA-256 of 16 KiB leaves, in memory"] = median_run(
            [python, "-c", RAW, str(data), "sha256", "16384", str(workers)], repeat, inner_time=True)
        results["raw SHA-1 of pieces, in memory"] = median_run(
            [python, "-c", RAW, str(data), "sha1", str(piece), str(workers)], repeat, inner_time=True)
        for kind in ("v2", "hybrid", "v1"):
            results[f"torrentish create --{kind}"] = median_run(
                [python, "-m", "torrentish", "create", str(data), "-o", str(out / f"{kind}.torrent"), "--force",
                 f"--{kind}", "--piece-length", str(piece), "-q"], repeat)
        for flavour in ("v2", "hybrid"):
            results[f"libtorrent create_torrent {flavour} (in process)"] = median_run(
                [python, "-c", LIBTORRENT, str(data), str(piece), flavour], repeat, inner_time=True)
        mktorrent = shutil.which("mktorrent")
        if mktorrent:
            mk_out = out / "mk.torrent"
            results["mktorrent v1"] = median_run(
                [mktorrent, "-l", str(piece.bit_length() - 1), "-o", str(mk_out), str(data)], repeat,
                before=lambda: mk_out.unlink(missing_ok=True))
        for kind in ("v2", "hybrid"):
            results[f"torrentish verify ({kind})"] = median_run(
                [python, "-m", "torrentish", "verify", str(out / f"{kind}.torrent"), "--data", str(data), "-q"],
                repeat)
    return piece, results


def report(size: int, piece: int, results: dict[str, Run]) -> str:
    sha256 = results["raw SHA-256 of 16 KiB leaves, in memory"].wall
    lt_v2 = results["libtorrent create_torrent v2 (in process)"].wall
    lines = [
        f"### {format_size(size)} file, piece length {format_size(piece)} ({-(-size // piece)} pieces)",
        "",
        "| what | wall s | GiB/s | CPU s | peak RSS | wall / raw SHA-256 | wall / libtorrent v2 |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, run in results.items():
        rss = "-" if name.startswith("raw") or "in process" in name else format_size(run.rss)
        lines.append(f"| {name} | {run.wall:.3f} | {size / run.wall / 2**30:.2f} | {run.cpu:.2f} | {rss} "
                     f"| {run.wall / sha256:.2f} | {run.wall / lt_v2:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/torrentish-bench"))
    parser.add_argument("--sizes", default="1GiB", help="comma-separated sizes, e.g. 256MiB,1GiB")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=default_workers(), help="threads for the raw hashes")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    print(f"# {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, load {os.getloadavg()[0]:.2f}")
    for size in (parse_size(s) for s in args.sizes.split(",")):
        print()
        print(report(size, *bench_size(args.dir, size, args.repeat, args.workers)))
    print(f"\n# load at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
