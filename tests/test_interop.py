"""torrentish against real BitTorrent clients (aria2, libtorrent) and against itself.

Every case runs for a single-file torrent and for a multi-file torrent (zero-length file, file
smaller than a piece), both with a short last piece, and demands byte-identical results.

The CLI contract these tests drive (``python -m torrentish``):
- ``create PATH -o OUT.torrent [--tracker URL] [--piece-length SIZE]``
- ``seed TORRENT --data PATH --port N [--peer HOST:PORT]...``: serves until SIGINT/SIGTERM, exit 0.
  PATH is the file itself (single-file), the directory itself (multi-file), or its parent.
- ``get TORRENT -o DIR --port N [--peer HOST:PORT]... [--seed]``: downloads into DIR/<name>, dials
  every --peer, exits 0 once complete and verified.

torrentish has no tracker client yet, so aria2 (which cannot dial an address it is given) learns a
torrentish peer from the test tracker's static list (``tracker.add_peer``), and torrentish is given
the reference clients' addresses with --peer. Except in the torrentish-to-torrentish case, torrents
come from tests.support.data (not from torrentish), so an interop failure is an engine failure.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from tests.support import ManagedProcess, require_tool, wait_until
from tests.support.data import PAYLOAD_KINDS, Payload, assert_identical, make_payload, make_torrent
from tests.support.matrix import payload_cells

DEADLINE = 60  # seconds for one test's transfers (a few MiB; reference clients need 1-3 s)
LOCALHOST = "127.0.0.1"

pytestmark = [pytest.mark.interop, pytest.mark.timeout(DEADLINE * 2)]


# ----- running torrentish ---------------------------------------------------------------------------

def torrentish(label: str, args: list, logs: Path) -> ManagedProcess:
    """``python -m torrentish ARGS`` with output in ``logs/<label>.out|err``; always ended on exit.

    It runs in the test's directory (the parent of ``logs``), so torrentish is imported from the
    installed package and nothing it writes by accident lands in the repository.
    """
    env = dict(os.environ, PYTHONUNBUFFERED="1", NO_COLOR="1")
    return ManagedProcess(label, [sys.executable, "-m", "torrentish", *args], logs, env=env,
                          cwd=logs.parent)


def peer_args(*ports: int) -> list[str]:
    return [arg for port in ports for arg in ("--peer", f"{LOCALHOST}:{port}")]


def torrentish_seed(torrent: Path, data: Path, port: int, logs: Path,
                    label: str = "torrentish-seed") -> ManagedProcess:
    return torrentish(label, ["seed", torrent, "--data", data, "--port", port], logs)


def torrentish_get(torrent: Path, out_dir: Path, port: int, peers: list[int], logs: Path,
                   label: str = "torrentish-get") -> ManagedProcess:
    return torrentish(label, ["get", torrent, "-o", out_dir, "--port", port, *peer_args(*peers)],
                      logs)


def expect_success(process: ManagedProcess, timeout: float) -> None:
    """Wait for a ``get`` to exit by itself, with status 0."""
    status = process.wait_exit(timeout)
    assert status == 0, f"{process.label} exited with status {status}\n{process.report()}"


def remaining(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


@pytest.fixture
def payload(request, tmp_path: Path) -> Payload:
    return make_payload(request.param, tmp_path / "seed")


@pytest.fixture
def torrent(payload: Payload, tmp_path: Path, tracker) -> tuple[Path, bytes]:
    """The reference-made torrent of ``payload`` (announcing to the test tracker) and its hash."""
    path = tmp_path / f"{payload.name}.torrent"
    return path, make_torrent(payload, path, announce=tracker.announce_url)


parametrize_payload = pytest.mark.parametrize("payload", PAYLOAD_KINDS, indirect=True)


# ----- torrentish alone -------------------------------------------------------------------------------

@parametrize_payload
def test_torrentish_to_torrentish(payload, tmp_path, logs, tracker, port_factory) -> None:
    torrent = tmp_path / "made-by-torrentish.torrent"
    with torrentish("torrentish-create", ["create", payload.root, "-o", torrent, "--tracker",
                                          tracker.announce_url, "--piece-length", "32768"],
                    logs) as create:
        expect_success(create, DEADLINE)
    seed_port, get_port = port_factory(), port_factory()
    # --data given as the parent directory here; the other tests give the file/directory itself.
    with torrentish_seed(torrent, payload.parent, seed_port, logs) as seed:
        seed.wait_listening(seed_port, DEADLINE)
        with torrentish_get(torrent, tmp_path / "got", get_port, [seed_port], logs) as get:
            expect_success(get, DEADLINE)
        assert seed.stop() == 0, f"seed did not exit 0 on SIGTERM\n{seed.report()}"
    assert_identical(payload, tmp_path / "got" / payload.name, "torrentish's download")


# ----- torrentish and aria2 ---------------------------------------------------------------------------

@payload_cells("aria2", "to")
def test_torrentish_seed_to_aria2(payload, torrent, tmp_path, logs, tracker, port_factory) -> None:
    require_tool("aria2c")
    from tests.support.aria2 import aria2_leech

    path, info_hash = torrent
    seed_port = port_factory()
    tracker.add_peer(info_hash, LOCALHOST, seed_port)   # aria2 finds torrentish only this way
    with torrentish_seed(path, payload.root, seed_port, logs) as seed:
        seed.wait_listening(seed_port, DEADLINE)
        with aria2_leech(path, tmp_path / "aria2", port_factory(), logs) as leech:
            leech.wait_complete(DEADLINE)
    assert_identical(payload, tmp_path / "aria2" / payload.name, "aria2's download")


@payload_cells("aria2", "from")
def test_aria2_seed_to_torrentish(payload, torrent, tmp_path, logs, tracker, port_factory) -> None:
    require_tool("aria2c")
    from tests.support.aria2 import aria2_seed

    path, info_hash = torrent
    with aria2_seed(path, payload.parent, port_factory(), logs) as seed:
        seed.wait_ready()
        # Learn aria2's address the way a tracker client would (it announces its --listen-port).
        peers = wait_until(lambda: tracker.peers(info_hash), DEADLINE, "aria2 to announce",
                           seed.report)
        assert peers == [(LOCALHOST, seed.port)]
        with torrentish_get(path, tmp_path / "got", port_factory(), [peers[0][1]], logs) as get:
            expect_success(get, DEADLINE)
    assert_identical(payload, tmp_path / "got" / payload.name, "torrentish's download")


# ----- torrentish and libtorrent ------------------------------------------------------------------------

@payload_cells("libtorrent", "to")
def test_torrentish_seed_to_libtorrent(payload, torrent, tmp_path, logs, port_factory) -> None:
    require_tool("libtorrent")
    from tests.support.lt import LtSession

    path, _ = torrent
    seed_port = port_factory()
    with torrentish_seed(path, payload.root, seed_port, logs) as seed:
        seed.wait_listening(seed_port, DEADLINE)
        with LtSession(logs / "lt.log", port=port_factory()) as session:
            handle = session.leech(path, tmp_path / "lt")
            session.connect_peer(handle, (LOCALHOST, seed_port))
            session.wait_seeding(handle, DEADLINE, on_poll=seed.check_alive)
    assert_identical(payload, tmp_path / "lt" / payload.name, "libtorrent's download")


@payload_cells("libtorrent", "from")
def test_libtorrent_seed_to_torrentish(payload, torrent, tmp_path, logs, port_factory) -> None:
    require_tool("libtorrent")
    from tests.support.lt import LtSession

    path, _ = torrent
    with LtSession(logs / "lt.log", port=port_factory()) as session:
        session.seed(path, payload.parent)
        with torrentish_get(path, tmp_path / "got", port_factory(), [session.port], logs) as get:
            expect_success(get, DEADLINE)
    assert_identical(payload, tmp_path / "got" / payload.name, "torrentish's download")


# ----- a mixed swarm ------------------------------------------------------------------------------------

@parametrize_payload
def test_swarm_torrentish_seed_three_client_leechers(payload, torrent, tmp_path, logs, tracker,
                                                     port_factory) -> None:
    """One torrentish seed; an aria2, a libtorrent and a torrentish leecher, all meshed together.

    aria2 learns everyone through the tracker (torrentish peers registered statically, libtorrent
    announces itself); libtorrent dials everyone; the torrentish leecher dials everyone.
    """
    require_tool("aria2c"), require_tool("libtorrent")
    from tests.support.aria2 import aria2_leech
    from tests.support.lt import LtSession

    path, info_hash = torrent
    seed_port, get_port, aria2_port, lt_port = (port_factory() for _ in range(4))
    tracker.add_peer(info_hash, LOCALHOST, seed_port)
    tracker.add_peer(info_hash, LOCALHOST, get_port)
    deadline = time.monotonic() + DEADLINE
    with torrentish_seed(path, payload.root, seed_port, logs) as seed:
        seed.wait_listening(seed_port, remaining(deadline))
        with LtSession(logs / "lt.log", port=lt_port) as session, \
                aria2_leech(path, tmp_path / "aria2", aria2_port, logs) as aria2:
            lt_handle = session.leech(path, tmp_path / "lt")  # announces: aria2 learns it
            aria2.wait_listening(aria2_port, remaining(deadline))
            with torrentish_get(path, tmp_path / "got", get_port,
                                [seed_port, lt_port, aria2_port], logs) as get:
                for port in (seed_port, get_port, aria2_port):
                    session.connect_peer(lt_handle, (LOCALHOST, port))
                # All three download concurrently; wait for each against the shared deadline.
                expect_success(get, remaining(deadline))
                aria2.wait_complete(remaining(deadline))
                session.wait_seeding(lt_handle, remaining(deadline),
                                     on_poll=seed.check_alive)
    assert_identical(payload, tmp_path / "got" / payload.name, "torrentish leecher's download")
    assert_identical(payload, tmp_path / "aria2" / payload.name, "aria2's download")
    assert_identical(payload, tmp_path / "lt" / payload.name, "libtorrent's download")

