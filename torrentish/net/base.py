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
