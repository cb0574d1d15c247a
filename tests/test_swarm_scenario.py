"""Scenarios: TOML files, flags over them, and the Kumar & Ross bound."""

from __future__ import annotations

import math
import tomllib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from torrentish.errors import TorrentishError
from torrentish.swarm.bounds import kumar_ross, scenario_bound
from torrentish.swarm.scenario import (Scenario, ScenarioError, apply_overrides, load_scenario,
                                       parse_duration, scenario_from_dict)

EXAMPLE = """
name = "slow-seed"
seed = 7
file_size = "32MiB"
piece_size = "256KiB"
strategy = "random"
max_peers = 20

[choker]
slots = 3
interval = "5s"

[sim]
quantum = "20ms"

[engine]
pipeline_seconds = 0.5

[[group]]
name = "seed"
role = "seed"
up = "256KiB/s"
departure = "linger"
linger = "2m"

[[group]]
name = "leechers"
count = 30
up = "1MiB/s"
down = "4MiB/s"
latency = "10ms"
arrival = "poisson"
rate = 2.0
free_riders = 5
"""


def _load(tmp_path, text: str) -> Scenario:
    path = tmp_path / "s.toml"
    path.write_text(text)
    return load_scenario(path)


def test_a_scenario_file_sets_every_field(tmp_path):
    s = _load(tmp_path, EXAMPLE)
    assert (s.name, s.seed, s.file_size, s.piece_size, s.strategy) == ("slow-seed", 7, 32 << 20, 256 << 10, "random")
    assert (s.slots, s.rechoke_interval, s.optimistic_every, s.max_peers) == (3, 5.0, 3, 20)
    assert s.sim.quantum == 0.02 and s.engine == {"pipeline_seconds": 0.5}
    seed, leechers = s.groups
    assert (seed.role, seed.up, seed.departure, seed.linger) == ("seed", 256 << 10, "linger", 120.0)
    assert (leechers.count, leechers.up, leechers.down, leechers.latency) == (30, 1 << 20, 4 << 20, 0.01)
    assert (leechers.arrival, leechers.rate, leechers.free_riders) == ("poisson", 2.0, 5)


def test_arrivals_come_from_the_seed_and_free_riders_are_marked(tmp_path):
    s = _load(tmp_path, EXAMPLE)
    peers = s.peers()
    assert len(peers) == 31 and [p.index for p in peers] == list(range(31))
    arrivals = [p.arrival for p in peers[1:]]
    assert arrivals == sorted(arrivals) and arrivals[0] == 0.0 and arrivals[-1] > 5
    assert [p.arrival for p in s.peers()] == [p.arrival for p in peers]  # same seed, same arrivals
    assert sum(p.free_rider for p in peers) == 5
    other = apply_overrides(s, seed=8)
    assert [p.arrival for p in other.peers()] != [p.arrival for p in peers]


def test_the_default_is_the_benchmark_flash_crowd():
    s = Scenario()
    peers = s.peers()
    assert len(peers) == 51 and sum(p.is_seed for p in peers) == 1
    assert all(p.arrival == 0 for p in peers)
    assert s.file_size == 64 << 20


def test_flags_override_by_role():
    s = apply_overrides(Scenario(), seeds=2, leechers=10, up=500_000, seed_up=2_000_000, down=0,
                        latency=0.001, departure="leave", strategy="sequential", free_riders=3)
    seed, leechers = s.groups
    assert (seed.count, seed.up, seed.down, seed.latency) == (2, 2_000_000, 0, 0.001)
    assert (leechers.count, leechers.up, leechers.departure, leechers.free_riders) == (10, 500_000, "leave", 3)
    assert s.strategy == "sequential"
    assert Scenario().groups[1].count == 50  # the default itself is untouched


