"""The engine against hostile and broken peers, over real sockets on 127.0.0.1.

Every case runs a real download (or upload) from honest torrentish peers next to one bad
FakePeer, and checks the same four promises: the honest transfer completes byte-identical, the bad
peer is dropped with a reason (PeerDisconnected; PeerBanned for bad data), the engine's buffers
stay within their limits, and no other connection is disturbed.

The honest seed is upload-limited so that the transfer lasts long enough (a few tenths of a
second) for the bad peer to take part. Tests that need timeouts (bans and retries, handshake
timeouts, snubbing) run on the simulated network in virtual time (tests/support/sim_peers.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest
import trio
from trio.testing import MockClock

from tests.support.fake_peer import (
    BLOCK,
    LOCALHOST,
    NO_EXTENSIONS,
    EventLog,
    FakePeer,
    MiB,
    SampleTorrent,
    disconnect_reason,
    make_sample,
    open_fake_listener,
    open_fake_peer,
    seeder,
    storage_bytes,
)
from tests.support.sim_peers import SimLab, empty_storage, seed_storage, sim_lab, virtual_clock
from torrentish import events as ev
from torrentish.engine.client import Client, open_client
from torrentish.engine.settings import Settings
from torrentish.engine.torrent import Torrent
from torrentish.storage.memory import MemoryStorage
from torrentish.wire import codec as wire
from torrentish.wire import messages as msg

SEED_RATE = 2 * MiB  # the honest seed's upload limit: a 1 MiB download takes ~0.4 s
SEED_HOST = "10.0.0.1"  # the seed's address on the simulated network


@pytest.fixture
def sample(tmp_path) -> SampleTorrent:
    return make_sample(tmp_path)


@pytest.fixture
def virtual() -> MockClock:
    """Virtual time for tests on the simulated network (tests/support/sim_peers.py)."""
    return virtual_clock()


@dataclass
class Swarm:
    """An honest torrentish seed and the torrentish client under test, downloading from it."""

    seed: Client
    client: Client
    torrent: Torrent
    storage: MemoryStorage
    log: EventLog
    sample: SampleTorrent
    seed_host: str  # its address as the client sees it, with seed.port

    async def finish(self, timeout: float = 20) -> None:
        """The download completes and is byte-identical; the engine stayed within its bounds."""
        with trio.fail_after(timeout):
            await self.torrent.completed.wait()
        assert await storage_bytes(self.storage, self.sample.info) == self.sample.data
        assert_bounded(self.torrent)

    def seed_undisturbed(self) -> None:
        """The honest seed was connected once and never dropped."""
        address = (self.seed_host, self.seed.port)
        assert [e for e in self.log.of(ev.PeerConnected) if e.address == address], "seed never connected"
        assert len([e for e in self.log.of(ev.PeerConnected) if e.address == address]) == 1
        # Once we are a seed too, the engine hangs up on it: that is the only reason allowed.
        assert disconnect_reason(self.log, address) in (None, "both are seeds")
        assert all(b.address != address for b in self.log.of(ev.PeerBanned))


def assert_bounded(torrent: Torrent) -> None:
    """What a peer can make the engine hold stays under the limits the settings promise."""
    settings = torrent.settings
    assembling = sum(len(b.data) for b in torrent.assembly.values())
    assert assembling <= settings.assembly_budget
    for peer in torrent.peers.values():
        assert len(peer.state.requested) <= settings.max_queued_requests
        assert peer.codec.buffered <= 2 * BLOCK + 64
        assert torrent.picker.outstanding(peer) <= settings.max_pipeline


@asynccontextmanager
async def swarm(sample: SampleTorrent, settings: Settings | None = None, extra_peers=(),
                seed_rate: int = SEED_RATE, dial_seed: bool = True, lab: SimLab | None = None) -> AsyncIterator[Swarm]:
    """Over real sockets on 127.0.0.1, or with `lab` on the simulated network (seed 10.0.0.1,
    client 10.0.0.2), where time is virtual."""
    seed_settings, settings = Settings(max_upload_rate=seed_rate), settings or Settings()
    async with (
        lab.client(SEED_HOST, settings=seed_settings) if lab else open_client(host=LOCALHOST, settings=seed_settings)
        as seed,
        lab.client("10.0.0.2", settings=settings) if lab else open_client(host=LOCALHOST, settings=settings)
        as client,
    ):
        await seed.add_torrent(sample.info, await seed_storage(sample) if lab else sample.seed_storage(),
                               upload_only=True)
        log = EventLog(client)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(log.collect)
            storage = empty_storage(sample) if lab else sample.empty_storage()
            peers = [(SEED_HOST if lab else LOCALHOST, seed.port)] if dial_seed else []
            peers += extra_peers
            torrent = await client.add_torrent(sample.info, storage, peers=peers)
            yield Swarm(seed, client, torrent, storage, log, sample, SEED_HOST if lab else LOCALHOST)
            nursery.cancel_scope.cancel()


async def dropped(s: Swarm, peer: FakePeer, address: tuple[str, int] | None = None) -> str:
    """The engine hangs up on `peer` (a peer that dialed it, or one at `address`) and says why."""
    await peer.wait_closed()
    address = address or (LOCALHOST, peer.local_port)
    event = await s.log.wait_for(ev.PeerDisconnected, lambda e: e.address == address)
    assert event.reason
    return event.reason


# ------------------------------------------------------------------------------- bad data


async def test_corrupt_pieces_get_the_peer_banned_and_refetched_from_the_seed(sample, virtual):
    settings = Settings(ban_after_failures=2, reconnect_backoff=(1.0, 5.0))
    corrupt = seeder(sample, corrupt=lambda index: True)
    async with sim_lab() as lab, lab.fake_listener(sample, responder=corrupt) as liar:
        async with swarm(sample, settings, extra_peers=[(liar.host, liar.port)], lab=lab) as s:
            bad = await liar.wait_peer()
            banned = await s.log.wait_for(ev.PeerBanned)
            assert banned.address == (liar.host, liar.port)
            assert "banned" in await dropped(s, bad, (liar.host, liar.port))
            failed = s.log.of(ev.PieceFailed)
            assert len(failed) >= settings.ban_after_failures
            assert all((liar.host, liar.port) in f.peers for f in failed[: settings.ban_after_failures])
            await s.finish(timeout=600)
            s.seed_undisturbed()
            assert s.torrent.wasted >= settings.ban_after_failures * sample.info.piece_length // 2
            # Not dialed again, although a dropped peer is retried within 1-5 s.
            await trio.sleep(30)
            assert len(liar.peers) == 1

            # Coming back on its own (same peer id) it is refused after the handshake.
            async with lab.fake_peer(s.client, sample, host=liar.host, peer_id=bad.peer_id) as again:
                await again.wait_closed()
            assert len(s.log.of(ev.PeerConnected)) == 2  # the seed and the liar, once each


async def test_a_banned_peers_blocks_do_not_get_the_honest_seed_banned(sample):
    """The liar completes two bad pieces (and is banned) but also leaves a bad first block in
    other pieces; the seed then supplies their second blocks. Those pieces fail too, and must
    not count against the seed."""
    completed: set[int] = set()

    async def poison(peer: FakePeer, m: msg.Message) -> None:
        if isinstance(m, msg.Interested):
            await peer.try_send(wire.encode(msg.Unchoke()))
        elif isinstance(m, msg.Request) and (m.begin == 0 or len(completed) < 2 or m.index in completed):
            if m.begin:
                completed.add(m.index)
            start = sample.info.piece_length * m.index + m.begin
            block = bytes(b ^ 0x55 for b in sample.data[start : start + m.length])
            await peer.try_send(wire.encode(msg.Piece(m.index, m.begin, block)))

    settings = Settings(ban_after_failures=2)
    async with open_fake_listener(sample, responder=poison) as liar:
        # A slow seed, as for the ghost below: the liar must be asked before the seed is done.
        async with swarm(sample, settings, extra_peers=[(LOCALHOST, liar.port)], seed_rate=SEED_RATE // 4) as s:
            await s.log.wait_for(ev.PeerBanned)
            await s.finish()
            s.seed_undisturbed()
            assert [b.address for b in s.log.of(ev.PeerBanned)] == [(LOCALHOST, liar.port)]


async def test_a_corrupt_block_among_good_ones_is_fetched_again(sample):
    """One bad piece is a strike, not a ban: the piece is fetched again and the peer stays."""
    spoiled: list[int] = []

    def corrupt(index: int) -> bool:  # the first block it sends, only
        if not spoiled:
            spoiled.append(index)
            return True
        return False

    async with open_fake_listener(sample, responder=seeder(sample, corrupt=corrupt)) as flaky:
        async with swarm(sample, extra_peers=[(LOCALHOST, flaky.port)], seed_rate=64 * 1024) as s:
            await s.finish()
            assert [f.index for f in s.log.of(ev.PieceFailed)] == spoiled
            assert not s.log.of(ev.PeerBanned)
            assert disconnect_reason(s.log, flaky.port) is None


# ------------------------------------------------------------------------- malformed messages


async def malformed(sample: SampleTorrent, payload: bytes, expect: str, *,
                    reserved: bytes = msg.make_reserved()) -> None:
    """A peer that sends `payload` after a good handshake is dropped for `expect`; the honest
    download beside it completes undisturbed."""
    async with swarm(sample) as s:
        async with open_fake_peer(s.client.port, sample, reserved=reserved) as bad:
            await bad.send_raw(payload)
            reason = await dropped(s, bad)
            assert expect in reason, reason
            assert bad.engine_error is None
            assert not s.torrent.completed.is_set(), "the honest transfer should still be running"
        await s.finish()
        s.seed_undisturbed()


async def test_oversized_length_prefix_is_rejected_before_the_body(sample):
    # Only the prefix and one byte are sent: the engine must not wait for 2 GiB to arrive.
    await malformed(sample, b"\x7f\xff\xff\xff\x07", "exceeds the limit")


async def test_bitfield_of_the_wrong_size(sample):
    size = (sample.info.num_pieces + 7) // 8 + 1
    await malformed(sample, wire.encode(msg.BitfieldMsg(b"\xff" * size)), "BITFIELD")


async def test_bitfield_with_spare_bits_set(sample):
    assert sample.info.num_pieces % 8, "the sample needs spare bits in its bitfield"
    data = b"\xff" * ((sample.info.num_pieces + 7) // 8)
    await malformed(sample, wire.encode(msg.BitfieldMsg(data)), "spare bits")


async def test_request_past_the_end_of_the_torrent(sample):
    last = sample.info.num_pieces - 1
    size = sample.info.geometry().piece_size(last)
    request = msg.Request(last, size - 100, 200)
    await malformed(sample, wire.encode(msg.Interested()) + wire.encode(request), "past the end")


async def test_request_for_a_piece_that_does_not_exist(sample):
    request = msg.Request(sample.info.num_pieces, 0, BLOCK)
    await malformed(sample, wire.encode(request), "torrent has")


async def test_request_larger_than_16_kib(sample):
    request = msg.Request(0, 0, 2 * BLOCK)
    await malformed(sample, wire.encode(msg.Interested()) + wire.encode(request), "outside 1..16384")


async def test_fast_message_without_the_fast_extension(sample):
    await malformed(sample, wire.encode(msg.HaveAll()), "Fast extension", reserved=NO_EXTENSIONS)


async def test_a_piece_message_that_was_never_requested_is_harmless(sample):
    """Unsolicited data is at most wasted: it cannot make a piece pass or grow memory."""
    async with swarm(sample) as s:
        async with open_fake_peer(s.client.port, sample) as pusher:
            junk = bytes(BLOCK)
            for index in range(sample.info.num_pieces):
                if not await pusher.try_send(wire.encode(msg.Piece(index, 0, junk))):
                    break
            await s.finish()
        s.seed_undisturbed()


# ---------------------------------------------------------------------------- request floods


@pytest.mark.parametrize(
    ("reserved", "unchoked"),
    [(msg.make_reserved(), True), (NO_EXTENSIONS, True), (msg.make_reserved(), False)],
    ids=["fast", "plain", "fast-choked"],
)
async def test_request_flood_gets_the_peer_dropped(tmp_path, reserved, unchoked):
    """The engine seeds to an honest leecher while another peer asks for far more than reqq
    (or, choked, keeps asking although every request is rejected)."""
    sample = make_sample(tmp_path)
    settings = Settings(max_queued_requests=50, request_flood_limit=200)
    async with (
        open_client(host=LOCALHOST, settings=settings) as server,
        open_client(host=LOCALHOST, settings=Settings(max_download_rate=SEED_RATE)) as leecher,
    ):
        log = EventLog(server)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(log.collect)
            served = await server.add_torrent(sample.info, sample.seed_storage(), upload_only=True)
            storage = sample.empty_storage()
            honest = await leecher.add_torrent(sample.info, storage, peers=[(LOCALHOST, server.port)])
            async with open_fake_peer(server.port, sample, reserved=reserved) as flooder:
                if unchoked:
                    await flooder.send(msg.Interested())
                    await flooder.wait_for(msg.Unchoke)
                geometry = sample.info.geometry()
                blocks = [(i, *b) for i in range(sample.info.num_pieces) for b in geometry.blocks(i)]
                count = settings.request_flood_limit + 100
                flood = b"".join(
                    wire.encode(msg.Request(*blocks[n % len(blocks)])) for n in range(count)
                )
                await flooder.try_send(flood)
                await flooder.wait_closed()
                event = await log.wait_for(ev.PeerDisconnected, lambda e: e.address[1] == flooder.local_port)
                assert "flood" in event.reason
                assert_bounded(served)
            assert not honest.completed.is_set(), "the honest transfer should still be running"
            with trio.fail_after(20):
                await honest.completed.wait()
            assert await storage_bytes(storage, sample.info) == sample.data
            # The honest leecher's connection was never dropped.
            assert [e.reason for e in log.of(ev.PeerDisconnected)
                    if e.address[1] != flooder.local_port] in ([], ["both are seeds"])
            nursery.cancel_scope.cancel()


async def test_requests_beyond_reqq_are_rejected_but_tolerated(sample):
    """A few requests too many (a peer that ignores reqq a little) get REJECTs, not a hang-up."""
    settings = Settings(max_queued_requests=20, request_flood_limit=200)
    async with open_client(host=LOCALHOST, settings=settings) as server:
        await server.add_torrent(sample.info, sample.seed_storage(), upload_only=True)
        async with open_fake_peer(server.port, sample) as eager:
            await eager.send(msg.Interested())
            await eager.wait_for(msg.Unchoke)
            requests = [msg.Request(i, 0, BLOCK) for i in range(30)]
            await eager.send(*requests)
            await eager.wait_until(lambda: len(eager.of(msg.Piece)) + len(eager.of(msg.Reject)) == 30,
                                   "an answer to every request")
            assert len(eager.of(msg.Piece)) >= 20
            assert not eager.closed.is_set()


# --------------------------------------------------------------------------- bad handshakes


async def test_garbage_instead_of_a_handshake(sample):
    async with swarm(sample) as s:
        async with open_fake_peer(s.client.port, sample, handshake=False) as bad:
            await bad.send_raw(b"GET / HTTP/1.1\r\nHost: example\r\n\r\n" + bytes(100))
            await bad.wait_closed()
            assert bad.handshake is None  # nothing was said to it
        await s.finish()
        s.seed_undisturbed()
        assert len(s.log.of(ev.PeerConnected)) == 1


async def test_wrong_info_hash_incoming(sample):
    async with swarm(sample) as s:
        async with open_fake_peer(s.client.port, sample, handshake=False) as stranger:
            await stranger.send_handshake(info_hash=bytes(range(20)))
            await stranger.wait_closed()
            assert stranger.handshake is None
        await s.finish()
        s.seed_undisturbed()


async def test_wrong_info_hash_outgoing(sample):
    """A peer we dial that answers for another torrent is hung up on and not counted as a peer."""

    async def answer_wrongly(peer: FakePeer) -> None:
        await peer.wait_handshake()
        await peer.send_handshake(info_hash=bytes(range(20)))

    async with open_fake_listener(sample, answer_wrongly) as stranger:
        async with swarm(sample, extra_peers=[(LOCALHOST, stranger.port)]) as s:
            peer = await stranger.wait_peer()
            await peer.wait_closed()
            await s.finish()
            s.seed_undisturbed()
            assert all(e.address[1] != stranger.port for e in s.log.of(ev.PeerConnected))


async def test_handshake_timeout_incoming(sample, virtual):
    settings = Settings(handshake_timeout=5.0)
    async with sim_lab() as lab, swarm(sample, settings, lab=lab) as s:
        async with lab.fake_peer(s.client, sample, handshake=False) as mute:
            start = trio.current_time()
            await mute.wait_closed(timeout=60)
            assert 4.9 <= trio.current_time() - start < 10
        await s.finish(timeout=600)
        s.seed_undisturbed()


async def test_handshake_timeout_outgoing(sample, virtual):
    settings = Settings(handshake_timeout=5.0)

    async def say_nothing(peer: FakePeer) -> None:
        await trio.sleep_forever()

    async with sim_lab() as lab, lab.fake_listener(sample, say_nothing) as mute:
        async with swarm(sample, settings, extra_peers=[(mute.host, mute.port)], lab=lab) as s:
            peer = await mute.wait_peer()
            start = trio.current_time()
            await peer.wait_closed(timeout=60)
            assert trio.current_time() - start < 10
            await s.finish(timeout=600)
            s.seed_undisturbed()


# ---------------------------------------------------------------------- peers that go quiet


async def test_peer_that_vanishes_mid_block(sample):
    """Half a PIECE message, then the connection drops: its requests go to the seed."""

    async def vanish(peer: FakePeer, m: msg.Message) -> None:
        if isinstance(m, msg.Interested):
            await peer.try_send(wire.encode(msg.Unchoke()))
        elif isinstance(m, msg.Request):
            piece = wire.encode(msg.Piece(m.index, m.begin, bytes(m.length)))
            await peer.try_send(piece[: len(piece) // 2])
            await peer.aclose()

    async with open_fake_listener(sample, responder=vanish) as ghost:
        # A slow seed (about 2 s for the download): the ghost is asked for blocks before the seed has
        # sent them all (else we finish first and hang up on it: "both are seeds").
        async with swarm(sample, extra_peers=[(LOCALHOST, ghost.port)], seed_rate=SEED_RATE // 4) as s:
            peer = await ghost.wait_peer()
            await peer.closed.wait()
            reason = await s.log.wait_for(ev.PeerDisconnected, lambda e: e.address[1] == ghost.port)
            assert "closed" in reason.reason or "lost" in reason.reason
            await s.finish()
            s.seed_undisturbed()
            assert not s.log.of(ev.PieceFailed)


async def test_snubbing_peer_loses_its_requests_to_the_seed(sample, virtual):
    """It unchokes and never sends a block: after snub_timeout its requests go elsewhere.

    On the simulated network, in virtual time. The seed is slow (16 KiB/s: the download takes
    about 64 s), so the staller's blocks are freed by the snub, well before the endgame would hand
    them out twice anyway.
    """
    settings = Settings(snub_timeout=20.0)
    async with (
        sim_lab() as lab,
        lab.client("10.0.0.1", up=16 * 1024) as seed,
        lab.client("10.0.0.2", settings=settings) as client,
        trio.open_nursery() as nursery,
    ):
        await seed.add_torrent(sample.info, await seed_storage(sample), upload_only=True)
        log = EventLog(client)
        nursery.start_soon(log.collect)
        async with lab.fake_listener(sample, responder=seeder(sample, answer=False)) as staller:
            # The seed joins second, so the staller is certainly asked for blocks first.
            storage = empty_storage(sample)
            torrent = await client.add_torrent(sample.info, storage, peers=[(staller.host, staller.port)])
            peer = await staller.wait_peer()
            await peer.wait_for(msg.Request)
            asked = {(r.index, r.begin) for r in peer.of(msg.Request)}
            asked_at = trio.current_time()
            torrent.add_peers([("10.0.0.1", seed.port)])
            stalled = next(p for p in torrent.peers.values() if p.address[0] == staller.host)
            while not stalled.pipeline.snubbed:
                await trio.sleep(0.1)
            # Snubbed by the first check (once a second) after snub_timeout without a block.
            assert settings.snub_timeout < trio.current_time() - asked_at <= settings.snub_timeout + 1.1
            assert not torrent.picker.endgame
            # Its blocks are being fetched from the seed, and it holds at most a token request.
            seed_peer = next(p for p in torrent.peers.values() if p.address[0] == "10.0.0.1")
            picker = torrent.picker
            assert picker.outstanding(stalled) <= 1
            await trio.sleep(1.0)
            assert picker.outstanding(stalled) <= 1
            still = {(b.index, b.begin) for b in picker.requests(stalled)}
            assert asked - still, "the stalled blocks were never reassigned"
            assert picker.outstanding(seed_peer)
            with trio.fail_after(600):
                await torrent.completed.wait()
            assert await storage_bytes(storage, sample.info) == sample.data
            assert disconnect_reason(log, (staller.host, staller.port)) is None  # snubbed, not dropped
        nursery.cancel_scope.cancel()
