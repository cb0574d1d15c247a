"""Torrents made by torrentish, libtorrent and mktorrent are interchangeable.

- ``torrentish create`` output loads in libtorrent with the same info hash, and libtorrent checks the
  data against it and seeds it.
- Torrents made by libtorrent (v1-only and hybrid v1+v2, which has BEP 47 pad files) and by mktorrent
  load in torrentish and verify the same data.
- For the same piece length, mktorrent and torrentish produce the same info dictionary (same info
  hash, same ``pieces`` byte for byte).

Payloads come from tests.support.data: a single file whose last piece and last block are short, and
a tree with a zero-length file between two others. A missing reference tool skips locally and fails
in CI (``require_tool``).
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from tests.support import require_tool
from tests.support.data import PAYLOAD_KINDS, PIECE_LENGTH, make_payload
from torrentish.formats.metainfo import load_torrent, parse_torrent
from torrentish.app.verify import verify

pytestmark = pytest.mark.interop


def torrentish_create(payload, out: Path, piece_length: int = PIECE_LENGTH) -> Path:
    """Make a torrent with the real command line, as a user would."""
    command = [sys.executable, "-m", "torrentish", "create", str(payload.root), "-o", str(out), "--v1",
               "--piece-length", str(piece_length), "--tracker", "http://127.0.0.1:1/announce"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return out


def mktorrent(payload, out: Path, piece_length: int = PIECE_LENGTH) -> Path:
    tool = require_tool("mktorrent")
    log2 = piece_length.bit_length() - 1
    assert 1 << log2 == piece_length
    command = [tool, "-l", str(log2), "-d", "-o", str(out), str(payload.root)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr + done.stdout
    return out


@pytest.mark.parametrize("kind", PAYLOAD_KINDS)
def test_libtorrent_loads_and_checks_a_torrentish_torrent(tmp_path, kind):
    lt = require_tool("libtorrent")
    from tests.support.lt import LtSession

    payload = make_payload(kind, tmp_path / "data")
    torrent = torrentish_create(payload, tmp_path / "ours.torrent")
    ours = load_torrent(torrent).info

    theirs = lt.torrent_info(lt.bdecode(torrent.read_bytes()))
    assert theirs.info_hashes().v1.to_bytes() == ours.info_hash
    assert (theirs.num_pieces(), theirs.piece_length(), theirs.total_size()) == (
        ours.num_pieces, ours.piece_length, ours.total_length)

    with LtSession(tmp_path / "lt.log") as session:
        handle = session.seed(torrent, payload.parent, timeout=60)
        status = handle.status()
        assert status.progress == 1.0 and status.is_seeding
        assert status.num_pieces == ours.num_pieces


@pytest.mark.parametrize("kind", PAYLOAD_KINDS)
@pytest.mark.parametrize("flavour", ["v1_only", "hybrid"])
def test_torrentish_verifies_a_libtorrent_torrent(tmp_path, kind, flavour):
    lt = require_tool("libtorrent")
    payload = make_payload(kind, tmp_path / "data")
    flags = lt.create_torrent.v1_only if flavour == "v1_only" else 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        maker = lt.create_torrent(lt.list_files(str(payload.root)), PIECE_LENGTH, flags=flags)
        lt.set_piece_hashes(maker, str(payload.parent))
        data = lt.bencode(maker.generate())
    expected_hash = lt.torrent_info(lt.bdecode(data)).info_hashes().v1.to_bytes()

    info = parse_torrent(data).info
    assert info.info_hash == expected_hash
    if flavour == "hybrid" and kind == "multi":
        assert any(f.padding for f in info.files)  # BEP 47 pad files: hashed as zeros
    real_files = [f.length for f in info.files if not f.padding]
    assert sorted(real_files) == sorted(length for _, length in payload.files)
    result = verify(info, payload.root)
    assert result.complete, (result.bad, result.missing_files)

    damaged = payload.file_paths()[-1]
    with open(damaged, "r+b") as f:
        f.write(b"\xde\xad")
    assert not verify(info, payload.root).complete


@pytest.mark.parametrize("kind", PAYLOAD_KINDS)
def test_torrentish_verifies_a_mktorrent_torrent_and_matches_its_info(tmp_path, kind):
    payload = make_payload(kind, tmp_path / "data")
    theirs = load_torrent(mktorrent(payload, tmp_path / "mk.torrent")).info
    assert verify(theirs, payload.root).complete
    if kind == "multi":
        assert [f.length for f in theirs.files] == [length for _, length in payload.files]

    ours = load_torrent(torrentish_create(payload, tmp_path / "ours.torrent")).info
    assert ours.pieces == theirs.pieces  # byte for byte
    assert ours.info_hash == theirs.info_hash  # the whole info dictionary agrees


def test_pieces_equal_mktorrent_for_several_piece_lengths(tmp_path):
    payload = make_payload("single", tmp_path / "data")
    for piece_length in (32 * 1024, 256 * 1024, 1024 * 1024):  # mktorrent's minimum is 32 KiB
        theirs = load_torrent(mktorrent(payload, tmp_path / f"mk-{piece_length}.torrent", piece_length)).info
        ours = load_torrent(torrentish_create(payload, tmp_path / f"ours-{piece_length}.torrent",
                                              piece_length)).info
        assert ours.pieces == theirs.pieces, piece_length
