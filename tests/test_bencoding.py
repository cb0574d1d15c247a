"""torrentish.formats.bencoding: the strict grammar, the limits, exact spans, canonical encoding."""

from __future__ import annotations

import hashlib
import os
import time

import bencodepy
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from torrentish.formats.bencoding import (
    MESSAGE_LIMITS,
    TORRENT_LIMITS,
    Limits,
    decode,
    decode_prefix,
    encode,
    value_span,
)
from torrentish.errors import BencodeError

# -- valid input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, value",
    [
        (b"i0e", 0),
        (b"i42e", 42),
        (b"i-42e", -42),
        (b"i18446744073709551616e", 2**64),
        (b"0:", b""),
        (b"4:spam", b"spam"),
        (b"3:\x00\xff:", b"\x00\xff:"),
        (b"le", []),
        (b"de", {}),
        (b"l4:spami1ee", [b"spam", 1]),
        (b"d3:cow3:moo4:spam4:eggse", {b"cow": b"moo", b"spam": b"eggs"}),
        (b"d4:spaml1:a1:bee", {b"spam": [b"a", b"b"]}),
        (b"lllleeee", [[[[]]]]),
    ],
)
def test_decodes_valid_values(data, value):
    assert decode(data) == value
    assert decode(bytearray(data)) == value
    assert decode(memoryview(data)) == value


def test_unsorted_keys_are_accepted_in_input_order():
    value = decode(b"d1:bi1e1:ai2ee")
    assert value == {b"b": 1, b"a": 2}
    assert list(value) == [b"b", b"a"]


def test_a_string_that_contains_bencoding_is_just_a_string():
    assert decode(b"l7:d1:ai1ei5ee") == [b"d1:ai1e", 5]


# -- the strict grammar ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty input"),
        (b"i-0e", "negative zero at offset 0"),
        (b"i03e", "integer with a leading zero at offset 0"),
        (b"i-03e", "integer with a leading zero at offset 0"),
        (b"ie", "empty integer at offset 0"),
        (b"i-e", "empty integer at offset 0"),
        (b"i+5e", "unexpected byte b'+' in integer at offset 1"),
        (b"i 5e", "unexpected byte b' ' in integer at offset 1"),
        (b"i5 e", "unexpected byte b' ' in integer at offset 2"),
        (b"i1_0e", "unexpected byte b'_' in integer at offset 2"),
        (b"i5.0e", "unexpected byte b'.' in integer at offset 2"),
        (b"i5", "integer runs past the end of the data (2 bytes) at offset 0"),
        (b"i" + b"1" * 21 + b"e", "integer with more than 20 digits at offset 0"),
        (b"i-" + b"1" * 21 + b"e", "integer with more than 20 digits at offset 0"),
        (b"01:a", "string length with a leading zero at offset 0"),
        (b"5:abc", "string runs past the end of the data (5 bytes) at offset 0"),
        (b"l5:abce", "string runs past the end of the data (7 bytes) at offset 1"),
        (b"1" * 20 + b":", "string length with more than 19 digits at offset 0"),
        (b"3abc", "expected ':' after string length, found b'a' at offset 1"),
        (b"+3:abc", "unexpected byte b'+' at offset 0"),
        (b"12", "string length runs past the end of the data (2 bytes) at offset 0"),
        (b"l", "unterminated list runs past the end of the data (1 bytes) at offset 1"),
        (b"d", "unterminated dictionary runs past the end of the data (1 bytes) at offset 1"),
        (b"d1:a", "unterminated dictionary runs past the end of the data (4 bytes) at offset 4"),
        (b"e", "unexpected byte b'e' at offset 0"),
        (b"i1ei2e", "3 bytes of trailing data at offset 3"),
        (b"lee", "1 bytes of trailing data at offset 2"),
        (b"di1ei2ee", "dictionary key is not a string (found b'i') at offset 1"),
        (b"dlei2ee", "dictionary key is not a string (found b'l') at offset 1"),
        (b"d1:ae", "dictionary key without a value at offset 4"),
        (b"d1:ai1e1:ai2ee", "duplicate dictionary key b'a' at offset 7"),
        (b"d1:bi1e1:ai2e1:bi3ee", "duplicate dictionary key b'b' at offset 13"),
        (b"x", "unexpected byte b'x' at offset 0"),
    ],
)
def test_rejects_what_the_grammar_forbids(data, message):
    with pytest.raises(BencodeError) as e:
        decode(data)
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_bencodepy_alone_would_accept_what_we_refuse():
    # The reason the scanner exists: these reach int() inside bencode.py.
    for lax in (b"i+5e", b"i 5e", b"i1_0e", b"d1:ai1e1:ai2ee"):
        bencodepy.Bencode(encoding=None).decode(lax)
        with pytest.raises(BencodeError):
            decode(lax)


