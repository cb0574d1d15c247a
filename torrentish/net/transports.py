"""The engine's network when it speaks both TCP and uTP: which one to dial, both to listen on.

Outgoing policy as libtorrent's: with ``mode="both"`` a peer is dialed over uTP first and over TCP
when uTP gets no answer (``utp_timeout``, shorter than a connection attempt; a NAT or firewall
that drops UDP costs that much per peer once); ``"utp"`` or ``"tcp"`` dials only that one.
Incoming connections are taken on both whatever the mode but ``"tcp"`` (no UDP socket then) and
``"utp"`` (no TCP listener). The UDP socket is bound to the TCP listener's port, as clients
announce one port for both; it is also where the DHT can run (``endpoint.shared.dht``). When that
UDP port is taken (``"both"``), uTP still dials out from another port; only incoming uTP is off.

A session changes the mode while it runs (Transmission's utp-enabled): it opens the network with
``listen="both"``, so both listeners exist from the start, and `set_mode` then decides what is
dialed and which incoming connections are taken (a uTP SYN gets a RESET, a TCP connection is
closed at once).
"""

from __future__ import annotations

import logging
import random

import trio

from torrentish.net.base import ConnectionHandler, DatagramNetwork, Network
from torrentish.net.utp import UtpEndpoint, UtpNetwork, open_utp
from torrentish.wire.utp.connection import UtpConfig

TRANSPORTS = ("both", "utp", "tcp")
UTP_TIMEOUT = 3.0  # libtorrent's utp_connect_timeout
LOGGER = logging.getLogger("torrentish.net")


class TransportNetwork(Network):
    def __init__(self, tcp: Network, udp: DatagramNetwork, mode: str = "both", *,
                 rng: random.Random | None = None, utp_config: UtpConfig | None = None,
                 utp_timeout: float = UTP_TIMEOUT, listen: str | None = None):
        for value in (mode, listen or mode):
            if value not in TRANSPORTS:
                raise ValueError(f"transport is one of {', '.join(TRANSPORTS)}, not {value!r}")
        self.tcp = tcp
        self.udp = udp
        self.mode = mode
        self.listen = listen or mode  # the listeners `serve` opens; `mode` filters what they accept
        self.rng = rng
        self.utp_config = utp_config
        self.utp_timeout = utp_timeout
        self.endpoint: UtpEndpoint | None = None
        self.dialed = {"utp": 0, "tcp": 0}  # connections opened, by transport
        self.accepted = {"utp": 0, "tcp": 0}

    async def connect(self, host: str, port: int) -> trio.abc.Stream:
        endpoint = self.endpoint
        if self.mode != "tcp" and endpoint is not None:
            try:
                stream = await endpoint.connect(host, port, self.utp_timeout)
            except OSError:
                if self.mode == "utp":
                    raise
            else:
                self.dialed["utp"] += 1
                return stream
        if self.mode == "utp":
            raise OSError("uTP is not running")
        stream = await self.tcp.connect(host, port)
        self.dialed["tcp"] += 1
        return stream

    def set_mode(self, mode: str) -> None:
        """Dial and accept only `mode`'s transports from now on (open connections stay)."""
        if mode not in TRANSPORTS:
            raise ValueError(f"transport is one of {', '.join(TRANSPORTS)}, not {mode!r}")
        self.mode = mode
        if self.endpoint is not None:
            self.endpoint.accepting = self.accepts("utp")

    def accepts(self, kind: str) -> bool:
        return self.mode == "both" or self.mode == kind

    async def serve(self, host: str, port: int, handler: ConnectionHandler, *,
                    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        def counted(kind: str) -> ConnectionHandler:
            async def handle(stream, address):
                if not self.accepts(kind):
                    await trio.aclose_forcefully(stream)
                    return
                self.accepted[kind] += 1
                await handler(stream, address)
            return handle

        async with trio.open_nursery() as nursery:
            bound = port
            if self.listen != "utp":
                bound = await nursery.start(self.tcp.serve, host, port, counted("tcp"))
            if self.listen != "tcp":
                try:
                    self.endpoint = await nursery.start(self._run_utp, host, bound)
                except OSError as error:
                    if self.listen == "utp" or not bound:
                        raise
                    # Someone holds the UDP port (a DHT node opened before us, say): peers cannot
                    # reach us over uTP, but we can still dial them over it from any port.
                    self.endpoint = await nursery.start(self._run_utp, host, 0)
                    log = LOGGER.warning if self.accepts("utp") else LOGGER.info  # uTP off: no news
                    log("incoming uTP is off: UDP port %s is taken (%s); dialing uTP from port %s",
                        bound, error, self.endpoint.port)
                else:
                    bound = self.endpoint.port
                    self.endpoint.accepting = self.accepts("utp")
                    await nursery.start(UtpNetwork(self.endpoint).serve, host, bound, counted("utp"))
            task_status.started(bound)
            await trio.sleep_forever()

    async def _run_utp(self, host: str, port: int, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        try:
            async with open_utp(self.udp, host, port, rng=self.rng, config=self.utp_config) as endpoint:
                task_status.started(endpoint)
                await trio.sleep_forever()
        finally:
            self.endpoint = None


def switchable_network(mode: str) -> TransportNetwork:
    """TCP and UDP sockets with both listeners open, dialing and accepting as `mode` says until
    `set_mode` changes it (a session's network)."""
    from torrentish.net.tcp import TcpNetwork
    from torrentish.net.udp import UdpNetwork

    return TransportNetwork(TcpNetwork(), UdpNetwork(), mode, listen="both")
