"""UPnP IGD over the network: SSDP discovery on UDP multicast, the description and SOAP over HTTP.

    async with open_upnp(settings, rng) as mapper:        # raises PortMapFailure if no IGD answers
        lease = await mapper.map("tcp", 6881, 6881, 3600)
        await mapper.unmap(lease)

Discovery multicasts an M-SEARCH (IGD:1 and IGD:2) and takes the first answering device whose
description has a WANIPConnection or WANPPPConnection service. The M-SEARCH leaves by the
interface the routing table picks for the SSDP group, normally the default route's: the LAN the
gateway is on. The mapping's internal client is our own address on the way to the gateway's
control URL. HTTP goes through httpx, never through a proxy (this is the LAN) and never following
redirects; every body is read up to a limit (upnp.py).
"""

from __future__ import annotations

import random
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import httpx
import trio

from torrentish.net.receive_errors import datagrams
from torrentish.services.portmap import upnp
from torrentish.services.portmap.leases import Lease, PortMapFailure
from torrentish.net.http_body import read_limited

__all__ = ["UpnpMapper", "open_upnp", "CONFLICT_RETRIES"]

CONFLICT_RETRIES = 4  # other external ports tried when the one asked for is taken
MAX_REPLIES = 16  # SSDP replies looked at in one search


class UpnpMapper:
    name = "upnp"

    def __init__(self, http: httpx.AsyncClient, service: upnp.ConnectionService, local_address: str,
                 rng: random.Random, description: str):
        self.http = http
        self.service = service
        self.local_address = local_address
        self.rng = rng
        self.description = description
        self._external_address: str | None = None
        self._permanent_only = False

    async def map(self, transport: str, internal_port: int, external_port: int, lifetime: int) -> Lease:
        candidates = [external_port] + [self.rng.randint(1024, 65535) for _ in range(CONFLICT_RETRIES)]
        for port in candidates:
            try:
                lease = await self._add(transport, internal_port, port, lifetime)
            except upnp.UpnpFault as fault:
                if fault.code == upnp.ERROR_CONFLICT:
                    continue
                raise PortMapFailure(f"UPnP AddPortMapping: {fault}") from None
            if self._external_address is None:
                self._external_address = await self._get_external_address()
            return Lease("upnp", transport, internal_port, port, self._external_address, lease)
        raise PortMapFailure(f"UPnP: external port {external_port} and {CONFLICT_RETRIES} others are taken")

    async def _add(self, transport: str, internal_port: int, external_port: int, lifetime: int) -> int:
        """AddPortMapping; returns the lease asked for (a device that grants only permanent ones
        is asked again with 0, and from then on only with 0)."""
        lease = 0 if self._permanent_only else lifetime
        try:
            await self._call("AddPortMapping", upnp.add_port_mapping_args(
                transport, external_port, internal_port, self.local_address, lease, self.description))
        except upnp.UpnpFault as fault:
            if fault.code != upnp.ERROR_ONLY_PERMANENT_LEASES or lease == 0:
                raise
            self._permanent_only, lease = True, 0
            await self._call("AddPortMapping", upnp.add_port_mapping_args(
                transport, external_port, internal_port, self.local_address, lease, self.description))
        return lease

    async def unmap(self, lease: Lease) -> None:
        try:
            await self._call("DeletePortMapping", upnp.delete_port_mapping_args(lease.transport, lease.external_port))
        except upnp.UpnpFault as fault:
            raise PortMapFailure(f"UPnP DeletePortMapping: {fault}") from None

    async def _get_external_address(self) -> str | None:
        try:
            return upnp.external_address_of(await self._call("GetExternalIPAddress", []))
        except (upnp.UpnpFault, PortMapFailure):
            return None  # the mapping stands; other peers learn our address from our connections

    async def _call(self, action: str, args: list[tuple[str, str]]) -> dict[str, str]:
        headers, body = upnp.soap_request(self.service.service_type, action, args)
        status, data = await _request(self.http, "POST", self.service.control_url, upnp.MAX_SOAP_REPLY,
                                      headers=headers, content=body)
        try:
            return upnp.parse_soap_reply(status, data, action)
        except upnp.UpnpFault:
            raise
        except upnp.UpnpError as error:
            raise PortMapFailure(f"UPnP {action}: {error}") from None


