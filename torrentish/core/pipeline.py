"""How many block requests to keep in flight to one peer, and when a peer is snubbed (pure).

A request costs a round trip before its block can come, so a peer is kept busy by keeping about
``seconds`` of its download rate requested ahead (the bandwidth-delay product, with margin),
never fewer than ``min_requests`` (a new peer's rate is not known yet), never more than
``max_requests`` nor than the peer says it queues (its reqq). Three things change that:

- **snubbed**: a peer that sent no block for ``snub_timeout`` while requests were out loses them
  to other peers, and is asked for one block at a time until it sends again (libtorrent does the
  same), which keeps the door open without tying up more blocks;
- **endgame**: every missing block is requested already, and duplicates go out one at a time, only
  to a peer with nothing in flight (libtorrent's rule: no burst of duplicates to cancel later);
- **hysteresis**: the pipeline is topped up in batches of at least a quarter of its target (and at
  least 4), not one request per block that arrives, which would cost a send per block; an idle
  pipeline is always refilled.

Everything is decided from numbers handed in (the peer's rate at `now`, its reqq, how many of our
requests are outstanding): no clock, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from torrentish.formats.geometry import BLOCK_SIZE

__all__ = ["PipelineLimits", "RequestPipeline", "pipeline_target", "requests_to_send"]

MIN_BATCH = 4  # requests sent at a time when topping up a pipeline that is not idle


@dataclass(frozen=True)
class PipelineLimits:
    min_requests: int = 8
    max_requests: int = 512
    seconds: float = 1.0  # keep this much of a peer's rate in flight
    snub_timeout: float = 30.0  # no block for this long while requests are out: snubbed


def pipeline_target(limits: PipelineLimits, rate: float, reqq: int, snubbed: bool) -> int:
    """How many requests a peer downloading at `rate` bytes/s should have in flight."""
    if snubbed:
        return 1
    target = int(rate * limits.seconds) // BLOCK_SIZE
    target = max(limits.min_requests, min(target, limits.max_requests))
    return max(1, min(target, reqq))


def requests_to_send(limits: PipelineLimits, *, rate: float, reqq: int, outstanding: int,
                     snubbed: bool, endgame: bool) -> int:
    """How many requests to send the peer now (0: none) with `outstanding` already in flight."""
    target = pipeline_target(limits, rate, reqq, snubbed)
    if endgame:
        return 0 if outstanding else 1
    want = target - outstanding
    if want <= 0 or (outstanding and want < max(MIN_BATCH, target // 4)):
        return 0
    return want


class RequestPipeline:
    """One peer's request pipeline: its snub clock, and how many requests to send it now."""

    __slots__ = ("limits", "last_block", "snubbed")

    def __init__(self, limits: PipelineLimits, now: float) -> None:
        self.limits = limits
        # When the peer last sent a block, or requests went out to it with none in flight.
        self.last_block = now
        self.snubbed = False

    def blocks_arrived(self, now: float) -> None:
        self.last_block = now
        self.snubbed = False

    def wanted(self, rate: float, reqq: int, outstanding: int, endgame: bool) -> int:
        return requests_to_send(self.limits, rate=rate, reqq=reqq, outstanding=outstanding,
                                snubbed=self.snubbed, endgame=endgame)

    def requests_sent(self, now: float, outstanding_before: int) -> None:
        if not outstanding_before:
            self.last_block = now  # the snub clock starts when requests go out

    def snub_due(self, now: float, outstanding: int) -> bool:
        """True once the peer has sent nothing for snub_timeout with requests out: it is snubbed
        now, and its requests should go to other peers."""
        if outstanding and now - self.last_block > self.limits.snub_timeout:
            self.snubbed = True
            return True
        return False
