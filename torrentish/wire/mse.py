"""Message Stream Encryption (MSE, also called PE): the handshake as a sans-I/O state machine.

The exchange, A the initiator (who dialed) and B the responder:

    A->B  Ya, PadA
    B->A  Yb, PadB
    A->B  HASH('req1', S), HASH('req2', SKEY) xor HASH('req3', S),
          ENCRYPT(VC, crypto_provide, len(PadC), PadC, len(IA)), ENCRYPT(IA)
    B->A  ENCRYPT(VC, crypto_select, len(PadD), PadD), ENCRYPT2(payload)
    A->B  ENCRYPT2(payload)

Y is a Diffie-Hellman public key (g = 2 modulo the 768-bit prime `P`, 96 bytes big-endian) and S
the shared secret; SKEY is the torrent's info hash, HASH is SHA-1. ENCRYPT is RC4 keyed with
HASH('keyA', S, SKEY) for what A sends and HASH('keyB', S, SKEY) for what B sends, the first 1024
bytes of each keystream discarded. VC is 8 zero bytes. crypto_provide says which methods A takes
for the payload (1 plaintext, 2 RC4), crypto_select is the one B picked; ENCRYPT2 continues the
RC4 stream, or is no encryption at all. IA, A's initial payload, is always RC4-encrypted (we put
our BitTorrent handshake there, as libtorrent and Transmission do).

Limits, as the spec sets them: pads are at most 512 bytes, so B finds HASH('req1', S) within
the first 628 bytes it receives (96 + 512 + 20) and A finds ENCRYPT(VC) within the first 616
bytes after its own key went out (96 + 512 + 8); a key outside [2, P - 2], a pad length over
512, a wrong VC or a crypto_select we did not offer ends the handshake with `Failed`.

    machine = Initiator(info_hash, our_handshake, provide=RC4 | PLAINTEXT, private_key=x, pad=b"")
    send(machine.start())
    out, result = machine.receive_data(chunk)     # send `out`; result None = need more bytes

`result` is `Established` (the ciphers for what follows, the payload already received) or
`Failed(reason)`. The private key and pads come from the caller, so tests use fixed ones.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from hashlib import sha1
from typing import TYPE_CHECKING

from torrentish.wire.rc4 import rc4

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers import CipherContext

__all__ = [
    "P", "G", "PLAINTEXT", "RC4", "MAX_PAD", "KEY_SIZE", "RESPONDER_WINDOW", "INITIATOR_WINDOW",
    "PROTOCOL_PREFIX", "Established", "Failed", "Initiator", "Responder", "skey_hash",
    "looks_plaintext", "random_private_key", "random_pad",
]  # fmt: skip

P = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404"
    "DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A63A36210000000000090563",
    16,
)
G = 2
KEY_SIZE = 96  # bytes of a public key or of S
PRIVATE_KEY_BITS = 160  # what libtorrent and Transmission use; the spec asks for at least 128
PLAINTEXT = 0x01
RC4 = 0x02
_METHODS = PLAINTEXT | RC4
MAX_PAD = 512
VC = bytes(8)
DISCARD = 1024  # keystream bytes thrown away before the first one used
RESPONDER_WINDOW = KEY_SIZE + MAX_PAD + 20  # 628: HASH('req1', S) ends within this
INITIATOR_WINDOW = KEY_SIZE + MAX_PAD + 8  # 616: ENCRYPT(VC) ends within this
MAX_INITIAL_PAYLOAD = 0xFFFF  # len(IA) is two bytes
PROTOCOL_PREFIX = b"\x13BitTorrent protocol"  # how a plaintext connection starts


@dataclass(frozen=True)
class Established:
    """The handshake is done. From here on, what we send goes through `encrypt` and what we
    receive through `decrypt` (both None when the payload travels in plaintext)."""

    method: int  # RC4 or PLAINTEXT
    encrypt: CipherContext | None = field(repr=False)
    decrypt: CipherContext | None = field(repr=False)
    payload: bytes  # the peer's payload that arrived with the handshake, decrypted
    info_hash: bytes  # SKEY: the torrent this connection is for


@dataclass(frozen=True)
class Failed:
    reason: str  # one line


class _Fail(Exception):
    pass


def skey_hash(info_hash: bytes) -> bytes:
    """HASH('req2', SKEY): how an initiator names the torrent without revealing it."""
    return sha1(b"req2" + info_hash).digest()


def looks_plaintext(first: bytes) -> bool | None:
    """Whether an incoming connection's first bytes are a plaintext BitTorrent handshake: True,
    False (so it is MSE: a random key), or None while too few bytes arrived to tell."""
    n = min(len(first), len(PROTOCOL_PREFIX))
    if first[:n] != PROTOCOL_PREFIX[:n]:
        return False
    return True if n == len(PROTOCOL_PREFIX) else None


def random_private_key(rng: random.Random) -> int:
    return rng.randrange(2, 1 << PRIVATE_KEY_BITS)


def random_pad(rng: random.Random) -> bytes:
    """PadA or PadB: random bytes of a random length, 0 to 512."""
    return rng.randbytes(rng.randint(0, MAX_PAD))


def _keystream(name: bytes, secret: bytes, info_hash: bytes) -> CipherContext:
    cipher = rc4(sha1(name + secret + info_hash).digest())
    cipher.update(bytes(DISCARD))
    return cipher


def _xor(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(len(a), "big")


class _Machine:
    """What both sides share: our key pair, the receive buffer, the final result."""

    def __init__(self, private_key: int, pad: bytes):
        if not 1 < private_key < P - 1:
            raise ValueError("private key out of range")
        if len(pad) > MAX_PAD:
            raise ValueError(f"pad longer than {MAX_PAD} bytes")
        self._private_key = private_key
        self._public = pow(G, private_key, P).to_bytes(KEY_SIZE, "big")
        self._pad = bytes(pad)
        self._buf = bytearray()
        self._result: Established | Failed | None = None
        self._secret = b""
        self._step: Callable[[bytearray], Established | None] = lambda out: None

    def receive_data(self, data: bytes) -> tuple[bytes, Established | Failed | None]:
        """Take bytes from the peer; return what to send now and the result (None: need more).

        After `Failed` the machine stays failed. Bytes that follow the handshake are in the
        `Established.payload`; feeding more after that is a mistake of the caller's.
        """
        if isinstance(self._result, Failed):
            return b"", self._result
        if self._result is not None:
            raise RuntimeError("the handshake is over: the payload goes through the ciphers")
        self._buf += data
        out = bytearray()
        try:
            result = self._advance(out)
        except _Fail as failure:
            result = Failed(str(failure))
        if result is not None:
            self._result = result
            self._buf = bytearray()
        return bytes(out), result

    def _advance(self, out: bytearray) -> Established | None:
        # Each step consumes what it needs and moves on, or returns None to wait for bytes.
        while True:
            step = self._step
            result = step(out)
            if result is not None or self._step is step:
                return result

    def _take(self, n: int) -> bytes:
        taken = bytes(self._buf[:n])
        del self._buf[:n]
        return taken

    def _shared_secret(self) -> bytes:
        their_key = int.from_bytes(self._take(KEY_SIZE), "big")
        # 0, 1 and P - 1 would make S a value anyone can guess (a man in the middle's choice).
        if not 2 <= their_key <= P - 2:
            raise _Fail("degenerate Diffie-Hellman key")
        return pow(their_key, self._private_key, P).to_bytes(KEY_SIZE, "big")


class Initiator(_Machine):
    """Our side of a connection we dialed. `payload` (IA) goes out with the third message."""

    def __init__(self, info_hash: bytes, payload: bytes, *, provide: int, private_key: int,
                 pad: bytes, pad_c_length: int = 0):
        super().__init__(private_key, pad)
        if len(info_hash) != 20:
            raise ValueError("info hash must be 20 bytes")
        if provide & ~_METHODS or not provide:
            raise ValueError("provide is PLAINTEXT, RC4 or both")
        if len(payload) > MAX_INITIAL_PAYLOAD or not 0 <= pad_c_length <= MAX_PAD:
            raise ValueError("initial payload or PadC too long")
        self._info_hash = bytes(info_hash)
        self._payload = bytes(payload)
        self._provide = provide
        self._pad_c = bytes(pad_c_length)  # the spec: zeroed when used as padding only
        self._step = self._key
        self._encrypt: CipherContext | None = None
        self._decrypt: CipherContext | None = None
        self._vc = b""  # ENCRYPT(VC) as B will send it
        self._select = 0
        self._pad_d = 0

    def start(self) -> bytes:
        """The first message: Ya and PadA."""
        return self._public + self._pad

    def _key(self, out: bytearray) -> None:
        if len(self._buf) < KEY_SIZE:
            return
        secret = self._shared_secret()
        self._encrypt = _keystream(b"keyA", secret, self._info_hash)
        self._decrypt = _keystream(b"keyB", secret, self._info_hash)
        self._vc = self._decrypt.update(VC)
        out += sha1(b"req1" + secret).digest()
        out += _xor(skey_hash(self._info_hash), sha1(b"req3" + secret).digest())
        out += self._encrypt.update(
            VC + self._provide.to_bytes(4, "big") + len(self._pad_c).to_bytes(2, "big") + self._pad_c
            + len(self._payload).to_bytes(2, "big") + self._payload
        )
        self._step = self._sync

    def _sync(self, out: bytearray) -> None:
        at = self._buf.find(self._vc, 0, MAX_PAD + len(VC))
        if at < 0:
            if len(self._buf) >= MAX_PAD + len(VC):
                raise _Fail(f"no verification constant within {INITIATOR_WINDOW} bytes")
            return
        del self._buf[: at + len(VC)]
        self._step = self._crypto_select

    def _crypto_select(self, out: bytearray) -> None:
        if len(self._buf) < 6:
            return
        assert self._decrypt is not None
        clear = self._decrypt.update(self._take(6))
        select = int.from_bytes(clear[:4], "big")
        if select not in (PLAINTEXT, RC4) or not select & self._provide:
            raise _Fail(f"peer selected crypto {select:#x}, which we did not offer")
        self._select = select
        self._pad_d = int.from_bytes(clear[4:], "big")
        if self._pad_d > MAX_PAD:
            raise _Fail(f"PadD of {self._pad_d} bytes (at most {MAX_PAD})")
        self._step = self._skip_pad_d

    def _skip_pad_d(self, out: bytearray) -> Established | None:
        if len(self._buf) < self._pad_d:
            return None
        assert self._encrypt is not None and self._decrypt is not None
        self._decrypt.update(self._take(self._pad_d))
        rest = bytes(self._buf)
        if self._select == RC4:
            return Established(RC4, self._encrypt, self._decrypt, self._decrypt.update(rest), self._info_hash)
        return Established(PLAINTEXT, None, None, rest, self._info_hash)


class Responder(_Machine):
    """Our side of a connection the peer dialed and began with a key, not a BitTorrent handshake.

    `find_info_hash(skey_hash)` names the torrent: the info hash whose `skey_hash` that is, or
    None (not ours). Of the methods the peer provides, we select one in `allowed`; `prefer`
    when it provides both.
    """

    def __init__(self, find_info_hash: Callable[[bytes], bytes | None], *, allowed: int,
                 prefer: int, private_key: int, pad: bytes, pad_d_length: int = 0):
        super().__init__(private_key, pad)
        if allowed & ~_METHODS or not allowed or prefer not in (PLAINTEXT, RC4):
            raise ValueError("allowed is PLAINTEXT, RC4 or both; prefer one of them")
        if not 0 <= pad_d_length <= MAX_PAD:
            raise ValueError("PadD too long")
        self._find_info_hash = find_info_hash
        self._allowed = allowed
        self._prefer = prefer
        self._pad_d = bytes(pad_d_length)
        self._step = self._key
        self._req1 = b""
        self._info_hash = b""
        self._encrypt: CipherContext | None = None
        self._decrypt: CipherContext | None = None
        self._select = 0
        self._pad_c = 0
        self._ia_length = -1

    def _key(self, out: bytearray) -> None:
        if len(self._buf) < KEY_SIZE:
            return
        self._secret = self._shared_secret()
        self._req1 = sha1(b"req1" + self._secret).digest()
        out += self._public + self._pad
        self._step = self._sync

    def _sync(self, out: bytearray) -> None:
        at = self._buf.find(self._req1, 0, MAX_PAD + 20)
        if at < 0:
            if len(self._buf) >= MAX_PAD + 20:
                raise _Fail(f"no synchronisation hash within {RESPONDER_WINDOW} bytes")
            return
        del self._buf[: at + 20]
        self._step = self._skey

    def _skey(self, out: bytearray) -> None:
        if len(self._buf) < 20:
            return
        wanted = _xor(self._take(20), sha1(b"req3" + self._secret).digest())
        info_hash = self._find_info_hash(wanted)
        if info_hash is None:
            raise _Fail("peer asked for a torrent we do not have")
        self._info_hash = bytes(info_hash)
        self._decrypt = _keystream(b"keyA", self._secret, self._info_hash)
        self._encrypt = _keystream(b"keyB", self._secret, self._info_hash)
        self._step = self._crypto_provide

    def _crypto_provide(self, out: bytearray) -> None:
        if len(self._buf) < 14:
            return
        assert self._decrypt is not None
        clear = self._decrypt.update(self._take(14))
        if clear[:8] != VC:
            raise _Fail("wrong verification constant")
        provide = int.from_bytes(clear[8:12], "big") & self._allowed
        if not provide:
            raise _Fail("peer provides no crypto method we accept")
        self._select = provide if provide != _METHODS else self._prefer
        self._pad_c = int.from_bytes(clear[12:], "big")
        if self._pad_c > MAX_PAD:
            raise _Fail(f"PadC of {self._pad_c} bytes (at most {MAX_PAD})")
        self._step = self._ia_header

    def _ia_header(self, out: bytearray) -> None:
        if len(self._buf) < self._pad_c + 2:
            return
        assert self._decrypt is not None
        clear = self._decrypt.update(self._take(self._pad_c + 2))
        self._ia_length = int.from_bytes(clear[-2:], "big")
        self._step = self._initial_payload

    def _initial_payload(self, out: bytearray) -> Established | None:
        if len(self._buf) < self._ia_length:
            return None
        assert self._encrypt is not None and self._decrypt is not None
        payload = self._decrypt.update(self._take(self._ia_length))  # IA is always RC4
        out += self._encrypt.update(
            VC + self._select.to_bytes(4, "big") + len(self._pad_d).to_bytes(2, "big") + self._pad_d
        )
        rest = bytes(self._buf)
        if self._select == RC4:
            return Established(RC4, self._encrypt, self._decrypt, payload + self._decrypt.update(rest),
                               self._info_hash)
        return Established(PLAINTEXT, None, None, payload + rest, self._info_hash)
