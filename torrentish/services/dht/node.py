"""A DHT node on UDP (BEP 5; BEP 32 IPv6 beside IPv4; BEP 43 read-only mode).

    async with open_dht_node(DhtConfig(bootstrap=("127.0.0.1:6881",))) as node:
        found = await node.get_peers(info_hash)
        await node.announce(info_hash, port=6881)

With ``shared=endpoint.shared.dht`` (net/utp.py open_utp) the node runs on the listen port's UDP
socket beside uTP instead of binding its own.

The node answers ping, find_node, get_peers and announce_peer; runs iterative lookups with at most
``alpha`` queries in flight; keeps its routing tables fresh (pings questionable contacts, refreshes
idle buckets) and saves them to ``config.state_path`` to rejoin from on the next start.

Abuse defences: queries over a source's rate are dropped unanswered (``limits.RateLimiter``); a
reply to a source that has not yet answered one of our queries is at most ``amplification`` times
the size of the request (``krpc.encode_within``), any reply at most ``max_reply`` bytes; responses
only count when they come from the address the query went to; senders we do not know are pinged
(once, through a bounded queue) before they enter the routing table; tables, the peer store and
the pending queries are all bounded.
"""

from __future__ import annotations

import random
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import trio

from torrentish.services.dht import krpc, search
from torrentish.services.dht.answers import answer
from torrentish.services.dht.config import RECEIVE_SIZE, VERSION, DhtConfig
from torrentish.services.dht.krpc import NodeInfo, QueryFailed
from torrentish.services.dht.limits import RateLimiter
from torrentish.services.dht.peer_store import PeerStore
from torrentish.services.dht.routing import RoutingTable
from torrentish.services.dht.state import load_state, save_state
from torrentish.services.dht.tokens import TokenIssuer
from torrentish.net.receive_errors import datagrams
from torrentish.net.shared_udp import DhtChannel

__all__ = ["DhtConfig", "DhtNode", "PeersResult", "QueryFailed", "open_dht_node"]

PeersResult = search.PeersResult

Address = tuple[str, int]


@dataclass
class _Pending:
    address: Address
    event: trio.Event = field(default_factory=trio.Event)
    result: krpc.Response | krpc.Error | None = None


def _family(address: Address) -> int:
    return search.family(address)


def _source_key(source: Address) -> str:
    """Rate limits apply per IP address; on loopback (local swarms, tests) per port as well."""
    host = source[0]
    return f"{host}:{source[1]}" if host.startswith("127.") or host == "::1" else host


