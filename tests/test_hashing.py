"""Piece hashing against a straightforward single-threaded model."""

import hashlib
import random
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from torrentish.storage import hashing
from torrentish.errors import StorageError
from torrentish.storage.hashing import HashingCancelled, check_pieces, hash_pieces


def model_hashes(contents: list[bytes | None], lengths: list[int], piece_length: int) -> bytes:
    stream = b"".join(bytes(n) if c is None else c for c, n in zip(contents, lengths))
    return b"".join(
        hashlib.sha1(stream[i : i + piece_length]).digest() for i in range(0, len(stream), piece_length)
    )


def write_files(directory, sizes, seed=0, padding=()):
    """Files of random bytes; indices in ``padding`` become (None, size) pad entries."""
    rng = random.Random(seed)
    specs, contents = [], []
    for index, size in enumerate(sizes):
        if index in padding:
            specs.append((None, size))
            contents.append(None)
            continue
        data = rng.randbytes(size)
        path = directory / f"f{index}"
        path.write_bytes(data)
        specs.append((path, size))
        contents.append(data)
    return specs, contents


@pytest.mark.parametrize("workers", [1, 2, 5])
def test_hash_matches_model_across_files(tmp_path, workers):
    sizes = [100_000, 0, 7, 65536, 0, 123_457]
    specs, contents = write_files(tmp_path, sizes, padding={3})
    expected = model_hashes(contents, sizes, 32768)
    assert hash_pieces(specs, 32768, workers=workers) == expected
    assert check_pieces(specs, 32768, expected, workers=workers) == set(range(len(expected) // 20))


def test_small_run_and_read_chunks_do_not_change_results(tmp_path, monkeypatch):
    """Force many runs and many reads per piece (sub-piece chunks, runs of one piece)."""
    monkeypatch.setattr(hashing, "READ_CHUNK", 4096)
    monkeypatch.setattr(hashing, "_ZEROS", memoryview(bytes(4096)))
    monkeypatch.setattr(hashing, "RUN_BYTES", 1)
    sizes = [50_000, 3, 20_000]
    specs, contents = write_files(tmp_path, sizes, padding={1})
    assert hash_pieces(specs, 16384, workers=3) == model_hashes(contents, sizes, 16384)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 5000), min_size=1, max_size=6),
    st.integers(1, 3000),
    st.integers(1, 3),
    st.randoms(use_true_random=False),
)
def test_hash_random_layouts(tmp_path_factory, sizes, piece_length, workers, rng):
    directory = tmp_path_factory.mktemp("h")
    padding = {i for i in range(len(sizes)) if rng.random() < 0.2}
    specs, contents = write_files(directory, sizes, seed=rng.random(), padding=padding)
    assert hash_pieces(specs, piece_length, workers=workers) == model_hashes(contents, sizes, piece_length)


def test_empty_input_has_no_pieces(tmp_path):
    (tmp_path / "e").write_bytes(b"")
    assert hash_pieces([(tmp_path / "e", 0)], 16384) == b""
    assert check_pieces([(tmp_path / "e", 0)], 16384, b"") == set()


def test_check_reports_only_matching_pieces(tmp_path):
    sizes = [40_000, 30_000]
    specs, contents = write_files(tmp_path, sizes)
    expected = model_hashes(contents, sizes, 16384)  # 5 pieces; piece 2 spans both files
    data = bytearray(contents[1])
    data[20_000] ^= 1  # stream offset 60_000 -> piece 3
    (tmp_path / "f1").write_bytes(bytes(data))
    assert check_pieces(specs, 16384, expected) == {0, 1, 2, 4}
    assert check_pieces(specs, 16384, expected, pieces=[3, 4]) == {4}
    assert check_pieces(specs, 16384, expected, pieces=[]) == set()


def test_check_missing_and_short_files_fail_their_pieces(tmp_path):
    sizes = [40_000, 30_000, 20_000]
    specs, contents = write_files(tmp_path, sizes)
    expected = model_hashes(contents, sizes, 16384)  # pieces 0..5
    (tmp_path / "f0").unlink()
    (tmp_path / "f2").write_bytes(contents[2][:5000])  # short: stream 70_000..75_000 exists
    assert check_pieces(specs, 16384, expected) == {3}  # 49152..65535 lies in f1 only


