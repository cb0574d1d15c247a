"""BEP 55 holepunch messages (``ut_holepunch``, a BEP 10 extension) and the relay's decision, pure.

Payload: msg_type (1: 0 rendezvous, 1 connect, 2 error), addr_type (1: 0 IPv4, 1 IPv6), the address
(4 or 16 bytes, big-endian), port (2), err_code (4; 0 unless an error). The initiator sends
``rendezvous`` naming the target to a peer connected to both; that relay sends ``connect`` to each
side naming the other (each then opens uTP to the other at once, which opens both NATs), or an
``error`` to the initiator carrying the rendezvous's address and port.

Only the wire format and the relay's choice live here; the extension that runs them is
services/extensions/ut_holepunch.py, the simultaneous uTP open net/utp.py's ``punch`` (docs/nat.md).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from struct import Struct

from torrentish.errors import ProtocolError

RENDEZVOUS, CONNECT, ERROR = 0, 1, 2
NO_SUCH_PEER, NOT_CONNECTED, NO_SUPPORT, NO_SELF = 1, 2, 3, 4
ERROR_NAMES = {NO_SUCH_PEER: "NoSuchPeer", NOT_CONNECTED: "NotConnected", NO_SUPPORT: "NoSupport",
               NO_SELF: "NoSelf"}
_TAIL = Struct(">HI")

Address = tuple[str, int]


class HolepunchError(ProtocolError):
    """A ut_holepunch message that does not parse."""


@dataclass(frozen=True)
class Holepunch:
    type: int
    address: Address
    error: int = 0


def encode(message: Holepunch) -> bytes:
    ip = ipaddress.ip_address(message.address[0])
    return (bytes((message.type, 0 if ip.version == 4 else 1)) + ip.packed
            + _TAIL.pack(message.address[1], message.error))


def decode(payload: bytes) -> Holepunch:
    if len(payload) < 2:
        raise HolepunchError("ut_holepunch message too short")
    kind, family = payload[0], payload[1]
    if kind > ERROR:
        raise HolepunchError(f"ut_holepunch message type {kind} is unknown")
    if family > 1:
        raise HolepunchError(f"ut_holepunch address type {family} is unknown")
    size = 4 if family == 0 else 16
    if len(payload) != 2 + size + _TAIL.size:
        raise HolepunchError(f"ut_holepunch message of {len(payload)} bytes, not {2 + size + _TAIL.size}")
    ip = ipaddress.ip_address(payload[2 : 2 + size])
    port, error = _TAIL.unpack_from(payload, 2 + size)
    if kind != ERROR and error:
        raise HolepunchError("ut_holepunch error code in a message that is not an error")
    return Holepunch(kind, (str(ip), port), error)


def relay(rendezvous: Holepunch, initiator: Address, peers: Mapping[Address, bool],
          ours: Collection[Address]) -> list[tuple[Address, Holepunch]]:
    """What a relay sends for a rendezvous from ``initiator``: (to whom, message) pairs.

    ``peers`` maps each connected peer's address to whether it announced ut_holepunch; ``ours``
    are our own addresses. An initiator already connected to the target is the target's business:
    it ignores the connect message, so the relay need not know."""
    target = rendezvous.address
    if target in ours:
        code = NO_SELF
    elif target == initiator or target[1] == 0:
        code = NO_SUCH_PEER
    elif target not in peers:
        code = NOT_CONNECTED
    elif not peers[target]:
        code = NO_SUPPORT
    else:
        return [(target, Holepunch(CONNECT, initiator)), (initiator, Holepunch(CONNECT, target))]
    return [(initiator, Holepunch(ERROR, target, code))]
