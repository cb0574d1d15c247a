"""`torrentish remote` against real RPC daemons (every kind in DAEMON_KINDS).

What the command did is checked with an independent client (the PyPI transmission-rpc library,
`daemon.oracle()`), not with our own. Commands run in-process through typer's runner (stdout is not
a terminal there: the plain output) and, where exit codes and stderr matter, as `python -m
torrentish` children.
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.support import free_port, wait_until
from tests.support.daemons import DAEMON_KINDS, magnet_for, rpc_daemon
from tests.support.data import make_multi_file, make_single_file, make_torrent
from torrentish.cli.main import app

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]


@pytest.fixture(params=DAEMON_KINDS)
def daemon(request, tmp_path: Path, logs: Path):
    with rpc_daemon(request.param, tmp_path / "daemon", logs) as running:
        yield running


def remote(daemon, *args, env=None):
    """`torrentish remote --url DAEMON ARGS` in-process; the runner's result."""
    result = CliRunner().invoke(app, ["remote", "--url", daemon.url, *map(str, args)], env=env)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def remote_process(url: str, *args, env=None) -> subprocess.CompletedProcess:
    """`python -m torrentish remote ...` as a child: real exit codes and streams."""
    environment = dict(os.environ, NO_COLOR="1", **(env or {}))
    return subprocess.run([sys.executable, "-m", "torrentish", "remote", "--url", url, *map(str, args)],
                          capture_output=True, text=True, timeout=60, env=environment)


def test_add_list_show_stop_start_verify_remove(daemon, tmp_path):
    oracle = daemon.oracle()
    album = make_multi_file(tmp_path / "data", "Album")
    album_torrent = tmp_path / "album.torrent"
    album_hash = make_torrent(album, album_torrent)
    magnet_hash = bytes(range(20))

    added = remote(daemon, "add", album_torrent, "--download-dir", album.parent)
    assert added.exit_code == 0, added.output
    assert added.stdout.startswith("added 1 Album (") and album_hash.hex() in added.stdout
    again = remote(daemon, "add", album_torrent)
    assert again.exit_code == 0 and again.stdout.startswith("already there: 1 Album")
    paused = remote(daemon, "add", magnet_for(magnet_hash, "waiting"), "--paused", "--json")
    [record] = json.loads(paused.stdout)
    assert record["added"] is True and record["hash_string"] == magnet_hash.hex() and record["id"] == 2
    wait_until(lambda: oracle.get_torrent(1).status == "seeding", 20, "the album to be checked")
    wait_until(lambda: oracle.get_torrent(2).status == "stopped", 20, "the magnet to rest, paused")

    listed = remote(daemon, "list")
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["ID", "Done", "Have", "ETA", "Up", "Down", "Ratio", "State", "Name"]
    assert lines[1].split() == ["1", "100.0%", "3.0", "MiB", "-", "-", "-", "0.00", "seeding", "Album"]
    assert lines[2].split()[0:2] == ["2", "0.0%"] and lines[2].endswith("stopped  waiting")
    assert lines[3] == "2 torrents, down 0 B/s, up 0 B/s"
    as_json = json.loads(remote(daemon, "list", "--json").stdout)
    assert [(t["id"], t["state"], t["percent_done"]) for t in as_json] == [(1, "seeding", 1), (2, "stopped", 0)]

    shown = remote(daemon, "show", album_hash.hex())
    assert shown.exit_code == 0, shown.output
    assert "State       seeding" in shown.stdout and f"Location    {album.parent}" in shown.stdout
    assert "Album/sub/d.bin" in shown.stdout and "Trackers: none" in shown.stdout
    details = json.loads(remote(daemon, "show", "1", "--json").stdout)
    assert [f["name"] for f in details["files"]] == ["Album/a.bin", "Album/b-empty.txt", "Album/c-small.bin",
                                                      "Album/sub/d.bin"]
    assert details["file_stats"][0]["wanted"] is True

    assert remote(daemon, "stop", "1").stdout == "stopped 1: 1 Album\n"
    wait_until(lambda: oracle.get_torrent(1).status == "stopped", 10, "the album to stop")
    first = album.file_paths()[0]
    corrupted = bytearray(first.read_bytes())
    corrupted[5] ^= 1
    first.write_bytes(corrupted)
    assert remote(daemon, "verify", "1").exit_code == 0
    wait_until(lambda: oracle.get_torrent(1).percent_done < 1 and oracle.get_torrent(1).status == "stopped",
               20, "the verify to find the corrupted piece")
    assert remote(daemon, "start", "all").stdout == "started 2: 1 Album; 2 waiting\n"
    wait_until(lambda: {t.status for t in oracle.get_torrents()} & {"stopped"} == set(), 20, "both to start")

    assert remote(daemon, "remove", "2").stdout == "removed 1: 2 waiting\n"
    assert [t.id for t in oracle.get_torrents()] == [1]
    assert remote(daemon, "remove", "1", "--delete").exit_code == 0
    assert oracle.get_torrents() == []
    wait_until(lambda: not album.root.exists(), 10, "the album's data to be deleted")
    assert remote(daemon, "list").stdout.splitlines()[-1] == "0 torrents, down 0 B/s, up 0 B/s"