def test_check_directory_in_place_of_file(tmp_path):
    specs, contents = write_files(tmp_path, [20_000])
    (tmp_path / "f0").unlink()
    (tmp_path / "f0").mkdir()
    assert check_pieces(specs, 16384, model_hashes(contents, [20_000], 16384)) == set()


def test_hash_raises_storage_error_for_missing_or_short_file(tmp_path):
    specs, _ = write_files(tmp_path, [20_000])
    with pytest.raises(StorageError, match="shorter"):
        hash_pieces([(specs[0][0], 30_000)], 16384)
    with pytest.raises(StorageError, match="cannot read"):
        hash_pieces([(tmp_path / "nope", 10)], 16384, workers=2)


def test_check_rejects_misuse(tmp_path):
    specs, _ = write_files(tmp_path, [20_000])
    with pytest.raises(ValueError):
        check_pieces(specs, 16384, b"\0" * 20)  # two pieces need 40 bytes
    with pytest.raises(ValueError):
        check_pieces(specs, 16384, b"\0" * 40, pieces=[2])


def test_progress_counts_every_byte(tmp_path):
    sizes = [100_000, 50_000]
    specs, contents = write_files(tmp_path, sizes)
    seen = []
    hash_pieces(specs, 16384, workers=2, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (150_000, 150_000)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    seen.clear()
    expected = model_hashes(contents, sizes, 16384)
    check_pieces(specs, 16384, expected, pieces=[0, 9], progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (16384 + 150_000 - 9 * 16384, 16384 + 150_000 - 9 * 16384)


def test_cancel_stops_hashing(tmp_path):
    specs, _ = write_files(tmp_path, [200_000])
    cancel = threading.Event()

    def progress(done, total):
        cancel.set()

    with pytest.raises(HashingCancelled):
        hash_pieces(specs, 16384, workers=2, progress=progress, cancel=cancel)


def test_runs_are_contiguous_and_bounded():
    assert list(hashing._runs([0, 1, 2, 3, 4, 7, 8, 10], 2)) == [
        range(0, 2), range(2, 4), range(4, 5), range(7, 9), range(10, 11)
    ]
    assert list(hashing._runs([], 5)) == []



class _Interrupt(BaseException):
    """Stands for the KeyboardInterrupt a Ctrl-C raises in the calling thread."""


def test_an_interrupt_while_v2_work_is_queued_leaves_the_rest_unhashed(tmp_path, monkeypatch):
    # Ctrl-C can land between two submits: what was queued by then must be dropped, not hashed
    # while the pool's exit waits (a 32 GiB file once kept `create` running to the end).
    from concurrent.futures import ThreadPoolExecutor

    from torrentish.storage import hashing_v2

    specs, _ = write_files(tmp_path, [64 * 16384])
    monkeypatch.setattr(hashing_v2, "RUN_BYTES", 16384)  # a run per piece: 64 units of work
    events = []  # the events the hasher makes: the first is the one that tells workers to leave

    class RecordedEvent(threading.Event):
        def __init__(self):
            super().__init__()
            events.append(self)

    monkeypatch.setattr(hashing_v2.threading, "Event", RecordedEvent)
    submitted, hashed = [], []
    real_submit = ThreadPoolExecutor.submit

    def submit(pool, fn, *args):
        if len(submitted) == 40:
            raise _Interrupt
        submitted.append(args)
        return real_submit(pool, fn, *args)

    def progress(done, total):
        hashed.append(done)
        if events:  # hold the worker until the calling thread has given up
            events[0].wait(timeout=5)

    monkeypatch.setattr(ThreadPoolExecutor, "submit", submit)
    with pytest.raises(_Interrupt):
        hashing_v2.file_piece_hashes([(p, n) for p, n in specs], 16384, workers=2, progress=progress)
    assert events and events[0].is_set()
    assert len(hashed) <= 2  # one piece per worker at most, of the 40 queued


def test_an_interrupt_while_v1_workers_start_stops_and_joins_them(tmp_path, monkeypatch):
    specs, _ = write_files(tmp_path, [64 * 16384])
    monkeypatch.setattr(hashing, "RUN_BYTES", 16384)
    real_start = threading.Thread.start
    started = []

    def start(thread):
        if started:
            raise _Interrupt  # the second start never happens
        started.append(thread)
        real_start(thread)

    monkeypatch.setattr(threading.Thread, "start", start)
    with pytest.raises(_Interrupt):
        hash_pieces(specs, 16384, workers=3)
    assert not started[0].is_alive()  # told to stop and joined, not left hashing behind us
