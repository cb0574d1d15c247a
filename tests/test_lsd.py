"""Local Service Discovery (BEP 14): the announce format, the schedule, and discovery over loopback multicast.

The loopback tests multicast on `lo` only, on a port of their own (never 6771), so they neither
leave the machine nor hear other LSD users; tests/test_netns.py runs LSD on a real (namespaced) LAN.
"""

from __future__ import annotations

import random
import socket
from functools import partial
from types import SimpleNamespace

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from torrentish.services.discovery.interfaces import interfaces_for
from torrentish.services.discovery.lsd import AnnounceSchedule, LocalDiscovery, lsd_service
from torrentish.services.discovery.lsd_protocol import GROUP4, MAX_PACKET, LsdError, encode_announces, parse_announce
from torrentish import events as ev
from torrentish.events import EventBus

HASH = bytes.fromhex("0123456789abcdef0123456789abcdef01234567")


# ---------------------------------------------------------------------------------------- format
@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 65535),
    st.lists(st.binary(min_size=20, max_size=20).filter(any), min_size=1, max_size=80, unique=True),
    st.none() | st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=64),
    st.booleans(),
)
def test_announces_round_trip_and_fit_one_datagram(port, hashes, cookie, ipv6):
    packets = encode_announces(port, hashes, cookie, ipv6)
    assert all(len(p) <= MAX_PACKET for p in packets)
    seen = []
    for packet in packets:
        parsed = parse_announce(packet)
        assert parsed.port == port and parsed.cookie == cookie
        seen.extend(parsed.info_hashes)
    assert seen == hashes


def test_reads_what_libtorrent_and_transmission_send():
    libtorrent = (
        "BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\nPort: 6881\r\n"
        f"Infohash: {HASH.hex().upper()}\r\ncookie: 5e2f1a\r\n\r\n\r\n"
    ).encode()
    assert parse_announce(libtorrent) == parse_announce(libtorrent.replace(b"\r\n", b"\n"))
    parsed = parse_announce(libtorrent)
    assert (parsed.port, parsed.info_hashes, parsed.cookie) == (6881, (HASH,), "5e2f1a")
    transmission = (
        f"BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\nPort: 51413\r\nInfohash: {HASH.hex()}\r\n\r\n\r\n"
    )
    assert parse_announce(transmission.encode()).cookie is None
    ours = encode_announces(6881, [HASH], "c00c1e")[0]
    assert ours.startswith(b"BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\nPort: 6881\r\n")
    assert b"[ff15::efc0:988f]:6771" in encode_announces(6881, [HASH], None, ipv6=True)[0]


@pytest.mark.parametrize(
    "packet, message",
    [
        (b"M-SEARCH * HTTP/1.1\r\nPort: 1\r\nInfohash: " + HASH.hex().encode() + b"\r\n\r\n", "not a BT-SEARCH"),
        (b"BT-SEARCH * HTTP/1.1\r\nInfohash: " + HASH.hex().encode() + b"\r\n\r\n", "without a port"),
        (b"BT-SEARCH * HTTP/1.1\r\nPort: 70000\r\nInfohash: " + HASH.hex().encode() + b"\r\n\r\n", "bad port"),
        (b"BT-SEARCH * HTTP/1.1\r\nPort: 0\r\n\r\n", "bad port"),
        (
            b"BT-SEARCH * HTTP/1.1\r\nPort: 1\r\nInfohash: xyz\r\nInfohash: " + b"0" * 40 + b"\r\n\r\n",
            "valid info hash",
        ),
        (b"BT-SEARCH * HTTP/1.1\r\nPort: 1\r\nno colon here\r\n\r\n", "colon"),
        (b"BT-SEARCH * HTTP/1.1\r\n" + b"X: y\r\n" * 65 + b"\r\n", "more than 64 headers"),
        (b"BT-SEARCH * HTTP/1.1\r\n" + b"X" * 1500, "larger than 1500"),
    ],
)
def test_bad_announces_are_refused(packet, message):
    with pytest.raises(LsdError, match=message):
        parse_announce(packet)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=1600))
def test_random_datagrams_parse_or_raise_lsd_error(data):
    try:
        parse_announce(data)
    except LsdError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_mutated_announces_parse_or_raise_lsd_error(data):
    packet = bytearray(encode_announces(6881, [HASH, HASH[::-1]], "abc")[0])
    for _ in range(data.draw(st.integers(1, 5))):
        packet[data.draw(st.integers(0, len(packet) - 1))] = data.draw(st.integers(0, 255))
    try:
        parse_announce(bytes(packet))
    except LsdError:
        pass


