"""Helpers for the trackerless tests (ut_metadata, ut_pex, DHT, magnet links).

- ``make_info``: a single- or multi-file info dictionary over seeded random bytes, made in memory;
  ``write_torrent``, ``write_data`` / ``read_data``: its .torrent and its files on disk;
- ``serve_seed`` / ``add_seed``: an in-process torrentish seed (MemoryStorage) with the standard
  extensions, on 127.0.0.1; ``add_downloader``: a downloader like it;
- ``MetadataPeer``: a scripted peer on 127.0.0.1 that answers a metadata fetch as told - honestly,
  with lies, silence, rejects, a huge ``metadata_size`` or no extension protocol at all;
- ``local_dht``: N DHT nodes on 127.0.0.1 bootstrapped from the first (never a public router);
- ``raises_leaf``: pytest.raises that looks inside trio's exception groups.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from pathlib import Path

import pytest
import trio

from torrentish.services.dht.config import DhtConfig
from torrentish.services.dht.node import DhtNode, open_dht_node
from torrentish.engine.client import Client, open_client
from torrentish.services.extensions import standard_extensions
from torrentish.services.extensions import ut_metadata as um
from torrentish.formats.metainfo import Info, build_info, build_torrent, parse_info
from torrentish.storage.memory import MemoryStorage
from torrentish.wire import codec as wire
from torrentish.wire import messages as msg
from torrentish.wire import mse
from torrentish.wire.codec import PeerCodec
from torrentish.wire.extension import decode_extended_handshake, encode_extended_handshake

LOCALHOST = "127.0.0.1"
KiB = 1024


@contextmanager
def raises_leaf(kind: type[BaseException], match: str | None = None) -> Iterator[None]:
    """Like pytest.raises, for an error that trio nurseries may have wrapped in exception groups."""
    with pytest.raises(BaseException) as caught:
        yield
    leaf = caught.value
    while isinstance(leaf, BaseExceptionGroup) and len(leaf.exceptions) == 1:
        leaf = leaf.exceptions[0]
    assert isinstance(leaf, kind), f"expected {kind.__name__}, got {caught.value!r}"
    if match is not None:
        assert re.search(match, str(leaf)), f"{str(leaf)!r} does not match {match!r}"


def make_info(size: int = 200 * KiB, *, piece_length: int = 16 * KiB, seed: int = 0, name: str = "payload.bin",
              files: Sequence[tuple[tuple[str, ...], int]] | None = None, private: bool = False) -> tuple[Info, bytes]:
    """An info dictionary and the bytes it describes (``files`` given: a multi-file torrent)."""
    total = sum(length for _, length in files) if files else size
    data = random.Random(seed).randbytes(total)
    pieces = b"".join(hashlib.sha1(data[i : i + piece_length]).digest() for i in range(0, total, piece_length))
    raw = build_info(name, piece_length, pieces, list(files) if files else None, None if files else total,
                     private=private)
    return parse_info(raw), data


def write_torrent(root: Path, info: Info, data: bytes | None = None) -> Path:
    """The .torrent in ``root``, and with ``data`` the file it describes beside it (for a seed)."""
    root.mkdir(parents=True, exist_ok=True)
    if data is not None:
        (root / info.name).write_bytes(data)
    torrent = root / f"{info.name}.torrent"
    torrent.write_bytes(build_torrent(info.raw))
    return torrent


def write_data(root: Path, info: Info, data: bytes) -> None:
    """The files of ``info`` under ``root`` (single- or multi-file), as a client seeding it has them."""
    for entry in info.files:
        path = root.joinpath(*entry.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data[entry.offset : entry.offset + entry.length])


def read_data(root: Path, info: Info) -> bytes:
    """What a client wrote under ``root`` for ``info`` (some create no zero-length files)."""
    return b"".join(root.joinpath(*entry.path).read_bytes() for entry in info.files if entry.length)


async def add_seed(client: Client, info: Info, data: bytes, *, extensions=None, services=None):
    """Seed ``info`` from memory on ``client``; the services run in the client's nursery."""
    if extensions is None:
        extensions, default_services = standard_extensions()
        services = default_services if services is None else services
    torrent = await client.add_torrent(info, MemoryStorage.filled(info.geometry(), data), upload_only=True,
                                       extensions=extensions)
    for service in services or ():
        client._nursery.start_soon(service, client, torrent)
    return torrent


async def add_downloader(client: Client, info: Info, peers):
    """Download ``info`` into memory on ``client`` from ``peers``, with the standard extensions
    (metadata, PEX) and their services running in the client's nursery."""
    extensions, services = standard_extensions()
    torrent = await client.add_torrent(info, MemoryStorage(info.geometry()), peers=peers, extensions=extensions)
    for service in services:
        client._nursery.start_soon(service, client, torrent)
    return torrent


