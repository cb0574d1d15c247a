"""How a DHT node is set up: addresses, bootstrap nodes, timings and abuse limits."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

Address = tuple[str, int]

# The well-known public routers. Tests never use them: they always pass their own `bootstrap`.
DEFAULT_BOOTSTRAP = (
    "router.bittorrent.com:6881",
    "router.utorrent.com:6881",
    "dht.transmissionbt.com:6881",
    "dht.libtorrent.org:25401",
)
VERSION = b"TI\x00\x01"  # BEP 20 style client tag and version, sent as "v"
RECEIVE_SIZE = 8192  # larger datagrams are cut short and then fail to decode


@dataclass
class DhtConfig:
    port: int = 0  # UDP port (0: any)
    host: str = "0.0.0.0"
    host6: str | None = None  # e.g. "::" to run the IPv6 DHT as well (BEP 32)
    bootstrap: tuple[str, ...] = DEFAULT_BOOTSTRAP  # "host:port" or "[v6]:port"
    state_path: Path | None = None  # where the routing table is saved and reused; None: nowhere
    read_only: bool = False  # BEP 43: answer nothing, ask others not to keep us
    node_id: bytes | None = None  # default: the saved one, else random
    k: int = 8
    alpha: int = 3
    query_timeout: float = 3.0
    good_for: float = 15 * 60.0  # a contact not heard from for this long is questionable
    refresh_interval: float = 15 * 60.0
    maintenance_interval: float = 60.0
    save_interval: float = 10 * 60.0
    restrict_ips: bool = True  # one contact per public IP address
    rate_per_source: float = 20.0  # queries per second from one IP address
    rate_total: float = 500.0
    amplification: float = 3.0  # reply bytes per request byte, for sources not yet verified
    max_reply: int = 1400  # one packet, below common MTUs
    max_in_flight: int = 64  # our queries awaiting an answer


def parse_host_port(text: str) -> Address:
    """HOST:PORT or [IPv6]:PORT; ValueError otherwise."""
    host, _, port = text.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r} is not HOST:PORT")
    return host, int(port)


def ipv6_available() -> bool:
    """Whether this machine can bind an IPv6 UDP socket (then the IPv6 DHT runs too, BEP 32)."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False
