"""BEP 9 (ut_metadata): the info dictionary passed between peers in 16 KiB pieces.

Three parts, one job each:
- the message format (``encode_metadata_message`` / ``decode_metadata_message``), pure;
- ``MetadataAssembler``: the pieces of one peer's copy, checked piece by piece and, once whole,
  against the info hash (``metainfo.parse_info(raw, expected_hash)``), pure;
- ``UtMetadata``: the extension a torrent runs to serve its own metadata to others.

Limits: a peer's announced ``metadata_size`` above ``MAX_METADATA_SIZE`` (16 MiB) is refused
before anything is requested; a data message must carry exactly the bytes its piece holds; a
request flood is rejected after ``serve_factor`` times the number of pieces (BEP 9's suggestion).
Unknown ``msg_type`` values are returned as ``MetadataUnknown`` for the caller to ignore (BEP 9:
"an unrecognized message ID MUST be ignored").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torrentish.formats import bencoding
from torrentish.errors import BencodeError, ProtocolError
from torrentish.formats.metainfo import Info, parse_info
from torrentish.wire.extension import UT_METADATA

__all__ = [
    "METADATA_PIECE_SIZE",
    "MAX_METADATA_SIZE",
    "MetadataRequest",
    "MetadataData",
    "MetadataReject",
    "MetadataUnknown",
    "encode_metadata_message",
    "decode_metadata_message",
    "piece_count",
    "piece_length",
    "MetadataAssembler",
    "UtMetadata",
]

METADATA_PIECE_SIZE = 16384
# Real info dictionaries are KiBs to a few MiB; libtorrent's own default cap is 30 MiB.
MAX_METADATA_SIZE = 16 * 1024 * 1024
# The most pieces any message may name: a metadata_size the extended handshake can carry at all.
MAX_PIECE_INDEX = bencoding.TORRENT_LIMITS.max_size // METADATA_PIECE_SIZE

REQUEST, DATA, REJECT = 0, 1, 2
# The dictionary in front of a data message's payload: three small integers and room for extras.
_HEADER_LIMITS = bencoding.Limits(max_size=4096, max_depth=4, max_items=64, max_int_digits=20)


@dataclass(frozen=True, slots=True)
class MetadataRequest:
    piece: int


@dataclass(frozen=True, slots=True)
class MetadataData:
    piece: int
    total_size: int  # the whole metadata, as in the handshake's metadata_size
    data: bytes


@dataclass(frozen=True, slots=True)
class MetadataReject:
    piece: int


@dataclass(frozen=True, slots=True)
class MetadataUnknown:
    msg_type: int  # a later BEP's message: ignored


MetadataMessage = MetadataRequest | MetadataData | MetadataReject | MetadataUnknown


def piece_count(size: int) -> int:
    """How many 16 KiB pieces metadata of ``size`` bytes has."""
    return -(-size // METADATA_PIECE_SIZE)


def piece_length(size: int, piece: int) -> int:
    """Bytes in ``piece`` of metadata of ``size`` bytes (the last one may be short)."""
    return min(METADATA_PIECE_SIZE, size - piece * METADATA_PIECE_SIZE)


def encode_metadata_message(message: MetadataMessage) -> bytes:
    """The payload of a ut_metadata EXTENDED message (after the extension id byte)."""
    if isinstance(message, MetadataRequest):
        return bencoding.encode({"msg_type": REQUEST, "piece": message.piece})
    if isinstance(message, MetadataReject):
        return bencoding.encode({"msg_type": REJECT, "piece": message.piece})
    if isinstance(message, MetadataData):
        header = {"msg_type": DATA, "piece": message.piece, "total_size": message.total_size}
        return bencoding.encode(header) + message.data
    raise TypeError(f"cannot encode {type(message).__name__}")


def _int_field(header: dict, key: bytes, low: int, high: int) -> int:
    value = header.get(key)
    if type(value) is not int:
        raise ProtocolError(f"ut_metadata message has no integer {key.decode()!r}")
    if not low <= value <= high:
        raise ProtocolError(f"ut_metadata {key.decode()} {value} is outside {low}..{high}")
    return value


def decode_metadata_message(payload: bytes) -> MetadataMessage:
    """Read a ut_metadata payload; raises ProtocolError for anything malformed."""
    try:
        header: Any
        header, end = bencoding.decode_prefix(payload, _HEADER_LIMITS)
    except BencodeError as error:
        raise ProtocolError(f"ut_metadata message: {error}") from None
    if not isinstance(header, dict):
        raise ProtocolError("ut_metadata message is not a dictionary")
    msg_type = header.get(b"msg_type")
    if type(msg_type) is not int:
        raise ProtocolError("ut_metadata message has no integer 'msg_type'")
    if msg_type not in (REQUEST, DATA, REJECT):
        return MetadataUnknown(msg_type)
    piece = _int_field(header, b"piece", 0, MAX_PIECE_INDEX)
    trailing = len(payload) - end
    if msg_type == DATA:
        total_size = _int_field(header, b"total_size", 1, bencoding.TORRENT_LIMITS.max_size)
        if trailing > METADATA_PIECE_SIZE:
            raise ProtocolError(f"ut_metadata data of {trailing} bytes is larger than a piece")
        return MetadataData(piece, total_size, bytes(payload[end:]))
    if trailing:
        raise ProtocolError(f"ut_metadata {'request' if msg_type == REQUEST else 'reject'} has {trailing} stray bytes")
    return MetadataRequest(piece) if msg_type == REQUEST else MetadataReject(piece)


class MetadataAssembler:
    """One peer's copy of the metadata, piece by piece; pure.

    ``next_requests(limit)`` names the pieces to ask for (keeping at most ``limit`` in flight),
    ``add(data)`` takes a data message, and once ``complete`` the ``info()`` is parsed and checked
    against the info hash - the only point where the bytes are trusted.
    """

    def __init__(self, info_hash: bytes, size: int, *, max_size: int = MAX_METADATA_SIZE):
        if not 1 <= size <= max_size:
            raise ProtocolError(f"metadata_size {size} is outside 1..{max_size}")
        self.info_hash = info_hash
        self.size = size
        self.count = piece_count(size)
        self._pieces: dict[int, bytes] = {}
        self._in_flight: set[int] = set()
        self._next = 0

    @property
    def complete(self) -> bool:
        return len(self._pieces) == self.count

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def next_requests(self, limit: int) -> list[int]:
        """Pieces to request now so that at most ``limit`` are outstanding."""
        out = []
        while self._next < self.count and len(self._in_flight) < limit:
            self._in_flight.add(self._next)
            out.append(self._next)
            self._next += 1
        return out

    def add(self, message: MetadataData) -> None:
        """Store a piece we asked for; ProtocolError if it is not what was asked."""
        piece = message.piece
        if message.total_size != self.size:
            raise ProtocolError(f"ut_metadata total_size {message.total_size} differs from metadata_size {self.size}")
        if piece not in self._in_flight:
            raise ProtocolError(f"ut_metadata piece {piece} was not requested")
        expected = piece_length(self.size, piece)
        if len(message.data) != expected:
            raise ProtocolError(f"ut_metadata piece {piece} has {len(message.data)} bytes, expected {expected}")
        self._in_flight.discard(piece)
        self._pieces[piece] = message.data

    def info(self) -> Info:
        """The verified info dictionary; MetainfoError when it does not hash to the info hash."""
        if not self.complete:
            raise ValueError("metadata is not complete")
        raw = b"".join(self._pieces[i] for i in range(self.count))
        return parse_info(raw, self.info_hash)


class UtMetadata:
    """The BEP 9 extension of a torrent that has its metadata: serves it, piece by piece.

    Private torrents (BEP 27) do not offer their metadata (no ``metadata_size``; requests are
    rejected), as libtorrent does. A peer gets at most ``serve_factor`` times the number of pieces
    before further requests are rejected.
    """

    name = UT_METADATA

    def __init__(self, *, serve_factor: int = 4):
        self.serve_factor = serve_factor
        self._served: dict[object, int] = {}  # peer -> pieces sent on this connection

    def handshake_fields(self, torrent: Any) -> dict:
        if torrent.info.private:
            return {}
        return {"metadata_size": len(torrent.info.raw)}

    def on_handshake(self, torrent: Any, peer: Any, handshake: Any) -> None:
        pass

    def on_message(self, torrent: Any, peer: Any, payload: bytes) -> None:
        message = decode_metadata_message(payload)
        if not isinstance(message, MetadataRequest):
            return  # we have the metadata: data and rejects from the peer change nothing
        raw = torrent.info.raw
        count = piece_count(len(raw))
        served = self._served.get(peer, 0)
        if torrent.info.private or message.piece >= count or served >= self.serve_factor * count:
            torrent.send_extended(peer, self.name, encode_metadata_message(MetadataReject(message.piece)))
            return
        self._served[peer] = served + 1
        begin = message.piece * METADATA_PIECE_SIZE
        data = raw[begin : begin + METADATA_PIECE_SIZE]
        torrent.send_extended(peer, self.name, encode_metadata_message(MetadataData(message.piece, len(raw), data)))

    def on_peer_closed(self, torrent: Any, peer: Any) -> None:
        self._served.pop(peer, None)
