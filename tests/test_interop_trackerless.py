"""torrentish and libtorrent without a tracker: the DHT both ways, ut_metadata both ways, PEX both ways.

Everything runs on 127.0.0.1 in this process: torrentish under trio, libtorrent in its own threads.
libtorrent's DHT is bootstrapped only from local nodes, with the defences that assume a public
internet switched off for loopback (dht_restrict_routing_ips, dht_restrict_search_ips,
dht_ignore_dark_internet; BEP 42 node-id checks; its per-IP rate limit, as every node here shares
127.0.0.1). Blocking libtorrent waits run in a worker thread so torrentish keeps running meanwhile.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
import trio

from tests.support import require_tool
from tests.support.matrix import cell
from tests.support.trackerless import (LOCALHOST, add_downloader, add_seed, local_config, local_dht, make_info,
                                      read_data, write_torrent)
from torrentish.services.dht.service import DhtService
from torrentish import events as ev
from torrentish.engine.client import open_client
from torrentish.services.extensions.metadata_fetch import fetch_metadata
from torrentish.engine.settings import Settings
from torrentish.services.extensions import standard_extensions
from torrentish.services.extensions.ut_metadata import UtMetadata
from torrentish.services.extensions.ut_pex import UtPex
from torrentish.formats.magnet import parse_magnet
from torrentish.storage.memory import MemoryStorage
from torrentish.app.trackerless import get_magnet

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]

KiB = 1024
DEADLINE = 30.0


def dht_settings(bootstrap_port: int | None) -> dict:
    import libtorrent as lt

    return {
        "enable_dht": True,
        "dht_bootstrap_nodes": f"{LOCALHOST}:{bootstrap_port}" if bootstrap_port else "",
        "dht_restrict_routing_ips": False,
        "dht_restrict_search_ips": False,
        "dht_ignore_dark_internet": False,
        "dht_enforce_node_id": False,
        "dht_prefer_verified_node_ids": False,
        "dht_block_ratelimit": 10_000,
        "dht_announce_interval": 1,
        "alert_mask": lt.alert_category.error | lt.alert_category.status | lt.alert_category.dht
        | lt.alert_category.connect | lt.alert_category.peer,
    }


async def lt_session(logs: Path, name: str, settings: dict | None = None):
    from tests.support.lt import LtSession

    return await trio.to_thread.run_sync(lambda: LtSession(logs / f"{name}.log", settings=settings))


async def wait_for(predicate, what: str, report=lambda: "", timeout: float = DEADLINE) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}\n{report()}", pytrace=False)
        await trio.sleep(0.05)


def received(channel) -> list:
    """Every event waiting in a subscription."""
    events = []
    while True:
        try:
            events.append(channel.receive_nowait())
        except trio.WouldBlock:
            return events


# -- the DHT and ut_metadata ----------------------------------------------------------------------------


@cell("libtorrent", "dht", "to")
async def test_libtorrent_finds_a_torrentish_seed_through_our_dht_and_fetches_the_metadata(tmp_path, logs):
    lt = require_tool("libtorrent")
    info, data = make_info(300 * KiB, seed=41, name="seeded-by-torrentish.bin")
    async with local_dht(5, seed=4) as nodes, open_client(host=LOCALHOST) as seeder:
        extensions, services = standard_extensions()
        await add_seed(seeder, info, data, extensions=extensions, services=[*services, DhtService(nodes[1])])
        await wait_for(lambda: any(n.store.get(info.info_hash, trio.current_time(), random.Random()) for n in nodes),
                       "the torrentish seed to announce")
        session = await lt_session(logs, "libtorrent", dht_settings(nodes[0].port))
        try:
            params = lt.parse_magnet_uri(f"magnet:?xt=urn:btih:{info.info_hash.hex()}")  # nothing but the hash
            params.save_path = str(tmp_path / "lt")
            handle = session.session.add_torrent(params)
            session.handles.append(handle)
            await wait_for(lambda: session._is_seeding(handle), "libtorrent to download the magnet",
                           lambda: session.report(handle))
            assert any("received DHT peers" in a for a in session.alerts)
        finally:
            await trio.to_thread.run_sync(session.close)
    assert (tmp_path / "lt" / info.name).read_bytes() == data


@cell("libtorrent", "dht", "from")
async def test_torrentish_finds_a_libtorrent_seed_through_its_dht(tmp_path, logs):
    require_tool("libtorrent")
    info, data = make_info(300 * KiB, seed=42, name="seeded-by-libtorrent.bin")
    torrent = write_torrent(tmp_path / "lt", info, data)
    async with local_dht(4, seed=5) as nodes:
        session = await lt_session(logs, "libtorrent", dht_settings(nodes[0].port))  # bootstrapped from ours
        try:
            await trio.to_thread.run_sync(lambda: session.seed(torrent, tmp_path / "lt"))
            await wait_for(lambda: any(n.store.get(info.info_hash, trio.current_time(), random.Random())
                                       for n in nodes), "libtorrent to announce on our DHT", session.report)
            # A new torrentish node joins through libtorrent's node alone: the other way round.
            magnet = parse_magnet(f"magnet:?xt=urn:btih:{info.info_hash.hex()}")
            with trio.fail_after(DEADLINE):
                result = await get_magnet(magnet, tmp_path / "out", dht=local_config([session.port]),
                                          host=LOCALHOST, resume=None)
        finally:
            await trio.to_thread.run_sync(session.close)
    assert result.complete and (tmp_path / "out" / info.name).read_bytes() == data


@cell("libtorrent", "magnet", "from")
async def test_torrentish_fetches_the_metadata_from_a_libtorrent_seed(tmp_path, logs):
    require_tool("libtorrent")
    info, data = make_info(2000 * KiB, piece_length=KiB, seed=43, name="many-pieces.bin")  # 3 metadata pieces
    torrent = write_torrent(tmp_path / "lt", info, data)
    session = await lt_session(logs, "libtorrent")
    try:
        await trio.to_thread.run_sync(lambda: session.seed(torrent, tmp_path / "lt"))
        async with open_client(host=LOCALHOST) as client:
            with trio.fail_after(DEADLINE):
                fetched = await fetch_metadata(info.info_hash, client=client, peers=[(LOCALHOST, session.port)])
    finally:
        await trio.to_thread.run_sync(session.close)
    assert fetched.info == info


@cell("libtorrent", "magnet", "to")
async def test_libtorrent_gets_a_magnet_link_from_a_torrentish_seed(tmp_path, logs):
    lt = require_tool("libtorrent")
    info, data = make_info(seed=46, piece_length=KiB, name="magnet-to-libtorrent",  # 2 metadata pieces
                           files=((("a.bin",), 600 * KiB + 3), (("empty",), 0), (("sub", "b.bin"), 700 * KiB)))
    async with open_client(host=LOCALHOST) as seeder:
        await add_seed(seeder, info, data)
        session = await lt_session(logs, "libtorrent")
        try:
            params = lt.parse_magnet_uri(f"magnet:?xt=urn:btih:{info.info_hash.hex()}")  # nothing but the hash
            params.save_path = str(tmp_path / "lt")
            handle = session.session.add_torrent(params)
            session.handles.append(handle)
            session.connect_peer(handle, (LOCALHOST, seeder.port))
            await wait_for(lambda: session._is_seeding(handle), "libtorrent to download the magnet",
                           lambda: session.report(handle))
        finally:
            await trio.to_thread.run_sync(session.close)
    assert read_data(tmp_path / "lt", info) == data


# -- PEX -------------------------------------------------------------------------------------------------


@cell("libtorrent", "pex", "from")
async def test_pex_from_libtorrent_lets_a_third_peer_find_the_first(tmp_path, logs):
    require_tool("libtorrent")
    info, data = make_info(2048 * KiB, seed=44, name="relayed-by-libtorrent.bin")
    torrent = write_torrent(tmp_path / "meta", info)
    async with open_client(host=LOCALHOST) as first, open_client(host=LOCALHOST) as third:
        seed = await add_seed(first, info, data)
        session = await lt_session(logs, "libtorrent")
        try:
            handle = session.leech(torrent, tmp_path / "lt")
            handle.set_download_limit(20_000)  # it stays a downloader, connected to the first
            session.connect_peer(handle, (LOCALHOST, first.port))
            # Connected both ways (its extended handshake arrived), so its first PEX message to
            # the third peer names the first: the next one would come 60 s later.
            await wait_for(lambda: any(p.extension_ids for p in seed.peers.values()),
                           "libtorrent to connect to the first peer", lambda: session.report(handle))
            exchange = UtPex(tick=0.1)
            events = third.events.subscribe()
            leech = await third.add_torrent(info, MemoryStorage(info.geometry()), peers=[(LOCALHOST, session.port)],
                                            extensions=[UtMetadata(), exchange])
            third._nursery.start_soon(exchange.run, third, leech)
            await wait_for(lambda: (LOCALHOST, first.port) in leech.known, "libtorrent's PEX to name the first peer",
                           lambda: session.report(handle))
            with trio.fail_after(DEADLINE):
                await leech.completed.wait()
        finally:
            await trio.to_thread.run_sync(session.close)
    assert (LOCALHOST, first.port) in [e.address for e in received(events) if isinstance(e, ev.PeerConnected)]


@cell("libtorrent", "pex", "to")
async def test_pex_from_torrentish_lets_libtorrent_find_the_first(tmp_path, logs):
    require_tool("libtorrent")
    info, data = make_info(2048 * KiB, seed=45, name="relayed-by-torrentish.bin")
    torrent = write_torrent(tmp_path / "meta", info)
    slow = Settings(max_download_rate=20_000)  # the middle peer stays a downloader, connected to the first
    async with open_client(host=LOCALHOST) as first, open_client(host=LOCALHOST, settings=slow) as middle:
        # No PEX on the first: it cannot learn of the client through the middle and dial it itself.
        await add_seed(first, info, data, extensions=[UtMetadata()])
        relay = await add_downloader(middle, info, peers=[(LOCALHOST, first.port)])
        await wait_for(lambda: relay.peers, "the middle peer to connect to the first")
        session = await lt_session(logs, "libtorrent")
        try:
            handle = session.leech(torrent, tmp_path / "lt")
            session.connect_peer(handle, (LOCALHOST, middle.port))  # libtorrent is told of the middle only
            dialed_first = f"{LOCALHOST}:{first.port} outgoing connection"

            def dialed() -> bool:
                session.pump()
                return any(dialed_first in alert for alert in session.alerts)

            await wait_for(dialed, "libtorrent to dial the first peer, learned through our PEX",
                           lambda: session.report(handle))
        finally:
            await trio.to_thread.run_sync(session.close)
