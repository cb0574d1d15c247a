"""Token buckets (rate limits) and rate meters (how fast bytes flow), with ``now`` passed in.

A limit is usually two buckets, one for the whole client and one for the torrent: the caller asks
both and waits for the longer delay (``max(global.delay(n, now), torrent.delay(n, now))``). Both
buckets are charged, which is what both limits mean.
"""

from __future__ import annotations

import math

__all__ = ["TokenBucket", "RateMeter", "set_limits"]

MIN_BURST = 64 * 1024


class TokenBucket:
    """A rate limit of ``rate`` bytes/s (0 or None: unlimited) allowing bursts of ``burst`` bytes.

    ``delay(n, now)`` takes ``n`` tokens at once, letting the balance go negative (debt) so that a
    request larger than the burst still passes after waiting; the wait is how long the bucket needs
    to refill to zero. Over any long stretch the bytes passed are ``rate * time + burst`` at most.
    """

    def __init__(self, rate: float | None, burst: int | None = None) -> None:
        self._fixed_burst = burst
        self.rate = 0.0
        self.burst = 0.0
        self._tokens = 0.0
        self._last: float | None = None
        self.set_rate(rate)
        self._tokens = self.burst  # start full

    def set_rate(self, rate: float | None, now: float | None = None) -> None:
        """Change the limit; with ``now``, tokens earned so far at the old rate are kept."""
        if rate is not None and rate < 0:
            raise ValueError(f"rate must be >= 0, not {rate}")
        if now is not None:
            self._refill(now)
        self.rate = float(rate or 0)
        if self._fixed_burst is not None:
            self.burst = float(self._fixed_burst)
        else:  # a tenth of a second of traffic, at least a few blocks
            self.burst = max(float(MIN_BURST), self.rate / 10)
        self._tokens = min(self._tokens, self.burst)
        if not self.rate:
            self._tokens = self.burst  # no debt survives becoming unlimited

    @property
    def unlimited(self) -> bool:
        return not self.rate

    def delay(self, n: int, now: float) -> float:
        """Seconds to wait before sending ``n`` bytes; the bytes are charged now."""
        if not self.rate:
            return 0.0
        self._refill(now)
        self._tokens -= n
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def _refill(self, now: float) -> None:
        if self._last is not None and self.rate:
            elapsed = max(0.0, now - self._last)  # a clock that steps back earns nothing
            self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
        if self._last is None or now > self._last:
            self._last = now


class RateMeter:
    """Bytes per second over a sliding ``window``, from per-slice counts in a ring.

    The window is cut into ``slices`` equal time slices. ``add`` is O(1) amortised; ``rate`` sums
    the ring (``slices`` + 1 numbers). The rate covers the full slices in the window plus the
    current partial one, divided by exactly the time they span, so a steady flow reads exactly its
    rate. A young meter divides by the time since its first byte (at least one slice), not by the
    window.
    """

    def __init__(self, window: float = 5.0, slices: int = 10) -> None:
        if window <= 0 or slices < 1:
            raise ValueError("window must be > 0 and slices >= 1")
        self.window = window
        self._width = window / slices
        self._ring = [0] * (slices + 1)
        self._head: int | None = None  # number of the newest slice
        self._start = 0.0
        self.total = 0  # every byte ever added

    def add(self, n: int, now: float) -> None:
        slot = self._advance(now)
        self._ring[slot % len(self._ring)] += n
        self.total += n

    def rate(self, now: float) -> float:
        """Bytes/s over the last ``window`` seconds (0.0 before anything was added)."""
        if self._head is None:
            return 0.0
        head = self._advance(now)
        oldest = head - len(self._ring) + 1
        start = max(oldest * self._width, self._start)
        span = max(now - start, self._width)
        return sum(self._ring) / span

    def _advance(self, now: float) -> int:
        """Make the slice holding ``now`` the newest (clearing stale ones); returns its number."""
        slot = math.floor(now / self._width)
        if self._head is None:
            self._head = slot
            self._start = now
            return slot
        if slot > self._head:
            ring = self._ring
            for s in range(self._head + 1, min(slot, self._head + len(ring)) + 1):
                ring[s % len(ring)] = 0
            self._head = slot
        # A clock that steps back counts into the newest slice.
        return self._head


def set_limits(up: TokenBucket, down: TokenBucket, up_rate: float | None, down_rate: float | None,
               now: float) -> None:
    """Set a pair of upload/download limits (bytes/s, 0: none; None leaves one as it is)."""
    if up_rate is not None:
        up.set_rate(up_rate, now)
    if down_rate is not None:
        down.set_rate(down_rate, now)
