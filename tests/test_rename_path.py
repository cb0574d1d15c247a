"""Renaming a torrent's files and folders (torrent-rename-path): the pure rule, the session
(on disk, kept across a restart, no check needed after it), and a real Transmission client
(transmission-rpc's rename_torrent_path) against the daemon. transmission-remote gained
--path/--name only in 4.0; Debian's 3.00 has no way to rename, so it only lists the result."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support import require_tool
from tests.support.daemon import Daemon
from tests.support.data import make_multi_file, make_single_file, make_torrent
from tests.test_session import session_of, wait_for
from torrentish.errors import TorrentishError
from torrentish.session.renaming import rename, renamed_info
from torrentish.session.state import TorrentState, encode_torrent_state, load_torrent_state, state_limits

PATHS = (("multi", "a.bin"), ("multi", "b-empty.txt"), ("multi", "c-small.bin"), ("multi", "sub", "d.bin"))


def test_a_file_a_folder_and_the_top_are_renamed():
    assert rename(PATHS, "multi/a.bin", "A.bin")[0] == ("multi", "A.bin")
    assert rename(PATHS, "multi/sub", "deeper")[3] == ("multi", "deeper", "d.bin")
    assert {p[0] for p in rename(PATHS, "multi", "top")} == {"top"}
    assert rename(PATHS, "multi/a.bin", "a.bin") == PATHS


@pytest.mark.parametrize("path, name", [
    ("multi/a.bin", ".."), ("multi/a.bin", "x/y"), ("multi/a.bin", ""), ("multi/a.bin", "a\0b"),
    ("multi/a.bin", "x\\y"), ("multi/../etc", "x"), ("/etc/passwd", "x"), ("multi/nothing", "x"),
    ("multi//a.bin", "x"), ("multi/a.bin", "c-small.bin"), ("multi/a.bin", "sub"), ("", "x"),
])
def test_what_could_leave_the_torrent_or_clash_is_refused(path, name):
    with pytest.raises(TorrentishError) as caught:
        rename(PATHS, path, name)
    assert "\n" not in str(caught.value)


names = st.text(st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=6)


@given(st.lists(st.tuples(names, names), min_size=1, max_size=4), st.sampled_from([p for f in PATHS for p in
                                                                                  ["/".join(f[:i]) for i in range(1, len(f) + 1)]]))
def test_renames_keep_every_path_inside_the_torrent(steps, first):
    paths = PATHS
    for i, (where, name) in enumerate(steps):
        target = first if i == 0 else "/".join(paths[len(where) % len(paths)][:1 + len(name) % 2])
        try:
            paths = rename(paths, target, name)
        except TorrentishError:
            continue
        assert len(paths) == len(PATHS) and len(set(paths)) == len(paths)
        assert all(c not in ("", ".", "..") and "/" not in c and "\0" not in c for p in paths for c in p)
        assert len({p[0] for p in paths}) == 1


def test_the_paths_survive_the_state_record_and_bad_ones_are_dropped():
    state = TorrentState(info_hash=b"i" * 20, file_paths=("top/A.bin", "top/b", "top/c", "top/x/d.bin"))
    limits = state_limits(4, 10, 100)
    assert load_torrent_state(encode_torrent_state(state), b"i" * 20, limits).file_paths == state.file_paths
    state.file_paths = ("top/../../etc/passwd",)
    assert load_torrent_state(encode_torrent_state(state), b"i" * 20, limits).file_paths == ()


async def test_a_session_renames_on_disk_and_keeps_it_across_a_restart(tmp_path):
    payload = make_multi_file(tmp_path / "content")
    torrent = tmp_path / "multi.torrent"
    make_torrent(payload, torrent)
    async with session_of(tmp_path, "a", download_dir=tmp_path / "content") as session:
        t = await session.add(torrent)
        await wait_for(session, lambda: t.state == "seeding")
        await session.rename_path(t, "multi/sub", "renamed")
        await session.rename_path(t, "multi", "top")
        with pytest.raises(TorrentishError, match="no file or folder"):
            await session.rename_path(t, "multi/a.bin", "x")
        await wait_for(session, lambda: t.state == "seeding")
        assert t.name == "top" and (tmp_path / "content" / "top" / "renamed" / "d.bin").is_file()
        assert not (tmp_path / "content" / "multi").exists()
        assert [f.name for f in t.status().files][3] == "top/renamed/d.bin"
        assert "dn=top" in t.magnet_link
    async with session_of(tmp_path, "a", download_dir=tmp_path / "content") as session:
        (t,) = session.torrents()
        assert not t.needs_check  # the resume data still matches the renamed files
        await wait_for(session, lambda: t.engine is not None and t.engine._serving)
        assert t.name == "top" and t.status().percent_done == 1.0
        assert len(t.found_at_start) == t.info.num_pieces


def test_an_info_with_paths_of_the_wrong_form_stays_as_it_was(tmp_path):
    from torrentish.formats.metainfo import parse_torrent

    payload = make_multi_file(tmp_path / "content")
    torrent = tmp_path / "multi.torrent"
    make_torrent(payload, torrent)
    info = parse_torrent(torrent.read_bytes()).info
    moved = renamed_info(info, ["top/a.bin", "top/b-empty.txt", "top/c-small.bin", "top/sub/d.bin"])
    assert moved.name == "top" and moved.files[3].path == ("top", "sub", "d.bin")
    assert moved.raw == info.raw and moved.info_hash == info.info_hash  # peers see the original
    for bad in (["top/a.bin"], ["top/a.bin", "other/b", "top/c", "top/d"], ["a", "b", "c", "d"],
                ["top/../a", "top/b", "top/c", "top/d"]):
        assert renamed_info(info, bad) is info


@pytest.mark.interop
def test_transmission_clients_rename_through_the_daemon(tmp_path, port_factory):
    """transmission-rpc's rename_torrent_path: a file, a folder and the top are renamed on disk,
    the torrent lists the new names (transmission-remote too), traversal is refused."""
    require_tool("transmission-remote")
    transmission_rpc = require_tool("transmission_rpc")
    with Daemon(tmp_path / "d", port_factory) as daemon:
        payload = make_multi_file(daemon.downloads)
        torrent = tmp_path / "multi.torrent"
        make_torrent(payload, torrent)
        daemon.remote("-a", str(torrent))
        daemon.wait_for(lambda ts: ts and ts[0]["status"] == 6, ("status",), 60, "seeding")
        client = transmission_rpc.Client(host="127.0.0.1", port=daemon.rpc_port, timeout=30)
        client.rename_torrent_path(1, "multi/a.bin", "first.bin")
        client.rename_torrent_path(1, "multi/sub", "nested")
        with pytest.raises(transmission_rpc.error.TransmissionError, match="name must be one file or folder"):
            client.rename_torrent_path(1, "multi/c-small.bin", "../../escaped")
        client.rename_torrent_path(1, "multi", "renamed")
        names = [f.name for f in client.get_torrent(1).get_files()]
        assert names == ["renamed/first.bin", "renamed/b-empty.txt", "renamed/c-small.bin", "renamed/nested/d.bin"]
        assert client.get_torrent(1).name == "renamed"
        assert "renamed/nested/d.bin" in daemon.remote("-t", "1", "--files")
        assert (daemon.downloads / "renamed" / "nested" / "d.bin").is_file()
        assert not (daemon.downloads / "multi").exists() and not (tmp_path / "escaped").exists()
        daemon.wait_for(lambda ts: ts[0]["status"] == 6 and ts[0]["percentDone"] == 1, ("status", "percentDone"),
                        60, "seeding again under the new names")
        daemon.stop()
        daemon.start()
        assert daemon.torrents("name")[0]["name"] == "renamed"
