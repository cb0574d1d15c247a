"""`share` and `get` on a real LAN: two hosts in network namespaces on a bridge (tests/support/netns.py).

Each test builds its own LAN and tears it down whatever happens. Without root the tests are
skipped locally and fail in CI (a CI runner that cannot make namespaces is misconfigured).
"""

from __future__ import annotations

import os
import random
import sys
import time
from pathlib import Path

import pytest

from tests.support import require_tool, wait_until
from tests.support.netns import Lan, require_netns
from torrentish.app.create import create_torrent
from torrentish.formats.metainfo import parse_torrent

ROOT = Path(__file__).resolve().parent.parent
TORRENTISH = [sys.executable, "-m", "torrentish"]
PEER_PORT = 6881


@pytest.fixture(autouse=True)
def _namespaces():
    require_netns()


def _payload(tmp_path: Path, size: int, name: str = "video.bin") -> Path:
    folder = tmp_path / "src"
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_bytes(random.Random(size).randbytes(size))
    return path


def _torrent(payload: Path, piece_length: int = 16384) -> Path:
    out = payload.parent.parent / f"{payload.name}.torrent"
    out.write_bytes(create_torrent(payload, piece_length=piece_length))
    return out


def _env(tmp_path: Path, host: int) -> dict:
    # Inside our own namespaces LSD may multicast (conftest switches it off for host-side tests).
    return dict(os.environ, TORRENTISH_STATE_DIR=str(tmp_path / f"state{host}"), PYTHONPATH=str(ROOT), COLUMNS="200",
                TORRENTISH_LSD="1")


def _home(tmp_path: Path, host: int) -> Path:
    home = tmp_path / f"host{host}"
    home.mkdir(exist_ok=True)
    return home