def test_limits_for_the_daemon_and_for_torrents(daemon, tmp_path):
    oracle = daemon.oracle()
    payload = make_single_file(tmp_path / "data")
    torrent = tmp_path / "one.torrent"
    make_torrent(payload, torrent)
    oracle.add_torrent(torrent.read_bytes(), download_dir=str(payload.parent))

    assert remote(daemon, "limits").stdout == "daemon: down unlimited, up unlimited\n"
    changed = remote(daemon, "limits", "--down", "5MB/s", "--up", "250kB/s")
    assert changed.stdout == "daemon: down 4.8 MiB/s, up 244.1 KiB/s\n"  # 5000 and 250 kB/s
    session = oracle.get_session()
    assert (session.speed_limit_down_enabled, session.speed_limit_down) == (True, 5000)
    assert (session.speed_limit_up_enabled, session.speed_limit_up) == (True, 250)
    assert json.loads(remote(daemon, "limits", "--json", "--up", "0").stdout) == {
        "down": 5_000_000, "up": None, "alt_speed_enabled": False}
    assert oracle.get_session().speed_limit_up_enabled is False

    per_torrent = remote(daemon, "limits", "1", "--up", "100kB/s")
    assert per_torrent.stdout == "1 single.bin: down unlimited, up 97.7 KiB/s\n"
    t = oracle.get_torrent(1)
    assert (t.upload_limited, t.upload_limit, t.download_limited) == (True, 100, False)
    assert json.loads(remote(daemon, "limits", "1", "--json").stdout) == [
        {"id": 1, "name": "single.bin", "down": None, "up": 100_000, "honors_session_limits": True}]


def test_add_by_url_the_daemon_fetches(daemon, tmp_path):
    payload = make_single_file(tmp_path / "data", "fetched.bin")
    make_torrent(payload, tmp_path / "served" / "fetched.torrent")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(tmp_path / "served"), **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/fetched.torrent"
        result = remote(daemon, "add", url, "--paused")
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("added 1 fetched.bin")
    assert daemon.oracle().get_torrent(1).name == "fetched.bin"


def test_mistakes_get_one_line_and_change_nothing(daemon, tmp_path):
    oracle = daemon.oracle()
    oracle.add_torrent(magnet_for(bytes(20), "only"), paused=True)
    cases = [
        (["stop", "1", "7"], 1, "error: the daemon has no torrent 7"),
        (["show", "ffffffffffffffffffffffffffffffffffffffff"], 1, "has no torrent ffffffffffffffff"),
        (["add", tmp_path / "missing.torrent"], 1, "missing.torrent"),
        (["add", "magnet:?xt=urn:btih:nothex"], 1, "error: "),
        (["add", "magnet:?xt=urn:btih:" + "00" * 20, "-d", "relative/dir"], 2, "absolute path"),
        (["stop", "5-2"], 2, "not a range"),
        (["stop"], 2, "Missing argument"),
    ]
    bad_torrent = tmp_path / "bad.torrent"
    bad_torrent.write_bytes(b"d4:infoi3ee")
    cases.append((["add", bad_torrent], 1, "bad.torrent"))
    for args, code, text in cases:
        result = remote_process(daemon.url, *args)
        assert result.returncode == code, (args, result.stderr)
        assert text in result.stderr and "Traceback" not in result.stderr, (args, result.stderr)
        if code == 1:
            assert result.stderr.count("\n") == 1, result.stderr
    assert [(t.id, t.status) for t in oracle.get_torrents()] == [(1, "stopped")]


def test_connection_refused_is_one_line():
    url = f"http://127.0.0.1:{free_port()}/transmission/rpc"
    result = remote_process(url, "list")
    assert result.returncode == 1
    assert result.stderr == f"error: cannot connect to {url}: Connection refused\n"


@pytest.mark.parametrize("kind", DAEMON_KINDS)
def test_auth_from_the_option_or_the_environment(kind, tmp_path, logs):
    with rpc_daemon(kind, tmp_path / "daemon", logs, auth=("alice", "s3cret")) as daemon:
        missing = remote_process(daemon.url, "list")
        assert missing.returncode == 1
        assert "wants a user name and password (--auth USER:PASSWORD)" in missing.stderr
        wrong = remote_process(daemon.url, "--auth", "alice:guess", "list")
        assert wrong.returncode == 1 and "refused the user name and password" in wrong.stderr
        assert remote_process(daemon.url, "--auth", "alice:s3cret", "list").returncode == 0
        # The config mechanism: TORRENTISH_REMOTE_URL and TORRENTISH_REMOTE_AUTH stand in for the options.
        environment = dict(os.environ, TORRENTISH_REMOTE_URL=daemon.url, TORRENTISH_REMOTE_AUTH="alice:s3cret")
        from_env = subprocess.run([sys.executable, "-m", "torrentish", "remote", "list", "--json"],
                                  capture_output=True, text=True, timeout=60, env=environment)
        assert from_env.returncode == 0, from_env.stderr
        assert json.loads(from_env.stdout) == []
