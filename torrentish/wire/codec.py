"""The peer wire protocol as a sans-I/O codec: bytes in, messages out; messages in, bytes out.

``PeerCodec`` is shaped like h11's connection: ``receive_data(data)`` buffers bytes from the peer,
``events()`` returns every message complete so far (``[]`` means "need more data"). The first thing
a peer sends is the 68-byte handshake, then length-prefixed messages. Anything that breaks BEP 3,
5, 6 or 10 raises ``ProtocolError`` with a one-line reason, and the codec stays dead afterwards.

Limits keep memory bounded against a hostile peer: a length prefix longer than any message we
accept is rejected as soon as its 4 bytes arrive, and a prefix that is wrong for its message id as
soon as the id byte arrives - never after buffering the body. Per message id:

- fixed-size messages must have exactly their size (HAVE is 5 bytes, REQUEST 13, ...);
- PIECE carries 1..16 KiB; REQUEST, CANCEL and REJECT ask for 1..16 KiB;
- BITFIELD is exactly ceil(num_pieces / 8) bytes with zero spare bits once the torrent's geometry
  is known, and at most ``MAX_BITFIELD_BEFORE_GEOMETRY`` bytes before (a magnet without metadata);
- EXTENDED carries at most ``max_extended`` bytes; unknown ids are skipped (BEP 3 says ignore them)
  but bounded like a PIECE;
- HAVE ALL and HAVE NONE only as the peer's first message (keep-alive, EXTENDED and PORT
  may come before it: libtorrent, aria2 and Transmission send their extended handshake first);
  BITFIELD may come again later (aria2 sends one after HAVE NONE in place of HAVEs) and then
  replaces what the peer has;
- Fast-extension messages only when both handshakes set the Fast bit.
- HASH REQUEST and HASH REJECT (BEP 52) are exactly 49 bytes; HASHES is 49 bytes plus whole
  32-byte hashes, at least ``length`` of them and at most ``proof_layers`` more. In all three
  ``length`` is a power of two up to ``MAX_HASH_COUNT``, ``index`` a multiple of it, and the
  layers below 64 (wire/hash_messages.py).

Once ``set_geometry`` is called, piece indices and block spans are checked against the torrent.
Messages that arrived before it (a magnet link, or the same chunk as the handshake on an incoming
connection) are checked then: ``set_geometry`` raises ``ProtocolError`` if an earlier bitfield or
piece index does not fit. Block spans of earlier REQUEST/PIECE messages are only length-checked;
the engine has no data and no outstanding requests before it knows the geometry.

Speed matters: this is the hot path of a pure-Python client. A 1 MiB read holds dozens of PIECE
messages; they are parsed with ``struct.unpack_from`` at an offset into one buffer that the
socket reads into directly (``receive_buffer`` / ``received``; only the partial message left over
is moved before the next read). With ``block_views=True`` each PIECE's block is a memoryview into
that buffer, valid only until the next ``receive_*`` call: the engine copies it once, straight
into the piece being assembled. Without it, each block is copied into its own ``bytes``.
"""

from __future__ import annotations

from struct import Struct

from torrentish.errors import ProtocolError
from torrentish.wire import hash_messages
from torrentish.wire import messages as m

__all__ = [
    "PeerCodec", "BLOCK_SIZE_LIMIT", "MAX_EXTENDED", "MAX_BITFIELD_BEFORE_GEOMETRY", "encode",
    "encode_handshake", "encode_keepalive", "encode_have", "encode_request", "encode_piece_header",
]  # fmt: skip

BLOCK_SIZE_LIMIT = 16384  # BEP 3: "close connections which request an amount greater than that"
MAX_EXTENDED = 1024 * 1024  # default cap on an EXTENDED message (ut_metadata pieces are 16 KiB)
# Covers 2M pieces: more than any info dict TORRENT_LIMITS admits (32 MiB / 20 bytes per hash).
MAX_BITFIELD_BEFORE_GEOMETRY = 256 * 1024
_PIECE_MAX = 9 + BLOCK_SIZE_LIMIT  # id + index + begin + block
RECEIVE_SIZE = 1024 * 1024  # the most one read into the codec's buffer asks for
FIRST_OFFER = 16 * 1024  # the first read's room; doubled each time a read fills it

