"""BEP 52 hash messages: HASH REQUEST (21), HASHES (22), HASH REJECT (23), sans-I/O.

All three start with the same 48 bytes: pieces root (32), base layer, index, length and proof
layers (4 bytes each, big-endian); HASHES then carries 32-byte hashes: ``length`` hashes of the
base layer, then the uncle hashes from the lowest layer up.

Limits (a peer breaking one is closed, as for any malformed message; the codec calls in here):
- ``length`` is a power of two from 1 to ``MAX_HASH_COUNT`` (BEP 52 says at least 2 and "should
  not" exceed 512; a single hash is harmless, and libtorrent never asks for more than 512);
- ``index`` is a multiple of ``length``; ``base_layer`` and ``proof_layers`` are below 64 (a tree
  over the largest torrent has 37 layers);
- HASHES holds at least ``length`` hashes and at most ``proof_layers`` more, whole ones.
"""

from __future__ import annotations

from struct import Struct

from torrentish.errors import ProtocolError
from torrentish.wire import messages as m

__all__ = ["IDS", "REQUEST_LENGTH", "MAX_HASH_COUNT", "MAX_HASHES_LENGTH", "decode", "encode",
           "check_hashes_length"]

HASH_SIZE = 32
MAX_HASH_COUNT = 4096
MAX_LAYER = 63
IDS = frozenset({m.HASH_REQUEST_ID, m.HASHES_ID, m.HASH_REJECT_ID})
_FIELDS = Struct(">32sIIII")
_HEADER = Struct(">IB")
REQUEST_LENGTH = 1 + _FIELDS.size  # the length prefix of HASH REQUEST / HASH REJECT: 49
MAX_HASHES_LENGTH = REQUEST_LENGTH + HASH_SIZE * (MAX_HASH_COUNT + MAX_LAYER)
_NAMES = {m.HASH_REQUEST_ID: "HASH REQUEST", m.HASHES_ID: "HASHES", m.HASH_REJECT_ID: "HASH REJECT"}
_CLASSES = {m.HASH_REQUEST_ID: m.HashRequest, m.HASH_REJECT_ID: m.HashReject}
_IDS = {m.HashRequest: m.HASH_REQUEST_ID, m.Hashes: m.HASHES_ID, m.HashReject: m.HASH_REJECT_ID}


def check_hashes_length(length: int) -> None:
    """A HASHES length prefix (id byte included) that can hold whole hashes within the limits."""
    if not REQUEST_LENGTH <= length <= MAX_HASHES_LENGTH or (length - REQUEST_LENGTH) % HASH_SIZE:
        raise ProtocolError(f"HASHES message has length {length}: not 49 plus whole 32-byte hashes "
                            f"up to {MAX_HASHES_LENGTH}")


def _check_fields(name: str, base_layer: int, index: int, length: int, proof_layers: int) -> None:
    if not 1 <= length <= MAX_HASH_COUNT or length & (length - 1):
        raise ProtocolError(f"{name} length {length} is not a power of two from 1 to {MAX_HASH_COUNT}")
    if index % length:
        raise ProtocolError(f"{name} index {index} is not a multiple of its length {length}")
    if base_layer > MAX_LAYER or proof_layers > MAX_LAYER:
        raise ProtocolError(f"{name} layers {base_layer}/{proof_layers} are beyond {MAX_LAYER}")


def decode(msg_id: int, payload: memoryview | bytes) -> m.HashRequest | m.Hashes | m.HashReject:
    """The message whose payload (after the id byte) is ``payload``; its length was checked."""
    name = _NAMES[msg_id]
    root, base_layer, index, length, proof_layers = _FIELDS.unpack_from(payload, 0)
    _check_fields(name, base_layer, index, length, proof_layers)
    if msg_id != m.HASHES_ID:
        return _CLASSES[msg_id](root, base_layer, index, length, proof_layers)
    body = bytes(payload[_FIELDS.size :])
    count = len(body) // HASH_SIZE
    if not length <= count <= length + proof_layers:
        raise ProtocolError(f"HASHES carries {count} hashes for length {length} and {proof_layers} proof layers")
    hashes = tuple(body[i : i + HASH_SIZE] for i in range(0, len(body), HASH_SIZE))
    return m.Hashes(root, base_layer, index, length, proof_layers, hashes)


def encode(msg: m.HashRequest | m.Hashes | m.HashReject) -> bytes:
    """The wire bytes of one hash message."""
    msg_id = _IDS[type(msg)]
    if len(msg.pieces_root) != HASH_SIZE:
        raise ValueError("pieces_root must be 32 bytes")
    fields = _FIELDS.pack(msg.pieces_root, msg.base_layer, msg.index, msg.length, msg.proof_layers)
    body = b"".join(msg.hashes) if isinstance(msg, m.Hashes) else b""
    return _HEADER.pack(1 + len(fields) + len(body), msg_id) + fields + body
