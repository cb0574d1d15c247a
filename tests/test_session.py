"""The Session library: many torrents over one listener, in process, over 127.0.0.1.

A seeding session holds the data; a downloading session fetches it, told the seed's address.
Both keep their state in the test's directory; no tracker, LSD or DHT unless a test adds one.
"""

from __future__ import annotations

import random
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio

from tests.support.fake_peer import make_sample
from torrentish import events as ev
from torrentish.errors import TorrentishError
from torrentish.formats.magnet import make_magnet
from torrentish.session import DuplicateTorrent, SessionConfig, open_session

LOCALHOST = "127.0.0.1"


def config(tmp_path: Path, name: str, **overrides) -> SessionConfig:
    settings = dict(state_dir=tmp_path / name / "state", download_dir=tmp_path / name / "data", listen_port=0,
                    host=LOCALHOST, lsd=False, dht=False, pex=False)
    settings.update(overrides)
    return SessionConfig(**settings)


@asynccontextmanager
async def session_of(tmp_path: Path, name: str, seed: int = 0, **overrides):
    async with open_session(config(tmp_path, name, **overrides), rng=random.Random(seed)) as session:
        yield session


async def wait_for(session, predicate, timeout: float = 30.0) -> None:
    """Until `predicate()` holds, looking again after each pass of the session's scheduler."""
    with trio.fail_after(timeout):
        while not predicate():
            await session.next_pass()


def samples(tmp_path: Path, count: int, size: int = 300_000):
    return [make_sample(tmp_path / "content", size, name=f"t{i}", seed=i + 1) for i in range(count)]


async def test_add_find_and_refuse_duplicates(tmp_path):
    one, two, three = samples(tmp_path, 3)
    async with session_of(tmp_path, "a", download_dir=tmp_path / "content") as session:
        first = await session.add(one.torrent_path.read_bytes())
        second = await session.add(two.torrent_path, paused=True, labels=["film"])
        assert [t.id for t in session.torrents()] == [first.id, second.id] == [1, 2]
        assert session.find(2) is second and session.find(one.info_hash.hex()) is first
        assert session.find(one.info_hash) is first and session.find("zz" * 20) is None
        assert second.labels == ("film",) and second.state in ("check-wait", "checking")  # data is here
        await wait_for(session, lambda: second.state == "stopped")
        assert second.status().percent_done == 1.0
        with pytest.raises(DuplicateTorrent) as caught:
            await session.add(one.torrent_path)
        assert caught.value.existing is first
        magnet = await session.add(make_magnet(b"\x01" * 20, "wanted"), paused=True)
        assert magnet.name == "wanted" and magnet.info is None and magnet.status().has_metadata is False
        with pytest.raises(TorrentishError):
            await session.add(b"not a torrent")
        with pytest.raises(TorrentishError, match="outside the allowed"):
            await session.add(three.torrent_path.read_bytes(), download_dir=tmp_path / "elsewhere")


async def test_data_on_disk_is_checked_then_seeds_and_a_leecher_gets_it(tmp_path):
    sample = make_sample(tmp_path / "content", 700_000, files=[300_000, 0, 400_000])
    async with session_of(tmp_path, "seed", download_dir=tmp_path / "content") as seed, \
            session_of(tmp_path, "leech", seed=1) as leech:
        seeding = await seed.add(sample.torrent_path)
        await wait_for(seed, lambda: seeding.state == "seeding")
        status = seeding.status()
        assert status.percent_done == 1.0 and status.have_valid == sample.info.total_length
        getting = await leech.add(sample.torrent_path, peers=[(LOCALHOST, seed.port)])
        await wait_for(leech, lambda: getting.state == "seeding")
        status = getting.status()
        assert status.left_until_done == 0 and status.done_date >= status.added_date > 0
        assert [f.completed for f in status.files] == [300_000, 0, 400_000]
        assert status.downloaded_ever >= sample.info.total_length
        assert (leech.config.download_dir / "sample" / "f02.bin").read_bytes() == sample.data[300_000:]
        stats = leech.stats()
        assert stats.torrent_count == 1 and stats.current.downloaded >= sample.info.total_length


async def test_stop_start_verify_and_remove(tmp_path):
    one, two = samples(tmp_path, 2)
    async with session_of(tmp_path, "a", download_dir=tmp_path / "content") as session:
        t = await session.add(one.torrent_path)
        await wait_for(session, lambda: t.state == "seeding")
        await session.stop(t)
        assert t.state == "stopped" and t.engine is None and t.status().percent_done == 1.0
        await session.verify(t)
        await wait_for(session, lambda: t.state == "stopped" and not t.needs_check)
        assert t.status().percent_done == 1.0
        await session.start(t)
        await wait_for(session, lambda: t.state == "seeding")
        other = await session.add(two.torrent_path)
        await session.remove(t)
        assert session.find(t.id) is None and one.content_path.exists()
        await session.remove(other, delete_data=True)
        assert not two.content_path.exists() and one.content_path.exists()
        assert session.torrents() == []


