"""The choker: BEP 3 tit-for-tat with a rotating, newcomer-friendly optimistic unchoke."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from torrentish.core.choker import ChokeCandidate, Choker, idle_slot


def peer(key, rate=0.0, interested=True, connected_at=-1000.0, snubbed=False) -> ChokeCandidate:
    return ChokeCandidate(key, interested, rate, connected_at, snubbed)


def swarm(rates) -> list[ChokeCandidate]:
    return [peer(f"p{i}", rate) for i, rate in enumerate(rates)]


def test_slots_go_to_the_fastest_plus_one_optimistic():
    choker = Choker(slots=4, rng=random.Random(1))
    unchoked = choker.rechoke(swarm([10, 50, 20, 40, 30, 0, 5]), now=0.0, seeding=False)
    assert len(unchoked) == 4
    assert {"p1", "p3", "p4"} <= unchoked
    assert choker.optimistic in unchoked - {"p1", "p3", "p4"}


def test_seeding_keeps_its_fastest_takers_and_ignores_snubbing():
    choker = Choker(slots=3, rng=random.Random(1), seed_quota=10**9)
    peers = [ChokeCandidate("a", True, 5, -100.0, snubbed=True, unchoked=True, unchoked_at=-50.0),
             ChokeCandidate("b", True, 9, -100.0, snubbed=True, unchoked=True, unchoked_at=-50.0),
             ChokeCandidate("c", True, 1, -100.0, unchoked=True, unchoked_at=-50.0),
             # choked just now: what is still arriving from before does not rank it
             ChokeCandidate("d", True, 50, -100.0, unchoked=False, unchoked_at=-60.0)]
    choker.rechoke(peers, now=0.0, seeding=True)
    assert choker._by_rate == {"a", "b"}


def test_seeding_goes_round_robin_once_a_quota_is_used():
    def candidates(now):
        return [ChokeCandidate("fast", True, 900, -500.0, unchoked=True, unchoked_at=now - 61,
                               sent_since_unchoke=2000),
                ChokeCandidate("slow", True, 100, -500.0, unchoked=True, unchoked_at=now - 61,
                               sent_since_unchoke=500),
                ChokeCandidate("waited-long", True, 0, -500.0, unchoked_at=-400.0),
                ChokeCandidate("waited-less", True, 0, -500.0, unchoked_at=-100.0),
                ChokeCandidate("never", True, 0, -500.0)]
    choker = Choker(slots=4, rng=random.Random(2), seed_quota=1000)
    choker.rechoke(candidates(0.0), now=0.0, seeding=True)
    # "fast" has had its quota; "slow" has not; of the waiting ones, the never-served goes first.
    assert choker._by_rate == {"slow", "never", "waited-long"}
    # Not before a minute has passed, whatever was sent.
    quick = [ChokeCandidate("fast", True, 900, -500.0, unchoked=True, unchoked_at=-30.0,
                            sent_since_unchoke=10**6)] + candidates(0.0)[2:]
    choker = Choker(slots=2, rng=random.Random(2), seed_quota=1000)
    choker.rechoke(quick, now=0.0, seeding=True)
    assert choker._by_rate == {"fast"}


def test_snubbed_peers_are_never_unchoked_for_their_rate():
    for seed in range(50):
        choker = Choker(slots=3, rng=random.Random(seed))
        peers = [peer("fast", 1000, snubbed=True), *swarm([1, 2, 3, 4])]
        unchoked = choker.rechoke(peers, now=0.0, seeding=False)
        assert {"p2", "p3"} <= unchoked
        assert "fast" not in unchoked or choker.optimistic == "fast"


def test_uninterested_fast_peers_are_unchoked_without_using_a_slot():
    choker = Choker(slots=3, rng=random.Random(0))
    peers = [peer("lazy", 100, interested=False), peer("idle", 0, interested=False),
             peer("slowpoke", 0.5, interested=False), *swarm([10, 20, 1, 2])]
    unchoked = choker.rechoke(peers, now=0.0, seeding=False)
    assert {"lazy", "p0", "p1"} <= unchoked
    assert "idle" not in unchoked and "slowpoke" not in unchoked
    assert choker.optimistic in {"p2", "p3"} and len(unchoked) == 4


def test_unlimited_slots_unchoke_every_interested_peer():
    choker = Choker(slots=0, rng=random.Random(0))
    peers = [*swarm([0] * 20), peer("x", 99, interested=False)]
    assert choker.rechoke(peers, now=0.0, seeding=False) == {f"p{i}" for i in range(20)}


def test_optimistic_rotates_every_three_calls():
    choker = Choker(slots=2, interval=10.0, optimistic_every=3, rng=random.Random(7))
    peers = swarm([100] + [0] * 30)
    seen = []
    for call in range(12):
        unchoked = choker.rechoke(peers, now=call * 10.0 + 0.01 * (call % 2), seeding=False)
        assert unchoked == {"p0", choker.optimistic}
        seen.append(choker.optimistic)
    for start in range(0, 12, 3):
        assert len(set(seen[start : start + 3])) == 1
    assert len(set(seen)) > 1


def test_an_extra_rechoke_does_not_hurry_the_rotation():
    choker = Choker(slots=2, rng=random.Random(3))
    peers = swarm([100] + [0] * 30)
    choker.rechoke(peers, now=0.0, seeding=False)
    first = choker.optimistic
    for now in (4.0, 10.0, 12.0, 20.0):
        choker.rechoke(peers, now=now, seeding=False)
        assert choker.optimistic == first


def test_optimistic_is_replaced_when_it_leaves_or_loses_interest():
    choker = Choker(slots=2, rng=random.Random(3))
    peers = swarm([100] + [0] * 30)
    choker.rechoke(peers, now=0.0, seeding=False)
    gone = choker.optimistic
    rest = [c for c in peers if c.key != gone]
    assert gone not in choker.rechoke(rest, now=1.0, seeding=False)
    assert choker.optimistic is not None
    current = choker.optimistic
    rest = [peer(c.key, c.rate, interested=c.key != current) for c in rest]
    choker.rechoke(rest, now=2.0, seeding=False)
    assert choker.optimistic not in (None, current)


def test_new_peers_are_three_times_as_likely_to_be_the_optimistic():
    counts = Counter()
    trials = 3000
    for seed in range(trials):
        choker = Choker(slots=2, interval=10.0, rng=random.Random(seed))
        peers = [peer("fast", 100), peer("new", connected_at=95.0)] + swarm([0] * 9)
        choker.rechoke(peers, now=100.0, seeding=False)
        counts[choker.optimistic] += 1
    share = counts["new"] / trials  # weight 3 of 3 + 9 = 12: 25%, not 10%
    assert 0.21 < share < 0.29
    assert counts["fast"] == 0


def test_ties_keep_the_current_unchoked_peers():
    choker = Choker(slots=4, rng=random.Random(5))
    peers = swarm([0] * 10)
    first = choker.rechoke(peers, now=0.0, seeding=False) - {choker.optimistic}
    for call in range(1, 6):
        again = choker.rechoke(peers, now=call * 10.0, seeding=False) - {choker.optimistic}
        assert again == first


def test_a_faster_peer_displaces_the_slowest():
    choker = Choker(slots=3, rng=random.Random(5))
    choker.rechoke(swarm([5, 4, 3, 0]), now=0.0, seeding=False)
    unchoked = choker.rechoke(swarm([5, 4, 3, 9]), now=10.0, seeding=False)
    assert {"p0", "p3"} <= unchoked and "p1" not in unchoked - {choker.optimistic}


def test_same_seed_same_choices():
    def run(seed):
        choker = Choker(rng=random.Random(seed))
        peers = swarm([0, 1, 1, 2, 2, 3, 0, 0, 0])
        return [sorted(choker.rechoke(peers, now=t * 10.0, seeding=False)) for t in range(9)]

    assert run(4) == run(4)


def test_bad_settings_are_rejected():
    with pytest.raises(ValueError):
        Choker(slots=-1, rng=random.Random())
    with pytest.raises(ValueError):
        Choker(optimistic_every=0, rng=random.Random())


def test_an_optimistic_peer_that_proves_fast_takes_a_regular_slot_and_frees_the_optimistic():
    choker = Choker(slots=2, rng=random.Random(2))
    choker.rechoke(swarm([100] + [0] * 10), now=0.0, seeding=False)
    lucky = choker.optimistic
    peers = [peer(c.key, 500 if c.key == lucky else c.rate) for c in swarm([100] + [0] * 10)]
    unchoked = choker.rechoke(peers, now=10.0, seeding=False)
    assert lucky in unchoked and choker.optimistic not in (None, lucky) and len(unchoked) == 2


# ------------------------------------------------------------------------------ idle slots


def test_a_slot_is_idle_once_its_holder_asked_for_nothing_for_the_grace():
    assert not idle_slot(10.0, unchoked_at=0.0, last_request_at=9.5, queued=0, grace=1.0)
    assert idle_slot(10.0, unchoked_at=0.0, last_request_at=9.0, queued=0, grace=1.0)
    assert idle_slot(10.0, unchoked_at=0.0, last_request_at=None, queued=0, grace=1.0)


def test_a_slot_is_not_idle_while_requests_wait_or_the_first_ones_may_still_come():
    # queued requests: the peer is being served, however long ago it asked
    assert not idle_slot(10.0, unchoked_at=0.0, last_request_at=1.0, queued=3, grace=1.0)
    # just unchoked: its first requests are a round trip away; a request from before the unchoke
    # (a previous turn) does not make it idle sooner
    assert not idle_slot(10.0, unchoked_at=9.5, last_request_at=None, queued=0, grace=1.0)
    assert not idle_slot(10.0, unchoked_at=9.5, last_request_at=2.0, queued=0, grace=1.0)
    assert not idle_slot(10.0, unchoked_at=None, last_request_at=None, queued=0, grace=1.0)
