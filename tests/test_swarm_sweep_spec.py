"""Sweep files: expansion into runs, and bad files rejected with one clear line."""

from __future__ import annotations

import tomllib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from torrentish.cli.main import app
from torrentish.swarm.scenario import ScenarioError
from torrentish.swarm.sweep import PARAMETERS, load_sweep, sweep_from_dict

BASE = """
name = "tiny"
strategies = ["rarest", "random"]
repetitions = 3
[scenario]
seed = 7
file_size = "256KiB"
piece_size = "32KiB"
[[scenario.group]]
name = "seed"
role = "seed"
up = "256KiB/s"
[[scenario.group]]
name = "leechers"
count = 3
up = "128KiB/s"
[set]
leechers = 4
"""


def spec(vary: str, base: str = BASE) -> dict:
    return tomllib.loads(base + "[vary]\n" + vary)


def test_runs_cover_every_point_strategy_and_repetition_in_order():
    sweep = sweep_from_dict(spec('seed_up = ["128KiB/s", "1MiB/s"]\nlatency = ["5ms", 0.05]'))
    runs = sweep.runs()
    assert len(runs) == 2 * 2 * 2 * 3
    first = runs[0]
    assert first.point == (("seed_up", 128 * 1024), ("latency", 0.005))
    assert (first.strategy, first.repetition, first.scenario.seed) == ("rarest", 0, 7)
    assert [r.scenario.seed for r in runs[:3]] == [7, 8, 9]
    assert runs[3].strategy == "random" and runs[6].point[1] == ("latency", 0.05)
    seed_group, leechers = runs[-1].scenario.groups
    assert seed_group.up == 1024 * 1024 and leechers.count == 4 and leechers.latency == 0.05
    assert sweep.labels["seed_up"] == ["128KiB/s", "1MiB/s"]


def test_a_scenario_file_is_found_next_to_the_sweep(tmp_path):
    (tmp_path / "base.toml").write_text(
        '[[group]]\nname = "s"\nrole = "seed"\n[[group]]\nname = "l"\ncount = 2\n')
    (tmp_path / "sweep.toml").write_text('scenario = "base.toml"\n[vary]\nleechers = [2, 3]\n')
    sweep = load_sweep(tmp_path / "sweep.toml")
    assert [r.scenario.groups[1].count for r in sweep.runs()] == [2, 3]


@pytest.mark.parametrize("vary, message", [
    ('bandwidth = ["1MiB/s"]', "[vary]: unknown parameter 'bandwidth'"),
    ("seed_up = []", "[vary] seed_up: the list of values is empty"),
    ('up = ["25ms"]', "[vary] up: not a rate: '25ms'"),
    ('latency = ["1MiB"]', "[vary] latency: not a duration: '1MiB'"),
    ('piece_size = ["fast"]', "[vary] piece_size:"),
    ("leechers = 3", "[vary] leechers must be a list of values"),
    ('leechers = [2, 2]', "[vary] leechers: a value is given twice"),
    ('piece_size = ["20KiB"]', "piece_size must be a multiple of 16 KiB"),
])
def test_bad_values_are_one_clear_error(vary, message):
    with pytest.raises(ScenarioError) as error:
        sweep_from_dict(spec(vary))
    assert message in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize("extra, message", [
    ("strategies = []", "strategies must be a non-empty list"),
    ('strategies = ["fastest"]', "sweep strategies must be one of"),
    ("repetitions = 0", "sweep repetitions must be a whole number"),
    ("colour = 1", "sweep: unknown key 'colour'"),
])
def test_bad_sweep_keys_are_one_clear_error(extra, message):
    data = spec('leechers = [2]', BASE.replace('strategies = ["rarest", "random"]\nrepetitions = 3', extra))
    with pytest.raises(ScenarioError, match=message.replace("[", r"\[")):
        sweep_from_dict(data)


def test_no_vary_table_is_an_error():
    with pytest.raises(ScenarioError, match="must name at least one parameter"):
        sweep_from_dict(tomllib.loads(BASE))


def test_the_cli_prints_one_line_for_a_bad_sweep_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(BASE + '[vary]\nseed_up = ["10 parsecs"]\n')
    result = CliRunner().invoke(app, ["swarm", "sweep", str(path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "[vary] seed_up: not a rate" in lines[0] and "Traceback" not in result.output
    missing = CliRunner().invoke(app, ["swarm", "sweep", str(tmp_path / "none.toml")])
    assert missing.exit_code == 1 and "none.toml" in missing.output


_VALUES = st.one_of(st.integers(-5, 10**7), st.floats(allow_nan=True), st.text(max_size=12),
                    st.booleans(), st.lists(st.integers(0, 10), max_size=3))


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(PARAMETERS) + ["nope"]), st.lists(_VALUES, max_size=3),
                       max_size=2),
       st.dictionaries(st.sampled_from(["strategies", "repetitions", "name", "set"]), _VALUES, max_size=2))
def test_any_sweep_table_is_accepted_or_one_clear_error(vary, extra):
    data = spec("")
    data["vary"] = vary
    data.update(extra)
    try:
        sweep = sweep_from_dict(data)
    except ScenarioError as error:
        assert str(error) and "\n" not in str(error)
    else:
        assert len(sweep.runs()) >= 1
