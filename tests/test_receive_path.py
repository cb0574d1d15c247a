"""The zero-copy receive and send paths: the codec's own receive buffer and block views, reads
straight into it, gathered sends, reused piece buffers, and the storage's writer thread."""

import socket
import threading

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from torrentish.engine.pieces import PieceBuffer, PieceReadCache, SpareBuffers
from torrentish.errors import ProtocolError
from torrentish.net.base import send_buffers
from torrentish.storage.worker import StorageWorker
from torrentish.wire.codec import FIRST_OFFER, RECEIVE_SIZE, PeerCodec, encode, encode_handshake
from torrentish.wire.messages import Have, Piece, Request, Unchoke, make_reserved

OURS = make_reserved(extensions=True, fast=True)
NUM_PIECES, PIECE_LENGTH = 8, 65536
TOTAL = NUM_PIECES * PIECE_LENGTH


def connected(**kwargs) -> PeerCodec:
    c = PeerCodec(OURS, **kwargs)
    c.set_geometry(NUM_PIECES, PIECE_LENGTH, TOTAL)
    c.receive_data(encode_handshake(OURS, bytes(20), bytes(20)))
    c.events()
    return c


def feed(c: PeerCodec, data: bytes, size: int) -> int:
    """What a read of up to ``size`` bytes into the codec's buffer does; returns bytes taken."""
    with c.receive_buffer(size) as room:
        n = min(len(room), len(data))
        room[:n] = data[:n]
    c.received(n)
    return n


def feed_all(c: PeerCodec, data: bytes) -> None:
    while data:
        data = data[feed(c, data, RECEIVE_SIZE):]


messages = st.one_of(
    st.builds(Piece, st.integers(0, NUM_PIECES - 1), st.sampled_from([0, 16384, 49152]),
              st.binary(min_size=1, max_size=16384)),
    st.builds(Request, st.integers(0, NUM_PIECES - 1), st.sampled_from([0, 16384]),
              st.integers(1, 16384)),
    st.builds(Have, st.integers(0, NUM_PIECES - 1)),
    st.just(Unchoke()),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(messages, max_size=30), st.lists(st.integers(1, 40000), min_size=1, max_size=20),
       st.booleans())
def test_reading_into_the_buffer_gives_what_receive_data_gives(sent, read_sizes, views):
    data = b"".join(encode(m) for m in sent)
    c = connected(block_views=views)
    got, position, i = [], 0, 0
    while position < len(data):
        position += feed(c, data[position:], read_sizes[i % len(read_sizes)])
        i += 1
        # Views are only valid until the next read: compare now, as the engine copies now.
        got += [Piece(e.index, e.begin, bytes(e.block)) if isinstance(e, Piece) else e
                for e in c.events()]
    assert got == sent
    assert c.buffered == 0


def test_block_views_point_into_the_buffer_and_survive_compaction():
    c = connected(block_views=True)
    first = encode(Piece(0, 0, b"a" * 16384))
    partial = encode(Piece(0, 16384, b"b" * 16384))
    feed_all(c, first + partial[:100])
    [event] = c.events()
    assert type(event.block) is memoryview and event.block == b"a" * 16384
    kept = event.block  # a careless holder: the buffer must not be resized under it
    while c.buffered < len(partial):
        feed(c, partial[c.buffered:], RECEIVE_SIZE)
    [second] = c.events()
    assert second.block == b"b" * 16384
    assert len(kept) == 16384  # still a valid view (of bytes that may have been overwritten)


def test_without_views_blocks_are_bytes():
    c = connected()
    feed(c, encode(Piece(1, 0, b"xyz")), RECEIVE_SIZE)
    [event] = c.events()
    assert type(event.block) is bytes and event.block == b"xyz"


