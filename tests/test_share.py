"""`share` and `tracker` on loopback: the library function, what the commands print, and `get` with
what a share hands out (magnet link with tr=/x.pe/xs=, .torrent). LAN runs are in test_netns.py."""

from __future__ import annotations

import os
import random
import signal
import sys
from functools import partial
from pathlib import Path

import pytest
import trio

from tests.support import ManagedProcess, free_port, wait_until
from torrentish.cli.share import _allow_list, qr_rows
from torrentish.services.discovery.sources import exact_sources, load_source, peer_sources_for
from torrentish.errors import TorrentishError
from torrentish.formats.magnet import make_magnet, parse_magnet
from torrentish.formats.metainfo import load_torrent
from torrentish.app.share import share
from torrentish.app.transfer import get

PYTHON = sys.executable


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """A small directory to share, and a private state dir."""
    monkeypatch.setenv("TORRENTISH_STATE_DIR", str(tmp_path / "state"))
    rng = random.Random(4)
    root = tmp_path / "album"
    (root / "disc 2").mkdir(parents=True)
    (root / "a.flac").write_bytes(rng.randbytes(400_000))
    (root / "disc 2" / "b.flac").write_bytes(rng.randbytes(123_457))
    return root


async def _start_share(nursery, path: Path, **kwargs):
    ready = trio.Event()
    found = []
    stop = trio.Event()

    def on_ready(details) -> None:
        found.append(details)
        ready.set()

    options = dict(host="127.0.0.1", port=0, tracker_port=0, http_port=0, lsd=False, ready=on_ready, stop=stop)
    options.update(kwargs)
    nursery.start_soon(partial(share, path, **options))
    with trio.fail_after(20):
        await ready.wait()
    return found[0], stop


def _same_tree(a: Path, b: Path) -> bool:
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    return files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file()) and all(
        (a / f).read_bytes() == (b / f).read_bytes() for f in files
    )


async def test_share_hands_out_a_link_that_get_follows_through_the_tracker(tree, tmp_path, nursery):
    details, stop = await _start_share(nursery, tree, torrent_out=tmp_path / "album.torrent")
    magnet = parse_magnet(details.magnet)
    assert magnet.info_hash == details.info_hash and magnet.display_name == "album"
    assert any(u.startswith("http://127.0.0.1:") for u in magnet.trackers)
    assert any(u.startswith("udp://127.0.0.1:") for u in magnet.trackers)
    assert magnet.peers == (("127.0.0.1", details.port),)
    assert exact_sources(details.magnet) == list(details.torrent_urls)
    assert details.torrent_path == tmp_path / "album.torrent"
    assert load_torrent(details.torrent_path).trackers() == (details.tracker_urls,)
    assert details.aria2_command().startswith("aria2c --seed-time=0 'http://127.0.0.1:")

    meta, link = await trio.to_thread.run_sync(load_source, details.magnet)
    assert meta.info.info_hash == details.info_hash
    # Trackers only: no x.pe hints, no LSD. The seed is pinned in the tracker from the start.
    with trio.fail_after(20):
        result = await get(
            meta.info, tmp_path / "out", host="127.0.0.1", resume=None, services=peer_sources_for(meta, None, lsd=False)
        )
    assert result.complete and _same_tree(tree, tmp_path / "out" / "album")
    # x.pe hints only.
    with trio.fail_after(20):
        result = await get(
            meta.info,
            tmp_path / "out2",
            host="127.0.0.1",
            resume=None,
            services=peer_sources_for(meta, link, trackers=False, lsd=False),
        )
    assert result.complete and _same_tree(tree, tmp_path / "out2" / "album")
    stop.set()


