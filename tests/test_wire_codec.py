"""PeerCodec and the encoders: byte-exact wire forms, every limit, splitting, and hostile input."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from torrentish.errors import ProtocolError
from torrentish.wire import codec
from torrentish.wire.codec import PeerCodec, encode, encode_handshake
from torrentish.wire.messages import (
    AllowedFast,
    BitfieldMsg,
    Cancel,
    Choke,
    Extended,
    Handshake,
    Have,
    HaveAll,
    HaveNone,
    Interested,
    KeepAlive,
    NotInterested,
    Piece,
    Port,
    Reject,
    Request,
    Suggest,
    Unchoke,
    make_reserved,
)

OURS = make_reserved(extensions=True, fast=True)
INFO_HASH = bytes(range(20))
PEER_ID = b"-qB4650-abcdefghijkl"
# 5 pieces of 32 KiB, the last one 1000 bytes.
NUM_PIECES, PIECE_LENGTH, TOTAL = 5, 32768, 4 * 32768 + 1000
GEOMETRY = (NUM_PIECES, PIECE_LENGTH, TOTAL)


def piece_size(index):
    return 1000 if index == NUM_PIECES - 1 else PIECE_LENGTH


def peer_handshake(fast=True, extensions=True):
    return encode_handshake(make_reserved(extensions=extensions, fast=fast), INFO_HASH, PEER_ID)


def connected(fast=True, geometry=True, ours=OURS, **kwargs):
    """A codec that has received the peer's handshake."""
    c = PeerCodec(ours, **kwargs)
    if geometry:
        c.set_geometry(*GEOMETRY)
    c.receive_data(peer_handshake(fast=fast))
    [handshake] = c.events()
    assert isinstance(handshake, Handshake)
    return c


def parse(data, **kwargs):
    c = connected(**kwargs)
    c.receive_data(data)
    return c.events()


def rejects(data, match, **kwargs):
    with pytest.raises(ProtocolError, match=match):
        parse(data, **kwargs)


def feed_in_pieces(c, data, cuts):
    out = []
    last = 0
    for cut in [*cuts, len(data)]:
        c.receive_data(data[last:cut])
        out += c.events()
        last = cut
    return out


# -- byte-exact forms (BEP 3, 5, 6, 10) -----------------------------------------------------------

WIRE_FORMS = [
    (KeepAlive(), "00000000"),
    (Choke(), "00000001 00"),
    (Unchoke(), "00000001 01"),
    (Interested(), "00000001 02"),
    (NotInterested(), "00000001 03"),
    (Have(3), "00000005 04 00000003"),
    (Request(1, 16384, 16384), "0000000d 06 00000001 00004000 00004000"),
    (Piece(4, 0, b"abc"), "0000000c 07 00000004 00000000 616263"),
    (Cancel(1, 16384, 16384), "0000000d 08 00000001 00004000 00004000"),
    (Port(6881), "00000003 09 1ae1"),
    (Suggest(2), "00000005 0d 00000002"),
    (Reject(3, 0, 100), "0000000d 10 00000003 00000000 00000064"),
    (AllowedFast(3), "00000005 11 00000003"),
    (Extended(0, b"de"), "00000004 14 00 6465"),
]
FIRST_ONLY_FORMS = [
    (BitfieldMsg(b"\xa8"), "00000002 05 a8"),
    (HaveAll(), "00000001 0e"),
    (HaveNone(), "00000001 0f"),
]


def test_handshake_bytes():
    data = encode_handshake(OURS, INFO_HASH, PEER_ID)
    assert data == b"\x13BitTorrent protocol" + bytes.fromhex("0000000000100004") + INFO_HASH + PEER_ID
    assert len(data) == 68
    assert encode(Handshake(OURS, INFO_HASH, PEER_ID)) == data
    c = PeerCodec(OURS)
    c.receive_data(data)
    [handshake] = c.events()
    assert handshake == Handshake(OURS, INFO_HASH, PEER_ID)
    assert handshake.supports_extensions and handshake.supports_fast and not handshake.supports_dht


def test_reserved_bits():
    assert make_reserved(extensions=True, fast=False, dht=False) == bytes.fromhex("0000000000100000")
    assert make_reserved(extensions=False, fast=True, dht=True) == bytes.fromhex("0000000000000005")
    assert Handshake(make_reserved(False, False, True), INFO_HASH, PEER_ID).supports_dht
    assert Handshake.make_reserved(extensions=True, fast=True) == OURS


