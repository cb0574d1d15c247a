"""NAT-PMP (RFC 6886) and PCP MAP (RFC 6887) messages: requests encoded, replies decoded. Pure.

Both protocols talk to the default gateway on UDP port 5351 and share their first byte, the
version: 0 is NAT-PMP, 2 is PCP. A gateway that speaks only NAT-PMP answers a PCP request with a
NAT-PMP reply whose result is 1 (unsupported version), which is how a client learns to fall back
(RFC 6887 section 9); `decode_reply` therefore reads either.

    packet = pcp_map_request(nonce, "tcp", 6881, 6881, 3600, client_address="192.168.1.20")
    reply = decode_reply(datagram)          # PcpMapReply, NatPmpMapReply or NatPmpAddressReply

Replies come from the network: every length and field is checked, and a bad one raises
`PortMapProtocolError` (one line), never anything else.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

from torrentish.errors import ProtocolError

__all__ = [
    "SERVER_PORT",
    "NATPMP_VERSION",
    "PCP_VERSION",
    "TRANSPORTS",
    "PortMapProtocolError",
    "NatPmpAddressReply",
    "NatPmpMapReply",
    "PcpMapReply",
    "natpmp_address_request",
    "natpmp_map_request",
    "pcp_map_request",
    "decode_reply",
    "result_text",
    "retransmit_delays",
    "UNSUPPORTED_VERSION",
]

SERVER_PORT = 5351
NATPMP_VERSION = 0
PCP_VERSION = 2
UNSUPPORTED_VERSION = 1  # the same result code in both protocols
MAX_PCP_MESSAGE = 1100  # RFC 6887 section 7: larger messages are not valid PCP

# NAT-PMP opcodes: 0 external address, 1 map UDP, 2 map TCP; a reply's opcode is 128 + the request's.
_NATPMP_OPCODE = {"udp": 1, "tcp": 2}
_PROTOCOL_NUMBER = {"tcp": 6, "udp": 17}  # IANA protocol numbers, as PCP carries them
TRANSPORTS = tuple(_PROTOCOL_NUMBER)
_PCP_MAP = 1
_PCP_RESPONSE_BIT = 0x80

_NATPMP_RESULTS = {
    0: "success",
    1: "unsupported version",
    2: "not authorized or refused",
    3: "network failure",
    4: "out of resources",
    5: "unsupported opcode",
}
_PCP_RESULTS = {
    0: "success",
    1: "unsupported version",
    2: "not authorized",
    3: "malformed request",
    4: "unsupported opcode",
    5: "unsupported option",
    6: "malformed option",
    7: "network failure",
    8: "no resources",
    9: "unsupported protocol",
    10: "user exceeded quota",
    11: "cannot provide external address or port",
    12: "address mismatch (a NAT between us and the gateway?)",
    13: "excessive remote peers",
}

_NATPMP_MAP = struct.Struct("!BBHHHI")  # version, opcode, reserved, internal, suggested external, lifetime
_NATPMP_HEADER = struct.Struct("!BBHI")  # version, opcode, result, seconds since the mapping table began
_NATPMP_MAP_BODY = struct.Struct("!HHI")  # internal port, mapped external port, lifetime
_PCP_HEADER = struct.Struct("!BBxxI16s")  # version, R|opcode, reserved, lifetime, client address
_PCP_REPLY_HEADER = struct.Struct("!BBxBII12x")  # version, R|opcode, reserved, result, lifetime, epoch
_PCP_MAP_BODY = struct.Struct("!12sB3xHH16s")  # nonce, protocol, reserved, internal, external, address


class PortMapProtocolError(ProtocolError):
    """A NAT-PMP or PCP reply that is not well formed."""


@dataclass(frozen=True)
class NatPmpAddressReply:
    result: int
    epoch: int  # seconds since the gateway's mapping table began: a jump back means it lost it
    address: str | None  # the gateway's external IPv4 address (None unless result == 0)


@dataclass(frozen=True)
class NatPmpMapReply:
    transport: str  # "tcp" or "udp"
    result: int
    epoch: int
    internal_port: int
    external_port: int
    lifetime: int  # seconds the mapping lasts


@dataclass(frozen=True)
class PcpMapReply:
    result: int
    lifetime: int  # seconds the mapping lasts; for an error, how long the error is likely to last
    epoch: int
    nonce: bytes | None  # None in an error reply that carried only the header
    transport: str | None  # "tcp", "udp", or None for another protocol number or a header-only reply
    internal_port: int
    external_port: int
    external_address: str | None


Reply = NatPmpAddressReply | NatPmpMapReply | PcpMapReply


def result_text(version: int, result: int) -> str:
    names = _PCP_RESULTS if version == PCP_VERSION else _NATPMP_RESULTS
    return names.get(result, f"result code {result}")


def _port(value: int, what: str) -> int:
    if not 0 <= value <= 0xFFFF:
        raise ValueError(f"{what} {value} is not a port")
    return value


def _lifetime(value: int) -> int:
    if not 0 <= value <= 0xFFFFFFFF:
        raise ValueError(f"lifetime {value} does not fit 32 bits")
    return value


def _transport(transport: str) -> str:
    if transport not in _PROTOCOL_NUMBER:
        raise ValueError(f"transport {transport!r} is neither 'tcp' nor 'udp'")
    return transport


def natpmp_address_request() -> bytes:
    """Ask a NAT-PMP gateway for its external address (RFC 6886 section 3.2)."""
    return bytes([NATPMP_VERSION, 0])


def natpmp_map_request(transport: str, internal_port: int, external_port: int, lifetime: int) -> bytes:
    """Map (lifetime > 0) or remove (lifetime 0, external port 0) one port (RFC 6886 section 3.3).

    `external_port` is only a suggestion: the reply says which port the gateway gave.
    """
    return _NATPMP_MAP.pack(
        NATPMP_VERSION,
        _NATPMP_OPCODE[_transport(transport)],
        0,
        _port(internal_port, "internal port"),
        _port(external_port, "external port"),
        _lifetime(lifetime),
    )


def _as_16_bytes(address: str | None) -> bytes:
    """PCP's address fields are 16 bytes: IPv6, or IPv4 mapped (::ffff:a.b.c.d); None is
    "no preference", which for IPv4 is ::ffff:0.0.0.0 (RFC 6887 section 11.1)."""
    parsed = ipaddress.ip_address(address or "0.0.0.0")
    if parsed.version == 4:
        return bytes(10) + b"\xff\xff" + parsed.packed
    return parsed.packed


def _from_16_bytes(raw: bytes) -> str:
    parsed = ipaddress.IPv6Address(raw)
    mapped = parsed.ipv4_mapped
    return str(mapped if mapped is not None else parsed)


def pcp_map_request(
    nonce: bytes,
    transport: str,
    internal_port: int,
    external_port: int,
    lifetime: int,
    *,
    client_address: str,
    external_address: str | None = None,
) -> bytes:
    """A PCP MAP request (RFC 6887 sections 7.1 and 11.1): create, renew (same nonce) or, with
    lifetime 0, delete a mapping. `client_address` is our own address as the gateway sees it (the
    source of this packet); a NAT between us and the gateway shows up as result 12."""
    if len(nonce) != 12:
        raise ValueError("a PCP mapping nonce is 12 bytes")
    header = _PCP_HEADER.pack(PCP_VERSION, _PCP_MAP, _lifetime(lifetime), _as_16_bytes(client_address))
    body = _PCP_MAP_BODY.pack(
        nonce,
        _PROTOCOL_NUMBER[_transport(transport)],
        _port(internal_port, "internal port"),
        _port(external_port, "external port"),
        _as_16_bytes(external_address),
    )
    return header + body


def _decode_natpmp(data: bytes) -> NatPmpAddressReply | NatPmpMapReply:
    if len(data) < _NATPMP_HEADER.size:
        raise PortMapProtocolError(f"NAT-PMP reply of {len(data)} bytes is too short")
    _, opcode, result, epoch = _NATPMP_HEADER.unpack_from(data)
    if opcode == 128:
        if result != 0:
            return NatPmpAddressReply(result, epoch, None)
        if len(data) < _NATPMP_HEADER.size + 4:
            raise PortMapProtocolError("NAT-PMP address reply without the address")
        address = str(ipaddress.IPv4Address(data[8:12]))
        return NatPmpAddressReply(result, epoch, address)
    transport = {128 + number: name for name, number in _NATPMP_OPCODE.items()}.get(opcode)
    if transport is None:
        raise PortMapProtocolError(f"NAT-PMP reply with unknown opcode {opcode}")
    if len(data) < _NATPMP_HEADER.size + _NATPMP_MAP_BODY.size:
        if result == 0:
            raise PortMapProtocolError("NAT-PMP mapping reply without the mapping")
        return NatPmpMapReply(transport, result, epoch, 0, 0, 0)  # an error needs no body
    internal, external, lifetime = _NATPMP_MAP_BODY.unpack_from(data, _NATPMP_HEADER.size)
    return NatPmpMapReply(transport, result, epoch, internal, external, lifetime)


def _decode_pcp(data: bytes) -> PcpMapReply:
    if len(data) > MAX_PCP_MESSAGE or len(data) % 4:
        raise PortMapProtocolError(f"PCP reply of {len(data)} bytes (at most {MAX_PCP_MESSAGE}, a multiple of 4)")
    if len(data) < _PCP_REPLY_HEADER.size:
        raise PortMapProtocolError(f"PCP reply of {len(data)} bytes is too short")
    _, r_opcode, result, lifetime, epoch = _PCP_REPLY_HEADER.unpack_from(data)
    if not r_opcode & _PCP_RESPONSE_BIT:
        raise PortMapProtocolError("a PCP request where a reply was expected")
    if r_opcode & ~_PCP_RESPONSE_BIT != _PCP_MAP:
        raise PortMapProtocolError(f"PCP reply to opcode {r_opcode & ~_PCP_RESPONSE_BIT}, not MAP")
    if len(data) < _PCP_REPLY_HEADER.size + _PCP_MAP_BODY.size:
        if result == 0:
            raise PortMapProtocolError("PCP MAP reply without the mapping")
        return PcpMapReply(result, lifetime, epoch, None, None, 0, 0, None)
    # Options may follow the MAP body; none we send asks for one back, so they are ignored.
    nonce, protocol, internal, external, address = _PCP_MAP_BODY.unpack_from(data, _PCP_REPLY_HEADER.size)
    transport = {number: name for name, number in _PROTOCOL_NUMBER.items()}.get(protocol)
    return PcpMapReply(result, lifetime, epoch, nonce, transport, internal, external, _from_16_bytes(address))


def decode_reply(data: bytes) -> Reply:
    """A datagram from the gateway's port 5351, whichever protocol it speaks."""
    if not data:
        raise PortMapProtocolError("empty NAT-PMP/PCP reply")
    if data[0] == NATPMP_VERSION:
        if len(data) >= 2 and data[1] < 128:
            raise PortMapProtocolError("a NAT-PMP request where a reply was expected")
        return _decode_natpmp(data)
    if data[0] == PCP_VERSION:
        return _decode_pcp(data)
    raise PortMapProtocolError(f"reply of unknown version {data[0]}")


def retransmit_delays(first: float, attempts: int) -> list[float]:
    """How long to wait for a reply after each send: RFC 6886 section 3.1 starts at 250 ms and
    doubles. (PCP's own schedule starts at 3 s; a gateway one hop away answers in milliseconds,
    so both use the faster one and give up sooner than either RFC's 9 tries.)"""
    return [first * 2**i for i in range(attempts)]
