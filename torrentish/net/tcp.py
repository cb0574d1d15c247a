"""Real TCP through trio."""

from __future__ import annotations

import socket

import trio

from torrentish.net.base import ConnectionHandler, Network

# Large kernel buffers keep a fast loopback or LAN link full between our reads.
SOCKET_BUFFER = 4 * 1024 * 1024


def _tune(sock: trio.socket.SocketType) -> None:
    for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        try:
            sock.setsockopt(socket.SOL_SOCKET, opt, SOCKET_BUFFER)
        except OSError:
            pass


class TcpNetwork(Network):
    def __init__(self, connect_timeout: float = 10.0):
        self.connect_timeout = connect_timeout

    async def connect(self, host: str, port: int) -> trio.abc.Stream:
        with trio.move_on_after(self.connect_timeout) as scope:
            stream = await trio.open_tcp_stream(host, port)
        if scope.cancelled_caught:
            raise OSError(f"connection to {host}:{port} timed out")
        _tune(stream.socket)
        return stream

    async def serve(
        self,
        host: str,
        port: int,
        handler: ConnectionHandler,
        *,
        task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        listeners = await trio.open_tcp_listeners(port, host=host or None)
        bound = listeners[0].socket.getsockname()[1]

        async def serve_one(stream: trio.SocketStream) -> None:
            _tune(stream.socket)
            try:
                address = stream.socket.getpeername()[:2]
            except OSError:
                await stream.aclose()
                return
            await handler(stream, (address[0], address[1]))

        async with trio.open_nursery() as nursery:
            await nursery.start(trio.serve_listeners, serve_one, listeners)
            task_status.started(bound)
