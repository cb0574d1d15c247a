"""Transmission and qBittorrent as reference peers, each a child process with a config directory
of its own in the test's tmp_path: no DHT, LPD, PEX, UPnP; peers and RPC / Web API on 127.0.0.1
only. Both are always stopped. Blocking waits (``Daemon.wait_complete``) belong in a worker thread
when torrentish runs in the same process.

``transmission(root, logs, **settings)`` overrides settings.json keys (the defaults: encryption
required, uTP off); ``qbittorrent(root, logs, config=...)`` takes the [BitTorrent] lines to use
(the default: forced RC4 over TCP only). ``peers()`` on either lists how the daemon sees its peers:
(address, port, transport) with transport "utp" or "tcp".
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support import ManagedProcess, free_port, require_tool, wait_until
from tests.support.trackerless import LOCALHOST

DEADLINE = 60.0  # Transmission unchokes on its 10 s rechoke round


class Daemon:
    """A running client: its peer port, and how to add a torrent and read its progress (0..1)."""

    def __init__(self, process: ManagedProcess, peer_port: int, add: Callable[[Path, Path], None],
                 progress: Callable[[], float], peers: Callable[[], list[tuple[str, int, str]]]):
        self.process, self.peer_port, self.add, self.progress = process, peer_port, add, progress
        self.peers = peers

    def wait_complete(self, timeout: float = DEADLINE) -> None:
        def done() -> bool:
            self.process.check_alive()
            return self.progress() >= 1.0
        wait_until(done, timeout, f"{self.process.label} to have the whole torrent", self.process.report)


@contextmanager
def transmission(root: Path, logs: Path, **overrides) -> Iterator[Daemon]:
    require_tool("transmission-daemon")
    from transmission_rpc import Client

    peer_port, rpc_port = free_port(), free_port()
    config = root / "transmission"
    config.mkdir(parents=True)
    (config / "settings.json").write_text(json.dumps({**{
        "encryption": 2,  # 0 prefer plaintext, 1 prefer encrypted, 2 require encryption
        "dht-enabled": False, "lpd-enabled": False, "pex-enabled": False, "utp-enabled": False,
        "port-forwarding-enabled": False, "peer-port": peer_port, "peer-port-random-on-start": False,
        "bind-address-ipv4": LOCALHOST, "rpc-enabled": True, "rpc-port": rpc_port, "rpc-bind-address": LOCALHOST,
        "rpc-authentication-required": False, "rpc-whitelist-enabled": True, "rpc-whitelist": LOCALHOST,
        "rpc-host-whitelist-enabled": False, "download-dir": str(root), "incomplete-dir-enabled": False,
        "watch-dir-enabled": False, "ratio-limit-enabled": False, "start-added-torrents": True,
    }, **overrides}))
    with ManagedProcess("transmission", ["transmission-daemon", "-f", "-g", config, "--log-info"], logs) as process:
        process.wait_listening(rpc_port, 20)
        rpc = Client(host=LOCALHOST, port=rpc_port)
        added: list[int] = []

        def add(torrent: Path, directory: Path) -> None:
            added.append(rpc.add_torrent(torrent.read_bytes(), download_dir=str(directory)).id)

        def progress() -> float:
            torrent = rpc.get_torrent(added[0])
            return 0.0 if torrent.status in ("check pending", "checking") else torrent.percent_done

        def peers() -> list[tuple[str, int, str]]:
            # flagStr "T": the peer is on uTP (Transmission's peer flags, like its web client's)
            return [(p["address"], p["port"], "utp" if "T" in p["flagStr"] else "tcp")
                    for p in rpc.get_torrent(added[0], arguments=["id", "peers"]).fields["peers"]]

        yield Daemon(process, peer_port, add, progress, peers)


QBT_FORCED_RC4_OVER_TCP = "Session\\Encryption=1\nSession\\BTProtocol=TCP\n"
QBT_CONFIG = """\
[LegalNotice]
Accepted=true

[BitTorrent]
Session\\Port={peer_port}
Session\\Interface=lo
Session\\InterfaceName=lo
Session\\InterfaceAddress=127.0.0.1
{extra}Session\\DHTEnabled=false
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
def qbittorrent(root: Path, logs: Path, config: str = QBT_FORCED_RC4_OVER_TCP) -> Iterator[Daemon]:
    require_tool("qbittorrent-nox")
    import httpx

    peer_port, web_port = free_port(), free_port()
    directory = root / "qbt" / "qBittorrent" / "config"
    directory.mkdir(parents=True)
    (directory / "qBittorrent.conf").write_text(QBT_CONFIG.format(peer_port=peer_port, web_port=web_port, extra=config))
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

        def peers() -> list[tuple[str, int, str]]:
            torrents = web.get("/torrents/info").json()
            answer = web.get("/sync/torrentPeers", params={"hash": torrents[0]["hash"]}).json()
            return [(p["ip"], p["port"], "utp" if "TP" in p["connection"] else "tcp")
                    for p in answer.get("peers", {}).values()]

        yield Daemon(process, peer_port, add, progress, peers)
