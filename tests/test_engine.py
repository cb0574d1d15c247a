"""The engine's promises, in process, over real sockets on 127.0.0.1.

Swarms of torrentish clients (and FakePeers where a test must see the exact messages) trade small
torrents held in MemoryStorage. Tests about timing (retries) run on trio's MockClock with
autojump; the choking rounds run on the simulated network in virtual time
(tests/support/sim_peers.py), where nothing happens outside trio and the clock cannot outrun the
bytes; so do the rate-limit tests, whose seconds of transfer take no time there.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager

import pytest
import trio
from trio.testing import MockClock

from tests.support.fake_peer import (
    LOCALHOST,
    EventLog,
    FakePeer,
    MiB,
    SampleTorrent,
    make_sample,
    open_fake_listener,
    open_fake_peer,
    seeder,
    storage_bytes,
)
from tests.support.sim_peers import empty_storage, seed_storage, sim_lab, virtual_clock
from torrentish.core.bitfield import Bitfield
from torrentish import events as ev
from torrentish.engine.client import Client, open_client
from torrentish.engine.settings import Settings
from torrentish.engine.torrent import Torrent
from torrentish.errors import TorrentishError
from torrentish.storage.memory import MemoryStorage
from torrentish.wire import messages as msg


@pytest.fixture
def sample(tmp_path) -> SampleTorrent:
    return make_sample(tmp_path)


@pytest.fixture
def virtual() -> MockClock:
    """Virtual time for tests on the simulated network (tests/support/sim_peers.py)."""
    return virtual_clock()


@asynccontextmanager
async def clients(count: int, **kwargs) -> AsyncIterator[list[Client]]:
    """`count` clients on 127.0.0.1, each with its own seeded rng (reproducible choices)."""
    async with AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(
                open_client(host=LOCALHOST, rng=random.Random(n), **kwargs)
            )
            for n in range(count)
        ]


async def completes(torrent: Torrent, storage: MemoryStorage, sample: SampleTorrent,
                    timeout: float = 20) -> None:
    with trio.fail_after(timeout):
        await torrent.completed.wait()
    assert await storage_bytes(storage, sample.info) == sample.data


def announcing(sample: SampleTorrent, pieces) -> Callable[[FakePeer], Awaitable[None]]:
    """A fake peer's greeting: handshake, then a bitfield of `pieces`."""
    bits = Bitfield(sample.info.num_pieces)
    for index in pieces:
        bits.add(index)

    async def greet(peer: FakePeer) -> None:
        await peer.wait_handshake()
        await peer.send_handshake()
        await peer.send(msg.BitfieldMsg(bits.to_bytes()))

    return greet


# ----------------------------------------------------------------------------------- swarms


async def test_leechers_trade_among_themselves(tmp_path, virtual):
    """A slow seed and three leechers that know each other: most bytes come from the leechers."""
    sample = make_sample(tmp_path, size=2 * MiB + 999)
    hosts = ["10.0.0.2", "10.0.0.3", "10.0.0.4"]
    async with sim_lab() as lab, lab.client("10.0.0.1", settings=Settings(max_upload_rate=256 * 1024)) as seed:
        await seed.add_torrent(sample.info, await seed_storage(sample), upload_only=True)
        async with AsyncExitStack() as stack:
            leechers = [await stack.enter_async_context(lab.client(host)) for host in hosts]
            torrents, storages = [], []
            for n, client in enumerate(leechers):
                storage = empty_storage(sample)
                peers = [("10.0.0.1", seed.port)] + [(host, c.port) for host, c in zip(hosts, leechers[:n])]
                torrents.append(await client.add_torrent(sample.info, storage, peers=peers))
                storages.append(storage)
            for torrent, storage in zip(torrents, storages):
                await completes(torrent, storage, sample, timeout=600)
            uploaded = [t.uploaded for t in torrents]
            # Without trading the seed would have to send 3 copies; it sent not much over one.
            total = sample.info.total_length
            assert sum(uploaded) >= total, uploaded
            assert sum(1 for u in uploaded if u > 0) >= 2, uploaded
            assert seed.torrents[sample.info_hash].uploaded < 2 * total