_U32 = Struct(">I")
_U32_U8 = Struct(">IB")
_TWO_U32 = Struct(">II")
_THREE_U32 = Struct(">III")
_U16 = Struct(">H")
_INDEX_MSG = Struct(">IBI")
_SPAN_MSG = Struct(">IBIII")
_PIECE_HEADER = Struct(">IBII")
_PORT_MSG = Struct(">IBH")
_EXTENDED_HEADER = Struct(">IBB")

_NAMES = {
    m.CHOKE_ID: "CHOKE", m.UNCHOKE_ID: "UNCHOKE", m.INTERESTED_ID: "INTERESTED",
    m.NOT_INTERESTED_ID: "NOT INTERESTED", m.HAVE_ID: "HAVE", m.BITFIELD_ID: "BITFIELD",
    m.REQUEST_ID: "REQUEST", m.PIECE_ID: "PIECE", m.CANCEL_ID: "CANCEL", m.PORT_ID: "PORT",
    m.SUGGEST_ID: "SUGGEST", m.HAVE_ALL_ID: "HAVE ALL", m.HAVE_NONE_ID: "HAVE NONE",
    m.REJECT_ID: "REJECT", m.ALLOWED_FAST_ID: "ALLOWED FAST", m.EXTENDED_ID: "EXTENDED",
    m.HASH_REQUEST_ID: "HASH REQUEST", m.HASHES_ID: "HASHES", m.HASH_REJECT_ID: "HASH REJECT",
}  # fmt: skip
# Length prefix (id byte included) of every fixed-size message.
_EXACT_LENGTH = {
    m.CHOKE_ID: 1, m.UNCHOKE_ID: 1, m.INTERESTED_ID: 1, m.NOT_INTERESTED_ID: 1, m.HAVE_ID: 5,
    m.REQUEST_ID: 13, m.CANCEL_ID: 13, m.PORT_ID: 3, m.SUGGEST_ID: 5, m.HAVE_ALL_ID: 1,
    m.HAVE_NONE_ID: 1, m.REJECT_ID: 13, m.ALLOWED_FAST_ID: 5,
    m.HASH_REQUEST_ID: hash_messages.REQUEST_LENGTH, m.HASH_REJECT_ID: hash_messages.REQUEST_LENGTH,
}  # fmt: skip
_NO_PAYLOAD = {
    m.CHOKE_ID: m.CHOKE, m.UNCHOKE_ID: m.UNCHOKE, m.INTERESTED_ID: m.INTERESTED,
    m.NOT_INTERESTED_ID: m.NOT_INTERESTED, m.HAVE_ALL_ID: m.HAVE_ALL, m.HAVE_NONE_ID: m.HAVE_NONE,
}  # fmt: skip
_AVAILABILITY_IDS = frozenset({m.BITFIELD_ID, m.HAVE_ALL_ID, m.HAVE_NONE_ID})
# Messages that may precede the availability message without closing its window.
_BEFORE_AVAILABILITY_IDS = frozenset({m.PORT_ID, m.EXTENDED_ID})


