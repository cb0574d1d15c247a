"""torrentish.formats.metainfo: parsing, validation rules, exact info hashes, building, reference clients."""

from __future__ import annotations

import hashlib
import posixpath
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import require_tool
from torrentish.formats import bencoding, metainfo
from torrentish.errors import MetainfoError
from torrentish.formats.metainfo import build_info, build_torrent, load_torrent, parse_info, parse_torrent

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
sys.path.insert(0, str(FIXTURES))
import make_bad_torrents as gen  # noqa: E402  (the fixture generator doubles as a torrent builder)

PIECE = 16384


def sha1(data: bytes) -> bytes:
    return hashlib.sha1(data).digest()


# -- what a valid torrent gives ----------------------------------------------------------------


def test_single_file_torrent():
    meta = parse_torrent(gen.GOOD["single"])
    info = meta.info
    assert (info.name, info.piece_length, info.multi_file, info.private) == ("file.bin", PIECE, False, False)
    assert info.files == (metainfo.FileEntry(("file.bin",), 40000, 0),)
    assert (info.total_length, info.num_pieces) == (40000, 3)
    assert info.piece_hash(2) == gen.hashes(3)[40:60]
    with pytest.raises(IndexError):
        info.piece_hash(3)
    assert meta.announce == "http://tracker.example/announce"
    assert meta.trackers() == (("http://tracker.example/announce",),)
    assert (meta.announce_list, meta.url_list, meta.comment) == ((), (), None)
    assert (meta.created_by, meta.creation_date) == (None, None)


def test_multi_file_torrent_paths_start_with_the_name_and_offsets_add_up():
    meta = parse_torrent(gen.GOOD["multi"])
    assert meta.info.multi_file
    assert [(f.path, f.length, f.offset) for f in meta.info.files] == [
        (("dir", "a.bin"), 20000, 0),
        (("dir", "sub", "b.bin"), 20000, 20000),
    ]
    assert (meta.comment, meta.created_by, meta.creation_date) == ("two files", "make_bad_torrents", 1700000000)


def test_geometry_matches_the_files():
    geometry = parse_torrent(gen.GOOD["multi"]).info.geometry()
    assert (geometry.piece_length, geometry.total_length, geometry.num_pieces) == (PIECE, 40000, 3)
    assert list(geometry.file_lengths) == [20000, 20000]


def test_trackers_url_list_private_and_utf8_name():
    meta = parse_torrent(gen.GOOD["trackers_private"])
    assert meta.info.private
    assert meta.info.name == "café.bin"  # from name.utf-8; 'name' itself is Latin-1
    assert meta.trackers() == (("http://a.example/announce", "http://b.example/announce"), ("udp://c.example:80",))
    assert meta.url_list == ("http://seed.example/file.bin",)


def test_pad_files_are_marked_and_may_share_a_path():
    files = parse_torrent(gen.GOOD["pad_files"]).info.files
    assert [f.padding for f in files] == [False, True, False, True, False]
    assert files[1].path == files[3].path == ("dir", ".pad", "6384")
    assert [f.offset for f in files] == [0, 10000, 16384, 26384, 32768]


def test_unsorted_info_keys_keep_their_real_hash():
    raw = gen.benc(gen.Pairs([("pieces", gen.hashes(1)), ("name", "x"), ("piece length", PIECE), ("length", 5)]))
    data = b"d4:info" + raw + b"8:announce9:http://t/e"  # top-level keys unsorted too
    meta = parse_torrent(data)
    assert meta.info.raw == raw
    assert meta.info.info_hash == sha1(raw)
    assert meta.info.info_hash != sha1(bencoding.encode(bencoding.decode(raw)))  # canonical form differs
    assert parse_torrent(gen.GOOD["unsorted_keys"]).info.name == "unsorted"


def _info(**changes) -> dict:
    return gen.single_info(**changes)


def _parse(info: dict, **top) -> metainfo.Metainfo:
    return parse_torrent(gen.torrent(info, **top))


def test_name_utf8_and_path_utf8_win_only_when_valid():
    assert _parse(_info(**{"name.utf-8": b"\xff", "name": "plain"})).info.name == "plain"
    assert _parse(_info(**{"name.utf-8": 7, "name": "plain"})).info.name == "plain"
    files = [{"length": 40000, "path": [b"\xe9t\xe9"], "path.utf-8": ["été"]}]
    assert _parse(gen.multi_info() | {"files": files}).info.files[0].path == ("dir", "été")
    files = [{"length": 40000, "path": [b"\xe9t\xe9"], "path.utf-8": [b"\xe9"]}]
    assert _parse(gen.multi_info() | {"files": files}).info.files[0].path == ("dir", "\ufffdt\ufffd")