async def test_sequential_strategy_fetches_in_order(sample):
    """Requests go out in piece order (what the strategy decides; pieces may still *verify* a
    little out of order, since they are hashed in parallel worker threads)."""
    async with open_fake_listener(sample, responder=seeder(sample)) as source:
        async with clients(1) as (leecher,):
            storage = sample.empty_storage()
            torrent = await leecher.add_torrent(
                sample.info, storage, peers=[(LOCALHOST, source.port)], strategy="sequential"
            )
            await completes(torrent, storage, sample)
            requests = [(r.index, r.begin) for r in (await source.wait_peer()).of(msg.Request)]
    assert requests == sorted(requests)
    assert len(requests) == sum(sample.info.geometry().num_blocks(i) for i in range(sample.info.num_pieces))


# ------------------------------------------------------------------------ selective download


async def test_wanted_files_only(tmp_path):
    sizes = [300_000, 200_000, 5_000, 400_000]
    sample = make_sample(tmp_path, files=sizes)
    geometry = sample.info.geometry()
    async with clients(2) as (seed, leecher):
        await seed.add_torrent(sample.info, sample.seed_storage(), upload_only=True)
        storage = sample.empty_storage()
        torrent = await leecher.add_torrent(
            sample.info, storage, peers=[(LOCALHOST, seed.port)], wanted_files={1}
        )
        with trio.fail_after(20):
            await torrent.completed.wait()
        assert torrent.state == "finished"  # not a seed: it lacks the other files
        wanted = set(geometry.pieces_of_file(1))
        assert wanted <= set(torrent.have)
        # Only pieces that overlap file 1 were fetched.
        assert set(torrent.have) == wanted
        start = geometry.file_offsets[1]
        assert await storage.read(start, sizes[1]) == sample.data[start : start + sizes[1]]
        # It stays connected to the seed but is no longer interested.
        assert torrent.peers and all(not p.state.am_interested for p in torrent.peers.values())


async def test_transfer_get_only(tmp_path):
    """The library function behind `torrentish get --only`: exactly the chosen files on disk."""
    from torrentish.app.transfer import get

    sample = make_sample(tmp_path / "src", files=[100_000, 250_000, 70_000])
    async with open_client(host=LOCALHOST) as seed:
        await seed.add_torrent(sample.info, sample.seed_storage(), upload_only=True)
        with trio.fail_after(20):
            result = await get(sample.info, tmp_path / "dl", peers=[(LOCALHOST, seed.port)],
                               host=LOCALHOST, only=["f01.bin"], resume=None)
    assert result.complete
    root = tmp_path / "dl" / sample.info.name
    assert (root / "f01.bin").read_bytes() == (sample.content_path / "f01.bin").read_bytes()
    # Neighbouring files hold at most the pieces shared with the chosen one.
    assert result.downloaded < 100_000 + 250_000
    with pytest.raises(TorrentishError, match="no such file"):
        await get(sample.info, tmp_path / "dl2", only=["nope.bin"], resume=None)


# ---------------------------------------------------------------------------- rate limits


async def download_slope(torrents: list[Torrent], start: float, end: float) -> list[float]:
    """Bytes/s each torrent downloads between `start` and `end` seconds from now (least squares).

    The engine reads and writes in chunks of up to 1 MiB and sleeps off the cost afterwards, so
    the byte count is a staircase; a fitted slope over several steps measures its rate.
    """
    t0 = trio.current_time()
    samples: list[tuple[float, list[int]]] = []
    await trio.sleep(start)
    while (now := trio.current_time() - t0) < end:
        samples.append((now, [t.downloaded for t in torrents]))
        await trio.sleep(0.02)
    slopes = []
    for i in range(len(torrents)):
        xs = [s[0] for s in samples]
        ys = [s[1][i] for s in samples]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        slopes.append(
            sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
        )
    return slopes


async def test_global_and_per_torrent_download_limits(tmp_path, virtual):
    """A client capped at 6 MiB/s downloads two torrents, one of them capped at 2 MiB/s."""
    a = make_sample(tmp_path / "a", size=12 * MiB, seed=1)
    b = make_sample(tmp_path / "b", size=16 * MiB, seed=2)
    limit, per_torrent = 6 * MiB, 2 * MiB
    async with sim_lab() as lab, lab.client("10.0.0.1", settings=Settings(max_download_rate=limit)) as client:
        capped = await client.add_torrent(a.info, empty_storage(a))
        capped.set_rate_limits(down=per_torrent)
        free = await client.add_torrent(b.info, empty_storage(b))
        async with lab.client("10.0.0.2") as seed:  # it dials the client
            for sample in (a, b):
                await seed.add_torrent(sample.info, await seed_storage(sample), upload_only=True,
                                       peers=[("10.0.0.1", client.port)])
            rate_a, rate_b = await download_slope([capped, free], 0.8, 2.8)
            assert not free.completed.is_set()
    assert 0.85 * per_torrent <= rate_a <= 1.15 * per_torrent, rate_a / MiB
    assert 0.85 * limit <= rate_a + rate_b <= 1.15 * limit, (rate_a + rate_b) / MiB


