"""MSE against Transmission (`"encryption": 2`, required) and qBittorrent (Session\\Encryption=1,
forced RC4), both ways, plus a control per client: our plaintext dial is turned away.

Each daemon runs as a child process with a config directory of its own in the test's tmp_path
(no DHT, LPD, PEX, uTP, UPnP; peers on 127.0.0.1 only, driven over its RPC / Web API on
127.0.0.1), and is always stopped. torrentish runs in this process; blocking waits on a daemon
run in a worker thread so torrentish keeps serving meanwhile. Transmission drops loopback peers
learned from trackers, so we always dial the daemon (reference-peers.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import trio

from tests.support import ManagedProcess, free_port, require_tool, wait_until
from tests.support.trackerless import LOCALHOST, add_seed, make_info, write_torrent
from torrentish import events as ev
from torrentish.engine.client import open_client
from torrentish.engine.settings import Settings
from torrentish.storage.memory import MemoryStorage

pytestmark = [pytest.mark.interop, pytest.mark.timeout(180)]

DEADLINE = 60.0  # Transmission unchokes on its 10 s rechoke round


# ------------------------------------------------------------------------------------ daemons

class Daemon:
    """A running client: its peer port, and how to add a torrent and read its progress (0..1)."""

    def __init__(self, process: ManagedProcess, peer_port: int, add: Callable[[Path, Path], None],
                 progress: Callable[[], float]):
        self.process, self.peer_port, self.add, self.progress = process, peer_port, add, progress

    def wait_complete(self, timeout: float = DEADLINE) -> None:
        def done() -> bool:
            self.process.check_alive()
            return self.progress() >= 1.0
        wait_until(done, timeout, f"{self.process.label} to have the whole torrent", self.process.report)


@contextmanager
def transmission(root: Path, logs: Path) -> Iterator[Daemon]:
    require_tool("transmission-daemon")
    from transmission_rpc import Client

    peer_port, rpc_port = free_port(), free_port()
    config = root / "transmission"
    config.mkdir(parents=True)
    (config / "settings.json").write_text(json.dumps({
        "encryption": 2,  # 0 prefer plaintext, 1 prefer encrypted, 2 require encryption
        "dht-enabled": False, "lpd-enabled": False, "pex-enabled": False, "utp-enabled": False,
        "port-forwarding-enabled": False, "peer-port": peer_port, "peer-port-random-on-start": False,
        "bind-address-ipv4": LOCALHOST, "rpc-enabled": True, "rpc-port": rpc_port, "rpc-bind-address": LOCALHOST,
        "rpc-authentication-required": False, "rpc-whitelist-enabled": True, "rpc-whitelist": LOCALHOST,
        "rpc-host-whitelist-enabled": False, "download-dir": str(root), "incomplete-dir-enabled": False,
        "watch-dir-enabled": False, "ratio-limit-enabled": False, "start-added-torrents": True,
    }))
    with ManagedProcess("transmission", ["transmission-daemon", "-f", "-g", config, "--log-info"], logs) as process:
        process.wait_listening(rpc_port, 20)
        rpc = Client(host=LOCALHOST, port=rpc_port)
        added: list[int] = []

        def add(torrent: Path, directory: Path) -> None:
            added.append(rpc.add_torrent(torrent.read_bytes(), download_dir=str(directory)).id)

        def progress() -> float:
            torrent = rpc.get_torrent(added[0])
            return 0.0 if torrent.status in ("check pending", "checking") else torrent.percent_done

        yield Daemon(process, peer_port, add, progress)


QBT_CONFIG = """\
[LegalNotice]
Accepted=true

[BitTorrent]
Session\\Port={peer_port}
Session\\Interface=lo
Session\\InterfaceName=lo
Session\\InterfaceAddress=127.0.0.1
Session\\Encryption=1
Session\\BTProtocol=TCP
Session\\DHTEnabled=false
Session\\LSDEnabled=false
Session\\PeXEnabled=false
Session\\AnonymousModeEnabled=false

[Preferences]
Connection\\UPnP=false
WebUI\\Port={web_port}
WebUI\\Address=127.0.0.1
WebUI\\LocalHostAuth=false
WebUI\\HostHeaderValidation=false
WebUI\\CSRFProtection=false
"""


@contextmanager
def qbittorrent(root: Path, logs: Path) -> Iterator[Daemon]:
    require_tool("qbittorrent-nox")
    import httpx

    peer_port, web_port = free_port(), free_port()
    config = root / "qbt" / "qBittorrent" / "config"
    config.mkdir(parents=True)
    (config / "qBittorrent.conf").write_text(QBT_CONFIG.format(peer_port=peer_port, web_port=web_port))
    argv = ["qbittorrent-nox", f"--profile={root / 'qbt'}"]
    with ManagedProcess("qbittorrent", argv, logs) as process, \
            httpx.Client(base_url=f"http://{LOCALHOST}:{web_port}/api/v2", timeout=10) as web:
        process.wait_listening(web_port, 30)
        process.wait_listening(peer_port, 30)

        def add(torrent: Path, directory: Path) -> None:
            answer = web.post("/torrents/add", data={"savepath": str(directory)},
                              files={"torrents": (torrent.name, torrent.read_bytes())})
            assert answer.status_code == 200 and answer.text.strip() == "Ok.", answer.text

        def progress() -> float:
            torrents = web.get("/torrents/info").json()
            checking = not torrents or torrents[0]["state"].startswith("checking")
            return 0.0 if checking else torrents[0]["progress"]

        yield Daemon(process, peer_port, add, progress)


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
