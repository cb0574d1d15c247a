"""`torrentish daemon` as a command: defaults that need nothing set up, a clean stop on SIGTERM
and on the RPC's session-close with the state kept, and a refusal to listen beyond loopback
without a password."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support import wait_until
from tests.support.daemon import Daemon
from tests.test_rpc_methods import torrent_bytes

pytestmark = [pytest.mark.slow]


def test_sigterm_and_session_close_stop_cleanly_and_keep_state(tmp_path, port_factory):
    torrent = tmp_path / "kept.torrent"
    torrent.write_bytes(torrent_bytes("kept"))
    daemon = Daemon(tmp_path / "d", port_factory)
    with daemon:
        added = daemon.rpc("torrent-add", {"filename": str(torrent), "paused": True, "labels": ["mine"]})
        torrent_id = added["torrent-added"]["id"]
        assert daemon.stop() == 0
    assert "Traceback" not in daemon.process.stderr_path.read_text()
    with daemon:  # the same state dir
        kept = daemon.torrents("labels", "status")
        assert kept == [{"id": torrent_id, "name": "kept", "labels": ["mine"], "status": 0}]
        daemon.rpc("session-close")
        assert daemon.process.wait_exit(60) == 0
    log = (daemon.logs / "daemon.log").read_text()
    assert "daemon stopped" in log


def test_refuses_to_listen_beyond_loopback_without_a_password(tmp_path, port_factory):
    result = subprocess.run(
        [sys.executable, "-m", "torrentish", "daemon", "--rpc-host", "0.0.0.0", "--rpc-port", str(port_factory()),
         "--download-dir", str(tmp_path / "dl")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "set --rpc-username and a password" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_password_protects_the_rpc(tmp_path, port_factory, monkeypatch):
    monkeypatch.setenv("TORRENTISH_RPC_PASSWORD", "s3cret")
    daemon = Daemon(tmp_path / "d", port_factory, extra=("--rpc-username", "me"))
    with daemon:
        denied = daemon.remote("-l", check=False, stderr=True)
        assert "401" in denied, denied
        listed = daemon.remote("--auth", "me:s3cret", "-l")
        assert "Sum:" in listed
    wait_until(lambda: not daemon.process.running(), 30, "the daemon to stop")


def test_watch_directory_adds_dropped_torrents(tmp_path, port_factory):
    watch = tmp_path / "watch"
    with Daemon(tmp_path / "d", port_factory, extra=("--watch", str(watch))) as daemon:
        wait_until(watch.is_dir, 30, "the watch directory to be made")
        (watch / "dropped.torrent").write_bytes(torrent_bytes("dropped"))
        daemon.wait_for(lambda ts: [t["name"] for t in ts] == ["dropped"], (), 60, "the dropped torrent")
        wait_until((watch / "dropped.torrent.added").exists, 30, "the file marked as added")