def test_text_fields_are_decoded_with_replacement():
    meta = _parse(_info(name=b"bad\xffname"), comment=b"\xfe")
    assert meta.info.name == "bad\ufffdname" and meta.comment == "\ufffd"


def test_trackers_are_deduplicated_and_empty_entries_dropped():
    tiers = [["http://a/", "http://b/", "http://a/"], [], ["", "http://b/"], ["http://c/"]]
    meta = _parse(_info(), announce_list=tiers, url_list=["", "http://w/", "http://w/"])
    assert meta.announce_list == (("http://a/", "http://b/"), ("http://c/",))
    assert meta.url_list == ("http://w/",)
    assert _parse(_info(), announce="", url_list="").trackers() == ()
    assert _parse(_info(), announce_list=[[]]).trackers() == (("http://tracker.example/announce",),)


def test_private_is_any_non_zero_integer():
    assert not _parse(_info(private=0)).info.private
    assert _parse(_info(private=2)).info.private


def test_unknown_keys_are_ignored():
    meta = _parse(_info(source="x", **{"x-extra": [1, {"y": 2}]}), httpseeds=["http://h/"])
    assert meta.info.name == "file.bin"


@pytest.mark.parametrize("piece_length", [1024, 16384, 1 << 28])
def test_piece_length_bounds_are_inclusive(piece_length):
    total = 3 * piece_length - 1
    info = _parse(_info(piece_length=piece_length, length=total)).info
    assert info.num_pieces == 3


def test_last_piece_may_be_short_but_pieces_must_cover_everything():
    assert _parse(_info(length=2 * PIECE + 1)).info.num_pieces == 3
    with pytest.raises(MetainfoError, match="has 3 hashes, but 32768 bytes"):
        _parse(_info(length=2 * PIECE))


def test_empty_files_are_allowed_when_something_has_data():
    info = _parse(gen.multi_info([(["empty"], 0), (["a"], 40000), (["z", "empty"], 0)])).info
    assert [(f.length, f.offset) for f in info.files] == [(0, 0), (40000, 0), (0, 40000)]


def test_file_count_is_limited(monkeypatch):
    monkeypatch.setattr(metainfo, "MAX_FILES", 2)
    with pytest.raises(MetainfoError, match="3 entries, more than 2"):
        _parse(gen.multi_info([(["a"], 1), (["b"], 1), (["c"], 1)]))


def test_file_and_directory_of_the_same_name_in_different_places_is_fine():
    layout = [(["a", "b"], 20000), (["b", "a"], 20000), (["a", "c", "b"], 1)]
    info = _parse(gen.multi_info(layout, pieces=gen.hashes(3))).info
    assert len(info.files) == 3


# -- parse_info and load_torrent ---------------------------------------------------------------


def test_parse_info_checks_the_expected_hash_first():
    raw = bencoding.encode(_info())
    assert parse_info(raw, sha1(raw)).info_hash == sha1(raw)
    with pytest.raises(MetainfoError, match="does not match the info hash"):
        parse_info(raw, b"\x00" * 20)
    with pytest.raises(MetainfoError, match="info dictionary: invalid bencoding"):
        parse_info(raw + b"x")


def test_load_torrent(tmp_path):
    path = tmp_path / "ok.torrent"
    path.write_bytes(gen.GOOD["multi"])
    assert load_torrent(path).info.name == "dir"
    assert load_torrent(str(path)).info.name == "dir"


def test_load_torrent_errors_name_the_file(tmp_path):
    with pytest.raises(MetainfoError, match="cannot read .*missing.torrent.*No such file"):
        load_torrent(tmp_path / "missing.torrent")
    with pytest.raises(MetainfoError, match="cannot read"):
        load_torrent(tmp_path)
    bad = tmp_path / "bad.torrent"
    bad.write_bytes(b"i1e")
    with pytest.raises(MetainfoError, match="bad.torrent.*must be a dictionary"):
        load_torrent(bad)


def test_load_torrent_refuses_oversized_files_without_reading_them(tmp_path):
    huge = tmp_path / "huge.torrent"
    with open(huge, "wb") as f:
        f.truncate(bencoding.TORRENT_LIMITS.max_size + 1)  # sparse: costs no disk
    with pytest.raises(MetainfoError, match="is larger than 33554432 bytes"):
        load_torrent(huge)


