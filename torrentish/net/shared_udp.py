"""One UDP socket per listen port, shared by uTP and the DHT (as libtorrent does).

The first byte tells them apart: a KRPC message is a bencoded dictionary, so it starts with 'd'
(0x64); a uTP packet starts with its type in the high nibble and version 1 in the low one (0x01,
0x11, ... 0x41). Anything else is dropped. DHT datagrams go to a bounded channel the DHT node reads
(a full channel drops, like a full socket buffer would); uTP datagrams go, a whole batch at once,
to the uTP endpoint (net/utp.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio

from torrentish.net.base import Address, DatagramSocket
from torrentish.wire.utp.packet import looks_like_utp

DHT_QUEUE = 256

UtpHandler = Callable[[list[tuple[bytes, Address]]], Awaitable[None]]


class DhtChannel:
    """What a DHT node uses in place of its own socket: ``sendto`` and an async iterator."""

    def __init__(self, shared: SharedUdp):
        self._shared = shared
        self._send, self._receive = trio.open_memory_channel[tuple[bytes, Address]](DHT_QUEUE)
        self.dropped = 0
        self.claimed = False  # one DHT node reads it; a second one would steal half its replies

    def claim(self) -> bool:
        """True for the first DHT node that asks (it owns the channel), False for any other."""
        if self.claimed:
            return False
        self.claimed = True
        return True

    @property
    def port(self) -> int:
        return self._shared.port

    async def sendto(self, data: bytes, address: Address) -> None:
        await self._shared.send([(data, address)])

    def _put(self, data: bytes, source: Address) -> None:
        try:
            self._send.send_nowait((data, source))
        except trio.WouldBlock:
            self.dropped += 1

    def close(self) -> None:
        pass  # the socket belongs to SharedUdp

    def __aiter__(self):
        return self._receive.__aiter__()


class SharedUdp:
    def __init__(self, sock: DatagramSocket):
        self.sock = sock
        self.port = sock.port
        self.dht = DhtChannel(self)
        self.utp: UtpHandler | None = None
        self.utp_unreachable: Callable[[bytes, Address], None] | None = None
        self.dropped = 0  # neither DHT nor uTP
        self._send_lock = trio.Lock()
        if hasattr(sock, "on_unreachable"):
            sock.on_unreachable = self._unreachable

    def _unreachable(self, data: bytes, destination: Address) -> None:
        if self.utp_unreachable is not None and looks_like_utp(data):
            self.utp_unreachable(data, destination)

    async def send(self, datagrams: list[tuple[bytes, Address]]) -> None:
        if not datagrams:
            return
        async with self._send_lock:
            await self.sock.send_batch(datagrams)

    async def run(self, *, task_status: trio.TaskStatus[SharedUdp] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started(self)
        try:
            while True:
                batch = await self.sock.receive_batch()
                utp = []
                for data, source in batch:
                    if data[:1] == b"d":
                        self.dht._put(data, source)
                    elif looks_like_utp(data) and self.utp is not None:
                        utp.append((data, source))
                    else:
                        self.dropped += 1
                if utp:
                    await self.utp(utp)
        finally:
            self.sock.close()
