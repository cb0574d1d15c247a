"""A 40-run sweep on the local Dask cluster against the same 40 runs one after another.

    .venv/bin/python bench/bench_sweep.py              # workers: every core
    .venv/bin/python bench/bench_sweep.py --workers 2 --runs 40

The runs are small simulated swarms (1 seed + 10 leechers, 2 MiB): 4 seed upload rates x 10
scenario seeds. First every run in this process, one after another (wall and CPU time, peak RSS);
then the same runs as a sweep with an empty cache on a fresh local cluster (wall time including
the cluster's start and stop, the workers' peak RSS). Speed-up = sequential wall / sweep wall,
per core = speed-up / workers. The records must match (the sweep is the same runs).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from torrentish.swarm.sweep import sweep_from_dict  # noqa: E402
from torrentish.swarm.sweep_runs import Cache, run_sweep, simulate  # noqa: E402

SWEEP = """
name = "bench-sweep"
repetitions = {repetitions}
[scenario]
file_size = "2MiB"
piece_size = "64KiB"
verify = "compare"
[[scenario.group]]
name = "seed"
role = "seed"
up = "256KiB/s"
[[scenario.group]]
name = "leechers"
count = 10
up = "256KiB/s"
down = "1MiB/s"
[vary]
seed_up = ["128KiB/s", "256KiB/s", "512KiB/s", "1MiB/s"]
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--runs", type=int, default=40, help="a multiple of 4")
    args = parser.parse_args()
    sweep = sweep_from_dict(tomllib.loads(SWEEP.format(repetitions=max(1, args.runs // 4))))
    runs = sweep.runs()
    print(f"{len(runs)} runs; load average {os.getloadavg()[0]:.2f} before")

    wall, cpu = time.perf_counter(), time.process_time()
    alone = [simulate(r.scenario) for r in runs]
    seq_wall, seq_cpu = time.perf_counter() - wall, time.process_time() - cpu
    seq_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"one after another: {seq_wall:.1f} s wall, {seq_cpu:.1f} CPU-s, peak RSS {seq_rss:.0f} MiB")

    with tempfile.TemporaryDirectory() as cache:
        wall = time.perf_counter()
        outcome = run_sweep(runs, Cache(Path(cache)), workers=args.workers)
        sweep_wall = time.perf_counter() - wall
    worker_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    same = all({k: v for k, v in a.items() if k != "wall_seconds"}
               == {k: v for k, v in b.items() if k != "wall_seconds"} for a, b in zip(alone, outcome.records))
    speedup = seq_wall / sweep_wall
    print(f"sweep on {args.workers} workers: {sweep_wall:.1f} s wall (cluster start and stop included), "
          f"largest worker peak RSS {worker_rss:.0f} MiB")
    print(f"speed-up {speedup:.2f}x, {speedup / args.workers:.2f} per core; records identical: {same}; "
          f"load average {os.getloadavg()[0]:.2f} after")


if __name__ == "__main__":
    main()
