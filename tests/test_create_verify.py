"""create_torrent and verify, checked against torrents and hashes made independently (tests.support.data)."""

import os

import pytest

from tests.support.data import (
    MULTI_FILE_LAYOUT,
    PIECE_LENGTH,
    make_multi_file,
    make_single_file,
    make_torrent,
    piece_hashes,
)
from torrentish.app import create as create_module
from torrentish.app.create import auto_piece_length, check_piece_length, create_torrent, scan_source
from torrentish.errors import StorageError
from torrentish.formats.metainfo import load_torrent, parse_torrent
from torrentish.app.verify import verify

KiB, MiB, GiB = 1024, 1024**2, 1024**3


@pytest.mark.parametrize(
    "total, expected",
    [(1, 16 * KiB), (10 * MiB, 16 * KiB), (100 * MiB, 64 * KiB), (GiB, MiB), (4 * GiB, 4 * MiB),
     (700 * MiB, 512 * KiB), (10**15, 16 * MiB)],
)
def test_auto_piece_length(total, expected):
    assert auto_piece_length(total) == expected


def test_auto_piece_length_aims_at_one_to_two_thousand_pieces():
    for total in range(20 * MiB, 30 * GiB, 97 * MiB):
        pieces = -(-total // auto_piece_length(total))
        assert 1000 < pieces <= 2000, total


@pytest.mark.parametrize("bad", [0, 1000, 3 * KiB, 512 * MiB])
def test_check_piece_length_rejects(bad):
    with pytest.raises(ValueError, match="power of two"):
        check_piece_length(bad)


def test_single_file_torrent(tmp_path):
    payload = make_single_file(tmp_path / "src")
    data = create_torrent(
        payload.root, piece_length=PIECE_LENGTH, trackers=["http://a/announce", "udp://b:1"],
        web_seeds=["http://w/"], private=True, comment="c", creation_date=1234,
    )
    meta = parse_torrent(data)
    info = meta.info
    assert (info.name, info.multi_file, info.private) == ("single.bin", False, True)
    assert info.total_length == payload.total_length
    assert info.pieces == piece_hashes(payload, PIECE_LENGTH)
    assert payload.total_length % PIECE_LENGTH  # the last piece is short
    assert meta.trackers() == (("http://a/announce",), ("udp://b:1",))
    assert meta.url_list == ("http://w/",)
    assert (meta.comment, meta.creation_date) == ("c", 1234)
    assert meta.created_by.startswith("torrentish/")


def test_same_info_hash_as_an_independent_builder(tmp_path):
    payload = make_multi_file(tmp_path / "src")
    reference = make_torrent(payload, tmp_path / "ref.torrent", PIECE_LENGTH)
    data = create_torrent(payload.root, piece_length=PIECE_LENGTH, created_by=None)
    assert parse_torrent(data).info.info_hash == reference
    assert b"creation date" not in data


def test_multi_file_order_and_skipped_entries(tmp_path):
    root = tmp_path / "tree"
    (root / "b" / "c").mkdir(parents=True)
    (root / "a b").mkdir()
    for rel, size in [("z", 10), ("b/c/deep", 20), ("a b/x", 30), ("b/empty", 0), (".hidden", 5)]:
        (root / rel).write_bytes(os.urandom(size))
    (root / "link").symlink_to(root / "z")
    (root / "dirlink").symlink_to(root / "b", target_is_directory=True)
    os.mkfifo(root / "fifo")
    skipped = []
    data = create_torrent(root, on_skip=lambda path, why: skipped.append((path.name, why)))
    info = parse_torrent(data).info
    assert [f.path for f in info.files] == [
        ("tree", ".hidden"), ("tree", "a b", "x"), ("tree", "b", "c", "deep"), ("tree", "b", "empty"),
        ("tree", "z"),
    ]
    assert sorted(skipped) == [("dirlink", "symbolic link"), ("fifo", "not a regular file"),
                               ("link", "symbolic link")]
    assert verify(info, root).complete


@pytest.mark.parametrize("layout", ["missing", "empty-dir", "only-empty-files", "empty-file"])
def test_nothing_to_share(tmp_path, layout):
    target = tmp_path / "t"
    if layout == "empty-dir":
        (target / "sub").mkdir(parents=True)
        (target / "sub" / "link").symlink_to(tmp_path)
    elif layout == "only-empty-files":
        target.mkdir()
        (target / "e").write_bytes(b"")
    elif layout == "empty-file":
        target.write_bytes(b"")
    with pytest.raises(StorageError, match="t"):
        create_torrent(target)


def test_non_utf8_file_name_is_refused(tmp_path):
    root = tmp_path / "r"
    root.mkdir()
    (root / os.fsdecode(b"bad\xff")).write_bytes(b"x")
    with pytest.raises(StorageError, match="UTF-8"):
        scan_source(root)


def test_file_changing_while_hashed_is_refused(tmp_path, monkeypatch):
    payload = make_single_file(tmp_path)
    real = create_module.hash_pieces

    def hash_then_touch(*args, **kwargs):
        result = real(*args, **kwargs)
        with open(payload.root, "ab") as f:
            f.write(b"more")
        return result

    monkeypatch.setattr(create_module, "hash_pieces", hash_then_touch)
    with pytest.raises(StorageError, match="changed while"):
        create_torrent(payload.root)


def test_invalid_piece_length_is_a_value_error(tmp_path):
    payload = make_single_file(tmp_path)
    with pytest.raises(ValueError):
        create_torrent(payload.root, piece_length=3000)


# -- verify -------------------------------------------------------------------------------------


@pytest.fixture
def multi(tmp_path):
    payload = make_multi_file(tmp_path / "src")
    make_torrent(payload, tmp_path / "m.torrent", PIECE_LENGTH)
    return payload, load_torrent(tmp_path / "m.torrent").info


def test_verify_complete_with_progress(multi):
    payload, info = multi
    seen = []
    result = verify(info, payload.root, progress=lambda done, total: seen.append((done, total)))
    assert result.complete and result.percent == 100.0
    assert result.good == frozenset(range(info.num_pieces)) and result.bad == []
    assert seen[-1] == (info.total_length, info.total_length)


def test_verify_finds_the_damaged_piece(multi):
    payload, info = multi
    target = payload.root / "sub" / "d.bin"
    offset_in_stream = info.files[3].offset + 100_000
    with open(target, "r+b") as f:
        f.seek(100_000)
        byte = f.read(1)
        f.seek(100_000)
        f.write(bytes([byte[0] ^ 0xFF]))
    result = verify(info, payload.root)
    assert result.bad == [offset_in_stream // PIECE_LENGTH]
    assert not result.complete and 0 < result.percent < 100


def test_verify_reports_missing_files(multi):
    payload, info = multi
    (payload.root / "a.bin").unlink()
    (payload.root / "b-empty.txt").unlink()
    result = verify(info, payload.root)
    assert result.missing_files == ["multi/a.bin", "multi/b-empty.txt"]
    a_pieces = set(info.geometry().pieces_of_file(0))
    assert set(result.bad) == a_pieces


def test_verify_missing_empty_file_alone_is_incomplete(multi):
    payload, info = multi
    (payload.root / "b-empty.txt").unlink()
    result = verify(info, payload.root)
    assert result.percent == 100.0 and result.bad == [] and not result.complete


def test_verify_nothing_there(tmp_path, multi):
    _, info = multi
    result = verify(info, tmp_path / "nowhere")
    assert result.percent == 0.0 and len(result.bad) == info.num_pieces
    assert len(result.missing_files) == len(MULTI_FILE_LAYOUT)


def test_created_torrent_verifies_its_own_data(tmp_path):
    payload = make_multi_file(tmp_path / "src")
    path = tmp_path / "own.torrent"
    path.write_bytes(create_torrent(payload.root, workers=2))
    assert verify(load_torrent(path).info, payload.root).complete
