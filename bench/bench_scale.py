"""CPU seconds, wall time and peak memory of one simulated swarm (bench/README.md "1 seed + 1,000
and 10,000 leechers").

    python bench/bench_scale.py bench/swarm/large-1000.toml [--leechers N] [--engine KEY=VALUE]
        [--sim KEY=VALUE] [--json OUT] [--progress]

Runs the scenario in this process through runner_sim.run_sim and prints one JSON line: CPU
seconds of the process (time.process_time; wall time is noisy on a shared machine), wall
seconds, peak RSS (ru_maxrss), and the swarm's completion figures. --json also writes the run's
results.json there (to compare two engines' runs byte for byte). --progress prints a line a
swarm second to stderr (swarm time, leechers done, CPU s, peak RSS), so a run stopped by a time
limit still says how far it got.
"""

from __future__ import annotations

import argparse
import ast
import json
import resource
import sys
import time
from pathlib import Path

from torrentish.swarm.runner_sim import run_sim
from torrentish.swarm.scenario import apply_overrides, load_scenario


def _pairs(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def _peak_mb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", type=Path)
    parser.add_argument("--leechers", type=int)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--engine", action="append", default=[], help="KEY=VALUE over [engine]")
    parser.add_argument("--sim", action="append", default=[], help="KEY=VALUE over [sim]")
    parser.add_argument("--json", type=Path, help="write results.json here")
    parser.add_argument("--progress", action="store_true", help="a line per swarm second on stderr")
    args = parser.parse_args()
    scenario = apply_overrides(load_scenario(args.scenario), leechers=args.leechers, seed=args.seed)
    scenario.engine.update(_pairs(args.engine))
    for key, value in _pairs(args.sim).items():
        setattr(scenario.sim, key, value)
    cpu, wall = time.process_time(), time.perf_counter()

    def progress(t: float, done: int, total: int) -> None:
        print(f"swarm {t:.0f} s: {done}/{total} done, cpu {time.process_time() - cpu:.0f} s, "
              f"wall {time.perf_counter() - wall:.0f} s, peak rss {_peak_mb()} MB", file=sys.stderr, flush=True)

    result = run_sim(scenario, progress=progress if args.progress else None)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if args.json is not None:
        result.write(args.json)
    done = result.completion_times()
    print(json.dumps({
        "scenario": scenario.name, "leechers": len(result.leechers()), "engine": scenario.engine,
        "sim": {"rx_lowat": scenario.sim.rx_lowat, "rx_hold": scenario.sim.rx_hold},
        "cpu_s": round(cpu, 1), "wall_s": round(wall, 1),
        "peak_rss_mb": _peak_mb(),
        "completed": len(done), "finished": result.finished,
        "last_completion": result.last_completion, "mean_completion": result.mean_completion,
        "t_min": result.bound.t_min,
    }))


if __name__ == "__main__":
    main()
