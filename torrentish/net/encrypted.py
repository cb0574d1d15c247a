"""A trio stream that encrypts what is sent and decrypts what is received (MSE's RC4).

The ciphers are stream-cipher contexts with `update` / `update_into` (torrentish.wire.rc4): one
call per send or receive, however many messages the bytes hold. `receive_into` is the engine's
fast path (engine/peer.py): on TCP the socket reads into a scratch buffer of this connection and
the cipher writes the plaintext straight into the caller's buffer, the codec's, so the bytes are
copied no more often than on a plaintext connection. `send_buffers` (the peer writer's batches,
through net.base.send_buffers) gathers into a buffer of this connection and encrypts into
another, both kept: a fresh megabyte per batch would cost page faults, more than the copy does.

A connection whose MSE handshake selected plaintext is not wrapped at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers import CipherContext


# The most bytes one connection holds for encrypting a send or decrypting a read (twice over
# for sends: plaintext gathered, ciphertext out). Larger batches and reads go in such chunks, one
# cipher call each, so a seed serving many encrypted peers keeps its memory bounded.
CHUNK = 256 * 1024


class EncryptedStream(trio.abc.Stream):
    def __init__(self, stream: trio.abc.Stream, encrypt: CipherContext, decrypt: CipherContext):
        self.stream = stream
        self._encrypt = encrypt
        self._decrypt = decrypt
        self._socket = stream.socket if type(stream) is trio.SocketStream else None
        self._scratch = bytearray()  # reads land here; grows to the largest read, at most CHUNK
        self._plain = bytearray()  # send_buffers gathers here and encrypts into _cipher
        self._cipher = bytearray()

    async def send_all(self, data) -> None:
        await self.stream.send_all(self._encrypt.update(data))

    async def send_buffers(self, buffers: list) -> None:
        """Send the buffers in order, encrypted: gathered a chunk at a time, one cipher call each."""
        size = min(CHUNK, sum(map(len, buffers)))
        if len(self._plain) < size:
            self._plain, self._cipher = bytearray(size), bytearray(size)
        plain, chunk = memoryview(self._plain), len(self._plain)
        filled = 0
        for buffer in buffers:
            view = memoryview(buffer)
            while view:
                take = min(len(view), chunk - filled)
                plain[filled : filled + take] = view[:take]
                filled += take
                view = view[take:]
                if filled == chunk:
                    await self._send_chunk(filled)
                    filled = 0
        if filled:
            await self._send_chunk(filled)

    async def _send_chunk(self, size: int) -> None:
        cipher = memoryview(self._cipher)[:size]
        self._encrypt.update_into(memoryview(self._plain)[:size], cipher)
        await self.stream.send_all(cipher)

    async def wait_send_all_might_not_block(self) -> None:
        await self.stream.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        data = await self.stream.receive_some(max_bytes)
        return self._decrypt.update(data) if data else b""

    async def receive_into(self, buffer: memoryview) -> int:
        """Read up to len(buffer) bytes (at most CHUNK) into `buffer`, decrypted; 0 at the end."""
        size = min(len(buffer), CHUNK)
        if self._socket is None:
            data = await self.stream.receive_some(size)
            return self._decrypt.update_into(data, buffer) if data else 0
        if len(self._scratch) < size:
            self._scratch = bytearray(min(CHUNK, max(size, 2 * len(self._scratch))))
        scratch = memoryview(self._scratch)
        n = await self._socket.recv_into(scratch, size)
        return self._decrypt.update_into(scratch[:n], buffer) if n else 0

    async def aclose(self) -> None:
        await self.stream.aclose()