# -- building ----------------------------------------------------------------------------------


def test_build_and_parse_roundtrip():
    raw = build_info("multi", PIECE, gen.hashes(3), [(("a",), 20000), (("s", "b"), 20000)], None, private=True)
    data = build_torrent(
        raw,
        announce_list=[["http://a/", "http://b/"], "http://c/"],
        url_list="http://w/",
        comment="hello",
        created_by="torrentish",
        creation_date=1700000000,
    )
    assert bencoding.encode(bencoding.decode(data)) == data  # canonical
    meta = parse_torrent(data)
    assert meta.info.raw == raw and meta.info.private
    assert [f.path for f in meta.info.files] == [("multi", "a"), ("multi", "s", "b")]
    assert meta.announce == "http://a/"
    assert meta.trackers() == (("http://a/", "http://b/"), ("http://c/",))
    assert (meta.url_list, meta.comment) == (("http://w/",), "hello")
    assert (meta.created_by, meta.creation_date) == ("torrentish", 1700000000)


def test_build_torrent_keeps_a_non_canonical_info_dict_byte_for_byte():
    raw = gen.benc(gen.Pairs([("pieces", gen.hashes(1)), ("name", "x"), ("piece length", PIECE), ("length", 5)]))
    built = build_torrent(raw, announce_list=["http://t/"], url_list=["http://w/"])
    assert raw in built
    assert parse_torrent(built).info.info_hash == sha1(raw)


def test_single_tracker_writes_no_announce_list():
    data = build_torrent(build_info("x", PIECE, gen.hashes(1), None, 5), ["http://t/"])
    assert b"announce-list" not in data and parse_torrent(data).trackers() == (("http://t/",),)
    assert parse_torrent(build_torrent(build_info("x", PIECE, gen.hashes(1), None, 5))).trackers() == ()


@pytest.mark.parametrize(
    "args, message",
    [
        (("../x", PIECE, b"\0" * 20, None, 5), "contains the character '/'"),
        (("x", 1000, b"\0" * 20, None, 5), "power of two"),
        (("x", PIECE, b"\0" * 40, None, 5), "has 2 hashes"),
        (("x", PIECE, b"\0" * 20, [(("a",), 5)], 5), "not both"),
        (("x", PIECE, b"\0" * 20, [(("a", ".."), 5)], None), "may not be '.' or '..'"),
    ],
)
def test_build_info_refuses_what_parse_would(args, message):
    with pytest.raises(MetainfoError, match=message):
        build_info(*args)


# -- reference clients -------------------------------------------------------------------------


def _payload(root: Path) -> Path:
    (root / "d" / "sub").mkdir(parents=True)
    (root / "d" / "a.bin").write_bytes(bytes(range(256)) * 150)
    (root / "d" / "sub" / "b.bin").write_bytes(b"b" * 5000)
    (root / "d" / "empty").write_bytes(b"")
    (root / "d" / "c.bin").write_bytes(b"c" * 40000)
    return root / "d"


@pytest.mark.interop
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torrent_info.files(): the plainest view
@pytest.mark.parametrize("v1_only", [True, False])
def test_libtorrent_made_torrent_has_the_hash_libtorrent_reports(tmp_path, v1_only):
    lt = require_tool("libtorrent")
    payload = _payload(tmp_path)
    flags = lt.create_torrent.v1_only if v1_only else 0  # hybrid torrents carry BEP 47 pad files
    t = lt.create_torrent(lt.list_files(str(payload)), PIECE, flags)
    t.add_tracker("http://t.example/announce")
    t.add_url_seed("http://seed.example/")
    t.set_priv(True)
    lt.set_piece_hashes(t, str(tmp_path))
    data = lt.bencode(t.generate())
    meta = parse_torrent(data)
    reference = lt.torrent_info(data)
    assert meta.info.info_hash.hex() == str(reference.info_hashes().v1)
    assert meta.info.num_pieces == reference.num_pieces()
    assert meta.info.total_length == reference.total_size()
    assert meta.info.private and meta.url_list == ("http://seed.example/",)
    assert any(f.padding for f in meta.info.files) is not v1_only
    files = reference.files()
    ours = [("/".join(f.path), f.length) for f in meta.info.files]
    assert ours == [(files.file_path(i), files.file_size(i)) for i in range(files.num_files())]