class PeerCodec:
    """Parses what one peer sends: its handshake, then its messages (receive side only).

    ``reserved`` is the 8 reserved bytes of *our* handshake; with the peer's, they decide which
    extensions are in force (``fast``, ``extensions``). ``max_extended`` caps EXTENDED messages.
    """

    def __init__(self, reserved: bytes, *, max_extended: int = MAX_EXTENDED,
                 block_views: bool = False) -> None:
        if len(reserved) != 8:
            raise ValueError("reserved must be 8 bytes")
        if max_extended < 2:
            raise ValueError("max_extended must be at least 2")
        # Our side of the negotiation; only its reserved-bit properties are used.
        self._ours = m.Handshake(bytes(reserved), bytes(20), bytes(20))
        self._max_extended = max_extended
        # Received bytes are _buf[_pos:_end]. The buffer is never resized in place (a block
        # view handed out may still point into it): it is compacted by moving the partial
        # message left over to the front, or replaced by a larger one.
        self._buf = bytearray()
        self._pos = 0
        self._end = 0
        self._offer = FIRST_OFFER  # the room receive_buffer offers next
        self._offered = 0
        # PIECE blocks as views into the receive buffer (see the module docstring).
        self.block_views = block_views
        self._error: ProtocolError | None = None
        self._handshake: m.Handshake | None = None
        self._fast = False
        self._extensions = False
        self._availability_open = True  # BITFIELD / HAVE ALL / HAVE NONE still allowed
        # Geometry; _num_pieces < 0 until set_geometry.
        self._num_pieces = -1
        self._piece_length = 0
        self._last_index = -1
        self._last_size = 0
        self._bitfield_length = MAX_BITFIELD_BEFORE_GEOMETRY + 1  # length prefix bound
        self._max_length = max(_PIECE_MAX, self._bitfield_length, max_extended, hash_messages.MAX_HASHES_LENGTH)
        # What arrived before the geometry, to be checked once it is known.
        self._early_bitfield: bytes | None = None
        self._early_max_index = -1

    # -- state --------------------------------------------------------------------------------

    @property
    def handshake(self) -> m.Handshake | None:
        """The peer's handshake, once received."""
        return self._handshake

    @property
    def fast(self) -> bool:
        """Both sides set the Fast extension bit (BEP 6)."""
        return self._fast

    @property
    def extensions(self) -> bool:
        """Both sides set the extension protocol bit (BEP 10)."""
        return self._extensions

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as messages (part of a message)."""
        return self._end - self._pos

    def set_geometry(self, num_pieces: int, piece_length: int, total_length: int, *, tail_padded: bool = False) -> None:
        """Check indices and spans from now on; raises ProtocolError if earlier messages don't fit.

        ``tail_padded``: the last piece may be asked for up to a whole piece length. libtorrent
        2.0.4 to 2.0.8 (qBittorrent 4.4, 4.5) pad the last file of a v2 torrent to a piece boundary
        and ask for the padding too; BEP 47 says such requests must be served (with zeros)."""
        if piece_length <= 0 or total_length < 0 or num_pieces != -(-total_length // piece_length):
            raise ValueError("inconsistent geometry")
        if self._num_pieces >= 0:
            if (num_pieces, piece_length) != (self._num_pieces, self._piece_length):
                raise ValueError("geometry already set to something else")
            return
        self._num_pieces = num_pieces
        self._piece_length = piece_length
        self._last_index = num_pieces - 1
        self._last_size = total_length - piece_length * (num_pieces - 1) if num_pieces else 0
        if tail_padded and num_pieces:
            self._last_size = piece_length
        self._bitfield_length = (num_pieces + 7) // 8 + 1
        self._max_length = max(_PIECE_MAX, self._bitfield_length, self._max_extended,
                               hash_messages.MAX_HASHES_LENGTH)
        early_bitfield, self._early_bitfield = self._early_bitfield, None
        try:
            if self._early_max_index >= num_pieces:
                raise ProtocolError(f"piece index {self._early_max_index} out of range")
            if early_bitfield is not None:
                if len(early_bitfield) + 1 != self._bitfield_length:
                    raise ProtocolError(f"BITFIELD is {len(early_bitfield)} bytes, wrong size")
                self._check_spare_bits(early_bitfield)
        except ProtocolError as error:
            self._die(error)
            raise

    # -- receiving ----------------------------------------------------------------------------

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Buffer bytes from the peer. Call ``events()`` after each chunk to keep memory bounded."""
        if self._error is not None:
            raise self._error
        n = len(data)
        if not n:
            return
        if self._pos == self._end and type(data) is bytes:
            # Nothing pending: parse the chunk where it is (no copy, and an idle connection
            # keeps no buffer). _make_room replaces it before anything is written into it.
            self._buf, self._pos, self._end = data, 0, n
            return
        self._make_room(n)
        self._buf[self._end : self._end + n] = data
        self._end += n

    def receive_buffer(self, size: int = RECEIVE_SIZE) -> memoryview:
        """Room for up to ``size`` bytes for a ``recv_into``; then call ``received(n)``.

        Receiving straight into the codec's buffer saves a copy of every byte (and an allocation
        per read) over ``receive_data``. The room offered starts small and doubles each time a
        read fills it (halves when reads use under a quarter), so a slow peer's connection never
        holds a large buffer.
        """
        if self._error is not None:
            raise self._error
        offer = min(size, self._offer)
        self._make_room(offer)
        self._offered = offer
        return memoryview(self._buf)[self._end : self._end + offer]

    def received(self, n: int) -> None:
        """``n`` bytes were written at the start of the view ``receive_buffer`` returned."""
        if not 0 <= n <= self._offered:
            raise ValueError(f"received {n} bytes into a buffer of {self._offered}")
        if n == self._offered:
            self._offer = min(self._offer * 2, RECEIVE_SIZE)
        elif n < self._offered // 4:
            self._offer = max(FIRST_OFFER, self._offer // 2)  # the peer slowed down
        self._offered = 0
        self._end += n

    def _make_room(self, n: int) -> None:
        """Room for ``n`` more bytes after ``_end``: the unparsed bytes (a partial message, at
        most one message long) are moved to the front when the tail is too short, into a new
        buffer when the buffer is. A connection's buffer is so bounded by the largest message
        plus one read plus a little, whatever the peer sends."""
        buf, pos, end = self._buf, self._pos, self._end
        writable = type(buf) is bytearray
        if writable and len(buf) - end >= n:
            return
        pending = end - pos
        # A copy, not a memmove: source and destination may overlap.
        leftover = bytes(memoryview(buf)[pos:end]) if pending else b""
        if not writable or pending + n > len(buf):
            buf = self._buf = bytearray(pending + n + FIRST_OFFER)
        buf[:pending] = leftover
        self._pos, self._end = 0, pending

    def events(self) -> list[m.Message]:
        """Every message complete so far, in order; ``[]`` means more data is needed."""
        if self._error is not None:
            raise self._error
        out: list[m.Message] = []
        try:
            if self._handshake is None and not self._parse_handshake(out):
                return out
            self._parse_messages(out)
        except ProtocolError as error:
            self._die(error)
            raise
        if self._pos == self._end:
            self._pos = self._end = 0
            if len(self._buf) > 4 * self._offer:  # a buffer grown for a burst that is over
                self._buf = bytearray()
        return out

    def _die(self, error: ProtocolError) -> None:
        self._error = error
        self._buf, self._pos, self._end = bytearray(), 0, 0
        self._early_bitfield = None

    def _parse_handshake(self, out: list[m.Message]) -> bool:
        buf, pos = self._buf, self._pos
        have = self._end - pos
        prefix = bytes(buf[pos : pos + min(have, len(m.PROTOCOL))])
        if prefix != m.PROTOCOL[: len(prefix)]:
            raise ProtocolError("not a BitTorrent handshake")
        if have < m.HANDSHAKE_LENGTH:
            return False
        reserved = bytes(buf[pos + 20 : pos + 28])
        info_hash = bytes(buf[pos + 28 : pos + 48])
        peer_id = bytes(buf[pos + 48 : pos + 68])
        self._pos = pos + m.HANDSHAKE_LENGTH
        handshake = m.Handshake(reserved, info_hash, peer_id)
        self._handshake = handshake
        self._fast = handshake.supports_fast and self._ours.supports_fast
        self._extensions = handshake.supports_extensions and self._ours.supports_extensions
        out.append(handshake)
        return True

    def _parse_messages(self, out: list[m.Message]) -> None:
        buf = self._buf
        end = self._end
        pos = self._pos
        view = memoryview(buf)
        unpack_length = _U32.unpack_from
        unpack_two = _TWO_U32.unpack_from
        unpack_three = _THREE_U32.unpack_from
        Request = m.Request
        max_length = self._max_length
        num_pieces = self._num_pieces
        piece_length, last_index, last_size = self._piece_length, self._last_index, self._last_size
        Piece = m.Piece
        views = self.block_views
        append = out.append
        try:
            while end - pos >= 4:
                length = unpack_length(buf, pos)[0]
                if length == 0:
                    append(m.KEEP_ALIVE)
                    pos += 4
                    continue
                if length > max_length:
                    raise ProtocolError(f"message length {length} exceeds the limit {max_length}")
                if end - pos < 5:
                    break
                msg_id = buf[pos + 4]
                if msg_id == 7 and 9 < length <= _PIECE_MAX:  # PIECE: the hot path, inlined
                    if end - pos - 4 < length:
                        break
                    index, begin = unpack_two(buf, pos + 5)
                    start = pos + 13
                    pos += 4 + length
                    if num_pieces >= 0:
                        size = last_size if index == last_index else piece_length
                        if index >= num_pieces or begin + length - 9 > size:
                            self._check_span("PIECE", index, begin, length - 9)
                    elif index > self._early_max_index:
                        self._early_max_index = index
                    self._availability_open = False
                    block = view[start:pos]
                    append(Piece(index, begin, block if views else bytes(block)))
                    continue
                if msg_id == 6 and length == 13 and num_pieces >= 0:  # REQUEST: the seed's hot path
                    if end - pos < 17:
                        break
                    index, begin, size = unpack_three(buf, pos + 5)
                    if not 0 < size <= BLOCK_SIZE_LIMIT or index >= num_pieces or begin + size > (
                        last_size if index == last_index else piece_length
                    ):
                        self._check_span("REQUEST", index, begin, size)
                    pos += 17
                    self._availability_open = False
                    append(Request(index, begin, size))
                    continue
                self._check_header(msg_id, length)
                if end - pos - 4 < length:
                    break
                message = self._decode(msg_id, buf, view, pos + 5, pos + 4 + length)
                pos += 4 + length
                if message is not None:
                    append(message)
        finally:
            view.release()
            self._pos = pos

    def _check_header(self, msg_id: int, length: int) -> None:
        """Everything that can be judged from the length prefix and id, before the body arrives."""
        name = _NAMES.get(msg_id)
        exact = _EXACT_LENGTH.get(msg_id)
        if exact is not None and length != exact:
            raise ProtocolError(f"{name} message has length {length}, expected {exact}")
        if msg_id == m.PIECE_ID:
            raise ProtocolError(f"PIECE message has length {length}, expected 10..{_PIECE_MAX}")
        if msg_id == m.BITFIELD_ID:
            if self._num_pieces >= 0 and length != self._bitfield_length:
                raise ProtocolError(
                    f"BITFIELD is {length - 1} bytes, expected {self._bitfield_length - 1} "
                    f"for {self._num_pieces} pieces"
                )
            if length > self._bitfield_length:
                raise ProtocolError(f"BITFIELD of {length - 1} bytes is too large")
        elif msg_id == m.EXTENDED_ID:
            if not 2 <= length <= self._max_extended:
                raise ProtocolError(f"EXTENDED message has length {length}, limit {self._max_extended}")
        elif msg_id == m.HASHES_ID:
            hash_messages.check_hashes_length(length)
        elif name is None and length > _PIECE_MAX:
            raise ProtocolError(f"unknown message {msg_id} has length {length}, limit {_PIECE_MAX}")
        if msg_id in m.FAST_IDS and not self._fast:
            raise ProtocolError(f"{name} message but the Fast extension was not negotiated")
        # aria2 sends HAVE NONE first and later a whole BITFIELD in place of HAVEs, and
        # libtorrent accepts that, so a late BITFIELD replaces the peer's pieces.
        if msg_id in _AVAILABILITY_IDS and msg_id != m.BITFIELD_ID and not self._availability_open:
            raise ProtocolError(f"{name} message is only allowed as the first message")

    def _decode(self, msg_id: int, buf, view: memoryview, start: int, end: int) -> m.Message | None:
        """The message whose payload is ``buf[start:end]``; its header was checked already."""
        if msg_id == m.EXTENDED_ID:
            return m.Extended(buf[start], bytes(view[start + 1 : end]))
        if msg_id == m.PORT_ID:
            return m.Port(_U16.unpack_from(buf, start)[0])
        if msg_id in hash_messages.IDS:  # BEP 52; they do not close the availability window either
            return hash_messages.decode(msg_id, view[start:end])
        if msg_id not in _NAMES:
            return None  # unknown: skipped, and it does not close the availability window
        self._availability_open = False
        fixed = _NO_PAYLOAD.get(msg_id)
        if fixed is not None:
            return fixed
        if msg_id == m.BITFIELD_ID:
            data = bytes(view[start:end])
            if self._num_pieces >= 0:
                self._check_spare_bits(data)
            else:
                self._early_bitfield = data
            return m.BitfieldMsg(data)
        if msg_id in (m.REQUEST_ID, m.CANCEL_ID, m.REJECT_ID):
            index, begin, length = _THREE_U32.unpack_from(buf, start)
            self._check_span(_NAMES[msg_id], index, begin, length)
            cls = m.Request if msg_id == m.REQUEST_ID else m.Cancel if msg_id == m.CANCEL_ID else m.Reject
            return cls(index, begin, length)
        index = _U32.unpack_from(buf, start)[0]  # HAVE, SUGGEST, ALLOWED FAST
        self._check_index(_NAMES[msg_id], index)
        cls = m.Have if msg_id == m.HAVE_ID else m.Suggest if msg_id == m.SUGGEST_ID else m.AllowedFast
        return cls(index)

    def _check_index(self, name: str, index: int) -> None:
        if self._num_pieces < 0:
            self._early_max_index = max(self._early_max_index, index)
        elif index >= self._num_pieces:
            raise ProtocolError(f"{name} for piece {index}, but the torrent has {self._num_pieces}")

    def _check_span(self, name: str, index: int, begin: int, length: int) -> None:
        if not 1 <= length <= BLOCK_SIZE_LIMIT:
            raise ProtocolError(f"{name} length {length} outside 1..{BLOCK_SIZE_LIMIT}")
        self._check_index(name, index)
        if self._num_pieces >= 0:
            size = self._last_size if index == self._last_index else self._piece_length
            if begin + length > size:
                raise ProtocolError(
                    f"{name} {index}:{begin}+{length} runs past the end of the piece ({size} bytes)"
                )

    def _check_spare_bits(self, data: bytes) -> None:
        used = self._num_pieces & 7
        if data and used and data[-1] & (0xFF >> used):
            raise ProtocolError("BITFIELD has spare bits set past the last piece")


# -- encoding ---------------------------------------------------------------------------------

_KEEPALIVE_BYTES = b"\x00\x00\x00\x00"


def encode_handshake(reserved: bytes, info_hash: bytes, peer_id: bytes) -> bytes:
    """The 68-byte handshake."""
    if len(reserved) != 8 or len(info_hash) != 20 or len(peer_id) != 20:
        raise ValueError("handshake needs 8 reserved bytes, a 20-byte info hash and peer id")
    return m.PROTOCOL + bytes(reserved) + bytes(info_hash) + bytes(peer_id)


def encode_keepalive() -> bytes:
    return _KEEPALIVE_BYTES


def encode_have(index: int) -> bytes:
    return _INDEX_MSG.pack(5, m.HAVE_ID, index)


def encode_request(index: int, begin: int, length: int) -> bytes:
    return _SPAN_MSG.pack(13, m.REQUEST_ID, index, begin, length)


def encode_piece_header(index: int, begin: int, length: int) -> bytes:
    """The 13 bytes that precede ``length`` bytes of block data in a PIECE message."""
    return _PIECE_HEADER.pack(9 + length, m.PIECE_ID, index, begin)


def _fixed(msg_id: int):
    data = _U32_U8.pack(1, msg_id)
    return lambda msg: data


def _span(msg_id: int):
    return lambda msg: _SPAN_MSG.pack(13, msg_id, msg.index, msg.begin, msg.length)


def _indexed(msg_id: int):
    return lambda msg: _INDEX_MSG.pack(5, msg_id, msg.index)


_ENCODERS = {
    m.Handshake: lambda msg: encode_handshake(msg.reserved, msg.info_hash, msg.peer_id),
    m.KeepAlive: lambda msg: _KEEPALIVE_BYTES,
    m.Choke: _fixed(m.CHOKE_ID),
    m.Unchoke: _fixed(m.UNCHOKE_ID),
    m.Interested: _fixed(m.INTERESTED_ID),
    m.NotInterested: _fixed(m.NOT_INTERESTED_ID),
    m.Have: _indexed(m.HAVE_ID),
    m.BitfieldMsg: lambda msg: _U32_U8.pack(1 + len(msg.data), m.BITFIELD_ID) + msg.data,
    m.Request: _span(m.REQUEST_ID),
    m.Piece: lambda msg: encode_piece_header(msg.index, msg.begin, len(msg.block)) + msg.block,
    m.Cancel: _span(m.CANCEL_ID),
    m.Port: lambda msg: _PORT_MSG.pack(3, m.PORT_ID, msg.port),
    m.Suggest: _indexed(m.SUGGEST_ID),
    m.HaveAll: _fixed(m.HAVE_ALL_ID),
    m.HaveNone: _fixed(m.HAVE_NONE_ID),
    m.Reject: _span(m.REJECT_ID),
    m.AllowedFast: _indexed(m.ALLOWED_FAST_ID),
    m.HashRequest: hash_messages.encode,
    m.Hashes: hash_messages.encode,
    m.HashReject: hash_messages.encode,
    m.Extended: lambda msg: (
        _EXTENDED_HEADER.pack(2 + len(msg.payload), m.EXTENDED_ID, msg.ext_id) + msg.payload
    ),
}


def encode(msg: m.Message) -> bytes:
    """The wire bytes of one message (the handshake included)."""
    encoder = _ENCODERS.get(type(msg))
    if encoder is None:
        raise TypeError(f"not a peer wire message: {msg!r}")
    return encoder(msg)
