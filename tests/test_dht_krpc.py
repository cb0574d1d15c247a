"""KRPC messages (BEP 5, 32, 42, 43) and the answers a node gives: format, limits, hostile input."""

from __future__ import annotations

import ipaddress
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from torrentish.formats import bencoding
from torrentish.services.dht import krpc
from torrentish.services.dht.answers import answer
from torrentish.services.dht.krpc import NodeInfo
from torrentish.services.dht.peer_store import PeerStore
from torrentish.services.dht.routing import RoutingTable
from torrentish.services.dht.tokens import TokenIssuer
from torrentish.errors import ProtocolError

ID = bytes(range(20))
OTHER = bytes(range(20, 40))

# -- the BEP 5 examples --------------------------------------------------------------------------------


def test_bep5_ping_examples():
    query = krpc.decode_message(b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe")
    assert query == krpc.Ping(tid=b"aa", node_id=b"abcdefghij0123456789")
    assert krpc.encode_message(query) == b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe"
    response = krpc.decode_message(b"d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re")
    assert response == krpc.Response(tid=b"aa", node_id=b"mnopqrstuvwxyz123456")


def test_bep5_announce_and_error_examples():
    query = krpc.decode_message(
        b"d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456"
        b"12:implied_porti1e4:porti6881e5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe"
    )
    assert query == krpc.AnnouncePeer(tid=b"aa", node_id=b"abcdefghij0123456789",
                                      info_hash=b"mnopqrstuvwxyz123456", port=6881, token=b"aoeusnth",
                                      implied_port=True)
    error = krpc.decode_message(b"d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee")
    assert error == krpc.Error(tid=b"aa", code=201, message="A Generic Error Ocurred")


def test_bep43_read_only_flag_and_bep42_ip():
    query = krpc.Ping(tid=b"x", node_id=ID, read_only=True)
    data = krpc.encode_message(query)
    assert b"2:roi1e" in data and krpc.decode_message(data) == query
    response = krpc.Response(tid=b"x", node_id=ID, ip=("10.1.2.3", 6881))
    assert krpc.decode_message(krpc.encode_message(response)).ip == ("10.1.2.3", 6881)


# -- round trips -----------------------------------------------------------------------------------------

node_ids = st.binary(min_size=20, max_size=20)
tids = st.binary(min_size=1, max_size=krpc.MAX_TRANSACTION_ID)
public_v4 = st.integers(0x01000000, 0xDFFFFFFF).map(lambda n: str(ipaddress.IPv4Address(n))).filter(
    lambda h: krpc.valid_address(h, 1))
public_v6 = st.integers(0x20000000 << 96, (0x3FFFFFFF << 96) | (2**96 - 1)).map(
    lambda n: str(ipaddress.IPv6Address(n))).filter(lambda h: krpc.valid_address(h, 1))
ports = st.integers(1, 65535)
nodes4 = st.lists(st.builds(NodeInfo, node_ids, public_v4, ports), max_size=8).map(tuple)
nodes6 = st.lists(st.builds(NodeInfo, node_ids, public_v6, ports), max_size=8).map(tuple)
wants = st.frozensets(st.sampled_from(["n4", "n6"]))
versions = st.none() | st.binary(max_size=krpc.MAX_VERSION)
common = dict(tid=tids, node_id=node_ids, read_only=st.booleans(), version=versions)

queries = st.one_of(
    st.builds(krpc.Ping, **common),
    st.builds(krpc.FindNode, target=node_ids, want=wants, **common),
    st.builds(krpc.GetPeers, info_hash=node_ids, want=wants, **common),
    st.builds(krpc.AnnouncePeer, info_hash=node_ids, port=ports, token=st.binary(max_size=krpc.MAX_TOKEN),
              implied_port=st.booleans(), **common),
    st.builds(krpc.UnknownQuery, name=st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=20).filter(
        lambda n: n not in ("ping", "find_node", "get_peers", "announce_peer")), **common),
)
responses = st.builds(
    krpc.Response, tid=tids, node_id=node_ids, nodes=nodes4, nodes6=nodes6,
    values=st.lists(st.tuples(st.one_of(public_v4, public_v6), ports), max_size=20, unique=True).map(tuple),
    token=st.none() | st.binary(max_size=krpc.MAX_TOKEN), ip=st.none() | st.tuples(public_v4, ports),
    version=versions,
)
errors = st.builds(krpc.Error, tid=tids, code=st.integers(201, 204), message=st.text(
    st.characters(min_codepoint=32, max_codepoint=126), max_size=50), version=versions)


@given(st.one_of(queries, responses, errors))
@settings(max_examples=250)
def test_round_trip(message):
    assert krpc.decode_message(krpc.encode_message(message)) == message


