"""The daemon's watch directory, against the fake session in trio's virtual time."""

from __future__ import annotations

import trio

from tests.support.fake_session import FakeConfig, FakeSession
from tests.test_rpc_methods import torrent_bytes
from torrentish.app.watch_dir import ready_files, watch_directory


async def until(condition, limit: float = 60.0) -> None:
    """Wait for an effect in virtual time, not for a number of seconds."""
    with trio.fail_after(limit):
        while not condition():
            await trio.sleep(1)


def test_ready_files_waits_for_a_stable_size():
    assert ready_files({"a.torrent": 10, "b.txt": 5}, {}) == []
    assert ready_files({"a.torrent": 10, "c.TORRENT": 3}, {"a.torrent": 10, "c.TORRENT": 2}) == ["a.torrent"]


async def test_dropped_files_are_added_and_marked(tmp_path, mock_clock):
    # Jump only after 0.2 s of real idleness: the watcher lists the directory in a thread, and a
    # clock that jumped while the thread works would run out the deadline before it answers.
    mock_clock.autojump_threshold = 0.2
    session = FakeSession(FakeConfig(state_dir=tmp_path / "s", download_dir=tmp_path / "d"))
    watch = tmp_path / "watch"
    async with trio.open_nursery() as nursery:
        await nursery.start(watch_directory, session, watch, 5.0)
        (watch / "one.torrent").write_bytes(torrent_bytes("one"))
        (watch / "bad.torrent").write_bytes(b"not bencoded")
        (watch / "notes.txt").write_text("ignored")
        await until(lambda: (watch / "bad.torrent.invalid").exists() and session.torrents())
        assert [t.name for t in session.torrents()] == ["one"]
        (watch / "again.torrent").write_bytes(torrent_bytes("one"))  # a duplicate
        await until(lambda: (watch / "again.torrent.added").exists())
        nursery.cancel_scope.cancel()
    assert sorted(p.name for p in watch.iterdir()) == [
        "again.torrent.added", "bad.torrent.invalid", "notes.txt", "one.torrent.added"]
    assert len(session.torrents()) == 1
