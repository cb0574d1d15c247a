"""Getting a magnet link's info dictionary from peers (BEP 9) before any Torrent exists.

    info = await resolve_magnet(magnet, client=client, peer_sources=[dht_peer_source(node)])

Peers come from the link's ``x.pe`` addresses and from *peer sources*: async callables
``source(info_hash, found)`` that run until cancelled and call ``found(addresses)`` whenever they
learn some (the DHT, trackers, local discovery). Up to ``concurrency`` peers are dialed at once,
each through ``client.dial`` (our peer id, the client's encryption policy); each one that offers
ut_metadata is asked for every 16 KiB piece, and the first complete copy that hashes to the info
hash wins (``metainfo.parse_info(raw, info_hash)``). PEX messages received meanwhile add candidates.
A v2-only torrent (BEP 52) also needs the piece layers of its files larger than a piece: the same
peer is asked for them with hash requests, and every answer must prove out against the file's
pieces root (core/layer_fetch.py); a peer whose hashes do not is not asked again.

Limits: an announced ``metadata_size`` above ``max_size`` is refused; a peer gets at most
``request_timeout`` for each step forward (keep-alives do not count); a peer that lies (pieces that do not hash to the info hash), lacks the
extension, or is ourselves is not asked again; others are retried with a growing delay, at most
``max_attempts`` times. Without peer sources, running out of candidates is an error at once; with
them the fetch waits for more, bounded by ``timeout`` if one is given.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace

import trio

from torrentish.core.layer_fetch import LayerFetch
from torrentish.engine.handshake import HandshakeError
from torrentish.errors import MetainfoError, ProtocolError, TorrentishError
from torrentish.services.extensions import ut_metadata as um
from torrentish.services.extensions.ut_pex import UtPex, decode_pex
from torrentish.formats.magnet import Magnet
from torrentish.formats.metainfo import Info
from torrentish.wire import codec as wire
from torrentish.wire import messages as msg
from torrentish.wire.extension import UT_METADATA, UT_PEX, decode_extended_handshake, encode_extended_handshake

__all__ = ["PeerSource", "MetadataUnavailable", "FetchedMetadata", "fetch_metadata", "resolve_magnet"]

Address = tuple[str, int]
PeerSource = Callable[[bytes, Callable[[Iterable[Address]], None]], Awaitable[None]]

OUR_IDS = {UT_METADATA: 1, UT_PEX: 2}  # the ids we receive these under on a metadata connection
PIPELINE = 8  # metadata pieces requested at once from one peer
MAX_CANDIDATES = 2000


class MetadataUnavailable(TorrentishError):
    """No peer could send the info dictionary (none known, none willing, or too slow)."""


class _Unusable(Exception):
    """This peer cannot give us the metadata; ``permanent``: do not ask it again."""

    def __init__(self, reason: str, permanent: bool = True):
        super().__init__(reason)
        self.permanent = permanent


@dataclass(frozen=True)
class FetchedMetadata:
    info: Info
    source: Address  # the peer whose copy was verified
    peers: tuple[Address, ...]  # every candidate learned, the source first: for the torrent to dial


@dataclass
class _Candidate:
    failures: int = 0
    next_attempt: float = 0.0
    busy: bool = False
    dead: bool = False
    refuses_encryption: bool = False  # took plaintext after refusing MSE (engine/dialing.py)


class _Fetch:
    def __init__(self, info_hash: bytes, client, *, max_size: int, request_timeout: float, max_attempts: int):
        self.info_hash = info_hash
        self.client = client
        self.max_size = max_size
        self.request_timeout = request_timeout
        self.max_attempts = max_attempts
        self.candidates: dict[Address, _Candidate] = {}
        self.reasons: dict[Address, str] = {}
        self.result: FetchedMetadata | None = None
        self.wake = trio.Event()

    def found(self, addresses: Iterable[Address]) -> None:
        """Peer sources report here (synchronously, from any task)."""
        for host, port in addresses:
            address = (str(host), int(port))
            if address not in self.candidates and len(self.candidates) < MAX_CANDIDATES and 0 < address[1] < 65536:
                self.candidates[address] = _Candidate()
                self.wake.set()

    def _ready(self, now: float) -> list[Address]:
        return [a for a, c in self.candidates.items() if not (c.busy or c.dead) and c.next_attempt <= now]

    def exhausted(self) -> bool:
        return all(c.dead for c in self.candidates.values())

    async def run(self, concurrency: int, sources: Sequence[PeerSource]) -> FetchedMetadata:
        async with trio.open_nursery() as nursery:
            for source in sources:
                nursery.start_soon(source, self.info_hash, self.found)
            while self.result is None:
                now = trio.current_time()
                busy = sum(1 for c in self.candidates.values() if c.busy)
                for address in self._ready(now)[: max(0, concurrency - busy)]:
                    self.candidates[address].busy = True
                    nursery.start_soon(self._attempt, address)
                    busy += 1
                if not busy and not sources and self.exhausted():
                    break
                pending = [c.next_attempt for c in self.candidates.values() if not (c.busy or c.dead)]
                self.wake = trio.Event()
                with trio.move_on_after(max(0.0, min(pending) - now) if pending else float("inf")):
                    await self.wake.wait()
            nursery.cancel_scope.cancel()
        if self.result is None:
            raise MetadataUnavailable(self._explain())
        return self.result

    def _explain(self) -> str:
        if not self.candidates:
            return "no peers to ask for the metadata (give the link x.pe peers, or enable the DHT)"
        reasons = "; ".join(f"{h}:{p}: {r}" for (h, p), r in list(self.reasons.items())[-3:])
        return f"none of {len(self.candidates)} peers sent the metadata ({reasons})"

    async def _attempt(self, address: Address) -> None:
        candidate = self.candidates[address]
        try:
            info = await self._fetch_from(address)
        except _Unusable as failure:
            self._failed(address, str(failure), permanent=failure.permanent)
        except MetainfoError as error:
            self._failed(address, f"sent bad metadata: {error}", permanent=True)
        except trio.TooSlowError:
            self._failed(address, "timed out", permanent=False)
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError, HandshakeError, ProtocolError) as error:
            self._failed(address, str(error) or type(error).__name__, permanent=False)
        else:
            if self.result is None:
                peers = (address, *(a for a in self.candidates if a != address))
                self.result = FetchedMetadata(info, address, peers)
        finally:
            candidate.busy = False
            self.wake.set()

    def _failed(self, address: Address, reason: str, *, permanent: bool) -> None:
        candidate = self.candidates[address]
        candidate.failures += 1
        candidate.dead = permanent or candidate.failures >= self.max_attempts
        candidate.next_attempt = trio.current_time() + min(60.0, 2.0 * 2 ** (candidate.failures - 1))
        self.reasons[address] = reason

    async def _fetch_from(self, address: Address) -> Info:
        client = self.client
        candidate = self.candidates[address]
        dialed = await client.dial(address, self.info_hash, plaintext_first=candidate.refuses_encryption)
        candidate.refuses_encryption = candidate.refuses_encryption or dialed.fell_back
        stream, handshake, codec, events = dialed.stream, dialed.handshake, dialed.codec, dialed.leftover
        try:
            if handshake.peer_id == client.peer_id:
                raise _Unusable("that is ourselves")
            if not codec.extensions:
                raise _Unusable("peer does not speak the extension protocol (BEP 10)")
            greeting = encode_extended_handshake(OUR_IDS, v=f"torrentish {client.version}", p=client.announce_port or None)
            out = wire.encode(msg.Extended(0, greeting))
            if codec.fast:
                out += wire.encode(msg.HaveNone())
            await stream.send_all(out)
            return await self._exchange(stream, codec, events, address)
        finally:
            await trio.aclose_forcefully(stream)

    async def _exchange(self, stream, codec, events: list, address: Address) -> Info:
        """Ask for every piece and return the verified info. A peer gets ``request_timeout`` for each
        step forward (its handshake, each piece): keep-alives and other chatter do not count."""
        assembler: um.MetadataAssembler | None = None
        their_id = 0
        deadline = trio.current_time() + self.request_timeout
        while True:
            out = bytearray()
            for event in events:
                if not isinstance(event, msg.Extended):
                    continue
                if event.ext_id in (0, OUR_IDS[UT_METADATA]):
                    deadline = trio.current_time() + self.request_timeout
                if event.ext_id == 0:
                    handshake = decode_extended_handshake(event.payload)
                    their_id = handshake.m.get(UT_METADATA, 0)
                    if not their_id:
                        raise _Unusable("peer does not offer ut_metadata")
                    if handshake.metadata_size is None:
                        raise _Unusable("peer has no metadata yet", permanent=False)
                    if assembler is None:
                        try:
                            assembler = um.MetadataAssembler(self.info_hash, handshake.metadata_size,
                                                             max_size=self.max_size)
                        except ProtocolError as error:
                            raise _Unusable(f"refused: {error}") from None
                elif event.ext_id == OUR_IDS[UT_METADATA] and assembler is not None:
                    message = um.decode_metadata_message(event.payload)
                    if isinstance(message, um.MetadataReject):
                        raise _Unusable(f"peer rejected metadata piece {message.piece}", permanent=False)
                    if isinstance(message, um.MetadataData):
                        assembler.add(message)
                        if assembler.complete:
                            return await self._fetch_layers(stream, codec, assembler.info())
                elif event.ext_id == OUR_IDS[UT_PEX]:
                    try:
                        self.found(UtPex.learn(decode_pex(event.payload), address[0], 50))
                    except ProtocolError:
                        pass  # a broken PEX message costs us nothing here
            if assembler is not None and their_id:
                for piece in assembler.next_requests(PIPELINE):
                    request = um.encode_metadata_message(um.MetadataRequest(piece))
                    out += wire.encode(msg.Extended(their_id, request))
            if out:
                await stream.send_all(bytes(out))
            with trio.fail_at(deadline):
                data = await stream.receive_some(65536)
            if not data:
                raise _Unusable("peer closed the connection", permanent=False)
            codec.receive_data(data)
            events = codec.events()


    async def _fetch_layers(self, stream, codec, info: Info) -> Info:
        """A v2-only torrent's missing piece layers, from the peer that sent its info."""
        if info.has_v1:
            return info  # a hybrid's SHA-1 pieces check every piece
        fetch = LayerFetch(info)
        if fetch.complete:
            return info
        await stream.send_all(b"".join(wire.encode(msg.HashRequest(*r)) for r in fetch.requests()))
        deadline = trio.current_time() + self.request_timeout
        while not fetch.complete:
            with trio.fail_at(deadline):
                data = await stream.receive_some(65536)
            if not data:
                raise _Unusable("peer closed the connection", permanent=False)
            codec.receive_data(data)
            for event in codec.events():
                if isinstance(event, msg.Hashes):
                    fields = (event.pieces_root, event.base_layer, event.index, event.length, event.proof_layers)
                    if not fetch.receive(*fields, event.hashes):
                        raise _Unusable("sent piece-layer hashes that do not lead to the pieces root")
                    deadline = trio.current_time() + self.request_timeout
                elif isinstance(event, msg.HashReject):
                    raise _Unusable("peer rejected a hash request for the piece layers", permanent=False)
        return replace(info, piece_layers=fetch.layers())


