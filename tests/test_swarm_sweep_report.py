"""The statistics of a sweep's table: mean, Student's t 95% interval, range; grouping by point."""

from __future__ import annotations

import math
import tomllib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from torrentish.swarm.sweep import sweep_from_dict
from torrentish.swarm.sweep_report import MEASURES, points, stat


def test_stat_uses_students_t():
    s = stat([1.0, 2.0, 3.0])
    assert (s.n, s.mean, s.low, s.high) == (3, 2.0, 1.0, 3.0)
    assert s.ci == pytest.approx(4.303 / math.sqrt(3))
    assert stat([5.0]).ci == 0.0 and stat([]) is None
    assert stat([0.0, 2.0] * 20).ci == pytest.approx(1.96 * math.sqrt(40 / 39) / math.sqrt(40))


@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=40))
def test_the_mean_lies_in_the_range_and_the_interval_is_never_negative(values):
    s = stat(values)
    assert s.low <= s.mean + 1e-6 and s.mean <= s.high + 1e-6 and s.ci >= 0


def test_points_group_repetitions_and_skip_missing_values():
    sweep = sweep_from_dict(tomllib.loads("""
repetitions = 2
strategies = ["rarest", "random"]
[scenario]
[[scenario.group]]
name = "s"
role = "seed"
[[scenario.group]]
name = "l"
[vary]
leechers = [1, 2]
"""))
    runs = sweep.runs()
    records = [{m: float(i) for m in MEASURES} | {"finished": i != 1} for i in range(len(runs))]
    records[1]["last_over_t_min"] = None  # a run in which someone never completed
    pts = points(sweep, runs, records)
    assert [(p.values, p.strategy, p.runs, p.finished) for p in pts] == [
        ((("leechers", "1"),), "rarest", 2, 1), ((("leechers", "1"),), "random", 2, 2),
        ((("leechers", "2"),), "rarest", 2, 2), ((("leechers", "2"),), "random", 2, 2)]
    assert pts[0].stats["last_over_t_min"].n == 1 and pts[0].stats["seed_copies"].mean == 0.5
    assert pts[3].stats["seed_copies"].mean == 6.5
