"""The peers other nodes announced to us (announce_peer), handed out in get_peers replies; pure.

Bounded twice: at most ``max_torrents`` info hashes (the one announced to least recently goes
first) and ``max_peers`` addresses per info hash (the oldest announcement goes first). Entries
expire ``ttl`` seconds after their last announcement (announcers repeat every 15 minutes).
"""

from __future__ import annotations

import random
from collections import OrderedDict

Address = tuple[str, int]


class PeerStore:
    def __init__(self, *, max_torrents: int = 2000, max_peers: int = 500, ttl: float = 30 * 60.0):
        self.max_torrents = max_torrents
        self.max_peers = max_peers
        self.ttl = ttl
        # info hash -> (address -> (announced at, seed)); both ordered oldest first
        self._torrents: OrderedDict[bytes, OrderedDict[Address, tuple[float, bool]]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._torrents)

    def add(self, info_hash: bytes, address: Address, now: float, seed: bool = False) -> None:
        peers = self._torrents.get(info_hash)
        if peers is None:
            if len(self._torrents) >= self.max_torrents:
                self._torrents.popitem(last=False)
            peers = self._torrents[info_hash] = OrderedDict()
        self._torrents.move_to_end(info_hash)
        peers.pop(address, None)
        peers[address] = (now, seed)
        while len(peers) > self.max_peers:
            peers.popitem(last=False)

    def get(self, info_hash: bytes, now: float, rng: random.Random, count: int = 50) -> list[Address]:
        """Up to ``count`` live addresses for the info hash, a random sample when there are more."""
        self.expire(now, info_hash)
        peers = self._torrents.get(info_hash)
        if not peers:
            return []
        addresses = list(peers)
        return addresses if len(addresses) <= count else rng.sample(addresses, count)

    def expire(self, now: float, info_hash: bytes | None = None) -> None:
        for key in [info_hash] if info_hash is not None else list(self._torrents):
            peers = self._torrents.get(key)
            if peers is None:
                continue
            while peers and now - next(iter(peers.values()))[0] > self.ttl:
                peers.popitem(last=False)
            if not peers:
                del self._torrents[key]
