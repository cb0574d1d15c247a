"""uTP connections over the shared UDP socket, as trio streams, behind the engine's Network seam.

``UtpEndpoint`` drives every uTP state machine (wire/utp/connection.py) on one ``SharedUdp``:
it decodes a received batch, feeds each packet to its connection (by source address and
connection id), flushes every connection touched and sends all their datagrams in one batch, then
wakes the streams waiting on them. One timer task sleeps until the earliest connection deadline
(retransmission, keepalive, window probe). A SYN for an unknown connection is accepted when
something listens (up to ``max_connections``), any other packet for an unknown connection gets a
RESET, as libutp does.

Holepunching (BEP 55) opens a connection from both ends at once: ``punch`` sends a SYN to a peer
that sends one to us. When the SYNs cross, each side sees the other's; the SYN whose connection
id is lower wins on both sides (the side that sent it keeps its outgoing connection, the other
takes the SYN as an incoming one, for the listener, and drops its own SYN silently), so the two
end with the same single connection. libtorrent, too, takes a SYN from a peer it is punching to as
the connection.

``UtpStream`` is a ``trio.abc.Stream``: the engine, and MSE on top of it, run unchanged over it.
Closing sends FIN after the queued bytes; the connection lingers (``LINGER`` seconds at most) to
deliver them and to answer the peer's FIN, then it is dropped.

``UtpNetwork`` is the Network seam (connect / serve) over an endpoint.
"""

from __future__ import annotations

import math
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

from torrentish.core.ledbat import Ledbat
from torrentish.errors import ProtocolError
from torrentish.net.base import Address, ConnectionHandler, DatagramNetwork, Network
from torrentish.net.shared_udp import SharedUdp
from torrentish.wire.utp import packet as p
from torrentish.wire.utp.connection import CLOSED, FAILED, SYN_SENT, UtpConfig, UtpConnection

LINGER = 30.0  # seconds a closed stream's connection may take to finish
CONNECT_TIMEOUT = 5.0
MAX_CONNECTIONS = 2000


class _Entry:
    __slots__ = ("conn", "address", "key", "wakeup", "linger_until", "yielded")

    def __init__(self, conn: UtpConnection, address: Address):
        self.conn = conn
        self.address = address
        self.key = (address, conn.recv_id)
        self.wakeup = trio.Event()
        self.linger_until = math.inf
        self.yielded = False  # a punch whose SYN lost to the peer's: that one is the connection

    def notify(self) -> None:
        self.wakeup.set()
        self.wakeup = trio.Event()

    async def wait(self) -> None:
        await self.wakeup.wait()


