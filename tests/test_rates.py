"""Token buckets and rate meters over simulated timelines (``now`` is just a number)."""

from __future__ import annotations

import random

import pytest

from torrentish.core.rates import RateMeter, TokenBucket

MB = 1_000_000


def send_until(buckets, end: float, chunk: int, start: float = 0.0) -> int:
    """A sender that waits as the buckets say; returns the bytes it got through by ``end``."""
    now, sent = start, 0
    while True:
        wait = max(bucket.delay(chunk, now) for bucket in buckets)
        now += wait
        if now > end:
            return sent
        sent += chunk


@pytest.mark.parametrize("chunk", [1000, 16384, 300_000])
def test_bucket_passes_rate_times_time_plus_burst(chunk):
    bucket = TokenBucket(1 * MB, burst=100_000)
    sent = send_until([bucket], 10.0, chunk)
    assert 10 * MB - chunk <= sent <= 10 * MB + 100_000 + chunk


def test_a_request_larger_than_the_burst_passes_after_waiting():
    bucket = TokenBucket(1000, burst=500)
    assert bucket.delay(2500, now=0.0) == pytest.approx(2.0)
    assert bucket.delay(100, now=2.0) == pytest.approx(0.1)  # still paying back the debt
    assert bucket.delay(100, now=100.0) == 0.0  # refilled, but only up to the burst
    assert bucket.delay(500, now=100.0) == pytest.approx(0.1)


def test_unlimited_never_waits_and_rate_can_change():
    bucket = TokenBucket(0)
    assert all(bucket.delay(10 * MB, now=0.0) == 0.0 for _ in range(5))
    bucket = TokenBucket(None)
    assert bucket.unlimited and bucket.delay(MB, 0.0) == 0.0
    bucket.set_rate(1000, now=0.0)
    sent = send_until([bucket], 10.0, 100)
    assert 10_000 <= sent <= 10_000 + bucket.burst + 100
    bucket.set_rate(0)
    assert bucket.delay(MB, 11.0) == 0.0


def test_rate_change_keeps_earned_tokens():
    bucket = TokenBucket(1000, burst=10_000)
    bucket.delay(10_000, now=0.0)  # empty
    bucket.set_rate(2000, now=2.0)  # 2000 tokens earned at the old rate
    assert bucket.delay(4000, now=3.0) == pytest.approx(0.0)
    assert bucket.delay(2000, now=3.0) == pytest.approx(1.0)


def test_chained_buckets_obey_the_tighter_limit():
    client, torrent = TokenBucket(2 * MB, burst=50_000), TokenBucket(MB // 2, burst=50_000)
    sent = send_until([client, torrent], 10.0, 16384)
    assert 5 * MB - 16384 <= sent <= 5 * MB + 50_000 + 16384


def test_a_clock_stepping_back_earns_nothing():
    bucket = TokenBucket(1000, burst=1000)
    bucket.delay(1000, now=10.0)
    assert bucket.delay(500, now=5.0) == pytest.approx(0.5)


def test_meter_reads_a_steady_flow_exactly():
    meter = RateMeter(window=5.0)
    for step in range(1, 301):  # 100 KB/s in 0.1 s steps, for 30 s
        meter.add(10_000, now=step * 0.1)
        if step > 60:
            assert meter.rate(step * 0.1) == pytest.approx(100_000, rel=0.03)
    assert meter.total == 3_000_000


def test_meter_follows_a_change_within_the_window_and_forgets_old_bytes():
    meter = RateMeter(window=5.0)
    for step in range(100):
        meter.add(1000, now=step * 0.1)  # 10 KB/s
    for step in range(100, 200):
        meter.add(5000, now=step * 0.1)  # 50 KB/s
    assert meter.rate(20.0) == pytest.approx(50_000, rel=0.05)
    assert meter.rate(26.0) < 10_000
    assert meter.rate(40.0) == 0.0
    assert meter.total == 600_000


def test_meter_with_random_arrivals():
    rng = random.Random(9)
    meter, now = RateMeter(window=5.0), 0.0
    while now < 60.0:
        now += rng.expovariate(100)  # 100 arrivals/s of 16 KiB on average: ~1.6 MB/s
        meter.add(16384, now)
    assert meter.rate(now) == pytest.approx(100 * 16384, rel=0.2)


def test_young_meter_divides_by_its_age_not_the_window():
    meter = RateMeter(window=5.0)
    assert meter.rate(0.0) == 0.0
    meter.add(1000, now=100.0)
    meter.add(1000, now=101.0)
    assert meter.rate(102.0) == pytest.approx(1000, rel=0.01)


def test_bad_arguments():
    with pytest.raises(ValueError):
        RateMeter(window=0)
    with pytest.raises(ValueError):
        TokenBucket(-5)
