"""Real UDP through trio: a non-blocking socket read and written in batches."""

from __future__ import annotations

import socket

import trio

from torrentish.net.base import Address, DatagramNetwork, DatagramSocket
from torrentish.net.receive_errors import ReceiveErrors

BATCH = 256  # datagrams taken per wake-up at most (then others get a turn)
SOCKET_BUFFER = 4 * 1024 * 1024  # a burst of a full uTP window fits while we are busy
RECEIVE_SIZE = 65536


class UdpSocket(DatagramSocket):
    def __init__(self, sock: socket.socket):
        self._sock = sock
        self.port = sock.getsockname()[1]
        self._errors = ReceiveErrors("UDP")

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
                if not out:
                    await trio.sleep(self._errors.failed(error))
                    continue
            if out:
                self._errors.succeeded()
                await trio.lowlevel.checkpoint()
                return out
            await trio.lowlevel.wait_readable(sock)

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
            sock.setblocking(False)
            sock.bind((host or "0.0.0.0", port))
        except OSError:
            sock.close()
            raise
        await trio.lowlevel.checkpoint()
        return UdpSocket(sock)