class UtpEndpoint:
    def __init__(self, shared: SharedUdp, *, rng: random.Random | None = None,
                 config: UtpConfig | None = None, max_connections: int = MAX_CONNECTIONS):
        self.shared = shared
        self.rng = rng or random.Random()
        self.config = config or UtpConfig()
        self.max_connections = max_connections
        self.connections: dict[tuple[Address, int], _Entry] = {}
        self._handler: tuple[trio.Nursery, ConnectionHandler] | None = None
        self._punching: dict[Address, _Entry] = {}  # address -> our SYN_SENT punch to it
        self.accepting = True  # False: a SYN gets a RESET, as with no listener (uTP switched off)
        self._timer: trio.CancelScope | None = None
        self.stats = {"bad_packets": 0, "resets_sent": 0, "refused": 0}
        shared.utp = self._on_datagrams
        shared.utp_unreachable = self._unreachable

    @property
    def port(self) -> int:
        return self.shared.port

    async def run(self, *, task_status: trio.TaskStatus[UtpEndpoint] = trio.TASK_STATUS_IGNORED) -> None:
        """The timer task (the receiving is SharedUdp's)."""
        task_status.started(self)
        try:
            while True:
                with trio.CancelScope(deadline=self._earliest()) as scope:
                    self._timer = scope
                    await trio.sleep_forever()
                self._timer = None
                await self._on_timers(trio.current_time())
        finally:
            self._timer = None
            for entry in list(self.connections.values()):
                entry.conn.abort(trio.current_time())
                entry.notify()
            self.connections.clear()

    # -------------------------------------------------------------------- packets in
    async def _on_datagrams(self, batch: list[tuple[bytes, Address]]) -> None:
        now = trio.current_time()
        touched: dict[tuple[Address, int], _Entry] = {}
        out: list[tuple[bytes, Address]] = []
        connections = self.connections
        for data, source in batch:
            try:
                packet = p.decode(data)
            except ProtocolError:
                self.stats["bad_packets"] += 1
                continue
            entry = connections.get((source, packet.conn_id))
            if entry is None and packet.type == p.ST_SYN:
                entry = connections.get((source, (packet.conn_id + 1) & p.SEQ_MASK))
                if entry is None and self._loses_to_punch(packet, source):
                    continue
                if entry is None:
                    entry = self._accept(packet, source, now, out)
                    if entry is None:
                        continue
            elif entry is None:
                if packet.type != p.ST_RESET:
                    self.stats["resets_sent"] += 1
                    out.append((p.encode_header(p.ST_RESET, packet.conn_id, 0, 0, 0, 0, packet.seq), source))
                continue
            else:
                entry.conn.receive(packet, now)
            touched[entry.key] = entry
        for entry in touched.values():
            self._collect(entry, now, out)
        await self.shared.send(out)

    def _loses_to_punch(self, syn: p.Packet, source: Address) -> bool:
        """A SYN from a peer we are punching to: True if ours wins (theirs is dropped, as they
        will take ours); else our punch yields and theirs is accepted as usual."""
        punch = self._punching.get(source)
        if punch is None or punch.conn.state != SYN_SENT or self._handler is None:
            return False
        if punch.conn.recv_id < syn.conn_id:
            return True
        punch.yielded = True
        self.connections.pop(punch.key, None)  # no RESET: the peer's connection is the one
        punch.notify()
        return False

    def _unreachable(self, data: bytes, destination: Address) -> None:
        """ICMP port unreachable for a SYN of ours: nobody speaks uTP there."""
        try:
            packet = p.decode(data)
        except ProtocolError:
            return
        entry = self.connections.get((destination, packet.conn_id))
        if packet.type == p.ST_SYN and entry is not None and entry.conn.state == SYN_SENT:
            entry.conn.state = FAILED
            entry.conn.error = "connection refused"
            entry.notify()

    def _accept(self, syn: p.Packet, source: Address, now: float, out: list) -> _Entry | None:
        if self._handler is None or not self.accepting or len(self.connections) >= self.max_connections:
            self.stats["refused"] += 1
            out.append((p.encode_header(p.ST_RESET, syn.conn_id, 0, 0, 0, 0, syn.seq), source))
            return None
        conn = UtpConnection.accept(Ledbat(self.config.payload_size), syn, self.rng.randrange(1 << 16), now, self.config)
        entry = _Entry(conn, source)
        self.connections[entry.key] = entry
        nursery, handler = self._handler
        nursery.start_soon(handler, UtpStream(self, entry), source)
        return entry

    def _collect(self, entry: _Entry, now: float, out: list) -> None:
        """Flush one connection into ``out``, wake its stream, forget it once it is over."""
        conn = entry.conn
        address = entry.address
        for datagram in conn.flush(now):
            out.append((datagram, address))
        entry.notify()
        if conn.done and conn.state != CLOSED:  # reset or failed; a closed one lingers to re-ack a FIN
            self.connections.pop(entry.key, None)
            return
        deadline = conn.deadline()
        timer = self._timer
        if timer is not None and deadline is not None and deadline < timer.deadline:
            timer.deadline = deadline

    # -------------------------------------------------------------------- timers
    def _earliest(self) -> float:
        earliest = math.inf
        for entry in self.connections.values():
            deadline = entry.conn.deadline()
            if deadline is not None and deadline < earliest:
                earliest = deadline
            if entry.linger_until < earliest:
                earliest = entry.linger_until
        return earliest

    async def _on_timers(self, now: float) -> None:
        out: list[tuple[bytes, Address]] = []
        for entry in list(self.connections.values()):
            conn = entry.conn
            if now >= entry.linger_until:
                out.extend((d, entry.address) for d in conn.abort(now))
                self.connections.pop(entry.key, None)
                entry.notify()
                continue
            deadline = conn.deadline()
            if deadline is not None and deadline <= now:
                conn.on_timer(now)
                self._collect(entry, now, out)
            elif conn.done:
                self.connections.pop(entry.key, None)
        await self.shared.send(out)

    # -------------------------------------------------------------------- streams
    async def flush(self, entry: _Entry) -> None:
        out: list[tuple[bytes, Address]] = []
        self._collect(entry, trio.current_time(), out)
        await self.shared.send(out)

    async def close(self, entry: _Entry) -> None:
        entry.conn.close()
        entry.linger_until = trio.current_time() + LINGER
        await self.flush(entry)

    async def connect(self, host: str, port: int, timeout: float = CONNECT_TIMEOUT, *,
                      _registered=None) -> UtpStream:
        if ":" in host:
            raise OSError(f"uTP to {host}: IPv6 is not supported")
        address = (host, port)
        while True:
            recv_id = self.rng.randrange(1 << 16)
            if (address, recv_id) not in self.connections and (address, (recv_id + 1) & p.SEQ_MASK) not in self.connections:
                break
        now = trio.current_time()
        conn = UtpConnection.initiate(Ledbat(self.config.payload_size), recv_id, now, self.config)
        entry = _Entry(conn, address)
        self.connections[entry.key] = entry
        if _registered is not None:
            _registered(entry)
        try:
            await self.flush(entry)
            with trio.move_on_after(timeout):
                while conn.state == SYN_SENT and not entry.yielded:
                    await entry.wait()
        finally:
            if conn.state == SYN_SENT or conn.done:
                self.connections.pop(entry.key, None)
        if entry.yielded:
            raise OSError(f"uTP punch to {host}:{port}: the peer's SYN won")
        if not conn.connected:
            reason = conn.error or "timed out"
            await self.shared.send([(d, address) for d in conn.abort(trio.current_time())])
            raise OSError(f"uTP connection to {host}:{port}: {reason}")
        return UtpStream(self, entry)

    async def punch(self, host: str, port: int, timeout: float = CONNECT_TIMEOUT) -> UtpStream | None:
        """Open a connection to a peer that opens one to us at the same time (BEP 55). Returns
        our stream, or None when the peer's SYN won: that connection went to the listener."""
        address = (host, port)
        if address in self._punching or self._handler is None or not self.accepting:
            raise OSError(f"uTP punch to {host}:{port}: "
                          + ("under way" if address in self._punching else "not listening"))
        if any(e.address == address and e.conn.connected for e in self.connections.values()):
            await trio.lowlevel.checkpoint()
            return None  # its SYN came before we began: that connection went to the listener
        entry: _Entry | None = None

        def register(new: _Entry) -> None:
            nonlocal entry
            entry = new
            self._punching[address] = new

        try:
            return await self.connect(host, port, timeout, _registered=register)
        except OSError:
            if entry is not None and entry.yielded:
                return None
            raise
        finally:
            self._punching.pop(address, None)

    def listen(self, nursery: trio.Nursery, handler: ConnectionHandler) -> None:
        self._handler = (nursery, handler)

    def unlisten(self) -> None:
        self._handler = None