def _wait_first_byte(path: Path, proc, timeout: float) -> float:
    """When the first verified piece reached the downloader's disk (its file appears then)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return time.monotonic()
        proc.check_alive() if proc.returncode not in (None, 0) else None
        time.sleep(0.005)
    pytest.fail(f"no data reached {path} within {timeout}s\n{proc.report()}", pytrace=False)


def test_get_finds_a_new_share_through_lsd_alone_within_two_seconds(tmp_path, logs):
    payload = _payload(tmp_path, 1_500_000)
    torrent = _torrent(payload)  # no trackers: LSD is the only way the two can meet
    out = _home(tmp_path, 1) / "downloads"
    with Lan(2) as lan:
        get = lan.process(
            1,
            "get",
            [*TORRENTISH, "get", torrent, "-o", out, "--port", PEER_PORT, "-q"],
            logs,
            env=_env(tmp_path, 1),
            cwd=_home(tmp_path, 1),
        )
        with get:
            wait_until(
                lambda: get.check_alive() or lan.listening(get.popen.pid, PEER_PORT), 20, "get to listen", get.report
            )
            time.sleep(0.3)  # get has announced itself on the LAN, to nobody: the seed is not there yet
            start = time.monotonic()
            share_argv = [
                *TORRENTISH,
                "share",
                torrent,
                "--data",
                payload.parent,
                "--no-tracker",
                "--no-qr",
                "--port",
                PEER_PORT,
            ]
            with lan.process(0, "share", share_argv, logs, env=_env(tmp_path, 0), cwd=_home(tmp_path, 0)) as share:
                first = _wait_first_byte(out / payload.name, get, timeout=20) - start
                assert get.wait_exit(30) == 0, get.report()
                done = time.monotonic() - start
                share.check_alive()
    assert (out / payload.name).read_bytes() == payload.read_bytes()
    print(
        f"\nLSD alone: share start -> first verified piece on the other host {first:.2f} s, "
        f"-> complete {done:.2f} s ({payload.stat().st_size} bytes)"
    )
    assert first < 2.0, f"first data after {first:.2f} s\n{share.report()}\n{get.report()}"


def test_get_finds_the_share_through_its_embedded_tracker_alone(tmp_path, logs):
    payload = _payload(tmp_path, 800_000)
    home0, home1 = _home(tmp_path, 0), _home(tmp_path, 1)
    with Lan(2) as lan:
        share_argv = [*TORRENTISH, "share", payload, "--no-lsd", "--no-qr", "--port", PEER_PORT, "--tracker-port", 6969]
        with lan.process(0, "share", share_argv, logs, env=_env(tmp_path, 0), cwd=home0) as share:
            wait_until(
                lambda: share.check_alive() or "Ctrl-C to stop" in share.stdout_path.read_text(),
                30,
                "share to start",
                share.report,
            )
            printed = share.stdout_path.read_text()
            assert f"seeding on port {PEER_PORT} (every interface): {lan.ipv4[0]}, {lan.ipv6[0]}" in printed
            assert f"tracker: http://{lan.ipv4[0]}:6969/announce" in printed
            torrent = home0 / f"{payload.name}.torrent"
            meta = parse_torrent(torrent.read_bytes())
            assert f"http://{lan.ipv4[0]}:6969/announce" in meta.trackers()[0]
            # The .torrent carries the tracker and nothing else: no x.pe, and the seed's LSD is off.
            get_argv = [*TORRENTISH, "get", torrent, "-o", home1 / "dl", "--port", PEER_PORT, "-q"]
            with lan.process(1, "get", get_argv, logs, env=_env(tmp_path, 1), cwd=home1) as get:
                assert get.wait_exit(30) == 0, get.report()
            share.check_alive()
    assert (home1 / "dl" / payload.name).read_bytes() == payload.read_bytes()


def test_a_magnet_link_over_a_capped_lan_respects_the_limit(tmp_path, logs):
    payload = _payload(tmp_path, 3 * 1024 * 1024)
    rate = 2_000_000  # bytes/s: tc's 16mbit
    home0, home1 = _home(tmp_path, 0), _home(tmp_path, 1)
    with Lan(2) as lan:
        lan.limit(0, "16mbit")
        lan.limit(1, "16mbit")
        share_argv = [*TORRENTISH, "share", payload, "--no-qr", "--port", PEER_PORT]
        with lan.process(0, "share", share_argv, logs, env=_env(tmp_path, 0), cwd=home0) as share:
            wait_until(
                lambda: share.check_alive() or "Ctrl-C to stop" in share.stdout_path.read_text(),
                30,
                "share to start",
                share.report,
            )
            magnet = next(
                line.split("magnet: ", 1)[1]
                for line in share.stdout_path.read_text().splitlines()
                if line.startswith("magnet: ")
            )
            sent_before = lan.sent_bytes(0)
            start = time.monotonic()
            get_argv = [*TORRENTISH, "get", magnet, "-o", home1 / "dl", "--port", PEER_PORT, "-q"]
            with lan.process(1, "get", get_argv, logs, env=_env(tmp_path, 1), cwd=home1) as get:
                assert get.wait_exit(60) == 0, get.report()
            elapsed = time.monotonic() - start
            sent = lan.sent_bytes(0) - sent_before
    size = payload.stat().st_size
    assert (home1 / "dl" / payload.name).read_bytes() == payload.read_bytes()
    print(
        f"\ncapped LAN: {size} bytes in {elapsed:.2f} s = {size / elapsed / 1e6:.2f} MB/s (cap {rate / 1e6:.1f} MB/s)"
    )
    assert sent >= size
    assert size / elapsed <= rate * 1.1, "the transfer went faster than the link allows: the cap was not in place"
    assert size / elapsed >= rate * 0.3, "far below the cap: something else is limiting"


@pytest.mark.interop
def test_lsd_interoperates_with_libtorrent_both_ways(tmp_path, logs):
    require_tool("libtorrent")
    payload = _payload(tmp_path, 600_000)
    torrent = _torrent(payload)
    home0, home1 = _home(tmp_path, 0), _home(tmp_path, 1)
    lt_peer = [sys.executable, "-m", "tests.support.lt_lsd"]
    with Lan(2) as lan:
        # libtorrent seeds on host 0; torrentish finds it by LSD alone.
        seed_argv = [*lt_peer, "seed", torrent, payload.parent, PEER_PORT]
        with lan.process(0, "lt-seed", seed_argv, logs, env=_env(tmp_path, 0), cwd=ROOT) as lt_seed:
            wait_until(
                lambda: lt_seed.check_alive() or "seeding" in lt_seed.stdout_path.read_text(),
                30,
                "libtorrent to seed",
                lt_seed.report,
            )
            get_argv = [*TORRENTISH, "get", torrent, "-o", home1 / "dl", "--port", PEER_PORT, "-q"]
            with lan.process(1, "get", get_argv, logs, env=_env(tmp_path, 1), cwd=home1) as get:
                assert get.wait_exit(30) == 0, f"{get.report()}\n{lt_seed.report()}"
        assert (home1 / "dl" / payload.name).read_bytes() == payload.read_bytes()
        # torrentish shares on host 0; libtorrent on host 1 finds it by LSD alone.
        share_argv = [
            *TORRENTISH,
            "share",
            torrent,
            "--data",
            payload.parent,
            "--no-tracker",
            "--no-qr",
            "--port",
            PEER_PORT,
        ]
        with lan.process(0, "share", share_argv, logs, env=_env(tmp_path, 0), cwd=home0) as share:
            wait_until(
                lambda: share.check_alive() or "Ctrl-C to stop" in share.stdout_path.read_text(),
                30,
                "share to start",
                share.report,
            )
            (home1 / "lt").mkdir()
            leech_argv = [*lt_peer, "leech", torrent, home1 / "lt", PEER_PORT + 1]
            with lan.process(1, "lt-leech", leech_argv, logs, env=_env(tmp_path, 1), cwd=ROOT) as lt_leech:
                status = lt_leech.wait_exit(30)
                assert status == 0, f"{lt_leech.report()}\n{share.report()}"
    assert (home1 / "lt" / payload.name).read_bytes() == payload.read_bytes()


# Run in each host: LSD on eth0 with its IPv4 addresses hidden, so only ff15::efc0:988f can carry it.
_IPV6_ONLY_LSD = """
import random, sys, trio
from dataclasses import replace
from types import SimpleNamespace
from torrentish.services.discovery.interfaces import lan_interfaces
from torrentish.services.discovery.lsd import LocalDiscovery
from torrentish.events import EventBus

