"""What the engine sends obeys the protocol state of the link (torrentish.core.peer_state).

Each test scripts a FakePeer against a torrentish client on the simulated network, in virtual time
(tests/support/sim_peers.py), reads the exact messages the engine sent, and has a positive
control: the thing the rule restricts does happen once it is allowed.
"""

from __future__ import annotations

from collections import deque

import pytest
import trio
from trio.testing import MockClock

from tests.support.fake_peer import BLOCK, FakePeer, make_sample, seeder
from tests.support.sim_peers import empty_storage, seed_storage, sim_lab, virtual_clock
from torrentish.core.peer_state import LocalProtocolError
from torrentish.engine.settings import Settings
from torrentish.wire import codec as wire
from torrentish.wire import messages as msg
from torrentish.wire.extension import encode_extended_handshake


@pytest.fixture
def sample(tmp_path):
    return make_sample(tmp_path)


@pytest.fixture
def virtual() -> MockClock:
    return virtual_clock()


def seed_greeting(*extra: msg.Message):
    """A fake seed's greeting (handshake, HAVE ALL) followed by `extra` messages."""

    async def greet(peer: FakePeer) -> None:
        await peer.wait_handshake()
        await peer.send_handshake()
        await peer.send(msg.HaveAll(), *extra)

    return greet


class SlowSeed:
    """A fake seed that answers one request every `delay` seconds, oldest first, and notes the
    most requests it ever held unanswered (what the engine had in flight at it, at least)."""

    def __init__(self, sample, delay: float, *extra: msg.Message):
        self.sample, self.delay, self.extra = sample, delay, extra
        self.pending: deque[msg.Request] = deque()
        self.high_water = 0

    async def on_connect(self, peer: FakePeer) -> None:
        await seed_greeting(*self.extra)(peer)
        while True:
            await trio.sleep(self.delay)
            if self.pending:
                r = self.pending.popleft()
                block = self.sample.piece(r.index)[r.begin : r.begin + r.length]
                if not await peer.try_send(wire.encode(msg.Piece(r.index, r.begin, block))):
                    return

    async def respond(self, peer: FakePeer, m: msg.Message) -> None:
        if isinstance(m, msg.Interested):
            await peer.try_send(wire.encode(msg.Unchoke()))
        elif isinstance(m, msg.Request):
            self.pending.append(m)
            self.high_water = max(self.high_water, len(self.pending))
        elif isinstance(m, msg.Cancel):
            self.pending = deque(r for r in self.pending if (r.index, r.begin) != (m.index, m.begin))


async def test_interested_once_and_no_request_before_the_unchoke(sample, virtual):
    unchoked_after: list[int] = []  # how many messages the peer had from us when it unchoked

    async def unchoke_late(peer: FakePeer, m: msg.Message) -> None:
        if isinstance(m, msg.Interested):
            await trio.sleep(5)  # a slow choker: the engine must wait for it
            unchoked_after.append(len(peer.received))
        await seeder(sample)(peer, m)

    async with sim_lab() as lab, lab.client("10.0.0.1") as client:
        async with lab.fake_listener(sample, seed_greeting(), responder=unchoke_late) as source:
            torrent = await client.add_torrent(sample.info, empty_storage(sample),
                                               peers=[(source.host, source.port)])
            with trio.fail_after(600):
                await torrent.completed.wait()
            peer = await source.wait_peer()
            kinds = [type(m) for m in peer.received]
            assert kinds.count(msg.Interested) == 1
            first_request = kinds.index(msg.Request)
            assert kinds.index(msg.Interested) < first_request
            assert first_request >= unchoked_after[0], "a REQUEST before the peer unchoked us"
            assert peer.of(msg.Request)  # the control: once unchoked, it asks


async def test_while_choked_it_asks_only_for_the_allowed_fast_pieces(sample, virtual):
    allowed = {2, 5}

    async def never_unchoke(peer: FakePeer, m: msg.Message) -> None:
        if isinstance(m, msg.Request):
            await seeder(sample)(peer, m)  # answers, but never unchokes

    greeting = seed_greeting(*(msg.AllowedFast(i) for i in sorted(allowed)))
    async with sim_lab() as lab, lab.client("10.0.0.1") as client:
        async with lab.fake_listener(sample, greeting, responder=never_unchoke) as source:
            torrent = await client.add_torrent(sample.info, empty_storage(sample),
                                               peers=[(source.host, source.port)])
            peer = await source.wait_peer()
            with trio.fail_after(60):
                while not allowed <= set(torrent.have):  # the control: those pieces do come
                    await trio.sleep(0.1)
            await trio.sleep(10)
            assert {r.index for r in peer.of(msg.Request)} == allowed
            assert set(torrent.have) == allowed
            await peer.send(msg.Unchoke())
            with trio.fail_after(600):
                await torrent.completed.wait()
            assert {r.index for r in peer.of(msg.Request)} == set(range(sample.info.num_pieces))


