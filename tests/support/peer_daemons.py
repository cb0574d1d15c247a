"""transmission-daemon (driven by its RPC) and qbittorrent-nox (by its Web API) as peers in tests.

Both start slowly (one to three seconds), so a test module shares one instance of each (a
module-scoped fixture) and each test adds its own torrents under its own directory, keyed by info
hash. Each daemon has a config directory of its own: no DHT, LPD, uTP or UPnP (nor PEX for
Transmission, which drops loopback peers from it anyway), peers and its control port on
127.0.0.1 only. Settings a test needs are switched for the connections that follow, without a
restart: ``encryption(required=True)`` (from preferring to requiring MSE) and ``utp(True)``
(uTP on besides TCP); ``transports(info_hash)`` says which one each connected peer is on.
The ``daemon`` fixture (module scope) and ``forget_torrents`` (autouse) are for test modules
to import.

Transmission drops loopback peers it learns from trackers or PEX, so tests dial the daemon
(reference-peers.md); it unchokes on its 10 s rechoke round, so allow for that.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from tests.support import ManagedProcess, free_port, require_tool, wait_until

LOCALHOST = "127.0.0.1"
DEADLINE = 60.0


class PeerDaemon:
    """What the tests need of either daemon; subclasses speak its control protocol."""

    label = "daemon"

    def __init__(self, process: ManagedProcess, peer_port: int):
        self.process, self.peer_port = process, peer_port

    def add(self, source: Path | str, directory: Path) -> None:
        """Add a .torrent file (Path) or a magnet link (str); data lives in ``directory``."""
        raise NotImplementedError

    def progress(self, info_hash: bytes) -> float:
        """0..1 of the torrent's data it has checked (0 while checking or fetching metadata)."""
        raise NotImplementedError

    def encryption(self, required: bool) -> None:
        raise NotImplementedError

    def utp(self, enabled: bool) -> None:
        """uTP on (as well as TCP, which neither daemon can turn off) or off."""
        raise NotImplementedError

    def transports(self, info_hash: bytes) -> list[str]:
        """"utp" or "tcp" for each peer it is connected to for the torrent."""
        raise NotImplementedError

    def remove_all(self) -> None:
        """Forget every torrent (keeping the data), so the next test starts clean."""
        raise NotImplementedError

    def wait_complete(self, info_hash: bytes, timeout: float = DEADLINE) -> None:
        def done() -> bool:
            self.process.check_alive()
            return self.progress(info_hash) >= 1.0
        wait_until(done, timeout, f"{self.label} to have the whole torrent", self.process.report)


class Transmission(PeerDaemon):
    label = "transmission"

    def __init__(self, process: ManagedProcess, peer_port: int, rpc_port: int):
        from transmission_rpc import Client

        super().__init__(process, peer_port)
        self.rpc = Client(host=LOCALHOST, port=rpc_port)

    def add(self, source, directory):
        torrent = source.read_bytes() if isinstance(source, Path) else source
        self.rpc.add_torrent(torrent, download_dir=str(directory))

    def progress(self, info_hash):
        torrent = self.rpc.get_torrent(info_hash.hex())
        return 0.0 if torrent.status in ("check pending", "checking") else torrent.percent_done

    def encryption(self, required):
        self.rpc.set_session(encryption="required" if required else "preferred")

    def utp(self, enabled):
        self.rpc.set_session(utp_enabled=enabled)

    def transports(self, info_hash):
        # flagStr "T": the peer is on uTP (Transmission's peer flags, as its web client shows them)
        peers = self.rpc.get_torrent(info_hash.hex(), arguments=["id", "peers"]).fields["peers"]
        return ["utp" if "T" in peer["flagStr"] else "tcp" for peer in peers]

    def remove_all(self):
        ids = [torrent.id for torrent in self.rpc.get_torrents()]
        if ids:
            self.rpc.remove_torrent(ids, delete_data=False)


@contextmanager
def transmission(root: Path, logs: Path) -> Iterator[Transmission]:
    require_tool("transmission-daemon")
    peer_port, rpc_port = free_port(), free_port()
    config = root / "transmission"
    config.mkdir(parents=True)
    (config / "settings.json").write_text(json.dumps({
        "encryption": 1,  # 0 prefer plaintext, 1 prefer encrypted, 2 require encryption
        "dht-enabled": False, "lpd-enabled": False, "pex-enabled": False, "utp-enabled": False,
        "port-forwarding-enabled": False, "peer-port": peer_port, "peer-port-random-on-start": False,
        "bind-address-ipv4": LOCALHOST, "rpc-enabled": True, "rpc-port": rpc_port, "rpc-bind-address": LOCALHOST,
        "rpc-authentication-required": False, "rpc-whitelist-enabled": True, "rpc-whitelist": LOCALHOST,
        "rpc-host-whitelist-enabled": False, "download-dir": str(root), "incomplete-dir-enabled": False,
        "watch-dir-enabled": False, "ratio-limit-enabled": False, "start-added-torrents": True,
    }))
    with ManagedProcess("transmission", ["transmission-daemon", "-f", "-g", config, "--log-info"], logs) as process:
        process.wait_listening(rpc_port, 20)
        yield Transmission(process, peer_port, rpc_port)