@pytest.mark.interop
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torrent_info.trackers()
def test_libtorrent_accepts_what_we_build(tmp_path):
    lt = require_tool("libtorrent")
    raw = build_info("multi", PIECE, gen.hashes(3), [(("a",), 20000), (("s", "b"), 20000)], None, private=True)
    data = build_torrent(raw, [["http://a/", "http://b/"], ["http://c/"]], ["http://w/"], "c", "me", 1)
    reference = lt.torrent_info(data)
    assert str(reference.info_hashes().v1) == sha1(raw).hex()
    assert reference.priv() and reference.num_pieces() == 3
    assert [(t.url, t.tier) for t in reference.trackers()] == [("http://a/", 0), ("http://b/", 0), ("http://c/", 1)]


@pytest.mark.interop
def test_mktorrent_made_torrent_parses(tmp_path):
    mktorrent = require_tool("mktorrent")
    lt = require_tool("libtorrent")
    payload = _payload(tmp_path)
    out = tmp_path / "m.torrent"
    subprocess.run(
        [mktorrent, "-a", "http://a/", "-a", "http://b/,http://c/", "-w", "http://w/", "-p", "-l", "15",
         "-o", str(out), str(payload)],
        check=True,
        capture_output=True,
    )
    meta = load_torrent(out)
    assert meta.info.info_hash.hex() == str(lt.torrent_info(str(out)).info_hashes().v1)
    assert meta.info.piece_length == 1 << 15 and meta.info.private
    assert meta.trackers() == (("http://a/",), ("http://b/", "http://c/"))
    assert sorted("/".join(f.path) for f in meta.info.files) == ["d/a.bin", "d/c.bin", "d/empty", "d/sub/b.bin"]


# -- properties --------------------------------------------------------------------------------


def _parses_cleanly(data: bytes) -> metainfo.Metainfo | None:
    try:
        return parse_torrent(data)
    except MetainfoError as e:
        assert "\n" not in str(e) and "\r" not in str(e)
        return None


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_random_bytes_parse_cleanly(data):
    _parses_cleanly(data)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(gen.GOOD)), st.data())
def test_mutated_torrents_parse_cleanly(name, draw):
    data = bytearray(gen.GOOD[name])
    for _ in range(draw.draw(st.integers(1, 3))):
        if not data:
            break
        where = draw.draw(st.integers(0, len(data) - 1))
        action = draw.draw(st.sampled_from(["set", "insert", "delete", "truncate"]))
        byte = draw.draw(st.integers(0, 255) | st.sampled_from(b"0123456789ilde:-./\\"))
        if action == "set":
            data[where] = byte
        elif action == "insert":
            data.insert(where, byte)
        elif action == "delete":
            del data[where]
        else:
            del data[where:]
    meta = _parses_cleanly(bytes(data))
    if meta is not None:
        start, end = bencoding.value_span(bytes(data), b"info")
        raw = bytes(data[start:end])
        # the 20-byte id: SHA-1 for v1 and hybrid, SHA-256 cut to 20 bytes for v2-only (BEP 52)
        assert meta.info.info_hash == (sha1(raw) if meta.info.has_v1 else hashlib.sha256(raw).digest()[:20])
        assert meta.info.num_pieces == -(-meta.info.total_length // meta.info.piece_length)


hostile_components = st.lists(
    st.text(alphabet=["a", ".", "/", "\\", "\0", "\n", ":", "C", "é", " "], max_size=4)
    | st.binary(max_size=3),
    max_size=4,
)


@settings(max_examples=400)
@given(st.lists(hostile_components, min_size=1, max_size=4))
def test_every_accepted_path_stays_inside_the_download_directory(paths):
    files = [{"length": 1000, "path": p} for p in paths]
    info = gen.multi_info() | {"files": files, "pieces": gen.hashes(1)}
    meta = _parses_cleanly(gen.torrent(info))
    if meta is None:
        return
    written = [f.path for f in meta.info.files if not f.padding]
    assert len(set(written)) == len(written)
    for path in written:
        joined = posixpath.join("/downloads", *path)
        assert posixpath.normpath(joined).startswith("/downloads/dir/")
        assert all(c not in ("", ".", "..") and not set(c) & set("/\\\0\n") for c in path)
        assert not any(re.match("[A-Za-z]:", c) for c in path)
        assert not any(path[:n] in set(written) for n in range(1, len(path)))
