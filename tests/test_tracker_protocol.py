"""Tracker message formats, HTTP (BEP 3, 7, 23, 48) and UDP (BEP 15): round trips and hostile input."""

from __future__ import annotations

import ipaddress
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from torrentish.formats.bencoding import encode
from torrentish.services.tracker import http_protocol as hp
from torrentish.services.tracker import udp_protocol as up
from torrentish.services.tracker.protocol import (
    MAX_PEERS,
    AnnounceRequest,
    ScrapeStats,
    TrackerError,
    TrackerFailure,
    decode_compact_peers,
    encode_compact_peers,
    peer_address,
)

EXAMPLES = settings(max_examples=300, deadline=None)
HASH = bytes(range(20))
PEER_ID = b"-TT0100-" + b"x" * 12

hashes = st.binary(min_size=20, max_size=20)
ports = st.integers(1, 65535)
v4 = st.integers(0, 2**32 - 1).map(lambda n: str(ipaddress.IPv4Address(n)))
v6 = st.binary(min_size=16, max_size=16).map(lambda b: str(ipaddress.IPv6Address(b)))
# Addresses a reply may carry and a client keeps (peer_address drops the unusable ones).
peers = st.lists(st.tuples(st.one_of(v4, v6), ports), max_size=40).map(
    lambda ps: list(dict.fromkeys(p for p in (peer_address(h, port) for h, port in ps) if p is not None))
)
requests = st.builds(
    AnnounceRequest,
    info_hash=hashes,
    peer_id=hashes,
    port=ports,
    uploaded=st.integers(0, 2**62),
    downloaded=st.integers(0, 2**62),
    left=st.integers(0, 2**62),
    event=st.sampled_from(["", "started", "completed", "stopped"]),
    numwant=st.integers(-1, 2**31 - 1),
    key=st.integers(0, 2**32 - 1),
    tracker_id=st.none() | st.binary(min_size=1, max_size=40),
    compact=st.booleans(),
    no_peer_id=st.booleans(),
)


def _by_family(addresses):
    return sorted(addresses, key=lambda a: ipaddress.ip_address(a[0]).version)


# ------------------------------------------------------------------------------------------ HTTP
@EXAMPLES
@given(requests, st.sampled_from(["http://t.example/announce", "https://t.example:8443/a/announce?passkey=abc"]))
def test_http_announce_query_round_trips(request, base):
    url = hp.announce_url(base, request)
    assert url.startswith(base)
    query = url.split("?", 1)[1]
    if "passkey" in base:
        assert query.startswith("passkey=abc&")
    assert hp.parse_announce_query(query) == request


@EXAMPLES
@given(peers, st.integers(0, 100000), st.none() | st.integers(0, 3600), st.integers(0, 10**6), st.booleans())
def test_http_announce_reply_round_trips(addresses, interval, min_interval, complete, compact):
    body = hp.encode_announce_reply(
        interval=interval,
        min_interval=min_interval,
        peers=[(h, p, PEER_ID) for h, p in addresses],
        compact=compact,
        no_peer_id=False,
        complete=complete,
        incomplete=3,
        warning="slow down",
        tracker_id=b"tid",
    )
    reply = hp.parse_announce_reply(body)
    assert reply.interval == interval and reply.min_interval == min_interval
    assert (reply.complete, reply.incomplete) == (complete, 3)
    assert reply.warning == "slow down" and reply.tracker_id == b"tid"
    assert list(reply.peers) == (_by_family(addresses) if compact else addresses)


@EXAMPLES
@given(
    st.dictionaries(
        hashes, st.builds(ScrapeStats, st.integers(0, 10**9), st.integers(0, 10**9), st.integers(0, 10**9)), max_size=10
    )
)
def test_http_scrape_round_trips(stats):
    assert hp.parse_scrape_reply(hp.encode_scrape_reply(stats)) == stats
    if stats:
        url = hp.scrape_request_url("http://t.example/x/announce.php?k=1", list(stats))
        assert url.startswith("http://t.example/x/scrape.php?k=1&")
        assert hp.parse_scrape_query(url.split("?", 1)[1].split("&", 1)[1]) == list(stats)


def test_scrape_url_follows_bep_48():
    assert hp.scrape_url("http://t.example/announce") == "http://t.example/scrape"
    assert hp.scrape_url("http://t.example/x/announce?pk=1") == "http://t.example/x/scrape?pk=1"
    assert hp.scrape_url("http://t.example/a") is None
    assert hp.scrape_url("http://t.example/announce/x") is None


def test_failure_and_warning_reasons_reach_the_user_as_one_line():
    with pytest.raises(TrackerFailure, match="^torrent not registered here$"):
        hp.parse_announce_reply(encode({b"failure reason": b"torrent not registered\n here"}))
    reply = hp.parse_announce_reply(encode({b"interval": 60, b"peers": b"", b"warning message": b"\x1b[31mbe\tnice"}))
    assert reply.warning == "[31mbe nice"
    long = hp.parse_announce_reply(encode({b"interval": 60, b"warning message": b"w" * 5000})).warning
    assert len(long) <= 503


