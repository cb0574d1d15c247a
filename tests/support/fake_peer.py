"""A scripted peer that speaks raw bytes, for testing the engine against hostile peers.

In the spirit of libtorrent's simulation/fake_peer.hpp: a `FakePeer` owns one real TCP connection
on 127.0.0.1 to (or from) a torrentish client and lets a test send anything at all - well-formed
messages through torrentish.wire's encoders, or arbitrary bytes - while a reader task parses what
the engine sends back (with a PeerCodec, so a malformed message *from the engine* is recorded in
`engine_error` and fails the test) and records it in `received`.

What the peer does on its own is a `Responder`: an async callback run in the reader task for each
message, in order. `seeder(sample)` is an honest seed (unchoke on interest, answer requests),
`seeder(sample, corrupt=...)` a lying one, `seeder(sample, answer=False)` one that unchokes and
then never sends a block.

Also here, because every engine test needs them: `SampleTorrent` (a small torrent made with
torrentish.app.create in a tmp dir, with its bytes at hand), storages for it, and `EventLog`, which
records a client's events so a test can wait for one.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import trio
from trio.testing import MockClock

from torrentish.app.create import create_torrent
from torrentish import events as ev
from torrentish.errors import ProtocolError
from torrentish.formats.metainfo import Info, parse_torrent
from torrentish.storage.memory import MemoryStorage
from torrentish.wire import codec as wire
from torrentish.wire import messages as msg
from torrentish.wire.codec import PeerCodec
from torrentish.wire.mse import looks_plaintext

LOCALHOST = "127.0.0.1"
KiB = 1024
MiB = 1024 * KiB
PIECE_LENGTH = 32 * KiB
BLOCK = 16 * KiB
FAST_EXTENSIONS = msg.make_reserved(extensions=True, fast=True)
NO_EXTENSIONS = bytes(8)
WAIT = 10.0  # default seconds a wait may take before the test fails
# Mock time jumps once trio has been idle this long in real time. Not 0 (pytest-trio's
# autojump_clock): the engine hashes in worker threads, during which every task is blocked, and
# with 0 the clock would race ahead (firing snub and handshake timeouts) while a piece is hashed.
AUTOJUMP_THRESHOLD = 0.01


def mock_clock() -> MockClock:
    """The clock for engine tests that need time to pass (pass it as a pytest fixture)."""
    return MockClock(autojump_threshold=AUTOJUMP_THRESHOLD)


# ----------------------------------------------------------------------------- test torrents


@dataclass(frozen=True)
class SampleTorrent:
    """A torrent made by torrentish.app.create from random files, with the bytes it describes."""

    info: Info
    data: bytes  # the torrent's whole byte stream (all files end to end)
    torrent_path: Path
    content_path: Path  # the file (single-file) or the directory (multi-file)

    @property
    def info_hash(self) -> bytes:
        return self.info.info_hash

    def piece(self, index: int) -> bytes:
        geometry = self.info.geometry()
        start = geometry.piece_offset(index)
        return self.data[start : start + geometry.piece_size(index)]

    def seed_storage(self) -> MemoryStorage:
        return MemoryStorage.filled(self.info.geometry(), self.data)

    def empty_storage(self) -> MemoryStorage:
        return MemoryStorage(self.info.geometry())


def make_sample(
    directory: Path,
    size: int = 1 * MiB + 12_345,
    *,
    files: Sequence[int] | None = None,
    name: str = "sample",
    seed: int = 1,
    piece_length: int = PIECE_LENGTH,
    version: str = "v1",
) -> SampleTorrent:
    """A single file of `size` random bytes, or (with `files`) a directory of files of those sizes.

    The default size leaves a short last piece and a short last block. ``version`` "v2" or "hybrid"
    (BEP 52) for a single file keeps ``data`` the byte stream (a multi-file one gets pad files).
    """
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    if files is None:
        content = directory / f"{name}.bin"
        data = rng.randbytes(size)
        content.write_bytes(data)
    else:
        content = directory / name
        content.mkdir()
        chunks = []
        for i, length in enumerate(files):  # names sort in creation order: f00, f01, ...
            chunk = rng.randbytes(length)
            (content / f"f{i:02d}.bin").write_bytes(chunk)
            chunks.append(chunk)
        data = b"".join(chunks)
    torrent_bytes = create_torrent(content, piece_length=piece_length, creation_date=None, version=version)
    torrent_path = directory / f"{name}.torrent"
    torrent_path.write_bytes(torrent_bytes)
    return SampleTorrent(parse_torrent(torrent_bytes).info, data, torrent_path, content)


async def storage_bytes(storage: MemoryStorage, info: Info) -> bytes:
    return await storage.read(0, info.total_length)


def flip(block: bytes) -> bytes:
    """The same block with its first byte changed: a hash failure for its piece."""
    return bytes([block[0] ^ 0xFF]) + block[1:]


# ------------------------------------------------------------------------------- the peer

Responder = Callable[["FakePeer", msg.Message], Awaitable[None]]


class FakePeer:
    """One raw connection to a torrentish client; see the module docstring."""

    def __init__(
        self,
        stream: trio.abc.Stream,
        sample: SampleTorrent,
        *,
        peer_id: bytes | None = None,
        reserved: bytes = FAST_EXTENSIONS,
        responder: Responder | None = None,
        initial: bytes = b"",
        local_port: int | None = None,
        host: str = LOCALHOST,
    ):
        self.stream = stream
        self._initial = initial  # bytes the listener read before this peer took over
        self.sample = sample
        self.peer_id = peer_id or b"-FP0001-" + random.Random().randbytes(12)
        self.reserved = reserved
        self.responder = responder
        # Our end's port: what the engine sees as this peer's address when we dialed it (a
        # simulated stream has no socket: tests/support/sim_peers.py passes it).
        self.local_port: int = local_port if local_port is not None else stream.socket.getsockname()[1]
        self.host = host
        self.codec = PeerCodec(reserved)
        info = sample.info
        self.codec.set_geometry(info.num_pieces, info.piece_length, info.total_length, tail_padded=info.has_v2)
        self.handshake: msg.Handshake | None = None  # the engine's
        self.received: list[msg.Message] = []
        self.bytes_in = 0
        self.bytes_out = 0
        self.engine_error: ProtocolError | None = None
        self.closed = trio.Event()  # the engine closed (or reset) the connection
        self._changed = trio.Event()
        self._send_lock = trio.Lock()

    # -- sending ------------------------------------------------------------------------------

    async def send_raw(self, data: bytes) -> None:
        async with self._send_lock:
            await self.stream.send_all(data)
        self.bytes_out += len(data)

    async def send(self, *messages: msg.Message) -> None:
        await self.send_raw(b"".join(wire.encode(m) for m in messages))

    async def send_handshake(self, info_hash: bytes | None = None) -> None:
        await self.send_raw(
            wire.encode_handshake(self.reserved, info_hash or self.sample.info_hash, self.peer_id)
        )

    async def greet_as_seed(self) -> None:
        """Announce every piece, as a seed does (HAVE ALL with the Fast extension)."""
        if self.codec.fast:
            await self.send(msg.HaveAll())
        else:
            await self.send(msg.BitfieldMsg(_full_bitfield(self.sample.info.num_pieces)))

    async def try_send(self, data: bytes) -> bool:
        """Send if the connection is still open; False once the engine has hung up."""
        try:
            await self.send_raw(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return False
        return True

    # -- receiving ----------------------------------------------------------------------------

    async def run(self) -> None:
        """The reader: parse the engine's bytes, record them, let the responder act."""
        try:
            while True:
                data, self._initial = self._initial or await self.stream.receive_some(1 << 20), b""
                if not data:
                    break
                self.bytes_in += len(data)
                self.codec.receive_data(data)
                for m in self.codec.events():
                    if isinstance(m, msg.Handshake):
                        self.handshake = m
                    else:
                        self.received.append(m)
                    self._notify()
                    if self.responder is not None and not isinstance(m, msg.Handshake):
                        await self.responder(self, m)
        except ProtocolError as exc:
            self.engine_error = exc
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            self.closed.set()
            self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    def of(self, kind: type) -> list:
        return [m for m in self.received if isinstance(m, kind)]

    async def wait_until(self, predicate: Callable[[], object], what: str, timeout: float = WAIT):
        with trio.move_on_after(timeout):
            while not (result := predicate()):
                if self.closed.is_set():
                    raise AssertionError(f"connection closed while waiting for {what}")
                await self._changed.wait()
            return result
        raise AssertionError(f"timed out waiting for {what}; got {self.received[-5:]}")

    async def wait_for(self, kind: type, where: Callable[[msg.Message], bool] = lambda m: True,
                       timeout: float = WAIT):
        """The first received message of `kind` that satisfies `where` (waits for it)."""
        return await self.wait_until(
            lambda: next((m for m in self.of(kind) if where(m)), None), kind.__name__, timeout
        )

    async def wait_handshake(self, timeout: float = WAIT) -> msg.Handshake:
        return await self.wait_until(lambda: self.handshake, "the engine's handshake", timeout)

    async def wait_closed(self, timeout: float = WAIT) -> None:
        """Wait until the engine hangs up; fail if it does not within `timeout`."""
        with trio.move_on_after(timeout):
            await self.closed.wait()
            return
        raise AssertionError(f"the engine kept the connection open for {timeout}s")

    async def aclose(self) -> None:
        with trio.CancelScope(shield=True):
            await trio.aclose_forcefully(self.stream)


