"""Magnet links end to end: get_magnet (x.pe, so=, --save-torrent, stop) and the command line
(`get MAGNET`, `info MAGNET --fetch`, the DHT between two processes). Only 127.0.0.1 is used; the
DHT never sees a public router (every command gets --no-dht or --dht-bootstrap 127.0.0.1:PORT), and
`get` runs with --no-lsd so nothing is multicast on the LAN."""

from __future__ import annotations

import json
import os
import socket
import sys
from functools import partial
from pathlib import Path

import pytest
import trio

from tests.support import ManagedProcess, wait_until
from tests.support.trackerless import LOCALHOST, MetadataPeer, make_info, raises_leaf, serve_seed
from torrentish.errors import TorrentishError
from torrentish.services.extensions import standard_extensions
from torrentish.formats.magnet import make_magnet, parse_magnet
from torrentish.formats.metainfo import build_torrent, load_torrent
from torrentish.app.trackerless import get_function, get_magnet, lsd_peer_source, selected_paths
from torrentish.app.transfer import get

KiB = 1024


# -- the library ---------------------------------------------------------------------------------------


async def test_get_magnet_from_x_pe_saves_the_torrent(tmp_path):
    info, data = make_info(256 * KiB, seed=31, name="hinted.bin")
    async with serve_seed(info, data) as (seeder, _):
        link = make_magnet(info.info_hash, "hinted.bin", trackers=["http://tracker.invalid/announce"],
                           peers=[(LOCALHOST, seeder.port)])
        seen = []
        with trio.fail_after(20):
            result = await get_magnet(parse_magnet(link), tmp_path / "out", dht=None, host=LOCALHOST,
                                      save_torrent=tmp_path / "saved.torrent", on_metadata=seen.append, resume=None)
    assert result.complete and seen == [info]
    assert (tmp_path / "out" / "hinted.bin").read_bytes() == data
    saved = load_torrent(tmp_path / "saved.torrent")
    assert saved.info == info and saved.trackers() == (("http://tracker.invalid/announce",),)


async def test_so_selects_the_files_to_download(tmp_path):
    files = [(("first.bin",), 40 * KiB), (("second.bin",), 70 * KiB), (("third.bin",), 30 * KiB)]
    info, data = make_info(files=files, name="album", piece_length=16 * KiB, seed=32)
    assert selected_paths(info, (1, 9)) == ["album/second.bin"]  # past the end: ignored
    with pytest.raises(TorrentishError, match="selects none"):
        selected_paths(info, (9,))
    async with serve_seed(info, data) as (seeder, _):
        link = make_magnet(info.info_hash, peers=[(LOCALHOST, seeder.port)], select_only=[1])
        with trio.fail_after(20):
            result = await get_magnet(parse_magnet(link), tmp_path, dht=None, host=LOCALHOST, resume=None)
    assert result.complete
    second = (tmp_path / "album" / "second.bin").read_bytes()
    assert second == data[40 * KiB : 110 * KiB]


async def test_get_magnet_with_only_the_info_hash_through_lsd_on_loopback(tmp_path):
    from torrentish.services.discovery.interfaces import interfaces_for
    from torrentish.services.discovery.lsd import lsd_service

    loopback = interfaces_for(LOCALHOST)
    if not loopback:
        pytest.skip("no loopback interface")
    lsd_port = free_udp_port()  # never 6771: nothing leaves lo, nobody else is heard
    info, data = make_info(128 * KiB, seed=36, name="found-on-the-lan.bin")
    extensions, services = standard_extensions()
    async with serve_seed(info, data, extensions=extensions,
                          services=[*services, lsd_service(interfaces=loopback, port=lsd_port)]):
        magnet = parse_magnet(f"magnet:?xt=urn:btih:{info.info_hash.hex()}")
        lsd = partial(lsd_peer_source, interfaces=loopback, port=lsd_port)
        with trio.fail_after(20):
            result = await get_magnet(magnet, tmp_path, dht=None, client_sources=[lsd], host=LOCALHOST, resume=None)
    assert result.complete and (tmp_path / "found-on-the-lan.bin").read_bytes() == data


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((LOCALHOST, 0))
        return probe.getsockname()[1]


async def test_stopping_before_the_metadata_arrives(tmp_path):
    info, _ = make_info(seed=33)
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        silent = await nursery.start(MetadataPeer(info.info_hash, info.raw, "silent").run)
        link = make_magnet(info.info_hash, "never", peers=[(LOCALHOST, silent.port)])
        nursery.start_soon(lambda: _set_later(stop, 0.2))
        result = await get_magnet(parse_magnet(link), tmp_path, dht=None, host=LOCALHOST, stop=stop, resume=None)
        nursery.cancel_scope.cancel()
    assert not result.complete and result.name == "never" and result.downloaded == 0


async def _set_later(event: trio.Event, delay: float) -> None:
    await trio.sleep(delay)
    event.set()


async def test_nowhere_to_look_is_a_clear_error(tmp_path):
    link = make_magnet(bytes(20))
    with raises_leaf(TorrentishError, "no peers to ask"):
        await get_magnet(parse_magnet(link), tmp_path, dht=None, host=LOCALHOST, resume=None)


