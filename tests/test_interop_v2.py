"""v2-only and hybrid torrents (BEP 52) transferred between torrentish and libtorrent, both ways.

Torrents come from libtorrent's create_torrent (so a failure here is an engine failure, not a
creator that agrees with itself); each case runs for a single-file and a multi-file payload (a
zero-length file, a file smaller than a piece) and demands byte-identical results. The v2 pieces
are checked against the merkle trees (formats/piece_hashes.py).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from tests.support import require_tool
from tests.support.data import PIECE_LENGTH, PAYLOAD_KINDS, assert_identical, make_payload
from tests.support.matrix import flavour_cells
from tests.test_interop import DEADLINE, LOCALHOST, expect_success, torrentish_get, torrentish_seed

pytestmark = [pytest.mark.interop, pytest.mark.timeout(DEADLINE * 2)]
FLAVOURS = ("v2_only", "hybrid")


def lt_torrent(payload, out: Path, flavour: str) -> Path:
    lt = require_tool("libtorrent")
    flags = lt.create_torrent.v2_only if flavour == "v2_only" else 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        maker = lt.create_torrent(lt.list_files(str(payload.root)), PIECE_LENGTH, flags=flags)
        lt.set_piece_hashes(maker, str(payload.parent))
    out.write_bytes(lt.bencode(maker.generate()))
    return out


@pytest.mark.parametrize("kind", PAYLOAD_KINDS)
@flavour_cells("libtorrent", "to")
def test_torrentish_seeds_v2_to_libtorrent(kind, flavour, tmp_path, logs, port_factory) -> None:
    from tests.support.lt import LtSession

    payload = make_payload(kind, tmp_path / "seed")
    torrent = lt_torrent(payload, tmp_path / "t.torrent", flavour)
    seed_port = port_factory()
    with torrentish_seed(torrent, payload.root, seed_port, logs) as seed:
        seed.wait_listening(seed_port, DEADLINE)
        with LtSession(logs / "lt.log", port=port_factory()) as session:
            handle = session.leech(torrent, tmp_path / "lt")
            session.connect_peer(handle, (LOCALHOST, seed_port))
            session.wait_seeding(handle, DEADLINE, on_poll=seed.check_alive)
    assert_identical(payload, tmp_path / "lt" / payload.name, "libtorrent's download")


@pytest.mark.parametrize("kind", PAYLOAD_KINDS)
@flavour_cells("libtorrent", "from")
def test_libtorrent_seeds_v2_to_torrentish(kind, flavour, tmp_path, logs, port_factory) -> None:
    from tests.support.lt import LtSession

    payload = make_payload(kind, tmp_path / "seed")
    torrent = lt_torrent(payload, tmp_path / "t.torrent", flavour)
    with LtSession(logs / "lt.log", port=port_factory()) as session:
        session.seed(torrent, payload.parent)
        with torrentish_get(torrent, tmp_path / "got", port_factory(), [session.port], logs) as get:
            expect_success(get, DEADLINE)
    assert_identical(payload, tmp_path / "got" / payload.name, "torrentish's download")


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_libtorrent_gets_a_v2_magnet_from_torrentish(flavour, tmp_path, logs, port_factory) -> None:
    """libtorrent has only the link: the info dict comes over BEP 9, the piece layers as HASHES."""
    lt = require_tool("libtorrent")
    from tests.support.lt import LtSession
    from torrentish.formats.magnet import make_magnet
    from torrentish.formats.metainfo import load_torrent

    payload = make_payload("multi", tmp_path / "seed")
    torrent = lt_torrent(payload, tmp_path / "t.torrent", flavour)
    info = load_torrent(torrent).info
    link = make_magnet(None, info.name, info_hash_v2=info.info_hash_v2)  # btmh only, for both kinds
    seed_port = port_factory()
    with torrentish_seed(torrent, payload.root, seed_port, logs) as seed:
        seed.wait_listening(seed_port, DEADLINE)
        with LtSession(logs / "lt.log", port=port_factory()) as session:
            params = lt.parse_magnet_uri(link)
            params.save_path = str(tmp_path / "lt")
            handle = session.session.add_torrent(params)
            session.handles.append(handle)
            session.connect_peer(handle, (LOCALHOST, seed_port))
            session.wait_seeding(handle, DEADLINE, on_poll=seed.check_alive)
    assert_identical(payload, tmp_path / "lt" / payload.name, "libtorrent's download")



@pytest.mark.parametrize("flavour, with_v1", [("v2_only", False), ("hybrid", False), ("hybrid", True)])
def test_torrentish_gets_a_v2_magnet_from_libtorrent(flavour, with_v1, tmp_path, logs, port_factory) -> None:
    """We have only the link: the info dict over BEP 9, then (v2-only) the piece layers as HASHES."""
    from tests.support.lt import LtSession
    from torrentish.formats.magnet import make_magnet
    from torrentish.formats.metainfo import load_torrent

    payload = make_payload("multi", tmp_path / "seed")
    torrent = lt_torrent(payload, tmp_path / "t.torrent", flavour)
    info = load_torrent(torrent).info
    with LtSession(logs / "lt.log", port=port_factory()) as session:
        session.seed(torrent, payload.parent)
        link = make_magnet(info.info_hash if with_v1 else None, info.name, peers=[(LOCALHOST, session.port)],
                           info_hash_v2=info.info_hash_v2)
        with torrentish_get(link, tmp_path / "got", port_factory(), [session.port], logs) as get:
            expect_success(get, DEADLINE)
    assert_identical(payload, tmp_path / "got" / payload.name, "torrentish's download")
