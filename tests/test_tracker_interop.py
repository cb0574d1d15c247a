"""Trackers against independent implementations, on loopback:

- aria2c downloads from `torrentish share`, finding the seed through the embedded tracker (and
  fetching the .torrent from it, as the printed aria2c command does);
- libtorrent announces to `torrentish tracker` (HTTP and UDP) and finds a torrentish seed there;
- torrentish announces to opentracker (HTTP and UDP) and downloads from a libtorrent seed it finds.

Torrents come from tests.support.data (not from torrentish), so a failure is a protocol failure.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import sys
from pathlib import Path

import pytest
import trio

from tests.support import ManagedProcess, free_port, require_tool, wait_until
from tests.support.aria2 import COMMON_FLAGS
from tests.support.data import assert_identical, make_payload, make_torrent

LOCALHOST = "127.0.0.1"
pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]


def torrentish(label: str, args: list, logs: Path) -> ManagedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1", NO_COLOR="1", TORRENTISH_STATE_DIR=str(logs.parent / f"state-{label}"))
    return ManagedProcess(label, [sys.executable, "-m", "torrentish", *args], logs, env=env, cwd=logs.parent)


def test_aria2_downloads_from_share_through_its_tracker(tmp_path, logs):
    aria2c = require_tool("aria2c")
    payload = make_payload("multi", tmp_path / "seed")
    torrent = tmp_path / "multi.torrent"
    make_torrent(payload, torrent)
    tracker_port, aria2_port = free_port(), free_port()
    args = [
        "share",
        torrent,
        "--data",
        payload.parent,
        "--host",
        LOCALHOST,
        "--port",
        free_port(),
        "--tracker-port",
        tracker_port,
        "--no-lsd",
        "--no-qr",
    ]
    with torrentish("share", args, logs) as share:
        wait_until(
            lambda: share.check_alive() or "Ctrl-C to stop" in share.stdout_path.read_text(),
            30,
            "share to start",
            share.report,
        )
        command = re.search(r"^  aria2c --seed-time=0 '(\S+)'$", share.stdout_path.read_text(), re.M)
        assert command, share.report()
        url = command.group(1)
        assert url.startswith(f"http://{LOCALHOST}:{tracker_port}/torrents/")
        out = tmp_path / "aria2"
        out.mkdir()
        argv = [
            aria2c,
            *COMMON_FLAGS,
            "--seed-time=0",
            f"--dir={out}",
            f"--listen-port={aria2_port}",
            f"--log={logs / 'aria2.log'}",
            f"--stop-with-process={os.getpid()}",
            url,
        ]
        with ManagedProcess("aria2", argv, logs, extra_log=logs / "aria2.log") as aria2:
            status = aria2.wait_exit(60)
            assert status == 0, f"{aria2.report()}\n{share.report()}"
        share.check_alive()
    assert_identical(payload, out / payload.name, "aria2's download")


def test_libtorrent_finds_a_torrentish_seed_through_torrentish_tracker(tmp_path, logs):
    require_tool("libtorrent")
    from tests.support.lt import LtSession

    port = free_port()
    payload = make_payload("single", tmp_path / "seed")
    http_torrent, udp_torrent = tmp_path / "http.torrent", tmp_path / "udp.torrent"
    info_hash = make_torrent(payload, http_torrent, announce=f"http://{LOCALHOST}:{port}/announce")
    make_torrent(payload, udp_torrent, announce=f"udp://{LOCALHOST}:{port}/announce")
    with torrentish(
        "tracker", ["tracker", "--host", LOCALHOST, "--port", port, "--interval", 2, "-v"], logs
    ) as tracker:
        wait_until(
            lambda: tracker.check_alive() or "tracker on" in tracker.stdout_path.read_text(),
            20,
            "the tracker to start",
            tracker.report,
        )
        # The seed announces the .torrent's tracker (HTTP); it runs no tracker of its own here.
        seed_args = [
            "share",
            http_torrent,
            "--data",
            payload.parent,
            "--host",
            LOCALHOST,
            "--port",
            free_port(),
            "--no-tracker",
            "--no-lsd",
            "--no-qr",
        ]
        with torrentish("seed", seed_args, logs) as seed:
            wait_until(
                lambda: seed.check_alive() or f"started {info_hash.hex()} left 0" in tracker.stdout_path.read_text(),
                20,
                "the seed to announce",
                lambda: tracker.report() + "\n" + seed.report(),
            )
            for label, torrent in (("http", http_torrent), ("udp", udp_torrent)):
                with LtSession(logs / f"lt-{label}.log") as session:
                    handle = session.leech(torrent, tmp_path / f"lt-{label}")
                    session.wait_seeding(handle, 60, on_poll=seed.check_alive)
                    assert_identical(payload, tmp_path / f"lt-{label}" / payload.name, f"libtorrent via {label}")
    log = tracker.stdout_path.read_text()
    assert log.count(f"started {info_hash.hex()}") >= 3  # the seed and both libtorrent sessions


def test_torrentish_finds_a_libtorrent_seed_through_opentracker(tmp_path, logs):
    require_tool("libtorrent")
    opentracker = require_tool("opentracker")
    from tests.support.lt import LtSession
    from torrentish.services.discovery.sources import peer_sources_for
    from torrentish.formats.metainfo import Metainfo, load_torrent
    from torrentish.services.tracker.http_client import http_announce, http_scrape, open_http_client
    from torrentish.services.tracker.protocol import AnnounceRequest
    from torrentish.services.tracker.udp_client import UdpTrackerClient
    from torrentish.app.transfer import get

    port = free_port()
    payload = make_payload("multi", tmp_path / "seed")
    torrent = tmp_path / "multi.torrent"
    http_url, udp_url = f"http://{LOCALHOST}:{port}/announce", f"udp://{LOCALHOST}:{port}/announce"
    info_hash = make_torrent(payload, torrent, announce=http_url)
    # opentracker is built in whitelist mode; it reads the list after changing root to -d.
    root = tmp_path / "opentracker"
    root.mkdir()
    (root / "whitelist").write_text(info_hash.hex() + "\n")
    root.chmod(0o755)  # it drops root for "nobody" once it has changed root to the directory
    (root / "whitelist").chmod(0o644)
    argv = [opentracker, "-i", LOCALHOST, "-p", str(port), "-P", str(port), "-d", str(root), "-w", "whitelist"]
    with ManagedProcess("opentracker", argv, logs) as tracker, LtSession(logs / "lt.log") as session:
        tracker.wait_listening(port, 20)
        session.seed(torrent, payload.parent)

        async def check_and_download():
            async with open_http_client() as http:
                with trio.fail_after(30):
                    while (await http_scrape(http, http_url, [info_hash]))[info_hash].complete == 0:
                        await trio.sleep(0.2)  # libtorrent's first announce is on its way
                probe = AnnounceRequest(info_hash, b"-TT0100-probeprobepr", 1, left=1, numwant=10)
                via_http = await http_announce(http, http_url, probe)
            via_udp = await UdpTrackerClient(random.Random(7), timeout=1, attempts=3).announce(udp_url, probe)
            assert ("127.0.0.1", session.port) in via_http.peers and ("127.0.0.1", session.port) in via_udp.peers
            meta = load_torrent(torrent)
            # Download with the UDP tracker as the only source of peers.
            udp_only = Metainfo(meta.info, None, ((udp_url,),), (), None, None, None)
            with trio.fail_after(60):
                return await get(
                    meta.info,
                    tmp_path / "got",
                    host=LOCALHOST,
                    resume=None,
                    services=peer_sources_for(udp_only, None, lsd=False),
                )

        result = trio.run(check_and_download)
        assert result.complete, session.report()
    assert_identical(payload, tmp_path / "got" / payload.name, "torrentish's download")


@pytest.fixture(autouse=True)
def _no_stray_state(tmp_path, monkeypatch):
    monkeypatch.setenv("TORRENTISH_STATE_DIR", str(tmp_path / "state"))
    yield
    shutil.rmtree(tmp_path / "state", ignore_errors=True)


def test_libtorrent_downloads_from_share_with_the_printed_magnet_link(tmp_path, logs):
    """What a phone does with the QR code: a magnet link only, metadata from the seed (BEP 9)."""
    lt = require_tool("libtorrent")
    from tests.support.lt import LtSession

    payload = make_payload("single", tmp_path / "seed")
    args = [
        "share",
        payload.root,
        "--host",
        LOCALHOST,
        "--port",
        free_port(),
        "--tracker-port",
        free_port(),
        "--no-lsd",
        "--no-qr",
        "--torrent-out",
        tmp_path / "made.torrent",
    ]
    with torrentish("share", args, logs) as share:
        wait_until(
            lambda: share.check_alive() or "Ctrl-C to stop" in share.stdout_path.read_text(),
            30,
            "share to start",
            share.report,
        )
        magnet = re.search(r"^magnet: (\S+)$", share.stdout_path.read_text(), re.M).group(1)
        with LtSession(logs / "lt.log") as session:
            params = lt.parse_magnet_uri(magnet)
            params.save_path = str(tmp_path / "lt")
            handle = session.session.add_torrent(params)
            session.handles.append(handle)
            session.wait_seeding(handle, 60, on_poll=share.check_alive)
    assert_identical(payload, tmp_path / "lt" / payload.name, "libtorrent's download from a magnet link")