async def test_upload_limit(tmp_path, virtual):
    sample = make_sample(tmp_path, size=8 * MiB)
    limit = 3 * MiB
    async with sim_lab() as lab, lab.client("10.0.0.1") as seed, lab.client("10.0.0.2") as leecher:
        await seed.add_torrent(sample.info, await seed_storage(sample), upload_only=True)
        seed.torrents[sample.info_hash].set_rate_limits(up=limit)
        torrent = await leecher.add_torrent(sample.info, empty_storage(sample), peers=[("10.0.0.1", seed.port)])
        (rate,) = await download_slope([torrent], 0.6, 2.0)
        assert not torrent.completed.is_set()
    assert 0.85 * limit <= rate <= 1.15 * limit, rate / MiB


# ------------------------------------------------------------------------------ connections


async def test_connecting_to_itself_is_detected_and_not_retried(sample, virtual):
    settings = Settings(reconnect_backoff=(1.0, 5.0))
    async with sim_lab() as lab, lab.client("10.0.0.1", settings=settings) as client:
        log = EventLog(client)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(log.collect)
            torrent = await client.add_torrent(sample.info, empty_storage(sample),
                                               peers=[("10.0.0.1", client.port)])
            await trio.sleep(30)
            known = torrent.known[("10.0.0.1", client.port)]
            assert known.retired
            assert known.failures == 1
            assert not log.of(ev.PeerConnected)
            assert not torrent.peers
            nursery.cancel_scope.cancel()


async def test_second_connection_with_the_same_peer_id_is_closed(sample):
    async with clients(1) as (client,):
        await client.add_torrent(sample.info, sample.seed_storage(), upload_only=True)
        async with open_fake_peer(client.port, sample) as first:
            async with open_fake_peer(client.port, sample, peer_id=first.peer_id) as second:
                await second.wait_closed()
            await first.send(msg.Interested())
            await first.wait_for(msg.Unchoke)
            assert not first.closed.is_set()
            assert len(client.torrents[sample.info_hash].peers) == 1


async def test_two_clients_dialing_each_other_settle_on_one_connection(sample, virtual):
    """Both dial at once. Both sides keep the connection dialed by the lower peer id
    (tests/test_connections.py); should the dials still collide, retries must not forever."""
    async with sim_lab() as lab, lab.client("10.0.0.1") as one, lab.client("10.0.0.2") as two:
        log_one, log_two = EventLog(one), EventLog(two)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(log_one.collect)
            nursery.start_soon(log_two.collect)
            storage = empty_storage(sample)
            seeding = await one.add_torrent(sample.info, await seed_storage(sample), upload_only=True)
            leeching = await two.add_torrent(sample.info, storage)
            # Both learn of the other at the same instant of (virtual) time and dial at once.
            seeding.add_peers([("10.0.0.2", two.port)])
            leeching.add_peers([("10.0.0.1", one.port)])
            await completes(leeching, storage, sample, timeout=30)
            # A few collisions may happen before the jittered retries part; not one per second.
            assert len(log_two.of(ev.PeerConnected)) <= 6, log_two.events
            assert len(seeding.peers) <= 1 and len(leeching.peers) <= 1
            nursery.cancel_scope.cancel()


# ----------------------------------------------------------------------------------- choking


