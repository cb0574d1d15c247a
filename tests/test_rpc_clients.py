"""Real Transmission clients drive `torrentish daemon` on 127.0.0.1: transmission-remote (Debian's
transmission-cli 3.00), the PyPI transmission-rpc library, and Transmission's own web client in
headless Chromium. A torrentish seed provides the data; the test tracker introduces them.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support import ManagedProcess, in_ci, require_tool, wait_until
from tests.support.daemon import Daemon
from tests.support.data import assert_identical, make_multi_file, make_single_file, make_torrent

pytestmark = [pytest.mark.interop, pytest.mark.slow]

TRANSMISSION_WEB = Path("/usr/share/transmission/web")


@contextmanager
def seed(tmp_path: Path, payload, torrent: Path, port: int, label: str = "seed") -> Iterator[ManagedProcess]:
    with ManagedProcess(label, [sys.executable, "-m", "torrentish", "seed", str(torrent), "-d",
                                str(payload.parent), "--port", str(port), "--no-lsd", "--no-dht", "-q"],
                        tmp_path / "logs") as process:
        process.wait_listening(port, 60)
        yield process


def list_rows(output: str) -> list[list[str]]:
    """transmission-remote -l: the torrent rows, split on runs of two or more spaces."""
    rows = []
    for line in output.splitlines()[1:]:
        if line.startswith("Sum:") or not line.strip():
            continue
        rows.append(re.split(r"\s{2,}", line.strip()))
    return rows


def test_transmission_remote_drives_the_daemon(tmp_path, port_factory, tracker):
    """Add a torrent and a magnet, list, info, stop, start, verify, remove with and without data;
    the torrent's transfer from a torrentish seed completes and -l shows it done."""
    require_tool("transmission-remote")
    payload = make_multi_file(tmp_path / "seed-data")
    torrent = tmp_path / "multi.torrent"
    info_hash = make_torrent(payload, torrent, announce=tracker.announce_url)
    other = make_single_file(tmp_path / "other-data", size=300_000)
    other_torrent = tmp_path / "other.torrent"
    other_hash = make_torrent(other, other_torrent, announce=tracker.announce_url)
    seed_port = port_factory()
    with seed(tmp_path, payload, torrent, seed_port), Daemon(tmp_path / "d", port_factory) as daemon:
        assert "success" in daemon.remote("-a", str(torrent))
        magnet = f"magnet:?xt=urn:btih:{other_hash.hex()}&dn=other"
        assert "success" in daemon.remote("-a", magnet)
        rows = list_rows(daemon.remote("-l"))
        assert [row[0].rstrip("*") for row in rows] == ["1", "2"], rows  # "*": an error (no peers for the magnet)
        done = daemon.wait_for(lambda ts: ts[0]["percentDone"] == 1, ("percentDone",), 120, "the download")
        assert done[0]["name"] == payload.name
        assert_identical(payload, daemon.downloads / payload.name)
        rows = list_rows(daemon.remote("-l"))
        assert rows[0][1] == "100%" and rows[0][3] == "Done", rows
        info = daemon.remote("-t", "1", "-i")
        assert f"Hash: {info_hash.hex()}" in info and f"Name: {payload.name}" in info
        assert "Percent Done: 100%" in info
        daemon.remote("-t", "1", "--stop")
        daemon.wait_for(lambda ts: ts[0]["status"] == 0, ("status",), 30, "torrent 1 to stop")
        assert "Stopped" in list_rows(daemon.remote("-l"))[0]
        daemon.remote("-t", "1", "--start")
        daemon.wait_for(lambda ts: ts[0]["status"] == 6, ("status",), 60, "torrent 1 to seed again")
        daemon.remote("-t", "1", "--verify")
        daemon.wait_for(lambda ts: ts[0]["status"] == 6 and ts[0]["percentDone"] == 1, ("status", "percentDone"),
                        120, "torrent 1 verified and seeding")
        daemon.remote("-t", "2", "--remove")
        assert [t["id"] for t in daemon.torrents()] == [1]
        daemon.remote("-t", "1", "--remove-and-delete")
        assert daemon.torrents() == []
        wait_until(lambda: not (daemon.downloads / payload.name).exists(), 30, "the data deleted")