async def test_share_takes_an_existing_torrent_and_its_data(tree, tmp_path, nursery):
    from torrentish.app.create import create_torrent

    torrent = tmp_path / "made.torrent"
    torrent.write_bytes(create_torrent(tree, trackers=["http://tracker.invalid/announce"]))
    details, stop = await _start_share(nursery, torrent, data=tree.parent)
    assert details.torrent_path == torrent
    meta, _ = await trio.to_thread.run_sync(load_source, details.magnet)
    # The .torrent served over HTTP lists our tracker first, then the torrent's own.
    assert meta.trackers() == (details.tracker_urls, ("http://tracker.invalid/announce",))
    stop.set()


async def test_share_refuses_to_overwrite_another_torrent(tree, tmp_path):
    other = tmp_path / "album.torrent"
    other.write_bytes(b"not a torrent")
    with pytest.raises(TorrentishError, match="exists and describes something else"):
        await share(tree, host="127.0.0.1", port=0, tracker_port=0, lsd=False, torrent_out=other)


def test_magnets_without_a_usable_exact_source_are_refused(tmp_path):
    bare = make_magnet(b"\x01" * 20, "x")
    with pytest.raises(TorrentishError, match="no xs= source: its metadata must come from peers"):
        load_source(bare)
    port = free_port()
    with pytest.raises(TorrentishError, match=f"127.0.0.1:{port}"):
        load_source(bare + f"&xs=http%3A%2F%2F127.0.0.1%3A{port}%2Fx.torrent")
    assert exact_sources("magnet:?xt=urn:btih:" + "1" * 40 + "&xs=ftp://a&xs.1=https%3A%2F%2Fb%2Fc") == ["https://b/c"]


async def test_an_exact_source_with_another_torrent_is_refused(tree, tmp_path, nursery):
    details, stop = await _start_share(nursery, tree, torrent_out=tmp_path / "album.torrent")
    wrong = make_magnet(b"\x02" * 20, "x") + "&xs=" + details.magnet.split("&xs=", 1)[1]
    with pytest.raises(TorrentishError, match="another torrent"):
        await trio.to_thread.run_sync(load_source, wrong)
    stop.set()


def test_qr_rows_hold_two_modules_per_character():
    import qrcode

    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_L, border=2)
    code.add_data("magnet:?xt=urn:btih:" + "ab" * 20)
    code.make(fit=True)
    matrix = code.get_matrix()
    rows = qr_rows("magnet:?xt=urn:btih:" + "ab" * 20)
    assert len(rows) == (len(matrix) + 1) // 2 and all(len(r) == len(matrix) for r in rows)
    glyph = {(False, False): " ", (True, False): "▀", (False, True): "▄", (True, True): "█"}
    assert rows[3][7] == glyph[matrix[6][7], matrix[7][7]]


def test_allow_list_files(tmp_path):
    good = tmp_path / "ok.txt"
    good.write_text(f"# ours\n{'ab' * 20}\n\n{'CD' * 20}  # theirs\n")
    assert _allow_list(good) == {bytes.fromhex("ab" * 20), bytes.fromhex("cd" * 20)}
    bad = tmp_path / "bad.txt"
    bad.write_text("ab" * 19 + "\n")
    with pytest.raises(TorrentishError, match="bad.txt:1: not an info hash"):
        _allow_list(bad)


# ---------------------------------------------------------------------------------------- the CLI
def _cli(label: str, args: list, logs: Path, tmp_path: Path) -> ManagedProcess:
    env = dict(os.environ, TORRENTISH_STATE_DIR=str(tmp_path / "cli-state"), COLUMNS="200")
    return ManagedProcess(label, [PYTHON, "-m", "torrentish", *args], logs, cwd=tmp_path, env=env)