def test_duplicate_keys_are_found_in_nested_dicts_only_within_one_dict():
    assert decode(b"ld1:ai1eed1:ai2eee") == [{b"a": 1}, {b"a": 2}]
    with pytest.raises(BencodeError, match="duplicate"):
        decode(b"ld1:ad1:ai1ee1:ai2eee")


# -- limits ------------------------------------------------------------------------------------


def test_size_limit():
    limits = Limits(max_size=10, max_depth=4, max_items=100, max_int_digits=20)
    assert decode(b"8:abcdefgh", limits) == b"abcdefgh"
    with pytest.raises(BencodeError, match="11 bytes is more than the limit of 10"):
        decode(b"9:abcdefghi", limits)


def test_depth_limit():
    limits = Limits(max_size=1000, max_depth=3, max_items=100, max_int_digits=20)
    assert decode(b"llleee", limits) == [[[]]]
    assert decode(b"ld1:ali1eeee", limits) == [{b"a": [1]}]
    with pytest.raises(BencodeError, match="nesting deeper than 3 at offset 3"):
        decode(b"lllleeee", limits)


def test_items_limit_counts_keys_and_values():
    limits = Limits(max_size=1000, max_depth=4, max_items=5, max_int_digits=20)
    assert decode(b"d1:ai1e1:bi2ee", limits)  # dict + 2 keys + 2 values
    with pytest.raises(BencodeError, match="more than 5 values"):
        decode(b"d1:ai1e1:bi2e1:ci3ee", limits)
    with pytest.raises(BencodeError, match="more than 5 values"):
        decode(b"li1ei2ei3ei4ei5ee", limits)


def test_integer_digit_limit_ignores_the_sign():
    limits = Limits(max_size=1000, max_depth=4, max_items=5, max_int_digits=3)
    assert decode(b"i-999e", limits) == -999
    with pytest.raises(BencodeError, match="more than 3 digits"):
        decode(b"i1000e", limits)


def test_hostile_nesting_costs_no_recursion():
    with pytest.raises(BencodeError, match="nesting deeper than 32"):
        decode(b"l" * 1_000_000 + b"e" * 1_000_000)
    with pytest.raises(BencodeError, match="nesting deeper than 16"):
        decode_prefix(b"d1:a" * 100_000)


def test_huge_length_prefix_is_refused_without_allocating():
    with pytest.raises(BencodeError, match="past the end"):
        decode(b"999999999999999999:x")


def test_limits_are_checked_for_sanity():
    with pytest.raises(ValueError):
        Limits(max_size=0, max_depth=1, max_items=1, max_int_digits=1)
    with pytest.raises(ValueError):
        Limits(max_size=1, max_depth=10_000, max_items=1, max_int_digits=1)  # bencode.py recurses
    with pytest.raises(ValueError):
        Limits(max_size=1, max_depth=1, max_items=1, max_int_digits=5000)  # int() refuses > 4300
    assert MESSAGE_LIMITS.max_size < TORRENT_LIMITS.max_size


def test_non_bytes_input_is_a_programming_error():
    with pytest.raises(TypeError):
        decode("i1e")


# -- decode_prefix -----------------------------------------------------------------------------


def test_decode_prefix_returns_the_value_and_where_it_ends():
    data = b"d8:msg_typei1e5:piecei0ee" + b"\x00raw metadata"
    value, end = decode_prefix(data)
    assert value == {b"msg_type": 1, b"piece": 0}
    assert data[end:] == b"\x00raw metadata"
    assert decode_prefix(b"i5e") == (5, 3)


def test_decode_prefix_applies_the_size_limit_to_the_value_only():
    limits = Limits(max_size=8, max_depth=4, max_items=10, max_int_digits=20)
    assert decode_prefix(b"4:spam" + b"x" * 100, limits) == (b"spam", 6)
    with pytest.raises(BencodeError, match="beyond the size limit of 8 bytes"):
        decode_prefix(b"7:abcdefg" + b"x" * 100, limits)
    with pytest.raises(BencodeError, match="beyond the size limit"):
        decode_prefix(b"l" + b"i1e" * 100, limits)


def test_decode_prefix_still_rejects_a_broken_value():
    with pytest.raises(BencodeError, match="unterminated dictionary"):
        decode_prefix(b"d1:ai1e")
    with pytest.raises(BencodeError, match="empty input"):
        decode_prefix(b"")


# -- value_span --------------------------------------------------------------------------------


def test_value_span_gives_the_exact_bytes_of_a_top_level_value():
    data = b"d8:announce3:url4:infod6:lengthi5e4:name1:xe1:zlee"
    start, end = value_span(data, b"info")
    assert data[start:end] == b"d6:lengthi5e4:name1:xe"
    start, end = value_span(data, b"z")
    assert data[start:end] == b"le"