def test_non_compact_peers_skip_bad_entries_and_hostnames():
    body = encode(
        {
            b"interval": 60,
            b"peers": [
                {b"ip": b"10.0.0.1", b"port": 6881, b"peer id": b"x" * 20},
                {b"ip": b"tracker.example", b"port": 1},  # a name: we never resolve what trackers send
                {b"ip": b"10.0.0.2", b"port": 0},
                {b"ip": b"::1", b"port": 7},
                b"junk",
                {b"port": 5},
            ],
        }
    )
    assert hp.parse_announce_reply(body).peers == (("10.0.0.1", 6881), ("::1", 7))


@pytest.mark.parametrize(
    "body, message",
    [
        (b"", "not valid bencoding"),
        (b"le", "not a dictionary"),
        (b"d8:intervali-1ee", "interval"),
        (b"d8:intervali" + b"9" * 15 + b"ee", "interval"),
        (b"d8:intervali" + b"9" * 30 + b"ee", "more than 20 digits"),
        (b"d8:interval3:abce", "interval"),
        (b"d5:peers5:abcdee", "multiple of 6"),
        (b"d6:peers619:" + b"a" * 19 + b"e", "multiple of 18"),
        (b"d5:peersi5ee", "compact string nor a list"),
        (b"d8:completei-5ee", "complete"),
        (b"l" * 5000 + b"e" * 5000, "bencoding"),  # a nesting bomb
        (b"d5:peers" + str(2 * 1024 * 1024).encode() + b":" + b"\0" * (2 * 1024 * 1024) + b"e", "bencoding"),
    ],
)
def test_bad_http_replies_are_tracker_errors(body, message):
    with pytest.raises(TrackerError, match=message):
        hp.parse_announce_reply(body)


def test_huge_peer_lists_are_cut_at_the_limit():
    compact = b"".join(struct.pack(">IH", 0x0A000000 + i, 6881) for i in range(100_000))
    reply = hp.parse_announce_reply(encode({b"interval": 60, b"peers": compact}))
    assert len(reply.peers) == MAX_PEERS
    assert len(decode_compact_peers(compact, 6, limit=10)) == 10


@EXAMPLES
@given(st.binary(max_size=300))
def test_random_http_replies_parse_or_raise_tracker_error(data):
    for parse in (hp.parse_announce_reply, hp.parse_scrape_reply):
        try:
            parse(data)
        except TrackerError:
            pass


@EXAMPLES
@given(st.data())
def test_mutated_http_replies_parse_or_raise_tracker_error(data):
    good = hp.encode_announce_reply(
        interval=1800,
        peers=[("10.0.0.1", 1, PEER_ID), ("::2", 2, PEER_ID)],
        compact=data.draw(st.booleans()),
        no_peer_id=False,
    )
    position = data.draw(st.integers(0, len(good) - 1))
    mutated = bytearray(good)
    mutated[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(mutated)))
    try:
        hp.parse_announce_reply(bytes(mutated[:cut]))
    except TrackerError:
        pass


@EXAMPLES
@given(st.binary(max_size=400))
def test_random_queries_parse_or_raise_tracker_error(data):
    for parse in (hp.parse_announce_query, hp.parse_scrape_query, hp.parse_query):
        try:
            parse(data)
        except TrackerError:
            pass


@pytest.mark.parametrize(
    "query, message",
    [
        ("peer_id=%41%41&port=1&left=0", "info_hash"),
        (f"info_hash={'%01' * 20}&peer_id={'%02' * 20}&port=0&left=0", "port out of range"),
        (f"info_hash={'%01' * 20}&peer_id={'%02' * 20}&port=1", "missing left"),
        (f"info_hash={'%01' * 20}&peer_id={'%02' * 20}&port=1&left=-5", "left out of range"),
        (f"info_hash={'%01' * 20}&peer_id={'%02' * 20}&port=1&left=1e9", "left must be a number"),
        ("a=1&" * 300, "more than 200"),
    ],
)
def test_bad_announce_queries_say_what_is_wrong(query, message):
    with pytest.raises(TrackerError, match=message):
        hp.parse_announce_query(query)


# ------------------------------------------------------------------------------------------- UDP
@EXAMPLES
@given(requests, st.integers(0, 2**64 - 1), st.integers(0, 2**32 - 1))
def test_udp_announce_request_round_trips(request, connection_id, tid):
    datagram = up.encode_announce(connection_id, tid, request)
    assert len(datagram) == 98
    parsed = up.parse_request(datagram)
    assert isinstance(parsed, up.UdpAnnounce)
    assert (parsed.connection_id, parsed.transaction_id) == (connection_id, tid)
    # UDP has no tracker id and always compact replies.
    expected = AnnounceRequest(**{**request.__dict__, "tracker_id": None, "compact": True, "no_peer_id": True})
    assert parsed.request == expected


