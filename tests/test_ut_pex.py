"""BEP 11 peer exchange: the message format, what we tell peers, what we learn, and a live swarm."""

from __future__ import annotations

import ipaddress

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.trackerless import LOCALHOST, make_info
from torrentish.formats import bencoding
from torrentish import events as ev
from torrentish.engine.client import open_client
from torrentish.errors import ProtocolError
from torrentish.services.extensions import ut_pex as pex
from torrentish.services.extensions.ut_metadata import UtMetadata
from torrentish.storage.memory import MemoryStorage

KiB = 1024

# -- message format -----------------------------------------------------------------------------------

ipv4 = st.integers(1, 2**32 - 1).map(lambda n: str(ipaddress.IPv4Address(n)))
ipv6 = st.integers(1, 2**128 - 1).map(lambda n: str(ipaddress.IPv6Address(n)))
ports = st.integers(1, 65535)
peers = st.builds(pex.PexPeer, st.one_of(ipv4, ipv6), ports, st.integers(0, 255))
addresses = st.tuples(st.one_of(ipv4, ipv6), ports)


@given(st.lists(peers, max_size=60, unique_by=lambda p: p.address), st.lists(addresses, max_size=60, unique=True))
@settings(max_examples=200)
def test_round_trip(added, dropped):
    message = pex.PexMessage(tuple(added), tuple(dropped))
    decoded = pex.decode_pex(pex.encode_pex(message))
    # v4 entries come before v6 ones on the wire; within a family the order is kept.
    assert sorted(decoded.added, key=repr) == sorted(added, key=repr)
    assert sorted(decoded.dropped) == sorted(dropped)


def test_libtorrent_style_message():
    payload = bencoding.encode({
        "added": bytes([10, 0, 0, 1, 0x1A, 0xE1, 10, 0, 0, 2, 0x1A, 0xE2]),
        "added.f": bytes([pex.FLAG_SEED, pex.FLAG_REACHABLE]),
        "added6": b"", "added6.f": b"", "dropped": bytes([10, 0, 0, 3, 0, 80]), "dropped6": b"",
    })
    assert pex.decode_pex(payload) == pex.PexMessage(
        added=(pex.PexPeer("10.0.0.1", 6881, pex.FLAG_SEED), pex.PexPeer("10.0.0.2", 6882, pex.FLAG_REACHABLE)),
        dropped=(("10.0.0.3", 80),),
    )


def test_flags_of_the_wrong_length_are_ignored_and_duplicates_removed():
    entry = bytes([10, 0, 0, 1, 0x1A, 0xE1])
    message = pex.decode_pex(bencoding.encode({"added": entry * 2, "added.f": b"\x02\x02\x02"}))
    assert message.added == (pex.PexPeer("10.0.0.1", 6881, 0),)


@pytest.mark.parametrize(
    "payload, fragment",
    [
        (b"le", "not a dictionary"),
        (bencoding.encode({"added": 5}), "not a string"),
        (bencoding.encode({"added": b"12345"}), "multiple of 6"),
        (bencoding.encode({"dropped6": bytes(17)}), "multiple of 18"),
        (bencoding.encode({"added": bytes(6 * (pex.MAX_ENTRIES_IN + 1))}), "limit"),
        (b"d5:added", "invalid bencoding"),
        (b"d" + b"1:xi0e" * 300 + b"e", "invalid bencoding"),
    ],
)
def test_hostile_messages(payload, fragment):
    with pytest.raises(ProtocolError, match=fragment):
        pex.decode_pex(payload)


@given(st.binary(max_size=300))
@settings(max_examples=400)
def test_random_bytes_give_a_message_or_a_protocol_error(payload):
    try:
        pex.decode_pex(payload)
    except ProtocolError:
        pass


@given(st.lists(peers, max_size=10, unique_by=lambda p: p.address), st.data())
@settings(max_examples=300)
def test_mutated_messages_give_a_message_or_a_protocol_error(added, data):
    payload = bytearray(pex.encode_pex(pex.PexMessage(tuple(added))))
    for _ in range(data.draw(st.integers(1, 4))):
        payload[data.draw(st.integers(0, len(payload) - 1))] = data.draw(st.integers(0, 255))
    try:
        pex.decode_pex(bytes(payload))
    except ProtocolError:
        pass


