"""The peer wire messages (BEP 3, 5, 6, 10, 52), one frozen dataclass each.

These are plain values: the codec builds them from bytes after checking every field against the
protocol's limits, and ``codec.encode`` turns them back into bytes. Constructing one does no
validation of its own, because the codec builds thousands of ``Piece`` objects per second and the
checks that matter (index in range, block within its piece) need the torrent's geometry anyway.

Messages without fields are compared by type, so ``Choke() == CHOKE``; the module-level instances
exist so the codec does not allocate a new object for each of them.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "PROTOCOL",
    "HANDSHAKE_LENGTH",
    "make_reserved",
    "Handshake",
    "KeepAlive",
    "Choke",
    "Unchoke",
    "Interested",
    "NotInterested",
    "Have",
    "BitfieldMsg",
    "Request",
    "Piece",
    "Cancel",
    "Port",
    "Suggest",
    "HaveAll",
    "HaveNone",
    "Reject",
    "AllowedFast",
    "Extended",
    "HashRequest",
    "Hashes",
    "HashReject",
    "Message",
    "KEEP_ALIVE",
    "CHOKE",
    "UNCHOKE",
    "INTERESTED",
    "NOT_INTERESTED",
    "HAVE_ALL",
    "HAVE_NONE",
]

# The handshake: <19><"BitTorrent protocol"><8 reserved><20 info hash><20 peer id>.
PROTOCOL = b"\x13BitTorrent protocol"
HANDSHAKE_LENGTH = 68

# Message ids (the byte after the length prefix).
CHOKE_ID = 0
UNCHOKE_ID = 1
INTERESTED_ID = 2
NOT_INTERESTED_ID = 3
HAVE_ID = 4
BITFIELD_ID = 5
REQUEST_ID = 6
PIECE_ID = 7
CANCEL_ID = 8
PORT_ID = 9  # BEP 5 (DHT)
SUGGEST_ID = 13  # BEP 6 (Fast extension) from here to ALLOWED_FAST_ID
HAVE_ALL_ID = 14
HAVE_NONE_ID = 15
REJECT_ID = 16
ALLOWED_FAST_ID = 17
EXTENDED_ID = 20  # BEP 10
HASH_REQUEST_ID = 21  # BEP 52, to HASH_REJECT_ID
HASHES_ID = 22
HASH_REJECT_ID = 23

FAST_IDS = frozenset({SUGGEST_ID, HAVE_ALL_ID, HAVE_NONE_ID, REJECT_ID, ALLOWED_FAST_ID})

# Reserved-byte flags: (byte index, bit mask).
EXTENSION_PROTOCOL_BIT = (5, 0x10)  # BEP 10
FAST_BIT = (7, 0x04)  # BEP 6
DHT_BIT = (7, 0x01)  # BEP 5
V2_BIT = (7, 0x10)  # BEP 52: "I also speak v2"; a hybrid's peer may then answer with the v2 hash


def make_reserved(extensions: bool = True, fast: bool = True, dht: bool = False, v2: bool = False) -> bytes:
    """The 8 reserved handshake bytes advertising the given features."""
    reserved = bytearray(8)
    for wanted, (byte, mask) in (
        (extensions, EXTENSION_PROTOCOL_BIT),
        (fast, FAST_BIT),
        (dht, DHT_BIT),
        (v2, V2_BIT),
    ):
        if wanted:
            reserved[byte] |= mask
    return bytes(reserved)


def _has_bit(reserved: bytes, flag: tuple[int, int]) -> bool:
    byte, mask = flag
    return len(reserved) == 8 and bool(reserved[byte] & mask)


@dataclass(frozen=True, slots=True)
class Handshake:
    reserved: bytes  # 8 bytes of feature flags
    info_hash: bytes  # 20 bytes
    peer_id: bytes  # 20 bytes

    make_reserved = staticmethod(make_reserved)  # so Handshake.make_reserved(...) works too

    @property
    def supports_extensions(self) -> bool:
        """BEP 10 extension protocol: reserved[5] & 0x10."""
        return _has_bit(self.reserved, EXTENSION_PROTOCOL_BIT)

    @property
    def supports_fast(self) -> bool:
        """BEP 6 Fast extension: reserved[7] & 0x04."""
        return _has_bit(self.reserved, FAST_BIT)

    @property
    def supports_dht(self) -> bool:
        """BEP 5 DHT: reserved[7] & 0x01."""
        return _has_bit(self.reserved, DHT_BIT)

    @property
    def supports_v2(self) -> bool:
        """BEP 52 upgrade: reserved[7] & 0x10."""
        return _has_bit(self.reserved, V2_BIT)


@dataclass(frozen=True, slots=True)
class KeepAlive:
    pass


@dataclass(frozen=True, slots=True)
class Choke:
    pass


@dataclass(frozen=True, slots=True)
class Unchoke:
    pass


@dataclass(frozen=True, slots=True)
class Interested:
    pass


@dataclass(frozen=True, slots=True)
class NotInterested:
    pass


@dataclass(frozen=True, slots=True)
class Have:
    index: int


@dataclass(frozen=True, slots=True)
class BitfieldMsg:
    data: bytes  # raw wire bytes; core.bitfield.Bitfield(num_pieces, data) reads them


@dataclass(frozen=True, slots=True)
class Request:
    index: int
    begin: int
    length: int


@dataclass(frozen=True, slots=True)
class Piece:
    index: int
    begin: int
    block: bytes


@dataclass(frozen=True, slots=True)
class Cancel:
    index: int
    begin: int
    length: int


@dataclass(frozen=True, slots=True)
class Port:
    port: int  # the peer's DHT port (BEP 5)


@dataclass(frozen=True, slots=True)
class Suggest:
    index: int


@dataclass(frozen=True, slots=True)
class HaveAll:
    pass


@dataclass(frozen=True, slots=True)
class HaveNone:
    pass


@dataclass(frozen=True, slots=True)
class Reject:
    index: int
    begin: int
    length: int


@dataclass(frozen=True, slots=True)
class AllowedFast:
    index: int


@dataclass(frozen=True, slots=True)
class Extended:
    ext_id: int  # 0 = extended handshake; otherwise an id from an 'm' dictionary (BEP 10)
    payload: bytes


@dataclass(frozen=True, slots=True)
class HashRequest:
    """BEP 52: ``length`` hashes from ``index`` of layer ``base_layer`` (0 = leaves) of the tree with
    root ``pieces_root``, with the uncle hashes of ``proof_layers`` layers above them."""

    pieces_root: bytes  # 32 bytes
    base_layer: int
    index: int
    length: int
    proof_layers: int


@dataclass(frozen=True, slots=True)
class Hashes:
    """The answer to a HashRequest: the requested hashes, then the uncles from the lowest up."""

    pieces_root: bytes
    base_layer: int
    index: int
    length: int
    proof_layers: int
    hashes: tuple[bytes, ...]  # length base-layer hashes followed by the uncle hashes


@dataclass(frozen=True, slots=True)
class HashReject:
    """A HashRequest that will not be answered (same fields)."""

    pieces_root: bytes
    base_layer: int
    index: int
    length: int
    proof_layers: int


Message = (
    Handshake
    | KeepAlive
    | Choke
    | Unchoke
    | Interested
    | NotInterested
    | Have
    | BitfieldMsg
    | Request
    | Piece
    | Cancel
    | Port
    | Suggest
    | HaveAll
    | HaveNone
    | Reject
    | AllowedFast
    | Extended
    | HashRequest
    | Hashes
    | HashReject
)

KEEP_ALIVE = KeepAlive()
CHOKE = Choke()
UNCHOKE = Unchoke()
INTERESTED = Interested()
NOT_INTERESTED = NotInterested()
HAVE_ALL = HaveAll()
HAVE_NONE = HaveNone()
