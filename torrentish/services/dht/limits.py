"""Per-source rate limits for a DHT node; pure.

Every source IP address gets a token bucket of queries; a source over its rate is ignored (no
reply, no error), which is what keeps one sender from using us as a reflector or burning our
upload. The table of buckets is bounded: the least recently active source is forgotten first.
There is also one global bucket, so many sources together cannot exceed the node's budget.
"""

from __future__ import annotations

from collections import OrderedDict


class _Bucket:
    __slots__ = ("tokens", "at")

    def __init__(self, tokens: float, at: float):
        self.tokens = tokens
        self.at = at


class RateLimiter:
    def __init__(self, *, per_source: float = 20.0, burst: float = 40.0, total: float = 500.0,
                 total_burst: float = 1000.0, max_sources: int = 4096):
        self.per_source = per_source
        self.burst = burst
        self.total = total
        self.total_burst = total_burst
        self.max_sources = max_sources
        self._sources: OrderedDict[str, _Bucket] = OrderedDict()
        self._all = _Bucket(total_burst, 0.0)
        self.dropped = 0

    @staticmethod
    def _take(bucket: _Bucket, rate: float, burst: float, now: float) -> bool:
        bucket.tokens = min(burst, bucket.tokens + (now - bucket.at) * rate)
        bucket.at = now
        if bucket.tokens < 1.0:
            return False
        bucket.tokens -= 1.0
        return True

    def allow(self, source: str, now: float) -> bool:
        """Whether one more message from ``source`` may be handled now (consumes a token)."""
        bucket = self._sources.get(source)
        if bucket is None:
            if len(self._sources) >= self.max_sources:
                self._sources.popitem(last=False)
            bucket = self._sources[source] = _Bucket(self.burst, now)
        else:
            self._sources.move_to_end(source)
        if not self._take(bucket, self.per_source, self.burst, now) or not self._take(
            self._all, self.total, self.total_burst, now
        ):
            self.dropped += 1
            return False
        return True
