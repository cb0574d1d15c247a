"""BEP 55 ut_holepunch messages and the relay's decision (pure)."""

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from torrentish.wire import holepunch as hp

ports = st.integers(0, 65535)
addresses = st.tuples(st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)).map(str), ports)


def test_layout_is_the_beps():
    raw = hp.encode(hp.Holepunch(hp.RENDEZVOUS, ("10.1.2.3", 6881)))
    assert raw == bytes([0, 0, 10, 1, 2, 3, 0x1A, 0xE1, 0, 0, 0, 0])
    raw6 = hp.encode(hp.Holepunch(hp.ERROR, ("::1", 1), hp.NO_SUPPORT))
    assert raw6[:2] == b"\x02\x01" and len(raw6) == 24 and raw6[-4:] == b"\x00\x00\x00\x03"


@given(st.sampled_from([hp.RENDEZVOUS, hp.CONNECT]), addresses)
def test_roundtrip(kind, address):
    message = hp.Holepunch(kind, address)
    assert hp.decode(hp.encode(message)) == hp.Holepunch(kind, (str(ipaddress.ip_address(address[0])), address[1]))


@given(st.binary(max_size=30))
def test_any_bytes_give_a_message_or_a_one_line_error(raw):
    try:
        message = hp.decode(raw)
    except hp.HolepunchError as error:
        assert "\n" not in str(error)
        return
    assert hp.encode(message) == raw


@pytest.mark.parametrize("raw, reason", [
    (b"\x03\x00" + bytes(10), "type 3"), (b"\x00\x02" + bytes(10), "address type 2"),
    (b"\x00\x00" + bytes(9), "not 12"), (b"\x01\x00" + bytes(6) + b"\x00\x00\x00\x01", "not an error"),
])
def test_bad_messages(raw, reason):
    with pytest.raises(hp.HolepunchError, match=reason):
        hp.decode(raw)


A, B, US = ("10.0.0.2", 6881), ("10.0.0.3", 51413), ("10.0.0.1", 6881)


def test_the_relay_introduces_both_sides():
    sent = hp.relay(hp.Holepunch(hp.RENDEZVOUS, B), A, {A: True, B: True}, [US])
    assert sent == [(B, hp.Holepunch(hp.CONNECT, A)), (A, hp.Holepunch(hp.CONNECT, B))]


@pytest.mark.parametrize("target, peers, code", [
    (US, {A: True}, hp.NO_SELF),
    (A, {A: True}, hp.NO_SUCH_PEER),
    (B, {A: True}, hp.NOT_CONNECTED),
    (B, {A: True, B: False}, hp.NO_SUPPORT),
])
def test_the_relay_answers_what_it_cannot_do_with_the_beps_error(target, peers, code):
    sent = hp.relay(hp.Holepunch(hp.RENDEZVOUS, target), A, peers, [US])
    assert sent == [(A, hp.Holepunch(hp.ERROR, target, code))]  # the rendezvous's address, echoed
