"""The tracker's memory: who announced which torrent, and what to tell the next announcer.

Pure (`now` passed in, randomness injected), so floods and expiry are tested without sockets.

Memory is bounded whatever clients send: at most `max_torrents` swarms, `max_peers` peers in
all and `max_swarm` in one swarm. A full swarm forgets its least recently seen peer to make
room (the newcomer is more likely alive); a full tracker refuses new torrents and new peers
until expiry frees room, rather than letting a flood of made-up torrents push out real ones.

Peers are kept in least-recently-seen order (an OrderedDict moved to the end on every
announce), so expiry pops stale peers off the front in time proportional to what it removes.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Container
from dataclasses import dataclass, field

from torrentish.services.tracker.protocol import ScrapeStats, TrackerFailure

__all__ = ["SwarmLimits", "Swarms", "PeerEntry", "AnnounceResult"]


@dataclass(frozen=True)
class SwarmLimits:
    max_torrents: int = 10_000
    max_peers: int = 200_000  # all swarms together
    max_swarm: int = 5_000  # peers in one swarm
    max_numwant: int = 200  # peers in one reply
    default_numwant: int = 50
    peer_ttl: float = 3600.0  # a peer not heard of for this long is gone


@dataclass
class PeerEntry:
    ip: str
    port: int
    seed: bool
    last_seen: float


@dataclass
class _Swarm:
    peers: OrderedDict[bytes, PeerEntry] = field(default_factory=OrderedDict)  # by peer id
    seeds: int = 0
    downloaded: int = 0  # "completed" events seen


@dataclass(frozen=True)
class AnnounceResult:
    peers: list[tuple[str, int, bytes]]  # (ip, port, peer id) for the reply
    complete: int
    incomplete: int


class Swarms:
    def __init__(self, limits: SwarmLimits, rng: random.Random, allowed: Container[bytes] | None = None):
        self.limits = limits
        self.rng = rng
        self.allowed = allowed  # None: any torrent; else only these info hashes
        self._swarms: OrderedDict[bytes, _Swarm] = OrderedDict()  # least recently announced first
        # Peers that never expire and count toward no limit: the seed sharing beside the tracker.
        self._pinned: dict[bytes, list[tuple[bytes, PeerEntry]]] = {}
        self.peer_count = 0

    def __len__(self) -> int:
        return len(self._swarms)

    def check_allowed(self, info_hash: bytes) -> None:
        if self.allowed is not None and info_hash not in self.allowed:
            raise TrackerFailure("this tracker does not track that torrent")

    def announce(
        self, info_hash: bytes, peer_id: bytes, ip: str, port: int, left: int, event: str, numwant: int, now: float
    ) -> AnnounceResult:
        """Record one announce and choose peers for the reply; TrackerFailure when refused."""
        self.check_allowed(info_hash)
        swarm = self._swarms.get(info_hash)
        if swarm is None:
            swarm = _Swarm()
            if event != "stopped":
                self.expire(now)
                if len(self._swarms) >= self.limits.max_torrents:
                    raise TrackerFailure("tracker is full: too many torrents")
                self._swarms[info_hash] = swarm
        else:
            self._swarms.move_to_end(info_hash)
        self._trim(swarm, now)
        self._remove(swarm, peer_id)
        if event == "completed":
            swarm.downloaded += 1
        if event == "stopped":
            return AnnounceResult([], *self._counts(info_hash, swarm))
        self._add(swarm, peer_id, PeerEntry(ip, port, left == 0, now), now)
        wanted = self.limits.default_numwant if numwant < 0 else min(numwant, self.limits.max_numwant)
        return AnnounceResult(self._choose(info_hash, swarm, peer_id, wanted), *self._counts(info_hash, swarm))

    def pin(self, info_hash: bytes, peer_id: bytes, ip: str, port: int, seed: bool = True) -> None:
        """Hand out ip:port for this torrent for as long as the tracker runs."""
        self._pinned.setdefault(info_hash, []).append((peer_id, PeerEntry(ip, port, seed, 0.0)))

    def scrape(self, info_hash: bytes, now: float) -> ScrapeStats:
        self.check_allowed(info_hash)
        swarm = self._swarms.get(info_hash) or _Swarm()
        self._trim(swarm, now)
        complete, incomplete = self._counts(info_hash, swarm)
        return ScrapeStats(complete=complete, downloaded=swarm.downloaded, incomplete=incomplete)

    def expire(self, now: float) -> None:
        """Forget swarms nobody announced to for a whole peer_ttl (all their peers are stale)."""
        cutoff = now - self.limits.peer_ttl
        while self._swarms:
            info_hash, swarm = next(iter(self._swarms.items()))
            if swarm.peers and next(reversed(swarm.peers.values())).last_seen >= cutoff:
                break  # every swarm behind this one was announced to more recently
            self._trim(swarm, now)
            del self._swarms[info_hash]

    # ---------------------------------------------------------------------------------- helpers
    def _counts(self, info_hash: bytes, swarm: _Swarm) -> tuple[int, int]:
        pinned = self._pinned.get(info_hash, ())
        complete = swarm.seeds + sum(1 for _, p in pinned if p.seed)
        return complete, len(swarm.peers) + len(pinned) - complete

    def _trim(self, swarm: _Swarm, now: float) -> None:
        cutoff = now - self.limits.peer_ttl
        while swarm.peers:
            peer_id, entry = next(iter(swarm.peers.items()))
            if entry.last_seen >= cutoff:
                break
            self._remove(swarm, peer_id)

    def _remove(self, swarm: _Swarm, peer_id: bytes) -> None:
        entry = swarm.peers.pop(peer_id, None)
        if entry is not None:
            self.peer_count -= 1
            swarm.seeds -= entry.seed

    def _add(self, swarm: _Swarm, peer_id: bytes, entry: PeerEntry, now: float) -> None:
        if len(swarm.peers) >= self.limits.max_swarm:
            self._remove(swarm, next(iter(swarm.peers)))  # the least recently seen
        elif self.peer_count >= self.limits.max_peers:
            self.expire(now)
            if self.peer_count >= self.limits.max_peers:
                raise TrackerFailure("tracker is full: too many peers")
        swarm.peers[peer_id] = entry
        swarm.seeds += entry.seed
        self.peer_count += 1

    def _choose(self, info_hash: bytes, swarm: _Swarm, asker: bytes, wanted: int) -> list[tuple[str, int, bytes]]:
        """Up to `wanted` peers other than the asker: pinned ones first, the rest at random.

        A seed asking gets no seeds: it has nothing to gain from them.
        """
        asker_entry = swarm.peers.get(asker)
        asker_is_seed = asker_entry is not None and asker_entry.seed
        chosen = [
            (p.ip, p.port, peer_id)
            for peer_id, p in self._pinned.get(info_hash, ())
            if peer_id != asker and not (asker_is_seed and p.seed)
        ][:wanted]
        room = wanted - len(chosen)
        if room <= 0 or len(swarm.peers) <= 1:
            return chosen
        ids = list(swarm.peers)
        # Sample a few more than needed so that skipping the asker (and seeds) rarely starves the reply.
        for peer_id in self.rng.sample(ids, min(len(ids), room * 2 + 1)):
            entry = swarm.peers[peer_id]
            if peer_id == asker or (asker_is_seed and entry.seed):
                continue
            chosen.append((entry.ip, entry.port, peer_id))
            room -= 1
            if room == 0:
                break
        return chosen