# -------------------------------------------------------------------------------------- schedule
def test_schedule_announces_at_once_repeats_then_every_five_minutes():
    s = AnnounceSchedule()
    s.add(HASH, now=100)
    assert s.pop_due(100) == [HASH] and s.pop_due(101) == []
    assert s.next_time() == 102 and s.pop_due(102) == [HASH]
    assert s.next_time() == 106 and s.pop_due(106) == [HASH]
    assert s.next_time() == 406


def test_schedule_answers_newcomers_but_not_more_often_than_the_gap():
    s = AnnounceSchedule(repeats=(), answer_gap=5)
    s.add(HASH, now=0)
    s.pop_due(0)
    s.answer(HASH, now=1)
    assert s.next_time() == 5  # no second announce within 5 s of the last
    assert s.pop_due(5) == [HASH]
    s.answer(HASH, now=100)
    assert s.pop_due(100) == [HASH]  # long since the last: answer at once
    s.answer(b"\x09" * 20, now=100)  # not ours: nothing scheduled
    assert s.next_time() == 400


# ----------------------------------------------------------------------------- loopback multicast
def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _peer(port: int, seed: int):
    client = SimpleNamespace(rng=random.Random(seed), port=port, events=EventBus())
    torrent = SimpleNamespace(info_hash=HASH, added=[])
    torrent.add_peers = torrent.added.extend
    return client, torrent


async def _group_listener(port: int):
    """A plain UDP socket in the LSD group on 127.0.0.1, to see announces go by."""
    sock = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    await sock.bind(("0.0.0.0", port))
    membership = socket.inet_aton(GROUP4) + socket.inet_aton("127.0.0.1")
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
    return sock


@pytest.fixture
def loopback():
    interfaces = interfaces_for("127.0.0.1")
    if not interfaces:
        pytest.skip("no loopback interface")
    return interfaces


class Heard:
    """Every datagram an LSD instance's receive loop hands it, as (cookie or None, port), with a
    wait for the next one: the tests wait on what arrived, never for a while."""

    def __init__(self, lsd: LocalDiscovery):
        self.datagrams: list[tuple[str | None, int]] = []
        self._arrived = trio.Event()
        self._handle = lsd.on_datagram
        lsd.on_datagram = self._on_datagram

    def _on_datagram(self, data: bytes, source: tuple) -> None:
        try:
            announce = parse_announce(data)
            self.datagrams.append((announce.cookie, announce.port))
        except LsdError:
            self.datagrams.append((None, 0))
        self._handle(data, source)
        self._arrived.set()
        self._arrived = trio.Event()

    async def until(self, predicate, timeout: float = 5.0) -> None:
        with trio.fail_after(timeout):
            while not predicate(self.datagrams):
                await self._arrived.wait()


def from_cookie(cookie: str, count: int = 1):
    return lambda datagrams: sum(c == cookie for c, _ in datagrams) >= count


async def test_two_peers_find_each_other_and_ignore_themselves(loopback, nursery):
    port = _free_udp_port()
    (ca, ta), (cb, tb) = _peer(1111, 1), _peer(2222, 2)
    a = LocalDiscovery(ca, loopback, port=port, schedule=AnnounceSchedule(answer_gap=0.0))
    b = LocalDiscovery(cb, loopback, port=port)
    heard_by_a, heard_by_b = Heard(a), Heard(b)
    await nursery.start(a.run)
    await nursery.start(b.run)
    found_by_a, found_by_b = ca.events.subscribe(), cb.events.subscribe()
    a.add(ta)
    await heard_by_a.until(from_cookie(a.cookie))
    assert ta.added == []  # a heard its own announce and knew it by the cookie
    await heard_by_b.until(from_cookie(a.cookie))  # b has no torrent yet: nothing to learn
    b.add(tb)
    with trio.fail_after(5):
        assert isinstance(await found_by_a.receive(), ev.PeersFound)
        assert isinstance(await found_by_b.receive(), ev.PeersFound)  # from a's answer
    assert ta.added == [("127.0.0.1", 2222)] and tb.added == [("127.0.0.1", 1111)]
    b.on_datagram(encode_announces(1111, [HASH], a.cookie)[0], ("127.0.0.1", port))  # a repeat
    assert tb.added == [("127.0.0.1", 1111)]  # from a known peer adds nothing


