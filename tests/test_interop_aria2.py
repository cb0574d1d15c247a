"""torrentish against aria2: encryption required, magnet links and the DHT both ways, PEX to aria2.

TCP transfers with aria2 are in tests/test_interop.py (the CLI end to end); these run torrentish
in this process, with aria2's blocking waits in a worker thread. aria2 cannot dial an address it
is given: it learns ours from the test tracker (``tracker.add_peer``), or we dial it.

``--bt-require-crypto`` with ``--bt-min-crypto-level=arc4`` makes aria2 refuse plaintext and
MSE-with-plaintext alike, so a transfer that completes was RC4 on the wire (our PeerConnected
event says so too); the control shows our plaintext dial is then turned away. Its DHT knows only
our nodes on 127.0.0.1 (``--dht-entry-point``); it dials the peers it learns at its 10 s choke
rounds, so those cells take some seconds. aria2 1.36 sent only empty PEX lists to a new peer, so
PEX from aria2 has no test (tests/support/matrix.py).
"""

from __future__ import annotations

import random
import urllib.parse

import pytest
import trio

from tests.support import require_tool
from tests.support.matrix import cell
from tests.support.trackerless import (LOCALHOST, add_downloader, add_seed, local_config, local_dht, make_info,
                                      read_data, write_data, write_torrent)
from torrentish.app.trackerless import get_magnet
from torrentish import events as ev
from torrentish.engine.client import open_client
from torrentish.engine.settings import Settings
from torrentish.formats.magnet import parse_magnet
from torrentish.services.dht.service import DhtService
from torrentish.services.extensions import standard_extensions
from torrentish.services.extensions.metadata_fetch import fetch_metadata
from torrentish.services.extensions.ut_metadata import UtMetadata
from torrentish.storage.memory import MemoryStorage

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]

KiB = 1024
DEADLINE = 30.0
REQUIRE_RC4 = ("--bt-require-crypto=true", "--bt-min-crypto-level=arc4")
MULTI_FILES = ((("docs", "a.txt"), 40 * KiB + 5), (("empty",), 0), (("b.bin",), 600 * KiB + 1))


@pytest.fixture(autouse=True)
def _aria2():
    require_tool("aria2c")


async def until_announced(nodes, info_hash: bytes) -> None:
    """Until some node of ours stores a peer for the torrent (a DHT node has no event for it)."""
    with trio.fail_after(DEADLINE):
        while not any(node.store.get(info_hash, trio.current_time(), random.Random()) for node in nodes):
            await trio.sleep(0.05)


async def first_event(events, kinds: tuple[type, ...]):
    with trio.fail_after(DEADLINE):
        while not isinstance(event := await events.receive(), kinds):
            pass
    return event


async def seed_to_aria2(source, info, data, tmp_path, logs, tracker, port_factory,
                        settings: Settings = Settings(), extra: tuple[str, ...] = ()):
    """We seed; aria2 (given ``source``: a .torrent or a magnet link) finds us through the tracker
    and downloads; returns our first PeerConnected event."""
    from tests.support.aria2 import aria2_leech

    async with open_client(host=LOCALHOST, settings=settings) as client:
        events = client.events.subscribe()
        await add_seed(client, info, data)
        tracker.add_peer(info.info_hash, LOCALHOST, client.port)
        extra = (f"--bt-tracker={tracker.announce_url}", *extra)
        with aria2_leech(source, tmp_path / "aria2", port_factory(), logs, extra=extra) as leech:
            connected = await first_event(events, (ev.PeerConnected,))
            await trio.to_thread.run_sync(leech.wait_complete, DEADLINE)
    assert read_data(tmp_path / "aria2", info) == data
    return connected


def aria2_seeding(info, data, tmp_path, logs, port: int, extra: tuple[str, ...] = ()):
    from tests.support.aria2 import aria2_seed

    write_data(tmp_path / "seed", info, data)
    return aria2_seed(write_torrent(tmp_path / "meta", info), tmp_path / "seed", port, logs, extra=extra)


