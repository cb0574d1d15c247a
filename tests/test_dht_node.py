"""DHT nodes on 127.0.0.1: queries, abuse defences, read-only mode, saved state, IPv6, PORT messages.

Every node here bootstraps only from other local nodes (tests.support.trackerless.local_config).
"""

from __future__ import annotations

import socket

import pytest
import trio
from trio.testing import wait_all_tasks_blocked

from tests.support.trackerless import LOCALHOST, local_config, local_dht, make_info
from torrentish.formats import bencoding
from torrentish.services.dht import krpc
from torrentish.services.dht.config import ipv6_available
from torrentish.services.dht.node import open_dht_node
from torrentish.services.dht.service import DhtService
from torrentish.engine.client import open_client
from torrentish.storage.memory import MemoryStorage

INFO_HASH = bytes(range(100, 120))
TEST_ID = bytes(range(20))


class RawSocket:
    """A UDP socket a test drives by hand, with a node id to answer pings with."""

    def __init__(self, sock):
        self.sock = sock
        self.port = sock.getsockname()[1]

    async def send(self, data: bytes, port: int) -> None:
        await self.sock.sendto(data, (LOCALHOST, port))

    async def receive(self, timeout: float = 1.0):
        with trio.move_on_after(timeout):
            data, _ = await self.sock.recvfrom(65536)
            return data
        return None

    async def ask(self, message: krpc.Query, port: int, timeout: float = 1.0):
        raw = krpc.encode_message(message)
        await self.send(raw, port)
        while True:
            data = await self.receive(timeout)
            if data is None:
                return raw, None, None
            reply = krpc.decode_message(data)
            if isinstance(reply, krpc.Query):  # the node checking on us: answer, keep waiting
                await self.send(krpc.encode_message(krpc.Response(tid=reply.tid, node_id=TEST_ID)), port)
                continue
            return raw, data, reply


@pytest.fixture
async def raw():
    sock = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    await sock.bind((LOCALHOST, 0))
    with sock:
        yield RawSocket(sock)


# -- the basics --------------------------------------------------------------------------------------------


async def test_ping_find_node_announce_and_get_peers():
    async with local_dht(6) as nodes:
        first, *others = nodes
        assert await first.ping((LOCALHOST, others[0].port)) == others[0].node_id
        found = await others[-1].find_node(others[2].node_id)
        assert others[2].node_id in {n.node_id for n in found}
        result, accepted = await others[0].announce(INFO_HASH, 6881)
        assert accepted >= 3 and result.peers == []
        peers = await others[-1].get_peers(INFO_HASH)
        assert peers.peers == [(LOCALHOST, 6881)]
        assert all(len(node.tables[4]) >= 3 for node in nodes)


async def test_a_node_that_does_not_answer_counts_as_failed():
    async with local_dht(2) as (a, b):
        dead = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        await dead.bind((LOCALHOST, 0))
        with dead:
            assert await a.ping(dead.getsockname()) is None


# -- hostile input and abuse ------------------------------------------------------------------------------


async def test_hostile_datagrams_get_errors_or_silence_and_the_node_lives_on(raw):
    async with open_dht_node(local_config()) as node:
        await raw.send(b"garbage", node.port)
        await raw.send(b"d1:t2:aa1:y1:re", node.port)  # a response without a body
        await raw.send(krpc.encode_message(krpc.Response(tid=b"aa", node_id=TEST_ID)), node.port)  # unasked for
        assert await raw.receive(0.2) is None
        cases = [
            (bencoding.encode({"t": "ab", "y": "q", "q": "ping", "a": {"id": b"short"}}), 203),
            (bencoding.encode({"t": "ac", "y": "q", "q": "find_node", "a": {"id": TEST_ID}}), 203),
            (bencoding.encode({"t": "ad", "y": "q", "q": "vote", "a": {"id": TEST_ID}}), 204),
            (bencoding.encode({"t": "ae", "y": "q", "q": "announce_peer",
                               "a": {"id": TEST_ID, "info_hash": INFO_HASH, "port": 1, "token": b"forged"}}), 203),
        ]
        for request, code in cases:
            await raw.send(request, node.port)
            reply = krpc.decode_message(await raw.receive())
            assert isinstance(reply, krpc.Error) and reply.code == code
            assert reply.tid == bencoding.decode(request)[b"t"]
        _, _, pong = await raw.ask(krpc.Ping(tid=b"zz", node_id=TEST_ID), node.port)
        assert pong.node_id == node.node_id
        assert node.stats["bad_packets"] >= 4 and node.stats["unexpected"] >= 1


async def test_replies_to_unverified_sources_are_never_much_larger_than_the_request(raw):
    async with local_dht(12, seed=3) as nodes:
        target = nodes[0]
        for i in range(60):
            target.store.add(INFO_HASH, (f"10.0.{i}.1", 6881), trio.current_time())
        query = krpc.GetPeers(tid=b"a1", node_id=TEST_ID, info_hash=INFO_HASH, want=frozenset({"n4", "n6"}))
        raw_query = krpc.encode_message(query)
        await raw.send(raw_query, target.port)
        first = await raw.receive()
        assert len(first) <= 3 * len(raw_query)
        assert krpc.decode_message(first).token  # trimmed, but the token survives
        # Answer the node's ping: now we are verified and may get a full packet of peers.
        verify = krpc.decode_message(await raw.receive())
        assert isinstance(verify, krpc.Ping)
        await raw.send(krpc.encode_message(krpc.Response(tid=verify.tid, node_id=TEST_ID)), target.port)
        await wait_all_tasks_blocked()  # the node has read our answer
        _, data, reply = await raw.ask(query, target.port)
        assert len(data) > 3 * len(raw_query) and len(data) <= target.config.max_reply
        assert len(reply.values) > len(krpc.decode_message(first).values)


