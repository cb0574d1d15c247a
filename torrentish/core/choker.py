"""Who gets an upload slot: BEP 3 tit-for-tat with an optimistic unchoke.

Every ``interval`` seconds the engine calls ``rechoke``. We unchoke:

* Regular slots (``slots - 1``) while leeching: the interested peers that upload to us fastest.
  Snubbed peers are never chosen by rate. Ties prefer the peers already unchoked (no fibrillation
  among equals), then the injected rng.
* Regular slots while seeding, round robin (libtorrent's default seed choker): a peer keeps its slot
  while we upload to it fastest, until it has had its quota (``seed_quota`` bytes and at least
  ``QUOTA_SECONDS``); then, and for every choked peer, the one that has waited longest since we
  last unchoked it goes first (never unchoked: first of all). Ranking seeds purely by rate would
  keep serving the same fast takers; at the end of a flash crowd the last leechers then wait for
  optimistic unchokes while finished peers sit idle.
* BEP 3's subtlety: "peers which have a better upload rate but aren't interested get unchoked".
  Uninterested peers that rank above the slowest regular pick, with a rate above zero, are unchoked
  too without taking a slot: they reciprocate already, and when they become interested they can
  request at once (the next rechoke chokes the worst uploader).
* One optimistic unchoke among the interested peers not unchoked by rate, rotated every
  ``optimistic_every`` rechokes (30 s). Peers connected within the last three intervals are three
  times as likely to be chosen, so a newcomer quickly gets a piece to trade. A snubbed peer may be
  chosen: that is how it gets another chance.

``slots == 0`` means unlimited: every interested peer is unchoked.

Between rechokes the engine can also take back a slot that is idle (``idle_slot``; off by default,
``Settings.idle_slot_seconds``): the peer holding it is interested but has asked us for nothing for
``grace`` seconds, e.g. because every piece of ours it lacks is on its way from someone else.

Rotation is measured with ``now`` (every ``optimistic_every * interval`` seconds, with half an
interval of slack), not by counting calls, so an extra rechoke, e.g. when a peer becomes
interested, does not hurry the rotation.
"""

from __future__ import annotations

import math
import random
from collections.abc import Hashable, Iterable
from dataclasses import dataclass

__all__ = ["ChokeCandidate", "Choker", "NEW_PEER_WEIGHT", "NEW_PEER_INTERVALS", "QUOTA_SECONDS",
           "idle_slot", "waiting_since"]

NEW_PEER_WEIGHT = 3  # how much likelier a new peer is to be the optimistic unchoke
NEW_PEER_INTERVALS = 3  # "new" = connected within this many rechoke intervals
QUOTA_SECONDS = 60.0  # a seed's unchoke lasts at least this long (libtorrent: one minute)


@dataclass
class ChokeCandidate:
    key: Hashable
    interested: bool  # the peer is interested in us
    rate: float  # bytes/s: download-from when leeching, upload-to when seeding
    connected_at: float
    snubbed: bool = False  # it has sent us nothing for a while although we asked
    unchoked: bool = False  # we are not choking it now
    unchoked_at: float | None = None  # when we last unchoked it; None: never
    sent_since_unchoke: int = 0  # payload bytes we sent it since then


def waiting_since(unchoked_at: float | None) -> float:
    """Round-robin order of peers waiting for a seed's slot: since their last unchoke, and a
    peer never unchoked (None) before all others."""
    return unchoked_at if unchoked_at is not None else -math.inf


def idle_slot(now: float, unchoked_at: float | None, last_request_at: float | None, queued: int,
              grace: float) -> bool:
    """Whether an unchoked peer leaves its slot idle: nothing of its requests is queued with us
    and it has asked for nothing for `grace` seconds, counted from its unchoke at the earliest
    (its first requests need a round trip). A peer downloading from us keeps asking as blocks
    arrive (its pipeline is topped up every 4 blocks or more), so `grace` must exceed a round trip
    and the time a slow downloader takes for 4 blocks (1 s: 64 KiB/s). A slower one can look idle
    once its requests left the queue for the socket; it is a plain bound, not a measured RTT."""
    if queued or unchoked_at is None:
        return False
    quiet_since = unchoked_at if last_request_at is None else max(unchoked_at, last_request_at)
    return now - quiet_since >= grace


class Choker:
    """Remembers the last choice (ties, rotation) between calls to ``rechoke``."""

    def __init__(self, slots: int = 4, interval: float = 10.0, optimistic_every: int = 3, *,
                 rng: random.Random, seed_quota: int = 0) -> None:
        if slots < 0 or interval <= 0 or optimistic_every < 1 or seed_quota < 0:
            raise ValueError("slots >= 0, interval > 0, optimistic_every >= 1 and seed_quota >= 0"
                             " are required")
        self.slots = slots
        self.seed_quota = seed_quota
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

        regular, extra = self._by_rate_picks(peers, now, seeding)
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

    def _by_rate_picks(self, peers: list[ChokeCandidate], now: float,
                       seeding: bool) -> tuple[set[Hashable], set[Hashable]]:
        """(interested peers for the regular slots, faster uninterested peers)."""
        # Snubbing means "sends us nothing": it only matters while we download.
        eligible = [c for c in peers if seeding or not c.snubbed]
        ties = {id(c): self._rng.random() for c in eligible}
        if seeding:
            eligible.sort(key=lambda c: self._round_robin_rank(c, now) + (ties[id(c)],))
        else:
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

    def _round_robin_rank(self, c: ChokeCandidate, now: float) -> tuple[bool, float, float]:
        """Seeding order, smallest first: quota not used up, then our rate to it (a choked peer's
        leftover rate does not count), then the longest wait since its last unchoke."""
        since = waiting_since(c.unchoked_at)
        quota_done = (c.unchoked and c.sent_since_unchoke > self.seed_quota
                      and now - since >= QUOTA_SECONDS)
        return (quota_done, -c.rate if c.unchoked else 0.0, since)

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