def test_get_function_dispatch(tmp_path):
    info, _ = make_info(seed=34)
    torrent = tmp_path / "t.torrent"
    torrent.write_bytes(build_torrent(info.raw))
    function, source = get_function(make_magnet(info.info_hash), dht=False)
    assert function is get_magnet and source["dht"] is None and source["magnet"].info_hash == info.info_hash
    function, source = get_function(make_magnet(info.info_hash), dht_bootstrap=["127.0.0.1:9"])
    assert source["dht"].bootstrap == ("127.0.0.1:9",)  # on by default for links, local nodes only
    function, source = get_function(str(torrent))
    assert function is get and source["info"] == info
    assert {type(e).__name__ for e in source["extensions"]} == {"UtMetadata", "UtPex", "UtHolepunch"}
    assert not any(type(s).__name__ == "DhtService" for s in source["services"])  # off for .torrent files
    with pytest.raises(TorrentishError, match="--save-torrent is for magnet links"):
        get_function(str(torrent), save_torrent=tmp_path / "x.torrent")


# -- the command line ----------------------------------------------------------------------------------------


def torrentish(label: str, args: list, logs: Path) -> ManagedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1", NO_COLOR="1", TORRENTISH_STATE_DIR=str(logs.parent / "state"))
    return ManagedProcess(label, [sys.executable, "-m", "torrentish", *map(str, args)], logs, env=env,
                          cwd=logs.parent)


@pytest.fixture
def sample(tmp_path):
    files = [(("one.bin",), 100 * KiB), (("two.bin",), 150 * KiB)]
    info, data = make_info(files=files, name="sample", seed=35)
    content = tmp_path / "seed" / "sample"
    content.mkdir(parents=True)
    (content / "one.bin").write_bytes(data[: 100 * KiB])
    (content / "two.bin").write_bytes(data[100 * KiB :])
    torrent = tmp_path / "sample.torrent"
    torrent.write_bytes(build_torrent(info.raw))
    return info, data, torrent, content


def test_cli_get_magnet_from_x_pe_and_info_fetch(tmp_path, logs, port_factory, sample):
    info, data, torrent, content = sample
    seed_port = port_factory()
    with torrentish("seed", ["seed", torrent, "--data", content, "--port", seed_port], logs) as seed:
        seed.wait_listening(seed_port, 20)
        link = make_magnet(info.info_hash, "sample", peers=[(LOCALHOST, seed_port)])
        with torrentish("info", ["info", link, "--fetch", "--no-dht", "--json", "--timeout", 20], logs) as show:
            assert show.wait_exit(30) == 0, show.report()
        described = json.loads(show.stdout_path.read_text())
        assert described["kind"] == "torrent" and described["name"] == "sample"
        assert [f["path"] for f in described["files"]] == ["sample/one.bin", "sample/two.bin"]
        out = tmp_path / "out"
        args = ["get", link, "-o", out, "--port", port_factory(), "--no-dht", "--no-lsd",
                "--save-torrent", tmp_path / "got.torrent"]
        with torrentish("get", args, logs) as getter:
            assert getter.wait_exit(60) == 0, getter.report()
    assert (out / "sample" / "one.bin").read_bytes() == data[: 100 * KiB]
    assert (out / "sample" / "two.bin").read_bytes() == data[100 * KiB :]
    assert load_torrent(tmp_path / "got.torrent").info == info


def test_cli_get_magnet_with_only_the_info_hash_through_the_dht(tmp_path, logs, port_factory, sample):
    info, data, torrent, content = sample
    seed_port, get_port = port_factory(), port_factory()
    # The seed's DHT node (UDP, same port number) knows nobody; the downloader joins through it.
    seed_args = ["seed", torrent, "--data", content, "--port", seed_port, "--dht",
                 "--dht-bootstrap", f"{LOCALHOST}:{get_port}"]
    with torrentish("seed", seed_args, logs) as seed:
        seed.wait_listening(seed_port, 20)
        link = f"magnet:?xt=urn:btih:{info.info_hash.hex()}"
        out = tmp_path / "out"
        args = ["get", link, "-o", out, "--port", get_port, "--no-lsd", "--dht", "--dht-bootstrap", f"{LOCALHOST}:{seed_port}"]
        with torrentish("get", args, logs) as getter:
            wait_until(lambda: getter.returncode is not None, 60, "the magnet download",
                       lambda: getter.report() + "\n" + seed.report())
            assert getter.returncode == 0, getter.report() + "\n" + seed.report()
    assert (out / "sample" / "two.bin").read_bytes() == data[100 * KiB :]
    assert (tmp_path / "state" / "dht.state").exists()  # the routing table is kept in the state dir


def test_cli_seed_refuses_a_magnet(logs):
    with torrentish("seed-magnet", ["seed", make_magnet(bytes(20))], logs) as seed:
        assert seed.wait_exit(20) == 1
    assert "needs the .torrent file" in seed.stderr_path.read_text()
