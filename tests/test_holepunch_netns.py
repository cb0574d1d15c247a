"""Holepunching (BEP 55) through real NATs: two leechers, each behind its own masquerading router
namespace, and a seed on the WAN connected to both (tests/support/nat_pair.py builds the network;
without root it skips, in CI it fails).

The first leecher knows the second one's public address (as a tracker would tell it) but cannot
dial it: the second router lets nothing in that its leecher did not ask for. Its failed dial sends
a rendezvous through the seed, the seed sends connect to both, both open uTP at once, and the two
leechers trade pieces. When the second router picks a fresh port for every mapping (symmetric NAT)
the punch fails, and both downloads still complete through the seed."""

from __future__ import annotations

import json
import os
import random
import sys
from pathlib import Path

import pytest

from tests.support import wait_until
from tests.support.nat_pair import ROUTER, SEED, NatPair, require_nat_pair
from torrentish.app.create import create_torrent

ROOT = Path(__file__).resolve().parent.parent
TORRENTISH = [sys.executable, "-m", "torrentish"]
PORT = 6881
SIZE = 2_000_000
COMMON = ["--port", PORT, "--transport", "utp", "--no-lsd", "--no-port-mapping", "--json"]

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _nat_pair():
    require_nat_pair()


def _env(tmp_path: Path, who: str) -> dict:
    return dict(os.environ, PYTHONPATH=str(ROOT), TORRENTISH_STATE_DIR=str(tmp_path / f"state-{who}"))


def _events(stdout: Path) -> list[dict]:
    try:
        text = stdout.read_text()
    except OSError:
        return []
    return [json.loads(line) for line in text.splitlines() if line.startswith("{") and line.endswith("}")]


def _connected(stdout: Path, address: str) -> bool:
    return any(e["event"] == "peer_connected" and e["address"].startswith(address) for e in _events(stdout))


@pytest.mark.parametrize("symmetric", [False, True], ids=["port-keeping-nat", "symmetric-nat"])
def test_two_leechers_behind_nats_meet_through_the_seed(tmp_path, logs, symmetric):
    payload = tmp_path / "data.bin"
    payload.write_bytes(random.Random(5).randbytes(SIZE // 2 if symmetric else SIZE))
    torrent = tmp_path / "data.torrent"
    torrent.write_bytes(create_torrent(payload, piece_length=32768))
    with NatPair(symmetric=symmetric) as lab:
        # Slow enough that the leechers are still missing pieces when they meet, and (symmetric)
        # that the first is still running when its punch gives up (7 s of SYNs). No PEX: the
        # second leecher must not hear of the first, or it would dial it, and two peers dialing
        # each other at once open both NATs without help.
        seed_argv = [*TORRENTISH, "seed", torrent, "--data", payload, "--max-up", "100KiB/s" if symmetric else "250KiB/s", "--no-pex", *COMMON]
        with lab.process("wan", "seed", seed_argv, logs, env=_env(tmp_path, "seed")) as seed:
            second_argv = [*TORRENTISH, "get", torrent, "-o", tmp_path / "two", "--peer", f"{SEED}:{PORT}", *COMMON]
            with lab.process("home2", "two", second_argv, logs, env=_env(tmp_path, "two")) as two:
                wait_until(lambda: (two.check_alive(), _connected(seed.stdout_path, ROUTER[2]))[1], 30,
                           "the second leecher at the seed", seed.report)
                first_argv = [*TORRENTISH, "get", torrent, "-o", tmp_path / "one", "--peer", f"{SEED}:{PORT}",
                              "--peer", f"{ROUTER[2]}:{PORT}", *COMMON]
                with lab.process("home1", "one", first_argv, logs, env=_env(tmp_path, "one")) as one:
                    assert one.wait_exit(60) == 0, one.report()
                    assert two.wait_exit(60) == 0, two.report()
        for who in ("one", "two"):
            assert (tmp_path / who / payload.name).read_bytes() == payload.read_bytes()
        one_events, two_events, seed_events = (_events(p.stdout_path) for p in (one, two, seed))
        punches = [e for e in one_events + two_events if e["event"] == "holepunch"]
        assert any(e["stage"] == "rendezvous" and e["address"] == f"{ROUTER[2]}:{PORT}"
                   for e in one_events if e["event"] == "holepunch"), punches
        assert any(e["event"] == "holepunch" and e["stage"] == "relayed" for e in seed_events), seed.report()
        # The target is told to connect; the initiator is too, but may find the target's SYN
        # (through the hole its own failed dial left) already connected it.
        assert any(e["stage"] == "connect" for e in two_events if e["event"] == "holepunch"), punches
        # The seed downloads nothing: what a leecher uploaded, the other leecher took.
        moved = sum(e["uploaded"] for e in one_events + two_events if e["event"] == "summary")
        if symmetric:
            assert any(e["stage"] == "failed" for e in punches), punches
            assert not any(e["stage"] == "connected" for e in punches), punches
            assert moved == 0
        else:
            assert any(e["stage"] == "connected" for e in punches), punches
            assert any(e["event"] == "peer_connected" and e["transport"] == "utp"
                       and e["address"].split(":")[0] == ROUTER[2] for e in one_events), punches
            assert moved > 0
