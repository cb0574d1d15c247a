"""What a port mapping is and when to act on it: leases, the mapper interface, the schedule. Pure.

A `Mapper` (NAT-PMP/PCP in pmp_client.py, UPnP in upnp_client.py) turns a request into a `Lease`
or raises `PortMapFailure`; service.py decides when to ask, from the functions here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from torrentish.errors import TorrentishError

__all__ = ["Lease", "Mapper", "PortMapFailure", "renew_delay", "retry_delay", "changed", "parse_protocols", "PROTOCOLS"]

PROTOCOLS = ("pcp", "natpmp", "upnp")


class PortMapFailure(TorrentishError):
    """A gateway could not be found, did not answer, or refused a mapping (one line, for the event)."""


@dataclass(frozen=True)
class Lease:
    protocol: str  # "upnp", "natpmp" or "pcp": who granted it
    transport: str  # "tcp" or "udp"
    internal_port: int
    external_port: int  # the port the gateway forwards to us: what other peers dial
    external_address: str | None  # the gateway's public address, when it told us
    lifetime: int  # seconds the gateway keeps it; 0: until removed (UPnP permanent leases)


class Mapper(Protocol):
    name: str  # the protocol, as in Lease.protocol

    async def map(self, transport: str, internal_port: int, external_port: int, lifetime: int) -> Lease:
        """Create or renew the mapping of `internal_port`, asking for `external_port`."""
        ...

    async def unmap(self, lease: Lease) -> None:
        """Remove a mapping this mapper granted."""
        ...


def renew_delay(lease: Lease, fraction: float, permanent_refresh: float) -> float:
    """Seconds from the grant until the lease is renewed: at `fraction` of its lifetime (RFC 6886
    section 3.3 suggests half), so a lost renewal can still be retried before it ends. A permanent
    UPnP lease is re-added every `permanent_refresh` seconds all the same: a gateway that restarted
    has forgotten it and says nothing."""
    if lease.lifetime <= 0:
        return permanent_refresh
    return max(1.0, lease.lifetime * fraction)


def retry_delay(failures: int, first: float, cap: float) -> float:
    """Seconds before trying again after `failures` rounds in a row in which every protocol failed."""
    return min(cap, first * 2 ** max(0, failures - 1))


def changed(old: Lease | None, new: Lease) -> bool:
    """Whether a renewal gave something other peers must learn (another port or address)."""
    return old is None or (old.external_port, old.external_address) != (new.external_port, new.external_address)


def parse_protocols(text: str) -> tuple[str, ...]:
    """"pcp,natpmp,upnp" (any order, any subset) as the protocols to try; ValueError if unknown."""
    names = tuple(dict.fromkeys(p.strip().lower() for p in text.split(",") if p.strip()))
    unknown = [n for n in names if n not in PROTOCOLS]
    if unknown or not names:
        raise ValueError(f"port mapping protocols are {', '.join(PROTOCOLS)} (comma-separated), not {text!r}")
    return names
