"""The request pipeline (torrentish.core.pipeline): how many requests a peer gets, from its rate,
reqq, snub state and the endgame; and the snub clock, with `now` handed in."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from torrentish.core.pipeline import (
    MIN_BATCH,
    PipelineLimits,
    RequestPipeline,
    pipeline_target,
    requests_to_send,
)

BLOCK = 16384
LIMITS = PipelineLimits(min_requests=8, max_requests=512, seconds=1.0, snub_timeout=30.0)


def send(outstanding: int = 0, *, rate: float = 0.0, reqq: int = 250, snubbed: bool = False,
         endgame: bool = False, limits: PipelineLimits = LIMITS) -> int:
    return requests_to_send(limits, rate=rate, reqq=reqq, outstanding=outstanding, snubbed=snubbed,
                            endgame=endgame)


def test_a_new_peer_gets_the_minimum_and_a_fast_one_a_second_of_its_rate():
    assert send() == 8
    assert send(rate=100 * BLOCK) == 100
    assert send(rate=10_000 * BLOCK) == 250  # its reqq
    assert send(rate=10_000 * BLOCK, reqq=5000) == 512  # our own cap
    assert send(reqq=3) == 3  # the peer's reqq wins over our minimum


def test_a_snubbed_peer_gets_one_request_at_a_time():
    assert send(rate=100 * BLOCK, snubbed=True) == 1
    assert send(1, rate=100 * BLOCK, snubbed=True) == 0


def test_endgame_duplicates_go_one_at_a_time_to_idle_peers():
    assert send(rate=100 * BLOCK, endgame=True) == 1
    assert send(1, rate=100 * BLOCK, endgame=True) == 0


def test_a_busy_pipeline_is_topped_up_in_batches():
    target = pipeline_target(LIMITS, 100 * BLOCK, 250, False)
    assert target == 100
    assert send(target - 24, rate=100 * BLOCK) == 0  # 24 free: under a quarter of 100
    assert send(target - 25, rate=100 * BLOCK) == 25
    assert send(5, rate=0) == 0  # 3 free of 8: under the batch of 4
    assert send(4, rate=0) == 4


@given(rate=st.floats(0, 1e9, allow_nan=False), reqq=st.integers(1, 2000),
       outstanding=st.integers(0, 1000), snubbed=st.booleans(), endgame=st.booleans(),
       low=st.integers(1, 64), high=st.integers(1, 1024), seconds=st.floats(0.01, 10))
def test_what_a_peer_is_sent_keeps_every_promise(rate, reqq, outstanding, snubbed, endgame, low,
                                                 high, seconds):
    limits = PipelineLimits(min_requests=low, max_requests=max(low, high), seconds=seconds)
    n = send(outstanding, rate=rate, reqq=reqq, snubbed=snubbed, endgame=endgame, limits=limits)
    target = pipeline_target(limits, rate, reqq, snubbed)
    assert 1 <= target <= min(reqq, limits.max_requests)
    assert n >= 0
    if endgame:
        assert n == (0 if outstanding else 1)  # duplicates: one at a time, to idle peers
        return
    if n:
        assert outstanding + n == target, "topped up to the target exactly"
        assert outstanding + n <= reqq, "never more in flight than the peer queues"
        assert not outstanding or n >= max(MIN_BATCH, target // 4), "topped up in batches"
    if snubbed:
        assert outstanding + n <= max(outstanding, 1)
    if not outstanding:
        assert n == target, "an idle pipeline is always refilled"
    if outstanding >= target:
        assert n == 0


def test_a_peer_silent_for_the_snub_timeout_with_requests_out_is_snubbed():
    p = RequestPipeline(LIMITS, now=0.0)
    assert not p.snub_due(100.0, outstanding=0)  # nothing asked: nothing owed
    p.requests_sent(100.0, outstanding_before=0)  # the clock starts with the first request
    p.requests_sent(110.0, outstanding_before=5)  # ... and not with later ones
    assert not p.snub_due(130.0, outstanding=5)
    assert p.snub_due(130.5, outstanding=5) and p.snubbed
    assert p.wanted(100 * BLOCK, 250, 0, False) == 1
    p.blocks_arrived(131.0)
    assert not p.snubbed and p.wanted(100 * BLOCK, 250, 0, False) == 100
    assert not p.snub_due(160.0, outstanding=1)


@given(st.lists(st.tuples(st.sampled_from(["block", "sent", "check"]), st.floats(0, 20),
                          st.integers(0, 4)), max_size=40))
def test_the_snub_clock_counts_from_the_last_block_or_the_first_request(steps):
    p = RequestPipeline(LIMITS, now=0.0)
    now, since, snubbed = 0.0, 0.0, False
    for kind, delay, outstanding in steps:
        now += delay
        if kind == "block":
            p.blocks_arrived(now)
            since, snubbed = now, False
        elif kind == "sent":
            p.requests_sent(now, outstanding)
            if not outstanding:
                since = now
        else:
            due = outstanding > 0 and now - since > LIMITS.snub_timeout
            assert p.snub_due(now, outstanding) == due
            snubbed = snubbed or due
        assert p.snubbed == snubbed
