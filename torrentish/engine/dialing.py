"""Dialing a peer: connect, encrypt as the policy says, exchange BitTorrent handshakes.

Both the torrents' connector and the magnet metadata fetcher dial through here, so they follow
the same encryption policy (engine/encryption.py). Under ``prefer`` a peer that refuses MSE is
dialed once more in plaintext on a fresh connection; the caller learns so (`fell_back`) and
can go straight to plaintext next time (`plaintext_first`). A timeout is not a refusal: a peer
that does not answer would not answer a plaintext handshake either.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import trio

from torrentish.engine.encryption import EncryptionRefused, describe, encrypt_outgoing
from torrentish.engine.handshake import our_handshake, outgoing_handshake
from torrentish.net.base import Network
from torrentish.wire import messages as msg
from torrentish.wire.codec import PeerCodec

__all__ = ["Dialed", "dial"]


@dataclass
class Dialed:
    """A connection whose handshakes are done (the codec holds what followed theirs)."""

    stream: trio.abc.Stream
    handshake: msg.Handshake
    codec: PeerCodec
    leftover: list
    encryption: str  # "rc4", "mse-plaintext" or "none" (engine/encryption.py `describe`)
    fell_back: bool = False  # the peer refused MSE and took plaintext


async def dial(
    network: Network,
    address: tuple[str, int],
    info_hash: bytes,
    peer_id: bytes,
    *,
    policy: str,
    rng: random.Random,
    timeout: float,
    plaintext_first: bool = False,
) -> Dialed:
    """Connect and shake hands; raises what connecting or the handshake raised (OSError,
    HandshakeError, ProtocolError, trio.TooSlowError, ...). `timeout` bounds each attempt's
    handshakes (connecting has its own timeout in the network)."""
    if policy == "off" or (policy == "prefer" and plaintext_first):
        return await _attempt(network, address, info_hash, peer_id, None, rng, timeout)
    try:
        return await _attempt(network, address, info_hash, peer_id, policy, rng, timeout)
    except EncryptionRefused:
        if policy == "require":
            raise
    dialed = await _attempt(network, address, info_hash, peer_id, None, rng, timeout)
    dialed.fell_back = True
    return dialed


async def _attempt(network: Network, address: tuple[str, int], info_hash: bytes, peer_id: bytes,
                   policy: str | None, rng: random.Random, timeout: float) -> Dialed:
    stream = await network.connect(*address)
    try:
        with trio.fail_after(timeout):
            if policy is None:
                handshake, codec, leftover = await outgoing_handshake(stream, info_hash, peer_id)
            else:
                ours = our_handshake(info_hash, peer_id)
                stream, initial = await encrypt_outgoing(stream, info_hash, ours, policy=policy, rng=rng)
                handshake, codec, leftover = await outgoing_handshake(
                    stream, info_hash, peer_id, sent=True, initial=initial
                )
    except BaseException:
        await trio.aclose_forcefully(stream)
        raise
    return Dialed(stream, handshake, codec, leftover, describe(stream, policy is not None))
