"""Web seeds, the parts without a server: BEP 19 file URLs, range plans over files (and pad files),
reply checks (formats/webseed.py); the block cutter and the retry schedule (services/webseed)."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from torrentish.formats.bencoding import encode
from torrentish.formats.metainfo import parse_info
from torrentish.formats.webseed import Segment, check_range_reply, file_url, parse_content_range, plan_ranges


def single(name="film 1.mkv", length=100_000, piece=32768):
    n = -(-length // piece)
    return parse_info(encode({b"name": name.encode(), b"length": length, b"piece length": piece,
                              b"pieces": hashlib.sha1().digest() * n}))


def multi(files, piece=16384, name="album"):
    total = sum(length for _, length, _ in files)
    entries = []
    for path, length, pad in files:
        entry = {b"length": length, b"path": [p.encode() for p in path]}
        if pad:
            entry[b"attr"] = b"p"
        entries.append(entry)
    return parse_info(encode({b"name": name.encode(), b"files": entries, b"piece length": piece,
                              b"pieces": hashlib.sha1().digest() * -(-total // piece)}))


def test_single_file_urls():
    info = single()
    assert file_url(info, "http://h/x/film.mkv", 0) == "http://h/x/film.mkv"
    assert file_url(info, "http://h/x/", 0) == "http://h/x/film%201.mkv"


def test_multi_file_urls_encode_each_component():
    info = multi([(("cd 1", "a#b.flac"), 10, False), (("c.txt",), 5, False)])
    assert file_url(info, "http://h/pub", 0) == "http://h/pub/album/cd%201/a%23b.flac"
    assert file_url(info, "http://h/pub/", 1) == "http://h/pub/album/c.txt"


def test_a_stretch_over_files_is_one_range_per_file_and_pad_files_are_zeros():
    info = multi([(("a",), 10_000, False), ((".pad", "6384"), 6384, True), (("b",), 20_000, False)])
    segments = list(plan_ranges(info, "http://h/", 9_000, 10_000))
    assert segments == [
        Segment("http://h/album/a", 9_000, 1_000, 10_000),
        Segment("", 0, 6384, 6384, padding=True),
        Segment("http://h/album/b", 0, 2_616, 20_000),
    ]
    assert segments[0].range_header() == "bytes=9000-9999"


@given(st.integers(0, 99_999), st.integers(1, 100_000))
def test_plans_cover_exactly_the_stretch_asked(offset, length):
    info = multi([(("a",), 30_000, False), (("empty",), 0, False), (("b",), 70_000, False)])
    length = min(length, info.total_length - offset)
    segments = list(plan_ranges(info, "http://h/", offset, length))
    assert sum(s.length for s in segments) == length
    assert all(0 <= s.start and s.start + s.length <= s.file_length and s.length > 0 for s in segments)


def test_content_range_parsing():
    assert parse_content_range("bytes 0-99/1000") == (0, 99, 1000)
    assert parse_content_range("bytes 5-5/*") == (5, 5, None)
    assert parse_content_range("bytes 9-5/100") is None
    assert parse_content_range("bytes 0-100/100") is None
    assert parse_content_range("items 0-1/2") is None


@given(st.text(max_size=80))
def test_content_range_parsing_never_raises(text):
    parse_content_range(text)


def test_reply_checks():
    ok = {"content-range": "bytes 100-199/1000", "content-length": "100"}
    assert check_range_reply(206, ok, 100, 100, 1000) is None
    assert "got range" in check_range_reply(206, {"content-range": "bytes 100-149/1000"}, 100, 100, 1000)
    assert "says 2000" in check_range_reply(206, ok, 100, 100, 2000)
    assert "Content-Length" in check_range_reply(206, {**ok, "content-length": "99"}, 100, 100, 1000)
    assert "malformed" in check_range_reply(206, {**ok, "content-length": "²"}, 100, 100, 1000)
    assert "without Content-Range" in check_range_reply(206, {}, 100, 100, 1000)
    assert "ignores Range" in check_range_reply(200, {"content-length": "1000"}, 100, 100, 1000)
    assert check_range_reply(200, {"content-length": "1000"}, 0, 1000, 1000) is None  # the whole file
    assert check_range_reply(404, {}, 0, 10, 10) == "HTTP status 404"
    assert "shorter" in check_range_reply(416, {}, 0, 10, 10)
    assert "gzip" in check_range_reply(206, {**ok, "content-encoding": "gzip"}, 100, 100, 1000)


@given(st.integers(100, 599), st.dictionaries(st.sampled_from(["content-range", "content-length", "content-encoding"]),
                                              st.text(max_size=40)),
       st.integers(0, 10**6), st.integers(1, 10**6))
def test_reply_checks_never_raise_and_accept_only_the_range(status, headers, start, length):
    problem = check_range_reply(status, headers, start, length, start + length)
    if problem is None:
        assert status in (200, 206)
        if status == 206:
            assert parse_content_range(headers["content-range"])[:2] == (start, start + length - 1)


@given(st.lists(st.integers(1, 5000), min_size=1, max_size=30), st.binary(min_size=1, max_size=1))
def test_the_block_cutter_hands_on_whole_blocks_however_the_bytes_are_chunked(cuts, fill):
    from types import SimpleNamespace

    from torrentish.services.webseed.service import _BlockCutter

    run = [(3, 0, 4000), (3, 4000, 4000), (3, 8000, 1234)]
    data = bytes(range(256)) * 37 + fill * (9234 - 256 * 37)
    got = []
    torrent = SimpleNamespace(add_block=lambda worker, index, begin, block: got.append((index, begin, bytes(block))))
    cutter = _BlockCutter(torrent, object(), run)
    position = 0
    for cut in cuts * 10:
        if position >= len(data):
            break
        cutter.feed(data[position:position + cut])
        position += cut
    cutter.feed(data[position:])
    assert got == [(3, b, data[b:b + n]) for _, b, n in run]


async def test_failures_back_off_doubling_up_to_the_cap_then_drop_the_server(autojump_clock):
    """The retry schedule of services/webseed, in virtual time."""
    from types import SimpleNamespace

    import trio

    from torrentish import events as ev
    from torrentish.services.webseed.service import WebSeed, WebSeedSettings

    published = []
    torrent = SimpleNamespace(events=SimpleNamespace(publish=published.append))
    seed = WebSeed(torrent, "http://h/f", WebSeedSettings(retry_delay=1.0, max_retry_delay=5.0, max_failures=6))
    waits = []
    with trio.CancelScope() as scope:
        seed._scope = scope
        for _ in range(6):
            before = trio.current_time()
            await seed._failed("HTTP status 503")
            waits.append(trio.current_time() - before)
    assert waits[:5] == [1.0, 2.0, 4.0, 5.0, 5.0]  # the sixth failure drops it: no wait, cancelled
    assert seed.dropped is not None and "6 failures in a row" in seed.dropped
    assert [e.dropped for e in published if isinstance(e, ev.WebSeedFailed)] == [False] * 5 + [True]