# -- which addresses travel -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host, port, other, usable",
    [
        ("8.8.8.8", 6881, "1.2.3.4", True),
        ("8.8.8.8", 0, "1.2.3.4", False),  # port 0
        ("0.0.0.0", 6881, "1.2.3.4", False),  # unspecified
        ("224.0.0.1", 6881, "1.2.3.4", False),  # multicast
        ("255.255.255.255", 6881, "1.2.3.4", False),  # broadcast
        ("240.0.0.1", 6881, "1.2.3.4", False),  # reserved
        ("example.com", 6881, "1.2.3.4", False),  # not an IP literal
        ("127.0.0.1", 6881, "1.2.3.4", False),  # loopback from afar: junk
        ("127.0.0.1", 6881, "127.0.0.1", True),  # on one machine: fine
        ("::1", 6881, "::1", True),
        ("::1", 6881, "2a00:1450::1", False),
        ("192.168.1.5", 6881, "8.8.4.4", False),  # someone else's LAN
        ("192.168.1.5", 6881, "192.168.1.9", True),  # our LAN
        ("127.0.0.1", 6881, "192.168.1.9", False),  # a LAN peer's loopback is not ours
        ("::ffff:8.8.8.8", 6881, "1.2.3.4", True),  # v4-mapped
        ("2001:db8::1", 6881, "1.2.3.4", False),  # the documentation range counts as private
        ("2a00:1450::1", 6881, "1.2.3.4", True),
    ],
)
def test_usable_address(host, port, other, usable):
    assert pex.usable_address(host, port, other) is usable


def test_learning_filters_junk_duplicate_ips_and_respects_the_budget():
    message = pex.PexMessage(added=(
        pex.PexPeer("8.8.8.8", 1), pex.PexPeer("8.8.8.8", 2),  # same IP: the first only
        pex.PexPeer("0.0.0.0", 3), pex.PexPeer("9.9.9.9", 4), pex.PexPeer("1.1.1.1", 5),
    ))
    assert pex.UtPex.learn(message, "4.4.4.4", budget=10) == [("8.8.8.8", 1), ("9.9.9.9", 4), ("1.1.1.1", 5)]
    assert pex.UtPex.learn(message, "4.4.4.4", budget=2) == [("8.8.8.8", 1), ("9.9.9.9", 4)]
    local = pex.PexMessage(added=(pex.PexPeer("127.0.0.1", 1), pex.PexPeer("127.0.0.1", 2)))
    assert pex.UtPex.learn(local, "127.0.0.1", budget=10) == [("127.0.0.1", 1), ("127.0.0.1", 2)]


def test_diff_adds_drops_and_stays_quiet():
    diff = pex.PexDiff(max_entries=2)
    a, b, c = ("1.1.1.1", 1), ("2.2.2.2", 2), ("3.3.3.3", 3)
    first = diff.update({a: pex.FLAG_SEED, b: 0, c: 0})
    assert [p.address for p in first.added] == [a, b] and first.dropped == ()  # capped at 2
    second = diff.update({a: pex.FLAG_SEED, b: 0, c: 0})
    assert [p.address for p in second.added] == [c]
    assert diff.update({a: pex.FLAG_SEED, b: 0, c: 0}) is None  # nothing changed: nothing sent
    third = diff.update({a: 0})
    assert third.added == () and set(third.dropped) == {b, c}
    fourth = diff.update({a: 0, b: 0})  # a reconnect is added again
    assert [p.address for p in fourth.added] == [b]


@given(st.lists(st.dictionaries(addresses, st.integers(0, 31), max_size=8), max_size=8))
@settings(max_examples=100)
def test_diff_never_adds_and_drops_the_same_address_and_converges(states):
    diff = pex.PexDiff()
    told: set = set()
    for current in states:
        message = diff.update(current)
        if message is None:
            assert told == set(current)
            continue
        added = {p.address for p in message.added}
        assert not added & set(message.dropped)
        assert len(added) == len(message.added) and len(set(message.dropped)) == len(message.dropped)
        told = (told | added) - set(message.dropped)
        assert told == set(current)


# -- the extension, with stand-in peers and torrent ---------------------------------------------------------


class Peer:
    def __init__(self, host, port, *, outgoing=True, listen_port=None, seed=False, pex_id=7):
        self.address = (host, port)
        self.outgoing = outgoing
        self.listen_port = listen_port
        self.is_seed = seed
        self.extension_ids = {"ut_pex": pex_id} if pex_id else {}


class Torrent:
    def __init__(self, private=False):
        self.info = type("Info", (), {"private": private})()
        self.peers: dict = {}
        self.sent: list = []
        self.added: list = []
        self.events = ev.EventBus()

    def connect(self, peer):
        self.peers[id(peer)] = peer

    def send_extended(self, peer, name, payload):
        if not peer.extension_ids.get(name):
            return False
        self.sent.append((peer, pex.decode_pex(payload)))
        return True

    def add_peers(self, addresses):
        self.added.extend(addresses)


