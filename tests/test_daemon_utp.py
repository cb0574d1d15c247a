"""`torrentish daemon` and uTP on 127.0.0.1: Transmission's clients switch it (transmission-remote
--utp/--no-utp, the transmission-rpc library, a JSON-RPC 2.0 call with the new names) and the
peer port answers accordingly; a daemon trades with libtorrent running uTP only (TCP off both
ways, so a finished transfer is a uTP one), dialing it and dialed by it.
"""

from __future__ import annotations

import json
import sys

import httpx
import pytest
import trio

from tests.support import require_tool, wait_until
from tests.support.daemon import Daemon
from tests.support.data import assert_identical, make_single_file, make_torrent
from torrentish.net.udp import UdpNetwork
from torrentish.net.utp import open_utp

pytestmark = [pytest.mark.interop, pytest.mark.slow, pytest.mark.timeout(240)]

UTP_ONLY = {"enable_outgoing_utp": True, "enable_incoming_utp": True,
            "enable_outgoing_tcp": False, "enable_incoming_tcp": False}


def utp_answers(port: int) -> bool:
    """Whether a uTP SYN to 127.0.0.1:port is taken (False: it is RESET)."""
    async def dial() -> bool:
        async with open_utp(UdpNetwork(), "127.0.0.1", 0) as endpoint:
            try:
                stream = await endpoint.connect("127.0.0.1", port, 5)
            except OSError as error:
                assert "reset" in str(error), error
                return False
            await stream.aclose()
            return True

    return trio.run(dial)


def jsonrpc(daemon: Daemon, method: str, params: dict) -> dict:
    """One JSON-RPC 2.0 call (Transmission 4.1's envelope and snake_case names)."""
    session_id = ""
    for _ in range(2):
        answer = httpx.post(daemon.url, timeout=30, headers={"X-Transmission-Session-Id": session_id},
                            content=json.dumps({"jsonrpc": "2.0", "method": method, "params": params, "id": 1}))
        if answer.status_code == 409:
            session_id = answer.headers["X-Transmission-Session-Id"]
            continue
        body = answer.json()
        assert "error" not in body, body
        return body["result"]
    raise AssertionError("no session id after a 409")


def test_transmission_clients_switch_utp(tmp_path, port_factory):
    transmission_rpc = require_tool("transmission_rpc")
    with Daemon(tmp_path / "d", port_factory) as daemon:
        assert "uTP enabled: Yes" in daemon.remote("-si")  # Transmission's default
        assert utp_answers(daemon.peer_port)

        daemon.remote("--no-utp")
        assert "uTP enabled: No" in daemon.remote("-si")
        assert not utp_answers(daemon.peer_port)  # at once, no restart
        client = transmission_rpc.Client(host="127.0.0.1", port=daemon.rpc_port, timeout=30)
        assert client.get_session().utp_enabled is False

        client.set_session(utp_enabled=True)
        assert client.get_session().utp_enabled is True
        assert utp_answers(daemon.peer_port)

        jsonrpc(daemon, "session_set", {"utp_enabled": False})
        got = jsonrpc(daemon, "session_get", {"fields": ["utp_enabled", "tcp_enabled"]})
        assert (got["utp_enabled"], got["tcp_enabled"]) == (False, True)
        old = daemon.rpc("session-get", {"fields": ["utp-enabled"]})
        assert old["utp-enabled"] is False
        answer = httpx.post(daemon.url, timeout=30, headers={"X-Transmission-Session-Id": daemon._session_id},
                            content=json.dumps({"method": "session-set",
                                                "arguments": {"utp-enabled": False, "tcp-enabled": False}}))
        assert "cannot both be off" in answer.json()["result"]

        daemon.stop()  # the switch is kept, as Transmission's settings.json keeps it
        daemon.start()
        assert "uTP enabled: No" in daemon.remote("-si")
        assert not utp_answers(daemon.peer_port)


def test_daemon_started_with_transport_tcp(tmp_path, port_factory):
    with Daemon(tmp_path / "d", port_factory, extra=("--transport", "tcp")) as daemon:
        assert "uTP enabled: No" in daemon.remote("-si")
        assert not utp_answers(daemon.peer_port)
        daemon.remote("--utp")
        assert utp_answers(daemon.peer_port)


def test_daemon_rejects_a_bad_transport(tmp_path):
    import subprocess

    result = subprocess.run([sys.executable, "-m", "torrentish", "daemon", "--transport", "udp"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "'udp' is not one of both, utp, tcp" in result.stderr


def test_daemon_trades_with_libtorrent_over_utp_only(tmp_path, port_factory, tracker):
    """libtorrent seeds (the daemon dials it: the tracker names it), then a second libtorrent
    downloads from the daemon (it dials the daemon). A download limit keeps the first transfer
    long enough to see the peer in the RPC's peer list, flagged as uTP."""
    from tests.support.lt import LtSession

    payload = make_single_file(tmp_path / "seed-data", size=1_500_000)
    torrent = tmp_path / "utp.torrent"
    make_torrent(payload, torrent, announce=tracker.announce_url)
    logs = tmp_path / "logs"
    logs.mkdir()
    with Daemon(tmp_path / "d", port_factory) as daemon, \
            LtSession(logs / "lt-seed.log", port=port_factory(), settings=UTP_ONLY) as seed:
        seed.seed(torrent, payload.parent, trackers=(tracker.announce_url,))
        daemon.rpc("session-set", {"speed-limit-down": 500, "speed-limit-down-enabled": True})
        assert "success" in daemon.remote("-a", str(torrent))
        seen = []

        def done() -> bool:
            daemon.process.check_alive()
            t = daemon.torrents("percentDone", "peers")[0]
            seen.extend((p["flagStr"], p["isUTP"]) for p in t["peers"])
            return t["percentDone"] == 1

        wait_until(done, 120, "the daemon's download from libtorrent", daemon.report)
        assert_identical(payload, daemon.downloads / payload.name)
        assert seen and all(utp and "T" in flags for flags, utp in seen), seen

        with LtSession(logs / "lt-get.log", port=port_factory(), settings=UTP_ONLY) as leech:
            handle = leech.leech(torrent, tmp_path / "lt-get")
            leech.connect_peer(handle, ("127.0.0.1", daemon.peer_port))
            leech.wait_seeding(handle, 120)
        assert_identical(payload, tmp_path / "lt-get" / payload.name)