async def test_queue_lets_max_active_downloads_run(tmp_path):
    sources = samples(tmp_path, 3)
    async with session_of(tmp_path, "leech", max_active_downloads=1) as leech:
        added = [await leech.add(s.torrent_path) for s in sources]  # nobody to download from
        await wait_for(leech, lambda: added[0].state == "downloading")
        assert [t.state for t in added] == ["downloading", "download-wait", "download-wait"]
        added[2].move_in_queue("top")
        assert added[2].queue_position == 0 and added[0].state == "downloading"  # no preemption
        await leech.stop(added[0])
        await wait_for(leech, lambda: added[2].state == "downloading")
        assert added[1].state == "download-wait"
        await leech.start(added[1], now=True)  # start-now bypasses the queue
        await wait_for(leech, lambda: added[1].state == "downloading")
        leech.update(max_active_downloads=0)
        await leech.start(added[0])
        await wait_for(leech, lambda: all(t.state == "downloading" for t in added))


async def test_a_broken_torrent_stops_with_its_error_and_the_others_complete(tmp_path):
    sources = samples(tmp_path, 3)
    async with session_of(tmp_path, "seed", download_dir=tmp_path / "content") as seed, \
            session_of(tmp_path, "leech", seed=1, max_active_downloads=0) as leech:
        for s in sources:
            await seed.add(s.torrent_path)
        await wait_for(seed, lambda: all(t.state == "seeding" for t in seed.torrents()))
        errors = leech.events.subscribe()
        # Where the third torrent's file should go, a file stands in for its directory.
        blocked = tmp_path / "blocked"
        blocked.write_bytes(b"x")
        leech.config.allowed_roots = (tmp_path,)
        got = [await leech.add(s.torrent_path, peers=[(LOCALHOST, seed.port)],
                               download_dir=blocked / "sub" if i == 2 else None) for i, s in enumerate(sources)]
        await wait_for(leech, lambda: got[0].state == got[1].state == "seeding" and got[2].error)
        assert got[2].state == "stopped" and got[2].error == 3
        assert "a file stands where" in got[2].error_string or "Not a directory" in got[2].error_string
        with trio.fail_after(5):
            async for event in errors:
                if isinstance(event, ev.TorrentError):
                    assert event.id == got[2].id
                    break
        await leech.start(got[2])  # still broken: the error comes back, nothing else changes
        await wait_for(leech, lambda: got[2].error)
        assert got[0].state == got[1].state == "seeding"


async def test_a_bug_in_one_torrent_is_its_error_only(tmp_path, monkeypatch):
    one, two = samples(tmp_path, 2)
    async with session_of(tmp_path, "a", download_dir=tmp_path / "content") as session:
        good = await session.add(one.torrent_path)
        await wait_for(session, lambda: good.state == "seeding")
        from torrentish.engine.torrent import Torrent

        original = Torrent._tick_loop

        async def broken(self):
            if self.info.info_hash == two.info_hash:
                raise RuntimeError("boom")
            await original(self)

        monkeypatch.setattr(Torrent, "_tick_loop", broken)
        bad = await session.add(two.torrent_path)
        await wait_for(session, lambda: bad.error)
        assert bad.error_string == "internal error: RuntimeError: boom" and good.state == "seeding"


@pytest.fixture
def small_filesystem(tmp_path):
    """A 1 MiB tmpfs of the test's own (root only), unmounted afterwards."""
    import subprocess

    where = tmp_path / "small"
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


async def test_a_full_disk_stops_that_torrent_and_the_other_two_complete(tmp_path, small_filesystem):
    sources = samples(tmp_path, 3, size=2_500_000)
    async with session_of(tmp_path, "seed", download_dir=tmp_path / "content") as seed, \
            session_of(tmp_path, "leech", seed=1, max_active_downloads=0, allowed_roots=(tmp_path,)) as leech:
        for s in sources:
            await seed.add(s.torrent_path)
        await wait_for(seed, lambda: all(t.state == "seeding" for t in seed.torrents()))
        got = [await leech.add(s.torrent_path, peers=[(LOCALHOST, seed.port)],
                               download_dir=small_filesystem if i == 1 else None) for i, s in enumerate(sources)]
        await wait_for(leech, lambda: got[0].state == got[2].state == "seeding" and got[1].error)
        status = got[1].status()
        assert status.error == 3 and "No space left on device" in status.error_string
        assert status.state == "stopped" and 0 < status.percent_done < 1
        for t, s in ((got[0], sources[0]), (got[2], sources[2])):
            assert (leech.config.download_dir / s.info.name).read_bytes() == s.data


