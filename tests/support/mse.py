"""MSE messages written field by field from the spec, for tests that play a hostile or odd peer
(torrentish.wire.mse only writes well-formed ones)."""

from __future__ import annotations

from hashlib import sha1

from torrentish.wire import mse
from torrentish.wire.rc4 import rc4


def public_key(private_key: int) -> bytes:
    return pow(mse.G, private_key, mse.P).to_bytes(mse.KEY_SIZE, "big")


def shared_secret(private_key: int, their_key: bytes) -> bytes:
    return pow(int.from_bytes(their_key, "big"), private_key, mse.P).to_bytes(mse.KEY_SIZE, "big")


def keystream(name: bytes, secret: bytes, skey: bytes):
    """RC4 keyed with HASH(name, S, SKEY), its first 1024 bytes discarded."""
    cipher = rc4(sha1(name + secret + skey).digest())
    cipher.update(bytes(1024))
    return cipher


def forged_third(secret: bytes, skey: bytes, ia: bytes, *, provide: int = mse.RC4 | mse.PLAINTEXT,
                 pad_c: int = 0, vc: bytes = bytes(8)) -> bytes:
    """The initiator's third message with any field values (pad_c: its length, may be illegal)."""
    req2 = sha1(b"req2" + skey).digest()
    req3 = sha1(b"req3" + secret).digest()
    body = vc + provide.to_bytes(4, "big") + pad_c.to_bytes(2, "big") + bytes(pad_c)
    body += len(ia).to_bytes(2, "big") + ia
    return (sha1(b"req1" + secret).digest() + bytes(x ^ y for x, y in zip(req2, req3))
            + keystream(b"keyA", secret, skey).update(body))
