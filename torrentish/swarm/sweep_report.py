"""A sweep's results per point: mean, 95% confidence interval and range of each measure over the
repetitions; as a rich table, CSV and JSON."""

from __future__ import annotations

import csv
import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table

from torrentish.swarm.sweep import Run, Sweep

FORMAT = "torrentish-sweep-results/1"

# record field -> label
MEASURES = {
    "last_over_t_min": "last / T_min",
    "mean_over_t_min": "mean / T_min",
    "last_completion": "last completion (s)",
    "mean_download_time": "mean download time (s)",
    "steady_download_time": "download time, middle half of arrivals (s)",
    "seed_copies": "seed copies",
    "upload_utilisation": "upload utilisation",
}
_RANGED = ("last_over_t_min", "mean_over_t_min")  # the table shows their range too

# Student's t, 97.5% quantile, by degrees of freedom (two-sided 95% interval); 1.96 beyond 30.
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
         2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
         2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


@dataclass(frozen=True)
class Stat:
    n: int
    mean: float
    ci: float  # half-width of the 95% interval of the mean; 0 with one value
    low: float
    high: float


def stat(values: Sequence[float]) -> Stat | None:
    if not values:
        return None
    mean = statistics.fmean(values)
    ci = 0.0
    if len(values) > 1:
        t = _T975[len(values) - 2] if len(values) - 1 <= len(_T975) else 1.96
        ci = t * statistics.stdev(values) / math.sqrt(len(values))
    return Stat(len(values), mean, ci, min(values), max(values))


@dataclass
class Point:
    values: tuple[tuple[str, str], ...]  # (parameter, value as written in the sweep file)
    strategy: str
    runs: int
    finished: int  # runs in which every leecher completed
    stats: dict[str, Stat | None]  # measure -> over the repetitions (finished runs' values only)


def points(sweep: Sweep, runs: Sequence[Run], records: Sequence[dict]) -> list[Point]:
    """Group the runs' records by (point, strategy), in the order of the runs."""
    groups: dict[tuple, list[dict]] = {}
    for run, rec in zip(runs, records):
        labels = tuple((name, sweep.labels[name][sweep.vary[name].index(value)]) for name, value in run.point)
        groups.setdefault((labels, run.strategy), []).append(rec)
    out = []
    for (labels, strategy), recs in groups.items():
        stats = {m: stat([r[m] for r in recs if r.get(m) is not None]) for m in MEASURES}
        out.append(Point(labels, strategy, len(recs), sum(r["finished"] for r in recs), stats))
    return out


def _cell(s: Stat | None, ranged: bool) -> str:
    if s is None:
        return "-"
    digits = 3 if abs(s.mean) < 10 else 1
    text = f"{s.mean:.{digits}f} ±{s.ci:.{digits}f}"
    return text + (f"\n({s.low:.{digits}f}-{s.high:.{digits}f})" if ranged else "")


def table(sweep: Sweep, pts: Sequence[Point]) -> Table:
    t = Table(title=f"sweep {sweep.name}: mean ± 95% CI (range) over {sweep.repetitions} seeds")
    for name in sweep.vary:
        t.add_column(name, justify="right", no_wrap=True)
    t.add_column("strategy")
    t.add_column("done", justify="right")
    for label in ("last/T_min", "mean/T_min", "last (s)", "mean dl (s)", "mid dl (s)", "seed copies",
                  "upload use"):
        t.add_column(label, justify="right", no_wrap=True)
    for p in pts:
        t.add_row(*(v for _, v in p.values), p.strategy, f"{p.finished}/{p.runs}",
                  *(_cell(p.stats[m], m in _RANGED) for m in MEASURES))
    return t


def write_csv(sweep: Sweep, pts: Sequence[Point], path: Path) -> None:
    header = [*sweep.vary, "strategy", "runs", "finished"]
    for m in MEASURES:
        header += [f"{m}_mean", f"{m}_ci95", f"{m}_min", f"{m}_max"]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for p in pts:
            row: list = [v for _, v in p.values] + [p.strategy, p.runs, p.finished]
            for m in MEASURES:
                s = p.stats[m]
                row += ["", "", "", ""] if s is None else [s.mean, s.ci, s.low, s.high]
            writer.writerow(row)


def write_json(sweep: Sweep, runs: Sequence[Run], records: Sequence[dict], pts: Sequence[Point],
               path: Path) -> None:
    data = {
        "format": FORMAT,
        "name": sweep.name,
        "description": sweep.description,
        "vary": sweep.labels,
        "strategies": sweep.strategies,
        "repetitions": sweep.repetitions,
        "points": [{"values": dict(p.values), "strategy": p.strategy, "runs": p.runs,
                    "finished": p.finished,
                    "stats": {m: None if s is None else vars(s) for m, s in p.stats.items()}}
                   for p in pts],
        "runs": [{"point": dict(r.point), "strategy": r.strategy, "repetition": r.repetition,
                  "seed": r.scenario.seed, **rec} for r, rec in zip(runs, records)],
    }
    path.write_text(json.dumps(data, indent=1) + "\n")