@pytest.mark.parametrize("message,hex_form", WIRE_FORMS + FIRST_ONLY_FORMS)
def test_encode_and_decode_byte_exact(message, hex_form):
    wire = bytes.fromhex(hex_form.replace(" ", ""))
    assert encode(message) == wire
    assert parse(wire) == [message]


def test_fast_path_encoders_match_encode():
    assert codec.encode_request(1, 2, 3) == encode(Request(1, 2, 3))
    assert codec.encode_have(7) == encode(Have(7))
    assert codec.encode_keepalive() == encode(KeepAlive())
    header = codec.encode_piece_header(3, 16384, 5)
    assert len(header) == 13 and header + b"hello" == encode(Piece(3, 16384, b"hello"))


def test_encoder_misuse_is_our_bug():
    with pytest.raises(TypeError):
        encode("choke")
    with pytest.raises(ValueError):
        encode_handshake(OURS, b"short", PEER_ID)
    with pytest.raises(ValueError):
        PeerCodec(b"\x00" * 7)


# -- negotiation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ours,theirs,fast,extensions",
    [
        (make_reserved(True, True), make_reserved(True, True), True, True),
        (make_reserved(True, False), make_reserved(True, True), False, True),
        (make_reserved(False, True), make_reserved(True, True), True, False),
        (make_reserved(True, True), make_reserved(False, False), False, False),
    ],
)
def test_features_need_both_sides(ours, theirs, fast, extensions):
    c = PeerCodec(ours)
    assert (c.fast, c.extensions, c.handshake) == (False, False, None)
    c.receive_data(encode_handshake(theirs, INFO_HASH, PEER_ID))
    c.events()
    assert (c.fast, c.extensions) == (fast, extensions)
    assert c.handshake.reserved == theirs


# -- handshake errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.1\r\n",
        b"\x13BitTorrent protocoX",
        b"\x13BitTorrent Protocol",
        b"\x14BitTorrent protocol",
        b"\x00",
    ],
)
def test_garbage_handshake_is_rejected_early(data):
    c = PeerCodec(OURS)
    c.receive_data(data)  # fewer than 68 bytes: rejected as soon as a byte is wrong
    with pytest.raises(ProtocolError, match="^not a BitTorrent handshake$"):
        c.events()


def test_handshake_in_parts_then_messages_in_same_chunk():
    c = PeerCodec(OURS)
    data = peer_handshake() + encode(HaveNone()) + encode(Interested())
    c.receive_data(data[:30])
    assert c.events() == [] and c.buffered == 30
    c.receive_data(data[30:])
    assert [type(e) for e in c.events()] == [Handshake, HaveNone, Interested]
    assert c.buffered == 0


# -- limits ---------------------------------------------------------------------------------------


def test_oversized_prefix_rejected_at_the_prefix():
    c = connected()
    c.receive_data(b"\x7f\xff\xff\xff")  # only the prefix: nothing of the body is ever buffered
    with pytest.raises(ProtocolError, match="exceeds the limit"):
        c.events()


def test_limit_follows_max_extended():
    c = connected(max_extended=100)
    c.receive_data((codec.hash_messages.MAX_HASHES_LENGTH + 1).to_bytes(4, "big"))  # the longest kind
    with pytest.raises(ProtocolError, match="exceeds the limit"):
        c.events()
    rejects(encode(Extended(1, b"x" * 99)), "EXTENDED message has length 101", max_extended=100)
    assert parse(encode(Extended(1, b"x" * 98)), max_extended=100) == [Extended(1, b"x" * 98)]


@pytest.mark.parametrize(
    "header,match",
    [
        ("00000006 04", "HAVE message has length 6, expected 5"),
        ("00000002 00", "CHOKE message has length 2, expected 1"),
        ("0000000c 06", "REQUEST message has length 12, expected 13"),
        ("00000011 08", "CANCEL message has length 17"),
        ("00000004 09", "PORT message has length 4"),
        ("00004100 07", "PIECE message has length 16640"),
        ("00000009 07", "PIECE message has length 9"),
        ("00000001 14", "EXTENDED message has length 1"),
        ("00000003 05", "BITFIELD is 2 bytes, expected 1 for 5 pieces"),
        ("0000ffff 63", "unknown message 99 has length 65535"),
    ],
)
def test_wrong_length_for_id_rejected_before_the_body(header, match):
    rejects(bytes.fromhex(header.replace(" ", "")), match)


