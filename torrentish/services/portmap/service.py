"""Port mapping as a transfer service: our listen port opened on the NAT gateway while we run.

    services = [port_mapping_service(), *others]
    await transfer.seed(info, data, port=6881, services=services)

For the listen port, TCP (peers dial it) and UDP (the same port number for datagram protocols)
are mapped with the first protocol that works, in `PortMapSettings.protocols` order: PCP, falling
back to NAT-PMP on the same gateway when that is all it speaks, then UPnP IGD. NAT-PMP and PCP
talk to the default route's gateway; UPnP finds its device by SSDP. A protocol counts as working
when it maps TCP.

Leases are renewed half-way through their lifetime and removed when the service is cancelled
(shielded from that cancellation, with a short deadline). When a renewal fails, everything is
mapped afresh; when no protocol works, the attempt is repeated later with growing pauses.
The client learns the TCP mapping (`Client.set_external`), so trackers, the DHT and the
extended handshake announce the external port. Every outcome is an event on the torrent's bus
(`PortMapped`, `PortMappingFailed`); none of them stops the transfer.

One client has one listen port: in `get`/`seed` a client runs one torrent, so a per-torrent
service maps it once.
"""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass

import trio

from torrentish import events as ev
from torrentish.services.portmap.gateway import default_gateway
from torrentish.services.portmap.leases import (
    PROTOCOLS,
    Lease,
    Mapper,
    PortMapFailure,
    changed,
    renew_delay,
    retry_delay,
)
from torrentish.services.portmap.natpmp import SERVER_PORT, TRANSPORTS

__all__ = ["PortMapSettings", "PortMapper", "port_mapping_service"]

LOGGER = logging.getLogger("torrentish.portmap")


@dataclass
class PortMapSettings:
    protocols: tuple[str, ...] = PROTOCOLS  # tried in this order; "pcp" then "natpmp" is one gateway
    transports: tuple[str, ...] = TRANSPORTS  # TCP first: the one that decides whether a protocol works
    lifetime: int = 7200  # seconds asked for (RFC 6886's recommendation); gateways may grant less
    renew_fraction: float = 0.5
    permanent_refresh: float = 1800.0  # re-adding a UPnP mapping granted "until removed"
    retry_first: float = 60.0  # after a round in which no protocol worked; doubles up to the cap
    retry_cap: float = 1800.0
    remove_timeout: float = 2.0  # for removing every mapping when we stop
    gateway: str | None = None  # the NAT-PMP/PCP server; None: the default route's gateway
    pmp_port: int = SERVER_PORT
    pmp_first_timeout: float = 0.25
    pmp_attempts: int = 4  # 0.25 + 0.5 + 1 + 2 s before NAT-PMP/PCP counts as absent
    ssdp_wait: float = 2.0
    http_timeout: float = 5.0
    description: str = "torrentish"


