"""Bitfield: wire layout, validation, and every operation against a plain set as the model."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from torrentish.core.bitfield import Bitfield
from torrentish.errors import ProtocolError


def test_empty_field():
    bits = Bitfield(10)
    assert bits.size == 10 and bits.count() == 0 and not bits.complete()
    assert list(bits) == [] and list(bits.missing()) == list(range(10))
    assert bits.to_bytes() == b"\x00\x00"


def test_wire_layout_is_high_bit_first():
    # BEP 3: "The first byte of the bitfield corresponds to indices 0 - 7 from high bit to low bit"
    bits = Bitfield(10)
    bits.add(0)
    assert bits.to_bytes() == b"\x80\x00"
    bits.add(7)
    bits.add(9)
    assert bits.to_bytes() == b"\x81\x40"
    assert Bitfield(10, b"\x81\x40") == bits
    assert list(Bitfield(16, b"\x01\x80")) == [7, 8]


def test_add_discard_count_and_membership():
    bits = Bitfield(20)
    bits.add(3)
    bits.add(3)  # idempotent: the running count must not drift
    bits.add(19)
    assert bits.count() == 2 and 3 in bits and 19 in bits and 4 not in bits
    bits.discard(3)
    bits.discard(3)
    bits.discard(4)
    assert bits.count() == 1 and 3 not in bits
    assert list(bits) == [19]


def test_membership_of_non_indices_is_false():
    bits = Bitfield.full(9)
    for outsider in (-1, 9, 100, "3", 2.0, None, True):
        assert outsider not in bits


def test_out_of_range_changes_are_our_bug():
    bits = Bitfield(9)
    for index in (-1, 9):
        with pytest.raises(IndexError):
            bits.add(index)
        with pytest.raises(IndexError):
            bits.discard(index)


@pytest.mark.parametrize("size", [0, 1, 7, 8, 9, 15, 16, 17, 1000])
def test_full(size):
    bits = Bitfield.full(size)
    assert bits.count() == size and bits.complete()
    assert list(bits) == list(range(size)) and list(bits.missing()) == []
    # the spare bits stay zero, so the wire form is accepted back
    assert Bitfield(size, bits.to_bytes()) == bits


def test_zero_size_is_complete():
    bits = Bitfield(0, b"")
    assert bits.complete() and bits.to_bytes() == b"" and list(bits) == []


@pytest.mark.parametrize(
    "size,data",
    [(10, b"\x00"), (10, b"\x00\x00\x00"), (8, b""), (0, b"\x00"), (17, b"\xff\xff")],
)
def test_wrong_length_is_a_protocol_error(size, data):
    with pytest.raises(ProtocolError, match="bitfield is"):
        Bitfield(size, data)


@pytest.mark.parametrize("size,data", [(10, b"\x00\x20"), (10, b"\xff\xff"), (1, b"\x40"), (15, b"\x00\x01")])
def test_spare_bits_set_is_a_protocol_error(size, data):
    with pytest.raises(ProtocolError, match="spare bits"):
        Bitfield(size, data)


def test_bad_size_is_our_bug():
    for size in (-1, 1.5, "8", True):
        with pytest.raises(ValueError):
            Bitfield(size)


def test_copy_is_independent_and_equality():
    bits = Bitfield(12)
    bits.add(5)
    other = bits.copy()
    assert other == bits and other is not bits
    other.add(6)
    assert other != bits and 6 not in bits and bits.count() == 1
    assert Bitfield(8) != Bitfield(9)  # same bytes, different size
    assert Bitfield(8) != b"\x00"
    with pytest.raises(TypeError):
        hash(bits)


def test_input_buffer_is_copied():
    data = bytearray(b"\x80")
    bits = Bitfield(8, data)
    data[0] = 0xFF
    assert bits.count() == 1 and list(bits) == [0]


@st.composite
def sizes_and_operations(draw):
    size = draw(st.integers(0, 200))
    operations = st.tuples(st.booleans(), st.integers(0, max(size - 1, 0)))  # (add?, index)
    return size, draw(st.lists(operations))


@settings(max_examples=300)
@given(sizes_and_operations())
def test_against_a_set_model(case):
    size, operations = case
    bits, model = Bitfield(size), set()
    for adding, index in operations:
        if index >= size:
            continue
        if adding:
            bits.add(index)
            model.add(index)
        else:
            bits.discard(index)
            model.discard(index)
    assert bits.count() == len(model)
    assert list(bits) == sorted(model)
    assert list(bits.missing()) == sorted(set(range(size)) - model)
    assert all((i in bits) == (i in model) for i in range(size))
    assert bits.complete() == (len(model) == size)
    assert Bitfield(size, bits.to_bytes()) == bits


@settings(max_examples=300)
@given(st.integers(0, 100), st.binary(max_size=16))
def test_untrusted_bytes_give_a_bitfield_or_protocol_error(size, data):
    try:
        bits = Bitfield(size, data)
    except ProtocolError:
        return
    assert bits.to_bytes() == data
    assert bits.count() == len(list(bits)) == sum(bin(b).count("1") for b in data)
