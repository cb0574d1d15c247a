"""Compact peer addresses, shared by trackers (BEP 23, BEP 7), PEX (BEP 11) and the DHT (BEP 5).

An address is 4 or 16 bytes of IP followed by a 2-byte port, both in network order. Pure code.
"""

from __future__ import annotations

import ipaddress

Address = tuple[str, int]
IPV4_WIDTH = 6
IPV6_WIDTH = 18
_BROADCAST = ipaddress.IPv4Address("255.255.255.255")


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    ip = ipaddress.ip_address(host)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped  # ::ffff:a.b.c.d is an IPv4 peer
    return ip


def pack_address(host: str, port: int) -> bytes:
    """6 bytes (IPv4, including IPv4-mapped IPv6) or 18 bytes (IPv6). `host` must be an IP literal."""
    return _ip(host).packed + port.to_bytes(2, "big")


def unpack_address(raw: bytes) -> Address:
    """One compact address; ValueError unless it is 6 or 18 bytes."""
    if len(raw) not in (IPV4_WIDTH, IPV6_WIDTH):
        raise ValueError(f"a compact address is 6 or 18 bytes, not {len(raw)}")
    return str(ipaddress.ip_address(raw[:-2])), int.from_bytes(raw[-2:], "big")


def unpack_addresses(raw: bytes, width: int, limit: int | None = None) -> list[Address]:
    """A run of compact addresses of one width; ValueError when the length is not a multiple of it.
    Entries past `limit` are ignored."""
    if width not in (IPV4_WIDTH, IPV6_WIDTH):
        raise ValueError("width is 6 or 18")
    if len(raw) % width:
        raise ValueError(f"{len(raw)} bytes is not a multiple of {width}")
    end = len(raw) if limit is None else min(len(raw), limit * width)
    return [unpack_address(raw[offset : offset + width]) for offset in range(0, end, width)]


def pack_addresses(addresses, width: int) -> bytes:
    """The compact form of those addresses whose family matches `width`."""
    out = bytearray()
    for host, port in addresses:
        packed = pack_address(host, port)
        if len(packed) == width:
            out += packed
    return bytes(out)


def dialable(host: str, port: int) -> Address | None:
    """(ip, port) in canonical form if it can be a peer to connect to, else None.

    Refused: port 0, non-IP hosts, unspecified, multicast, broadcast and reserved addresses
    (loopback stays: local swarms and tests use it).
    """
    if not 0 < port < 65536:
        return None
    try:
        ip = _ip(host)
    except ValueError:
        return None
    # ipaddress files ::1 under "reserved" too, so loopback is let through first.
    if not ip.is_loopback and (ip.is_unspecified or ip.is_multicast or ip.is_reserved or ip == _BROADCAST):
        return None
    return str(ip), port


def is_local(host: str) -> bool:
    """Loopback, private or link-local: an address that means nothing across the Internet."""
    try:
        ip = _ip(host)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_private or ip.is_link_local
