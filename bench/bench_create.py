"""Benchmark: making and verifying torrents, against raw SHA-1 and mktorrent.

    .venv/bin/python bench/bench_create.py [--dir /tmp/torrentish-bench] [--sizes 1GiB,4GiB] [--repeat 3]

For each size it makes (or reuses) a file of random-ish bytes in --dir, then measures, in this run:

- raw SHA-1: the file's bytes already in memory, hashed piece by piece on every core (threads).
  Also the compute floor: the same number of bytes hashed from one cache-resident buffer (no memory
  traffic at all), which nothing that reads data can reach.
- torrentish create through the Python API (time of the call, inside the process) and through the
  CLI (``python -m torrentish create``, whole process including interpreter start-up).
- mktorrent with the same piece length (multi-threaded C, OpenSSL SHA-1).
- torrentish verify through the CLI.

Every measured command runs in a child process of its own under GNU time (/usr/bin/time), which
reports its CPU time and peak RSS. Each is run once untimed first, so the page cache is warm (the
file is read from memory, not disk) and every figure is the median of --repeat timed runs.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from torrentish.app.create import auto_piece_length  # noqa: E402
from torrentish.storage.hashing import default_workers  # noqa: E402
from torrentish.formats.units import format_size, parse_size  # noqa: E402

RAW_SHA1 = """
import hashlib, sys, threading, time
path, piece, workers, floor = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "floor"
size = __import__("os").path.getsize(path)
if floor:   # one cache-resident piece-sized buffer, hashed as many times as the file has pieces
    data = memoryview(bytes(min(piece, 1 << 20)))
    chunk = len(data)
    def run(lo, hi):
        for _ in range(lo, hi, chunk):
            hashlib.sha1(data).digest()
else:       # the file's bytes in memory, hashed piece by piece
    data = memoryview(open(path, "rb").read())
    chunk = piece
    def run(lo, hi):
        for start in range(lo, hi, piece):
            hashlib.sha1(data[start:min(start + piece, size)]).digest()
