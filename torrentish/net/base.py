"""The transport seam: how the engine reaches peers.

The engine never opens sockets itself. It is handed a `Network`, so the same engine runs over
real TCP (`tcp.TcpNetwork`) and over an in-memory simulated network in virtual time.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable

import trio

from torrentish.net.encrypted import EncryptedStream

# handler(stream, (host, port)) serves one accepted connection; it owns the stream.
ConnectionHandler = Callable[[trio.abc.Stream, tuple[str, int]], Awaitable[None]]


class Network(ABC):
    @abstractmethod
    async def connect(self, host: str, port: int) -> trio.abc.Stream:
        """Open a stream to host:port. Raises OSError when it cannot."""

    @abstractmethod
    async def serve(
        self,
        host: str,
        port: int,
        handler: ConnectionHandler,
        *,
        task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Listen on host:port (port 0 = any), report the bound port through
        `task_status.started(port)`, and run `handler` for every accepted connection
        until cancelled."""


async def send_buffers(stream: trio.abc.Stream, buffers: list) -> None:
    """Send the buffers in order, all of them (a gathering send on TCP; no copy into one)."""
    if type(stream) is not trio.SocketStream:
        if type(stream) is EncryptedStream:
            await stream.send_buffers(buffers)
        else:
            await stream.send_all(b"".join(buffers))
        return
    sock = stream.socket
    while buffers:
        sent = await sock.sendmsg(buffers)
        # Drop what went out; a buffer sent in part keeps its unsent tail.
        done = 0
        for buffer in buffers:
            if sent < len(buffer):
                break
            sent -= len(buffer)
            done += 1
        buffers = buffers[done:]
        if buffers and sent:
            buffers[0] = memoryview(buffers[0])[sent:]