@pytest.mark.parametrize(
    "message,match",
    [
        (Request(0, 0, 16385), "REQUEST length 16385 outside 1..16384"),
        (Request(0, 0, 0), "REQUEST length 0"),
        (Cancel(0, 0, 16385), "CANCEL length 16385"),
        (Reject(0, 0, 0), "REJECT length 0"),
        (Request(4, 0, 1001), "runs past the end of the piece \\(1000 bytes\\)"),
        (Request(0, PIECE_LENGTH - 100, 200), "REQUEST 0:32668\\+200 runs past"),
        (Cancel(4, 999, 2), "runs past"),
        (Reject(4, 1000, 1), "runs past"),
        (Reject(1, 0xFFFFFFFF, 16384), "runs past"),
        (Piece(4, 500, b"x" * 600), "PIECE 4:500\\+600 runs past"),
        (Piece(0, PIECE_LENGTH, b"x"), "runs past"),
        (Have(5), "HAVE for piece 5, but the torrent has 5"),
        (Have(0xFFFFFFFF), "HAVE for piece 4294967295"),
        (Request(5, 0, 1), "REQUEST for piece 5"),
        (Piece(5, 0, b"x"), "PIECE for piece 5"),
        (Suggest(9), "SUGGEST for piece 9"),
        (AllowedFast(5), "ALLOWED FAST for piece 5"),
        (Cancel(7, 0, 1), "CANCEL for piece 7"),
    ],
)
def test_indices_and_spans_checked_against_geometry(message, match):
    rejects(encode(message), match)


def test_spans_at_the_edges_are_accepted():
    messages = [
        Request(4, 0, 1000),
        Request(0, PIECE_LENGTH - 16384, 16384),
        Piece(4, 999, b"x"),
        Piece(3, PIECE_LENGTH - 16384, b"y" * 16384),
        Have(4),
        Reject(4, 0, 1000),
    ]
    assert parse(b"".join(map(encode, messages))) == messages


def test_bitfield_spare_bits_rejected():
    rejects(encode(BitfieldMsg(b"\xfc")), "spare bits")
    assert parse(encode(BitfieldMsg(b"\xf8"))) == [BitfieldMsg(b"\xf8")]


@pytest.mark.parametrize("message", [Suggest(1), HaveAll(), HaveNone(), Reject(0, 0, 1), AllowedFast(1)])
def test_fast_messages_need_fast_negotiated(message):
    rejects(encode(message), "Fast extension was not negotiated", fast=False)
    rejects(encode(message), "Fast extension was not negotiated", ours=make_reserved(fast=False))


@pytest.mark.parametrize("first", [Interested(), Have(1), BitfieldMsg(b"\x80"), HaveAll(), HaveNone()])
@pytest.mark.parametrize("late", [HaveAll(), HaveNone()])
def test_have_all_and_none_only_as_first_message(first, late):
    rejects(encode(first) + encode(late), "only allowed as the first message")


@pytest.mark.parametrize("first", [HaveNone(), Have(1), BitfieldMsg(b"\x80")])
def test_a_late_bitfield_is_accepted(first):
    # aria2 sends HAVE NONE, then after a few pieces a whole BITFIELD instead of HAVEs.
    assert parse(encode(first) + encode(BitfieldMsg(b"\xc0")))[-1] == BitfieldMsg(b"\xc0")


def test_extended_port_keepalive_and_unknown_may_precede_the_bitfield():
    # libtorrent, aria2 and Transmission send their extended handshake before the bitfield.
    unknown = bytes.fromhex("00000003 63 abcd".replace(" ", ""))
    data = b"".join(map(encode, [Extended(0, b"de"), KeepAlive(), Port(1)])) + unknown
    events = parse(data + encode(BitfieldMsg(b"\x80")))
    assert events == [Extended(0, b"de"), KeepAlive(), Port(1), BitfieldMsg(b"\x80")]


def test_unknown_messages_are_skipped():
    unknown = bytes.fromhex("00000005 18 01020304".replace(" ", ""))  # 24: after BEP 52's 21-23
    assert parse(encode(Interested()) + unknown + encode(Choke())) == [Interested(), Choke()]


def test_codec_stays_dead_after_an_error():
    c = connected()
    c.receive_data(encode(Have(99)))
    with pytest.raises(ProtocolError) as first:
        c.events()
    with pytest.raises(ProtocolError) as again:
        c.events()
    assert again.value is first.value
    with pytest.raises(ProtocolError):
        c.receive_data(encode(Choke()))


# -- before the geometry is known (magnet links) --------------------------------------------------


