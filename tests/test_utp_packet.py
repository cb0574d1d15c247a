"""uTP packet codec (BEP 29 v1 header, selective-ack extension)."""

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from torrentish.wire.utp import packet as p

u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)


def test_header_layout_is_bep29():
    raw = p.encode_header(p.ST_DATA, 0x1234, 0x01020304, 0x05060708, 0x0A0B0C0D, 0xBEEF, 0xCAFE) + b"hi"
    assert raw[:20] == bytes([0x01, 0]) + struct.pack(">HIIIHH", 0x1234, 0x01020304, 0x05060708, 0x0A0B0C0D, 0xBEEF, 0xCAFE)
    packet = p.decode(raw)
    assert (packet.type, packet.conn_id, packet.seq, packet.ack, bytes(packet.payload)) == (p.ST_DATA, 0x1234, 0xBEEF, 0xCAFE, b"hi")
    assert p.decode(p.encode_header(p.ST_SYN, 1, 0, 0, 0, 1, 0)).type == p.ST_SYN


@given(st.sampled_from([p.ST_DATA, p.ST_FIN, p.ST_STATE, p.ST_RESET, p.ST_SYN]), u16, u32, u32, u32, u16, u16,
       st.none() | st.sets(st.integers(0, 255), min_size=1), st.binary(max_size=64))
def test_roundtrip(type_, conn_id, ts, diff, wnd, seq, ack, sacked, payload):
    sack = None if sacked is None else p.make_sack(sacked, max(sacked) + 1)
    packet = p.decode(p.encode_header(type_, conn_id, ts, diff, wnd, seq, ack, sack) + payload)
    assert (packet.type, packet.conn_id, packet.timestamp, packet.timestamp_diff, packet.wnd, packet.seq,
            packet.ack, bytes(packet.payload)) == (type_, conn_id, ts, diff, wnd, seq, ack, payload)
    if sacked is not None:
        assert set(p.sack_bits(packet.sack)) == sacked
        assert len(packet.sack) % 4 == 0


def test_a_selective_ack_of_any_length_is_taken():
    """libtorrent sends bitmasks that are not a multiple of 4 bytes (11 seen): BEP 29 or not, its
    packets must not be dropped for it."""
    packet = p.decode(bytes([0x21, 1]) + bytes(18) + bytes([0, 3, 1, 2, 3]) + b"x")
    assert packet.sack == bytes([1, 2, 3]) and bytes(packet.payload) == b"x"
    assert p.sack_bits(packet.sack) == [0, 9, 16, 17]


def test_sack_bit_order_is_lsb_first():
    # BEP 29: the least significant bit of the first byte is ack_nr + 2.
    assert p.make_sack([0], 1) == b"\x01\x00\x00\x00"
    assert p.make_sack([9], 10) == b"\x00\x02\x00\x00"
    assert p.sack_bits(b"\x81\x00\x00\x01") == [0, 7, 24]


@pytest.mark.parametrize("raw, reason", [
    (b"\x01" * 19, "shorter than its header"),
    (bytes([0x02]) + bytes(19), "version 2"),
    (bytes([0x51]) + bytes(19), "type 5"),
    (bytes([0x01, 1]) + bytes(18), "runs past"),
])
def test_bad_packets_get_one_line_errors(raw, reason):
    with pytest.raises(p.UtpPacketError, match=reason):
        p.decode(raw)


@given(st.binary(max_size=120))
def test_decoding_any_bytes_gives_a_packet_or_a_packet_error(raw):
    try:
        packet = p.decode(raw)
    except p.UtpPacketError:
        return
    assert packet.type <= p.ST_SYN and p.looks_like_utp(raw)


def test_first_byte_tells_utp_from_dht():
    assert p.looks_like_utp(p.encode_header(p.ST_SYN, 1, 0, 0, 0, 1, 0))
    assert not p.looks_like_utp(b"d1:ad2:id20:" + bytes(20) + b"e1:q4:ping1:t2:aa1:y1:qe")


@given(u16, st.integers(1, 0x7FFF))
def test_sequence_order_wraps(a, step):
    b = (a + step) & p.SEQ_MASK
    assert p.seq_less(a, b) and not p.seq_less(b, a)
    assert p.seq_distance(a, b) == step