def test_the_offered_room_grows_only_for_reads_that_fill_it():
    c = connected()
    room = c.receive_buffer(RECEIVE_SIZE)
    assert len(room) == FIRST_OFFER
    room.release()
    c.received(FIRST_OFFER // 2)  # a short read: a slow peer keeps a small buffer
    with c.receive_buffer(RECEIVE_SIZE) as room:
        assert len(room) == FIRST_OFFER
        room[:] = bytes(FIRST_OFFER)  # keep-alives: a read that fills the room
    c.received(FIRST_OFFER)
    with c.receive_buffer(RECEIVE_SIZE) as room:
        assert len(room) == 2 * FIRST_OFFER
    c.received(0)


def test_received_more_than_offered_is_refused():
    c = connected()
    with c.receive_buffer(1000) as room:
        assert len(room) == 1000
    with pytest.raises(ValueError):
        c.received(1001)


def test_a_bad_request_on_the_fast_path_is_still_refused():
    for bad, reason in [(Request(NUM_PIECES, 0, 16384), "but the torrent has 8"),
                        (Request(0, PIECE_LENGTH - 100, 16384), "runs past the end"),
                        (Request(0, 0, 16385), "outside 1..16384")]:
        c = connected()
        feed(c, encode(bad), RECEIVE_SIZE)
        with pytest.raises(ProtocolError, match=reason):
            c.events()


# -- the network seam ------------------------------------------------------------------------------


async def test_gathered_sends_arrive_whole_and_in_order_through_partial_writes():
    a, b = socket.socketpair()
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)  # many partial sendmsg calls
    left, right = trio.SocketStream(trio.socket.from_stdlib_socket(a)), trio.SocketStream(
        trio.socket.from_stdlib_socket(b))
    chunks = [bytes([i]) * (1 + 997 * i % 20000) for i in range(60)]
    buffers = [memoryview(c) if i % 2 else c for i, c in enumerate(chunks)]
    received = bytearray()
    expected = b"".join(chunks)

    async def read():
        buffer = bytearray(50000)
        while len(received) < len(expected):
            with memoryview(buffer) as view:
                n = await right.socket.recv_into(view)
            assert n
            received.extend(buffer[:n])

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read)
        await send_buffers(left, buffers)
    assert received == expected
    await left.aclose()
    await right.aclose()


async def test_other_streams_get_one_joined_send():
    left, right = trio.testing.memory_stream_pair()
    await send_buffers(left, [b"abc", memoryview(b"defg"), bytearray(b"h")])
    assert await right.receive_some(100) == b"abcdefgh"


