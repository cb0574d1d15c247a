"""torrentish.formats.magnet: parsing magnet URIs (BEP 9, 53), their limits, and making them."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import require_tool
from torrentish.errors import MagnetError
from torrentish.formats.magnet import MAX_PARAMETERS, MAX_SELECTED, MAX_URI_LENGTH, Magnet, make_magnet, parse_magnet

HASH = bytes.fromhex("c12fe1c06bba254a9dc9f519b335aa7c1367a88a")
HEX = HASH.hex()
BASE32 = "YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKEK"  # the same 20 bytes


def magnet(*params: str) -> Magnet:
    return parse_magnet("magnet:?" + "&".join(params))


@pytest.mark.parametrize("topic", [HEX, HEX.upper(), BASE32, BASE32.lower()])
def test_info_hash_in_hex_or_base32_any_case(topic):
    assert magnet(f"xt=urn:btih:{topic}").info_hash == HASH


def test_minimal_magnet_has_empty_defaults():
    assert magnet(f"xt=urn:btih:{HEX}") == Magnet(HASH, None, (), None, (), (), None)


def test_all_parameters():
    m = magnet(
        f"xt=urn:btih:{HEX}",
        "dn=Some+Name%20%C3%A9",
        "tr=http%3A%2F%2Ft.example%2Fannounce%3Fa%3D1%26b%3D2",
        "tr=udp://u.example:80",
        "tr=udp://u.example:80",
        "xl=12345",
        "x.pe=10.0.0.1:6881",
        "x.pe=[2001:db8::1]:51413",
        "x.pe=peer.example:1",
        "ws=http%3A%2F%2Fseed.example%2F",
        "so=0,2,4-6,5",
        "unknown=whatever",
    )
    assert m.display_name == "Some Name é"
    assert m.trackers == ("http://t.example/announce?a=1&b=2", "udp://u.example:80")
    assert m.exact_length == 12345
    assert m.peers == (("10.0.0.1", 6881), ("2001:db8::1", 51413), ("peer.example", 1))
    assert m.web_seeds == ("http://seed.example/",)
    assert m.select_only == (0, 2, 4, 5, 6)


def test_scheme_and_keys_are_case_insensitive_and_numbered_keys_count():
    m = parse_magnet(f"  MAGNET:?XT=URN:BTIH:{HEX}&TR.1=http://a/&tr.2=http://b/&dn.1=x  ")
    assert m.trackers == ("http://a/", "http://b/") and m.display_name == "x"


def test_a_hybrid_magnet_uses_its_v1_hash():
    m = magnet("xt=urn:btmh:1220" + "ab" * 32, f"xt=urn:btih:{HEX}")
    assert m.info_hash == HASH and m.info_hash_v2 == bytes.fromhex("ab" * 32)


def test_a_v2_only_magnet_joins_the_truncated_v2_swarm():
    m = magnet("xt=urn:btmh:1220" + "AB" * 32)
    assert m.info_hash_v2 == bytes.fromhex("ab" * 32) and m.info_hash == bytes.fromhex("ab" * 20)


@pytest.mark.parametrize("v1", [HASH, None])
def test_v2_magnets_round_trip(v1):
    v2 = bytes(range(32))
    m = parse_magnet(make_magnet(v1, "x", info_hash_v2=v2))
    assert m.info_hash_v2 == v2 and m.info_hash == (v1 or v2[:20])


def test_the_same_hash_twice_is_fine():
    assert magnet(f"xt=urn:btih:{HEX}", f"xt=urn:btih:{BASE32}").info_hash == HASH


@pytest.mark.parametrize(
    "peer",
    ["10.0.0.1", "10.0.0.1:0", "10.0.0.1:65536", "10.0.0.1:x", "[::1]", "[nonsense]:80", "::1:80", "999.1.1.1:80",
     "bad_host:80", "-x.example:80", ":80", "[::1]:80x", "a b:80"],
)
def test_bad_peers_are_dropped(peer):
    assert magnet(f"xt=urn:btih:{HEX}", f"x.pe={peer}", "x.pe=1.2.3.4:5").peers == (("1.2.3.4", 5),)


@pytest.mark.parametrize(
    "uri, message",
    [
        ("http://example.com/?xt=urn:btih:" + HEX, "must start with 'magnet:?'"),
        ("magnet:xt=urn:btih:" + HEX, "must start with 'magnet:?'"),
        ("magnet:?dn=x", "no xt=urn:btih: or xt=urn:btmh: info hash"),
        ("magnet:?xt=urn:sha1:" + HEX, "no xt=urn:btih: or xt=urn:btmh: info hash"),
        ("magnet:?xt=urn:btmh:1114" + "ab" * 20, "a SHA-256 multihash"),
        ("magnet:?xt=urn:btmh:1220" + "ab" * 31, "a SHA-256 multihash"),
        ("magnet:?xt=urn:btmh:1220" + "ab" * 32 + "&xt=urn:btmh:1220" + "cd" * 32, "two different info hashes"),
        ("magnet:?xt=urn:btih:" + HEX[:-1], "40 hex digits or 32 base32"),
        ("magnet:?xt=urn:btih:" + HEX + "0", "40 hex digits or 32 base32"),
        ("magnet:?xt=urn:btih:" + "g" * 40, "40 hex digits or 32 base32"),
        ("magnet:?xt=urn:btih:" + "1" * 32, "40 hex digits or 32 base32"),
        ("magnet:?xt=urn:btih:" + HEX + "&xt=urn:btih:" + "0" * 40, "two different info hashes"),
        ("magnet:?xt=urn:btih:" + HEX + "&xl=-1", "xl= must be a length"),
        ("magnet:?xt=urn:btih:" + HEX + "&xl=1e3", "xl= must be a length"),
        ("magnet:?xt=urn:btih:" + HEX + "&xl=" + "9" * 30, "xl= must be a length"),
        ("magnet:?xt=urn:btih:" + HEX + "&xl=%D9%A3", "xl= must be a length"),  # Arabic-Indic digit
        ("magnet:?xt=urn:btih:" + HEX + "&so=", "so= must be"),
        ("magnet:?xt=urn:btih:" + HEX + "&so=1,,2", "so= must be"),
        ("magnet:?xt=urn:btih:" + HEX + "&so=-1", "so= must be"),
        ("magnet:?xt=urn:btih:" + HEX + "&so=1-2-3", "so= must be"),
        ("magnet:?xt=urn:btih:" + HEX + "&so=12345678", "so= must be"),
        ("magnet:?xt=urn:btih:" + HEX + "&so=5-1", "runs backwards"),
        ("magnet:?xt=urn:btih:" + HEX + "&so=0-9999999", f"more than {MAX_SELECTED} files"),
        ("magnet:?xt=urn:btih:" + HEX + "&so=0-50000,50001-100001", "more than"),
        ("magnet:?xt=urn:btih:" + HEX + "&tr=x" * MAX_PARAMETERS, "1001 parameters, more than 1000"),
        ("magnet:?xt=urn:btih:" + HEX + "&dn=" + "x" * MAX_URI_LENGTH, "more than 65536"),
    ],
)
def test_rejections(uri, message):
    with pytest.raises(MagnetError, match=re.escape(message)) as e:
        parse_magnet(uri)
    assert "\n" not in str(e.value)


def test_select_only_cap_is_inclusive():
    assert len(magnet(f"xt=urn:btih:{HEX}", f"so=0-{MAX_SELECTED - 1}").select_only) == MAX_SELECTED


def test_non_string_is_a_programming_error():
    with pytest.raises(TypeError):
        parse_magnet(b"magnet:?xt=urn:btih:" + HEX.encode())


# -- make_magnet -------------------------------------------------------------------------------


def test_make_magnet_percent_encodes_every_value():
    peer_list = [("::1", 80), ("1.2.3.4", 5)]
    uri = make_magnet(HASH, "a b&c=d+e", ["http://t/a?x=1&y=2"], 7, peer_list, ["http://w/"], [3, 1, 2, 9])
    assert uri == (
        f"magnet:?xt=urn:btih:{HEX}&dn=a%20b%26c%3Dd%2Be&xl=7&tr=http%3A%2F%2Ft%2Fa%3Fx%3D1%26y%3D2"
        "&ws=http%3A%2F%2Fw%2F&x.pe=[::1]:80&x.pe=1.2.3.4:5&so=1-3,9"
    )
    expected = Magnet(HASH, "a b&c=d+e", ("http://t/a?x=1&y=2",), 7, tuple(peer_list), ("http://w/",), (1, 2, 3, 9))
    assert parse_magnet(uri) == expected


def test_make_magnet_refuses_a_bad_hash():
    with pytest.raises(ValueError):
        make_magnet(HASH[:19])


urls = st.text(min_size=1, max_size=30)
peers = st.tuples(
    st.ip_addresses().map(str) | st.from_regex(r"[a-z][a-z0-9]{0,10}(\.[a-z][a-z0-9]{0,10}){0,2}", fullmatch=True),
    st.integers(1, 65535),
)


@settings(max_examples=300)
@given(
    st.binary(min_size=20, max_size=20),
    st.none() | st.text(max_size=40),
    st.lists(urls, max_size=4, unique=True),
    st.none() | st.integers(0, 2**50),
    st.lists(peers, max_size=3, unique=True),
    st.lists(urls, max_size=3, unique=True),
    st.none() | st.lists(st.integers(0, 5000), min_size=1, max_size=20),
)
def test_make_and_parse_roundtrip(info_hash, name, trackers, length, peer_list, seeds, select):
    uri = make_magnet(info_hash, name, trackers, length, peer_list, seeds, select)
    m = parse_magnet(uri)
    assert m.info_hash == info_hash
    assert m.display_name == name
    assert m.trackers == tuple(trackers) and m.web_seeds == tuple(seeds)
    assert m.exact_length == length
    assert m.peers == tuple(peer_list)  # addresses from ip_addresses() are already in normal form
    assert m.select_only == (None if select is None else tuple(sorted(set(select))))


@settings(max_examples=500)
@given(st.text(max_size=200))
def test_random_text_parses_cleanly(text):
    for uri in (text, "magnet:?" + text, f"magnet:?xt=urn:btih:{HEX}&" + text):
        try:
            parse_magnet(uri)
        except MagnetError as e:
            assert "\n" not in str(e)


@settings(max_examples=300)
@given(st.data())
def test_mutated_magnets_parse_cleanly(draw):
    uri = list(make_magnet(HASH, "name", ["udp://t:1"], 5, [("::1", 2)], ["http://w/"], [0, 3]))
    for _ in range(draw.draw(st.integers(1, 4))):
        where = draw.draw(st.integers(0, len(uri)))
        char = draw.draw(st.sampled_from(list("&=%:.,-[]0aZ\x00é ")) | st.characters())
        if draw.draw(st.booleans()) and where < len(uri):
            uri[where] = char
        else:
            uri.insert(where, char)
    try:
        parse_magnet("".join(uri))
    except MagnetError as e:
        assert "\n" not in str(e)


@pytest.mark.interop
def test_libtorrent_reads_our_magnets_the_same_way():
    lt = require_tool("libtorrent")
    trackers = ["http://t/a?x=1&y=2", "udp://u:80"]
    uri = make_magnet(HASH, "a b+c", trackers, None, [("1.2.3.4", 5), ("::1", 6)], ["http://w/"])
    params = lt.parse_magnet_uri(uri)
    assert str(params.info_hashes.v1) == HEX
    assert params.name == "a b+c"
    assert list(params.trackers) == trackers
    assert list(params.url_seeds) == ["http://w/"]
    assert [(str(ip), port) for ip, port in params.peers] == [("1.2.3.4", 5), ("::1", 6)]


@pytest.mark.interop
@pytest.mark.parametrize("v1", [HASH, None])
def test_libtorrent_reads_our_v2_magnets_the_same_way(v1):
    lt = require_tool("libtorrent")
    v2 = bytes(range(32))
    params = lt.parse_magnet_uri(make_magnet(v1, "x", info_hash_v2=v2))
    assert params.info_hashes.v2.to_bytes() == v2
    assert params.info_hashes.has_v1() == (v1 is not None)


def test_fetched_metadata_must_match_the_links_full_v2_hash():
    from types import SimpleNamespace

    from torrentish.formats.magnet import check_fetched_info

    v2 = bytes(range(32))
    link = parse_magnet(make_magnet(HASH, "x", info_hash_v2=v2))
    check_fetched_info(link, SimpleNamespace(info_hash_v2=v2))
    check_fetched_info(parse_magnet(make_magnet(HASH)), SimpleNamespace(info_hash_v2=None))
    for wrong in (None, bytes(32)):
        with pytest.raises(MagnetError, match="does not match the link's v2 hash"):
            check_fetched_info(link, SimpleNamespace(info_hash_v2=wrong))