async def fetch_metadata(
    info_hash: bytes,
    *,
    client,
    peers: Sequence[Address] = (),
    peer_sources: Sequence[PeerSource] = (),
    timeout: float | None = None,
    max_size: int = um.MAX_METADATA_SIZE,
    concurrency: int = 8,
    request_timeout: float = 10.0,
    max_attempts: int = 4,
) -> FetchedMetadata:
    """The verified info dictionary for ``info_hash``; MetadataUnavailable when it cannot be had."""
    fetch = _Fetch(info_hash, client, max_size=max_size, request_timeout=request_timeout, max_attempts=max_attempts)
    fetch.found(peers)
    with trio.move_on_after(float("inf") if timeout is None else timeout):
        return await fetch.run(concurrency, peer_sources)
    raise MetadataUnavailable(f"no peer sent the metadata within {timeout:g} s: {fetch._explain()}")


async def resolve_magnet(magnet: Magnet, *, client, peer_sources: Sequence[PeerSource] = (),
                         timeout: float | None = None, **options) -> Info:
    """The info dictionary a magnet link names, from its x.pe peers and the given sources."""
    fetched = await fetch_metadata(magnet.info_hash, client=client, peers=magnet.peers,
                                   peer_sources=peer_sources, timeout=timeout, **options)
    return fetched.info
