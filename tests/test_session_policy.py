"""The session's pure decisions: queueing, seeding limits, queue moves."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from torrentish.session.policy import (
    FOLLOW_SESSION,
    OWN_LIMIT,
    UNLIMITED,
    QueueEntry,
    effective_limit,
    move_in_queue,
    place_in_queue,
    plan_queue,
    seeding_done,
)


def entry(key, position, complete=False, running=False, forced=False) -> QueueEntry:
    return QueueEntry(key, position, complete, running, forced)


def test_the_top_of_each_queue_runs():
    entries = [entry(k, k) for k in range(4)] + [entry(10 + k, 10 + k, complete=True) for k in range(4)]
    assert plan_queue(entries, max_downloads=2, max_seeds=3) == {0, 1, 10, 11, 12}


def test_zero_means_no_limit():
    entries = [entry(k, k, complete=k % 2 == 0) for k in range(9)]
    assert plan_queue(entries, max_downloads=0, max_seeds=0) == set(range(9))


def test_a_running_torrent_keeps_its_slot_when_another_moves_above_it():
    entries = [entry("a", 1, running=True), entry("b", 0)]
    assert plan_queue(entries, 1, 1) == {"a"}


def test_a_freed_slot_goes_to_the_highest_waiting_torrent():
    entries = [entry("c", 2), entry("b", 1), entry("a", 5, running=True, complete=True)]
    assert plan_queue(entries, 1, 1) == {"b", "a"}


def test_a_lowered_limit_stops_the_lowest_running_ones():
    entries = [entry(k, k, running=True) for k in range(4)]
    assert plan_queue(entries, 2, 0) == {0, 1}


def test_forced_torrents_bypass_the_queue_but_take_slots():
    entries = [entry("f", 9, forced=True), entry("a", 0), entry("b", 1)]
    assert plan_queue(entries, 2, 0) == {"f", "a"}
    assert plan_queue([entry("f", 9, forced=True), entry("g", 8, forced=True), entry("a", 0)], 1, 0) == {"f", "g"}


@given(st.lists(st.tuples(st.booleans(), st.booleans(), st.booleans()), max_size=30),
       st.integers(0, 6), st.integers(0, 6))
def test_plans_respect_the_limits_and_leave_no_slot_idle(flags, max_downloads, max_seeds):
    entries = [entry(i, (i * 7) % 31, complete=c, running=r, forced=f) for i, (c, r, f) in enumerate(flags)]
    run = plan_queue(entries, max_downloads, max_seeds)
    for complete, limit in ((False, max_downloads), (True, max_seeds)):
        members = [e for e in entries if e.complete == complete]
        running = [e for e in members if e.key in run]
        assert all(e.key in run for e in members if e.forced)
        if limit:
            assert len([e for e in running if not e.forced]) <= max(0, limit - sum(e.forced for e in members))
            if len(running) < min(limit, len(members)):
                assert all(e.key in run for e in members)  # waiting only when the queue is full
        else:
            assert len(running) == len(members)
        waiting_running_before = [e for e in members if e.running and not e.forced and e.key not in run]
        if waiting_running_before:  # a running torrent is stopped only when every slot is taken
            assert all(e.running for e in running if not e.forced)


def test_effective_limits_follow_the_mode():
    assert effective_limit(FOLLOW_SESSION, 1.0, 2.0) == 2.0
    assert effective_limit(OWN_LIMIT, 1.0, 2.0) == 1.0
    assert effective_limit(UNLIMITED, 1.0, 2.0) is None
    assert effective_limit(FOLLOW_SESSION, 1.0, None) is None


def test_seeding_stops_at_the_ratio_or_after_the_idle_time():
    keep = dict(last_activity=1000.0, now=1030.0)
    assert seeding_done(ratio=1.9, ratio_limit=2.0, idle_limit_minutes=None, **keep) is None
    assert "ratio 2.00" in seeding_done(ratio=2.0, ratio_limit=2.0, idle_limit_minutes=None, **keep)
    assert seeding_done(ratio=9.0, ratio_limit=None, idle_limit_minutes=1, **keep) is None
    assert "idle for 1 minutes" in seeding_done(ratio=0.0, ratio_limit=None, idle_limit_minutes=1,
                                                last_activity=1000.0, now=1060.0)


@pytest.mark.parametrize("where, expected", [
    ("top", ["c", "a", "b", "d"]), ("up", ["a", "c", "b", "d"]),
    ("down", ["a", "b", "d", "c"]), ("bottom", ["a", "b", "d", "c"]),
])
def test_queue_moves(where, expected):
    assert move_in_queue(["a", "b", "c", "d"], "c", where) == expected


def test_queue_moves_at_the_ends_and_bad_moves():
    assert move_in_queue(["a", "b"], "a", "up") == ["a", "b"]
    assert move_in_queue(["a", "b"], "b", "down") == ["a", "b"]
    with pytest.raises(ValueError):
        move_in_queue(["a"], "a", "sideways")
    assert place_in_queue(["a", "b", "c"], "a", 99) == ["b", "c", "a"]
    assert place_in_queue(["a", "b", "c"], "c", -3) == ["c", "a", "b"]


@given(st.lists(st.integers(0, 50), unique=True, min_size=1, max_size=20), st.data())
def test_queue_moves_keep_every_torrent_once(order, data):
    key = data.draw(st.sampled_from(order))
    where = data.draw(st.sampled_from(["top", "up", "down", "bottom"]))
    moved = move_in_queue(order, key, where)
    assert sorted(moved) == sorted(order)
    assert abs(moved.index(key) - order.index(key)) <= len(order)
