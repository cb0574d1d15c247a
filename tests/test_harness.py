"""The interop harness, proven with reference clients only (no torrentish code involved).

If these fail, the harness or the machine is broken, not torrentish: the tracker, the payloads and
torrents of tests.support.data, and the aria2/libtorrent drivers must let aria2 and libtorrent
exchange a torrent byte for byte in both directions.
"""

from __future__ import annotations

import socket
import struct
import urllib.request
from pathlib import Path
from urllib.parse import quote_from_bytes

import bencodepy
import pytest

from tests.support import require_tool
from tests.support.data import (PAYLOAD_KINDS, PIECE_LENGTH, assert_identical, info_hash_of,
                                make_payload, make_torrent)
from tests.support.tracker import Tracker

DEADLINE = 60  # seconds for one transfer of a few MiB (they take 1-3 s here)

HASH = bytes(range(20))


def announce(tracker: Tracker, peer_id: bytes, port: int, **params) -> dict:
    query = f"info_hash={quote_from_bytes(HASH)}&peer_id={quote_from_bytes(peer_id)}&port={port}"
    query += "".join(f"&{key}={value}" for key, value in params.items())
    with urllib.request.urlopen(f"{tracker.announce_url}?{query}", timeout=5) as response:
        return bencodepy.decode(response.read())


def compact_peers(blob: bytes) -> list[tuple[str, int]]:
    return [(socket.inet_ntoa(blob[i:i + 4]), struct.unpack(">H", blob[i + 4:i + 6])[0])
            for i in range(0, len(blob), 6)]


# ----- the tracker on its own ----------------------------------------------------------------------

def test_tracker_returns_other_peers_compact(tracker: Tracker) -> None:
    first = announce(tracker, b"A" * 20, 1111, left=0, event="started", compact=1)
    assert compact_peers(first[b"peers"]) == []
    assert first[b"interval"] == tracker.interval
    second = announce(tracker, b"B" * 20, 2222, left=100, compact=1)
    assert compact_peers(second[b"peers"]) == [("127.0.0.1", 1111)]
    assert (second[b"complete"], second[b"incomplete"]) == (1, 1)
    assert sorted(tracker.peers(HASH)) == [("127.0.0.1", 1111), ("127.0.0.1", 2222)]


def test_tracker_hands_out_static_peers_and_forgets_stopped_ones(tracker: Tracker) -> None:
    tracker.add_peer(HASH, "127.0.0.1", 3333)
    announce(tracker, b"A" * 20, 1111, left=0)
    reply = announce(tracker, b"B" * 20, 2222, left=5, compact=0)
    assert [(p[b"ip"], p[b"port"]) for p in reply[b"peers"]] == [(b"127.0.0.1", 1111),
                                                                  (b"127.0.0.1", 3333)]
    announce(tracker, b"A" * 20, 1111, left=0, event="stopped")
    assert tracker.peers(HASH) == [("127.0.0.1", 2222), ("127.0.0.1", 3333)]


def test_tracker_rejects_a_malformed_announce(tracker: Tracker) -> None:
    with urllib.request.urlopen(f"{tracker.announce_url}?info_hash=short&port=1", timeout=5) as r:
        assert b"failure reason" in bencodepy.decode(r.read())


# ----- payloads and torrents -----------------------------------------------------------------------

@pytest.mark.interop
@pytest.mark.parametrize("kind", PAYLOAD_KINDS)
def test_libtorrent_reads_our_torrents_as_we_meant_them(kind: str, tmp_path: Path) -> None:
    lt = require_tool("libtorrent")
    payload = make_payload(kind, tmp_path / "data")
    info_hash = make_torrent(payload, tmp_path / "t.torrent")
    info = lt.torrent_info(str(tmp_path / "t.torrent"))
    assert bytes.fromhex(str(info.info_hash())) == info_hash == info_hash_of(tmp_path / "t.torrent")
    assert info.piece_length() == PIECE_LENGTH
    assert info.total_size() == payload.total_length
    assert info.total_size() % PIECE_LENGTH != 0, "the last piece must be short"
    files = info.layout()
    assert [(files.file_path(i), files.file_size(i)) for i in range(files.num_files())] == [
        ("/".join(((payload.name,) if payload.multi_file else ()) + path), length)
        for path, length in payload.files]


# ----- reference client to reference client ------------------------------------------------------

@pytest.mark.interop
@pytest.mark.parametrize("kind", PAYLOAD_KINDS)
def test_aria2_seed_to_libtorrent_leech(kind, tmp_path, logs, tracker, port_factory) -> None:
    require_tool("aria2c"), require_tool("libtorrent")
    from tests.support.aria2 import aria2_seed
    from tests.support.lt import LtSession

    payload = make_payload(kind, tmp_path / "seed")
    torrent = tmp_path / "t.torrent"
    info_hash = make_torrent(payload, torrent, announce=tracker.announce_url)
    with aria2_seed(torrent, payload.parent, port_factory(), logs) as seed:
        seed.wait_ready()
        with LtSession(logs / "lt.log", port=port_factory()) as session:
            handle = session.leech(torrent, tmp_path / "lt")   # finds aria2 through the tracker
            session.wait_seeding(handle, DEADLINE, on_poll=seed.check_alive)
        assert ("127.0.0.1", seed.port) in tracker.peers(info_hash)
    assert_identical(payload, tmp_path / "lt" / payload.name, "libtorrent's download")


@pytest.mark.interop
@pytest.mark.parametrize("kind", PAYLOAD_KINDS)
def test_libtorrent_seed_to_aria2_leech(kind, tmp_path, logs, tracker, port_factory) -> None:
    require_tool("aria2c"), require_tool("libtorrent")
    from tests.support.aria2 import aria2_leech
    from tests.support.lt import LtSession

    payload = make_payload(kind, tmp_path / "seed")
    torrent = tmp_path / "t.torrent"
    make_torrent(payload, torrent, announce=tracker.announce_url)
    with LtSession(logs / "lt.log", port=port_factory()) as session:
        session.seed(torrent, payload.parent)               # announces its port to the tracker
        with aria2_leech(torrent, tmp_path / "aria2", port_factory(), logs) as leech:
            leech.wait_complete(DEADLINE)
    assert_identical(payload, tmp_path / "aria2" / payload.name, "aria2's download")
