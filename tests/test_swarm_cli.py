"""`torrentish swarm run` and `swarm compare`: files written, tables printed, errors as one line."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from torrentish.cli.main import app

runner = CliRunner()
SMALL = ["--leechers", "4", "--size", "512KiB", "--piece-size", "32KiB", "--up", "256KiB/s",
         "--seed-up", "256KiB/s", "--latency", "5ms"]


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_swarm_run_writes_results_and_plots(tmp_path):
    result = run("swarm", "run", *SMALL, "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert "T_min (Kumar & Ross)" in result.output and "last / T_min" in result.output
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["summary"]["completed"] == 4 and data["scenario"]["groups"][1]["count"] == 4
    for stem in ("completion_cdf", "availability", "upload_utilisation"):
        for suffix in ("png", "svg"):
            assert (tmp_path / f"{stem}.{suffix}").stat().st_size > 1000
    assert (tmp_path / "completion_cdf.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_swarm_run_from_a_file_with_repeats_shows_the_spread(tmp_path):
    scenario = tmp_path / "tiny.toml"
    scenario.write_text("""
name = "tiny"
file_size = "256KiB"
piece_size = "32KiB"
[[group]]
name = "seed"
role = "seed"
up = "256KiB/s"
[[group]]
name = "peers"
count = 3
up = "256KiB/s"
""")
    result = run("swarm", "run", scenario, "--repeat", "2", "--no-plots", "--out", tmp_path / "o")
    assert result.exit_code == 0, result.output
    assert "spread over 2 runs" in result.output
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["results-0.json", "results-1.json"]


def test_swarm_compare_runs_each_strategy(tmp_path):
    result = run("swarm", "compare", *SMALL, "--strategies", "rarest,sequential", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert "rarest" in result.output and "sequential" in result.output
    assert (tmp_path / "results-rarest.json").exists() and (tmp_path / "results-sequential.json").exists()
    assert (tmp_path / "completion_cdf.svg").exists()


def test_swarm_compare_over_several_seeds(tmp_path):
    result = run("swarm", "compare", *SMALL, "--repeat", "2", "--no-plots", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert "over 2 seeds" in result.output and "seed copies" in result.output
    seeds = {json.loads((tmp_path / f"results-random-{k}.json").read_text())["scenario"]["seed"] for k in (0, 1)}
    assert seeds == {1, 2}


def test_bad_input_is_one_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("strategy = 'best'\n")
    result = run("swarm", "run", bad, "--out", tmp_path)
    assert result.exit_code == 1 and "strategy must be one of" in result.output
    result = run("swarm", "compare", "--strategies", "rarest,fastest", "--out", tmp_path)
    assert result.exit_code == 2 and "fastest" in result.output
    result = run("swarm", "run", "--size", "lots", "--out", tmp_path)
    assert result.exit_code == 2
    result = run("swarm", "run", "--netns", "--out", tmp_path, *SMALL)
    assert result.exit_code == 2 and "--real" in result.output