async def test_the_peers_reqq_bounds_the_requests_in_flight(sample, virtual):
    """A peer that queues 3 requests is never sent more; one that says nothing gets the minimum
    pipeline (8): the control that the bound is the reqq and not the peer's speed."""
    small = SlowSeed(sample, 0.05, msg.Extended(0, encode_extended_handshake({}, reqq=3)))
    plain = SlowSeed(sample, 0.05)
    async with sim_lab() as lab, lab.client("10.0.0.1") as client:
        async with (
            lab.fake_listener(sample, small.on_connect, responder=small.respond) as one,
            lab.fake_listener(sample, plain.on_connect, responder=plain.respond) as other,
        ):
            torrent = await client.add_torrent(sample.info, empty_storage(sample),
                                               peers=[(one.host, one.port), (other.host, other.port)])
            with trio.fail_after(600):
                await torrent.completed.wait()
    assert small.high_water == 3
    assert plain.high_water >= Settings().min_pipeline


async def test_a_choked_fast_peer_hears_a_reject_for_each_queued_request_after_the_choke(sample, virtual):
    """BEP 6: every request gets exactly one answer, PIECE or REJECT; choke first, then reject."""
    # A slow seed (8 KiB/s after the first 256 KiB) with one slot, which goes round every round.
    settings = Settings(upload_slots=1, optimistic_every=1, max_upload_rate=8 * 1024)
    geometry = sample.info.geometry()
    requests = [msg.Request(i, *block) for i in range(sample.info.num_pieces) for block in geometry.blocks(i)]
    async with sim_lab() as lab, lab.client("10.0.0.1", settings=settings) as seed:
        await seed.add_torrent(sample.info, await seed_storage(sample), upload_only=True)
        async with lab.fake_peer(seed, sample) as one, lab.fake_peer(seed, sample) as two:
            await one.send(msg.Interested())
            await one.wait_for(msg.Unchoke)
            await one.send(*requests)
            await two.send(msg.Interested())
            await one.wait_for(msg.Choke, timeout=600)  # the slot goes round to `two`
            await one.wait_until(lambda: len(one.of(msg.Piece)) + len(one.of(msg.Reject)) == len(requests),
                                 "an answer to every request")
            answered = [(m.index, m.begin) for m in one.received if isinstance(m, (msg.Piece, msg.Reject))]
            assert sorted(answered) == sorted((r.index, r.begin) for r in requests)
            choke = one.received.index(one.of(msg.Choke)[0])
            assert all(one.received.index(r) > choke for r in one.of(msg.Reject))
            assert one.of(msg.Piece) and one.of(msg.Reject)  # served, then choked with a queue


async def test_the_connection_refuses_to_send_what_the_protocol_forbids(sample, virtual):
    async with sim_lab() as lab, lab.client("10.0.0.1") as client:
        async with lab.fake_listener(sample, seed_greeting()) as source:
            torrent = await client.add_torrent(sample.info, empty_storage(sample),
                                               peers=[(source.host, source.port)])
            peer = await source.wait_peer()
            await peer.wait_for(msg.Interested)
            (connection,) = torrent.peers.values()
            with pytest.raises(LocalProtocolError):
                connection.send_interested()  # twice
            with pytest.raises(LocalProtocolError):
                connection.send_have(0)  # a piece we lack
            with pytest.raises(LocalProtocolError):
                connection.send_requests([(0, 0, BLOCK)], 1)  # it chokes us
            with pytest.raises(LocalProtocolError):
                connection.send_choke()  # we choke it already
            connection.send_unchoke(trio.current_time())  # the control: allowed, and sent
            await peer.wait_for(msg.Unchoke)
            assert [type(m) for m in peer.received].count(msg.Interested) == 1
            assert not peer.of(msg.Have) and not peer.of(msg.Request) and not peer.of(msg.Choke)