# -- hostile input ------------------------------------------------------------------------------------------


def query_bytes(method=b"ping", args=None, **top) -> bytes:
    value = {b"t": b"aa", b"y": b"q", b"q": method, b"a": {b"id": ID} if args is None else args}
    value.update(top)
    return bencoding.encode(value)


@pytest.mark.parametrize(
    "data, fragment, answerable",
    [
        (b"garbage", "invalid bencoding", False),
        (b"le", "not a dictionary", False),
        (bencoding.encode({"y": "q"}), "transaction id", False),
        (bencoding.encode({"t": b"x" * 33, "y": "q"}), "transaction id", False),
        (bencoding.encode({"t": 5, "y": "q"}), "transaction id", False),
        (bencoding.encode({"t": "aa", "y": "z"}), "'y' must be", False),
        (query_bytes(args={b"id": b"short"}), "node id is 5 bytes", True),
        (query_bytes(args={b"id": ID * 2}), "node id is 40 bytes", True),
        (query_bytes(args={b"id": 12}), "node id is missing or not a string", True),
        (query_bytes(args=[]), "no argument dictionary", True),
        (query_bytes(method=12), "method name", True),
        (query_bytes(method=b"x" * 40), "method name", True),
        (query_bytes(b"find_node"), "target", True),
        (query_bytes(b"get_peers", {b"id": ID, b"info_hash": b"x" * 19}), "info_hash is 19 bytes", True),
        (query_bytes(b"announce_peer", {b"id": ID, b"info_hash": ID, b"token": b"t", b"port": 0}), "port", True),
        (query_bytes(b"announce_peer", {b"id": ID, b"info_hash": ID, b"token": b"t", b"port": 99999}), "port", True),
        (query_bytes(b"announce_peer", {b"id": ID, b"info_hash": ID, b"token": b"t" * 65, b"port": 1}), "token", True),
        (bencoding.encode({"t": "aa", "y": "r", "r": {"id": ID, "nodes": b"x" * 27}}), "26-byte nodes", False),
        (bencoding.encode({"t": "aa", "y": "r", "r": {"id": ID, "nodes": 5}}), "nodes is not a string", False),
        (bencoding.encode({"t": "aa", "y": "r", "r": {"id": ID, "values": b"x"}}), "values is not a list", False),
        (bencoding.encode({"t": "aa", "y": "r", "r": {"id": ID, "token": [1]}}), "token", False),
        (bencoding.encode({"t": "aa", "y": "r", "r": []}), "'r' dictionary", False),
        (b"d1:t2:aa1:y1:q1:q4:ping1:ad2:id20:" + ID + b"e" + b"x" * 9000 + b"e", "bencoding", False),
    ],
)
def test_hostile_datagrams(data, fragment, answerable):
    with pytest.raises(krpc.KrpcError, match=fragment) as caught:
        krpc.decode_message(data)
    error = caught.value
    assert isinstance(error, ProtocolError) and "\n" not in str(error)
    assert (error.query and error.tid == b"aa") is answerable


def test_valid_addresses():
    assert krpc.valid_address("::1", 1) and krpc.valid_address("127.0.0.1", 1) and krpc.valid_address("8.8.8.8", 1)
    for host, port in (("0.0.0.0", 1), ("8.8.8.8", 0), ("224.0.0.1", 1), ("255.255.255.255", 1), ("::", 1),
                       ("240.0.0.1", 1), ("host.example", 1)):
        assert not krpc.valid_address(host, port)


def test_lenient_where_the_wild_needs_it():
    response = krpc.decode_message(bencoding.encode({
        "t": "aa", "y": "r", "x-unknown": 1,
        "r": {"id": ID, "values": [b"\x01\x02\x03\x04\x1a\xe1", b"bad", 7, b"\x00\x00\x00\x00\x1a\xe1"],
              "nodes": OTHER + b"\x00\x00\x00\x00\x00\x00" + ID + b"\x08\x08\x08\x08\x1a\xe1"},
    }))
    assert response.values == (("1.2.3.4", 6881),)  # malformed and junk entries skipped
    assert response.nodes == (NodeInfo(ID, "8.8.8.8", 6881),)  # the 0.0.0.0:0 node skipped
    query = krpc.decode_message(query_bytes(b"find_node", {b"id": ID, b"target": OTHER, b"want": [b"n6", b"zz", 3]}))
    assert query.want == frozenset({"n6"})
    error = krpc.decode_message(bencoding.encode({"t": "aa", "y": "e", "e": ["x", b"\x00bad\xff"]}))
    assert error.code == krpc.GENERIC_ERROR and error.message == "?bad\ufffd"


