"""The built-in tracker: its memory (pure, with `now` passed in) and its HTTP and UDP servers on loopback."""

from __future__ import annotations

import random
import socket
import struct

import pytest
import trio
from trio.testing import wait_all_tasks_blocked

from torrentish.services.tracker import udp_protocol as up
from torrentish.services.tracker.http_client import http_announce, http_get, http_scrape, open_http_client
from torrentish.services.tracker.protocol import AnnounceRequest, ScrapeStats, TrackerError, TrackerFailure
from torrentish.services.tracker.server import TrackerConfig, TrackerServer
from torrentish.services.tracker.swarms import SwarmLimits, Swarms
from torrentish.services.tracker.udp_client import UdpTrackerClient

H1, H2 = b"\x01" * 20, b"\x02" * 20


def pid(n: int) -> bytes:
    return f"-TT0100-{n:012d}".encode()


def swarms(**limits) -> Swarms:
    return Swarms(SwarmLimits(**limits), random.Random(1))


# ------------------------------------------------------------------------------------ the memory
def test_announcers_get_each_other_but_not_themselves():
    s = swarms()
    first = s.announce(H1, pid(1), "10.0.0.1", 1, left=5, event="started", numwant=50, now=0)
    assert first.peers == [] and (first.complete, first.incomplete) == (0, 1)
    second = s.announce(H1, pid(2), "10.0.0.2", 2, left=0, event="started", numwant=50, now=1)
    assert second.peers == [("10.0.0.1", 1, pid(1))] and (second.complete, second.incomplete) == (1, 1)
    again = s.announce(H1, pid(1), "10.0.0.1", 1, left=5, event="", numwant=50, now=2)
    assert again.peers == [("10.0.0.2", 2, pid(2))]


def test_seeds_are_not_sent_to_seeds():
    s = swarms()
    s.announce(H1, pid(1), "10.0.0.1", 1, 0, "started", 50, 0)
    s.announce(H1, pid(2), "10.0.0.2", 2, 7, "started", 50, 0)
    reply = s.announce(H1, pid(3), "10.0.0.3", 3, 0, "started", 50, 0)
    assert [p[0] for p in reply.peers] == ["10.0.0.2"]


def test_stopped_leaves_and_completed_is_counted():
    s = swarms()
    s.announce(H1, pid(1), "10.0.0.1", 1, 5, "started", 50, 0)
    s.announce(H1, pid(1), "10.0.0.1", 1, 0, "completed", 50, 1)
    assert s.scrape(H1, 2) == ScrapeStats(complete=1, downloaded=1, incomplete=0)
    stopped = s.announce(H1, pid(1), "10.0.0.1", 1, 0, "stopped", 50, 3)
    assert stopped.peers == []
    assert s.scrape(H1, 4) == ScrapeStats(complete=0, downloaded=1, incomplete=0)
    assert s.peer_count == 0


def test_peers_expire_after_their_ttl():
    s = swarms(peer_ttl=100)
    s.announce(H1, pid(1), "10.0.0.1", 1, 5, "started", 50, now=0)
    s.announce(H2, pid(2), "10.0.0.2", 2, 5, "started", 50, now=50)
    assert s.scrape(H1, 99).incomplete == 1
    s.expire(now=120)
    assert len(s) == 1 and s.peer_count == 1  # H1 went quiet for a whole ttl; H2 did not
    assert s.announce(H2, pid(3), "10.0.0.3", 3, 5, "", 50, now=151).peers == []  # pid(2) is stale
    assert s.peer_count == 1


def test_numwant_is_capped_and_defaulted():
    s = swarms(max_numwant=10, default_numwant=4)
    for n in range(30):
        s.announce(H1, pid(n), f"10.0.1.{n}", 1000 + n, 5, "started", 0, now=n)
    assert len(s.announce(H1, pid(99), "10.0.2.1", 1, 5, "", 500, 40).peers) == 10
    assert len(s.announce(H1, pid(99), "10.0.2.1", 1, 5, "", -1, 41).peers) == 4
    assert s.announce(H1, pid(99), "10.0.2.1", 1, 5, "", 0, 42).peers == []


def test_a_full_swarm_forgets_its_least_recently_seen_peer():
    s = swarms(max_swarm=3)
    for n in range(3):
        s.announce(H1, pid(n), f"10.0.0.{n}", 1, 5, "started", 0, now=n)
    s.announce(H1, pid(0), "10.0.0.0", 1, 5, "", 0, now=10)  # pid(1) is now the oldest
    s.announce(H1, pid(7), "10.0.0.7", 1, 5, "started", 0, now=11)
    seen = {p[2] for p in s.announce(H1, pid(8), "10.0.0.8", 1, 5, "started", 50, now=12).peers}
    assert seen == {pid(0), pid(7)} and s.peer_count == 3  # pid(7) pushed out pid(1), pid(8) pid(2)


