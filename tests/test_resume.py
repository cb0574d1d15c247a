"""Resuming: after kill -9, after Ctrl-C, from data already on disk, and from resume files that lie.

The crash tests drive the real command line (`python -m torrentish get/seed`) as subprocesses on
127.0.0.1; the others run the engine in process with FileStorage in a tmp dir. The promise under
test (engine/torrent.py): a piece reaches the disk only verified, is recorded only after a sync,
and at start every unrecorded piece with data on disk is hashed again - so a crash loses at most
the pieces in flight, and no resume record can make torrentish keep or serve bad data.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import sys
from pathlib import Path

import pytest
import trio

from tests.support import ManagedProcess, wait_until
from tests.support.fake_peer import LOCALHOST, EventLog, MiB, SampleTorrent, make_sample
from torrentish.formats import bencoding
from torrentish import events as ev
from torrentish.engine.client import open_client
from torrentish.storage.files import FileStorage
from torrentish.formats.units import parse_size

DEADLINE = 30  # seconds for one subprocess step (transfers of a few MiB take well under one)


# --------------------------------------------------------------------- the command line


def torrentish(label: str, args: list, logs: Path, state: Path) -> ManagedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1", NO_COLOR="1", TORRENTISH_STATE_DIR=str(state))
    return ManagedProcess(label, [sys.executable, "-m", "torrentish", *args], logs, env=env,
                          cwd=logs.parent)


def start_seed(label: str, sample: SampleTorrent, port: int, logs: Path) -> ManagedProcess:
    """A seed process with state of its own (its resume file must not reach the downloader)."""
    seed = torrentish(label, ["seed", sample.torrent_path, "--data", sample.content_path, "--port", port],
                      logs, logs.parent / f"{label}-state")
    seed.__enter__()
    seed.wait_listening(port, DEADLINE)
    return seed


def uploaded_by(seed: ManagedProcess) -> int:
    """Stop the seed and read 'uploaded X' from its closing summary line (0.1 MiB precision)."""
    status = seed.stop(signal.SIGTERM)
    assert status == 0, seed.report()
    match = re.search(r"uploaded ([\d.]+ [KMG]?i?B) to", seed.stdout_path.read_text())
    assert match, seed.report()
    return parse_size(match.group(1))


def good_pieces(sample: SampleTorrent, path: Path) -> set[int]:
    """The pieces of a single-file download that are on disk and correct."""
    info = sample.info
    good = set()
    with open(path, "rb") as f:
        for index in range(info.num_pieces):
            f.seek(index * info.piece_length)
            if hashlib.sha1(f.read(info.piece_length)).digest() == info.piece_hash(index):
                good.add(index)
    return good


def allocated(path: Path) -> int:
    try:
        return path.stat().st_blocks * 512
    except FileNotFoundError:
        return 0


def test_kill_9_loses_only_the_pieces_in_flight(tmp_path, port_factory, logs):
    sample = make_sample(tmp_path / "src", size=6 * MiB + 4321)
    total = sample.info.total_length
    state, out = tmp_path / "state", tmp_path / "dl"
    target = out / sample.info.name
    get_args = ["get", sample.torrent_path, "-o", out, "--quiet"]

    port = port_factory()
    seed = start_seed("seed-1", sample, port, logs)
    try:
        with torrentish("get-1", [*get_args, "--peer", f"{LOCALHOST}:{port}", "--max-down", "2MiB/s"],
                        logs, state) as first:
            wait_until(lambda: allocated(target) >= total // 2 or first.check_alive(), DEADLINE,
                       "half of the download on disk", first.report)
            first.popen.kill()
            first.popen.wait()
    finally:
        seed.stop()
    assert first.returncode == -signal.SIGKILL
    before = good_pieces(sample, target)
    assert len(before) >= sample.info.num_pieces // 3, "killed too early to tell anything"
    assert len(before) < sample.info.num_pieces, "killed too late to tell anything"

    port = port_factory()
    seed = start_seed("seed-2", sample, port, logs)
    try:
        with torrentish("get-2", [*get_args, "--peer", f"{LOCALHOST}:{port}"], logs, state) as second:
            assert second.wait_exit(DEADLINE) == 0, second.report()
    finally:
        fetched_again = uploaded_by(seed)
    assert target.read_bytes() == sample.data
    # What was verified before the kill is not fetched again: the second run needs the rest,
    # plus a little slack for duplicate endgame blocks and the summary's rounding.
    missing = sum(sample.info.geometry().piece_size(i) for i in set(range(sample.info.num_pieces)) - before)
    assert fetched_again <= missing + 4 * sample.info.piece_length + 0.05 * MiB, (fetched_again, missing)


def test_ctrl_c_saves_progress_and_the_same_command_resumes(tmp_path, port_factory, logs):
    sample = make_sample(tmp_path / "src", size=4 * MiB)
    state, out = tmp_path / "state", tmp_path / "dl"
    target = out / sample.info.name
    resume = state / "resume" / f"{sample.info_hash.hex()}.resume"
    port = port_factory()
    seed = start_seed("seed", sample, port, logs)
    get_args = ["get", sample.torrent_path, "-o", out, "--peer", f"{LOCALHOST}:{port}"]
    try:
        with torrentish("get-1", [*get_args, "--max-down", "1MiB/s"], logs, state) as first:
            wait_until(lambda: allocated(target) >= MiB or first.check_alive(), DEADLINE,
                       "some of the download on disk", first.report)
            first.popen.send_signal(signal.SIGINT)
            assert first.wait_exit(DEADLINE) == 130, first.report()
        assert "progress is saved" in first.stdout_path.read_text()
        assert resume.is_file()
        record = bencoding.decode(resume.read_bytes())
        assert record[b"info_hash"] == sample.info_hash
        assert any(record[b"pieces"]), "the resume record holds no piece"
        with torrentish("get-2", [*get_args, "--quiet"], logs, state) as second:
            assert second.wait_exit(DEADLINE) == 0, second.report()
    finally:
        seed.stop()
    assert target.read_bytes() == sample.data


# ----------------------------------------------------------------------------- in process


class CountingStorage(FileStorage):
    """A FileStorage that counts the bytes read from it (hashing at start reads every piece)."""

    bytes_read = 0

    async def read(self, offset: int, length: int) -> bytes:
        self.bytes_read += length
        return await super().read(offset, length)


async def run_once(sample: SampleTorrent, content: Path, resume: Path | None, *, peers=(),
                   timeout: float = 20):
    """Add the torrent over the data at `content`, wait for completion, stop (saving resume
    state). Returns (events, storage, torrent)."""
    storage = CountingStorage(content, sample.info, writable=True, resume_path=resume)
    async with open_client(host=LOCALHOST) as client:
        log = EventLog(client)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(log.collect)
            torrent = await client.add_torrent(sample.info, storage, peers=peers)
            reads_at_start = storage.bytes_read
            with trio.fail_after(timeout):
                await torrent.completed.wait()
            await log.wait_for(ev.Completed)
            nursery.cancel_scope.cancel()
    await storage.close()
    return log, reads_at_start, torrent


def checked(log: EventLog) -> int:
    """How many pieces were hashed at start (the last CheckingProgress says)."""
    progress = log.of(ev.CheckingProgress)
    return progress[-1].total if progress else 0


async def test_complete_data_seeds_after_one_check_then_without_rehashing(tmp_path):
    sample = make_sample(tmp_path / "src", files=[500_000, 0, 700_000])
    resume = tmp_path / "state" / "r.resume"
    log, reads, torrent = await run_once(sample, sample.content_path, resume)
    assert checked(log) == sample.info.num_pieces
    assert reads == sample.info.total_length
    assert torrent.have.complete() and torrent.verified_bytes == 0  # nothing downloaded
    assert resume.is_file()

    log, reads, torrent = await run_once(sample, sample.content_path, resume)
    assert checked(log) == 0 and reads == 0, "the resume record was not trusted"
    assert torrent.have.complete()
    states = [e.state for e in log.of(ev.StateChanged)]
    assert states[:1] == ["seeding"]


async def test_pieces_of_a_file_modified_after_the_record_are_checked_and_refetched(tmp_path):
    sample = make_sample(tmp_path / "src", files=[300_000, 400_000, 300_000])
    copy = tmp_path / "dl" / sample.info.name
    resume = tmp_path / "r.resume"
    async with open_client(host=LOCALHOST) as seed:
        await seed.add_torrent(sample.info, sample.seed_storage(), upload_only=True)
        peers = [(LOCALHOST, seed.port)]
        await run_once(sample, copy, resume, peers=peers)
        # Damage one piece inside the middle file; its mtime moves with the write.
        geometry = sample.info.geometry()
        middle = list(geometry.pieces_of_file(1))
        damaged = middle[len(middle) // 2]
        with open(copy / "f01.bin", "r+b") as f:
            f.seek(geometry.piece_offset(damaged) - geometry.file_offsets[1])
            f.write(bytes(sample.info.piece_length))
        log, _, torrent = await run_once(sample, copy, resume, peers=peers)
    assert checked(log) == len(middle)  # only the changed file's pieces
    assert [e.index for e in log.of(ev.PieceVerified)] == [damaged]
    assert (copy / "f01.bin").read_bytes() == (sample.content_path / "f01.bin").read_bytes()


async def test_a_record_claiming_pieces_that_were_never_written_is_not_believed(tmp_path):
    """A record that matches the files' size and mtime but claims pieces over a sparse hole."""
    sample = make_sample(tmp_path / "src", size=1 * MiB)
    copy = tmp_path / "dl" / sample.info.name
    resume = tmp_path / "r.resume"
    copy.parent.mkdir()
    half = sample.info.num_pieces // 2
    with open(copy, "wb") as f:  # the first half written, the rest a hole
        f.write(sample.data[: half * sample.info.piece_length])
        f.truncate(sample.info.total_length)
    async with FileStorage(copy, sample.info, resume_path=resume) as liar:
        await liar.save_completed(set(range(sample.info.num_pieces)))  # stats of the file as it is
    async with open_client(host=LOCALHOST) as seed:
        await seed.add_torrent(sample.info, sample.seed_storage(), upload_only=True)
        log, _, torrent = await run_once(sample, copy, resume, peers=[(LOCALHOST, seed.port)])
    assert copy.read_bytes() == sample.data
    assert {e.index for e in log.of(ev.PieceVerified)} == set(range(half, sample.info.num_pieces))


