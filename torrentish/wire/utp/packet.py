"""uTP packet header codec (BEP 29, version 1) and the selective-ack extension.

Header, 20 bytes, big-endian: type (high nibble) | version (low nibble), first extension type,
connection id (16), timestamp in microseconds (32), timestamp difference (32), receive window
(32), seq_nr (16), ack_nr (16). Extensions follow as (next type, length, body) links.

The selective-ack body is a bitmask, a multiple of 4 bytes when we send it (any length is taken): bit i (least significant bit of each
byte first) says packet ``ack_nr + 2 + i`` arrived; ``ack_nr + 1`` is missing by definition.
"""

from __future__ import annotations

from struct import Struct

from torrentish.errors import ProtocolError

ST_DATA, ST_FIN, ST_STATE, ST_RESET, ST_SYN = 0, 1, 2, 3, 4
TYPE_NAMES = ("DATA", "FIN", "STATE", "RESET", "SYN")
VERSION = 1
HEADER_SIZE = 20
EXT_SACK = 1
MAX_SACK_BYTES = 32  # 256 packets past ack_nr + 1: more than any reorder window we keep
SEQ_MASK = 0xFFFF
TS_MASK = 0xFFFFFFFF

_HEADER = Struct(">BBHIIIHH")


class UtpPacketError(ProtocolError):
    """A datagram is not a well-formed uTP v1 packet."""


class Packet:
    """One decoded packet. ``payload`` is a memoryview into the datagram (no copy)."""

    __slots__ = ("type", "conn_id", "timestamp", "timestamp_diff", "wnd", "seq", "ack", "sack", "payload")

    def __init__(self, type_, conn_id, timestamp, timestamp_diff, wnd, seq, ack, sack, payload):
        self.type = type_
        self.conn_id = conn_id
        self.timestamp = timestamp
        self.timestamp_diff = timestamp_diff
        self.wnd = wnd
        self.seq = seq
        self.ack = ack
        self.sack = sack  # bytes of the selective-ack bitmask, or None
        self.payload = payload

    def __repr__(self) -> str:
        return (f"Packet({TYPE_NAMES[self.type]} id={self.conn_id} seq={self.seq} ack={self.ack} "
                f"wnd={self.wnd} len={len(self.payload)} sack={self.sack!r})")


def looks_like_utp(data: bytes) -> bool:
    """First-byte test a shared UDP socket uses (version 1, a known type)."""
    return len(data) >= HEADER_SIZE and data[0] & 0x0F == VERSION and data[0] >> 4 <= ST_SYN


def decode(data: bytes | memoryview) -> Packet:
    if len(data) < HEADER_SIZE:
        raise UtpPacketError(f"uTP packet of {len(data)} bytes is shorter than its header")
    first, ext, conn_id, ts, ts_diff, wnd, seq, ack = _HEADER.unpack_from(data)
    if first & 0x0F != VERSION:
        raise UtpPacketError(f"uTP version {first & 0x0F} is not 1")
    type_ = first >> 4
    if type_ > ST_SYN:
        raise UtpPacketError(f"uTP packet type {type_} is unknown")
    offset = HEADER_SIZE
    sack = None
    hops = 0
    while ext:
        if offset + 2 > len(data):
            raise UtpPacketError("uTP extension header runs past the packet")
        hops += 1
        if hops > 8:
            raise UtpPacketError("uTP packet has too many extensions")
        nxt, length = data[offset], data[offset + 1]
        offset += 2
        if offset + length > len(data):
            raise UtpPacketError("uTP extension runs past the packet")
        if ext == EXT_SACK and length:
            # BEP 29 says a multiple of 4 bytes; libtorrent sends other lengths too (11 bytes
            # seen), and dropping its packets for that would stall the connection.
            sack = bytes(data[offset : offset + min(length, MAX_SACK_BYTES)])
        offset += length
        ext = nxt
    payload = memoryview(data)[offset:]
    return Packet(type_, conn_id, ts, ts_diff, wnd, seq, ack, sack, payload)


def encode_header(type_: int, conn_id: int, timestamp: int, timestamp_diff: int, wnd: int,
                  seq: int, ack: int, sack: bytes | None = None) -> bytes:
    """The header (and the selective-ack extension when given); the payload goes after it."""
    if sack is None:
        return _HEADER.pack((type_ << 4) | VERSION, 0, conn_id, timestamp & TS_MASK,
                            timestamp_diff & TS_MASK, wnd, seq & SEQ_MASK, ack & SEQ_MASK)
    return _HEADER.pack((type_ << 4) | VERSION, EXT_SACK, conn_id, timestamp & TS_MASK,
                        timestamp_diff & TS_MASK, wnd, seq & SEQ_MASK,
                        ack & SEQ_MASK) + bytes((0, len(sack))) + sack


def seq_less(a: int, b: int) -> bool:
    """a comes before b on the 16-bit sequence circle."""
    return a != b and ((b - a) & SEQ_MASK) < 0x8000


def seq_distance(a: int, b: int) -> int:
    """How many steps from a forward to b (0..65535)."""
    return (b - a) & SEQ_MASK


def sack_bits(sack: bytes) -> list[int]:
    """Offsets i (packet ack_nr + 2 + i) the bitmask says arrived."""
    out = []
    for byte_index, byte in enumerate(sack):
        while byte:
            low = byte & -byte
            out.append(byte_index * 8 + low.bit_length() - 1)
            byte ^= low
    return out


def make_sack(offsets, length_bits: int) -> bytes:
    """A bitmask of ``length_bits`` (rounded up to 32) with the given offsets set."""
    size = min(MAX_SACK_BYTES, max(4, (length_bits + 31) // 32 * 4))
    mask = bytearray(size)
    for i in offsets:
        if i < size * 8:
            mask[i >> 3] |= 1 << (i & 7)
    return bytes(mask)