def test_magnet_transfer_through_the_daemon(tmp_path, port_factory, tracker):
    """A magnet link added with transmission-remote: metadata from the seed, then the data."""
    payload = make_single_file(tmp_path / "seed-data", size=700_000)
    torrent = tmp_path / "single.torrent"
    info_hash = make_torrent(payload, torrent, announce=tracker.announce_url)
    seed_port = port_factory()
    with seed(tmp_path, payload, torrent, seed_port), Daemon(tmp_path / "d", port_factory) as daemon:
        magnet = f"magnet:?xt=urn:btih:{info_hash.hex()}&dn=single&tr={tracker.announce_url}" \
                 f"&x.pe=127.0.0.1:{seed_port}"
        daemon.remote("-a", magnet)
        daemon.wait_for(lambda ts: ts and ts[0]["percentDone"] == 1, ("percentDone",), 120, "the magnet download")
        assert_identical(payload, daemon.downloads / payload.name)
        rows = list_rows(daemon.remote("-l"))
        assert rows[0][1] == "100%" and rows[0][3] == "Done", rows


def test_transmission_rpc_library_drives_the_daemon(tmp_path, port_factory, tracker):
    transmission_rpc = require_tool("transmission_rpc")
    payload = make_single_file(tmp_path / "seed-data", size=500_000)
    torrent = tmp_path / "lib.torrent"
    make_torrent(payload, torrent, announce=tracker.announce_url)
    seed_port = port_factory()
    with seed(tmp_path, payload, torrent, seed_port), Daemon(tmp_path / "d", port_factory) as daemon:
        client = transmission_rpc.Client(host="127.0.0.1", port=daemon.rpc_port, timeout=30)
        assert client.get_session().rpc_version >= 16
        added = client.add_torrent(torrent.read_bytes(), download_dir=str(daemon.downloads))
        wait_until(lambda: client.get_torrent(added.id).percent_done == 1, 120, "the download")
        got = client.get_torrent(added.id)
        assert got.name == payload.name and got.status == "seeding" and got.left_until_done == 0
        assert [f.name for f in got.get_files()] == [payload.name]
        client.stop_torrent(added.id)
        wait_until(lambda: client.get_torrent(added.id).status == "stopped", 30, "stopped")
        client.start_torrent(added.id)
        client.verify_torrent(added.id)
        wait_until(lambda: client.get_torrent(added.id).status == "seeding", 60, "verified and seeding")
        magnet = client.add_torrent(f"magnet:?xt=urn:btih:{'cd' * 20}&dn=nobody-has-it")
        assert magnet.hash_string == "cd" * 20
        assert client.session_stats().torrent_count == 2
        assert [t.name for t in client.get_torrents()] == [payload.name, "nobody-has-it"]
        client.remove_torrent(magnet.id, delete_data=True)
        client.remove_torrent(added.id, delete_data=False)
        assert client.get_torrents() == []
        assert_identical(payload, daemon.downloads / payload.name)  # removed without its data


def test_transmission_web_client_in_chromium(tmp_path, port_factory):
    """Transmission's own web client, served by the daemon: it lists our torrents, and its
    pause and start buttons stop and start them."""
    if not TRANSMISSION_WEB.is_dir():
        message = f"Transmission's web client is not installed at {TRANSMISSION_WEB} (transmission-common)"
        pytest.fail(message) if in_ci() else pytest.skip(message)
    require_tool("chromium")
    require_tool("playwright")
    from playwright import sync_api as playwright
    payload = make_single_file(tmp_path / "data", size=200_000)
    torrent = tmp_path / "web.torrent"
    make_torrent(payload, torrent)
    with Daemon(tmp_path / "d", port_factory, web_home=TRANSMISSION_WEB) as daemon:
        daemon.remote("-a", str(torrent), "--paused")
        with playwright.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run"])
            try:
                page = browser.new_page()
                page.goto(f"http://127.0.0.1:{daemon.rpc_port}/transmission/web/")
                row = page.locator("#torrent_list .torrent_name", has_text=payload.name)
                row.wait_for(timeout=30_000)
                page.locator("#torrent_list li.torrent").first.click()
                page.locator("#toolbar-start").click()
                daemon.wait_for(lambda ts: ts[0]["status"] != 0, ("status",), 30, "started from the web client")
                page.locator("#toolbar-pause").click()
                daemon.wait_for(lambda ts: ts[0]["status"] == 0, ("status",), 30, "paused from the web client")
            finally:
                browser.close()
