"""The machine's network interfaces and the addresses other machines on the LAN can reach.

Read with `ifaddr` (getifaddrs through ctypes: no subprocess, no root). Used by LSD (which
interfaces to multicast on) and by `share` (which addresses to print and put in the magnet).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import ifaddr

__all__ = ["LanInterface", "all_interfaces", "lan_interfaces", "interfaces_for", "reachable_addresses", "is_wildcard"]


@dataclass(frozen=True)
class LanInterface:
    name: str
    index: int
    ipv4: tuple[str, ...]
    ipv6: tuple[str, ...]  # without a scope; link-local ones included
    loopback: bool

    def shareable_ipv6(self) -> tuple[str, ...]:
        """IPv6 addresses another machine can dial without knowing our interface (not link-local)."""
        return tuple(a for a in self.ipv6 if not ipaddress.IPv6Address(a).is_link_local)


def all_interfaces() -> list[LanInterface]:
    found = []
    for adapter in ifaddr.get_adapters():
        v4 = tuple(ip.ip for ip in adapter.ips if ip.is_IPv4)
        v6 = tuple(ip.ip[0] for ip in adapter.ips if ip.is_IPv6)
        if not v4 and not v6:
            continue
        loopback = all(ipaddress.ip_address(a).is_loopback for a in (*v4, *v6))
        found.append(LanInterface(adapter.name, adapter.index or 0, v4, v6, loopback))
    return found


def lan_interfaces() -> list[LanInterface]:
    """Every interface with an address, except loopback."""
    return [i for i in all_interfaces() if not i.loopback]


def is_wildcard(host: str | None) -> bool:
    return host in (None, "", "0.0.0.0", "::")


def interfaces_for(host: str | None) -> list[LanInterface]:
    """The interfaces a socket bound to `host` serves: all LAN ones for a wildcard, else the one
    that holds the address (loopback included, for tests and single-machine use)."""
    if is_wildcard(host):
        return lan_interfaces()
    return [i for i in all_interfaces() if host in i.ipv4 or host in i.ipv6]


def reachable_addresses(host: str | None) -> list[str]:
    """Addresses to give other machines for a socket bound to `host`: IPv4 first, then IPv6."""
    if not is_wildcard(host):
        return [host] if host else []
    interfaces = lan_interfaces()
    v4 = [a for i in interfaces for a in i.ipv4]
    v6 = [a for i in interfaces for a in i.shareable_ipv6()]
    return v4 + v6
