"""Peer ids: ours is well formed, and other clients' ids get a readable name."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from torrentish.wire.peer_id import client_name, make_peer_id


def test_make_peer_id_is_azureus_style_and_seeded():
    peer_id = make_peer_id(random.Random(7))
    assert len(peer_id) == 20 and peer_id.startswith(b"-TH0100-")
    assert peer_id[8:].isalnum()
    assert make_peer_id(random.Random(7)) == peer_id
    assert make_peer_id(random.Random(8)) != peer_id
    assert client_name(peer_id) == "torrentish 0.1.0"


@pytest.mark.parametrize(
    "prefix,name",
    [
        (b"-qB4650-", "qBittorrent 4.6.5"),
        (b"-LT2010-", "libtorrent 2.0.1"),
        (b"-LT20A0-", "libtorrent 2.0.10"),
        (b"-TR3000-", "Transmission 3.00"),
        (b"-TR2940-", "Transmission 2.94"),
        (b"-TR4050-", "Transmission 4.0.5"),
        (b"-TR300Z-", "Transmission 3.00+"),
        (b"A2-1-36-0-", "aria2 1.36.0"),
        (b"-lt0D80-", "rTorrent/libtorrent 0.13.8"),
        (b"-DE211s-", "Deluge 2.1.1"),
        (b"-DE13F0-", "Deluge 1.3.15"),
        (b"-AZ2504-", "Azureus 2.5.0.4"),
        (b"-UT355W-", "µTorrent 3.5.5"),
        (b"M4-3-6--", "Mainline 4.3.6"),
        (b"M4-20-8-", "Mainline 4.20.8"),
        (b"Q1-10-0-", "Queen Bee 1.10.0"),
        (b"S58B-----", "Shadow 5.8.11"),
        (b"T03I-----", "BitTornado 0.3.18"),
        (b"exbc\x00\x3f", "BitComet 0.63"),
        (b"exbc\x01\x02LORD", "BitLord 1.02"),
        (b"XBT054d-", "XBT Client 0.5.4 (debug)"),
        (b"-ML2.7.2-", "MLDonkey 2.7.2"),
    ],
)
def test_known_clients(prefix, name):
    peer_id = (prefix + b"0123456789abcdefghij")[:20]
    assert client_name(peer_id) == name


@pytest.mark.parametrize(
    "peer_id,name",
    [
        (b"-ZZ1234-abcdefghijkl", "unknown (-ZZ1234-)"),
        (b"\x00\x01\xff abc\x7fdefghijklmnop", "unknown (....abc.)"),
        (b"", "unknown ()"),
        (b"-qB", "unknown (-qB)"),
        (b"-TR!@#$-abcdefghijkl", "unknown (-TR!@#$-)"),
    ],
)
def test_unknown_ids_are_shown_printably(peer_id, name):
    assert client_name(peer_id) == name


@settings(max_examples=500)
@given(st.one_of(st.binary(min_size=20, max_size=20), st.binary(max_size=30)))
def test_any_bytes_give_a_printable_name(peer_id):
    name = client_name(peer_id)
    assert isinstance(name, str) and name.isprintable() and len(name) < 60