async def main(port):
    client = SimpleNamespace(rng=random.Random(port), port=port, events=EventBus())
    torrent = SimpleNamespace(info_hash=bytes(range(20)), added=[])
    torrent.add_peers = torrent.added.extend
    lsd = LocalDiscovery(client, [replace(i, ipv4=()) for i in lan_interfaces()])
    async with trio.open_nursery() as nursery:
        await nursery.start(lsd.run)
        lsd.add(torrent)
        with trio.move_on_after(10):
            while not torrent.added:
                await trio.sleep(0.02)
        print("learned", *(f"[{host}]:{port}" for host, port in torrent.added), flush=True)
        await trio.sleep(2.5)  # stay for our repeat at +2 s, which the other host may still need
        nursery.cancel_scope.cancel()

trio.run(main, int(sys.argv[1]))
"""


def test_lsd_works_over_ipv6(tmp_path, logs):
    with Lan(2) as lan:
        peers = [
            lan.process(
                i, f"lsd6-{i}", [sys.executable, "-c", _IPV6_ONLY_LSD, 1000 + i], logs, env=_env(tmp_path, i), cwd=ROOT
            )
            for i in range(2)
        ]
        with peers[0], peers[1]:
            for proc in peers:
                assert proc.wait_exit(20) == 0, proc.report()
    assert peers[0].stdout_path.read_text().strip() == f"learned [{lan.ipv6[1]}]:1001"
    assert peers[1].stdout_path.read_text().strip() == f"learned [{lan.ipv6[0]}]:1000"