QBT_CONFIG = """\
[LegalNotice]
Accepted=true

[BitTorrent]
Session\\Port={peer_port}
Session\\Interface=lo
Session\\InterfaceName=lo
Session\\InterfaceAddress=127.0.0.1
Session\\Encryption=0
Session\\BTProtocol=TCP
Session\\DHTEnabled=false
Session\\LSDEnabled=false
Session\\PeXEnabled=true
Session\\MultiConnectionsPerIp=true
Session\\AnonymousModeEnabled=false

[Preferences]
Connection\\UPnP=false
WebUI\\Port={web_port}
WebUI\\Address=127.0.0.1
WebUI\\LocalHostAuth=false
WebUI\\HostHeaderValidation=false
WebUI\\CSRFProtection=false
"""


class QBittorrent(PeerDaemon):
    label = "qbittorrent"

    def __init__(self, process: ManagedProcess, peer_port: int, web):
        super().__init__(process, peer_port)
        self.web = web

    def add(self, source, directory):
        if isinstance(source, Path):
            answer = self.web.post("/torrents/add", data={"savepath": str(directory)},
                                   files={"torrents": (source.name, source.read_bytes())})
        else:
            answer = self.web.post("/torrents/add", data={"savepath": str(directory), "urls": source})
        assert answer.status_code == 200 and answer.text.strip() == "Ok.", answer.text
        # "Ok." means queued: the torrent is added a moment later, and a peer that dials before
        # then is refused and backs off (under load that once outlasted a test's deadline).
        if isinstance(source, Path):
            from torrentish.formats.metainfo import parse_torrent

            info_hash = parse_torrent(source.read_bytes()).info.info_hash
            wait_until(lambda: self._torrent(info_hash) is not None, DEADLINE,
                       "qBittorrent to list the torrent", self.process.report)

    def _torrent(self, info_hash: bytes) -> dict | None:
        # Its "hash" is libtorrent's best id: the v2 hash truncated, for a hybrid too; match any.
        wanted = info_hash.hex()
        torrents = [t for t in self.web.get("/torrents/info").json()
                    if wanted in (t.get("hash"), t.get("infohash_v1"), (t.get("infohash_v2") or "")[:40])]
        return torrents[0] if torrents else None

    def progress(self, info_hash):
        torrent = self._torrent(info_hash)
        checking = torrent is None or torrent["state"].startswith(("checking", "metaDL"))
        return 0.0 if checking else torrent["progress"]

    def encryption(self, required):
        # 0 prefer encryption, 1 force (RC4 only, as libtorrent's forced policy), 2 force off
        self._prefer(encryption=int(required))

    def utp(self, enabled):
        self._prefer(bittorrent_protocol=0 if enabled else 1)  # 0 TCP and uTP, 1 TCP, 2 uTP

    def _prefer(self, **preferences) -> None:
        answer = self.web.post("/app/setPreferences", data={"json": json.dumps(preferences)})
        assert answer.status_code == 200, answer.text

    def transports(self, info_hash):
        return ["utp" if "TP" in peer["connection"] else "tcp"  # "μTP" or "BT"
                for peer in self._peer_list(info_hash).values()]

    def remove_all(self):
        self.web.post("/torrents/delete", data={"hashes": "all", "deleteFiles": "false"})

    def dial(self, info_hash: bytes, address: tuple[str, int]) -> None:
        """Have it connect to a peer for the torrent (once the torrent is loaded)."""
        def added() -> bool:
            data = {"hashes": info_hash.hex(), "peers": f"{address[0]}:{address[1]}"}
            return self.web.post("/torrents/addPeers", data=data).status_code == 200
        wait_until(added, DEADLINE, "qBittorrent to take a peer", self.process.report)

    def peers(self, info_hash: bytes) -> set[str]:
        """The "ip:port" of each peer it is connected to for the torrent."""
        return set(self._peer_list(info_hash))

    def _peer_list(self, info_hash: bytes) -> dict[str, dict]:
        answer = self.web.get("/sync/torrentPeers", params={"hash": info_hash.hex(), "rid": 0})
        return answer.json().get("peers", {}) if answer.status_code == 200 else {}

    def limit_download(self, info_hash: bytes, rate: int) -> None:
        answer = self.web.post("/torrents/setDownloadLimit", data={"hashes": info_hash.hex(), "limit": rate})
        assert answer.status_code == 200, answer.text


@contextmanager
def qbittorrent(root: Path, logs: Path) -> Iterator[QBittorrent]:
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
        yield QBittorrent(process, peer_port, web)


PEER_DAEMONS = {"transmission": transmission, "qbittorrent": qbittorrent}


# Transmission decides what it is interested in on its 10 s rechoke round: 13-20 s a transfer.
@pytest.fixture(scope="module", params=[pytest.param("transmission", marks=pytest.mark.slow), "qbittorrent"])
def daemon(request, tmp_path_factory):
    """One running daemon per module (and per daemon a test is parametrized over)."""
    root = tmp_path_factory.mktemp(request.param)
    with PEER_DAEMONS[request.param](root, root / "logs") as running:
        yield running


@pytest.fixture(autouse=True)
def forget_torrents(request):
    """The daemon forgets the test's torrents after the test, so the next one starts clean."""
    yield
    if "daemon" in request.fixturenames:
        request.getfixturevalue("daemon").remove_all()