def test_floods_of_torrents_and_peers_stay_within_the_limits():
    s = swarms(max_torrents=50, max_peers=200, max_swarm=10, peer_ttl=1000)
    rng = random.Random(5)
    refused = 0
    for n in range(5000):
        try:
            s.announce(
                rng.randbytes(20) if n % 2 else H1, rng.randbytes(20), "10.0.0.1", 1, 5, "started", 50, now=n / 100
            )
        except TrackerFailure as exc:
            assert "tracker is full" in str(exc)
            refused += 1
        assert len(s) <= 50 and s.peer_count <= 200
    assert refused > 2000
    assert s.scrape(H1, 50).incomplete == 10  # the real swarm kept working throughout
    s.expire(now=10_000)
    assert len(s) == 0 and s.peer_count == 0


def test_allow_list_and_pinned_seed():
    s = Swarms(SwarmLimits(peer_ttl=10), random.Random(1), allowed={H1})
    with pytest.raises(TrackerFailure, match="does not track"):
        s.announce(H2, pid(1), "10.0.0.1", 1, 5, "started", 50, 0)
    with pytest.raises(TrackerFailure):
        s.scrape(H2, 0)
    s.pin(H1, pid(9), "10.0.0.9", 9)
    reply = s.announce(H1, pid(1), "10.0.0.1", 1, 5, "started", 50, now=1000)
    assert reply.peers == [("10.0.0.9", 9, pid(9))] and reply.complete == 1
    s.expire(now=10**6)
    assert s.announce(H1, pid(2), "10.0.0.2", 2, 5, "started", 50, now=10**6).peers[0][0] == "10.0.0.9"


# --------------------------------------------------------------------------------- the servers
@pytest.fixture
async def tracker(nursery):
    server = TrackerServer(TrackerConfig(interval=120, allowed=frozenset({H1, H2})), random.Random(2))
    http_port, udp_port = await nursery.start(server.serve, "127.0.0.1", 0)
    server.http = f"http://127.0.0.1:{http_port}/announce"
    server.udp = f"udp://127.0.0.1:{udp_port}/announce"
    return server


async def test_http_and_udp_clients_meet_through_the_server(tracker):
    udp = UdpTrackerClient(random.Random(3), timeout=1, attempts=2)
    async with open_http_client() as http:
        first = await http_announce(http, tracker.http, AnnounceRequest(H1, pid(1), 1001, left=9, event="started"))
        assert first.peers == () and first.interval == 120 and first.min_interval == 30
        second = await udp.announce(tracker.udp, AnnounceRequest(H1, pid(2), 1002, left=0, event="started"))
        assert second.peers == (("127.0.0.1", 1001),) and (second.complete, second.incomplete) == (1, 1)
        third = await http_announce(
            http, tracker.http, AnnounceRequest(H1, pid(3), 1003, left=1, compact=False, no_peer_id=False)
        )
        assert sorted(third.peers) == [("127.0.0.1", 1001), ("127.0.0.1", 1002)]
        expected = {H1: ScrapeStats(1, 0, 2), H2: ScrapeStats(0, 0, 0)}
        assert await http_scrape(http, tracker.http, [H1, H2]) == expected
        assert await udp.scrape(tracker.udp, [H1, H2]) == expected
        with pytest.raises(TrackerFailure, match="does not track"):
            await http_announce(http, tracker.http, AnnounceRequest(b"\x03" * 20, pid(4), 1004))
        with pytest.raises(TrackerFailure, match="does not track"):
            await udp.announce(tracker.udp, AnnounceRequest(b"\x03" * 20, pid(4), 1004))


async def test_ipv6_peers_come_back_in_peers6_and_as_18_byte_entries(nursery):
    server = TrackerServer(TrackerConfig(), random.Random(2))
    try:
        http_port, udp_port = await nursery.start(server.serve, "::1", 0)
    except OSError:
        pytest.skip("no IPv6 loopback here")
    udp = UdpTrackerClient(random.Random(3), timeout=1, attempts=2)
    async with open_http_client() as http:
        await http_announce(http, f"http://[::1]:{http_port}/announce", AnnounceRequest(H1, pid(1), 1001, left=1))
        reply = await udp.announce(f"udp://[::1]:{udp_port}", AnnounceRequest(H1, pid(2), 1002, left=1))
        assert reply.peers == (("::1", 1001),)
        status, body = await http_get(http, f"http://[::1]:{http_port}/announce?" + _query(H1, pid(3), 1003))
        assert b"6:peers636:" in body and status == 200  # both others, 18 bytes each


def _query(info_hash: bytes, peer_id: bytes, port: int) -> str:
    from urllib.parse import quote_from_bytes

    return f"info_hash={quote_from_bytes(info_hash)}&peer_id={quote_from_bytes(peer_id)}&port={port}&left=1&compact=1"