@given(st.binary(max_size=300))
@settings(max_examples=300)
def test_random_bytes_give_a_message_or_a_krpc_error(data):
    try:
        krpc.decode_message(data)
    except krpc.KrpcError:
        pass


@given(st.one_of(queries, responses), st.data())
@settings(max_examples=300)
def test_mutated_messages_give_a_message_or_a_krpc_error(message, data):
    raw = bytearray(krpc.encode_message(message))
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    try:
        krpc.decode_message(bytes(raw))
    except krpc.KrpcError:
        pass


# -- bounded replies --------------------------------------------------------------------------------------


@given(responses, st.integers(0, 2000))
@settings(max_examples=150)
def test_encode_within_fits_the_budget_or_is_bare(response, budget):
    data = krpc.encode_within(response, budget)
    trimmed = krpc.decode_message(data)
    assert len(data) <= budget or not (trimmed.values or trimmed.nodes or trimmed.nodes6)
    assert set(trimmed.values) <= set(response.values) and set(trimmed.nodes) <= set(response.nodes)
    assert trimmed.token == response.token and trimmed.node_id == response.node_id


# -- answers ---------------------------------------------------------------------------------------------


def node_state(now=0.0):
    rng = random.Random(1)
    tables = {4: RoutingTable(ID, restrict_ips=False), 6: RoutingTable(ID, restrict_ips=False)}
    for i in range(12):
        tables[4].heard_from(bytes([i + 1]) * 20, (f"10.0.0.{i + 1}", 6881), now, responded=True)
        tables[6].heard_from(bytes([i + 1]) * 20, (f"fd00::{i + 1}", 6881), now, responded=True)
    return dict(node_id=ID, tables=tables, store=PeerStore(), tokens=TokenIssuer(rng, now), rng=rng)


def test_answers_follow_want_and_the_query_family():
    state = node_state()
    source4, source6 = ("10.9.9.9", 1000), ("fd00::99", 1000)
    plain = answer(krpc.FindNode(tid=b"t", node_id=OTHER, target=OTHER), source4, 1.0, **state)
    assert len(plain.nodes) == 8 and plain.nodes6 == () and plain.ip == source4
    over6 = answer(krpc.FindNode(tid=b"t", node_id=OTHER, target=OTHER), source6, 1.0, **state)
    assert over6.nodes == () and len(over6.nodes6) == 8
    both = answer(krpc.GetPeers(tid=b"t", node_id=OTHER, info_hash=OTHER, want=frozenset({"n4", "n6"})),
                  source4, 1.0, **state)
    assert len(both.nodes) == 8 and len(both.nodes6) == 8 and both.token and both.values == ()


def test_announce_needs_a_token_for_that_address_and_then_is_served():
    state = node_state()
    source = ("10.9.9.9", 1000)
    token = answer(krpc.GetPeers(tid=b"t", node_id=OTHER, info_hash=OTHER), source, 1.0, **state).token
    refused = answer(krpc.AnnouncePeer(tid=b"t", node_id=OTHER, info_hash=OTHER, port=6881, token=token),
                     ("10.9.9.10", 1000), 1.0, **state)
    assert refused == krpc.Error(tid=b"t", code=203, message="bad token", version=refused.version)
    accepted = answer(krpc.AnnouncePeer(tid=b"t", node_id=OTHER, info_hash=OTHER, port=6881, token=token,
                                        implied_port=True), source, 2.0, **state)
    assert isinstance(accepted, krpc.Response)
    found = answer(krpc.GetPeers(tid=b"u", node_id=OTHER, info_hash=OTHER), ("10.5.5.5", 1), 3.0, **state)
    assert found.values == (("10.9.9.9", 1000),)  # implied_port: the UDP source port
    late = answer(krpc.AnnouncePeer(tid=b"t", node_id=OTHER, info_hash=OTHER, port=6881, token=token),
                  source, 1.0 + 11 * 60, **state)
    assert isinstance(late, krpc.Error)  # tokens live ten minutes at most


def test_unknown_methods_get_error_204():
    reply = answer(krpc.UnknownQuery(tid=b"t", node_id=OTHER, name="vote"), ("10.9.9.9", 1), 0.0, **node_state())
    assert isinstance(reply, krpc.Error) and reply.code == krpc.METHOD_UNKNOWN


def test_bootstrap_addresses():
    from torrentish.services.dht.config import parse_host_port

    assert parse_host_port("router.bittorrent.com:6881") == ("router.bittorrent.com", 6881)
    assert parse_host_port("[::1]:7000") == ("::1", 7000)
    for bad in ("nohost", ":6881", "host:0", "host:70000", "host:x"):
        with pytest.raises(ValueError):
            parse_host_port(bad)
