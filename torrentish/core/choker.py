"""Who gets an upload slot: BEP 3 tit-for-tat with an optimistic unchoke.

Every ``interval`` seconds the engine calls ``rechoke``. We unchoke:

* Regular slots (``slots - 1``): the interested peers that upload to us fastest (when seeding: that
  take from us fastest). Snubbed peers are never chosen by rate while we are leeching. Ties prefer
  the peers already unchoked (no fibrillation among equals), then the injected rng.
* BEP 3's subtlety: "peers which have a better upload rate but aren't interested get unchoked".
  Uninterested peers that rank above the slowest regular pick, with a rate above zero, are unchoked
  too without taking a slot: they reciprocate already, and when they become interested they can
  request at once (the next rechoke chokes the worst uploader).
* One optimistic unchoke among the interested peers not unchoked by rate, rotated every
  ``optimistic_every`` rechokes (30 s). Peers connected within the last three intervals are three
  times as likely to be chosen, so a newcomer quickly gets a piece to trade. A snubbed peer may be
  chosen: that is how it gets another chance.

``slots == 0`` means unlimited: every interested peer is unchoked.

Rotation is measured with ``now`` (every ``optimistic_every * interval`` seconds, with half an
interval of slack), not by counting calls, so an extra rechoke, e.g. when a peer becomes
interested, does not hurry the rotation.
"""

from __future__ import annotations

import random
from collections.abc import Hashable, Iterable
from dataclasses import dataclass

__all__ = ["ChokeCandidate", "Choker", "NEW_PEER_WEIGHT", "NEW_PEER_INTERVALS"]

NEW_PEER_WEIGHT = 3  # how much likelier a new peer is to be the optimistic unchoke
NEW_PEER_INTERVALS = 3  # "new" = connected within this many rechoke intervals


@dataclass
class ChokeCandidate:
    key: Hashable
    interested: bool  # the peer is interested in us
    rate: float  # bytes/s: download-from when leeching, upload-to when seeding
    connected_at: float
    snubbed: bool = False  # it has sent us nothing for a while although we asked


class Choker:
    """Remembers the last choice (ties, rotation) between calls to ``rechoke``."""

    def __init__(self, slots: int = 4, interval: float = 10.0, optimistic_every: int = 3, *,
                 rng: random.Random) -> None:
        if slots < 0 or interval <= 0 or optimistic_every < 1:
            raise ValueError("slots >= 0, interval > 0 and optimistic_every >= 1 are required")
        self.slots = slots
        self.interval = interval
        self.optimistic_every = optimistic_every
        self._rng = rng
        self._by_rate: set[Hashable] = set()  # unchoked for their rate last time
        self.optimistic: Hashable | None = None
        self._optimistic_since = 0.0

    def rechoke(self, candidates: Iterable[ChokeCandidate], now: float,
                seeding: bool) -> set[Hashable]:
        """The keys to have unchoked from now on; every other peer is choked."""
        peers = list(candidates)
        if self.slots == 0:
            self._by_rate = {c.key for c in peers if c.interested}
            self.optimistic = None
            return set(self._by_rate)

        regular, extra = self._by_rate_picks(peers, seeding)
        self._by_rate = regular | extra
        current = {c.key: c for c in peers}.get(self.optimistic)
        rotate = (
            current is None
            or not current.interested
            or current.key in self._by_rate
            or now - self._optimistic_since >= (self.optimistic_every - 0.5) * self.interval
        )
        if rotate:
            self.optimistic = self._choose_optimistic(peers, now)
            self._optimistic_since = now
        unchoked = set(self._by_rate)
        if self.optimistic is not None:
            unchoked.add(self.optimistic)
        return unchoked

    def _by_rate_picks(self, peers: list[ChokeCandidate],
                       seeding: bool) -> tuple[set[Hashable], set[Hashable]]:
        """(interested peers for the regular slots, faster uninterested peers)."""
        # Snubbing means "sends us nothing": it only matters while we download.
        eligible = [c for c in peers if seeding or not c.snubbed]
        ties = {id(c): self._rng.random() for c in eligible}
        eligible.sort(key=lambda c: (-c.rate, c.key not in self._by_rate, ties[id(c)]))
        regular: set[Hashable] = set()
        extra: set[Hashable] = set()
        wanted = self.slots - 1
        for c in eligible:
            if len(regular) >= wanted:
                break
            if c.interested:
                regular.add(c.key)
            elif c.rate > 0:
                extra.add(c.key)
        return regular, extra

    def _choose_optimistic(self, peers: list[ChokeCandidate], now: float) -> Hashable | None:
        """A random interested peer not unchoked by rate; newcomers weigh NEW_PEER_WEIGHT."""
        pool = [c for c in peers if c.interested and c.key not in self._by_rate]
        if not pool:
            return None
        young = NEW_PEER_INTERVALS * self.interval
        weights = [NEW_PEER_WEIGHT if now - c.connected_at < young else 1 for c in pool]
        point = self._rng.random() * sum(weights)
        for c, weight in zip(pool, weights):
            point -= weight
            if point < 0:
                return c.key
        return pool[-1].key