async def test_a_newcomer_hears_an_answer_at_once(loopback, nursery):
    """a announces once (no repeats, next in 300 s): b learns of a only if a answers b's announce."""
    port = _free_udp_port()
    (ca, ta), (cb, tb) = _peer(1111, 1), _peer(2222, 2)
    a = LocalDiscovery(ca, loopback, port=port, schedule=AnnounceSchedule(repeats=(), answer_gap=0.0))
    b = LocalDiscovery(cb, loopback, port=port, schedule=AnnounceSchedule(repeats=()))
    heard_by_b = Heard(b)
    await nursery.start(a.run)
    await nursery.start(b.run)
    a.add(ta)
    await heard_by_b.until(from_cookie(a.cookie))  # a's first announce, before b has the torrent
    b.add(tb)
    await heard_by_b.until(from_cookie(a.cookie, 2))
    assert tb.added == [("127.0.0.1", 1111)]


async def test_hostile_datagrams_on_the_lsd_port_change_nothing(loopback, nursery):
    port = _free_udp_port()
    client, torrent = _peer(1111, 1)
    lsd = LocalDiscovery(client, loopback, port=port)
    heard = Heard(lsd)
    await nursery.start(lsd.run)
    lsd.add(torrent)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with sock:
        for junk in (b"", b"\xff" * 1400, b"BT-SEARCH * HTTP/1.1\r\nPort: 1\r\n\r\n", random.Random(1).randbytes(9000)):
            try:
                sock.sendto(junk, ("127.0.0.1", port))
            except OSError:
                pass
        sock.sendto(encode_announces(1111, [HASH], lsd.cookie)[0], ("127.0.0.1", port))  # our cookie
        sock.sendto(encode_announces(3333, [b"\x05" * 20], None)[0], ("127.0.0.1", port))  # not our torrent
        sock.sendto(encode_announces(4444, [HASH], "last")[0], ("127.0.0.1", port))  # one good one, last
        await heard.until(from_cookie("last"))
    assert torrent.added == [("127.0.0.1", 4444)]  # only the good one, which came after the rest


async def test_lsd_that_cannot_start_warns_and_lets_the_transfer_run(nursery):
    client, _ = _peer(1111, 1)
    warnings = client.events.subscribe()
    nobody = LocalDiscovery(client, [], port=_free_udp_port())
    await nursery.start(nobody.run)
    event = await warnings.receive()
    assert isinstance(event, ev.Warning) and "local peer discovery is off" in event.message


async def test_two_clients_transfer_with_lsd_as_the_only_peer_source(loopback, tmp_path, nursery, monkeypatch):
    from torrentish.app.create import create_torrent
    from torrentish.formats.metainfo import parse_torrent
    from torrentish.app.transfer import get, seed

    monkeypatch.setenv("TORRENTISH_STATE_DIR", str(tmp_path / "state"))
    data = random.Random(3).randbytes(300_000)
    (tmp_path / "seed").mkdir()
    (tmp_path / "seed" / "f.bin").write_bytes(data)
    info = parse_torrent(create_torrent(tmp_path / "seed" / "f.bin")).info
    port = _free_udp_port()
    service = lsd_service(interfaces=loopback, port=port)
    stop = trio.Event()
    async with trio.open_nursery() as inner:
        with await _group_listener(port) as lan:
            inner.start_soon(partial(get, info, tmp_path / "out", host="127.0.0.1", services=[service], resume=None))
            with trio.fail_after(5):
                await lan.recv(2048)  # the downloader's announce: it is waiting
        start = trio.current_time()  # the seed arrives and announces at once
        nursery.start_soon(partial(seed, info, tmp_path / "seed", host="127.0.0.1", services=[service], stop=stop))
    assert trio.current_time() - start < 2.0
    assert (tmp_path / "out" / "f.bin").read_bytes() == data
    stop.set()


async def test_a_hybrid_is_announced_in_both_its_swarms():
    from types import SimpleNamespace

    from torrentish.services.discovery.lsd import LocalDiscovery

    lsd = LocalDiscovery(SimpleNamespace(rng=random.Random(1)), [], ipv6=False)
    hybrid = SimpleNamespace(info_hash=b"\x01" * 20, info=SimpleNamespace(swarm_hashes=(b"\x01" * 20, b"\x02" * 20)))
    seeker = SimpleNamespace(info_hash=b"\x03" * 20)
    lsd.add(hybrid)
    lsd.add(seeker)
    assert set(lsd.torrents) == {b"\x01" * 20, b"\x02" * 20, b"\x03" * 20}
    lsd.remove(hybrid)
    assert set(lsd.torrents) == {b"\x03" * 20}