class UtpStream(trio.abc.Stream):
    """One uTP connection as a byte stream."""

    READ_SIZE = 256 * 1024
    transport = "utp"  # net/base.transport_of

    def __init__(self, endpoint: UtpEndpoint, entry: _Entry):
        self._endpoint = endpoint
        self._entry = entry
        self._closed = False
        self._sending = False
        self.address = entry.address

    @property
    def connection(self) -> UtpConnection:
        return self._entry.conn

    def _check(self) -> UtpConnection:
        if self._closed:
            raise trio.ClosedResourceError("stream closed")
        conn = self._entry.conn
        if conn.done and conn.state != CLOSED:
            raise trio.BrokenResourceError(f"uTP: {conn.error}")
        return conn

    async def send_all(self, data) -> None:
        if self._sending:
            raise trio.BusyResourceError("another task is sending on this stream")
        self._sending = True
        try:
            view = memoryview(data).cast("B") if not isinstance(data, bytes) else data
            waited = False
            while True:
                conn = self._check()
                if conn.fin_pending or conn.done:
                    raise trio.BrokenResourceError("uTP: the connection is closing")
                taken = conn.write(view)
                view = view[taken:]
                if taken:
                    await self._endpoint.flush(self._entry)
                    waited = True
                if not view:
                    break
                await self._entry.wait()
            if not waited:
                await trio.lowlevel.checkpoint()
        finally:
            self._sending = False

    async def wait_send_all_might_not_block(self) -> None:
        while not self._check().send_space() and not self._entry.conn.done:
            await self._entry.wait()
        await trio.lowlevel.checkpoint()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        while True:
            conn = self._check()
            if conn.inbox:
                data = conn.read(max_bytes or self.READ_SIZE)
                if conn.need_ack:  # the window opened: say so
                    await self._endpoint.flush(self._entry)
                else:
                    await trio.lowlevel.checkpoint()
                return data
            if conn.eof or conn.state == CLOSED:
                await trio.lowlevel.checkpoint()
                return b""
            await self._entry.wait()

    async def aclose(self) -> None:
        if self._closed:
            await trio.lowlevel.checkpoint()
            return
        self._closed = True
        self._entry.notify()
        with trio.CancelScope(shield=True):
            await self._endpoint.close(self._entry)


class UtpNetwork(Network):
    """The Network seam over uTP: ``serve`` listens on the endpoint's port (the shared socket's)."""

    def __init__(self, endpoint: UtpEndpoint, connect_timeout: float = CONNECT_TIMEOUT):
        self.endpoint = endpoint
        self.connect_timeout = connect_timeout

    async def connect(self, host: str, port: int) -> trio.abc.Stream:
        return await self.endpoint.connect(host, port, self.connect_timeout)

    async def serve(self, host: str, port: int, handler: ConnectionHandler, *,
                    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self.endpoint.listen(nursery, handler)
            try:
                task_status.started(self.endpoint.port)
                await trio.sleep_forever()
            finally:
                self.endpoint.unlisten()


@asynccontextmanager
async def open_utp(network: DatagramNetwork, host: str, port: int, *, rng: random.Random | None = None,
                   config: UtpConfig | None = None) -> AsyncIterator[UtpEndpoint]:
    """Bind the shared UDP socket and run uTP on it for the block (``endpoint.shared.dht`` is
    the DHT's side of the same socket)."""
    sock = await network.open_datagram(host, port)
    async with trio.open_nursery() as nursery:
        shared = SharedUdp(sock)
        endpoint = UtpEndpoint(shared, rng=rng, config=config)
        await nursery.start(shared.run)
        await nursery.start(endpoint.run)
        try:
            yield endpoint
        finally:
            nursery.cancel_scope.cancel()
