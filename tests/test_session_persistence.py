"""A session's torrents, options and resume data survive a restart; damaged state costs little."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from tests.support.fake_peer import make_sample
from tests.test_session import LOCALHOST, samples, session_of, wait_for
from torrentish import events as ev
from torrentish.formats.magnet import make_magnet
from torrentish.session import state


async def test_torrents_come_back_with_their_ids_options_and_totals(tmp_path):
    one, two, three = samples(tmp_path, 3)
    content = dict(download_dir=tmp_path / "content")
    async with session_of(tmp_path, "a", **content) as session:
        first = await session.add(one.torrent_path, labels=["x"])
        second = await session.add(two.torrent_path, paused=True)
        third = await session.add(three.torrent_path)
        await session.remove(first)  # ids are not reused
        await wait_for(session, lambda: third.state == "seeding" and second.state == "stopped")
        third.set_limits(up=50_000, honors_session=False)
        third.set_priority([0], 1)
        third.set_ratio_limit(1, 1.5)
        third.set_sequential(True)
        third.move_in_queue("top")
        session.update(up_limit=123_000, alt_enabled=True, ratio_limit=2.0)
        before = {t.info_hash: (t.id, t.added_date, t.queue_position) for t in session.torrents()}
    async with session_of(tmp_path, "a", **content) as session:
        assert {t.info_hash: (t.id, t.added_date, t.queue_position) for t in session.torrents()} == before
        again = session.find(three.info_hash)
        assert again.id == 3 and again.status().up_limit == 50_000 and not again.status().honors_session
        assert again.status().files[0].priority == 1 and again.ratio_limit() == 1.5 and again.options.sequential
        assert session.config.up_limit == 123_000 and session.config.alt_enabled and session.config.ratio_limit == 2.0
        assert session.find(two.info_hash).state == "stopped"
        await wait_for(session, lambda: again.state == "seeding")
        assert again.status().percent_done == 1.0 and not again.needs_check  # resumed, not re-hashed
        assert (await session.add(one.torrent_path, paused=True)).id == 4
        assert session.stats().cumulative.session_count == 2


async def test_a_damaged_record_costs_that_torrent_its_resume_data_only(tmp_path):
    one, two = samples(tmp_path, 2)
    content = dict(download_dir=tmp_path / "content")
    async with session_of(tmp_path, "a", **content) as session:
        good = await session.add(one.torrent_path, labels=["keep"])
        hurt = await session.add(two.torrent_path, labels=["lost"])
        await wait_for(session, lambda: good.state == hurt.state == "seeding")
    torrents = tmp_path / "a" / "state" / "torrents"
    record = torrents / f"{two.info_hash.hex()}.state"
    record.write_bytes(record.read_bytes()[: len(record.read_bytes()) // 2])  # truncated
    async with session_of(tmp_path, "a", **content) as session:
        kept, damaged = session.find(one.info_hash), session.find(two.info_hash)
        assert kept.labels == ("keep",) and damaged.labels == () and damaged.id not in (0, kept.id)
        await wait_for(session, lambda: kept.state == damaged.state == "seeding")  # checked again, complete
        assert damaged.status().percent_done == 1.0


async def test_an_unreadable_torrent_is_left_out_and_the_others_come_back(tmp_path):
    one, two = samples(tmp_path, 2)
    content = dict(download_dir=tmp_path / "content")
    link = make_magnet(b"\x07" * 20, "later", trackers=["http://127.0.0.1:9/announce"])
    async with session_of(tmp_path, "a", **content) as session:
        await session.add(one.torrent_path)
        await session.add(two.torrent_path)
        await session.add(link, paused=True)
    torrents = tmp_path / "a" / "state" / "torrents"
    (torrents / f"{two.info_hash.hex()}.torrent").write_bytes(b"d4:info")
    (torrents / f"{two.info_hash.hex()}.state").write_bytes(b"\x00" * 10)
    (torrents / ("09" * 20 + ".torrent")).write_bytes(b"rubbish")
    async with session_of(tmp_path, "a", **content) as session:
        names = sorted(t.name for t in session.torrents())
        assert names == ["later", "t0.bin"]
        magnet = session.find(b"\x07" * 20)
        assert magnet.info is None and magnet.state == "stopped"
        assert magnet.status().trackers[0].url == "http://127.0.0.1:9/announce"


async def test_a_download_resumes_after_a_restart_without_fetching_again(tmp_path):
    sample = make_sample(tmp_path / "content", 2_000_000, piece_length=32768)
    async with session_of(tmp_path, "seed", download_dir=tmp_path / "content") as seed:
        seeding = await seed.add(sample.torrent_path)
        await wait_for(seed, lambda: seeding.state == "seeding")
        async with session_of(tmp_path, "leech", seed=1, down_limit=400_000) as leech:
            t = await leech.add(sample.torrent_path, peers=[(LOCALHOST, seed.port)])
            await wait_for(leech, lambda: t.have is not None and t.have.count() >= 10)
        async with session_of(tmp_path, "leech", seed=2) as leech:
            t = leech.find(sample.info_hash)
            had = set(t.have)
            assert len(had) >= 10
            fetched = set()

            async def collect(events) -> None:
                async for event in events:
                    if isinstance(event, ev.PieceVerified):
                        fetched.add(event.index)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(collect, leech.events.subscribe(10_000))
                t.add_peers([(LOCALHOST, seed.port)])
                await wait_for(leech, lambda: t.state == "seeding")
                nursery.cancel_scope.cancel()
            assert fetched and not fetched & had
            assert (leech.config.download_dir / sample.info.name).read_bytes() == sample.data


@pytest.mark.parametrize("move", [True, False])
async def test_set_location_moves_the_data_or_looks_for_it_there(tmp_path, move):
    (one,) = samples(tmp_path, 1)
    async with session_of(tmp_path, "a", download_dir=tmp_path / "content",
                          allowed_roots=(tmp_path,)) as session:
        t = await session.add(one.torrent_path)
        await wait_for(session, lambda: t.state == "seeding")
        target = tmp_path / "moved"
        if not move:
            target.mkdir()
            (target / one.content_path.name).write_bytes(one.data)
        await session.set_location(t, target, move=move)
        assert t.download_dir == target and (target / one.content_path.name).read_bytes() == one.data
        assert one.content_path.exists() != move
        await wait_for(session, lambda: t.state == "seeding")
        with pytest.raises(Exception, match="outside the allowed"):
            await session.set_location(t, tmp_path.parent / "nope")


async def test_kept_download_dirs_stay_inside_the_owners_roots(tmp_path):
    (one,) = samples(tmp_path, 1)
    content = dict(download_dir=tmp_path / "content")
    async with session_of(tmp_path, "a", **content) as session:
        t = await session.add(one.torrent_path)
        session.update(download_dir=tmp_path / "content" / "new")  # inside the root: fine
        with pytest.raises(Exception, match="outside the allowed"):
            session.update(download_dir=tmp_path / "elsewhere")
        await wait_for(session, lambda: t.state == "seeding")
    record = tmp_path / "a" / "state" / "torrents" / f"{one.info_hash.hex()}.state"
    kept = state.load_torrent_state(record.read_bytes(), one.info_hash, state.state_limits(1, 100))
    kept.download_dir = "/etc/xx"  # a hand-edited (or hostile) record
    record.write_bytes(state.encode_torrent_state(kept))
    async with session_of(tmp_path, "a", **content) as session:
        assert session.config.download_dir == tmp_path / "content" / "new"
        t = session.find(one.info_hash)
        assert t.error == 3 and "outside the allowed" in t.error_string and t.state == "stopped"
        assert not any(x.name == "xx" for x in Path("/etc").iterdir())


async def test_a_torrent_removed_while_its_add_is_being_written_stays_removed(tmp_path):
    """The add's batched write is in flight (slowed here) when the torrent is removed: the delete
    waits for it, so no .torrent comes back after it."""
    import time

    (one,) = samples(tmp_path, 1)
    content = dict(download_dir=tmp_path / "content")
    async with session_of(tmp_path, "a", **content) as session:
        write_batch = session.store.write_batch

        def slow_write(*args):
            time.sleep(0.3)
            write_batch(*args)

        session.store.write_batch = slow_write
        t = await session.add(one.torrent_path, paused=True)
        await trio.sleep(0.15)  # the writer has taken the batch
        await session.remove(t)
    assert list((tmp_path / "a" / "state" / "torrents").iterdir()) == []
    async with session_of(tmp_path, "a", **content) as session:
        assert session.torrents() == []


async def test_an_add_is_on_disk_soon_after_it_returns(tmp_path):
    """Without a clean stop (kill -9 a moment later), also after a periodic save has run."""
    (one,) = samples(tmp_path, 1)
    async with session_of(tmp_path, "a", download_dir=tmp_path / "content") as session:
        await trio.sleep(0.1)
        await session.save_changes()
        t = await session.add(one.torrent_path, paused=True)
        await trio.sleep(0.5)
        torrents = tmp_path / "a" / "state" / "torrents"
        assert sorted(p.name for p in torrents.iterdir()) == [f"{t.info_hash.hex()}.state",
                                                             f"{t.info_hash.hex()}.torrent"]
