"""BEP 52 hash messages (HASH REQUEST 21, HASHES 22, HASH REJECT 23) through the peer wire codec."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.test_wire_codec import connected, feed_in_pieces, parse, rejects
from torrentish.errors import ProtocolError
from torrentish.wire import hash_messages
from torrentish.wire.codec import encode
from torrentish.wire.messages import Handshake, HashReject, HashRequest, Hashes, Interested, make_reserved

ROOT = bytes(range(32))


def test_byte_exact_hash_request():
    wire = encode(HashRequest(ROOT, 1, 4, 2, 3))
    assert wire == bytes.fromhex("00000031 15") + ROOT + bytes.fromhex("00000001 00000004 00000002 00000003")
    assert encode(HashReject(ROOT, 1, 4, 2, 3))[4] == 23
    hashes = Hashes(ROOT, 0, 0, 2, 1, (b"a" * 32, b"b" * 32, b"c" * 32))
    assert encode(hashes)[:5] == (49 + 96).to_bytes(4, "big") + b"\x16"


def test_v2_upgrade_bit():
    reserved = make_reserved(v2=True)
    assert reserved[7] & 0x10 and Handshake(reserved, bytes(20), bytes(20)).supports_v2
    assert not Handshake(make_reserved(), bytes(20), bytes(20)).supports_v2


layers = st.integers(0, hash_messages.MAX_LAYER)
counts = st.integers(0, 12).map(lambda n: 1 << n)


@st.composite
def hash_messages_(draw):
    length = draw(counts)
    index = draw(st.integers(0, 1000)) * length
    base, proof = draw(layers), draw(layers)
    kind = draw(st.sampled_from([HashRequest, HashReject, Hashes]))
    if kind is Hashes:
        uncles = draw(st.integers(0, min(proof, 3)))
        digests = tuple(draw(st.binary(min_size=32, max_size=32)) for _ in range(min(length, 8))) + (bytes(32),) * (
            max(0, length - 8) + uncles)
        return Hashes(ROOT, base, index, length, proof, digests)
    return kind(ROOT, base, index, length, proof)


@settings(max_examples=200)
@given(hash_messages_(), st.lists(st.integers(0, 2000), max_size=4))
def test_round_trip_in_any_chunks(message, cuts):
    data = encode(message) + encode(Interested())
    c = connected()
    assert feed_in_pieces(c, data, sorted(c for c in cuts if c < len(data))) == [message, Interested()]


@pytest.mark.parametrize("message, match", [
    (HashRequest(ROOT, 0, 0, 3, 0), "not a power of two"),
    (HashRequest(ROOT, 0, 0, 0, 0), "not a power of two"),
    (HashRequest(ROOT, 0, 0, 8192, 0), "not a power of two from 1 to 4096"),
    (HashReject(ROOT, 0, 2, 4, 0), "not a multiple of its length"),
    (HashRequest(ROOT, 64, 0, 2, 0), "beyond 63"),
    (HashRequest(ROOT, 0, 0, 2, 99), "beyond 63"),
    (Hashes(ROOT, 0, 0, 4, 1, (bytes(32),) * 3), "carries 3 hashes for length 4"),
    (Hashes(ROOT, 0, 0, 2, 1, (bytes(32),) * 4), "carries 4 hashes for length 2 and 1 proof"),
])
def test_bad_fields_close_the_connection(message, match):
    rejects(encode(message), match)


@pytest.mark.parametrize("header, match", [
    ("00000030 15", "HASH REQUEST message has length 48, expected 49"),
    ("00000032 17", "HASH REJECT message has length 50"),
    ("00000040 16", "HASHES message has length 64"),
    ("00000030 16", "HASHES message has length 48"),
    ("00030000 16", "HASHES message has length 196608"),
])
def test_wrong_lengths_rejected_before_the_body(header, match):
    rejects(bytes.fromhex(header.replace(" ", "")), match)


@settings(max_examples=400)
@given(st.binary(max_size=200), st.sampled_from([21, 22, 23]))
def test_random_payloads_parse_or_fail_with_one_line(body, msg_id):
    data = (1 + len(body)).to_bytes(4, "big") + bytes([msg_id]) + body
    try:
        events = parse(data)
    except ProtocolError as e:
        assert "\n" not in str(e)
    else:
        assert all(isinstance(e, (HashRequest, Hashes, HashReject)) for e in events)
