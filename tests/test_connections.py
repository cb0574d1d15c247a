"""Which connections a torrent keeps: the duplicate tie-break, and the bounded list of known peers."""

from __future__ import annotations

import random

import trio
from trio.testing import wait_all_tasks_blocked

from tests.support.fake_peer import (
    LOCALHOST,
    EventLog,
    make_sample,
    open_fake_listener,
    open_fake_peer,
)
from torrentish import events as ev
from torrentish.engine.client import open_client
from torrentish.engine.connector import KnownPeer
from torrentish.engine.settings import Settings

LOW_ID = b"-TT0000-" + b"\x00" * 12
HIGH_ID = b"-TT0000-" + b"\xff" * 12


async def _first_closed(*peers, timeout: float = 10) -> None:
    """Return once one of `peers` is closed."""
    with trio.fail_after(timeout):
        async with trio.open_nursery() as race:
            async def closed(peer) -> None:
                await peer.closed.wait()
                race.cancel_scope.cancel()
            for peer in peers:
                race.start_soon(closed, peer)


async def _dial_then_get_dialed(tmp_path, ours: bytes, theirs: bytes):
    """We dial a peer (id `theirs`); then it dials us too: the simultaneous-dial case.

    Returns (our torrent, the connection we dialed, the one it dialed, event log)."""
    sample = make_sample(tmp_path)

    async def answer(peer):
        await peer.wait_handshake()
        await peer.send_handshake()

    async with open_client(host=LOCALHOST, rng=random.Random(1), peer_id=ours) as client:
        log = EventLog(client)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(log.collect)
            async with open_fake_listener(sample, answer, peer_id=theirs) as listener:
                torrent = await client.add_torrent(sample.info, sample.empty_storage(),
                                                   peers=[(LOCALHOST, listener.port)])
                dialed = await listener.wait_peer()
                await log.wait_for(ev.PeerConnected)
                async with open_fake_peer(client.port, sample, peer_id=theirs) as incoming:
                    await _first_closed(dialed, incoming)
                    await wait_all_tasks_blocked()  # the engine has settled what it keeps
                    result = (dialed.closed.is_set(), incoming.closed.is_set(), len(torrent.peers),
                              [p.outgoing for p in torrent.peers.values()])
                    incoming_address = incoming.stream.socket.getsockname()
                nursery.cancel_scope.cancel()
    return result, log, incoming_address


async def test_the_connection_dialed_by_the_lower_peer_id_is_kept_when_we_dialed_it(tmp_path):
    (dialed_closed, incoming_closed, count, outgoing), _, _ = await _dial_then_get_dialed(
        tmp_path, ours=LOW_ID, theirs=HIGH_ID)
    assert (dialed_closed, incoming_closed, count, outgoing) == (False, True, 1, [True])


async def test_the_connection_dialed_by_the_lower_peer_id_is_kept_when_they_dialed_it(tmp_path):
    (dialed_closed, incoming_closed, count, outgoing), log, _ = await _dial_then_get_dialed(
        tmp_path, ours=HIGH_ID, theirs=LOW_ID)
    # Our own dial is given up for theirs: the other side keeps that one too.
    assert (dialed_closed, incoming_closed, count, outgoing) == (True, False, 1, [False])
    [gone] = log.of(ev.PeerDisconnected)
    assert "duplicate" in gone.reason


async def test_a_full_list_of_known_peers_makes_room_for_new_ones(tmp_path):
    sample = make_sample(tmp_path)
    settings = Settings(max_peers_per_torrent=2)  # room for 8 known addresses
    async with open_client(host=LOCALHOST, rng=random.Random(1), settings=settings) as client:
        torrent = await client.add_torrent(sample.info, sample.empty_storage())
        connector = torrent.connector
        addresses = [(LOCALHOST, 1 + n) for n in range(8)]
        for address in addresses:  # known, but not dialed during this test
            connector.known[address] = KnownPeer(address, next_attempt=1e9)
        assert not connector.add([(LOCALHOST, 100)])  # full, and nobody has failed yet
        connector.known[addresses[3]].failures = 5
        connector.known[addresses[5]].failures = 2
        connector.known[addresses[6]].failures = 9
        connector.known[addresses[6]].connecting = True  # being dialed: not forgotten
        assert connector.add([(LOCALHOST, 100)])
        assert (LOCALHOST, 100) in connector.known and addresses[3] not in connector.known
        connector.retire(addresses[0])
        assert connector.add([(LOCALHOST, 101)])
        assert addresses[0] not in connector.known  # a retired peer goes before a failing one
        assert connector.add([(LOCALHOST, 102)])
        assert addresses[5] not in connector.known and addresses[6] in connector.known
        assert len(connector.known) == 8