def test_share_command_prints_what_the_other_machine_needs(tree, tmp_path, logs):
    args = ["share", str(tree), "--host", "127.0.0.1", "--port", "0", "--tracker-port", "0", "--http-port", "0",
            "--no-lsd"]
    with _cli("share", args, logs, tmp_path) as proc:
        wait_until(
            lambda: "Ctrl-C to stop" in proc.stdout_path.read_text(), 20, "share to print its details", proc.report
        )
        out = proc.stdout_path.read_text()
        proc.stop(signal.SIGINT)
        assert proc.returncode == 0, proc.report()
    assert "sharing album (" in out and "seeding on port" in out and "(127.0.0.1): 127.0.0.1" in out
    assert "tracker: http://127.0.0.1:" in out and "local peer discovery: off" in out
    assert "download page (and web seed): http://127.0.0.1:" in out
    assert "  or a browser (a phone: scan the QR code): http://127.0.0.1:" in out
    assert f"torrent file: {tmp_path / 'album.torrent'}" in out
    assert "  torrentish get 'magnet:?xt=urn:btih:" in out and "  aria2c --seed-time=0 'http://127.0.0.1:" in out
    assert "█" in out  # the QR code
    assert "stopped sharing album" in proc.stdout_path.read_text()


def test_tracker_command_serves_and_logs_announces(tmp_path, logs):
    from torrentish.services.tracker.http_client import http_announce, open_http_client
    from torrentish.services.tracker.protocol import AnnounceRequest

    port = free_port()
    with _cli("tracker", ["tracker", "--host", "127.0.0.1", "--port", str(port), "-v"], logs, tmp_path) as proc:
        wait_until(
            lambda: "tracker on http://127.0.0.1:" in proc.stdout_path.read_text(),
            20,
            "the tracker to start",
            proc.report,
        )

        async def announce():
            async with open_http_client() as http:
                return await http_announce(
                    http,
                    f"http://127.0.0.1:{port}/announce",
                    AnnounceRequest(b"\x01" * 20, b"-TT0100-000000000001", 4321, left=7, event="started"),
                )

        assert trio.run(announce).interval == 1800
        wait_until(
            lambda: "127.0.0.1:4321 started" in proc.stdout_path.read_text(),
            10,
            "the announce to be logged",
            proc.report,
        )
        proc.stop(signal.SIGINT)
        assert proc.returncode == 0, proc.report()
    assert f"udp://127.0.0.1:{port}/announce" in proc.stdout_path.read_text()


async def test_a_made_torrent_is_not_hashed_twice_unless_the_data_changed(tree, tmp_path):
    from torrentish.paths import resume_path
    from torrentish.app.share import _metainfo, _record_as_verified, _tree_stats
    from torrentish.storage.files import FileStorage

    meta, _, made = await _metainfo(tree, None, None, private=False)
    record = resume_path(meta.info.info_hash)
    storage = FileStorage(tree, meta.info, writable=False, resume_path=record)
    assert made and await storage.load_completed() == set(range(meta.info.num_pieces))
    before = _tree_stats(tree)
    (tree / "a.flac").write_bytes(b"changed while hashing")
    await _record_as_verified(meta.info, tree, before)
    assert not record.exists()  # the seed will check the data itself


def test_peer_sources_follow_the_link_and_the_torrent(tree):
    from dataclasses import replace

    from torrentish.app.create import create_torrent
    from torrentish.formats.metainfo import parse_torrent

    meta = parse_torrent(create_torrent(tree, trackers=["http://127.0.0.1:9/announce"]))
    link = parse_magnet(make_magnet(meta.info.info_hash, trackers=["udp://127.0.0.1:9"], peers=[("127.0.0.1", 9)]))
    assert len(peer_sources_for(meta, link)) == 3  # x.pe hints, trackers, LSD
    assert len(peer_sources_for(meta, None)) == 2
    assert len(peer_sources_for(meta, link, lsd=False)) == 2
    private = replace(meta, info=replace(meta.info, private=True))
    assert len(peer_sources_for(private, None)) == 1  # BEP 27: trackers only
    assert peer_sources_for(replace(meta, announce=None, announce_list=()), None, lsd=False) == []


async def test_a_busy_default_tracker_port_falls_back_to_a_free_one(tree, tmp_path, nursery):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        details, stop = await _start_share(nursery, tree, tracker_port=taken, torrent_out=tmp_path / "t.torrent")
        assert details.tracker_urls and all(f":{taken}/" not in url for url in details.tracker_urls)
        stop.set()
