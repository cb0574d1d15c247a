"""Real UDP through trio: a non-blocking socket read and written in batches.

On Linux the socket asks for ICMP errors (IP_RECVERR): a "port unreachable" for a datagram we
sent comes back with that datagram and its destination, which ``on_unreachable`` gets. uTP uses it
to fail a connection attempt at once (no uTP there: dial TCP) instead of after its SYN timeouts.
"""

from __future__ import annotations

import socket
import sys

import trio

from collections.abc import Callable

from torrentish.net.base import Address, DatagramNetwork, DatagramSocket
from torrentish.net.receive_errors import ReceiveErrors

BATCH = 256  # datagrams taken per wake-up at most (then others get a turn)
SOCKET_BUFFER = 4 * 1024 * 1024  # a burst of a full uTP window fits while we are busy
RECEIVE_SIZE = 65536
# Python 3.11 lacks the name; the value is Linux's (include/uapi/linux/in.h).
IP_RECVERR = getattr(socket, "IP_RECVERR", 11 if sys.platform.startswith("linux") else None)


class UdpSocket(DatagramSocket):
    def __init__(self, sock: socket.socket):
        self._sock = sock
        self.port = sock.getsockname()[1]
        self._errors = ReceiveErrors("UDP")
        self.on_unreachable: Callable[[bytes, Address], None] | None = None

    async def receive_batch(self) -> list[tuple[bytes, Address]]:
        sock = self._sock
        out: list[tuple[bytes, Address]] = []
        while True:
            try:
                while len(out) < BATCH:
                    data, source = sock.recvfrom(RECEIVE_SIZE)
                    out.append((data, (source[0], source[1])))
            except BlockingIOError:
                pass
            except OSError as error:
                if self._drain_errors():
                    continue
                if not out:
                    await trio.sleep(self._errors.failed(error))
                    continue
            if out:
                self._errors.succeeded()
                await trio.lowlevel.checkpoint()
                return out
            await trio.lowlevel.wait_readable(sock)

    def _drain_errors(self) -> bool:
        """Hand the queued ICMP errors to ``on_unreachable``; False if there were none."""
        flag = getattr(socket, "MSG_ERRQUEUE", 0)
        if not flag:
            return False
        found = False
        while True:
            try:
                data, _, _, destination = self._sock.recvmsg(2048, 512, flag)
            except OSError:
                return found
            found = True
            if self.on_unreachable is not None and destination:
                self.on_unreachable(data, (destination[0], destination[1]))

    async def send_batch(self, datagrams: list[tuple[bytes, Address]]) -> None:
        sock = self._sock
        for data, address in datagrams:
            while True:
                try:
                    sock.sendto(data, address)
                except BlockingIOError:
                    await trio.lowlevel.wait_writable(sock)
                    continue
                except OSError:
                    pass  # unreachable, too big, no route: UDP drops it
                break
        await trio.lowlevel.checkpoint()

    def close(self) -> None:
        if self._sock.fileno() != -1:
            trio.lowlevel.notify_closing(self._sock)  # wakes a receive waiting on it
            self._sock.close()


class UdpNetwork(DatagramNetwork):
    async def open_datagram(self, host: str, port: int) -> UdpSocket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
                try:
                    sock.setsockopt(socket.SOL_SOCKET, opt, SOCKET_BUFFER)
                except OSError:
                    pass
            if IP_RECVERR is not None:
                sock.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
            sock.setblocking(False)
            sock.bind((host or "0.0.0.0", port))
        except OSError:
            sock.close()
            raise
        await trio.lowlevel.checkpoint()
        return UdpSocket(sock)