class DhtNode:
    def __init__(self, config: DhtConfig | None = None, rng: random.Random | None = None,
                 shared: DhtChannel | None = None):
        self.config = config or DhtConfig()
        # The DHT's side of the listen port's UDP socket that uTP shares (net/shared_udp.py), in
        # place of a socket of its own (IPv4 only then).
        self.shared = shared
        self.rng = rng or random.Random()
        saved = load_state(self.config.state_path)
        self.node_id = self.config.node_id or saved.node_id or self.rng.randbytes(20)
        self.saved_nodes = saved.nodes  # contacts from the last run, to rejoin through
        now = trio.current_time()
        self.tables: dict[int, RoutingTable] = {}
        self._new_table = lambda: RoutingTable(self.node_id, k=self.config.k, good_for=self.config.good_for,
                                               restrict_ips=self.config.restrict_ips, now=now)
        self.tokens = TokenIssuer(self.rng, now)
        self.store = PeerStore()
        self.limiter = RateLimiter(per_source=self.config.rate_per_source, burst=2 * self.config.rate_per_source,
                                   total=self.config.rate_total, total_burst=2 * self.config.rate_total)
        self.port = 0
        self.bootstrapped = trio.Event()
        self.stats: dict[str, int] = {"queries_in": 0, "replies_out": 0, "bytes_in": 0, "bytes_out": 0,
                                      "bad_packets": 0, "unexpected": 0, "rate_limited": 0}
        self._sockets: dict[int, trio.socket.SocketType] = {}
        self._pending: dict[bytes, _Pending] = {}
        self._next_tid = self.rng.randrange(1 << 16)
        self._in_flight = trio.Semaphore(self.config.max_in_flight)
        self._to_ping_send, self._to_ping = trio.open_memory_channel[Address](256)
        self._pinging: set[Address] = set()
        self.last_save = now

    # -- lifecycle ---------------------------------------------------------------------------------
    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        await self._bind()
        try:
            async with trio.open_nursery() as nursery:
                for family, sock in self._sockets.items():
                    nursery.start_soon(self._receive_loop, family, sock)
                nursery.start_soon(self._ping_worker)
                task_status.started(self)
                await self.bootstrap()
                self.bootstrapped.set()
                while True:
                    await trio.sleep(self.config.maintenance_interval)
                    await self.maintain()
        finally:
            self.save()
            for sock in self._sockets.values():
                sock.close()
            if self.shared is not None:
                self.shared.claimed = False  # the next node may have it

    async def _bind(self) -> None:
        """The IPv4 socket on the configured port (any port if that one is taken: peers learn ours
        from PORT messages), and the IPv6 one on the same port number where IPv6 is available."""
        if self.shared is not None:
            self.port = self.shared.port
            self._sockets[4] = self.shared
            self.tables[4] = self._new_table()
            return
        sock = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            await sock.bind((self.config.host, self.config.port))
        except OSError:
            if not self.config.port:
                sock.close()
                raise
            await sock.bind((self.config.host, 0))
        self.port = sock.getsockname()[1]
        self._sockets[4] = sock
        self.tables[4] = self._new_table()
        if self.config.host6 is not None:
            sock6 = trio.socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            try:
                sock6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                await sock6.bind((self.config.host6, self.port))
            except OSError:
                sock6.close()
                return  # no IPv6 here (or that port is taken for it): the IPv4 DHT alone
            self._sockets[6] = sock6
            self.tables[6] = self._new_table()

    def save(self) -> None:
        if self.config.state_path is None:
            return
        now = trio.current_time()
        nodes = [NodeInfo(c.node_id, *c.address) for table in self.tables.values()
                 for c in table.contacts() if not c.failures]
        try:
            save_state(self.config.state_path, self.node_id, nodes)
        except OSError:
            pass  # losing the table costs a slower start next time, nothing more
        self.last_save = now

    # -- receiving ---------------------------------------------------------------------------------
    async def _receive_loop(self, family: int, sock: trio.socket.SocketType) -> None:
        received = sock if sock is self.shared else datagrams(sock, RECEIVE_SIZE, "DHT")
        async for data, source in received:
            await self._datagram(data, (source[0], source[1]), family)

    async def _datagram(self, data: bytes, source: Address, family: int) -> None:
        now = trio.current_time()
        self.stats["bytes_in"] += len(data)
        try:
            message = krpc.decode_message(data)
        except krpc.KrpcError as error:
            self.stats["bad_packets"] += 1
            if error.query and error.tid is not None and self._may_answer(source, now):
                reply = krpc.Error(tid=error.tid, code=error.code, message=str(error)[:100], version=VERSION)
                await self._send(krpc.encode_message(reply), source)
            return
        if isinstance(message, krpc.Query):
            if self._may_answer(source, now):
                await self._answer_query(message, data, source, family, now)
            return
        pending = self._pending.get(message.tid)
        if pending is None or pending.address != source or pending.result is not None:
            self.stats["unexpected"] += 1
            return
        pending.result = message
        pending.event.set()

    def _may_answer(self, source: Address, now: float) -> bool:
        if self.config.read_only:
            return False  # BEP 43
        if not self.limiter.allow(_source_key(source), now):
            self.stats["rate_limited"] += 1
            return False
        return True

    async def _answer_query(self, query: krpc.Query, raw: bytes, source: Address, family: int, now: float) -> None:
        self.stats["queries_in"] += 1
        table = self.tables[family]
        if not query.read_only:  # BEP 43: read-only nodes are served but never kept
            known = table.find(query.node_id)
            if known is None:
                self.add_contact(source)
            else:
                table.heard_from(query.node_id, source, now, responded=False)
        reply = answer(query, source, now, node_id=self.node_id, tables=self.tables, store=self.store,
                       tokens=self.tokens, rng=self.rng)
        if isinstance(reply, krpc.Error):
            data = krpc.encode_message(reply)
        else:
            contact = table.find_address(source)
            verified = contact is not None and contact.last_response is not None
            budget = self.config.max_reply if verified else int(self.config.amplification * len(raw))
            data = krpc.encode_within(reply, min(budget, self.config.max_reply))
        self.stats["replies_out"] += 1
        await self._send(data, source)

    async def _send(self, data: bytes, address: Address) -> None:
        sock = self._sockets.get(_family(address))
        if sock is None:
            raise OSError(f"no IPv{_family(address)} socket")
        await sock.sendto(data, address)
        self.stats["bytes_out"] += len(data)

    # -- asking ------------------------------------------------------------------------------------
    def _tid(self) -> bytes:
        while True:
            self._next_tid = (self._next_tid + 1) & 0xFFFF
            tid = self._next_tid.to_bytes(2, "big")
            if tid not in self._pending:
                return tid

    async def query(self, address: Address, make: Callable[..., krpc.Query]) -> krpc.Response:
        """Send ``make(tid=..., node_id=..., read_only=..., version=...)`` and wait for the answer.

        Updates the routing table either way; raises QueryFailed on timeout or an error answer.
        """
        family = _family(address)
        table = self.tables.get(family)
        if table is None:
            raise QueryFailed(f"no IPv{family} DHT")
        async with self._in_flight:
            tid = self._tid()
            pending = self._pending[tid] = _Pending(address)
            message = make(tid=tid, node_id=self.node_id, read_only=self.config.read_only, version=VERSION)
            try:
                await self._send(krpc.encode_message(message), address)
                with trio.move_on_after(self.config.query_timeout):
                    await pending.event.wait()
            except OSError:
                pass
            finally:
                del self._pending[tid]
        now = trio.current_time()
        result = pending.result
        if not isinstance(result, krpc.Response):
            known = table.find_address(address)
            if known is not None and result is None:
                table.failed(known.node_id, now)
            raise QueryFailed("no answer" if result is None else f"error {result.code}: {result.message}")
        to_ping = table.heard_from(result.node_id, address, now, responded=True)
        if to_ping is not None:
            self.add_contact(to_ping.address)
        return result

    async def ping(self, address: Address) -> bytes | None:
        """The node id at ``address``, or None when it does not answer."""
        try:
            return (await self.query(address, krpc.Ping)).node_id
        except QueryFailed:
            return None

    def add_contact(self, address: Address) -> None:
        """A node may be at ``address`` (a PORT message, an unknown querier): ping it, in time."""
        if address in self._pinging or _family(address) not in self.tables or not krpc.valid_address(*address):
            return
        try:
            self._to_ping_send.send_nowait(address)
        except trio.WouldBlock:
            return  # the queue is full: this contact is not worth more memory
        self._pinging.add(address)

    async def _ping_worker(self) -> None:
        slots = trio.Semaphore(8)  # at most 8 pings at once; the queue waits meanwhile

        async def one(address: Address) -> None:
            try:
                await self.ping(address)
            finally:
                self._pinging.discard(address)
                slots.release()

        async with trio.open_nursery() as nursery:
            async for address in self._to_ping:
                await slots.acquire()
                nursery.start_soon(one, address)

    # -- lookups and upkeep (dht/search.py) ----------------------------------------------------------
    async def find_node(self, target: bytes) -> list[NodeInfo]:
        """The nodes closest to ``target`` that answered, over every address family."""
        return await search.find_node(self, target)

    async def get_peers(self, info_hash: bytes) -> PeersResult:
        """Peers for a torrent from the nodes closest to it (and from our own store), and those
        nodes with the tokens they gave."""
        return await search.get_peers(self, info_hash)

    async def announce(self, info_hash: bytes, port: int, *, implied_port: bool = False) -> tuple[PeersResult, int]:
        """get_peers, then announce_peer to the closest nodes that gave a token; returns the
        lookup's result and how many nodes accepted the announcement."""
        return await search.announce(self, info_hash, port, implied_port=implied_port)

    async def bootstrap(self) -> None:
        """Ask the bootstrap nodes (and saved contacts) for our own neighbourhood, then look it up."""
        await search.bootstrap(self)

    async def maintain(self) -> None:
        """One round of upkeep: ping questionable contacts, refresh idle buckets, rejoin if alone."""
        await search.maintain(self)


def shared_dht_channel(network: object) -> DhtChannel | None:
    """The DHT side of the engine network's UDP socket (net/transports.py), if it has one no other
    node took yet: a DHT node run on it answers on the peer port, as libtorrent's does."""
    endpoint = getattr(network, "endpoint", None)
    if endpoint is None or not endpoint.shared.dht.claim():
        return None
    return endpoint.shared.dht


@asynccontextmanager
async def open_dht_node(config: DhtConfig | None = None, *, rng: random.Random | None = None,
                        shared: DhtChannel | None = None) -> AsyncIterator[DhtNode]:
    """Run a DHT node for the duration of the block (sockets bound on entry, bootstrap running)."""
    async with trio.open_nursery() as nursery:
        node = await nursery.start(DhtNode(config, rng, shared).run)
        try:
            yield node
        finally:
            nursery.cancel_scope.cancel()