# ----------------------------------------------------------------------------- encryption required

@cell("aria2", "encryption", "to")
async def test_aria2_requiring_encryption_downloads_from_torrentish(tmp_path, logs, tracker, port_factory):
    info, data = make_info(1024 * KiB + 77, seed=91, name="rc4-to-aria2.bin")
    connected = await seed_to_aria2(write_torrent(tmp_path / "meta", info), info, data, tmp_path, logs,
                                    tracker, port_factory, Settings(encryption="require"), REQUIRE_RC4)
    assert (connected.outgoing, connected.encryption) == (False, "rc4")


@cell("aria2", "encryption", "from")
async def test_torrentish_downloads_from_aria2_requiring_encryption(tmp_path, logs, port_factory):
    info, data = make_info(1024 * KiB + 99, seed=92, name="rc4-from-aria2.bin")
    port = port_factory()
    with aria2_seeding(info, data, tmp_path, logs, port, REQUIRE_RC4) as seed:
        await trio.to_thread.run_sync(seed.wait_ready)
        async with open_client(host=LOCALHOST, settings=Settings(encryption="require")) as client:
            events = client.events.subscribe()
            storage = MemoryStorage(info.geometry())
            torrent = await client.add_torrent(info, storage, peers=[(LOCALHOST, port)])
            connected = await first_event(events, (ev.PeerConnected,))
            with trio.fail_after(DEADLINE):
                await torrent.completed.wait()
            assert await storage.read(0, len(data)) == data
    assert (connected.outgoing, connected.encryption) == (True, "rc4")


async def test_control_aria2_requiring_encryption_refuses_a_plaintext_dial(tmp_path, logs, port_factory):
    info, data = make_info(256 * KiB, seed=93, name="refused-by-aria2.bin")
    port = port_factory()
    with aria2_seeding(info, data, tmp_path, logs, port, REQUIRE_RC4) as seed:
        await trio.to_thread.run_sync(seed.wait_ready)
        async with open_client(host=LOCALHOST, settings=Settings(encryption="off")) as client:
            events = client.events.subscribe()
            await client.add_torrent(info, MemoryStorage(info.geometry()), peers=[(LOCALHOST, port)])
            outcome = await first_event(events, (ev.ConnectFailed, ev.PeerConnected))
    assert isinstance(outcome, ev.ConnectFailed)


# ----------------------------------------------------------------------------- magnet + metadata

@cell("aria2", "magnet", "to")
async def test_aria2_gets_a_magnet_link_from_torrentish(tmp_path, logs, tracker, port_factory):
    info, data = make_info(seed=94, piece_length=32 * KiB, name="magnet-to-aria2", files=MULTI_FILES)
    magnet = f"magnet:?xt=urn:btih:{info.info_hash.hex()}&tr={urllib.parse.quote(tracker.announce_url, safe='')}"
    await seed_to_aria2(magnet, info, data, tmp_path, logs, tracker, port_factory)


@cell("aria2", "magnet", "from")
async def test_torrentish_fetches_the_metadata_from_aria2(tmp_path, logs, port_factory):
    info, data = make_info(700 * KiB, seed=95, name="magnet-from-aria2.bin")
    port = port_factory()
    with aria2_seeding(info, data, tmp_path, logs, port) as seed:
        await trio.to_thread.run_sync(seed.wait_ready)
        async with open_client(host=LOCALHOST) as client:
            with trio.fail_after(DEADLINE):
                fetched = await fetch_metadata(info.info_hash, client=client, peers=[(LOCALHOST, port)])
    assert fetched.info == info


# ----------------------------------------------------------------------------- DHT (local nodes only)

