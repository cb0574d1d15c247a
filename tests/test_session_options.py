"""A session torrent's options take effect at once: limits, file selection, sequential, idle limit."""

from __future__ import annotations

import pytest

from tests.support.fake_peer import make_sample
from tests.test_session import LOCALHOST, samples, session_of, wait_for
from torrentish import events as ev
from torrentish.errors import TorrentishError


async def test_limits_reach_the_running_engine_and_the_client(tmp_path):
    (one,) = samples(tmp_path, 1)
    async with session_of(tmp_path, "a", download_dir=tmp_path / "content", up_limit=100_000) as session:
        assert session.client.up_bucket.rate == 100_000
        session.update(alt_up=5_000, alt_down=6_000, alt_enabled=True)
        assert (session.client.up_bucket.rate, session.client.down_bucket.rate) == (5_000, 6_000)
        session.set_limits(down=7_000)
        assert session.config.down_limit == 7_000 and session.client.down_bucket.rate == 6_000  # alt wins
        t = await session.add(one.torrent_path)
        await wait_for(session, lambda: t.state == "seeding" and t.engine is not None)
        t.set_limits(up=20_000, down=30_000, honors_session=False)
        assert (t.engine.up_bucket.rate, t.engine.down_bucket.rate) == (20_000, 30_000)
        assert not t.engine.honors_client_limits
        t.set_limits(up_limited=False)
        assert t.engine.up_bucket.rate == 0 and t.status().up_limit == 20_000 and not t.status().up_limited
        with pytest.raises(TorrentishError):
            session.update(max_active_seeds=-1)
        with pytest.raises(TorrentishError):
            session.update(nonsense=1)
        with pytest.raises(TorrentishError):
            t.set_priority([5], 1)


async def test_unwanted_files_are_not_fetched_until_wanted_again(tmp_path):
    sample = make_sample(tmp_path / "content", 900_000, files=[300_000, 300_000, 300_000], piece_length=32768)
    async with session_of(tmp_path, "seed", download_dir=tmp_path / "content") as seed, \
            session_of(tmp_path, "leech", seed=1, down_limit=2_000_000) as leech:
        await seed.add(sample.torrent_path)
        await wait_for(seed, lambda: seed.torrents()[0].state == "seeding")
        t = await leech.add(sample.torrent_path, paused=True)
        t.set_wanted([2], False)
        t.set_priority([0], 1)
        t.set_sequential(True)
        await leech.start(t)
        t.add_peers([(LOCALHOST, seed.port)])
        await wait_for(leech, lambda: t.complete)
        files = t.status().files
        assert [f.wanted for f in files] == [True, True, False] and files[0].priority == 1
        assert files[0].completed == files[1].completed == 300_000 and files[2].completed < 300_000
        assert t.state == "seeding" and t.status().left_until_done == 0
        t.set_wanted([2], True)
        assert t.state == "downloading"
        await wait_for(leech, lambda: t.status().percent_complete == 1.0)
        assert (leech.config.download_dir / "sample" / "f02.bin").read_bytes() == sample.data[600_000:]


async def test_an_idle_seed_stops_at_its_idle_limit(tmp_path):
    (one,) = samples(tmp_path, 1)
    async with session_of(tmp_path, "a", download_dir=tmp_path / "content") as session:
        t = await session.add(one.torrent_path)
        await wait_for(session, lambda: t.state == "seeding" and t.engine is not None and t.engine._serving)
        t.set_idle_limit(1, 5)
        t.last_activity = session.wall_time() - 4 * 60
        await session.next_pass()
        assert t.state == "seeding"
        t.last_activity = session.wall_time() - 5 * 60
        await wait_for(session, lambda: t.state == "stopped")
        assert t.is_finished and t.status().is_finished


async def test_the_bus_names_added_and_removed_torrents_and_stats_count_them(tmp_path):
    one, two = samples(tmp_path, 2)
    async with session_of(tmp_path, "a", download_dir=tmp_path / "content") as session:
        events = session.events.subscribe()
        first = await session.add(one.torrent_path)
        second = await session.add(two.torrent_path, paused=True)
        await session.remove(first)
        seen = []
        while len(seen) < 3:
            event = await events.receive()
            if isinstance(event, (ev.TorrentAdded, ev.TorrentRemoved)):
                seen.append((type(event).__name__, event.id))
        assert seen == [("TorrentAdded", 1), ("TorrentAdded", 2), ("TorrentRemoved", 1)]
        await wait_for(session, lambda: second.state == "stopped")
        stats = session.stats()
        assert (stats.torrent_count, stats.paused_torrent_count, stats.active_torrent_count) == (1, 1, 0)
        assert stats.current.files_added == 2 and stats.cumulative.session_count == 1
