"""Compact addresses (BEP 23, 7, 11, 5): one encoding shared by trackers, PEX and the DHT."""

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from torrentish.formats.compact import dialable, is_local, pack_address, pack_addresses, unpack_address, unpack_addresses

ports = st.integers(1, 65535)
v4 = st.ip_addresses(v=4).map(str)
v6 = st.ip_addresses(v=6).filter(lambda ip: ip.ipv4_mapped is None).map(str)


@given(st.one_of(v4, v6), ports)
def test_pack_and_unpack_roundtrip(host, port):
    packed = pack_address(host, port)
    assert len(packed) == (6 if ":" not in host else 18)
    assert unpack_address(packed) == (str(ipaddress.ip_address(host)), port)


def test_bytes_are_network_order():
    assert pack_address("1.2.3.4", 0x1A2B) == bytes([1, 2, 3, 4, 0x1A, 0x2B])
    assert pack_address("::ffff:1.2.3.4", 80) == bytes([1, 2, 3, 4, 0, 80])  # IPv4-mapped is IPv4


@given(st.binary(max_size=200), st.sampled_from([6, 18]))
def test_unpacking_any_bytes_gives_addresses_or_value_error(raw, width):
    try:
        addresses = unpack_addresses(raw, width)
    except ValueError:
        assert len(raw) % width
    else:
        assert len(addresses) == len(raw) // width
        for i, (host, port) in enumerate(addresses):
            if ipaddress.ip_address(host).version == 6 and ipaddress.ip_address(host).ipv4_mapped:
                continue  # ::ffff:a.b.c.d re-packs as the IPv4 peer it is
            assert pack_address(host, port) == raw[i * width : (i + 1) * width]


def test_limit_and_family_filter():
    raw = pack_addresses([("1.1.1.1", 1), ("::2", 2), ("3.3.3.3", 3)], 6)
    assert unpack_addresses(raw, 6) == [("1.1.1.1", 1), ("3.3.3.3", 3)]
    assert unpack_addresses(raw, 6, limit=1) == [("1.1.1.1", 1)]


@pytest.mark.parametrize(
    "host, port, expected",
    [
        ("10.0.0.1", 6881, ("10.0.0.1", 6881)),
        ("127.0.0.1", 1, ("127.0.0.1", 1)),
        ("::1", 1, ("::1", 1)),
        ("::ffff:8.8.8.8", 5, ("8.8.8.8", 5)),
        ("8.8.8.8", 0, None),
        ("0.0.0.0", 1, None),
        ("224.0.0.1", 1, None),
        ("255.255.255.255", 1, None),
        ("240.0.0.1", 1, None),
        ("example.org", 1, None),
    ],
)
def test_dialable(host, port, expected):
    assert dialable(host, port) == expected


def test_is_local():
    assert is_local("192.168.1.2") and is_local("127.0.0.1") and is_local("fe80::1")
    assert not is_local("8.8.8.8") and not is_local("not-an-ip")
