"""One connection to one peer, after the handshake.

A `PeerConnection` owns its stream and runs two tasks: a reader that feeds bytes to the codec and
hands every event to the torrent synchronously (no awaits between an event and its effects, so
the torrent's bookkeeping never sees a half-applied change), and a writer that drains an outbox
of control messages and the peer's queue of block requests. The writer batches many blocks into
one `send_all`, which is what keeps the per-block Python cost low.

Why the connection ended is recorded in `close_reason`; errors from the peer never propagate past
this object.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

import trio

from torrentish.core.bitfield import Bitfield
from torrentish.core.rates import RateMeter
from torrentish.errors import ProtocolError, StorageError
from torrentish.wire import codec as wire
from torrentish.wire.codec import PeerCodec

if TYPE_CHECKING:
    from torrentish.engine.torrent import Torrent

RECEIVE_SIZE = 1024 * 1024
SEND_BATCH = 1024 * 1024  # bytes gathered before one send_all


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
        self.address = address
        self.peer_id = peer_id
        self.outgoing = outgoing
        self.connected_at = now
        self.last_received = now
        self.last_sent = now
        self.last_block = now

        self.bitfield = Bitfield(torrent.num_pieces)
        self.is_seed = False
        self.am_choking = True
        self.am_interested = False
        self.peer_choking = True
        self.peer_interested = False
        self.snubbed = False
        self.allowed_fast: set[int] = set()
        self.max_requests = 250  # the peer's reqq, from its extended handshake
        self.client_version: str | None = None
        self.listen_port: int | None = None  # from the extended handshake 'p'
        self.extension_ids: dict[str, int] = {}  # BEP 10 names -> the ids the peer chose
        self.ban_key: object = address[0]  # what a ban applies to (set by the torrent)

        # Blocks we asked for: (index, begin) -> length. Insertion-ordered, oldest first.
        self.outstanding: dict[tuple[int, int], int] = {}
        # Blocks the peer asked of us, in order.
        self.upload_queue: deque[tuple[int, int, int]] = deque()
        self.refused_requests = 0  # requests refused since the last one accepted (floods)

        self.down = RateMeter()
        self.up = RateMeter()
        self.downloaded = 0
        self.uploaded = 0

        self.close_reason: str | None = None
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

    def close(self, reason: str) -> None:
        """End the connection from inside the engine (ban, duplicate, both seeds, ...)."""
        if self.close_reason is None:
            self.close_reason = reason
        if self._cancel_scope is not None:
            self._cancel_scope.cancel()

    # ------------------------------------------------------------------------------ tasks
    async def run(self, initial_events: list) -> None:
        """Serve the connection until it ends. Never raises for peer or network faults."""
        with trio.CancelScope() as scope:
            self._cancel_scope = scope
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._writer)
                    nursery.start_soon(self._keepalive)
                    self._handle(initial_events)
                    await self._reader()
            except* _PEER_FAULTS as group:
                self.close_reason = self.close_reason or _describe(_first_leaf(group))
        if self.close_reason is None:
            self.close_reason = "stopped"
        with trio.CancelScope(shield=True):
            with trio.move_on_after(1):
                await self.stream.aclose()

    async def _reader(self) -> None:
        torrent = self.torrent
        while True:
            data = await self.stream.receive_some(RECEIVE_SIZE)
            if not data:
                raise PeerClosed("closed by peer")
            now = trio.current_time()
            self.last_received = now
            self.codec.receive_data(data)
            before = self.downloaded
            self._handle(self.codec.events())
            if self.downloaded != before:  # payload rates, counted once per chunk
                self.down.add(self.downloaded - before, now)
                torrent.down.add(self.downloaded - before, now)
            delay = torrent.download_delay(len(data), now)
            if delay > 0:
                await trio.sleep(delay)

    def _handle(self, events: list) -> None:
        if events:
            torrent = self.torrent
            for event in events:
                torrent.on_message(self, event)
        if self.close_reason is not None:
            raise PeerClosed(self.close_reason)
        self.torrent.fill_requests(self)

    async def _writer(self) -> None:
        torrent = self.torrent
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            while self._outbox or (self.upload_queue and not self.am_choking):
                batch = self._outbox
                self._outbox = bytearray()
                payload = 0
                uploads = torrent.uploads
                while self.upload_queue and not self.am_choking and len(batch) < SEND_BATCH:
                    index, begin, length = self.upload_queue.popleft()
                    # A cached piece is sliced without a coroutine; a miss reads the whole piece.
                    piece = uploads.read_cache.peek(index)
                    if piece is None:
                        piece = await uploads.read_cache.get(index)
                    batch += wire.encode_piece_header(index, begin, length)
                    batch += memoryview(piece)[begin : begin + length]
                    payload += length
                if payload:
                    self.uploaded += payload
                    uploads.on_block_sent(self, payload)  # rates counted once per batch
                now = trio.current_time()
                delay = torrent.uploads.delay(len(batch), now)
                if delay > 0:
                    await trio.sleep(delay)
                await self.stream.send_all(batch)
                self.last_sent = trio.current_time()

    async def _keepalive(self) -> None:
        settings = self.torrent.settings
        while True:
            await trio.sleep(settings.keepalive_interval / 4)
            now = trio.current_time()
            if now - self.last_received > settings.idle_timeout:
                self.close("idle: nothing received for too long")
            if now - self.last_sent > settings.keepalive_interval:
                self.send(wire.encode_keepalive())
            self.torrent.check_requests(self, now)
            if self.close_reason is not None:
                raise PeerClosed(self.close_reason)
