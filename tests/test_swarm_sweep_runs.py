"""A small sweep on a local Dask cluster: cached reruns do nothing, an extended sweep runs only the
new points, and the results are those of running the same scenarios one by one."""

from __future__ import annotations

import json
import tomllib

import pytest
from typer.testing import CliRunner

from torrentish.cli.main import app
from torrentish.swarm import sweep_runs
from torrentish.swarm.sweep import sweep_from_dict
from torrentish.swarm.sweep_runs import Cache, run_key, run_sweep, simulate

SWEEP = """
name = "tiny"
repetitions = 2
[scenario]
file_size = "256KiB"
piece_size = "32KiB"
verify = "compare"
[[scenario.group]]
name = "seed"
role = "seed"
up = "256KiB/s"
latency = "5ms"
[[scenario.group]]
name = "leechers"
count = 3
up = "128KiB/s"
latency = "5ms"
[vary]
"""


def sweep(values: str):
    return sweep_from_dict(tomllib.loads(SWEEP + f"seed_up = [{values}]\n"))


def _no_cluster(*args):
    raise AssertionError("a cluster was started with nothing to run")


@pytest.mark.slow
def test_cache_rerun_extension_and_identical_results(tmp_path, monkeypatch):
    cache = Cache(tmp_path / "cache")
    small = sweep('"128KiB/s", "256KiB/s"')
    progress = []
    first = run_sweep(small.runs(), cache, workers=2, progress=lambda d, t: progress.append((d, t)))
    assert first.ran == 4 and progress[0] == (0, 4) and progress[-1] == (4, 4)
    assert all(r["finished"] and r["completed"] == 3 for r in first.records)
    assert set(first.records[0]) == sweep_runs._FIELDS | {"format"}  # what the cache requires
    assert len(list((tmp_path / "cache").glob("*.json"))) == 4

    # One by one, in this process: the same figures (wall time aside).
    for run, rec in zip(small.runs(), first.records):
        alone = simulate(run.scenario)
        assert {k: v for k, v in alone.items() if k != "wall_seconds"} == \
               {k: v for k, v in rec.items() if k != "wall_seconds"}

    # A rerun: everything from the cache, no cluster at all.
    monkeypatch.setattr(sweep_runs, "_client", _no_cluster)
    again = run_sweep(small.runs(), cache)
    assert again.ran == 0 and again.records == first.records
    monkeypatch.undo()

    # Extended by one value: only its two repetitions run.
    extended = sweep('"128KiB/s", "256KiB/s", "512KiB/s"')
    more = run_sweep(extended.runs(), cache, workers=2)
    assert more.ran == 2 and more.records[:4] == first.records
    assert len(list((tmp_path / "cache").glob("*.json"))) == 6


def test_the_key_follows_the_scenario_and_the_engine_not_the_name(monkeypatch):
    runs = sweep('"128KiB/s", "256KiB/s"').runs()
    assert len({run_key(r.scenario) for r in runs}) == 4
    renamed = sweep_from_dict(tomllib.loads(SWEEP.replace('"tiny"', '"other"') + 'seed_up = ["128KiB/s"]\n'))
    assert run_key(renamed.runs()[0].scenario) == run_key(runs[0].scenario)
    before = run_key(runs[0].scenario)
    monkeypatch.setattr(sweep_runs, "engine_version", lambda: "0.0.0+changed")
    assert run_key(runs[0].scenario) != before


def test_a_broken_cache_file_is_a_miss(tmp_path):
    cache = Cache(tmp_path)
    (tmp_path / "abc.json").write_text("{not json")
    (tmp_path / "def.json").write_text(json.dumps({"format": "something else"}))
    assert cache.get("abc") is None and cache.get("def") is None and cache.get("ghi") is None
    cache.put("ghi", {"format": sweep_runs.RECORD_FORMAT, "x": 1})
    assert cache.get("ghi") is None  # a record without the figures
    whole = {"format": sweep_runs.RECORD_FORMAT, **{k: 1 for k in sweep_runs._FIELDS}}
    cache.put("jkl", whole)
    assert cache.get("jkl") == whole and not list(tmp_path.glob("*.tmp"))


@pytest.mark.slow
def test_the_command_writes_table_csv_json_and_plots(tmp_path):
    spec = tmp_path / "tiny.toml"
    spec.write_text(SWEEP.replace("repetitions = 2", 'repetitions = 2\nstrategies = ["rarest", "random"]')
                    + 'seed_up = ["128KiB/s", "256KiB/s"]\n')
    args = ["swarm", "sweep", str(spec), "--workers", "2", "--cache", str(tmp_path / "c"),
            "--out", str(tmp_path / "o")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "sweep tiny" in result.output and "8 simulated now, 0 from the cache" in result.output
    data = json.loads((tmp_path / "o" / "sweep.json").read_text())
    assert len(data["points"]) == 4 and len(data["runs"]) == 8
    point = data["points"][0]
    assert point["values"] == {"seed_up": "128KiB/s"} and point["strategy"] == "rarest"
    ratio = point["stats"]["last_over_t_min"]
    assert ratio["n"] == 2 and ratio["low"] <= ratio["mean"] <= ratio["high"] and ratio["ci"] > 0
    rows = (tmp_path / "o" / "sweep.csv").read_text().splitlines()
    assert len(rows) == 5 and rows[0].startswith("seed_up,strategy,runs,finished,last_over_t_min_mean")
    for stem in ("last_over_t_min", "seed_copies", "upload_utilisation"):
        assert (tmp_path / "o" / f"{stem}.png").read_bytes()[:4] == b"\x89PNG"
        assert (tmp_path / "o" / f"{stem}.svg").stat().st_size > 1000
    rerun = CliRunner().invoke(app, args + ["--no-plots"])
    assert rerun.exit_code == 0 and "0 simulated now, 8 from the cache" in rerun.output


@pytest.mark.slow
def test_a_running_scheduler_by_address(tmp_path):
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=":0") as cluster:
        runs = sweep('"128KiB/s"').runs()[:1]
        outcome = run_sweep(runs, Cache(tmp_path), address=cluster.scheduler_address)
        assert outcome.ran == 1 and outcome.records[0]["completed"] == 3
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
