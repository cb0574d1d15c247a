"""The ut_holepunch extension's logic (services/extensions/ut_holepunch.py) on stand-in torrents
and peers: the relay's messages and errors, the initiator's rendezvous, what a connect may start,
and the limits (Punches, pure)."""

import random
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from torrentish.errors import ProtocolError
from torrentish.services.extensions.ut_holepunch import Punches, UtHolepunch
from torrentish.wire import holepunch as hp

# Outside the private and documentation ranges, which the address filter treats as local.
A, B, C = ("100.128.0.1", 6881), ("100.128.0.2", 6882), ("100.128.0.3", 6883)


class Recorder:
    def __init__(self):
        self.seen = []

    def publish(self, event):
        self.seen.append(event)


class _Peer(SimpleNamespace):
    __hash__ = object.__hash__  # peers are told apart by identity, as connections are


def _peer(address, holepunch=True):
    return _Peer(address=address, outgoing=True, listen_port=None,
                 extension_ids={"ut_holepunch": 9} if holepunch else {}, is_seed=False)


def _torrent(*peers, endpoint=True, private=False):
    sent = []
    torrent = SimpleNamespace(
        peers={i: p for i, p in enumerate(peers)}, info=SimpleNamespace(private=private), events=Recorder(),
        client=SimpleNamespace(announce_port=6999, network=SimpleNamespace(endpoint=object() if endpoint else None)),
        connector=SimpleNamespace(known={}), rng=random.Random(1), sent=sent)

    def send_extended(peer, name, payload):
        assert name == "ut_holepunch"
        sent.append((peer.address, hp.decode(payload)))
        return True

    torrent.send_extended = send_extended
    return torrent


async def test_the_relay_introduces_two_connected_peers_to_each_other():
    a, b = _peer(A), _peer(B)
    torrent = _torrent(a, b)
    UtHolepunch().on_message(torrent, a, hp.encode(hp.Holepunch(hp.RENDEZVOUS, B)))
    assert torrent.sent == [(B, hp.Holepunch(hp.CONNECT, A)), (A, hp.Holepunch(hp.CONNECT, B))]
    assert [(e.stage, e.address, e.via) for e in torrent.events.seen] == [("relayed", B, A)]


@pytest.mark.parametrize("target, code", [(C, hp.NOT_CONNECTED), (B, hp.NO_SUPPORT), (A, hp.NO_SUCH_PEER),
                                          (("198.51.100.9", 6999), hp.NO_SELF)])
async def test_the_relay_answers_what_it_cannot_do_with_the_beps_error(target, code):
    a, b = _peer(A), _peer(B, holepunch=False)
    torrent = _torrent(a, b)
    extension = UtHolepunch()
    extension.on_handshake(torrent, a, SimpleNamespace(yourip=bytes([198, 51, 100, 9])))
    extension.on_message(torrent, a, hp.encode(hp.Holepunch(hp.RENDEZVOUS, target)))
    assert torrent.sent == [(A, hp.Holepunch(hp.ERROR, target, code))]
    assert torrent.events.seen == []


async def test_an_error_from_the_relay_is_an_event_with_its_name():
    a = _peer(A)
    torrent = _torrent(a)
    UtHolepunch().on_message(torrent, a, hp.encode(hp.Holepunch(hp.ERROR, C, hp.NOT_CONNECTED)))
    assert [(e.stage, e.address, e.reason) for e in torrent.events.seen] == [("failed", C, "NotConnected")]


async def test_a_flood_of_messages_closes_the_peer():
    a, b = _peer(A), _peer(B)
    torrent = _torrent(a, b)
    extension = UtHolepunch()
    message = hp.encode(hp.Holepunch(hp.RENDEZVOUS, C))
    for _ in range(extension.limits.per_minute):
        extension.on_message(torrent, a, message)
    with pytest.raises(ProtocolError, match="flood"):
        extension.on_message(torrent, a, message)


async def test_a_rendezvous_goes_to_a_peer_that_speaks_ut_holepunch_once_per_interval():
    plain, relay = _peer(A, holepunch=False), _peer(B)
    torrent = _torrent(plain, relay)
    extension = UtHolepunch(retry_interval=30)
    assert extension.rendezvous(torrent, C, now=0.0)
    assert torrent.sent == [(B, hp.Holepunch(hp.RENDEZVOUS, C))]
    assert not extension.rendezvous(torrent, C, now=10.0)
    assert extension.rendezvous(torrent, C, now=31.0)
    assert not extension.rendezvous(torrent, A, now=40.0)  # connected already
    assert [e.stage for e in torrent.events.seen] == ["rendezvous", "rendezvous"]


@pytest.mark.parametrize("torrent", [_torrent(_peer(B), private=True), _torrent(_peer(B), endpoint=False),
                                     _torrent(_peer(A, holepunch=False))], ids=["private", "no-utp", "no-relay"])
async def test_no_rendezvous_without_a_way_to_punch(torrent):
    assert not UtHolepunch().rendezvous(torrent, C, now=0.0)
    assert torrent.sent == []


async def test_a_connect_starts_a_punch_only_to_a_usable_address_not_connected_yet():
    relay, b = _peer(A), _peer(B)
    torrent = _torrent(relay, b)
    extension = UtHolepunch()
    started = []
    extension._nurseries[id(torrent)] = SimpleNamespace(start_soon=lambda *args: started.append(args[2]))
    for address in (("0.0.0.0", 6881), ("192.168.1.5", 6881), ("100.128.0.7", 0), B, C, C):
        extension.on_message(torrent, relay, hp.encode(hp.Holepunch(hp.CONNECT, address)))
    assert started == [C]  # junk, a LAN address from a public peer, port 0, connected, and C twice
    assert [(e.stage, e.address, e.via) for e in torrent.events.seen] == [("connect", C, A)]


@given(st.lists(st.tuples(st.sampled_from("ab"), st.floats(0, 1000)), max_size=60))
def test_punches_never_allow_a_target_twice_within_the_interval(attempts):
    limits = Punches(retry_interval=30)
    allowed: dict[str, float] = {}
    for target, now in sorted(attempts, key=lambda item: item[1]):
        if limits.may_try("connect", (target, 1), now):
            assert target not in allowed or now >= allowed[target] + 30
            allowed[target] = now
        else:
            assert now < allowed[target] + 30


@given(st.lists(st.floats(0, 600), max_size=80))
def test_punches_let_a_peer_send_at_most_per_minute_in_any_minute(times):
    limits = Punches(per_minute=5)
    accepted = [now for now in sorted(times) if limits.message_from("peer", now)]
    for now in accepted:
        assert sum(1 for t in accepted if now - 60 < t <= now) <= 5

