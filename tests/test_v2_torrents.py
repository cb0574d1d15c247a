"""v2 and hybrid torrents (BEP 52): create, load, verify, and agree with libtorrent both ways."""

from __future__ import annotations

import posixpath
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import require_tool
from tests.support.data import PIECE_LENGTH, make_payload
from torrentish.app.create import check_piece_length, create_torrent
from torrentish.app.verify import verify
from torrentish.errors import MetainfoError
from torrentish.formats import bencoding
from torrentish.formats.metainfo import load_torrent, parse_info, parse_torrent

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fixtures"))
import make_bad_torrents as gen  # noqa: E402  (the fixture generator doubles as a torrent builder)

KINDS = ("single", "multi")


def damage(path, offset: int = 0) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("version", ["v2", "hybrid"])
def test_create_then_verify_and_damage_is_found(tmp_path, kind, version):
    payload = make_payload(kind, tmp_path / "data")
    meta = parse_torrent(create_torrent(payload.root, piece_length=PIECE_LENGTH, version=version))
    info = meta.info
    assert info.kind == version and len(info.info_hash_v2) == 32
    assert info.has_v1 == (version == "hybrid")
    real = [f for f in info.files if not f.padding]
    assert [f.length for f in real] == [length for _, length in payload.files]
    assert all(f.offset % PIECE_LENGTH == 0 for f in real if f.length)  # BEP 52 alignment
    assert all((f.pieces_root is None) == (f.length == 0) for f in real)
    assert verify(info, payload.root, piece_layers=meta.piece_layers).complete
    target = payload.file_paths()[-1]
    damage(target, 40_000)
    result = verify(info, payload.root, piece_layers=meta.piece_layers)
    entry = real[-1]
    assert result.bad == [entry.offset // PIECE_LENGTH + 40_000 // PIECE_LENGTH]


def test_v2_pieces_need_their_layers_but_a_hybrid_has_sha1_too(tmp_path):
    payload = make_payload("single", tmp_path / "data")
    for version, complete in (("v2", False), ("hybrid", True)):
        info = parse_info(parse_torrent(create_torrent(payload.root, piece_length=PIECE_LENGTH, version=version)).info.raw)
        assert not info.piece_layers  # as from a magnet link
        assert verify(info, payload.root).complete is complete


def test_info_without_piece_layers_is_usable_and_the_torrent_is_not(tmp_path):
    payload = make_payload("multi", tmp_path / "data")
    data = create_torrent(payload.root, piece_length=PIECE_LENGTH, version="v2")
    top = bencoding.decode(data)
    info = parse_info(bencoding.encode(top[b"info"]), expected_hash=parse_torrent(data).info.info_hash_v2)
    assert info.has_v2 and not info.has_v1
    assert parse_info(bencoding.encode(top[b"info"]), expected_hash=info.info_hash_v2[:20]) == info
    del top[b"piece layers"]
    with pytest.raises(MetainfoError, match="'piece layers' is missing"):
        parse_torrent(bencoding.encode(top))
    with pytest.raises(MetainfoError, match="does not match the info hash"):
        parse_info(bencoding.encode(top[b"info"]), expected_hash=bytes(32))


def test_v2_piece_length_is_at_least_one_block():
    assert check_piece_length(16384, "v2") == 16384
    with pytest.raises(ValueError, match="for v2"):
        check_piece_length(8192, "v2")


def test_cli_create_kinds(tmp_path):
    payload = make_payload("single", tmp_path / "data")
    kinds = {}
    for flag in ("--v1", "--v2", "--hybrid", None):
        out = tmp_path / f"{flag}.torrent"
        command = [sys.executable, "-m", "torrentish", "create", str(payload.root), "-o", str(out)]
        done = subprocess.run(command + ([flag] if flag else []), capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        kinds[flag] = load_torrent(out).info.kind
        assert ("btmh:1220" in done.stdout) == (kinds[flag] != "v1")
    assert kinds == {"--v1": "v1", "--v2": "v2", "--hybrid": "hybrid", None: "hybrid"}
    both = subprocess.run([sys.executable, "-m", "torrentish", "create", str(payload.root), "--v1", "--v2"],
                          capture_output=True, text=True, timeout=60)
    assert both.returncode == 2 and "choose one of" in both.stderr
    info = subprocess.run([sys.executable, "-m", "torrentish", "info", str(tmp_path / "--v2.torrent")],
                          capture_output=True, text=True, timeout=60)
    assert info.returncode == 0 and re.search(r"v2 hash\s+[0-9a-f]{64}", info.stdout)
    check = subprocess.run([sys.executable, "-m", "torrentish", "verify", str(tmp_path / "--v2.torrent"), "-d",
                            str(payload.root)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0 and check.stdout.startswith("complete")


hostile_keys = st.text(alphabet=["a", ".", "/", "\\", "\0", "\n", ":", "C", "é"], min_size=0, max_size=4) | st.binary(max_size=3)
trees = st.recursive(
    st.just(gen.v2_leaf(100)), lambda children: st.dictionaries(hostile_keys, children, min_size=1, max_size=3),
    max_leaves=6,
)


@settings(max_examples=300)
@given(st.dictionaries(hostile_keys, trees, min_size=1, max_size=3))
def test_every_accepted_file_tree_path_stays_inside_the_download_directory(tree):
    data = gen.torrent(gen.v2_info(tree))  # files of 100 bytes: no piece layers needed
    try:
        meta = parse_torrent(data)
    except MetainfoError as e:
        assert "\n" not in str(e)
        return
    written = [f.path for f in meta.info.files if not f.padding]
    assert len(set(written)) == len(written)
    for path in written:
        assert posixpath.normpath(posixpath.join("/downloads", *path)).startswith("/downloads/dir")
        assert all(c not in ("", ".", "..") and not set(c) & set("/\\\0\n") for c in path)
    assert all(f.offset % gen.PIECE == 0 for f in meta.info.files if not f.padding and f.length)


# -- libtorrent ---------------------------------------------------------------------------------


def lt_create(lt, payload, flags) -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        maker = lt.create_torrent(lt.list_files(str(payload.root)), PIECE_LENGTH, flags=flags)
        lt.set_piece_hashes(maker, str(payload.parent))
        return lt.bencode(maker.generate())


@pytest.mark.interop
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("flavour", ["v2_only", "hybrid"])
def test_libtorrent_torrents_load_here_with_the_same_hashes_and_verify(tmp_path, kind, flavour):
    lt = require_tool("libtorrent")
    payload = make_payload(kind, tmp_path / "data")
    data = lt_create(lt, payload, lt.create_torrent.v2_only if flavour == "v2_only" else 0)
    hashes = lt.torrent_info(lt.bdecode(data)).info_hashes()
    meta = parse_torrent(data)
    assert meta.info.info_hash_v2 == hashes.v2.to_bytes()
    assert meta.info.has_v1 == hashes.has_v1() and (not hashes.has_v1() or meta.info.info_hash == hashes.v1.to_bytes())
    assert meta.info.num_pieces == lt.torrent_info(lt.bdecode(data)).num_pieces()
    assert verify(meta.info, payload.root, piece_layers=meta.piece_layers).complete
    if flavour == "v2_only":  # our v2 info dict is byte for byte libtorrent's
        ours = parse_torrent(create_torrent(payload.root, piece_length=PIECE_LENGTH, version="v2"))
        assert ours.info.info_hash_v2 == meta.info.info_hash_v2 and ours.piece_layers == meta.piece_layers
    damage(payload.file_paths()[0], 5)
    assert verify(meta.info, payload.root, piece_layers=meta.piece_layers).bad == [0]


@pytest.mark.interop
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("version", ["v2", "hybrid"])
def test_our_torrents_load_in_libtorrent_with_the_same_hashes_and_check(tmp_path, kind, version):
    lt = require_tool("libtorrent")
    from tests.support.lt import LtSession

    payload = make_payload(kind, tmp_path / "data")
    torrent = tmp_path / "ours.torrent"
    torrent.write_bytes(create_torrent(payload.root, piece_length=PIECE_LENGTH, version=version))
    ours = load_torrent(torrent).info
    theirs = lt.torrent_info(lt.bdecode(torrent.read_bytes()))
    assert theirs.info_hashes().v2.to_bytes() == ours.info_hash_v2
    assert theirs.info_hashes().has_v1() == ours.has_v1
    if ours.has_v1:
        assert theirs.info_hashes().v1.to_bytes() == ours.info_hash
    assert (theirs.num_pieces(), theirs.piece_length()) == (ours.num_pieces, ours.piece_length)
    with LtSession(tmp_path / "lt.log") as session:
        handle = session.seed(torrent, payload.parent, timeout=60)
        status = handle.status()
        assert status.progress == 1.0 and status.is_seeding


def test_a_hybrid_piece_must_match_both_its_sha1_and_its_merkle_hash(tmp_path):
    """A hybrid whose halves describe different data (a hostile creator) has no piece that passes."""
    import hashlib

    from torrentish.formats.metainfo import build_torrent
    from torrentish.formats.metainfo_v2 import build_info_v2
    from torrentish.formats.piece_hashes import PieceHashes

    honest = parse_torrent(create_torrent(make_payload("single", tmp_path / "a").root, piece_length=PIECE_LENGTH,
                                          version="hybrid"))
    info = honest.info
    data = make_payload("single", tmp_path / "a").root.read_bytes()
    other = bytes(b ^ 1 for b in data)  # same length, other bytes
    pieces = [other[i : i + PIECE_LENGTH] for i in range(0, len(other), PIECE_LENGTH)]
    v1_of_other = b"".join(hashlib.sha1(p).digest() for p in pieces)
    raw = build_info_v2(info.name, PIECE_LENGTH, [((), info.files[0].length, info.files[0].pieces_root)], False,
                        v1_pieces=v1_of_other)
    mixed = parse_torrent(build_torrent(raw, piece_layers=honest.piece_layers)).info
    checks = PieceHashes(mixed)
    for index in (0, len(pieces) - 1):
        mine = data[index * PIECE_LENGTH : (index + 1) * PIECE_LENGTH]
        assert PieceHashes(info).matches(index, mine)
        assert not checks.matches(index, mine)  # the merkle tree agrees, SHA-1 does not
        assert not checks.matches(index, pieces[index])  # SHA-1 agrees, the merkle tree does not


def test_hybrid_sha1_pieces_from_the_single_read_match_an_independent_check(tmp_path):
    """Empty files first, between and last: the pad bytes go where v2_layout puts the pad files."""
    from torrentish.storage.hashing import check_pieces

    root = tmp_path / "d"
    root.mkdir()
    for name, size in (("0-empty", 0), ("a", 40000), ("b-empty", 0), ("c", 100), ("d", 70000), ("e-empty", 0)):
        (root / name).write_bytes(bytes((i * 13 + size) % 256 for i in range(size)))
    info = parse_torrent(create_torrent(root, piece_length=16384, version="hybrid")).info
    specs = [(None if f.padding else root.joinpath(*f.path[1:]), f.length) for f in info.files]
    assert check_pieces(specs, info.piece_length, info.pieces) == set(range(info.num_pieces))
