"""The DHT serving torrents: announce them, find their peers, swap DHT ports with peers.

    async with open_dht_node(config) as node:           # one node per client, shared
        await transfer.get(info, out, services=[DhtService(node)])

``DhtService`` is a transfer service (``transfer.get`` / ``seed`` ``services``): while the
torrent runs it announces it (get_peers + announce_peer on the closest nodes) every
``announce_interval`` and hands the peers found to the torrent; while the torrent still lacks
peers it looks again sooner, backing off from ``search_interval``. It also tells peers our DHT port
(BEP 5 PORT message) and pings the nodes peers tell us about, which is how a node with no working
bootstrap router still joins. Given no node, it runs its own for the torrent's lifetime.
Private torrents (BEP 27) are never put on the DHT.

``dht_peer_source(node)`` is the same lookup as a peer source for fetching a magnet's metadata.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import trio

from torrentish.services.dht.config import DhtConfig
from torrentish.services.dht.node import DhtNode, open_dht_node, shared_dht_channel
from torrentish import events as ev
from torrentish.wire import codec as wire
from torrentish.wire import messages as msg

Address = tuple[str, int]
ANNOUNCE_INTERVAL = 15 * 60.0  # BEP 5 tokens live 10 minutes; announcements are kept ~30
SEARCH_INTERVAL = 15.0  # first retry while a torrent has no peers; doubles up to the announce interval
ENOUGH_PEERS = 10  # with this many connected, the regular interval is enough
JOIN_RETRY = 2.0  # while our routing table is empty (a lookup then costs nothing); doubles up to
MAX_JOIN_RETRY = 60.0  # this: a thousand seeds on a host that cannot reach the DHT do not poll it


class DhtService:
    def __init__(self, node: DhtNode | None = None, *, config: DhtConfig | None = None,
                 announce_interval: float = ANNOUNCE_INTERVAL, search_interval: float = SEARCH_INTERVAL,
                 seed_lookups: trio.CapacityLimiter | None = None):
        self.node = node
        self.config = config
        # Shared by a session's torrents: complete ones announce through these few slots, so a
        # thousand seeds starting at once do not run a thousand lookups at once (downloads,
        # which need peers, never wait for them).
        self.seed_lookups = seed_lookups
        self.announce_interval = announce_interval
        self.search_interval = search_interval

    async def __call__(self, client: Any, torrent: Any) -> None:
        if torrent.info.private:
            return
        if self.node is not None:
            await self._serve(self.node, client, torrent)
            return
        async with open_dht_node(self.config, shared=shared_dht_channel(client.network)) as node:
            await self._serve(node, client, torrent)

    async def _serve(self, node: DhtNode, client: Any, torrent: Any) -> None:
        torrent.dht_port = node.port
        torrent.on_dht_node = node.add_contact
        try:
            for peer in list(torrent.peers.values()):  # those connected before we started
                handshake = peer.codec.handshake
                if handshake is not None and handshake.supports_dht:
                    peer.send(wire.encode(msg.Port(node.port)))
            delay = self.search_interval / 2  # doubled before its first use
            join_retry = JOIN_RETRY
            while True:
                result, accepted = await self._announce(node, client, torrent, torrent.info_hash)
                peers = list(result.peers)
                for other in getattr(torrent.info, "swarm_hashes", ())[1:]:  # a hybrid's v2 swarm (BEP 52)
                    peers += (await self._announce(node, client, torrent, other))[0].peers
                found = list(dict.fromkeys(p for p in peers if p not in torrent.known))
                if found:
                    torrent.add_peers(found)
                    torrent.events.publish(ev.PeersFound(trio.current_time(), "dht", len(found)))
                if not accepted and not any(len(table) for table in node.tables.values()):
                    await trio.sleep(join_retry)  # nobody to announce to yet: try again once we know someone
                    join_retry = min(join_retry * 2, MAX_JOIN_RETRY)
                    continue
                join_retry = JOIN_RETRY
                if torrent.completed.is_set() or len(torrent.peers) >= ENOUGH_PEERS:
                    delay = self.announce_interval
                else:
                    delay = min(delay * 2, self.announce_interval) if not found else self.search_interval
                await trio.sleep(delay)
        finally:
            torrent.dht_port = None
            torrent.on_dht_node = None


    async def _announce(self, node: DhtNode, client: Any, torrent: Any, info_hash: bytes):
        if self.seed_lookups is None or not torrent.completed.is_set():
            return await node.announce(info_hash, client.announce_port)
        async with self.seed_lookups:
            return await node.announce(info_hash, client.announce_port)


def dht_peer_source(node: DhtNode, *, first_retry: float = 1.0, max_retry: float = 120.0):
    """A peer source (see engine/metadata.py) that looks the info hash up on ``node``, repeatedly."""

    async def source(info_hash: bytes, found: Callable[[Iterable[Address]], None]) -> None:
        await node.bootstrapped.wait()
        delay = first_retry
        while True:
            result = await node.get_peers(info_hash)
            if result.peers:
                found(result.peers)
            await trio.sleep(delay)
            delay = min(delay * 2, max_retry)

    return source
