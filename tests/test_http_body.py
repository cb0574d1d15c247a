"""net/http_body.py: a body is read whole up to the limit and not a byte past it."""

from __future__ import annotations

from torrentish.net.http_body import read_limited


class Reply:
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.read = 0

    async def aiter_raw(self):
        for chunk in self.chunks:
            self.read += 1
            yield chunk


async def test_a_body_within_the_limit_is_read_whole():
    assert await read_limited(Reply([b"ab", b"cd"]), 4) == b"abcd"
    assert await read_limited(Reply([]), 0) == b""


async def test_reading_stops_at_the_chunk_that_passes_the_limit():
    reply = Reply([b"x" * 10, b"x" * 10, b"x" * 10, b"never read"])
    assert await read_limited(reply, 15) is None
    assert reply.read == 2
