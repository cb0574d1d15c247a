"""Port mapping through a real NAT: a seed on a home LAN behind a router namespace running
miniupnpd maps its port, a leecher on the WAN side dials the router's public address and
completes, and the mapping is gone once the seed exits. Once per protocol: UPnP IGD, NAT-PMP
and PCP (tests/support/nat.py builds the network; without root it skips, in CI it fails)."""

from __future__ import annotations

import json
import os
import random
import signal
import sys
from pathlib import Path

import pytest

from tests.support import wait_until
from tests.support.nat import HOME, WAN_ADDRESS, NatLab, require_nat_lab
from torrentish.app.create import create_torrent

ROOT = Path(__file__).resolve().parent.parent
TORRENTISH = [sys.executable, "-m", "torrentish"]
SEED_PORT = 6881

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _nat_lab():
    require_nat_lab()


def _env(tmp_path: Path, who: str) -> dict:
    return dict(os.environ, PYTHONPATH=str(ROOT), TORRENTISH_STATE_DIR=str(tmp_path / f"state-{who}"))


def _port_mapped(stdout: Path) -> dict | None:
    """The seed's first TCP `port_mapped` record, if it has written one."""
    try:
        lines = stdout.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        record = json.loads(line) if line.startswith("{") else {}
        if record.get("event") == "port_mapped" and record.get("transport") == "tcp":
            return record
    return None


def _events(stdout: Path) -> list[dict]:
    return [json.loads(line) for line in stdout.read_text().splitlines() if line.startswith("{")]


@pytest.mark.parametrize(
    "protocol, daemon, options",
    [
        # The default order: PCP finds no server (port unreachable), so UPnP it is.
        ("upnp", {"upnp": True, "natpmp": False}, []),
        ("natpmp", {"upnp": False, "natpmp": True}, ["--port-mapping-protocols", "natpmp"]),
        ("pcp", {"upnp": False, "natpmp": True}, []),
    ],
)
def test_a_seed_behind_nat_is_reachable_through_its_mapping_until_it_exits(tmp_path, logs, protocol, daemon,
                                                                           options):
    payload = tmp_path / "video.bin"
    payload.write_bytes(random.Random(7).randbytes(1_200_000))
    torrent = tmp_path / "video.torrent"
    torrent.write_bytes(create_torrent(payload, piece_length=65536))
    out = tmp_path / "downloads"
    with NatLab(tmp_path / "router", **daemon) as lab:
        seed_argv = [*TORRENTISH, "seed", torrent, "--data", payload, "--port", SEED_PORT, "--no-lsd",
                     "--port-mapping", *options, "--json"]
        with lab.process("home", "seed", seed_argv, logs, env=_env(tmp_path, "seed")) as seed:
            def mapped():
                seed.check_alive()
                return _port_mapped(seed.stdout_path)

            record = wait_until(mapped, 30, "the seed's port mapping", seed.report)
            assert record["protocol"] == protocol
            assert (record["external_address"], record["internal_port"]) == (WAN_ADDRESS, SEED_PORT)
            external = record["external_port"]
            wait_until(lambda: len(lab.forwarded_ports()) == 2, 10, "the UDP mapping too", seed.report)
            assert lab.forwarded_ports() == sorted([("tcp", external, f"{HOME}:{SEED_PORT}"),
                                                    ("udp", external, f"{HOME}:{SEED_PORT}")])

            get_argv = [*TORRENTISH, "get", torrent, "-o", out, "--peer", f"{WAN_ADDRESS}:{external}",
                        "--no-lsd", "--no-port-mapping", "-q"]
            with lab.process("wan", "get", get_argv, logs, env=_env(tmp_path, "get")) as get:
                assert get.wait_exit(60) == 0, get.report()
            assert (out / payload.name).read_bytes() == payload.read_bytes()

            seed.popen.send_signal(signal.SIGINT)
            assert seed.wait_exit(30) == 0, seed.report()
        # Removed by the seed on its way out, not expired: the lease asked for lasts two hours.
        assert lab.forwarded_ports() == []
        kinds = [e["event"] for e in _events(seed.stdout_path)]
        assert "port_mapping_failed" not in kinds[kinds.index("port_mapped"):], seed.report()
        if protocol == "upnp":
            failed = [e for e in _events(seed.stdout_path) if e["event"] == "port_mapping_failed"]
            assert [e["protocol"] for e in failed] == ["pcp"] and "unreachable" in failed[0]["reason"]