async def _request(http: httpx.AsyncClient, method: str, url: str, limit: int, **kwargs) -> tuple[int, bytes]:
    """(status, body) of one HTTP request, the body cut off with an error past `limit` bytes."""
    try:
        async with http.stream(method, url, **kwargs) as response:
            body = await read_limited(response, limit)
            if body is None:
                raise PortMapFailure(f"UPnP: {url} sent more than {limit} bytes")
            return response.status_code, body
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise PortMapFailure(f"UPnP: {url[:80]}: {reason}") from None


async def _receive_replies(sock, deadline: float) -> AsyncIterator[upnp.SsdpReply]:
    """Valid, new SSDP replies until `deadline`. The deadline bounds only the waiting for a
    datagram: the caller's work on a reply (fetching its description) is not cut short by it."""
    seen: set[str] = set()
    received = datagrams(sock, upnp.MAX_SSDP_REPLY + 1, "UPnP discovery")
    try:
        for _ in range(MAX_REPLIES):
            data = None
            with trio.move_on_at(deadline):
                data, source = await received.__anext__()
            if data is None:
                return
            try:
                reply = upnp.parse_ssdp_reply(data, source[0])
            except upnp.UpnpError:
                continue
            if reply.location not in seen:
                seen.add(reply.location)
                yield reply
    finally:
        await received.aclose()


def _local_address_towards(url: str) -> str:
    """Our address on the route to `url`'s host (a UDP connect sends nothing)."""
    parts = urlsplit(url)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect((parts.hostname or "", parts.port or 80))
        return probe.getsockname()[0]


async def _discover(http: httpx.AsyncClient, rng: random.Random, wait: float, group: tuple[str, int],
                    description: str) -> UpnpMapper:
    sock = trio.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with sock:
        try:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 2)
            await sock.bind(("0.0.0.0", 0))
            for target in upnp.IGD_SEARCH_TARGETS:
                await sock.sendto(upnp.m_search(target, mx=max(1, int(wait))), group)
        except OSError as error:
            raise PortMapFailure(f"UPnP: cannot send the SSDP search: {error.strerror or error}") from None
        problems: list[str] = []
        replies = _receive_replies(sock, trio.current_time() + wait)
        try:
            async for reply in replies:
                try:
                    status, data = await _request(http, "GET", reply.location, upnp.MAX_DESCRIPTION)
                    if status != 200:
                        raise PortMapFailure(f"HTTP status {status}")
                    service = upnp.find_connection_service(data, reply.location)
                    local = _local_address_towards(service.control_url)
                except (PortMapFailure, upnp.UpnpError, OSError, ValueError) as error:
                    problems.append(f"{reply.location}: {error}")
                    continue
                return UpnpMapper(http, service, local, rng, description)
        finally:
            await replies.aclose()
    detail = f" ({'; '.join(problems)[:300]})" if problems else ""
    raise PortMapFailure(f"UPnP: no Internet gateway device answered in {wait:g} s{detail}")


@asynccontextmanager
async def open_upnp(
    rng: random.Random,
    *,
    wait: float = 2.0,
    http_timeout: float = 5.0,
    description: str = "torrentish",
    group: tuple[str, int] = (upnp.SSDP_GROUP, upnp.SSDP_PORT),
) -> AsyncIterator[UpnpMapper]:
    """A mapper on the first Internet gateway device that answers within `wait` seconds."""
    timeout = httpx.Timeout(http_timeout, connect=min(http_timeout, 3.0))
    # verify=False: only plain http:// URLs ever reach this client (upnp.py refuses any other), and
    # loading the CA bundle a verifying client wants costs some 0.4 s of CPU for nothing.
    async with httpx.AsyncClient(timeout=timeout, trust_env=False, follow_redirects=False, verify=False,
                                 headers={"Accept-Encoding": "identity"}) as http:
        yield await _discover(http, rng, wait, group, description)
