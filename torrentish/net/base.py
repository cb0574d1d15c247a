"""The transport seam: how the engine reaches peers.

The engine never opens sockets itself. It is handed a `Network`, so the same engine runs over
real TCP (`tcp.TcpNetwork`) and over an in-memory simulated network in virtual time.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable

import trio


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
        gather = getattr(stream, "send_buffers", None)  # encrypted and simulated streams
        if gather is not None:
            await gather(buffers)
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


def transport_of(stream: trio.abc.Stream) -> str:
    """What carries a stream, under MSE's wrapper too: "utp" (a stream that says so) or "tcp"."""
    while True:
        kind = getattr(stream, "transport", None)
        if kind is not None:
            return kind
        inner = getattr(stream, "stream", None)
        if inner is None:
            return "tcp"
        stream = inner


# ------------------------------------------------------------------------------ datagrams
Address = tuple[str, int]


class DatagramSocket(ABC):
    """One bound datagram endpoint (a UDP socket, or a port on the simulated network).

    Batches both ways: a pure-Python uTP lives or dies by how many task wake-ups each datagram
    costs, so one wake-up drains everything queued and one call sends a whole flush."""

    port: int

    @abstractmethod
    async def receive_batch(self) -> list[tuple[bytes, Address]]:
        """Wait for at least one datagram; return every one waiting (bounded)."""

    @abstractmethod
    async def send_batch(self, datagrams: list[tuple[bytes, Address]]) -> None:
        """Send them in order; a datagram the path cannot take is dropped, as UDP does."""

    @abstractmethod
    def close(self) -> None: ...


class DatagramNetwork(ABC):
    @abstractmethod
    async def open_datagram(self, host: str, port: int) -> DatagramSocket:
        """Bind host:port (port 0 = any). Raises OSError when it cannot."""
