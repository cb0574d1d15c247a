"""What a DHT node answers to each query (BEP 5, with BEP 32's ``want``); pure.

The reply is built in full here; ``krpc.encode_within`` then cuts it to the size the source is
allowed (see node.py). Unknown methods get error 204, announcements with a bad token error 203.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

from torrentish.services.dht import krpc
from torrentish.services.dht.config import VERSION
from torrentish.services.dht.krpc import NodeInfo
from torrentish.services.dht.peer_store import PeerStore
from torrentish.services.dht.routing import RoutingTable
from torrentish.services.dht.tokens import TokenIssuer

Address = tuple[str, int]
MAX_VALUES = 100  # peers in one get_peers reply before size trimming


def _closest(tables: Mapping[int, RoutingTable], target: bytes, family: int) -> tuple[NodeInfo, ...]:
    table = tables.get(family)
    if table is None:
        return ()
    return tuple(NodeInfo(c.node_id, *c.address) for c in table.closest(target) if not c.failures)


def answer(
    query: krpc.Query,
    source: Address,
    now: float,
    *,
    node_id: bytes,
    tables: Mapping[int, RoutingTable],
    store: PeerStore,
    tokens: TokenIssuer,
    rng: random.Random,
) -> krpc.Response | krpc.Error:
    """The reply to ``query`` from ``source``; an accepted announce_peer is stored in ``store``."""
    base = dict(tid=query.tid, node_id=node_id, ip=source, version=VERSION)
    if isinstance(query, krpc.Ping):
        return krpc.Response(**base)
    if isinstance(query, (krpc.FindNode, krpc.GetPeers)):
        target = query.target if isinstance(query, krpc.FindNode) else query.info_hash
        # BEP 32: without "want", the family the query came over.
        want = query.want or {"n6" if ":" in source[0] else "n4"}
        nodes = _closest(tables, target, 4) if "n4" in want else ()
        nodes6 = _closest(tables, target, 6) if "n6" in want else ()
        if isinstance(query, krpc.FindNode):
            return krpc.Response(nodes=nodes, nodes6=nodes6, **base)
        values = tuple(store.get(query.info_hash, now, rng, MAX_VALUES))
        token = tokens.token(source[0], now)
        return krpc.Response(nodes=nodes, nodes6=nodes6, values=values, token=token, **base)
    if isinstance(query, krpc.AnnouncePeer):
        if not tokens.valid(query.token, source[0], now):
            return krpc.Error(tid=query.tid, code=krpc.PROTOCOL_ERROR, message="bad token", version=VERSION)
        port = source[1] if query.implied_port else query.port
        store.add(query.info_hash, (source[0], port), now)
        return krpc.Response(**base)
    return krpc.Error(tid=query.tid, code=krpc.METHOD_UNKNOWN, message="method unknown", version=VERSION)
