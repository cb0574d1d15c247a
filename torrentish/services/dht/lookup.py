"""One iterative Kademlia lookup (find_node or get_peers) as a state machine; pure.

The node asks ``next_queries()`` whom to query, and reports back with ``response()`` or
``failure()``. At most ``alpha`` queries are in flight; only the ``k`` closest candidates that have
not failed are ever queried, so the lookup converges on the target and ends (``done``) once those
``k`` have all answered or failed, or after ``max_queries`` queries in all. Candidates are keyed by
address and bounded (``max_candidates``, the farthest unqueried ones are forgotten first), and so
are the peers collected from get_peers ``values``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from torrentish.services.dht.krpc import NodeInfo
from torrentish.services.dht.routing import id_to_int

Address = tuple[str, int]
NEW, WAITING, ANSWERED, FAILED = "new", "waiting", "answered", "failed"


@dataclass
class _Candidate:
    node: NodeInfo
    distance: int
    state: str = NEW
    token: bytes | None = None


class Lookup:
    def __init__(
        self,
        target: bytes,
        seeds: Iterable[NodeInfo],
        *,
        own_id: bytes | None = None,
        k: int = 8,
        alpha: int = 3,
        max_queries: int = 100,
        max_candidates: int = 200,
        max_peers: int = 1000,
    ):
        self.target = target
        self._target = id_to_int(target)
        self.own_id = own_id
        self.k = k
        self.alpha = alpha
        self.max_queries = max_queries
        self.max_candidates = max_candidates
        self.max_peers = max_peers
        self.queries = 0
        self._candidates: dict[Address, _Candidate] = {}
        self._peers: dict[Address, None] = {}
        self._add(seeds)

    @property
    def peers(self) -> list[Address]:
        return list(self._peers)

    def _ranked(self) -> list[_Candidate]:
        return sorted((c for c in self._candidates.values() if c.state != FAILED), key=lambda c: c.distance)

    def _add(self, nodes: Iterable[NodeInfo]) -> None:
        for node in nodes:
            if node.address in self._candidates or node.node_id == self.own_id or len(node.node_id) != 20:
                continue
            self._candidates[node.address] = _Candidate(node, id_to_int(node.node_id) ^ self._target)
        if len(self._candidates) > self.max_candidates:
            unqueried = sorted((c for c in self._candidates.values() if c.state == NEW), key=lambda c: -c.distance)
            for candidate in unqueried[: len(self._candidates) - self.max_candidates]:
                del self._candidates[candidate.node.address]

    def next_queries(self) -> list[NodeInfo]:
        """Nodes to query now (each is then WAITING until response() or failure())."""
        in_flight = sum(1 for c in self._candidates.values() if c.state == WAITING)
        out = []
        for candidate in self._ranked()[: self.k]:
            if in_flight >= self.alpha or self.queries >= self.max_queries:
                break
            if candidate.state == NEW:
                candidate.state = WAITING
                in_flight += 1
                self.queries += 1
                out.append(candidate.node)
        return out

    def response(self, address: Address, node_id: bytes, nodes: Iterable[NodeInfo] = (),
                 token: bytes | None = None, values: Iterable[Address] = ()) -> None:
        candidate = self._candidates.get(address)
        if candidate is None or candidate.state != WAITING:
            return  # not ours to count (late, duplicate, or from an address we never asked)
        candidate.state = ANSWERED
        candidate.token = token
        if node_id != candidate.node.node_id:  # it was listed under another id: trust its own word
            candidate.node = NodeInfo(node_id, *address)
            candidate.distance = id_to_int(node_id) ^ self._target
        self._add(nodes)
        for peer in values:
            if len(self._peers) >= self.max_peers:
                break
            self._peers.setdefault(peer, None)

    def failure(self, address: Address) -> None:
        candidate = self._candidates.get(address)
        if candidate is not None and candidate.state == WAITING:
            candidate.state = FAILED

    @property
    def done(self) -> bool:
        window = self._ranked()[: self.k]
        if any(c.state == WAITING for c in self._candidates.values()):
            return False
        return self.queries >= self.max_queries or all(c.state == ANSWERED for c in window)

    def closest_answered(self, count: int | None = None) -> list[tuple[NodeInfo, bytes | None]]:
        """The nearest nodes that answered, with the token each gave (for announce_peer)."""
        answered = [c for c in self._ranked() if c.state == ANSWERED]
        return [(c.node, c.token) for c in answered[: count or self.k]]