async def test_a_source_over_its_rate_is_ignored(raw):
    async with open_dht_node(local_config(rate_per_source=5.0)) as node:
        for i in range(40):
            await raw.send(krpc.encode_message(krpc.Ping(tid=i.to_bytes(2, "big"), node_id=TEST_ID)), node.port)
        replies = 0
        while (data := await raw.receive(0.3)) is not None:
            replies += isinstance(krpc.decode_message(data), krpc.Response)
        assert 5 <= replies <= 12  # the burst (2 x rate), then silence
        assert node.stats["rate_limited"] >= 28


# -- read-only nodes (BEP 43) ------------------------------------------------------------------------------


async def test_read_only_nodes_ask_but_never_answer_and_are_not_kept(raw):
    async with local_dht(4) as nodes:
        reader_config = local_config([nodes[0].port], read_only=True)
        async with open_dht_node(reader_config) as reader:
            with trio.fail_after(5):
                await reader.bootstrapped.wait()
            await nodes[1].announce(INFO_HASH, 7000)
            assert (await reader.get_peers(INFO_HASH)).peers == [(LOCALHOST, 7000)]
            assert all(node.tables[4].find(reader.node_id) is None for node in nodes)
            _, _, reply = await raw.ask(krpc.Ping(tid=b"r1", node_id=TEST_ID), reader.port, timeout=0.3)
            assert reply is None


# -- saved state -------------------------------------------------------------------------------------------


async def test_the_routing_table_is_saved_and_reused(tmp_path):
    path = tmp_path / "dht.state"
    async with local_dht(5) as nodes:
        config = local_config([nodes[0].port], state_path=path)
        async with open_dht_node(config) as first_run:
            with trio.fail_after(5):
                await first_run.bootstrapped.wait()
            known = {c.node_id for c in first_run.tables[4].contacts()}
            own_id = first_run.node_id
        assert path.exists() and len(known) >= 3
        # No bootstrap nodes at all this time: it rejoins through the contacts it saved.
        async with open_dht_node(local_config(state_path=path)) as second_run:
            with trio.fail_after(5):
                await second_run.bootstrapped.wait()
            assert second_run.node_id == own_id
            assert {c.node_id for c in second_run.tables[4].contacts()} & known


async def test_a_damaged_state_file_means_a_fresh_start(tmp_path):
    path = tmp_path / "dht.state"
    path.write_bytes(b"d2:id5:short5:nodes3:abce")
    async with open_dht_node(local_config(state_path=path)) as node:
        assert len(node.node_id) == 20 and len(node.tables[4]) == 0


# -- IPv6 (BEP 32) -----------------------------------------------------------------------------------------


@pytest.mark.skipif(not ipv6_available(), reason="no IPv6 loopback on this machine")
async def test_ipv6_nodes_find_each_other_and_answer_want():
    base = dict(host6="::1")
    async with open_dht_node(local_config(**base)) as first:
        config = local_config(**base)
        config.bootstrap = (f"[::1]:{first.port}", f"{LOCALHOST}:{first.port}")
        async with open_dht_node(config) as second, open_dht_node(config) as third:
            with trio.fail_after(5):
                await second.bootstrapped.wait()
                await third.bootstrapped.wait()
            assert len(second.tables[6]) >= 1 and len(second.tables[4]) >= 1
            await second.announce(INFO_HASH, 6000)
            found = await third.get_peers(INFO_HASH)
            assert ("::1", 6000) in found.peers and (LOCALHOST, 6000) in found.peers
            reply = await first.query(("::1", second.port), lambda **c: krpc.FindNode(
                target=third.node_id, want=frozenset({"n4", "n6"}), **c))
            assert reply.nodes and reply.nodes6


# -- PORT messages: a DHT joined through peers ---------------------------------------------------------------


async def test_peers_swap_dht_ports_and_their_nodes_meet():
    info, data = make_info(seed=9)
    async with open_dht_node(local_config()) as node_a, open_dht_node(local_config()) as node_b:
        assert len(node_a.tables[4]) == len(node_b.tables[4]) == 0  # no bootstrap nodes at all
        async with open_client(host=LOCALHOST) as a, open_client(host=LOCALHOST) as b:
            seed = await a.add_torrent(info, MemoryStorage.filled(info.geometry(), data), upload_only=True)
            a._nursery.start_soon(DhtService(node_a), a, seed)
            await wait_all_tasks_blocked()  # the service is running before anyone connects
            leech = await b.add_torrent(info, MemoryStorage(info.geometry()), peers=[(LOCALHOST, a.port)])
            b._nursery.start_soon(DhtService(node_b), b, leech)
            with trio.fail_after(10):
                await leech.completed.wait()
                while not (node_a.tables[4].find(node_b.node_id) and node_b.tables[4].find(node_a.node_id)):
                    await trio.sleep(0.05)

