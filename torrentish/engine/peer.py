"""One connection to one peer, after the handshake.

A `PeerConnection` owns its stream and runs two tasks: a reader that feeds bytes to the codec and
hands every event to the torrent synchronously (no awaits between an event and its effects, so
the torrent's bookkeeping never sees a half-applied change), and a writer that drains an outbox
of control messages and the peer's queue of block requests. The writer batches many blocks into
one `send_all`, which is what keeps the per-block Python cost low. Its timers (idle, keepalive)
are run by the torrent's once-a-second upkeep (`upkeep`), not by a task of its own.

The protocol state of the link (who chokes whom, who wants what, what the peer has, what it asked
of us) is a pure `PeerState` (torrentish.core.peer_state) that this object drives: the torrent's
handlers feed it what the peer sent, and every message we send goes through one of the `send_*`
methods below, which asks the state first, so a message that would break the protocol is refused
(LocalProtocolError) instead of sent. That error is a bug of ours, and like any other it is not
caught here: it must fail loudly, not pass for a peer's fault. Our outstanding requests are the
picker's alone.

Why the connection ended is recorded in `close_reason`; errors from the peer never propagate past
this object.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

import trio

from torrentish.core.peer_state import PeerState
from torrentish.core.pipeline import RequestPipeline
from torrentish.core.rates import RateMeter
from torrentish.errors import ProtocolError, StorageError
from torrentish.net.base import send_buffers
from torrentish.net.encrypted import EncryptedStream
from torrentish.wire import codec as wire
from torrentish.wire import messages as msg
from torrentish.wire.codec import PeerCodec

if TYPE_CHECKING:
    from torrentish.engine.torrent import Torrent

RECEIVE_SIZE = 1024 * 1024
SEND_BATCH = 1024 * 1024  # bytes gathered for one send
SEND_BUFFERS = 512  # buffers in one send (Linux takes at most 1024 per sendmsg)

CHOKE = wire.encode(msg.Choke())
UNCHOKE = wire.encode(msg.Unchoke())
INTERESTED = wire.encode(msg.Interested())
NOT_INTERESTED = wire.encode(msg.NotInterested())
HAVE_ALL = wire.encode(msg.HaveAll())
HAVE_NONE = wire.encode(msg.HaveNone())
KEEPALIVE = wire.encode_keepalive()


class PeerClosed(Exception):
    """The connection is over; the message says why."""


# What ends one connection without disturbing anything else.
_PEER_FAULTS = (
    PeerClosed,
    ProtocolError,
    StorageError,
    trio.BrokenResourceError,
    trio.ClosedResourceError,
    OSError,
)


def _first_leaf(group: BaseException) -> BaseException:
    while isinstance(group, BaseExceptionGroup):
        group = group.exceptions[0]
    return group


def _describe(exc: BaseException) -> str:
    if isinstance(exc, PeerClosed):
        return str(exc)
    if isinstance(exc, ProtocolError):
        return f"protocol error: {exc}"
    if isinstance(exc, StorageError):
        return f"storage error: {exc}"
    return f"connection lost: {exc or type(exc).__name__}"


class PeerConnection:
    def __init__(
        self,
        torrent: Torrent,
        stream: trio.abc.Stream,
        codec: PeerCodec,
        address: tuple[str, int],
        peer_id: bytes,
        outgoing: bool,
        now: float,
    ):
        self.torrent = torrent
        self.stream = stream
        self.codec = codec
        codec.block_views = True  # see _reader
        self.address = address
        self.peer_id = peer_id
        self.outgoing = outgoing
        self.connected_at = now
        self.last_received = now
        self.last_sent = now

        # What we and the peer have told each other (checked before anything goes out), and how
        # many requests to keep in flight to it. Our outstanding requests are the picker's.
        self.state = PeerState(torrent.have, fast=codec.fast, queue_limit=torrent.settings.max_queued_requests)
        self.pipeline = RequestPipeline(torrent.pipeline_limits, now)
        self.client_version: str | None = None
        self.listen_port: int | None = None  # from the extended handshake 'p'
        self.extension_ids: dict[str, int] = {}  # BEP 10 names -> the ids the peer chose
        self.ban_key: object = address[0]  # what a ban applies to (set by the torrent)
        self.refused_requests = 0  # requests refused since the last one accepted (floods)

        self.down = RateMeter()
        self.up = RateMeter()
        self.downloaded = 0
        self.uploaded = 0
        self.uploaded_at_unchoke = 0  # self.uploaded when we last unchoked it (the seed's round robin)

        self.close_reason: str | None = None
        self.finished = trio.Event()  # set once the torrent has forgotten this connection
        self._outbox = bytearray()
        self._wake = trio.Event()
        self._cancel_scope: trio.CancelScope | None = None

    # ----------------------------------------------------------------------------- sending
    def send(self, data: bytes) -> None:
        """Queue encoded bytes for the writer."""
        self._outbox += data
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    @property
    def is_seed(self) -> bool:
        return self.state.is_seed

    # ------------------------------------------- messages out, each checked by the peer's state
    def send_choke(self) -> None:
        dropped = self.state.send_choke()
        out = bytearray(CHOKE)
        if self.state.fast:  # BEP 6: every queued request is answered, after the CHOKE
            for index, begin, length in dropped:
                out += wire.encode(msg.Reject(index, begin, length))
        self.send(out)

    def send_unchoke(self, now: float) -> None:
        self.state.send_unchoke(now)
        self.uploaded_at_unchoke = self.uploaded
        self.send(UNCHOKE)

    def send_interested(self) -> None:
        self.state.send_interested()
        self.send(INTERESTED)

    def send_not_interested(self) -> None:
        self.state.send_not_interested()
        self.send(NOT_INTERESTED)

    def send_have(self, index: int) -> None:
        self.state.send_have(index)
        self.send(wire.encode_have(index))

    def send_haves(self, indices: list[int]) -> None:
        """Several HAVEs in one write (engine/have_batch.py)."""
        state, encode = self.state, wire.encode_have
        out = bytearray()
        for index in indices:
            state.send_have(index)
            out += encode(index)
        self.send(out)

    def send_bitfield(self) -> None:
        self.send(wire.encode(msg.BitfieldMsg(self.state.send_bitfield())))

    def send_have_all(self) -> None:
        self.state.send_have_all()
        self.send(HAVE_ALL)

    def send_have_none(self) -> None:
        self.state.send_have_none()
        self.send(HAVE_NONE)

    def send_requests(self, blocks: list, outstanding: int) -> None:
        """Ask for `blocks`, with `outstanding` of our requests (these included) in flight."""
        self.state.send_requests(blocks, outstanding)
        out = bytearray()
        request = wire.encode_request
        for index, begin, length in blocks:
            out += request(index, begin, length)
        self.send(out)

    def send_cancel(self, index: int, begin: int, length: int) -> None:
        self.send(wire.encode(msg.Cancel(index, begin, length)))

    def send_reject(self, index: int, begin: int, length: int) -> None:
        self.state.send_reject()
        self.send(wire.encode(msg.Reject(index, begin, length)))

    def close(self, reason: str) -> None:
        """End the connection from inside the engine (ban, duplicate, both seeds, ...)."""
        if self.close_reason is None:
            self.close_reason = reason
        if self._cancel_scope is not None:
            self._cancel_scope.cancel()

    # ------------------------------------------------------------------------------ tasks
    async def run(self, initial_events: list) -> None:
        """Serve the connection until it ends. Never raises for peer or network faults."""
        try:
            with trio.CancelScope() as scope:
                self._cancel_scope = scope
                try:
                    async with trio.open_nursery() as nursery:
                        nursery.start_soon(self._writer)
                        self._handle(initial_events, trio.current_time())
                        await self._reader()
                except* _PEER_FAULTS as group:
                    self.close_reason = self.close_reason or _describe(_first_leaf(group))
        finally:
            # Also when the torrent's own fault (a storage error) ends us: a uTP connection is
            # not closed by the garbage collector as a socket is, it would live on with the peer.
            if self.close_reason is None:
                self.close_reason = "stopped"
            with trio.CancelScope(shield=True):
                with trio.move_on_after(1):
                    await self.stream.aclose()

    async def _reader(self) -> None:
        torrent, codec, stream = self.torrent, self.codec, self.stream
        # TCP reads straight into the codec's buffer, and so does an encrypted stream (which
        # decrypts into it); other streams (the simulator) hand over chunks the codec parses
        # where they are.
        if type(stream) is trio.SocketStream:
            receive_into = stream.socket.recv_into
        else:
            receive_into = stream.receive_into if type(stream) is EncryptedStream else None
        while True:
            size = torrent.read_size(RECEIVE_SIZE)
            if receive_into is not None:
                with codec.receive_buffer(size) as buffer:
                    n = await receive_into(buffer)
                codec.received(n)
            else:
                data = await stream.receive_some(size)
                n = len(data)
                codec.receive_data(data)
            if not n:
                raise PeerClosed("closed by peer")
            now = trio.current_time()
            self.last_received = now
            # Blocks of PIECE events are views into the codec's buffer: every handler has
            # copied what it keeps before the next read overwrites it.
            got = self._handle(codec.events(), now)
            if got:  # payload rates, counted once per chunk
                self.down.add(got, now)
                torrent.down.add(got, now)
            delay = torrent.download_delay(n, now)
            if delay > 0:
                await trio.sleep(delay)

    def _handle(self, events: list, now: float) -> int:
        """Hand the events to the torrent, then top up our requests; returns the payload bytes."""
        before = self.downloaded
        if events:
            handler_for = self.torrent.handlers.get  # Torrent.on_message, inlined: per block
            for event in events:
                handler = handler_for(type(event))
                if handler is not None:
                    handler(self, event)
        got = self.downloaded - before
        if got:
            self.pipeline.blocks_arrived(now)  # once per read, not per block
        if self.close_reason is not None:
            raise PeerClosed(self.close_reason)
        self.torrent.fill_requests(self)
        return got

    async def _writer(self) -> None:
        torrent, stream, state = self.torrent, self.stream, self.state
        queue = state.requested
        read_cache = torrent.uploads.read_cache
        header = wire.encode_piece_header
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            while self._outbox or (queue and not state.am_choking):
                # One send of many buffers: control messages, then block headers each followed
                # by a view of the cached piece (the kernel copies the blocks straight from it).
                buffers: list = []
                size = payload = 0
                if self._outbox:
                    buffers.append(self._outbox)
                    size = len(self._outbox)
                    self._outbox = bytearray()
                while queue and not state.am_choking and size < SEND_BATCH and len(buffers) < SEND_BUFFERS:
                    index, begin, length = queue.popleft()
                    piece = read_cache.get_now(index)
                    if piece is None:  # not cached, and not in the page cache: a thread reads it
                        piece = await read_cache.get(index)
                    buffers.append(header(index, begin, length))
                    block = memoryview(piece)[begin : begin + length]
                    buffers.append(block)
                    if len(block) < length:  # the tail padding of a v2 torrent's last piece (codec.py)
                        buffers.append(bytes(length - len(block)))
                    size += 13 + length
                    payload += length
                if payload:
                    self.uploaded += payload
                    torrent.uploads.on_block_sent(self, payload)  # rates counted once per batch
                delay = torrent.uploads.delay(size, trio.current_time())
                if delay > 0:
                    await trio.sleep(delay)
                await send_buffers(stream, buffers)
                self.last_sent = trio.current_time()

    def upkeep(self, now: float) -> None:
        """Drop a peer that has gone silent, keep a quiet link alive: called by the torrent's
        once-a-second upkeep, which walks its peers anyway (Torrent._tick_loop), rather than by
        a timer task of each connection's own (in a large swarm a third of all tasks)."""
        settings = self.torrent.settings
        if now - self.last_received > settings.idle_timeout:
            self.close("idle: nothing received for too long")
        elif now - self.last_sent > settings.keepalive_interval:
            self.send(KEEPALIVE)