async def test_a_seed_with_a_damaged_file_serves_only_good_pieces(tmp_path):
    """Data changed behind the seed's back (after its record): the seed checks again and
    offers only what still hashes right; a leecher gets the rest elsewhere, and no bad byte."""
    sample = make_sample(tmp_path / "src", size=1 * MiB)
    resume = tmp_path / "seed.resume"
    await run_once(sample, sample.content_path, resume)  # records every piece
    with open(sample.content_path, "r+b") as f:
        f.seek(3 * sample.info.piece_length)
        f.write(b"\0" * 100)
    storage = FileStorage(sample.content_path, sample.info, writable=False, resume_path=resume)
    async with open_client(host=LOCALHOST) as damaged, open_client(host=LOCALHOST) as honest:
        served = await damaged.add_torrent(sample.info, storage, upload_only=True)
        assert 3 not in served.have and served.have.count() == sample.info.num_pieces - 1
        await honest.add_torrent(sample.info, sample.seed_storage(), upload_only=True)
        leecher = sample.empty_storage()
        async with open_client(host=LOCALHOST) as client:
            log = EventLog(client)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(log.collect)
                torrent = await client.add_torrent(
                    sample.info, leecher, peers=[(LOCALHOST, damaged.port), (LOCALHOST, honest.port)]
                )
                with trio.fail_after(20):
                    await torrent.completed.wait()
                nursery.cancel_scope.cancel()
        assert not log.of(ev.PieceFailed)
        assert await leecher.read(0, sample.info.total_length) == sample.data
    await storage.close()