def _full_bitfield(num_pieces: int) -> bytes:
    data = bytearray(b"\xff" * ((num_pieces + 7) // 8))
    if num_pieces % 8:
        data[-1] = (0xFF << (8 - num_pieces % 8)) & 0xFF
    return bytes(data)


def seeder(sample: SampleTorrent, *, corrupt: Callable[[int], bool] = lambda index: False,
           answer: bool = True) -> Responder:
    """Unchoke on interest; answer requests (with a flipped byte for pieces where `corrupt`)."""

    async def respond(peer: FakePeer, m: msg.Message) -> None:
        if isinstance(m, msg.Interested):
            await peer.try_send(wire.encode(msg.Unchoke()))
        elif isinstance(m, msg.Request) and answer:
            start = sample.info.piece_length * m.index + m.begin
            block = sample.data[start : start + m.length]
            if corrupt(m.index):
                block = flip(block)
            await peer.try_send(wire.encode(msg.Piece(m.index, m.begin, block)))

    return respond


@asynccontextmanager
async def open_fake_peer(port: int, sample: SampleTorrent, *, handshake: bool = True,
                         **kwargs) -> AsyncIterator[FakePeer]:
    """Dial a torrentish client on 127.0.0.1:`port`; with `handshake`, send ours and await theirs."""
    stream = await trio.open_tcp_stream(LOCALHOST, port)
    async with running(FakePeer(stream, sample, **kwargs), handshake=handshake) as peer:
        yield peer


@asynccontextmanager
async def running(peer: FakePeer, *, handshake: bool) -> AsyncIterator[FakePeer]:
    """Run the peer's reader while the block lasts; with `handshake`, exchange handshakes first."""
    async with trio.open_nursery() as nursery:
        nursery.start_soon(peer.run)
        if handshake:
            await peer.send_handshake()
            await peer.wait_handshake()
        try:
            yield peer
        finally:
            # Close before cancelling: an await in a cancelled scope would raise Cancelled,
            # which would replace (and so hide) an exception from the test's body.
            await peer.aclose()
            nursery.cancel_scope.cancel()


class FakeListener:
    """Accepts the connections a torrentish client dials; each becomes a FakePeer.

    `on_connect(peer)` scripts each connection (it runs after the reader has started); the
    default answers the engine's handshake and announces itself as a seed. Like a client without
    encryption, it hangs up on a connection that starts with an MSE key (counted in
    `refused_encrypted`, not in `peers`), so the engine dials again in plaintext.
    """

    def __init__(self, sample: SampleTorrent, on_connect: Callable[[FakePeer], Awaitable[None]],
                 **peer_kwargs):
        self.sample = sample
        self.on_connect = on_connect
        self.peer_kwargs = peer_kwargs
        self.port = 0
        self.peers: list[FakePeer] = []
        self.refused_encrypted = 0
        self.accepted = trio.Event()  # set on every accept, then replaced

    async def _handle(self, stream: trio.abc.Stream, address: object = None) -> None:
        # (`address`: where a simulated network says the engine dialed from; unused.)
        first = b""
        while (plaintext := looks_plaintext(first)) is None:
            data = await stream.receive_some(1 << 16)
            if not data:
                break
            first += data
        if not plaintext:
            self.refused_encrypted += int(plaintext is False)
            await trio.aclose_forcefully(stream)
            return
        peer = FakePeer(stream, self.sample, initial=first, local_port=self.port, **self.peer_kwargs)
        self.peers.append(peer)
        self.accepted.set()
        self.accepted = trio.Event()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(peer.run)
            try:
                await self.on_connect(peer)
                await peer.closed.wait()
            finally:
                await peer.aclose()  # before cancelling: see open_fake_peer
                nursery.cancel_scope.cancel()

    async def wait_peer(self, count: int = 1, timeout: float = WAIT) -> FakePeer:
        """The `count`-th connection (1-based), once the engine has made it."""
        with trio.fail_after(timeout):
            while len(self.peers) < count:
                await self.accepted.wait()
        return self.peers[count - 1]


async def answer_as_seed(peer: FakePeer) -> None:
    await peer.wait_handshake()
    await peer.send_handshake()
    await peer.greet_as_seed()


@asynccontextmanager
async def open_fake_listener(sample: SampleTorrent,
                             on_connect: Callable[[FakePeer], Awaitable[None]] = answer_as_seed,
                             **peer_kwargs) -> AsyncIterator[FakeListener]:
    listener = FakeListener(sample, on_connect, **peer_kwargs)
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, listener._handle, 0, host=LOCALHOST))
        listener.port = listeners[0].socket.getsockname()[1]
        try:
            yield listener
        finally:
            nursery.cancel_scope.cancel()