def test_a_chunk_is_parsed_where_it_is_and_an_idle_connection_keeps_no_buffer():
    c = connected(block_views=True)
    chunk = encode(Piece(0, 0, b"z" * 16384)) + encode(Have(2))
    c.receive_data(chunk)
    piece, have = c.events()
    assert piece.block.obj is chunk and have == Have(2)  # a view of the chunk itself: no copy
    # A burst grew the buffer; once it is parsed and reads are small again, it is let go.
    for _ in range(8):
        feed_all(c, encode(Have(1)) * (RECEIVE_SIZE // 9))
        assert len(c.events()) == RECEIVE_SIZE // 9
    for _ in range(8):
        feed(c, encode(Have(1)), RECEIVE_SIZE)
        c.events()
    assert len(c._buf) <= 4 * FIRST_OFFER


# -- piece buffers ---------------------------------------------------------------------------------


def test_written_piece_buffers_are_reused_only_at_full_length():
    spares = SpareBuffers(piece_length=32768, budget=65536)
    piece = PieceBuffer(0, 32768, 2, spares)
    assert piece.add(0, memoryview(b"a" * 16384), "p") and not piece.add(0, b"a" * 16384, "p")
    assert piece.add(16384, b"b" * 16384, "q") and piece.whole
    data = piece.data
    piece.recycle()
    again = PieceBuffer(1, 32768, 2, spares)
    assert again.data is data  # reused as it is: every byte is overwritten before hashing
    short = PieceBuffer(7, 1000, 1, spares)
    short.recycle()
    assert PieceBuffer(2, 32768, 2, spares).data is not short.data


async def test_an_evicted_read_buffer_is_reused_only_when_no_block_view_holds_it():
    reads = []

    def read_now(index, spare):
        reads.append(spare)
        out = spare if spare is not None else bytearray(1000)
        out[:] = bytes([index]) * 1000
        return out

    async def read(index):
        raise AssertionError("everything is in the page cache")

    cache = PieceReadCache(read, budget=2000, read_piece_now=read_now)
    first = cache.get_now(0)
    held = memoryview(first)[0:10]  # a block still waiting to be sent
    cache.get_now(1)
    cache.get_now(2)  # evicts piece 0, whose buffer a view still holds: not reused
    cache.get_now(3)  # evicts piece 1, unreferenced: reused for the next read
    assert all(spare is not first for spare in reads)
    assert bytes(held) == bytes([0]) * 10  # the held block was not overwritten
    cache.get_now(4)
    assert reads[-1] is not None
    assert cache.get_now(4) == bytes([4]) * 1000


# -- the storage's writer thread -------------------------------------------------------------------


async def test_the_writer_runs_jobs_in_order_in_one_thread_and_raises_their_errors():
    worker = StorageWorker("test writer")
    seen = []

    def job(i):
        seen.append((i, threading.current_thread().name))
        if i == 3:
            raise OSError("disk full")
        return i * 2

    async with trio.open_nursery() as nursery:
        for i in range(3):
            nursery.start_soon(worker.run, job, i)
    assert await worker.run(job, 10) == 20
    with pytest.raises(OSError, match="disk full"):
        await worker.run(job, 3)
    assert sorted(i for i, _ in seen) == [0, 1, 2, 3, 10]
    assert {name for _, name in seen} == {"test writer"}
    worker.stop()


async def test_a_cancelled_caller_waits_for_its_job():
    worker = StorageWorker("test writer")
    started, release, finished = threading.Event(), threading.Event(), []

    def slow():
        started.set()
        release.wait(5)
        finished.append(True)

    scope = trio.CancelScope()

    async def caller():
        with scope:
            await worker.run(slow)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(caller)
        await trio.to_thread.run_sync(started.wait)
        scope.cancel()
        await trio.sleep(0.05)
        assert not finished  # still waiting: the job owns its buffer until it is done
        release.set()
    assert finished == [True]
    worker.stop()


@settings(max_examples=100, deadline=None)
@given(st.permutations(range(20)), st.sampled_from([16384 * 20, 16384 * 19 + 1000]))
def test_a_piece_hashed_as_it_arrives_in_any_order_has_the_sha1_of_its_bytes(order, size):
    import hashlib
    import os

    data = os.urandom(size)
    blocks = [(begin, data[begin : begin + 16384]) for begin in range(0, size, 16384)]
    piece = PieceBuffer(3, size, len(blocks), hash_as_received=True)
    assert len(blocks) == 20
    for k in order:
        begin, block = blocks[k]
        assert piece.add(begin, memoryview(block), "p")
    assert piece.whole and bytes(piece.data) == data
    assert piece.digest() == hashlib.sha1(data).digest()


def test_a_piece_not_hashed_as_it_arrives_has_no_digest_yet():
    piece = PieceBuffer(0, 16384, 1)
    piece.add(0, b"x" * 16384, "p")
    assert piece.whole and piece.digest() is None  # the writer thread hashes it whole


def test_the_buffer_stays_bounded_by_one_message_and_one_read_whatever_the_peer_sends():
    from torrentish.wire.codec import MAX_EXTENDED
    from torrentish.wire.messages import Extended

    c = connected()
    huge = encode(Extended(1, b"x" * (MAX_EXTENDED - 2)))  # the largest message accepted
    stream = (huge + encode(Have(3)) * 1000) * 3
    biggest = 0
    while stream:
        stream = stream[feed(c, stream, RECEIVE_SIZE):]
        biggest = max(biggest, len(c._buf))
        c.events()
    assert biggest <= MAX_EXTENDED + 4 + RECEIVE_SIZE + FIRST_OFFER