def test_value_span_keeps_unsorted_bytes_that_reencoding_would_change():
    info = b"d4:name1:x6:lengthi5ee"  # keys out of order
    data = b"d4:info" + info + b"e"
    start, end = value_span(data, b"info")
    assert data[start:end] == info
    assert encode(decode(info)) != info


def test_value_span_does_not_look_inside_nested_dicts():
    data = b"d5:outerd4:infoi1eee"
    with pytest.raises(BencodeError, match="not found"):
        value_span(data, b"info")


@pytest.mark.parametrize("data", [b"", b"le", b"i1e", b"d4:infoi1e", b"d4:infoi1eeX"])
def test_value_span_rejects_invalid_or_non_dict_input(data):
    with pytest.raises(BencodeError):
        value_span(data, b"info")


# -- encode ------------------------------------------------------------------------------------


def test_encode_is_canonical():
    assert encode({"b": 1, b"a": [b"x", "y", (1, 2)], "": b""}) == b"d0:0:1:al1:x1:yli1ei2eee1:bi1ee"
    assert encode(-7) == b"i-7e"
    assert encode("é") == b"2:\xc3\xa9"
    assert encode(bytearray(b"ab")) == b"2:ab"


def test_encode_sorts_keys_as_raw_bytes_not_as_text():
    # 'Z' (0x5a) < 'a' (0x61) < 'é' (0xc3 0xa9) as bytes
    assert encode({"é": 1, "a": 2, "Z": 3}) == b"d1:Zi3e1:ai2e2:\xc3\xa9i1ee"


@pytest.mark.parametrize("value", [True, 1.5, None, {1: b"x"}, {b"a": object()}, {"a": 1, b"a": 2}])
def test_encode_refuses_what_bencoding_cannot_say(value):
    with pytest.raises((TypeError, ValueError)):
        encode(value)


# -- speed -------------------------------------------------------------------------------------


def test_a_megabyte_torrent_decodes_quickly():
    info = {b"length": 50_000 * 16384, b"name": b"x", b"piece length": 16384, b"pieces": os.urandom(20 * 50_000)}
    data = encode({b"announce": b"http://t/a", b"info": info})
    assert len(data) > 1_000_000
    started = time.perf_counter()
    value = decode(data)
    start, end = value_span(data, b"info")
    elapsed = time.perf_counter() - started
    assert value[b"info"] == info
    assert hashlib.sha1(data[start:end]).digest() == hashlib.sha1(encode(info)).digest()
    assert elapsed < 0.1


# -- properties --------------------------------------------------------------------------------

values = st.recursive(
    st.integers(min_value=-(10**19), max_value=10**19) | st.binary(max_size=40),
    lambda children: st.lists(children, max_size=6) | st.dictionaries(st.binary(max_size=8), children, max_size=6),
    max_leaves=40,
)


@settings(max_examples=400)
@given(values)
def test_roundtrip_and_agreement_with_bencodepy(value):
    data = encode(value)
    assert decode(data) == value
    assert bencodepy.Bencode(encoding=None).decode(data) == value
    assert bencodepy.encode(value) == data
    assert decode_prefix(data + b"trailing", TORRENT_LIMITS) == (value, len(data))


def _check_decodes_cleanly(data: bytes) -> None:
    """decode gives a value or a one-line BencodeError; a value agrees with bencode.py."""
    try:
        value = decode(data)
    except BencodeError as e:
        assert "\n" not in str(e)
        return
    assert bencodepy.Bencode(encoding=None).decode(data) == value
    # Strict input re-encodes to itself once its dict keys are put in order.
    assert decode(encode(value)) == value


@settings(max_examples=500)
@given(st.binary(max_size=200))
def test_random_bytes_decode_cleanly(data):
    _check_decodes_cleanly(data)


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(values, st.data())
def test_mutated_encodings_decode_cleanly(value, draw):
    data = bytearray(encode(value))
    for _ in range(draw.draw(st.integers(1, 4))):
        where = draw.draw(st.integers(0, len(data)))
        action = draw.draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        byte = draw.draw(st.sampled_from(b"0123456789ilde:-+ x\x00"))
        if action == "flip" and where < len(data):
            data[where] = byte
        elif action == "insert":
            data.insert(where, byte)
        elif action == "delete" and where < len(data):
            del data[where]
        elif action == "truncate":
            del data[where:]
    _check_decodes_cleanly(bytes(data))


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_random_bytes_decode_prefix_cleanly(data):
    try:
        value, end = decode_prefix(data)
    except BencodeError:
        return
    assert 0 < end <= len(data)
    assert decode(data[:end]) == value