def foreign_record(tmp_path: Path) -> bytes:
    other = make_sample(tmp_path / "other", size=100_000, seed=7)
    return bencoding.encode({
        "version": 1, "info_hash": other.info_hash, "pieces": b"\xff", "file_sizes": [100_000],
        "file_mtimes": [other.content_path.stat().st_mtime_ns],
    })


@pytest.mark.parametrize("kind", ["empty", "garbage", "truncated", "foreign", "oversized", "wrong-bits"])
async def test_corrupt_or_foreign_resume_file_is_ignored(tmp_path, kind):
    sample = make_sample(tmp_path / "src", size=600_000)
    resume = tmp_path / "r.resume"
    await run_once(sample, sample.content_path, resume)
    good = resume.read_bytes()
    record = bencoding.decode(good)
    bad = {
        "empty": b"",
        "garbage": os.urandom(200),
        "truncated": good[: len(good) // 2],
        "foreign": foreign_record(tmp_path) if kind == "foreign" else b"",
        "oversized": b"d" + b"1:a" * 2_000_000,
        "wrong-bits": bencoding.encode({**{k.decode(): v for k, v in record.items()}, "pieces": b"\xff" * 64}),
    }[kind]
    resume.write_bytes(bad)
    log, reads, torrent = await run_once(sample, sample.content_path, resume)
    assert checked(log) == sample.info.num_pieces  # the data was hashed instead
    assert torrent.have.complete()
    assert bencoding.decode(resume.read_bytes())[b"info_hash"] == sample.info_hash  # rewritten
