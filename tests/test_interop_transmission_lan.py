"""PEX with Transmission both ways, on a LAN of network namespaces (tests/support/netns.py).

On loopback Transmission drops every 127.0.0.0/8 peer it hears of from others, so these cells run
on real (namespaced) addresses: host 0 is the first peer, a torrentish seed without PEX (so it
cannot learn of Transmission and dial it itself); host 1 a slow torrentish downloader that knows
the first and dials Transmission; host 2 transmission-daemon, told of nobody. Transmission
connecting to the first can only come from the middle peer's PEX. Then a third torrentish on
host 3, keeping a single connection (to Transmission), learns the first from Transmission's PEX.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.support import require_tool, tail, wait_until
from tests.support.matrix import cell
from tests.support.netns import Lan, require_netns
from tests.support.trackerless import make_info, write_torrent

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parent.parent
PEER_PORT, RPC_PORT = 6881, 9091
DEADLINE = 60.0

# The first peer: seeds from memory with ut_metadata only, and prints who connects to it.
FIRST = """
import sys, trio
from pathlib import Path
from torrentish import events as ev
from torrentish.engine.client import open_client
from torrentish.formats.metainfo import load_torrent
from torrentish.services.extensions.ut_metadata import UtMetadata
from torrentish.storage.memory import MemoryStorage

async def main(host, torrent, data):
    info = load_torrent(Path(torrent)).info
    async with open_client(host=host, port=int(sys.argv[4])) as client:
        events = client.events.subscribe()
        storage = MemoryStorage.filled(info.geometry(), Path(data).read_bytes())
        await client.add_torrent(info, storage, upload_only=True, extensions=[UtMetadata()])
        print("seeding", flush=True)
        async for event in events:
            if isinstance(event, ev.PeerConnected):
                print("connected", "out" if event.outgoing else "in", event.client, flush=True)

trio.run(main, *sys.argv[1:4])
"""


# A third peer: dials Transmission with PEX on and prints the peers it learns, as they come. It
# keeps one connection (to Transmission), so what it learns comes from Transmission's PEX alone.
THIRD = """
import sys, trio
from pathlib import Path
from torrentish.engine.client import open_client
from torrentish.engine.settings import Settings
from torrentish.formats.metainfo import load_torrent
from torrentish.services.extensions.ut_metadata import UtMetadata
from torrentish.services.extensions.ut_pex import UtPex
from torrentish.storage.memory import MemoryStorage

async def main(host, torrent, peer):
    info = load_torrent(Path(torrent)).info
    address = (peer.rsplit(":", 1)[0], int(peer.rsplit(":", 1)[1]))
    async with open_client(host=host, settings=Settings(max_peers_per_torrent=1)) as client:
        exchange = UtPex(tick=0.1)
        leech = await client.add_torrent(info, MemoryStorage(info.geometry()), peers=[address],
                                         extensions=[UtMetadata(), exchange])
        client._nursery.start_soon(exchange.run, client, leech)
        seen = set()
        while True:
            for known in set(leech.known) - seen:
                print("knows", f"{known[0]}:{known[1]}", flush=True)
            seen |= set(leech.known)
            await trio.sleep(0.05)

trio.run(main, *sys.argv[1:4])
"""


def transmission_config(root: Path, address: str) -> Path:
    config = root / "transmission"
    config.mkdir(parents=True)
    (config / "settings.json").write_text(json.dumps({
        "pex-enabled": True, "dht-enabled": False, "lpd-enabled": False, "utp-enabled": False,
        "port-forwarding-enabled": False, "peer-port": PEER_PORT, "peer-port-random-on-start": False,
        "bind-address-ipv4": address, "rpc-enabled": True, "rpc-port": RPC_PORT, "rpc-bind-address": "127.0.0.1",
        "rpc-authentication-required": False, "rpc-whitelist-enabled": False, "rpc-host-whitelist-enabled": False,
        "download-dir": str(root / "down"), "incomplete-dir-enabled": False, "watch-dir-enabled": False,
        "start-added-torrents": True, "message-level": 2,
    }))
    return config


@contextmanager
def swarm(tmp_path: Path, logs: Path):
    """The LAN: the first peer (no PEX), Transmission, and the middle peer that knows both."""
    require_netns()
    require_tool("transmission-daemon"), require_tool("transmission-remote")
    info, data = make_info(2 * 1024 * 1024, seed=87, piece_length=32 * 1024, name="pex-transmission.bin")
    torrent = write_torrent(tmp_path / "seed", info, data)
    env = dict(os.environ, PYTHONPATH=str(ROOT), TORRENTISH_STATE_DIR=str(tmp_path / "state"))
    with Lan(4) as lan:
        first_address, _, transmission_address, _ = lan.ipv4
        first = lan.process(0, "first", [sys.executable, "-c", FIRST, first_address, torrent,
                                         tmp_path / "seed" / info.name, PEER_PORT], logs, env=env)
        config = transmission_config(tmp_path, transmission_address)
        daemon = lan.process(2, "transmission", ["transmission-daemon", "-f", "-g", config], logs)
        with first, daemon:
            wait_until(lambda: first.check_alive() or "seeding" in tail(first.stdout_path), DEADLINE,
                       "the first peer to seed", first.report)
            wait_until(lambda: daemon.check_alive() or lan.listening(daemon.popen.pid, RPC_PORT), DEADLINE,
                       "Transmission's RPC", daemon.report)
            add = lan.command(2, ["transmission-remote", f"127.0.0.1:{RPC_PORT}", "-a", torrent])
            added = subprocess.run(add, capture_output=True, text=True)
            assert added.returncode == 0, added.stdout + added.stderr
            middle_argv = [sys.executable, "-m", "torrentish", "get", torrent, "-o", tmp_path / "middle",
                           "--port", PEER_PORT, "--max-down", "20KiB/s", "--no-lsd", "--no-dht", "-q",
                           "--peer", f"{first_address}:{PEER_PORT}", "--peer", f"{transmission_address}:{PEER_PORT}"]
            with lan.process(1, "middle", middle_argv, logs, env=env, cwd=tmp_path) as middle:
                yield SimpleNamespace(lan=lan, torrent=torrent, env=env, first=first, middle=middle, daemon=daemon,
                                      first_address=f"{first_address}:{PEER_PORT}",
                                      transmission_address=f"{transmission_address}:{PEER_PORT}")


def wait_transmission_dials_the_first(s) -> None:
    """It can only have learned of the first through the middle peer's PEX."""
    wait_until(lambda: s.middle.check_alive() or "connected in Transmission" in tail(s.first.stdout_path),
               DEADLINE, "Transmission to dial the first peer",
               lambda: f"{s.first.report()}\n{s.middle.report()}\n{s.daemon.report()}")


@cell("transmission", "pex", "to")
def test_pex_from_torrentish_lets_transmission_find_the_first(tmp_path, logs):
    with swarm(tmp_path, logs) as s:
        wait_transmission_dials_the_first(s)


@cell("transmission", "pex", "from")
def test_pex_from_transmission_lets_a_third_peer_find_the_first(tmp_path, logs):
    with swarm(tmp_path, logs) as s:
        wait_transmission_dials_the_first(s)  # connected to the first: its PEX may name it
        argv = [sys.executable, "-c", THIRD, s.lan.ipv4[3], s.torrent, s.transmission_address]
        with s.lan.process(3, "third", argv, logs, env=s.env) as third:
            wait_until(lambda: third.check_alive() or f"knows {s.first_address}" in tail(third.stdout_path),
                       DEADLINE, "Transmission's PEX to name the first", third.report)
