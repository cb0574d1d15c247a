"""Running a sweep's runs as Dask tasks, with a cache that makes reruns and extensions cheap.

Every run is one task: a simulated run (runner_sim.run_sim) in a worker process, boiled down to a
record (the figures the sweep reports, no time series). A record is stored under a digest of the
resolved scenario and of the engine version (the package version and a hash of the source that
decides what a simulated run does), so an interrupted or extended sweep runs only what is missing,
and a change to the engine invalidates what it could change.

Workers are processes with one thread each: a simulated run seeds trio's scheduler, which is
global to a process, so two runs must never share one.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path

import torrentish
from torrentish.swarm.scenario import Scenario
from torrentish.swarm.sweep import Run

RECORD_FORMAT = "torrentish-sweep-run/1"
# What a simulated run's outcome depends on; the sweep's own modules, reports, plots and the
# command line do not change it. Paths relative to the torrentish package.
_ENGINE_SOURCES = ("core", "engine", "wire", "net", "formats", "storage", "events.py",
                   "swarm/runner_sim.py", "swarm/synthetic.py", "swarm/scenario.py",
                   "swarm/bounds.py", "swarm/results.py")


@functools.cache
def engine_version() -> str:
    root = Path(torrentish.__file__).parent
    digest = hashlib.sha256(torrentish.__version__.encode())
    for source in _ENGINE_SOURCES:
        path = root / source
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(str(file.relative_to(root)).encode() + b"\0" + file.read_bytes() + b"\0")
    return f"{torrentish.__version__}+{digest.hexdigest()[:16]}"


def run_key(scenario: Scenario) -> str:
    """The cache key of a run: its resolved scenario (names and descriptions aside) and the engine."""
    data = scenario.to_dict()
    data.pop("name"), data.pop("description")
    text = json.dumps(data, sort_keys=True) + "\0" + engine_version()
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def record(result) -> dict:
    """The figures of one run that a sweep reports (a SwarmResult in, plain JSON out)."""
    s = result.summary()
    used = [u for u in result.series.upload_utilisation if u is not None]
    return {
        "format": RECORD_FORMAT,
        "finished": result.finished,
        "completed": s["completed"],
        "leechers": s["leechers"],
        "t_min": s["t_min"],
        "last_over_t_min": s["last_over_t_min"],
        "mean_over_t_min": s["mean_over_t_min"],
        "last_completion": s["last_completion"],
        "mean_completion": s["mean_completion"],
        "mean_download_time": _mean([p.download_time for p in result.leechers() if p.download_time is not None]),
        "steady_download_time": _steady(result.leechers()),
        "seed_copies": s["seed_uploaded"] / result.scenario["file_size"],
        "upload_utilisation": statistics.fmean(used) if used else None,
        "duplicate_fraction": s["duplicate_fraction"],
        "first_full_copy": s["first_full_copy"],
        "swarm_seconds": result.swarm_seconds,
        "wall_seconds": result.wall_seconds,
    }


_FIELDS = {"finished", "completed", "leechers", "t_min", "last_over_t_min", "mean_over_t_min",
           "last_completion", "mean_completion", "mean_download_time", "steady_download_time",
           "seed_copies", "upload_utilisation", "duplicate_fraction", "first_full_copy",
           "swarm_seconds", "wall_seconds"}


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _steady(leechers) -> float | None:
    """Mean download time of the middle half of the leechers by arrival: with arrivals over time,
    the first quarter meets a swarm still filling and the last a swarm emptying (None unless all
    of that half completed)."""
    ordered = sorted(leechers, key=lambda p: p.arrived)
    middle = ordered[len(ordered) // 4: len(ordered) - len(ordered) // 4]
    times = [p.download_time for p in middle]
    return None if not times or None in times else statistics.fmean(times)


def simulate(scenario: Scenario) -> dict:
    """The task: one simulated run, its record (runs in a worker process)."""
    from torrentish.swarm.runner_sim import run_sim

    return record(run_sim(scenario))


class Cache:
    """One JSON file per run, named by its key; written whole (a rename), so an interrupted sweep
    leaves only complete records."""

    def __init__(self, directory: Path):
        self.directory = directory

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def get(self, key: str) -> dict | None:
        try:
            data = json.loads(self._path(key).read_text())
        except (OSError, ValueError):
            return None
        ok = isinstance(data, dict) and data.get("format") == RECORD_FORMAT and _FIELDS <= data.keys()
        return data if ok else None  # anything else is a miss: the run is simulated again

    def put(self, key: str, value: dict) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self._path(key).with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(value, indent=1) + "\n")
        tmp.replace(self._path(key))


@dataclasses.dataclass
class Outcome:
    records: list[dict]  # one per run, in the order of the runs
    ran: int  # how many were simulated now (the rest came from the cache)


Progress = Callable[[int, int], None]  # (runs done, runs to do)


def run_sweep(runs: Sequence[Run], cache: Cache, *, address: str | None = None,
              workers: int | None = None, progress: Progress | None = None) -> Outcome:
    """Every run's record: from the cache, or simulated on a Dask cluster (a running one at
    ``address``, else a local one with ``workers`` processes, default every core) and cached as
    it arrives. Nothing to run: no cluster is started."""
    keys = [run_key(r.scenario) for r in runs]
    records: dict[str, dict] = {}
    for key in keys:
        if (hit := cache.get(key)) is not None:
            records[key] = hit
    todo = {key: r.scenario for key, r in zip(keys, runs) if key not in records}  # repeats run once
    if progress is not None:
        progress(0, len(todo))
    if todo:
        with _client(address, workers) as client:
            from distributed import as_completed

            futures = [client.submit(simulate, scenario, key=f"swarm-run-{key}", pure=False)
                       for key, scenario in todo.items()]
            by_future = dict(zip(futures, todo))
            for done, future in enumerate(as_completed(futures), 1):
                key = by_future[future]
                records[key] = future.result()
                cache.put(key, records[key])
                if progress is not None:
                    progress(done, len(todo))
    return Outcome([records[key] for key in keys], len(todo))


def _client(address: str | None, workers: int | None):
    from distributed import Client, LocalCluster

    if address:
        return Client(address)
    cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1,
                           processes=True, host="127.0.0.1", silence_logs=40,
                           # the scheduler's HTTP server (health, metrics) always runs: on
                           # loopback, on any free port rather than a fixed 8787
                           dashboard_address=":0")
    return _Owned(Client(cluster), cluster)


class _Owned:
    """A client and the local cluster it owns, closed together."""

    def __init__(self, client, cluster):
        self.client, self.cluster = client, cluster

    def __enter__(self):
        return self.client

    def __exit__(self, *exc) -> None:
        self.client.close()
        self.cluster.close()