@asynccontextmanager
async def serve_seed(info: Info, data: bytes, **options) -> AsyncIterator[tuple[Client, object]]:
    async with open_client(host=LOCALHOST) as client:
        torrent = await add_seed(client, info, data, **options)
        yield client, torrent


class MetadataPeer:
    """A peer that only speaks the metadata exchange, in one of these ways (``behaviour``):

    honest, liar (right size, wrong bytes), silent (handshakes, then nothing), chatty (then only
    keep-alives), reject, huge (announces a metadata_size over the limit), plain (no extension
    protocol).
    """

    def __init__(self, info_hash: bytes, raw: bytes, behaviour: str = "honest"):
        self.info_hash = info_hash
        self.raw = raw
        self.behaviour = behaviour
        self.port = 0
        self.requests = 0
        self.connections = 0

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host=LOCALHOST)
        self.port = listeners[0].socket.getsockname()[1]
        async with trio.open_nursery() as nursery:
            await nursery.start(trio.serve_listeners, self._serve, listeners)
            task_status.started(self)

    async def _serve(self, stream: trio.SocketStream) -> None:
        """One connection. Like a client without encryption, it hangs up on a connection that
        starts with an MSE key (not counted in `connections`)."""
        try:
            first = await stream.receive_some(len(mse.PROTOCOL_PREFIX))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            first = b""
        if not first.startswith(mse.PROTOCOL_PREFIX[: len(first)]) or not first:
            await trio.aclose_forcefully(stream)
            return
        self.connections += 1
        plain = self.behaviour == "plain"
        reserved = msg.make_reserved(extensions=not plain, fast=True)
        codec = PeerCodec(reserved)
        codec.receive_data(first)
        try:
            await stream.send_all(wire.encode_handshake(reserved, self.info_hash, b"-FK0001-" + bytes(12)))
            if self.behaviour == "chatty":
                while True:
                    await stream.send_all(wire.encode_keepalive())
                    await trio.sleep(0.05)
            if self.behaviour != "silent":
                size = um.MAX_METADATA_SIZE + 1 if self.behaviour == "huge" else len(self.raw)
                greeting = encode_extended_handshake({"ut_metadata": 3}, v="fake", metadata_size=size)
                if not plain:
                    await stream.send_all(wire.encode(msg.Extended(0, greeting)))
            their_id = 0
            async for data in stream:
                codec.receive_data(data)
                for event in codec.events():
                    if isinstance(event, msg.Extended) and event.ext_id == 0:
                        their_id = decode_extended_handshake(event.payload).m.get("ut_metadata", 0)
                    elif isinstance(event, msg.Extended) and event.ext_id == 3 and self.behaviour != "silent":
                        await stream.send_all(self._answer(their_id, event.payload))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass

    def _answer(self, their_id: int, payload: bytes) -> bytes:
        request = um.decode_metadata_message(payload)
        assert isinstance(request, um.MetadataRequest)
        self.requests += 1
        if self.behaviour == "reject":
            reply = um.MetadataReject(request.piece)
        else:
            raw = bytes(len(self.raw)) if self.behaviour == "liar" else self.raw
            begin = request.piece * um.METADATA_PIECE_SIZE
            reply = um.MetadataData(request.piece, len(raw), raw[begin : begin + um.METADATA_PIECE_SIZE])
        return wire.encode(msg.Extended(their_id, um.encode_metadata_message(reply)))


def local_config(bootstrap: Sequence[int] = (), **overrides) -> DhtConfig:
    """A DHT node on 127.0.0.1 that knows only the given local nodes and saves nothing."""
    options = dict(host=LOCALHOST, bootstrap=tuple(f"{LOCALHOST}:{port}" for port in bootstrap),
                   state_path=None, query_timeout=0.5, maintenance_interval=3600.0)
    options.update(overrides)
    return DhtConfig(**options)


@asynccontextmanager
async def local_dht(count: int, *, seed: int = 0, **overrides) -> AsyncIterator[list[DhtNode]]:
    """``count`` DHT nodes on 127.0.0.1, all bootstrapped (from the first one) on entry."""
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(open_dht_node(local_config(**overrides), rng=random.Random(seed)))
        nodes = [first]
        for i in range(1, count):
            config = local_config([first.port], **overrides)
            nodes.append(await stack.enter_async_context(open_dht_node(config, rng=random.Random(seed * 1000 + i))))
        with trio.fail_after(10):
            for node in nodes:
                await node.bootstrapped.wait()
        yield nodes