def test_bitfield_before_geometry_checked_when_geometry_arrives():
    c = connected(geometry=False)
    c.receive_data(encode(BitfieldMsg(b"\xf8")) + encode(Have(4)))
    assert c.events() == [BitfieldMsg(b"\xf8"), Have(4)]
    c.set_geometry(*GEOMETRY)
    c.receive_data(encode(Have(5)))
    with pytest.raises(ProtocolError, match="HAVE for piece 5"):
        c.events()


@pytest.mark.parametrize(
    "message,match",
    [
        (BitfieldMsg(b"\xf8\x00"), "BITFIELD is 2 bytes, wrong size"),
        (BitfieldMsg(b"\xfc"), "spare bits"),
        (Have(5), "piece index 5 out of range"),
        (Piece(17, 0, b"x"), "piece index 17 out of range"),
        (AllowedFast(1000), "piece index 1000 out of range"),
    ],
)
def test_early_messages_that_do_not_fit_fail_set_geometry(message, match):
    c = connected(geometry=False)
    c.receive_data(encode(message))
    assert c.events() == [message]
    with pytest.raises(ProtocolError, match=match):
        c.set_geometry(*GEOMETRY)
    with pytest.raises(ProtocolError):
        c.events()


def test_bitfield_before_geometry_is_bounded():
    c = connected(geometry=False)
    c.receive_data((codec.MAX_BITFIELD_BEFORE_GEOMETRY + 2).to_bytes(4, "big") + b"\x05")
    with pytest.raises(ProtocolError, match="too large"):
        c.events()


def test_set_geometry_misuse_is_our_bug():
    c = PeerCodec(OURS)
    with pytest.raises(ValueError):
        c.set_geometry(4, PIECE_LENGTH, TOTAL)
    c.set_geometry(*GEOMETRY)
    c.set_geometry(*GEOMETRY)  # the same again is harmless
    with pytest.raises(ValueError):
        c.set_geometry(3, 65536, 3 * 65536)


# -- buffering ------------------------------------------------------------------------------------


def test_blocks_are_bytes_whatever_the_input_type():
    c = connected()
    data = encode(Piece(0, 0, b"a" * 100)) + encode(Piece(0, 100, b"b" * 100))
    c.receive_data(bytearray(data[:150]))  # a partial message stays buffered
    c.receive_data(memoryview(data[150:]))
    events = c.events()
    assert events == [Piece(0, 0, b"a" * 100), Piece(0, 100, b"b" * 100)]
    assert all(type(e.block) is bytes for e in events)


def test_input_buffers_are_not_aliased():
    c = connected()
    data = bytearray(encode(Piece(0, 0, b"abc")))
    c.receive_data(data)
    data[-1] = ord("X")
    assert c.events() == [Piece(0, 0, b"abc")]


def test_buffered_counts_partial_messages():
    c = connected()
    data = encode(Piece(0, 0, b"x" * 16384))
    c.receive_data(data[:1000])
    assert c.events() == [] and c.buffered == 1000
    c.receive_data(data[1000:] + data[:3])
    assert len(c.events()) == 1 and c.buffered == 3


# -- splitting ------------------------------------------------------------------------------------

STREAM_MESSAGES = [
    Extended(0, b"d1:md11:ut_metadatai1eee"),
    BitfieldMsg(b"\xa8"),
    Have(1),
    Interested(),
    Unchoke(),
    Request(0, 0, 16384),
    Piece(4, 0, bytes(range(200)) * 5),
    Piece(0, 16384, b"\x07" * 300),
    Cancel(0, 0, 16384),
    Reject(2, 16384, 16384),
    Suggest(3),
    AllowedFast(2),
    Port(6881),
    KeepAlive(),
    Extended(3, b"payload"),
    NotInterested(),
    Choke(),
]
UNKNOWN = bytes.fromhex("00000003 63 abcd".replace(" ", ""))
STREAM = peer_handshake() + b"".join(map(encode, STREAM_MESSAGES[:13])) + UNKNOWN
STREAM += b"".join(map(encode, STREAM_MESSAGES[13:]))


def fresh():
    c = PeerCodec(OURS)
    c.set_geometry(*GEOMETRY)
    return c


def test_whole_stream():
    events = feed_in_pieces(fresh(), STREAM, [])
    assert events[0] == Handshake(make_reserved(), INFO_HASH, PEER_ID)
    assert events[1:] == STREAM_MESSAGES


def test_split_at_every_byte_boundary():
    expected = feed_in_pieces(fresh(), STREAM, [])
    for cut in range(1, len(STREAM)):
        assert feed_in_pieces(fresh(), STREAM, [cut]) == expected, cut


