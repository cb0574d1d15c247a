"""The BitTorrent handshake over a stream, both directions.

The codec parses; this module only moves bytes until the peer's handshake has arrived. Bytes
that follow the handshake in the same read stay in the codec (returned as `leftover` events).
Over MSE (engine/encryption.py) our handshake may already have gone out as the initial payload
(`sent`), and the peer's may have come in with the encryption handshake (`initial`).
"""

from __future__ import annotations

import trio

from torrentish.wire import codec as wire
from torrentish.wire import messages as msg
from torrentish.wire.codec import PeerCodec

# We speak the extension protocol (BEP 10) and the Fast extension (BEP 6), and run a DHT node
# (BEP 5) when the DHT service is on; without it, PORT messages peers send us are ignored.
OUR_RESERVED = msg.Handshake.make_reserved(extensions=True, fast=True, dht=True)


class HandshakeError(Exception):
    """The peer's handshake was not what we need (wrong torrent, closed early)."""


def our_handshake(info_hash: bytes, peer_id: bytes) -> bytes:
    return wire.encode_handshake(OUR_RESERVED, info_hash, peer_id)


async def _receive_handshake(stream: trio.abc.Stream, codec: PeerCodec, initial: bytes):
    if initial:
        codec.receive_data(initial)
    while True:
        events = codec.events()
        if events:
            first, rest = events[0], events[1:]
            assert isinstance(first, msg.Handshake)
            return first, rest
        data = await stream.receive_some(65536)
        if not data:
            raise HandshakeError("closed during handshake")
        codec.receive_data(data)


async def outgoing_handshake(stream, info_hash: bytes, peer_id: bytes, *, sent: bool = False,
                             initial: bytes = b""):
    """We dialed: send ours (unless `sent`), then check theirs names the same torrent."""
    codec = PeerCodec(OUR_RESERVED)
    if not sent:
        await stream.send_all(our_handshake(info_hash, peer_id))
    handshake, leftover = await _receive_handshake(stream, codec, initial)
    if handshake.info_hash != info_hash:
        raise HandshakeError("peer answered for another torrent")
    return handshake, codec, leftover


async def incoming_handshake(stream, initial: bytes = b""):
    """They dialed: read theirs first (`initial`: its first bytes, already read); the caller
    picks the torrent and answers."""
    codec = PeerCodec(OUR_RESERVED)
    handshake, leftover = await _receive_handshake(stream, codec, initial)
    return handshake, codec, leftover


async def answer_handshake(stream, info_hash: bytes, peer_id: bytes) -> None:
    await stream.send_all(our_handshake(info_hash, peer_id))
