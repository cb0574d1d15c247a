"""FileStorage and MemoryStorage: layout, sparse files, link safety, the resume record."""

import hashlib
import os
import random
from pathlib import Path

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from torrentish.formats import bencoding
from torrentish.formats.geometry import PieceGeometry
from torrentish.errors import StorageError
from torrentish.formats.metainfo import FileEntry, Info, build_info, parse_info
from torrentish.storage import files as files_module
from torrentish.storage.content import resolve_content_path
from torrentish.storage.files import FileStorage
from torrentish.storage.memory import MemoryStorage

PIECE = 16384
LAYOUT = [(("a.bin",), 40_000), (("empty",), 0), (("sub", "deep", "b.bin"), 30_000), (("c",), 5)]


def make_info(layout=LAYOUT, name="multi", piece_length=PIECE, single=False) -> Info:
    total = sum(length for _, length in layout)
    pieces = bytes(20 * -(-total // piece_length))  # hashes are not checked by storage
    if single:
        return parse_info(build_info(name, piece_length, pieces, None, total))
    return parse_info(build_info(name, piece_length, pieces, list(layout), None))


def padded_info() -> Info:
    """A multi-file info with a BEP 47 pad file between two real files (built by hand)."""
    files = (
        FileEntry(("p", "x"), 10_000, 0),
        FileEntry(("p", ".pad", "6384"), 6384, 10_000, padding=True),
        FileEntry(("p", "y"), 20_000, 16384),
    )
    return Info("p", PIECE, bytes(40), files, False, True, b"", b"\1" * 20)


def stream(total: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(total)


async def write_all(storage, data: bytes, piece_length=PIECE):
    for start in range(0, len(data), piece_length):
        await storage.write(start, data[start : start + piece_length])


async def test_multi_file_layout_round_trip(tmp_path):
    info = make_info()
    data = stream(info.total_length)
    content = tmp_path / "multi"
    async with FileStorage(content, info) as storage:
        await write_all(storage, data)
        await storage.sync()
        assert await storage.read(0, len(data)) == data
        assert await storage.read(39_990, 20) == data[39_990:40_010]  # across a file boundary
    assert (content / "a.bin").read_bytes() == data[:40_000]
    assert (content / "empty").read_bytes() == b""
    assert (content / "sub" / "deep" / "b.bin").read_bytes() == data[40_000:70_000]
    assert (content / "c").read_bytes() == data[70_000:]


async def test_single_file_round_trip_and_reopen_read_only(tmp_path):
    info = make_info([(("one.bin",), 50_000)], name="one.bin", single=True)
    data = stream(50_000, 1)
    target = tmp_path / "dl" / "one.bin"
    async with FileStorage(target, info) as storage:
        await write_all(storage, data)
    assert target.read_bytes() == data
    async with FileStorage(target, info, writable=False) as storage:
        assert await storage.read(PIECE, 100) == data[PIECE : PIECE + 100]
        with pytest.raises(StorageError, match="read-only"):
            await storage.write(0, b"x")


async def test_files_are_sparse_and_has_data_sees_holes(tmp_path):
    info = make_info([(("big",), 10 * PIECE + 123)], name="big", single=True)
    async with FileStorage(tmp_path / "big", info) as storage:
        assert not await storage.has_data(0, PIECE)  # missing file
        await storage.write(3 * PIECE, b"\xff" * PIECE)
        assert (tmp_path / "big").stat().st_size == info.total_length
        assert await storage.has_data(3 * PIECE, PIECE)
        assert not await storage.has_data(0, PIECE)
        assert not await storage.has_data(3 * PIECE, PIECE + 1)  # runs into a hole
        assert await storage.read(0, 4) == b"\0" * 4  # holes read as zeros


async def test_longer_existing_file_is_cut_to_length_on_write(tmp_path):
    info = make_info([(("f",), 20_000)], name="f", single=True)
    (tmp_path / "f").write_bytes(b"z" * 90_000)
    async with FileStorage(tmp_path / "f", info) as storage:
        await storage.write(0, b"a" * PIECE)
    assert (tmp_path / "f").stat().st_size == 20_000


async def test_missing_and_short_files_are_storage_errors(tmp_path):
    info = make_info()
    async with FileStorage(tmp_path / "multi", info, writable=False) as storage:
        with pytest.raises(StorageError, match="a.bin"):
            await storage.read(0, 10)
        assert not await storage.has_data(0, 10)
    (tmp_path / "multi").mkdir()
    (tmp_path / "multi" / "a.bin").write_bytes(b"q" * 100)
    async with FileStorage(tmp_path / "multi", info, writable=False) as storage:
        assert await storage.read(0, 100) == b"q" * 100
        with pytest.raises(StorageError, match="shorter"):
            await storage.read(0, 200)
        assert not await storage.has_data(0, 200)


async def test_pad_files_are_never_written_and_read_as_zeros(tmp_path):
    info = padded_info()
    data = stream(info.total_length, 2)
    async with FileStorage(tmp_path / "p", info) as storage:
        await write_all(storage, data)
        got = await storage.read(0, info.total_length)
        assert await storage.has_data(0, info.total_length)
    assert got[:10_000] == data[:10_000] and got[16384:] == data[16384:]
    assert got[10_000:16384] == bytes(6384)
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == ["x", "y"]


@pytest.mark.parametrize("where", ["directory", "file"])
async def test_planted_symlink_is_never_followed(tmp_path, where):
    outside = tmp_path / "outside"
    outside.mkdir()
    content = tmp_path / "multi"
    content.mkdir()
    if where == "directory":
        (content / "sub").symlink_to(outside, target_is_directory=True)
        offset = 40_000  # sub/deep/b.bin
    else:
        (outside / "a.bin").write_bytes(b"secret")
        (content / "a.bin").symlink_to(outside / "a.bin")
        offset = 0
    async with FileStorage(content, make_info()) as storage:
        with pytest.raises(StorageError, match="symbolic link"):
            await storage.write(offset, b"evil" * 100)
    async with FileStorage(content, make_info(), writable=False) as storage:
        with pytest.raises(StorageError, match="symbolic link"):
            await storage.read(offset, 4)
    assert sorted(p.name for p in outside.iterdir()) == ([] if where == "directory" else ["a.bin"])
    if where == "file":
        assert (outside / "a.bin").read_bytes() == b"secret"


async def test_top_level_symlink_followed_only_when_read_only(tmp_path):
    info = make_info([(("f",), 100)], name="f", single=True)
    real = tmp_path / "real"
    real.write_bytes(b"r" * 100)
    link = tmp_path / "f"
    link.symlink_to(real)
    async with FileStorage(link, info, writable=False) as storage:
        assert await storage.read(0, 3) == b"rrr"
    async with FileStorage(link, info) as storage:
        with pytest.raises(StorageError, match="symbolic link"):
            await storage.write(0, b"w")
    assert real.read_bytes() == b"r" * 100


def test_unsafe_components_are_refused_even_past_metainfo(tmp_path):
    files = (FileEntry(("n", "..", "x"), 10, 0),)
    info = Info("n", PIECE, bytes(20), files, False, True, b"", b"\2" * 20)
    with pytest.raises(StorageError, match="unsafe"):
        FileStorage(tmp_path / "n", info)


async def test_sync_fsyncs_written_files_and_new_directories(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync

    def spy(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}") if os.path.exists("/proc/self/fd") else fd)
        return real_fsync(fd)

    info = make_info()
    async with FileStorage(tmp_path / "multi", info) as storage:
        await storage.write(45_000, b"b" * 100)  # sub/deep/b.bin only
        monkeypatch.setattr(os, "fsync", spy)
        await storage.sync()
        first = list(synced)
        synced.clear()
        await storage.sync()  # nothing written since
    assert str(tmp_path / "multi" / "sub" / "deep" / "b.bin") in first
    assert str(tmp_path / "multi" / "sub" / "deep") in first
    assert not any(p.endswith("a.bin") for p in first)
    assert synced == []


async def test_open_file_cache_is_bounded(tmp_path):
    layout = [((f"f{i}",), 1000) for i in range(12)]
    info = make_info(layout, piece_length=1024)
    data = stream(info.total_length, 3)
    async with FileStorage(tmp_path / "multi", info, max_open_files=3) as storage:
        async with trio.open_nursery() as nursery:
            for start in range(0, len(data), 1024):
                nursery.start_soon(storage.write, start, data[start : start + 1024])
        assert len(storage._files._fds) <= 3
        assert await storage.read(0, len(data)) == data
    assert storage._files._fds == {}


# -- the resume record ------------------------------------------------------------------------


async def test_resume_round_trip_and_atomic_write(tmp_path):
    info = make_info()
    resume = tmp_path / "state" / "x.resume"
    async with FileStorage(tmp_path / "multi", info, resume_path=resume) as storage:
        assert await storage.load_completed() == set()
        await write_all(storage, stream(info.total_length))
        await storage.sync()
        await storage.save_completed({0, 2, 4})
        assert await storage.load_completed() == {0, 2, 4}
        await storage.save_completed({0, 1, 2, 3, 4})
    assert os.listdir(resume.parent) == ["x.resume"]  # no temporary files left behind
    async with FileStorage(tmp_path / "multi", info, resume_path=resume) as storage:
        assert await storage.load_completed() == {0, 1, 2, 3, 4}


async def test_resume_drops_pieces_of_missing_shorter_or_modified_files(tmp_path):
    info = make_info()  # pieces: 0,1 in a.bin; 2 spans a.bin and b.bin; 3,4 in b.bin / c
    resume = tmp_path / "r"
    content = tmp_path / "multi"
    async with FileStorage(content, info, resume_path=resume) as storage:
        await write_all(storage, stream(info.total_length))
        await storage.save_completed(set(range(5)))
    (content / "c").unlink()
    async with FileStorage(content, info, resume_path=resume) as storage:
        assert await storage.load_completed() == {0, 1, 2, 3}
    b = content / "sub" / "deep" / "b.bin"
    os.truncate(b, 29_000)
    async with FileStorage(content, info, resume_path=resume) as storage:
        assert await storage.load_completed() == {0, 1}
    st = (content / "a.bin").stat()
    os.utime(content / "a.bin", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    async with FileStorage(content, info, resume_path=resume) as storage:
        assert await storage.load_completed() == set()


async def test_resume_of_another_torrent_or_garbage_is_empty(tmp_path):
    info, other = make_info(), make_info(name="other")
    resume = tmp_path / "r"
    async with FileStorage(tmp_path / "other", other, resume_path=resume) as storage:
        await write_all(storage, stream(other.total_length))
        await storage.save_completed({0, 1})
    async with FileStorage(tmp_path / "multi", info, resume_path=resume) as storage:
        assert await storage.load_completed() == set()
    for junk in [b"", b"garbage", b"d7:versioni1ee", b"l" * 100_000, os.urandom(300)]:
        resume.write_bytes(junk)
        async with FileStorage(tmp_path / "multi", info, resume_path=resume) as storage:
            assert await storage.load_completed() == set()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_mutated_resume_files_never_raise(tmp_path, data):
    info = make_info()
    content = tmp_path / "multi"
    resume = tmp_path / "mutated.resume"

    async def scenario():
        async with FileStorage(content, info, resume_path=tmp_path / "good.resume") as storage:
            if not content.exists():
                await write_all(storage, stream(info.total_length))
            await storage.save_completed({0, 3, 4})
        good = bytearray((tmp_path / "good.resume").read_bytes())
        for _ in range(data.draw(st.integers(1, 4))):
            position = data.draw(st.integers(0, len(good) - 1))
            action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
            if action == "flip":
                good[position] = data.draw(st.integers(0, 255))
            elif action == "cut":
                del good[position:]
                if not good:
                    break
            else:
                good[position:position] = data.draw(st.binary(min_size=1, max_size=8))
        resume.write_bytes(bytes(good))
        async with FileStorage(content, info, resume_path=resume) as storage:
            loaded = await storage.load_completed()
        assert loaded <= set(range(info.num_pieces))

    trio.run(scenario)


def test_resolve_content_path(tmp_path, monkeypatch):
    single = make_info([(("f.bin",), 10)], name="f.bin", single=True)
    multi = make_info()
    assert resolve_content_path(single, tmp_path) == tmp_path / "f.bin"  # neither exists yet
    (tmp_path / "f.bin").write_bytes(b"x" * 10)
    assert resolve_content_path(single, tmp_path) == tmp_path / "f.bin"
    assert resolve_content_path(single, tmp_path / "f.bin") == tmp_path / "f.bin"
    other = tmp_path / "renamed.bin"
    other.write_bytes(b"x" * 10)
    assert resolve_content_path(single, other) == other
    assert resolve_content_path(multi, tmp_path) == tmp_path  # a directory stands in for it
    (tmp_path / "multi").mkdir()
    assert resolve_content_path(multi, tmp_path) == tmp_path / "multi"
    monkeypatch.chdir(tmp_path)
    assert resolve_content_path(multi) == tmp_path / "multi"


def test_resume_limits_are_valid():
    info = make_info()
    storage = FileStorage(Path("/nonexistent"), info)
    assert storage._load_completed() == set()  # no resume path: nothing recorded
    assert files_module.RESUME_VERSION == 1
    assert bencoding.decode(bencoding.encode({"version": 1})) == {b"version": 1}


# -- MemoryStorage ------------------------------------------------------------------------------


async def test_memory_storage_round_trip_and_zeros():
    geometry = PieceGeometry(PIECE, [40_000, 0, 30_000])
    storage = MemoryStorage(geometry)
    assert await storage.read(0, 10) == bytes(10)
    assert not await storage.has_data(0, 10)
    data = stream(70_000, 4)
    await storage.write(PIECE - 5, data[PIECE - 5 : PIECE + 5])  # across a piece boundary
    assert await storage.read(PIECE - 5, 10) == data[PIECE - 5 : PIECE + 5]
    assert await storage.has_data(PIECE - 5, 10)
    assert not await storage.has_data(0, 3 * PIECE)
    await write_all(storage, data)
    assert await storage.read(0, 70_000) == data
    with pytest.raises(ValueError):
        await storage.read(69_999, 2)
    await storage.save_completed({1, 2})
    assert await storage.load_completed() == {1, 2}
    await storage.close()
    assert storage.closed


async def test_memory_storage_filled():
    geometry = PieceGeometry(PIECE, [50_000])
    data = stream(50_000, 5)
    storage = MemoryStorage.filled(geometry, data)
    assert await storage.read(0, 50_000) == data
    assert await storage.has_data(0, 50_000)
    assert hashlib.sha1(await storage.read(3 * PIECE, geometry.piece_size(3))).digest() == hashlib.sha1(
        data[3 * PIECE :]
    ).digest()
    with pytest.raises(ValueError):
        MemoryStorage.filled(geometry, data[:-1])