@EXAMPLES
@given(st.integers(0, 2**32 - 1), st.integers(0, 2**64 - 1), st.lists(hashes, min_size=1, max_size=74))
def test_udp_connect_and_scrape_round_trip(tid, cid, info_hashes):
    assert up.parse_request(up.encode_connect(tid)) == up.ConnectRequest(tid)
    assert up.parse_connect_reply(up.encode_connect_reply(tid, cid), tid) == cid
    scrape = up.parse_request(up.encode_scrape(cid, tid, info_hashes))
    assert scrape == up.UdpScrape(cid, tid, tuple(info_hashes))
    stats = [ScrapeStats(i, i + 1, i + 2) for i in range(len(info_hashes))]
    assert up.parse_scrape_reply(up.encode_scrape_reply(tid, stats), tid, info_hashes) == dict(zip(info_hashes, stats))


@EXAMPLES
@given(st.integers(0, 2**32 - 1), peers, st.integers(0, 86400), st.booleans())
def test_udp_announce_reply_round_trips(tid, addresses, interval, ipv6):
    body = up.encode_announce_reply(tid, interval, 4, 5, addresses, ipv6)
    reply = up.parse_announce_reply(body, tid, ipv6)
    family = 6 if ipv6 else 4
    assert list(reply.peers) == [a for a in addresses if ipaddress.ip_address(a[0]).version == family]
    assert (reply.interval, reply.incomplete, reply.complete) == (interval, 4, 5)


def test_udp_replies_with_the_wrong_action_or_transaction_are_refused():
    reply = up.encode_connect_reply(7, 99)
    with pytest.raises(TrackerError, match="another transaction"):
        up.parse_connect_reply(reply, 8)
    with pytest.raises(TrackerError, match="action 0 to a request with action 1"):
        up.parse_announce_reply(reply, 7, False)
    with pytest.raises(TrackerError, match="too short"):
        up.parse_connect_reply(reply[:12], 7)
    with pytest.raises(TrackerError, match="too short"):
        up.parse_announce_reply(up.encode_announce_reply(7, 60, 0, 0, [], False)[:19], 7, False)
    with pytest.raises(TrackerError, match="too short"):
        up.parse_scrape_reply(up.encode_scrape_reply(7, [ScrapeStats(1, 1, 1)]), 7, [HASH, HASH[::-1]])
    with pytest.raises(TrackerError, match="multiple of 6"):
        up.parse_announce_reply(up.encode_announce_reply(7, 60, 0, 0, [], False) + b"12345", 7, False)
    with pytest.raises(TrackerFailure, match="^go away$"):
        up.parse_announce_reply(up.encode_error(7, "go away"), 7, False)


@EXAMPLES
@given(st.binary(max_size=200), st.integers(0, 2**32 - 1))
def test_random_udp_datagrams_parse_or_raise_tracker_error(data, tid):
    for parse in (
        lambda: up.parse_request(data),
        lambda: up.parse_connect_reply(data, tid),
        lambda: up.parse_announce_reply(data, tid, False),
        lambda: up.parse_announce_reply(data, tid, True),
        lambda: up.parse_scrape_reply(data, tid, [HASH]),
        lambda: up.reply_header(data),
    ):
        try:
            parse()
        except TrackerError:
            pass


def test_udp_requests_with_bad_fields_are_refused():
    good = up.encode_announce(1, 2, AnnounceRequest(HASH, PEER_ID, 6881))
    with pytest.raises(TrackerError, match="too short"):
        up.parse_request(good[:97])
    with pytest.raises(TrackerError, match="unknown event"):
        up.parse_request(good[:80] + struct.pack(">I", 9) + good[84:])
    with pytest.raises(TrackerError, match="port 0"):
        up.parse_request(good[:96] + b"\0\0")
    with pytest.raises(TrackerError, match="protocol id"):
        up.parse_request(struct.pack(">QII", 1, 0, 5))
    with pytest.raises(TrackerError, match="unknown action"):
        up.parse_request(struct.pack(">QII", 1, 7, 5))
    with pytest.raises(TrackerError, match="1 to 74"):
        up.parse_request(struct.pack(">QII", 1, 2, 5) + HASH * 75)
    # BEP 41 options after the fixed part are ignored.
    assert isinstance(up.parse_request(good + b"\x02\x05/path"), up.UdpAnnounce)


def test_compact_peer_encoding_keeps_each_family_in_its_place():
    mixed = [("10.0.0.1", 1), ("::ffff:10.0.0.2", 2), ("fd00::1", 3)]
    assert decode_compact_peers(encode_compact_peers(mixed, 6), 6) == [("10.0.0.1", 1), ("10.0.0.2", 2)]
    assert decode_compact_peers(encode_compact_peers(mixed, 18), 18) == [("fd00::1", 3)]
    # Port 0, unspecified and multicast addresses are useless as peers.
    junk = encode_compact_peers([("0.0.0.0", 5), ("224.0.0.1", 5), ("10.0.0.1", 0), ("10.0.0.1", 9)], 6)
    assert decode_compact_peers(junk, 6) == [("10.0.0.1", 9)]
