"""Which host is the NAT gateway: the IPv4 default route's next hop, from Linux's /proc/net/route.

NAT-PMP and PCP have no discovery of their own: the server is the default gateway (RFC 6886
section 3, RFC 6887 section 8.1). `default_gateway_from` reads the table's text (pure, tested with
made-up tables); `default_gateway` reads the file, which is the calling process's own network
namespace's table, and gives None where there is none (another OS, no default route).
"""

from __future__ import annotations

import ipaddress
import struct
from pathlib import Path

__all__ = ["default_gateway", "default_gateway_from", "ROUTE_TABLE"]

ROUTE_TABLE = Path("/proc/net/route")
_RTF_UP = 0x1
_RTF_GATEWAY = 0x2
_MAX_TABLE = 1 << 20  # a route table this large is not one we read


def _hex_address(field: str) -> str:
    """/proc/net/route prints addresses as the 32-bit value in host byte order, in hex."""
    return str(ipaddress.IPv4Address(struct.pack("<I", int(field, 16))))


def default_gateway_from(table: str) -> tuple[str, str] | None:
    """(gateway address, interface) of the default route with the lowest metric, or None."""
    best: tuple[int, str, str] | None = None
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        interface, destination, gateway, flags, metric, mask = (
            fields[0], fields[1], fields[2], fields[3], fields[6], fields[7]
        )
        try:
            if int(destination, 16) or int(mask, 16):
                continue  # not a default route
            if int(flags, 16) & (_RTF_UP | _RTF_GATEWAY) != _RTF_UP | _RTF_GATEWAY:
                continue
            address, rank = _hex_address(gateway), int(metric)
        except (ValueError, struct.error):
            continue
        if best is None or rank < best[0]:
            best = (rank, address, interface)
    return None if best is None else (best[1], best[2])


def default_gateway(table: Path = ROUTE_TABLE) -> tuple[str, str] | None:
    """The default gateway of this process's network namespace, or None."""
    try:
        with table.open("rb") as file:
            text = file.read(_MAX_TABLE).decode("ascii", "replace")
    except OSError:
        return None
    return default_gateway_from(text)