pieces = -(-size // chunk)
bounds = [pieces * n // workers * chunk for n in range(workers + 1)]
threads = [threading.Thread(target=run, args=(bounds[n], min(bounds[n + 1], size))) for n in range(workers)]
start = time.perf_counter()
for t in threads: t.start()
for t in threads: t.join()
print(time.perf_counter() - start)
"""

API_CREATE = """
import sys, time
from torrentish.app.create import create_torrent
start = time.perf_counter()
create_torrent(sys.argv[1], piece_length=int(sys.argv[2]))
print(time.perf_counter() - start)
"""


@dataclass
class Run:
    wall: float  # seconds, as measured by the parent (whole process) or reported by the child
    cpu: float  # user + system seconds of the child
    rss: int  # peak resident set of the child, bytes


GNU_TIME = shutil.which("time", path="/usr/bin:/bin")


def measure(argv: list[str], *, inner_time: bool = False) -> Run:
    """Run argv as a child; its own timing from stdout if inner_time, else the process's wall time.

    CPU and peak RSS come from GNU time, which forks the command from its own small process: the
    ru_maxrss that os.wait4 gives for a child of ours would include this (larger) Python process,
    because Linux carries the forked copy's peak across exec.
    """
    with tempfile.NamedTemporaryFile("r") as usage_file:
        prefix = [GNU_TIME, "-f", "%U %S %M", "-o", usage_file.name] if GNU_TIME else []
        start = time.perf_counter()
        done = subprocess.run(prefix + argv, capture_output=True, cwd=ROOT)
        wall = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
        if GNU_TIME:
            user, system, max_kib = usage_file.read().split()[-3:]
            cpu, rss = float(user) + float(system), int(max_kib) * 1024
        else:
            usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # cumulative: a rough fallback only
            cpu, rss = usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024
    if inner_time:
        wall = float(done.stdout.decode().split()[-1])
    return Run(wall, cpu, rss)


def median_run(argv: list[str], repeat: int, *, inner_time: bool = False, before=None) -> Run:
    if before:
        before()
    measure(argv, inner_time=inner_time)  # warm-up: page cache, imports, CPU frequency
    runs = []
    for _ in range(repeat):
        if before:
            before()
        runs.append(measure(argv, inner_time=inner_time))
    runs.sort(key=lambda r: r.wall)
    middle = runs[len(runs) // 2]
    return Run(statistics.median(r.wall for r in runs), middle.cpu, max(r.rss for r in runs))


def make_file(path: Path, size: int) -> None:
    """Random-ish bytes: a 64 MiB random block, rotated per copy so no two pieces are alike."""
    if path.exists() and path.stat().st_size == size:
        return
    print(f"writing {format_size(size)} to {path} ...", file=sys.stderr)
    block = os.urandom(64 << 20)
    with open(path, "wb") as f:
        written, turn = 0, 0
        while written < size:
            piece = (block[turn:] + block[:turn])[: size - written]
            f.write(piece)
            written += len(piece)
            turn += 4099
    os.sync()


def bench_size(directory: Path, size: int, repeat: int, workers: int) -> tuple[int, dict[str, Run]]:
    data = directory / f"bench-{size}.bin"
    make_file(data, size)
    piece = auto_piece_length(size)
    python = sys.executable
    results: dict[str, Run] = {}
    with tempfile.TemporaryDirectory(dir=directory) as scratch:
        out = Path(scratch)
        results["raw SHA-1, bytes in memory"] = median_run(
            [python, "-c", RAW_SHA1, str(data), str(piece), str(workers), "memory"], repeat, inner_time=True)
        results["SHA-1 compute floor (cache-resident)"] = median_run(
            [python, "-c", RAW_SHA1, str(data), str(piece), str(workers), "floor"], repeat, inner_time=True)
        results["torrentish create (Python API)"] = median_run(
            [python, "-c", API_CREATE, str(data), str(piece)], repeat, inner_time=True)
        torrent = out / "t.torrent"
        results["torrentish create (CLI process)"] = median_run(
            [python, "-m", "torrentish", "create", str(data), "-o", str(torrent), "--force",
             "--piece-length", str(piece)], repeat)
        mktorrent = shutil.which("mktorrent")
        if mktorrent:
            mk_out = out / "mk.torrent"
            results["mktorrent (CLI process)"] = median_run(
                [mktorrent, "-l", str(piece.bit_length() - 1), "-d", "-o", str(mk_out), str(data)], repeat,
                before=lambda: mk_out.unlink(missing_ok=True))
        results["torrentish verify (CLI process)"] = median_run(
            [python, "-m", "torrentish", "verify", str(torrent), "--data", str(data)], repeat)
    return piece, results


def report(size: int, piece: int, results: dict[str, Run]) -> str:
    raw = results["raw SHA-1, bytes in memory"].wall
    mk = results.get("mktorrent (CLI process)")
    lines = [
        f"### {format_size(size)} file, piece length {format_size(piece)} ({-(-size // piece)} pieces)",
        "",
        "| what | wall s | GiB/s | CPU s | peak RSS | wall / raw SHA-1 | wall / mktorrent |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, run in results.items():
        rss = "-" if "SHA-1" in name else format_size(run.rss)
        versus_mk = f"{run.wall / mk.wall:.2f}" if mk else "-"
        lines.append(f"| {name} | {run.wall:.3f} | {size / run.wall / 2**30:.2f} | {run.cpu:.2f} | {rss} "
                     f"| {run.wall / raw:.2f} | {versus_mk} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/torrentish-bench"))
    parser.add_argument("--sizes", default="1GiB", help="comma-separated sizes, e.g. 1GiB,4GiB")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=default_workers(), help="threads for raw SHA-1")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    sizes = [parse_size(s) for s in args.sizes.split(",")]
    free = shutil.disk_usage(args.dir).free
    print(f"# {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, load {os.getloadavg()[0]:.2f}, "
          f"{format_size(free)} free in {args.dir}")
    for size in sizes:
        have = args.dir / f"bench-{size}.bin"
        if not have.exists() and size + (1 << 30) > free:
            print(f"\nskipping {format_size(size)}: not enough disk space in {args.dir}")
            continue
        print()
        print(report(size, *bench_size(args.dir, size, args.repeat, args.workers)))
    print(f"\n# load at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
