"""MSE against libtorrent: forced RC4 both ways, and the plaintext retry when it has MSE off.

torrentish runs in this process under trio, libtorrent in its own threads (blocking waits in a
worker thread). libtorrent's forced policy (in_enc_policy = out_enc_policy = forced,
allowed_enc_level = RC4) refuses plaintext and MSE-with-plaintext alike, so a transfer that
completes was RC4 on the wire; our own peer_connected event says so too.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from tests.support import require_tool
from tests.support.matrix import cell
from tests.support.trackerless import LOCALHOST, add_seed, make_info, write_torrent
from torrentish import events as ev
from torrentish.engine.client import open_client
from torrentish.engine.settings import Settings
from torrentish.storage.memory import MemoryStorage

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]

DEADLINE = 30.0
# settings_pack values: enc_policy forced = 0, disabled = 2; enc_level rc4 = 2.
LT_FORCED_RC4 = {"out_enc_policy": 0, "in_enc_policy": 0, "allowed_enc_level": 2, "prefer_rc4": True}
LT_NO_ENCRYPTION = {"out_enc_policy": 2, "in_enc_policy": 2}


async def lt_session(logs: Path, name: str, settings: dict):
    require_tool("libtorrent")
    from tests.support.lt import LtSession

    return await trio.to_thread.run_sync(lambda: LtSession(logs / f"{name}.log", settings=settings))


async def download_from(session, tmp_path: Path, info, data: bytes, settings: Settings):
    """Our client dials the libtorrent seed and downloads; returns its PeerConnected events and
    the connector's record of the seed."""
    torrent_file = write_torrent(tmp_path / "lt", info, data)
    await trio.to_thread.run_sync(lambda: session.seed(torrent_file, tmp_path / "lt"))
    address = (LOCALHOST, session.port)
    async with open_client(host=LOCALHOST, settings=settings) as client:
        events = client.events.subscribe()
        storage = MemoryStorage(info.geometry())
        torrent = await client.add_torrent(info, storage, peers=[address])
        with trio.fail_after(DEADLINE):
            await torrent.completed.wait()
        assert await storage.read(0, len(data)) == data
        known = torrent.connector.known[address]
    connected = []
    while True:
        try:
            event = events.receive_nowait()
        except trio.WouldBlock:
            return connected, known
        if isinstance(event, ev.PeerConnected):
            connected.append(event)


async def upload_to(session, tmp_path: Path, info, data: bytes, settings: Settings):
    """libtorrent dials our seed and downloads; returns our first PeerConnected event."""
    torrent_file = write_torrent(tmp_path / "meta", info)
    async with open_client(host=LOCALHOST, settings=settings) as client:
        events = client.events.subscribe()
        await add_seed(client, info, data)
        handle = await trio.to_thread.run_sync(lambda: session.leech(torrent_file, tmp_path / "lt"))
        session.connect_peer(handle, (LOCALHOST, client.port))
        await trio.to_thread.run_sync(lambda: session.wait_seeding(handle, timeout=DEADLINE))
        event = await events.receive()
        while not isinstance(event, ev.PeerConnected):
            event = await events.receive()
    assert (tmp_path / "lt" / info.name).read_bytes() == data
    return event


@cell("libtorrent", "encryption", "from")
async def test_torrentish_downloads_from_libtorrent_forcing_rc4(tmp_path, logs):
    info, data = make_info(3 * 1024 * 1024 + 123, seed=61, name="rc4-from-libtorrent.bin")
    session = await lt_session(logs, "libtorrent", LT_FORCED_RC4)
    try:
        connected, _ = await download_from(session, tmp_path, info, data, Settings(encryption="require"))
    finally:
        await trio.to_thread.run_sync(session.close)
    assert [(e.outgoing, e.encryption) for e in connected] == [(True, "rc4")]


@cell("libtorrent", "encryption", "to")
async def test_libtorrent_downloads_from_torrentish_forcing_rc4(tmp_path, logs):
    info, data = make_info(3 * 1024 * 1024 + 77, seed=62, name="rc4-to-libtorrent.bin")
    session = await lt_session(logs, "libtorrent", LT_FORCED_RC4)
    try:
        first = await upload_to(session, tmp_path, info, data, Settings(encryption="require"))
    finally:
        await trio.to_thread.run_sync(session.close)
    assert (first.outgoing, first.encryption) == (False, "rc4")


async def test_prefer_retries_in_plaintext_when_libtorrent_has_mse_off(tmp_path, logs):
    info, data = make_info(1024 * 1024, seed=63, name="plaintext-from-libtorrent.bin")
    session = await lt_session(logs, "libtorrent", LT_NO_ENCRYPTION)
    try:
        connected, known = await download_from(session, tmp_path, info, data, Settings())
    finally:
        await trio.to_thread.run_sync(session.close)
    assert [e.encryption for e in connected] == ["none"]
    assert known.refuses_encryption


async def test_libtorrent_defaults_get_rc4_from_our_defaults(tmp_path, logs):
    """libtorrent's stock policy offers plaintext and RC4 when it dials; we select RC4."""
    info, data = make_info(1024 * 1024, seed=64, name="stock-libtorrent.bin")
    session = await lt_session(logs, "libtorrent", {})
    try:
        first = await upload_to(session, tmp_path, info, data, Settings())
    finally:
        await trio.to_thread.run_sync(session.close)
    assert (first.outgoing, first.encryption) == (False, "rc4")


async def test_control_libtorrent_forcing_rc4_refuses_plaintext(tmp_path, logs):
    """The forced policy is in force: our plaintext dial (encryption off) is turned away."""
    info, data = make_info(256 * 1024, seed=65, name="refused.bin")
    torrent_file = write_torrent(tmp_path / "lt", info, data)
    session = await lt_session(logs, "libtorrent", LT_FORCED_RC4)
    try:
        await trio.to_thread.run_sync(lambda: session.seed(torrent_file, tmp_path / "lt"))
        async with open_client(host=LOCALHOST, settings=Settings(encryption="off")) as client:
            events = client.events.subscribe()
            torrent = await client.add_torrent(info, MemoryStorage(info.geometry()),
                                               peers=[(LOCALHOST, session.port)])
            with trio.fail_after(DEADLINE):
                event = await events.receive()
                while not isinstance(event, (ev.ConnectFailed, ev.PeerConnected)):
                    event = await events.receive()
            assert not torrent.completed.is_set()
    finally:
        await trio.to_thread.run_sync(session.close)
    assert isinstance(event, ev.ConnectFailed)
