"""MSE against Transmission (`"encryption": 2`, required) and qBittorrent (Session\\Encryption=1,
forced RC4), both ways, plus a control per client: our plaintext dial is turned away.

Each daemon runs as a child process with a config directory of its own in the test's tmp_path
(tests/support/reference_daemons.py: no DHT, LPD, PEX, uTP, UPnP; peers on 127.0.0.1 only,
driven over its RPC / Web API on 127.0.0.1), and is always stopped. torrentish runs in this process; blocking waits on a daemon
run in a worker thread so torrentish keeps serving meanwhile. Transmission drops loopback peers
learned from trackers, so we always dial the daemon (reference-peers.md).
"""

from __future__ import annotations

import pytest
import trio

from tests.support.reference_daemons import DEADLINE, qbittorrent, transmission
from tests.support.trackerless import LOCALHOST, add_seed, make_info, write_torrent
from torrentish import events as ev
from torrentish.engine.client import open_client
from torrentish.engine.settings import Settings
from torrentish.storage.memory import MemoryStorage

pytestmark = [pytest.mark.interop, pytest.mark.timeout(180)]

DAEMONS = {"transmission": transmission, "qbittorrent": qbittorrent}


# -------------------------------------------------------------------------------------- tests

async def first_event(events, kinds: tuple[type, ...]):
    with trio.fail_after(DEADLINE):
        while not isinstance(event := await events.receive(), kinds):
            pass
    return event


@pytest.mark.parametrize("name", DAEMONS)
async def test_torrentish_downloads_encrypted_from(name, tmp_path, logs):
    info, data = make_info(2 * 1024 * 1024 + 333, seed=71, name=f"from-{name}.bin")
    torrent_file = write_torrent(tmp_path / "seed", info, data)
    with DAEMONS[name](tmp_path, logs) as daemon:
        daemon.add(torrent_file, tmp_path / "seed")
        await trio.to_thread.run_sync(daemon.wait_complete)  # its check of the data
        async with open_client(host=LOCALHOST, settings=Settings(encryption="require")) as client:
            events = client.events.subscribe()
            storage = MemoryStorage(info.geometry())
            torrent = await client.add_torrent(info, storage, peers=[(LOCALHOST, daemon.peer_port)])
            connected = await first_event(events, (ev.PeerConnected,))
            with trio.fail_after(DEADLINE):
                await torrent.completed.wait()
            assert await storage.read(0, len(data)) == data
    assert (connected.outgoing, connected.encryption) == (True, "rc4")


@pytest.mark.parametrize("name", DAEMONS)
async def test_torrentish_seeds_encrypted_to(name, tmp_path, logs):
    info, data = make_info(2 * 1024 * 1024 + 555, seed=72, name=f"to-{name}.bin")
    torrent_file = write_torrent(tmp_path / "meta", info)
    (tmp_path / "down").mkdir()
    with DAEMONS[name](tmp_path, logs) as daemon:
        daemon.add(torrent_file, tmp_path / "down")
        async with open_client(host=LOCALHOST, settings=Settings(encryption="require")) as client:
            events = client.events.subscribe()
            torrent = await add_seed(client, info, data)
            torrent.add_peers([(LOCALHOST, daemon.peer_port)])  # we dial it
            connected = await first_event(events, (ev.PeerConnected,))
            await trio.to_thread.run_sync(daemon.wait_complete)
    assert (connected.outgoing, connected.encryption) == (True, "rc4")
    assert (tmp_path / "down" / info.name).read_bytes() == data


@pytest.mark.parametrize("name", DAEMONS)
async def test_control_a_plaintext_dial_is_refused_by(name, tmp_path, logs):
    info, data = make_info(256 * 1024, seed=73, name=f"refused-by-{name}.bin")
    torrent_file = write_torrent(tmp_path / "seed", info, data)
    with DAEMONS[name](tmp_path, logs) as daemon:
        daemon.add(torrent_file, tmp_path / "seed")
        await trio.to_thread.run_sync(daemon.wait_complete)
        async with open_client(host=LOCALHOST, settings=Settings(encryption="off")) as client:
            events = client.events.subscribe()
            await client.add_torrent(info, MemoryStorage(info.geometry()), peers=[(LOCALHOST, daemon.peer_port)])
            outcome = await first_event(events, (ev.ConnectFailed, ev.PeerConnected))
    assert isinstance(outcome, ev.ConnectFailed)
