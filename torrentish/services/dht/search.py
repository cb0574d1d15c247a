"""The DHT node's searches and upkeep: iterative lookups, announcing, joining, refreshing.

Functions over a running ``DhtNode`` (node.py owns the sockets and single queries); each lookup is
the pure ``lookup.Lookup`` state machine driven with real queries, ``alpha`` at a time. IPv4 and
IPv6 (BEP 32) keep separate routing tables, so every search runs once per address family.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import trio

from torrentish.services.dht import krpc
from torrentish.services.dht.config import parse_host_port
from torrentish.services.dht.krpc import NodeInfo, QueryFailed
from torrentish.services.dht.lookup import Lookup

if TYPE_CHECKING:
    from torrentish.services.dht.node import DhtNode

Address = tuple[str, int]
MAX_BOOTSTRAP_QUERIES = 64
MAX_PINGS_PER_ROUND = 32
MAX_REFRESHES_PER_ROUND = 8


@dataclass
class PeersResult:
    peers: list[Address]
    closest: list[tuple[NodeInfo, bytes | None]] = field(default_factory=list)  # (node, its token)


def family(address: Address) -> int:
    return 6 if ":" in address[0] else 4


def _partial(cls: type[krpc.Query], **fixed) -> Callable[..., krpc.Query]:
    """A query constructor with its method arguments bound; DhtNode.query adds tid and the rest."""
    return lambda **common: cls(**fixed, **common)


async def lookup(node: DhtNode, target: bytes, family_: int, make: Callable[..., krpc.Query],
                 seeds: list[NodeInfo] | None = None) -> Lookup:
    """Run one iterative lookup of ``target``, sending ``make`` queries, to its end."""
    table = node.tables[family_]
    if seeds is None:
        seeds = [NodeInfo(c.node_id, *c.address) for c in table.closest(target, 2 * node.config.k)]
    search = Lookup(target, seeds, own_id=node.node_id, k=node.config.k, alpha=node.config.alpha)
    changed = trio.Event()

    async def one(contact: NodeInfo) -> None:
        try:
            response = await node.query(contact.address, make)
        except QueryFailed:
            search.failure(contact.address)
        else:
            nodes = response.nodes if family_ == 4 else response.nodes6
            search.response(contact.address, response.node_id, nodes, response.token, response.values)
        changed.set()

    async with trio.open_nursery() as nursery:
        while True:
            for contact in search.next_queries():
                nursery.start_soon(one, contact)
            if search.done:
                break
            await changed.wait()
            changed = trio.Event()
    return search


async def find_node(node: DhtNode, target: bytes) -> list[NodeInfo]:
    found: list[NodeInfo] = []
    for family_ in node.tables:
        search = await lookup(node, target, family_, _partial(krpc.FindNode, target=target))
        found.extend(contact for contact, _ in search.closest_answered())
    return found


async def get_peers(node: DhtNode, info_hash: bytes) -> PeersResult:
    # Peers announced to this node itself count too: in a small DHT we may be the closest node.
    result = PeersResult(node.store.get(info_hash, trio.current_time(), node.rng))
    for family_ in node.tables:
        search = await lookup(node, info_hash, family_, _partial(krpc.GetPeers, info_hash=info_hash))
        result.peers.extend(p for p in search.peers if p not in result.peers)
        result.closest.extend(search.closest_answered())
    return result


async def announce(node: DhtNode, info_hash: bytes, port: int, *, implied_port: bool = False) -> tuple[PeersResult, int]:
    result = await get_peers(node, info_hash)
    accepted = 0

    async def one(contact: NodeInfo, token: bytes) -> None:
        nonlocal accepted
        make = _partial(krpc.AnnouncePeer, info_hash=info_hash, port=port, token=token, implied_port=implied_port)
        try:
            await node.query(contact.address, make)
            accepted += 1
        except QueryFailed:
            pass

    async with trio.open_nursery() as nursery:
        for contact, token in result.closest:
            if token is not None:
                nursery.start_soon(one, contact, token)
    return result, accepted


async def _resolve(node: DhtNode) -> list[Address]:
    """Saved contacts first, then the configured bootstrap nodes, for the families we run."""
    addresses: list[Address] = []
    for saved in node.saved_nodes:
        if family(saved.address) in node.tables and saved.address not in addresses:
            addresses.append(saved.address)
    for entry in node.config.bootstrap:
        try:
            host, port = parse_host_port(entry)
            infos = await trio.socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        except (ValueError, OSError):
            continue  # unresolvable (offline, a typo): the others may still work
        for _, _, _, _, sockaddr in infos:
            address = (sockaddr[0], sockaddr[1])
            if family(address) in node.tables and address not in addresses:
                addresses.append(address)
    return addresses


async def bootstrap(node: DhtNode) -> None:
    addresses = await _resolve(node)
    seeds: dict[int, list[NodeInfo]] = {family_: [] for family_ in node.tables}
    own = _partial(krpc.FindNode, target=node.node_id)

    async def ask(address: Address) -> None:
        try:
            response = await node.query(address, own)
        except QueryFailed:
            return
        found = seeds[family(address)]
        found.append(NodeInfo(response.node_id, *address))
        found.extend(response.nodes if family(address) == 4 else response.nodes6)

    async with trio.open_nursery() as nursery:
        for address in addresses[:MAX_BOOTSTRAP_QUERIES]:
            nursery.start_soon(ask, address)
    for family_, found in seeds.items():
        known = [NodeInfo(c.node_id, *c.address) for c in node.tables[family_].closest(node.node_id, 16)]
        if found or known:
            await lookup(node, node.node_id, family_, own, seeds=found + known)


async def maintain(node: DhtNode) -> None:
    now = trio.current_time()
    async with trio.open_nursery() as nursery:
        for table in node.tables.values():
            for contact in table.questionable(now)[:MAX_PINGS_PER_ROUND]:
                nursery.start_soon(node.ping, contact.address)
    for family_, table in list(node.tables.items()):
        if not len(table):
            await bootstrap(node)
            break
        for target in table.refresh_targets(now, node.rng, node.config.refresh_interval)[:MAX_REFRESHES_PER_ROUND]:
            await lookup(node, target, family_, _partial(krpc.FindNode, target=target))
    node.store.expire(now)
    if now - node.last_save >= node.config.save_interval:
        node.save()