def aria2_dht(port: int, bootstrap: int, tmp_path) -> tuple[str, ...]:
    """aria2's DHT on 127.0.0.1:port, knowing only our node at `bootstrap` (never a public router)."""
    return ("--enable-dht=true", f"--dht-listen-port={port}", f"--dht-entry-point=127.0.0.1:{bootstrap}",
            f"--dht-file-path={tmp_path / 'aria2-dht.dat'}", "--dht-message-timeout=2")


@cell("aria2", "dht", "to")
async def test_aria2_finds_a_torrentish_seed_through_our_dht(tmp_path, logs, port_factory):
    from tests.support.aria2 import aria2_leech

    info, data = make_info(300 * KiB, seed=96, name="dht-to-aria2.bin")
    async with local_dht(5, seed=6) as nodes, open_client(host=LOCALHOST) as seeder:
        extensions, services = standard_extensions()
        await add_seed(seeder, info, data, extensions=extensions, services=[*services, DhtService(nodes[1])])
        await until_announced(nodes, info.info_hash)
        # A .torrent without trackers: the DHT is its only source of peers. (From a magnet link
        # aria2 waits a 10 s round between the metadata and the data; the magnet cell has that.)
        torrent = write_torrent(tmp_path / "meta", info)
        extra = aria2_dht(port_factory(), nodes[0].port, tmp_path)
        with aria2_leech(torrent, tmp_path / "aria2", port_factory(), logs, extra=extra) as leech:
            await trio.to_thread.run_sync(leech.wait_complete, DEADLINE)
    assert read_data(tmp_path / "aria2", info) == data


@cell("aria2", "dht", "from")
async def test_torrentish_finds_an_aria2_seed_through_the_dht(tmp_path, logs, port_factory):
    info, data = make_info(300 * KiB, seed=97, name="dht-from-aria2.bin")
    async with local_dht(4, seed=7) as nodes:
        extra = aria2_dht(port_factory(), nodes[0].port, tmp_path)
        with aria2_seeding(info, data, tmp_path, logs, port_factory(), extra) as seed:
            await trio.to_thread.run_sync(seed.wait_ready)
            await until_announced(nodes, info.info_hash)  # aria2 announced itself on our DHT
            magnet = parse_magnet(f"magnet:?xt=urn:btih:{info.info_hash.hex()}")
            with trio.fail_after(DEADLINE):  # a new node of ours, bootstrapped from another
                result = await get_magnet(magnet, tmp_path / "out", dht=local_config([nodes[2].port]),
                                          host=LOCALHOST, resume=None)
    assert result.complete and (tmp_path / "out" / info.name).read_bytes() == data


# ----------------------------------------------------------------------------- PEX

PEX_ON = ("--enable-peer-exchange=true",)


def from_aria2(event) -> bool:
    return isinstance(event, ev.PeerConnected) and not event.outgoing and event.client.startswith("aria2")


@cell("aria2", "pex", "to")
async def test_pex_from_torrentish_lets_aria2_find_the_first(tmp_path, logs, tracker, port_factory):
    from tests.support.aria2 import aria2_leech

    info, data = make_info(1024 * KiB, seed=98, name="pex-to-aria2.bin")
    slow = Settings(max_download_rate=20_000)  # the middle peer stays a downloader, connected to the first
    async with open_client(host=LOCALHOST) as first, open_client(host=LOCALHOST, settings=slow) as middle:
        arrivals = first.events.subscribe()
        # No PEX on the first: it cannot learn of the client through the middle and dial it itself.
        await add_seed(first, info, data, extensions=[UtMetadata()])
        await add_downloader(middle, info, peers=[(LOCALHOST, first.port)])
        tracker.add_peer(info.info_hash, LOCALHOST, middle.port)  # aria2 hears of the middle peer only
        extra = (f"--bt-tracker={tracker.announce_url}", *PEX_ON)
        with aria2_leech(write_torrent(tmp_path / "meta", info), tmp_path / "aria2", port_factory(), logs, extra=extra):
            with trio.fail_after(DEADLINE):  # and dials the first, learned through our PEX
                while not from_aria2(await arrivals.receive()):
                    pass