async def test_http_server_refuses_what_is_not_a_tracker_request(tracker):
    base = tracker.http.rsplit("/", 1)[0]
    tracker.add_file("/x.torrent", b"d4:infod4:name1:xee")
    async with open_http_client() as http:
        assert await http_get(http, f"{base}/nothing") == (404, b"not found\n")
        assert await http_get(http, f"{base}/x.torrent") == (200, b"d4:infod4:name1:xee")
        status, body = await http_get(http, f"{base}/announce?info_hash=short")
        assert status == 200 and b"failure reason" in body
    port = int(base.rsplit(":", 1)[1])
    for junk in (b"\x13BitTorrent protocol" + b"\0" * 48, b"GET / HTTP/1.1\r\n" + b"X: " + b"y" * 20000 + b"\r\n\r\n"):
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(junk)
        answer = await _read_all(stream)
        assert answer == b"" or answer.startswith(b"HTTP/1.1 4")


async def _read_all(stream) -> bytes:
    data = b""
    with trio.move_on_after(5):
        while chunk := await stream.receive_some(65536):
            data += chunk
    await stream.aclose()
    return data


async def test_http_connections_beyond_the_limit_are_closed_at_once(nursery):
    server = TrackerServer(TrackerConfig(max_connections=3, connection_deadline=5), random.Random(2))
    port, _ = await nursery.start(server.serve, "127.0.0.1", 0)
    idle = [await trio.open_tcp_stream("127.0.0.1", port) for _ in range(3)]
    with trio.fail_after(5):
        while server.connections < 3:  # the kernel has them queued: the server takes them at once
            await wait_all_tasks_blocked()
    extra = await trio.open_tcp_stream("127.0.0.1", port)
    with trio.fail_after(2):
        assert await extra.receive_some(10) == b""
    assert server.refused_connections >= 1 and server.connections == 3
    for stream in idle:
        await stream.aclose()
    await extra.aclose()


async def test_udp_server_checks_connection_ids_and_survives_garbage(tracker):
    port = int(tracker.udp.rsplit(":", 1)[1].split("/")[0])
    sock = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    await sock.connect(("127.0.0.1", port))
    with sock:
        for junk in (b"", b"\x00" * 7, random.Random(1).randbytes(300), struct.pack(">QII", 1, 9, 77)):
            await sock.send(junk)
        forged = up.encode_announce(12345, 77, AnnounceRequest(H1, pid(1), 1))
        await sock.send(forged)
        with trio.fail_after(2):
            while True:
                reply = await sock.recv(2048)
                if up.reply_header(reply)[0] == up.ERROR and b"connection id" in reply:
                    break
    assert tracker.swarms.peer_count == 0  # the forged announce was not recorded
    udp = UdpTrackerClient(random.Random(3), timeout=1, attempts=2)
    assert (await udp.announce(tracker.udp, AnnounceRequest(H1, pid(1), 1, left=1))).incomplete == 1


async def test_udp_flood_keeps_memory_bounded(nursery):
    server = TrackerServer(TrackerConfig(limits=SwarmLimits(max_torrents=20, max_peers=100)), random.Random(2))
    _, port = await nursery.start(server.serve, "127.0.0.1", 0)
    udp = UdpTrackerClient(random.Random(3), timeout=1, attempts=2)
    await udp.announce(f"udp://127.0.0.1:{port}", AnnounceRequest(H1, pid(0), 1, left=1))  # learn an id
    cid = next(iter(udp._connections.values()))[0]
    sock = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    await sock.connect(("127.0.0.1", port))
    rng = random.Random(4)
    with sock:
        for n in range(2000):
            await sock.send(
                up.encode_announce(cid, n, AnnounceRequest(rng.randbytes(20), rng.randbytes(20), 1, left=1))
            )
            if n % 100 == 0:
                await wait_all_tasks_blocked()  # the server has read what came; the kernel drops the excess
        await wait_all_tasks_blocked()
    assert len(server.swarms) <= 20 and server.swarms.peer_count <= 100
    assert (await udp.announce(f"udp://127.0.0.1:{port}", AnnounceRequest(H1, pid(1), 2, left=1))).peers


async def test_clients_turn_network_trouble_into_tracker_errors():
    dead = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dead.bind(("127.0.0.1", 0))
    port = dead.getsockname()[1]
    udp = UdpTrackerClient(random.Random(3), timeout=0.2, attempts=2)
    with pytest.raises(TrackerError, match="no reply after 2 attempts"):
        await udp.announce(f"udp://127.0.0.1:{port}", AnnounceRequest(H1, pid(1), 1))
    dead.close()
    with pytest.raises(TrackerError, match="refused"):
        await udp.announce(f"udp://127.0.0.1:{port}", AnnounceRequest(H1, pid(1), 1))
    with pytest.raises(TrackerError, match="udp://HOST:PORT"):
        await udp.announce("udp://127.0.0.1/announce", AnnounceRequest(H1, pid(1), 1))
    async with open_http_client(timeout=2) as http:
        with pytest.raises(TrackerError, match="127.0.0.1"):
            await http_announce(http, f"http://127.0.0.1:{port}/announce", AnnounceRequest(H1, pid(1), 1))