def test_sending_what_we_can_vouch_for_at_most_once_a_minute():
    torrent = Torrent()
    extension = pex.UtPex(interval=60.0)
    r = Peer("10.0.0.1", 6881)  # the recipient, which we dialed
    dialed = Peer("10.0.0.2", 7000, seed=True)
    told_port = Peer("10.0.0.3", 51234, outgoing=False, listen_port=6999)
    silent = Peer("10.0.0.4", 51235, outgoing=False)  # dialed us, never said where it listens
    far = Peer("127.0.0.1", 5000)  # loopback: never shown to a LAN peer
    for peer in (r, dialed, told_port, silent, far):
        torrent.connect(peer)
        extension.on_handshake(torrent, peer, None)
    extension.send_due(torrent, now=0.0)
    sent = {id(p): m for p, m in torrent.sent}
    first = sent[id(r)]
    assert set(first.added) == {pex.PexPeer("10.0.0.2", 7000, pex.FLAG_SEED | pex.FLAG_REACHABLE),
                                pex.PexPeer("10.0.0.3", 6999, 0)}
    torrent.sent.clear()
    del torrent.peers[id(dialed)]
    extension.send_due(torrent, now=30.0)
    assert torrent.sent == []  # changed, but the minute is not over
    extension.send_due(torrent, now=60.0)
    assert [m.dropped for p, m in torrent.sent if p is r] == [(("10.0.0.2", 7000),)]


def test_private_torrents_exchange_nothing():
    torrent = Torrent(private=True)
    extension = pex.UtPex()
    a, b = Peer("10.0.0.1", 1), Peer("10.0.0.2", 2)
    for peer in (a, b):
        torrent.connect(peer)
        extension.on_handshake(torrent, peer, None)
    extension.send_due(torrent, now=0.0)
    extension.on_message(torrent, a, pex.encode_pex(pex.PexMessage((pex.PexPeer("10.0.0.9", 9),))))
    assert torrent.sent == [] and torrent.added == []


async def test_learning_and_flood_protection(autojump_clock):
    torrent = Torrent()
    extension = pex.UtPex()
    sender = Peer("10.0.0.1", 1)
    message = pex.encode_pex(pex.PexMessage((pex.PexPeer("10.0.0.9", 9), pex.PexPeer("0.0.0.0", 9))))
    subscription = torrent.events.subscribe()
    for _ in range(pex.MAX_MESSAGES_PER_MINUTE):
        extension.on_message(torrent, sender, message)
        await trio.sleep(1)
    assert torrent.added == [("10.0.0.9", 9)] * pex.MAX_MESSAGES_PER_MINUTE
    assert (await subscription.receive()) == ev.PeersFound(0.0, "pex", 1)
    with pytest.raises(ProtocolError, match="flood"):
        extension.on_message(torrent, sender, message)
    await trio.sleep(60)
    extension.on_message(torrent, sender, message)  # a minute later it is fine again


async def test_a_peer_teaches_at_most_its_allowance():
    torrent = Torrent()
    extension = pex.UtPex(max_learned_per_peer=3)
    sender = Peer("10.0.0.1", 1)

    def batch(start):
        return pex.encode_pex(pex.PexMessage(tuple(pex.PexPeer(f"10.1.0.{i}", 1) for i in range(start, start + 2))))

    extension.on_message(torrent, sender, batch(1))
    extension.on_message(torrent, sender, batch(10))
    assert len(torrent.added) == 3


# -- a live swarm on 127.0.0.1 ----------------------------------------------------------------------------


async def test_a_third_peer_learns_of_the_first_through_pex():
    files = [(("a.bin",), 96 * KiB), (("b.bin",), 160 * KiB)]
    info, data = make_info(files=files, name="pexed", seed=11)

    def extras():
        exchange = pex.UtPex(tick=0.05)
        return [UtMetadata(), exchange], exchange

    async def start(client, storage, *, peers=(), wanted=None, seed=False):
        extensions, exchange = extras()
        torrent = await client.add_torrent(info, storage, peers=peers, wanted_files=wanted, upload_only=seed,
                                           extensions=extensions)
        client._nursery.start_soon(exchange.run, client, torrent)
        return torrent

    async with open_client(host=LOCALHOST) as a, open_client(host=LOCALHOST) as b, \
            open_client(host=LOCALHOST) as c:
        await start(a, MemoryStorage.filled(info.geometry(), data), seed=True)
        # B wants only the first file, so it stays connected to A (two seeds would part).
        b_torrent = await start(b, MemoryStorage(info.geometry()), peers=[(LOCALHOST, a.port)], wanted={0})
        with trio.fail_after(10):
            await b_torrent.completed.wait()
        c_events = c.events.subscribe()
        c_torrent = await start(c, MemoryStorage(info.geometry()), peers=[(LOCALHOST, b.port)])
        with trio.fail_after(10):
            await c_torrent.completed.wait()
        assert (LOCALHOST, a.port) in c_torrent.known  # told by B, never by us
        connected = []
        while True:
            try:
                event = c_events.receive_nowait()
            except trio.WouldBlock:
                break
            if isinstance(event, ev.PeerConnected):
                connected.append(event.address)
        assert (LOCALHOST, a.port) in connected
