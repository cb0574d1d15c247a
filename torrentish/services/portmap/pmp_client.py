"""NAT-PMP and PCP over UDP to the gateway: a `Mapper` (leases.py) for service.py.

    mapper = PmpMapper("192.168.1.1", rng)               # PCP first, NAT-PMP if that is all it speaks
    lease = await mapper.map("tcp", 6881, 6881, 7200)
    await mapper.unmap(lease)

Each request goes out on a UDP socket connected to the gateway's port 5351 (so only its replies
reach us) and is sent again, waiting twice as long each time, until a reply that matches it comes
back; replies that do not parse or match are ignored. An ICMP "port unreachable" (no server there)
fails at once. PCP replies must carry the nonce of their mapping, which is kept per mapping so
renewals and the removal name the same one (RFC 6887 section 11.2).
"""

from __future__ import annotations

import random
import socket
from collections.abc import Callable

import trio

from torrentish.services.portmap import natpmp
from torrentish.services.portmap.leases import Lease, PortMapFailure

__all__ = ["PmpMapper"]

_MAX_DATAGRAM = natpmp.MAX_PCP_MESSAGE + 4


class PmpMapper:
    def __init__(
        self,
        gateway: str,
        rng: random.Random,
        *,
        versions: tuple[str, ...] = ("pcp", "natpmp"),
        port: int = natpmp.SERVER_PORT,
        first_timeout: float = 0.25,
        attempts: int = 4,
    ):
        if not versions or any(v not in ("pcp", "natpmp") for v in versions):
            raise ValueError(f"versions must be 'pcp' and/or 'natpmp', not {versions!r}")
        self.gateway = gateway
        self.port = port
        self.rng = rng
        self.versions = list(versions)
        self.delays = natpmp.retransmit_delays(first_timeout, attempts)
        self._nonces: dict[tuple[str, int], bytes] = {}
        self._external_address: str | None = None

    @property
    def name(self) -> str:
        """The protocol in use: the first of `versions` the gateway has not refused."""
        return self.versions[0]

    async def map(self, transport: str, internal_port: int, external_port: int, lifetime: int) -> Lease:
        while True:
            version = self.name
            try:
                if version == "pcp":
                    return await self._pcp(transport, internal_port, external_port, lifetime)
                return await self._natpmp(transport, internal_port, external_port, lifetime)
            except _UnsupportedVersion:
                if len(self.versions) == 1:
                    raise PortMapFailure(f"the gateway {self.gateway} does not speak {version}") from None
                self.versions.pop(0)  # RFC 6887 section 9: fall back to what it speaks

    async def unmap(self, lease: Lease) -> None:
        try:
            if lease.protocol == "pcp":
                await self._pcp(lease.transport, lease.internal_port, lease.external_port, 0)
                self._nonces.pop((lease.transport, lease.internal_port), None)
            else:
                await self._natpmp(lease.transport, lease.internal_port, 0, 0)
        except _UnsupportedVersion:
            raise PortMapFailure(f"the gateway {self.gateway} no longer speaks {lease.protocol}") from None

    # -- PCP ----------------------------------------------------------------------------------------

    async def _pcp(self, transport: str, internal_port: int, external_port: int, lifetime: int) -> Lease:
        key = (transport, internal_port)
        nonce = self._nonces.get(key)
        if nonce is None:
            nonce = self._nonces[key] = self.rng.randbytes(12)

        def packet(local_address: str) -> bytes:
            return natpmp.pcp_map_request(nonce, transport, internal_port, external_port, lifetime,
                                          client_address=local_address)

        def matches(reply) -> bool:
            if isinstance(reply, natpmp.PcpMapReply):
                if reply.nonce is None:  # a header-only error: nothing to match but the failure itself
                    return reply.result != 0
                return (reply.nonce, reply.transport, reply.internal_port) == (nonce, transport, internal_port)
            return reply.result == natpmp.UNSUPPORTED_VERSION  # a NAT-PMP gateway's answer to PCP

        reply = _granted(await self._exchange(packet, matches), natpmp.PcpMapReply, lifetime)
        address = reply.external_address if reply.external_address not in (None, "0.0.0.0", "::") else None
        return Lease("pcp", transport, internal_port, reply.external_port, address, reply.lifetime)

    # -- NAT-PMP ------------------------------------------------------------------------------------

    async def _natpmp(self, transport: str, internal_port: int, external_port: int, lifetime: int) -> Lease:
        request = natpmp.natpmp_map_request(transport, internal_port, external_port, lifetime)

        def matches(reply) -> bool:
            if isinstance(reply, natpmp.NatPmpMapReply):
                return reply.transport == transport and (reply.result != 0 or reply.internal_port == internal_port)
            return isinstance(reply, natpmp.PcpMapReply) and reply.result == natpmp.UNSUPPORTED_VERSION

        reply = _granted(await self._exchange(lambda _: request, matches), natpmp.NatPmpMapReply, lifetime)
        if lifetime and self._external_address is None:
            self._external_address = await self._natpmp_address()
        return Lease("natpmp", transport, internal_port, reply.external_port, self._external_address,
                     reply.lifetime)

    async def _natpmp_address(self) -> str | None:
        """The external address, or None if the gateway does not say (the mapping stands anyway)."""

        def matches(reply) -> bool:
            return isinstance(reply, natpmp.NatPmpAddressReply)

        try:
            reply = await self._exchange(lambda _: natpmp.natpmp_address_request(), matches)
        except PortMapFailure:
            return None
        return reply.address if reply.result == 0 and reply.address != "0.0.0.0" else None

    # -- the exchange -------------------------------------------------------------------------------

    async def _exchange(self, packet: Callable[[str], bytes], matches: Callable[[object], bool]):
        """Send `packet(our address)` until a reply that `matches` it arrives; return that reply."""
        sock = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with sock:
            try:
                await sock.connect((self.gateway, self.port))
                data = packet(sock.getsockname()[0])
                for delay in self.delays:
                    await sock.send(data)
                    with trio.move_on_after(delay):
                        while True:
                            try:
                                reply = natpmp.decode_reply(await sock.recv(_MAX_DATAGRAM))
                            except natpmp.PortMapProtocolError:
                                continue
                            if matches(reply):
                                return reply
            except ConnectionRefusedError:
                raise PortMapFailure(f"no NAT-PMP/PCP server on {self.gateway} (port unreachable)") from None
            except OSError as error:
                raise PortMapFailure(f"NAT-PMP/PCP to {self.gateway}: {error.strerror or error}") from None
        waited = sum(self.delays)
        raise PortMapFailure(f"no NAT-PMP/PCP answer from {self.gateway} in {waited:g} s")


def _granted(reply, expected: type, lifetime: int):
    """`reply` if it grants what was asked (a mapping, or with lifetime 0 its removal); raises
    _UnsupportedVersion when the gateway speaks the other protocol, PortMapFailure if it refused."""
    if not isinstance(reply, expected) or reply.result == natpmp.UNSUPPORTED_VERSION:
        raise _UnsupportedVersion
    name, version = ("PCP", natpmp.PCP_VERSION) if expected is natpmp.PcpMapReply else ("NAT-PMP", 0)
    if reply.result != 0:
        raise PortMapFailure(f"{name}: {natpmp.result_text(version, reply.result)}")
    if lifetime and not reply.external_port:
        raise PortMapFailure(f"{name}: the gateway granted a mapping to port 0")
    return reply


class _UnsupportedVersion(Exception):
    """The gateway answered with "unsupported version" (it speaks the other protocol, or neither)."""
