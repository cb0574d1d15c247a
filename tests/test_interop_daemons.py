"""torrentish against Transmission (RPC) and qBittorrent (Web API): the interop matrix's daemon columns.

Every test runs once per daemon against one instance per module (both start slowly), adding its
own torrents under its own directory; the daemon forgets them after the test. torrentish runs in
this process; blocking waits on a daemon run in a worker thread so torrentish keeps serving. We
always dial the daemon: Transmission never dials loopback peers it learns from others.

Cells: TCP single and multi-file both ways, encryption required both ways (Transmission
``"encryption": "required"``, qBittorrent forced RC4; a plaintext dial is then refused), and a
magnet link both ways (the daemon fetches the metadata from us over BEP 9; we fetch it from the
daemon); PEX both ways with qBittorrent (it dials a peer only our PEX named; its PEX names a peer
to us).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from tests.support import wait_until
from tests.support.data import assert_identical, make_payload
from tests.support.matrix import FLAVOUR_FEATURES, cell
from tests.support.peer_daemons import DEADLINE, PeerDaemon, daemon, forget_torrents  # noqa: F401 (fixtures)
from tests.support.trackerless import (LOCALHOST, add_downloader, add_seed, make_info, read_data, write_data,
                                      write_torrent)
from tests.test_interop import expect_success, torrentish as torrentish_cli, torrentish_get
from torrentish import events as ev
from torrentish.engine.client import open_client
from torrentish.engine.settings import Settings
from torrentish.formats.metainfo import Info, load_torrent
from torrentish.services.extensions.metadata_fetch import fetch_metadata
from torrentish.services.extensions.ut_metadata import UtMetadata
from torrentish.services.extensions.ut_pex import UtPex
from torrentish.storage.memory import MemoryStorage

pytestmark = [pytest.mark.interop, pytest.mark.timeout(180)]

KiB = 1024
MULTI_FILES = ((("docs", "a.txt"), 70 * KiB + 5), (("empty",), 0), (("b.bin",), 900 * KiB + 1))


@pytest.fixture
def required(daemon: PeerDaemon):
    """The daemon requires encryption for the length of the test."""
    daemon.encryption(required=True)
    yield daemon
    daemon.encryption(required=False)


def payload(kind: str, seed: int) -> tuple[Info, bytes]:
    if kind == "multi":
        return make_info(seed=seed, piece_length=32 * KiB, name=f"multi-{seed}", files=MULTI_FILES)
    return make_info(2 * 1024 * KiB + 333, seed=seed, piece_length=32 * KiB, name=f"single-{seed}.bin")


async def first_event(events, kinds: tuple[type, ...]):
    with trio.fail_after(DEADLINE):
        while not isinstance(event := await events.receive(), kinds):
            pass
    return event


async def seed_to(daemon: PeerDaemon, source, info: Info, data: bytes, directory: Path,
                  settings: Settings = Settings()):
    """We seed ``info`` and dial the daemon, which has ``source`` (a .torrent or a magnet link);
    returns our first PeerConnected event once it has every byte."""
    directory.mkdir(parents=True)
    await trio.to_thread.run_sync(daemon.add, source, directory)
    async with open_client(host=LOCALHOST, settings=settings) as client:
        events = client.events.subscribe()
        torrent = await add_seed(client, info, data)
        torrent.add_peers([(LOCALHOST, daemon.peer_port)])
        connected = await first_event(events, (ev.PeerConnected,))
        await trio.to_thread.run_sync(daemon.wait_complete, info.info_hash)
    assert read_data(directory, info) == data
    return connected


async def download_from(daemon: PeerDaemon, info: Info, data: bytes, directory: Path,
                        settings: Settings = Settings()):
    """The daemon seeds ``info`` from ``directory``; we dial it and download; returns our first
    PeerConnected event."""
    write_data(directory, info, data)
    await trio.to_thread.run_sync(daemon.add, write_torrent(directory.parent / "meta", info), directory)
    await trio.to_thread.run_sync(daemon.wait_complete, info.info_hash)  # its check of the data
    async with open_client(host=LOCALHOST, settings=settings) as client:
        events = client.events.subscribe()
        storage = MemoryStorage(info.geometry())
        torrent = await client.add_torrent(info, storage, peers=[(LOCALHOST, daemon.peer_port)])
        connected = await first_event(events, (ev.PeerConnected,))
        with trio.fail_after(DEADLINE):
            await torrent.completed.wait()
        assert await storage.read(0, len(data)) == data
    return connected


# ----------------------------------------------------------------------------- TCP, v1

def tcp_cells(direction: str):
    return pytest.mark.parametrize("kind", [
        pytest.param(kind, marks=cell("param:daemon", f"tcp-{kind}", direction), id=kind)
        for kind in ("single", "multi")])


@tcp_cells("to")
async def test_torrentish_seeds_to(daemon, kind, tmp_path):
    info, data = payload(kind, seed=81)
    await seed_to(daemon, write_torrent(tmp_path / "meta", info), info, data, tmp_path / "down")


@tcp_cells("from")
async def test_torrentish_downloads_from(daemon, kind, tmp_path):
    info, data = payload(kind, seed=82)
    await download_from(daemon, info, data, tmp_path / "seed")


# ----------------------------------------------------------------------------- encryption required

@cell("param:daemon", "encryption", "to")
async def test_torrentish_seeds_encrypted_to(daemon, required, tmp_path):
    info, data = payload("single", seed=72)
    connected = await seed_to(daemon, write_torrent(tmp_path / "meta", info), info, data, tmp_path / "down",
                              Settings(encryption="require"))
    assert (connected.outgoing, connected.encryption) == (True, "rc4")


@cell("param:daemon", "encryption", "from")
async def test_torrentish_downloads_encrypted_from(daemon, required, tmp_path):
    info, data = payload("single", seed=71)
    connected = await download_from(daemon, info, data, tmp_path / "seed", Settings(encryption="require"))
    assert (connected.outgoing, connected.encryption) == (True, "rc4")


async def test_control_a_plaintext_dial_is_refused_by(daemon, required, tmp_path):
    """The daemon really requires encryption: our plaintext dial is turned away."""
    info, data = make_info(256 * KiB, seed=73, name="refused.bin")
    write_data(tmp_path / "seed", info, data)
    await trio.to_thread.run_sync(daemon.add, write_torrent(tmp_path / "meta", info), tmp_path / "seed")
    await trio.to_thread.run_sync(daemon.wait_complete, info.info_hash)
    async with open_client(host=LOCALHOST, settings=Settings(encryption="off")) as client:
        events = client.events.subscribe()
        await client.add_torrent(info, MemoryStorage(info.geometry()), peers=[(LOCALHOST, daemon.peer_port)])
        outcome = await first_event(events, (ev.ConnectFailed, ev.PeerConnected))
    assert isinstance(outcome, ev.ConnectFailed)


# ----------------------------------------------------------------------------- magnet + metadata

@cell("param:daemon", "magnet", "to")
async def test_daemon_gets_a_magnet_link_from_torrentish(daemon, tmp_path):
    info, data = payload("multi", seed=83)
    magnet = f"magnet:?xt=urn:btih:{info.info_hash.hex()}"  # nothing but the hash: metadata from us
    await seed_to(daemon, magnet, info, data, tmp_path / "down")


@cell("param:daemon", "magnet", "from")
async def test_torrentish_fetches_the_metadata_from(daemon, tmp_path):
    info, data = payload("single", seed=84)
    write_data(tmp_path / "seed", info, data)
    await trio.to_thread.run_sync(daemon.add, write_torrent(tmp_path / "meta", info), tmp_path / "seed")
    await trio.to_thread.run_sync(daemon.wait_complete, info.info_hash)
    async with open_client(host=LOCALHOST) as client:
        with trio.fail_after(DEADLINE):
            fetched = await fetch_metadata(info.info_hash, client=client, peers=[(LOCALHOST, daemon.peer_port)])
    assert fetched.info == info


# ----------------------------------------------------------------------------- PEX (qBittorrent)
# Transmission drops loopback peers learned through PEX: its cells say why (tests/support/matrix.py).

qbittorrent_only = pytest.mark.parametrize("daemon", ["qbittorrent"], indirect=True)


async def until(condition, what: str, timeout: float = DEADLINE) -> None:
    """Wait for state that comes with no event of ours (what another client did)."""
    with trio.fail_after(timeout):
        while not condition():
            await trio.sleep(0.05)


def from_qbittorrent(event) -> bool:
    return isinstance(event, ev.PeerConnected) and not event.outgoing and event.client.startswith("qBittorrent")


@qbittorrent_only
@cell("qbittorrent", "pex", "to")
async def test_pex_from_torrentish_lets_qbittorrent_find_the_first(daemon, tmp_path):
    info, data = payload("single", seed=85)
    (tmp_path / "down").mkdir()
    slow = Settings(max_download_rate=20_000)  # the middle peer stays a downloader, connected to the first
    async with open_client(host=LOCALHOST) as first, open_client(host=LOCALHOST, settings=slow) as middle:
        arrivals = first.events.subscribe()
        # No PEX on the first: it cannot learn of the client through the middle and dial it itself.
        await add_seed(first, info, data, extensions=[UtMetadata()])
        relay = await add_downloader(middle, info, peers=[(LOCALHOST, first.port)])
        await trio.to_thread.run_sync(daemon.add, write_torrent(tmp_path / "meta", info), tmp_path / "down")
        relay.add_peers([(LOCALHOST, daemon.peer_port)])  # qBittorrent hears of the middle peer only
        with trio.fail_after(DEADLINE):  # and dials the first, learned through our PEX
            while not from_qbittorrent(await arrivals.receive()):
                pass


@qbittorrent_only
@cell("qbittorrent", "pex", "from")
async def test_pex_from_qbittorrent_lets_a_third_peer_find_the_first(daemon, tmp_path):
    info, data = payload("single", seed=86)
    (tmp_path / "down").mkdir()
    async with open_client(host=LOCALHOST) as first, open_client(host=LOCALHOST) as third:
        seed = await add_seed(first, info, data)
        await trio.to_thread.run_sync(daemon.add, write_torrent(tmp_path / "meta", info), tmp_path / "down")
        await trio.to_thread.run_sync(daemon.limit_download, info.info_hash, 20_000)  # stays a downloader
        await trio.to_thread.run_sync(daemon.dial, info.info_hash, (LOCALHOST, first.port))
        # Connected in both views (its extended handshake here, the peer in its list): the first
        # PEX message it sends a newcomer names the first (the next would come 60 s later).
        await until(lambda: any(p.extension_ids for p in seed.peers.values()), "qBittorrent to connect")
        await until(lambda: f"{LOCALHOST}:{first.port}" in daemon.peers(info.info_hash), "qBittorrent's peer list")
        exchange = UtPex(tick=0.1)
        leech = await third.add_torrent(info, MemoryStorage(info.geometry()), peers=[(LOCALHOST, daemon.peer_port)],
                                        extensions=[UtMetadata(), exchange])
        third._nursery.start_soon(exchange.run, third, leech)
        await until(lambda: (LOCALHOST, first.port) in leech.known, "qBittorrent's PEX to name the first peer")


# ----------------------------------------------------------------------------- v2 and hybrid (BEP 52)
# Torrents made by libtorrent, as in tests/test_interop_v2.py; torrentish runs as the CLI there.

def bep52_cells(direction: str, *combinations: tuple[str, str]):
    params = [pytest.param(name, flavour, id=f"{name}-{flavour}",
                           marks=[cell(name, FLAVOUR_FEATURES[flavour], direction),
                                  *([pytest.mark.slow] if name == "transmission" else [])])
              for name, flavour in combinations]
    return pytest.mark.parametrize("daemon, flavour", params, indirect=["daemon"])


def bep52_torrent(flavour: str, tmp_path: Path):
    from tests.test_interop_v2 import lt_torrent

    payload = make_payload("multi", tmp_path / "seed")
    torrent = lt_torrent(payload, tmp_path / "t.torrent", flavour)
    return payload, torrent, load_torrent(torrent).info


@bep52_cells("to", ("qbittorrent", "hybrid"), ("qbittorrent", "v2_only"))  # Transmission: tests/support/matrix.py
def test_torrentish_seeds_bep52_to(daemon, flavour, tmp_path, logs, port_factory):
    payload, torrent, info = bep52_torrent(flavour, tmp_path)
    daemon.add(torrent, tmp_path / "down")
    argv = ["seed", torrent, "--data", payload.root, "--port", port_factory(),
            "--peer", f"{LOCALHOST}:{daemon.peer_port}"]  # we dial it
    with torrentish_cli("torrentish-seed", argv, logs) as seed:
        def done() -> bool:
            seed.check_alive()
            return daemon.progress(info.info_hash) >= 1.0
        wait_until(done, DEADLINE, f"{daemon.label} to download", daemon.process.report)
    assert_identical(payload, tmp_path / "down" / payload.name, f"{daemon.label}'s download")


@bep52_cells("from", ("qbittorrent", "hybrid"), ("qbittorrent", "v2_only"))
def test_torrentish_downloads_bep52_from(daemon, flavour, tmp_path, logs, port_factory):
    payload, torrent, info = bep52_torrent(flavour, tmp_path)
    daemon.add(torrent, payload.parent)
    daemon.wait_complete(info.info_hash)  # its check of the data
    with torrentish_get(torrent, tmp_path / "got", port_factory(), [daemon.peer_port], logs) as get:
        expect_success(get, DEADLINE)
    assert_identical(payload, tmp_path / "got" / payload.name, "torrentish's download")