async def test_one_upload_slot_unchokes_one_peer_per_round(sample, virtual):
    interval = 10.0
    # Neither peer requests anything: idle slots (the next test) would hand the slot over sooner.
    settings = Settings(upload_slots=1, rechoke_interval=interval, optimistic_every=1, idle_slot_seconds=0)
    async with sim_lab() as lab, lab.client("10.0.0.1", settings=settings) as seed:
        torrent = await seed.add_torrent(sample.info, await seed_storage(sample), upload_only=True)
        async with lab.fake_peer(seed, sample) as one, lab.fake_peer(seed, sample) as two:
            await one.send(msg.Interested())
            await one.wait_for(msg.Unchoke)  # the free slot, at once
            await two.send(msg.Interested())
            started = trio.current_time()
            # Rounds go by; the slot rotates but is never held by both at once.
            while trio.current_time() - started < 4 * interval:
                unchoked = [p for p in torrent.peers.values() if not p.state.am_choking]
                assert len(unchoked) <= 1
                if trio.current_time() - started < interval / 2:
                    assert not two.of(msg.Unchoke), "a second peer was unchoked with one slot"
                await trio.sleep(interval / 4)
            assert two.of(msg.Unchoke), "the second peer never got the slot"  # the control
            assert one.of(msg.Choke)
            first_choke = one.received.index(one.of(msg.Choke)[0])
            assert one.received.index(one.of(msg.Unchoke)[0]) < first_choke


@asynccontextmanager
async def one_slot_two_interested(sample, idle_slot_seconds: float):
    """A seed with one upload slot and no rechoke to come (the interval is 1000 s): fake peer
    `one` interested and unchoked, then `two` interested (yields the torrent, one, two)."""
    settings = Settings(upload_slots=1, rechoke_interval=1000.0, optimistic_every=1,
                        idle_slot_seconds=idle_slot_seconds)
    async with sim_lab() as lab, lab.client("10.0.0.1", settings=settings) as seed:
        torrent = await seed.add_torrent(sample.info, await seed_storage(sample), upload_only=True)
        async with lab.fake_peer(seed, sample) as one, lab.fake_peer(seed, sample) as two:
            await one.send(msg.Interested())
            await one.wait_for(msg.Unchoke)
            await two.send(msg.Interested())
            await until(lambda: peer_at(torrent, two).state.peer_interested)
            yield torrent, one, two


async def test_a_peer_interested_again_while_unchoked_does_not_take_an_extra_slot(sample, virtual):
    """BEP 3: when an unchoked peer becomes interested and that makes more downloaders than
    slots, the worst one is choked (here both have taken nothing, so either may be)."""
    async with one_slot_two_interested(sample, idle_slot_seconds=0) as (torrent, one, two):
        assert not two.of(msg.Unchoke)
        await one.send(msg.NotInterested())  # the slot goes to the peer waiting for it
        await two.wait_for(msg.Unchoke)
        await one.send(msg.Interested())  # still unchoked: one slot, two downloaders
        await until(lambda: one.of(msg.Choke) or two.of(msg.Choke))
        busy = [p for p in torrent.peers.values() if not p.state.am_choking and p.state.peer_interested]
        assert len(busy) == 1


async def test_an_unchoked_peer_that_asks_for_nothing_leaves_its_slot_to_a_waiting_one(sample, virtual):
    """Between rechokes a slot whose holder keeps asking stays with it; once it has asked for
    nothing for idle_slot_seconds the waiting peer gets it."""
    grace = 1.0
    async with one_slot_two_interested(sample, idle_slot_seconds=grace) as (torrent, one, two):
        for _ in range(8):  # four grace periods of asking, a block every half of one
            await one.send(msg.Request(0, 0, 1024))
            await trio.sleep(grace / 2)
        assert len(one.of(msg.Piece)) == 8
        assert not two.of(msg.Unchoke) and not one.of(msg.Choke), "a busy slot was taken away"
        with trio.fail_after(10 * grace):  # long before a rechoke
            await two.wait_for(msg.Unchoke)
        await one.wait_for(msg.Choke)
        unchoked = [p for p in torrent.peers.values() if not p.state.am_choking]
        assert unchoked == [peer_at(torrent, two)]


def peer_at(torrent: Torrent, fake: FakePeer):
    """The engine's connection to `fake` (on the simulated network: the host tells them apart)."""
    return next(p for p in torrent.peers.values() if p.address[0] == fake.host)


async def until(condition: Callable[[], object], step: float = 0.01, timeout: float = 60) -> None:
    """Wait (in virtual time) until `condition()` holds; fail after `timeout`."""
    with trio.fail_after(timeout):
        while not condition():
            await trio.sleep(step)


# ----------------------------------------------------------------------- have / interested


