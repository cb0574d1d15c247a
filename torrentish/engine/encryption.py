"""Message Stream Encryption over a trio stream: the policy, both directions of the handshake.

The protocol is torrentish.wire.mse's state machine; this module moves its bytes. The policy
(Settings.encryption, `--encryption`) is Transmission's choice of defaults:

- ``prefer`` (the default): dial encrypted, offering RC4 and plaintext; when the peer refuses
  MSE (hangs up, or answers something else), dial again in plaintext (engine/dialing.py).
  Accept both kinds of incoming connection; when an MSE peer offers both, select RC4.
- ``require``: dial encrypted offering RC4 only; refuse plaintext handshakes and MSE peers that
  do not offer RC4.
- ``off``: dial in plaintext. Accept plaintext, and MSE peers that offer plaintext (selected,
  so only the handshake is obfuscated); never RC4.

Whatever arrives after the handshake (the peer's BitTorrent handshake, often more) is returned,
decrypted, for the codec: nothing read is lost between the layers.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import trio

from torrentish.engine.handshake import HandshakeError
from torrentish.engine.settings import ENCRYPTION_POLICIES as POLICIES
from torrentish.errors import TorrentishError
from torrentish.net.encrypted import EncryptedStream
from torrentish.wire import mse, rc4

__all__ = ["POLICIES", "EncryptionRefused", "check_policy", "describe", "encrypt_outgoing", "accept_incoming"]

RECEIVE_SIZE = 64 * 1024  # one handshake read; what follows the handshake stays in the payload

# Incoming MSE: (methods we select from, the one we take when the peer offers both).
_RESPONDER = {
    "prefer": (mse.RC4 | mse.PLAINTEXT, mse.RC4),
    "require": (mse.RC4, mse.RC4),
    "off": (mse.PLAINTEXT, mse.PLAINTEXT),
}
_PROVIDE = {"prefer": mse.RC4 | mse.PLAINTEXT, "require": mse.RC4}


class EncryptionRefused(HandshakeError):
    """The peer ended or botched the MSE handshake before it was established (under ``prefer``
    a reason to dial again in plaintext), or an incoming connection did not meet the policy."""


def check_policy(policy: str) -> str:
    """The policy to run with: `policy`, or "off" for "prefer" where this build of cryptography
    lacks RC4. Raises TorrentishError for an unknown policy or "require" without RC4."""
    if policy not in POLICIES:
        raise TorrentishError(f"encryption must be one of {', '.join(POLICIES)}, not {policy!r}")
    if policy != "off" and not rc4.available():
        if policy == "require":
            raise TorrentishError("encryption 'require' needs RC4, which this build of cryptography lacks")
        return "off"
    return policy


def describe(stream: trio.abc.Stream, used_mse: bool) -> str:
    """How a connection is encrypted: "rc4", "mse-plaintext" (MSE obfuscated the handshake,
    the payload is plaintext) or "none"."""
    if isinstance(stream, EncryptedStream):
        return "rc4"
    return "mse-plaintext" if used_mse else "none"


def _wrap(stream: trio.abc.Stream, done: mse.Established) -> trio.abc.Stream:
    if done.encrypt is None or done.decrypt is None:
        return stream  # plaintext selected: the plain stream keeps the engine's fast path
    return EncryptedStream(stream, done.encrypt, done.decrypt)


async def _run(stream: trio.abc.Stream, machine, first: bytes) -> mse.Established:
    """Feed the machine until it is done; send what it asks to send."""
    data = first
    try:
        while True:
            if data:
                out, result = machine.receive_data(data)
                if out:
                    await stream.send_all(out)
                if isinstance(result, mse.Failed):
                    raise EncryptionRefused(f"encryption handshake failed: {result.reason}")
                if result is not None:
                    return result
            data = await stream.receive_some(RECEIVE_SIZE)
            if not data:
                raise EncryptionRefused("closed during the encryption handshake")
    except (trio.BrokenResourceError, OSError) as exc:
        raise EncryptionRefused(f"connection lost during the encryption handshake: {exc}") from None


async def encrypt_outgoing(stream: trio.abc.Stream, info_hash: bytes, initial: bytes, *,
                           policy: str, rng: random.Random) -> tuple[trio.abc.Stream, bytes]:
    """MSE as the initiator, with `initial` (our BitTorrent handshake) as its initial payload.

    Returns the stream to use from now on and the peer's payload received with the handshake.
    Raises EncryptionRefused when the peer does not complete it.
    """
    machine = mse.Initiator(info_hash, initial, provide=_PROVIDE[policy],
                            private_key=mse.random_private_key(rng), pad=mse.random_pad(rng))
    try:
        await stream.send_all(machine.start())
    except (trio.BrokenResourceError, OSError) as exc:
        raise EncryptionRefused(f"connection lost during the encryption handshake: {exc}") from None
    done = await _run(stream, machine, b"")
    return _wrap(stream, done), done.payload


async def accept_incoming(
    stream: trio.abc.Stream,
    *,
    policy: str,
    find_info_hash: Callable[[bytes], bytes | None],
    rng: random.Random,
) -> tuple[trio.abc.Stream, bytes, bytes | None]:
    """Tell a plaintext connection from an MSE one by its first 20 bytes, and run MSE if need be.

    Returns the stream to use, the plaintext received so far (the start of the peer's
    BitTorrent handshake), and the info hash MSE named (None for a plaintext connection, whose
    handshake names it). `find_info_hash` maps an MSE `skey_hash` to one of our info hashes.
    """
    first = b""
    while (kind := mse.looks_plaintext(first)) is None:
        data = await stream.receive_some(RECEIVE_SIZE)
        if not data:
            raise HandshakeError("closed during handshake")
        first += data
    if kind:
        if policy == "require":
            raise EncryptionRefused("plaintext connection refused: encryption is required")
        return stream, first, None
    allowed, prefer = _RESPONDER[policy]
    machine = mse.Responder(find_info_hash, allowed=allowed, prefer=prefer,
                            private_key=mse.random_private_key(rng), pad=mse.random_pad(rng))
    done = await _run(stream, machine, first)
    return _wrap(stream, done), done.payload, done.info_hash