def test_one_byte_at_a_time():
    expected = feed_in_pieces(fresh(), STREAM, [])
    assert feed_in_pieces(fresh(), STREAM, range(1, len(STREAM))) == expected


# -- hypothesis -----------------------------------------------------------------------------------

indices = st.integers(0, NUM_PIECES - 1)


@st.composite
def spans(draw, max_length=16384):
    index = draw(indices)
    length = draw(st.integers(1, min(max_length, piece_size(index))))
    return index, draw(st.integers(0, piece_size(index) - length)), length


@st.composite
def pieces(draw):
    block = draw(st.one_of(st.binary(min_size=1, max_size=64), st.just(b"\xab" * 16384)))
    index = draw(indices.filter(lambda i: piece_size(i) >= len(block)))
    return Piece(index, draw(st.integers(0, piece_size(index) - len(block))), block)


later_messages = st.one_of(
    st.sampled_from([KeepAlive(), Choke(), Unchoke(), Interested(), NotInterested()]),
    indices.map(Have),
    indices.map(Suggest),
    indices.map(AllowedFast),
    spans().map(lambda s: Request(*s)),
    spans().map(lambda s: Cancel(*s)),
    spans().map(lambda s: Reject(*s)),
    pieces(),
    st.integers(0, 65535).map(Port),
    st.builds(Extended, st.integers(0, 255), st.binary(max_size=64)),
)
first_messages = st.one_of(
    st.none(),
    st.sampled_from([HaveAll(), HaveNone()]),
    st.integers(0, 31).map(lambda v: BitfieldMsg(bytes([v << 3]))),
)


@st.composite
def conversations(draw):
    first = draw(first_messages)
    rest = draw(st.lists(later_messages, max_size=20))
    return ([first] if first is not None else []) + rest


@settings(max_examples=300, deadline=None)
@given(conversations(), st.data())
def test_roundtrip_generated_messages_in_random_chunks(messages, data):
    stream = peer_handshake() + b"".join(map(encode, messages))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    events = feed_in_pieces(fresh(), stream, cuts)
    assert events[1:] == messages


def only_messages_or_protocol_error(c, chunks):
    try:
        for chunk in chunks:
            c.receive_data(chunk)
            for event in c.events():
                assert type(event).__module__ == "torrentish.wire.messages"
    except ProtocolError as error:
        assert "\n" not in str(error) and str(error)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.binary(max_size=80), max_size=6), st.booleans(), st.booleans())
def test_random_bytes_after_handshake(chunks, fast, geometry):
    only_messages_or_protocol_error(connected(fast=fast, geometry=geometry), chunks)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=80), max_size=4))
def test_random_bytes_as_handshake(chunks):
    only_messages_or_protocol_error(PeerCodec(OURS), chunks)


@st.composite
def mutated(draw):
    messages = draw(conversations())
    stream = bytearray(peer_handshake() + b"".join(map(encode, messages)))
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(stream)))
        action = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        if action == "flip" and position < len(stream):
            stream[position] = draw(st.integers(0, 255))
        elif action == "insert":
            stream[position:position] = draw(st.binary(min_size=1, max_size=8))
        elif action == "delete":
            del stream[position : position + draw(st.integers(1, 8))]
        elif action == "truncate":
            del stream[position:]
    return bytes(stream)


@settings(max_examples=400, deadline=None)
@given(mutated(), st.data(), st.booleans())
def test_mutated_streams(stream, data, geometry):
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=4)))
    c = PeerCodec(OURS)
    if geometry:
        c.set_geometry(*GEOMETRY)
    only_messages_or_protocol_error(c, [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)])])


def test_a_tail_padded_last_piece_may_be_asked_for_up_to_a_whole_piece():
    # libtorrent 2.0.4-2.0.8 pad a v2 torrent's last file and ask for the padding (BEP 47: serve it).
    strict, padded = connected(geometry=False), connected(geometry=False)
    strict.set_geometry(*GEOMETRY)
    padded.set_geometry(*GEOMETRY, tail_padded=True)
    tail = encode(Request(NUM_PIECES - 1, 16384, 16384))
    padded.receive_data(tail)
    assert padded.events() == [Request(NUM_PIECES - 1, 16384, 16384)]
    strict.receive_data(tail)
    with pytest.raises(ProtocolError, match="runs past the end of the piece"):
        strict.events()
    padded.receive_data(encode(Request(NUM_PIECES - 1, PIECE_LENGTH - 8192, 16384)))
    with pytest.raises(ProtocolError, match="runs past the end of the piece"):
        padded.events()
