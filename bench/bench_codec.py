"""How fast PeerCodec parses a stream of 16 KiB PIECE messages (not a test).

    .venv/bin/python bench/bench_codec.py [megabytes]

The stream is fed in chunks of about 1 MiB, the size the engine reads from a socket. "aligned"
chunks end on message boundaries; "misaligned" chunks split a message at every chunk end, so the
codec must carry a partial message over (the common case on a real connection). The figure is
piece payload bytes per second, which is what limits a download.
"""

from __future__ import annotations

import sys
import time

from torrentish.wire import codec, messages

BLOCK = 16384
PIECE_LENGTH = 256 * 1024
NUM_PIECES = 4096


def make_stream(megabytes: int) -> tuple[bytes, int]:
    block = bytes(range(256)) * (BLOCK // 256)
    count = megabytes * 1024 * 1024 // BLOCK
    blocks_per_piece = PIECE_LENGTH // BLOCK
    parts = []
    for n in range(count):
        index, slot = divmod(n, blocks_per_piece)
        parts.append(codec.encode_piece_header(index % NUM_PIECES, slot * BLOCK, BLOCK))
        parts.append(block)
    return b"".join(parts), count


def run(stream: bytes, chunk_size: int) -> tuple[float, int]:
    parser = codec.PeerCodec(messages.make_reserved())
    parser.receive_data(codec.encode_handshake(messages.make_reserved(), bytes(20), bytes(20)))
    parser.events()
    parser.set_geometry(NUM_PIECES, PIECE_LENGTH, NUM_PIECES * PIECE_LENGTH)
    chunks = [stream[i : i + chunk_size] for i in range(0, len(stream), chunk_size)]
    received = 0
    start = time.perf_counter()
    for chunk in chunks:
        parser.receive_data(chunk)
        received += len(parser.events())
    return time.perf_counter() - start, received


def main() -> None:
    megabytes = int(sys.argv[1]) if len(sys.argv) > 1 else 512
    stream, count = make_stream(megabytes)
    payload = count * BLOCK
    aligned = 64 * (BLOCK + 13)
    for label, chunk_size in (("aligned", aligned), ("misaligned", 1024 * 1024), ("64 KiB", 65536)):
        best = min(run(stream, chunk_size)[0] for _ in range(3))
        elapsed, received = run(stream, chunk_size)
        assert received == count, (received, count)
        best = min(best, elapsed)
        print(f"{label:>10} chunks of {chunk_size:>7} B: {payload / best / 1e6:8.0f} MB/s of piece payload")


if __name__ == "__main__":
    main()