class PortMapper:
    """Keeps `internal_port` mapped while `run` runs. `open_mapper(protocols)` is replaceable
    (tests); by default it builds the real NAT-PMP/PCP and UPnP mappers from the settings."""

    def __init__(self, settings: PortMapSettings, rng: random.Random, events: ev.EventBus,
                 on_external: Callable[[str | None, int | None], None] | None = None,
                 open_mapper: Callable | None = None):
        self.settings = settings
        self.rng = rng
        self.events = events
        self.on_external = on_external
        self.open_mapper = open_mapper or self._open_real_mapper
        self.leases: dict[str, Lease] = {}  # transport -> the lease we hold now
        self.asking: tuple[str, int, int] | None = None  # (transport, internal, external) while a request is out

    # -- the loop -----------------------------------------------------------------------------------

    async def run(self, internal_port: int) -> None:
        failures = 0
        while True:
            for group in self._protocol_groups():
                async with AsyncExitStack() as stack:
                    try:
                        mapper = await stack.enter_async_context(self.open_mapper(group))
                    except PortMapFailure as failure:
                        self._failed(group[0], None, str(failure))
                        continue
                    try:
                        if await self._map_all(mapper, internal_port):
                            failures = 0
                            await self._keep(mapper, internal_port)  # returns when a renewal failed
                            break
                    finally:
                        await self._remove_all(mapper)
            else:
                failures += 1
                await trio.sleep(retry_delay(failures, self.settings.retry_first, self.settings.retry_cap))

    def _protocol_groups(self) -> list[tuple[str, ...]]:
        """PCP and NAT-PMP next to each other are one gateway asked in either version."""
        groups: list[tuple[str, ...]] = []
        for protocol in self.settings.protocols:
            if groups and {groups[-1][-1], protocol} == {"pcp", "natpmp"}:
                groups[-1] += (protocol,)
            else:
                groups.append((protocol,))
        return groups

    async def _map_all(self, mapper: Mapper, internal_port: int) -> bool:
        """Map every transport; True if TCP (the first) was mapped."""
        for transport in self.settings.transports:
            try:
                lease = await self._ask(mapper, transport, internal_port, internal_port)
            except PortMapFailure as failure:
                self._failed(mapper.name, transport, str(failure))
                if transport == self.settings.transports[0]:
                    return False
                continue
            self._granted(lease)
        return True

    async def _keep(self, mapper: Mapper, internal_port: int) -> None:
        """Renew each lease when it is due, until a renewal fails."""
        granted_at = {transport: trio.current_time() for transport in self.leases}
        while True:
            due = {
                transport: granted_at[transport]
                + renew_delay(lease, self.settings.renew_fraction, self.settings.permanent_refresh)
                for transport, lease in self.leases.items()
            }
            transport = min(due, key=due.__getitem__)
            await trio.sleep_until(due[transport])
            old = self.leases[transport]
            try:
                lease = await self._ask(mapper, transport, internal_port, old.external_port)
            except PortMapFailure as failure:
                self._failed(mapper.name, transport, f"renewing: {failure}")
                return
            granted_at[transport] = trio.current_time()
            self._granted(lease)

    async def _ask(self, mapper: Mapper, transport: str, internal_port: int, external_port: int) -> Lease:
        """`mapper.map`, remembering the request while it is out: cancelled before the answer came,
        the gateway may have granted it all the same, so `_remove_all` removes that one too."""
        self.asking = (transport, internal_port, external_port)
        try:
            lease = await mapper.map(transport, internal_port, external_port, self.settings.lifetime)
        except PortMapFailure:
            self.asking = None
            raise
        self.asking = None
        return lease

    async def _remove_all(self, mapper: Mapper) -> None:
        """Remove what we hold (and what we were asking for), even while being cancelled, within
        `remove_timeout`."""
        asking, self.asking = self.asking, None
        if not self.leases and asking is None:
            return
        with trio.CancelScope(shield=True), trio.move_on_after(self.settings.remove_timeout) as scope:
            if asking is not None and asking[0] not in self.leases:  # (a renewal's lease covers it)
                transport, internal_port, external_port = asking
                with suppress(PortMapFailure):  # most likely there is nothing to remove
                    await mapper.unmap(Lease(mapper.name, transport, internal_port, external_port, None, 0))
            for transport, lease in list(self.leases.items()):
                try:
                    await mapper.unmap(lease)
                except PortMapFailure as failure:
                    self._failed(lease.protocol, transport, f"removing: {failure}")
                del self.leases[transport]
                if transport == "tcp" and self.on_external is not None:
                    self.on_external(None, None)
        if scope.cancelled_caught:
            for transport, lease in self.leases.items():
                self._failed(lease.protocol, transport, "removing: no answer in time (the lease will run out)")
            self.leases.clear()
            if self.on_external is not None:
                self.on_external(None, None)

    # -- events -------------------------------------------------------------------------------------

    def _granted(self, lease: Lease) -> None:
        old = self.leases.get(lease.transport)
        self.leases[lease.transport] = lease
        if not changed(old, lease):
            return
        if lease.transport == "tcp" and self.on_external is not None:
            self.on_external(lease.external_address, lease.external_port)
        self.events.publish(ev.PortMapped(
            trio.current_time(), lease.protocol, lease.transport, lease.internal_port,
            lease.external_address, lease.external_port, lease.lifetime))

    def _failed(self, protocol: str, transport: str | None, reason: str) -> None:
        self.events.publish(ev.PortMappingFailed(trio.current_time(), protocol, transport, reason))

    # -- the real mappers ---------------------------------------------------------------------------

    @asynccontextmanager
    async def _open_real_mapper(self, protocols: tuple[str, ...]) -> AsyncIterator[Mapper]:
        settings = self.settings
        rng = random.Random(self.rng.getrandbits(64))
        if protocols[0] == "upnp":
            from torrentish.services.portmap.upnp_client import open_upnp

            async with open_upnp(rng, wait=settings.ssdp_wait, http_timeout=settings.http_timeout,
                                 description=settings.description) as mapper:
                yield mapper
            return
        from torrentish.services.portmap.pmp_client import PmpMapper

        gateway = settings.gateway
        if gateway is None:
            found = await trio.to_thread.run_sync(default_gateway)
            if found is None:
                raise PortMapFailure("no IPv4 default gateway to ask")
            gateway = found[0]
        yield PmpMapper(gateway, rng, versions=protocols, port=settings.pmp_port,
                        first_timeout=settings.pmp_first_timeout, attempts=settings.pmp_attempts)


def port_mapping_service(settings: PortMapSettings | None = None):
    """A transfer service (transfer.get/seed `services=`) that maps the client's listen port."""
    settings = settings or PortMapSettings()

    async def service(client, torrent) -> None:
        mapper = PortMapper(settings, random.Random(client.rng.getrandbits(64)), torrent.events,
                            on_external=client.set_external)
        try:
            await mapper.run(client.port)
        except Exception as bug:  # a bug of ours: it ends port mapping, never the transfer
            LOGGER.warning("port mapping stopped by an internal error", exc_info=True)
            torrent.events.publish(ev.Warning(trio.current_time(), f"port mapping stopped: internal error: {bug!r}"))

    return service