# ----------------------------------------------------------------------------- engine events


class EventLog:
    """Every event a client publishes, recorded from the moment of construction.

    Create it before `add_torrent` and run `collect` in a nursery; then `wait_for` an event.
    """

    def __init__(self, client):
        self._channel = client.events.subscribe()
        self.events: list[ev.Event] = []
        self._changed = trio.Event()

    async def collect(self) -> None:
        async for event in self._channel:
            self.events.append(event)
            self._changed.set()
            self._changed = trio.Event()

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]

    async def wait_for(self, kind: type, where: Callable[[ev.Event], bool] = lambda e: True,
                       timeout: float = WAIT):
        with trio.move_on_after(timeout):
            while True:
                found = next((e for e in self.of(kind) if where(e)), None)
                if found is not None:
                    return found
                await self._changed.wait()
        raise AssertionError(
            f"no {kind.__name__} event within {timeout}s; events: {self.events[-8:]}"
        )


def disconnect_reason(log: EventLog, where: int | tuple[str, int]) -> str | None:
    """Why the engine dropped the peer at `where`, an address or just its port (None if it did
    not). On the simulated network every node has the same ports: give the address there."""
    for event in log.of(ev.PeerDisconnected):
        if event.address == where or event.address[1] == where:
            return event.reason
    return None