@pytest.mark.parametrize("text, message", [
    ("nme = 'x'\n[[group]]\nrole='seed'\n[[group]]\n", "unknown key 'nme'"),
    ("[[group]]\nrole='leecher'\n", "needs a group with role"),
    ("[[group]]\nrole='seed'\n", "needs a group with role = \"leecher\""),
    ("[[group]]\nrole='seed'\n[[group]]\ncount=0\n", "count must be"),
    ("[[group]]\nrole='seed'\n[[group]]\nup='fast'\n", "group 2 up"),
    ("piece_size='10KiB'\n[[group]]\nrole='seed'\n[[group]]\n", "multiple of 16 KiB"),
    ("strategy='best'\n[[group]]\nrole='seed'\n[[group]]\n", "strategy must be one of"),
    ("[engine]\nupload_slots=3\n[[group]]\nrole='seed'\n[[group]]\n", "not an engine setting"),
    ("[engine]\nmin_pipeline='many'\n[[group]]\nrole='seed'\n[[group]]\n", "min_pipeline must be"),
    ("[[group]]\nrole='seed'\nfree_riders=1\n[[group]]\n", "cannot be free riders"),
    ("[[group]]\nrole='seed'\n[[group]]\nlatency='soon'\n", "not a duration"),
    ("group = 3\n", "array of tables"),
    ("this is not toml", "not valid TOML"),
])
def test_bad_scenarios_are_one_line_errors(tmp_path, text, message):
    with pytest.raises(ScenarioError, match=message) as caught:
        _load(tmp_path, text)
    assert "\n" not in str(caught.value)


def test_a_missing_file_is_a_scenario_error(tmp_path):
    with pytest.raises(ScenarioError, match="No such file"):
        load_scenario(tmp_path / "absent.toml")


_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10**7) | st.floats(allow_nan=True)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12)
_keys = st.sampled_from(["name", "seed", "file_size", "piece_size", "strategy", "max_peers",
                         "time_limit", "verify", "choker", "sim", "engine", "group", "count",
                         "role", "up", "latency", "arrival", "departure", "free_riders", "x"])


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_keys, _values | st.lists(st.dictionaries(_keys, _values, max_size=6), max_size=3),
                       max_size=8))
def test_random_scenario_tables_give_a_scenario_or_a_scenario_error(table):
    try:
        scenario_from_dict(table)
    except ScenarioError as exc:
        assert "\n" not in str(exc)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_as_a_file_give_a_scenario_or_our_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("s") / "s.toml"
    path.write_bytes(data)
    try:
        load_scenario(path)
    except TorrentishError:
        pass


@pytest.mark.parametrize("text, seconds", [("25ms", 0.025), ("1.5s", 1.5), ("2m", 120.0), ("3", 3.0), (4, 4.0)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


def test_the_bound_takes_the_largest_term():
    f = 64 * 2**20
    # Equal caps: the seed must send every byte once, F/u, just above N F / ((N+1) u).
    b = kumar_ross(f, [2**20], [2**20] * 50, [4 * 2**20] * 50)
    assert b.t_min == pytest.approx(64.0) and b.binding == "seed upload"
    assert b.aggregate_term == pytest.approx(50 * 64 / 51)
    # A fast seed: the leechers' aggregate upload is the limit.
    b = kumar_ross(f, [100 * 2**20], [2**20] * 50, [math.inf] * 50)
    assert b.binding == "aggregate upload" and b.t_min == pytest.approx(50 * 64 / 150)
    # A slow downloader.
    b = kumar_ross(f, [100 * 2**20], [100 * 2**20], [2**19])
    assert b.binding == "slowest download" and b.t_min == pytest.approx(128.0)
    # Nothing limited: no bound.
    assert kumar_ross(f, [math.inf], [math.inf], [math.inf]).t_min == 0
    assert kumar_ross(f, [math.inf], [math.inf], [math.inf]).ratio(10.0) is None


def test_free_riders_upload_nothing_in_the_bound():
    s = apply_overrides(Scenario(), leechers=10, free_riders=5, seed_up=10 * 2**20, up=2**20, down=0)
    b = scenario_bound(s)
    assert b.aggregate_term == pytest.approx(10 * s.file_size / (15 * 2**20))


def test_the_bench_scenarios_load():
    from pathlib import Path

    files = sorted((Path(__file__).parent.parent / "bench" / "swarm").glob("*.toml"))
    assert files
    for path in files:
        with open(path, "rb") as f:
            tomllib.load(f)
        load_scenario(path)