async def test_a_magnet_link_gets_its_metadata_from_a_peer_then_the_data(tmp_path):
    (sample,) = samples(tmp_path, 1)
    async with session_of(tmp_path, "seed", download_dir=tmp_path / "content") as seed, \
            session_of(tmp_path, "leech", seed=1) as leech:
        await seed.add(sample.torrent_path)
        await wait_for(seed, lambda: seed.torrents()[0].state == "seeding")
        link = make_magnet(sample.info_hash, "t0.bin", peers=[(LOCALHOST, seed.port)])
        t = await leech.add(link)
        await wait_for(leech, lambda: t.state == "seeding")
        assert t.status().has_metadata and t.info.name == "t0.bin"
        assert (leech.config.state_dir / "torrents" / f"{sample.info_hash.hex()}.torrent").exists()
        assert (leech.config.download_dir / "t0.bin").read_bytes() == sample.data


async def test_sessions_find_each_other_through_a_tracker_and_report_its_stats(tmp_path, nursery):
    from tests.support.data import make_single_file, make_torrent
    from torrentish.services.tracker.server import TrackerConfig, TrackerServer

    server = TrackerServer(TrackerConfig(interval=60, min_interval=10), random.Random(3))
    port, _ = await nursery.start(server.serve, LOCALHOST, 0)
    payload = make_single_file(tmp_path / "content", "tracked.bin", size=400_000)
    torrent = tmp_path / "tracked.torrent"
    make_torrent(payload, torrent, announce=f"http://{LOCALHOST}:{port}/announce")
    async with session_of(tmp_path, "seed", download_dir=tmp_path / "content", trackers=True) as seed, \
            session_of(tmp_path, "leech", seed=1, trackers=True) as leech:
        seeding = await seed.add(torrent)
        await wait_for(seed, lambda: seeding.status().trackers[0].succeeded)
        t = await leech.add(torrent)
        await wait_for(leech, lambda: t.state == "seeding")
        tracker = t.status().trackers[0]
        assert tracker.url.endswith("/announce") and tracker.succeeded and tracker.result == "Success"
        assert tracker.last_announce > 0 and tracker.seeders >= 1
        seed.reannounce(seeding)
        await wait_for(seed, lambda: seeding.status().trackers[0].seeders == 2)


async def test_seeding_stops_at_the_ratio_limit_and_is_finished(tmp_path):
    (sample,) = samples(tmp_path, 1)
    async with session_of(tmp_path, "seed", download_dir=tmp_path / "content", ratio_limit=0.5) as seed, \
            session_of(tmp_path, "leech", seed=1) as leech:
        seeding = await seed.add(sample.torrent_path)
        await wait_for(seed, lambda: seeding.state == "seeding")
        await leech.add(sample.torrent_path, peers=[(LOCALHOST, seed.port)])
        await wait_for(seed, lambda: seeding.state == "stopped")
        status = seeding.status()
        assert status.is_finished and status.ratio >= 0.5 and status.error == 0
        seeding.set_ratio_limit(2)  # unlimited: it may seed again
        await seed.start(seeding)
        await wait_for(seed, lambda: seeding.state == "seeding")


async def test_a_magnet_nobody_can_serve_is_its_error_only(tmp_path):
    # No peer and no source (the test sessions run without DHT, LSD and trackers): the fetch
    # fails at once. (Peers that cannot help, each its own way: tests/test_ut_metadata.py.)
    (one,) = samples(tmp_path, 1)
    async with session_of(tmp_path, "a", download_dir=tmp_path / "content") as session:
        good = await session.add(one.torrent_path)
        lost = await session.add(make_magnet(b"\x05" * 20, "nowhere"))
        await wait_for(session, lambda: lost.error and good.state == "seeding")
        assert "metadata" in lost.error_string and lost.state == "stopped" and lost.info is None


async def test_a_pass_waited_for_comes_within_a_tick_of_an_idle_session(tmp_path, mock_clock):
    # An idle session's scheduler sleeps IDLE_TICK; whoever starts waiting for a pass during
    # that sleep gets one within TICK, not at the end of the sleep.
    from torrentish.session.session import IDLE_TICK, TICK

    mock_clock.autojump_threshold = 0
    async with session_of(tmp_path, "idle") as session:
        await session.next_pass()
        await session.next_pass()
        await trio.sleep(TICK * 3)  # nobody waits: the scheduler is in its long sleep now
        asked = trio.current_time()
        await session.next_pass()
        assert trio.current_time() - asked <= TICK < IDLE_TICK