async def test_have_is_sent_for_each_verified_piece_the_peer_lacks(sample):
    """A peer that announced pieces 0 and 1 hears HAVE for every other piece as it verifies."""
    async with open_fake_listener(sample, announcing(sample, (0, 1))) as listener:
        async with clients(2) as (seed, leecher):
            await seed.add_torrent(sample.info, sample.seed_storage(), upload_only=True)
            storage = sample.empty_storage()
            torrent = await leecher.add_torrent(sample.info, storage, peers=[(LOCALHOST, listener.port)])
            watcher = await listener.wait_peer()  # before the seed: every piece is verified after it
            await watcher.wait_until(lambda: watcher.received, "the engine's first message")
            torrent.add_peers([(LOCALHOST, seed.port)])
            await completes(torrent, storage, sample)
            everything = set(range(sample.info.num_pieces))
            await watcher.wait_until(lambda: {h.index for h in watcher.of(msg.Have)} >= everything - {0, 1},
                                     "a HAVE for every piece")
            haves = [h.index for h in watcher.of(msg.Have)]
            assert len(haves) == len(set(haves)), "a HAVE was sent twice"
            assert not {0, 1} & set(haves)


async def test_the_peer_that_sent_a_piece_hears_have_for_it(sample, virtual):
    """A peer that gave us a piece it announced still gets our HAVE for it: a BEP 16 super-seed
    learns from it that the piece it revealed arrived (and reveals the next)."""
    async with sim_lab() as lab, \
            lab.fake_listener(sample, announcing(sample, (0, 1)), responder=seeder(sample)) as listener:
        async with lab.client("10.0.0.1") as leecher:
            await leecher.add_torrent(sample.info, empty_storage(sample),
                                      peers=[(listener.host, listener.port)])
            giver = await listener.wait_peer()
            await giver.wait_until(lambda: {h.index for h in giver.of(msg.Have)} >= {0, 1},
                                   "HAVE for the pieces it sent")
            assert sorted(h.index for h in giver.of(msg.Have)) == [0, 1]


async def test_not_interested_once_a_peer_has_nothing_more_for_us(sample, virtual):
    """A partial peer with pieces 0..3 is interesting until we hold those pieces, long before
    the (slow) seed has given us the rest."""
    async with sim_lab() as lab, \
            lab.fake_listener(sample, announcing(sample, range(4)), responder=seeder(sample)) as listener:
        slow = Settings(max_upload_rate=64 * 1024)
        async with lab.client("10.0.0.1", settings=slow) as seed, lab.client("10.0.0.2") as leecher:
            await seed.add_torrent(sample.info, await seed_storage(sample), upload_only=True)
            storage = empty_storage(sample)
            torrent = await leecher.add_torrent(
                sample.info, storage, peers=[(listener.host, listener.port), ("10.0.0.1", seed.port)]
            )
            peer = await listener.wait_peer()
            await peer.wait_for(msg.NotInterested, timeout=60)
            assert not torrent.completed.is_set()
            assert set(range(4)) <= set(torrent.have)
            await completes(torrent, storage, sample, timeout=600)
            kinds = [type(m) for m in peer.received if isinstance(m, (msg.Interested, msg.NotInterested))]
            assert kinds == [msg.Interested, msg.NotInterested]


class _SlowToCheck(MemoryStorage):
    """A seed's storage whose check of existing data takes a while (a big torrent on a slow disk)."""

    def __init__(self, source: MemoryStorage, checking: trio.Event, release: trio.Event):
        self.__dict__.update(source.__dict__)
        self._checking, self._release = checking, release

    async def has_data(self, offset, length):
        self._checking.set()
        await self._release.wait()
        return await super().has_data(offset, length)


async def test_a_leecher_that_arrives_while_the_seed_is_checking_still_completes(sample):
    """Peers are refused during the check, so none is greeted with a partial bitfield that the
    HAVEs for pieces found later would never complete."""
    checking, release = trio.Event(), trio.Event()
    storage = _SlowToCheck(sample.seed_storage(), checking, release)
    async with clients(2) as (seed, leecher), trio.open_nursery() as nursery:
        nursery.start_soon(lambda: seed.add_torrent(sample.info, storage, upload_only=True))
        await checking.wait()
        target = sample.empty_storage()
        events = leecher.events.subscribe()
        torrent = await leecher.add_torrent(sample.info, target, peers=[(LOCALHOST, seed.port)])
        with trio.fail_after(10):  # it dials while the seed is checking, and is turned away
            while not isinstance(event := await events.receive(), (ev.ConnectFailed, ev.PeerConnected)):
                pass
        assert isinstance(event, ev.ConnectFailed), event
        assert not seed.torrents[sample.info_hash].peers
        release.set()
        await completes(torrent, target, sample)
