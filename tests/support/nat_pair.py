"""Two home networks, each behind its own NAT router, on one WAN: the holepunching lab (BEP 55).

    with NatPair(symmetric=False) as lab:               # needs root, ip and nft
        with lab.process("home1", "get", [...], logs) as get: ...

Namespaces (all made by the test; veths are created inside them, none in the machine's own
namespace and none linked to a real interface, so no packet can leave):

    wan     br0 100.128.88.10/24: the WAN (a bridge) and a host on it (the seed)
    router1 wan0 100.128.88.1 | lan0 192.168.81.1    home1 eth0 192.168.81.2
    router2 wan0 100.128.88.2 | lan0 192.168.82.1    home2 eth0 192.168.82.2

Each router masquerades its LAN out of wan0 and lets in from the WAN only the replies its
connection tracking knows (forward policy drop). Plain masquerade keeps the source port when it
can and Linux's conntrack filters by the remote address and port, so a packet out to an address
opens the way back from exactly that address (what holepunching needs). ``symmetric`` gives
router2 ``masquerade fully-random``: a fresh external port per mapping, which defeats it.
New packets from the WAN to a router itself are dropped, not answered with ICMP port
unreachable: such an answer would end a punch's SYN at once, and the conntrack entry of an
answered packet would take the port that the router's own mapping then needs.
"""

from __future__ import annotations

import itertools
import os
import subprocess
from pathlib import Path
from typing import Sequence

from tests.support import ManagedProcess, require_tool
from tests.support.netns import NamespaceSet, require_netns

_counter = itertools.count()

SEED = "100.128.88.10"
ROUTER = {1: "100.128.88.1", 2: "100.128.88.2"}  # each home's public address
HOME = {1: "192.168.81.2", 2: "192.168.82.2"}

_RULES = """
table inet filter {{
    chain forward {{
        type filter hook forward priority 0; policy drop;
        ct state established,related accept
        iifname "lan0" oifname "wan0" accept
    }}
    chain input {{
        type filter hook input priority 0; policy accept;
        iifname "wan0" ct state new drop
    }}
}}
table ip nat {{
    chain postrouting {{
        type nat hook postrouting priority 100; policy accept;
        oifname "wan0" masquerade {flags}
    }}
}}
"""


def require_nat_pair() -> None:
    require_netns()
    require_tool("nft")


def _run(*argv: str, stdin: str | None = None) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, input=stdin)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {result.stderr.strip()}")
    return result.stdout


class NatPair(NamespaceSet):
    def __init__(self, *, symmetric: bool = False):
        tag = f"hp{os.getpid()}x{next(_counter)}"
        self.roles = ("wan", "router1", "home1", "router2", "home2")
        self.names = {role: f"{tag}{role[0]}{role[-1]}" for role in self.roles}
        self.symmetric = symmetric
        self._made: list[str] = []

    def _build(self) -> None:
        n = self.names
        for role in self.roles:
            _run("ip", "netns", "add", n[role])
            self._made.append(n[role])
            _run("ip", "-n", n[role], "link", "set", "lo", "up")
        _run("ip", "-n", n["wan"], "link", "add", "br0", "type", "bridge")
        _run("ip", "-n", n["wan"], "addr", "add", f"{SEED}/24", "dev", "br0")
        _run("ip", "-n", n["wan"], "link", "set", "br0", "up")
        for i in (1, 2):
            router, home = n[f"router{i}"], n[f"home{i}"]
            _run("ip", "-n", n["wan"], "link", "add", f"p{i}", "type", "veth", "peer", "name", "wan0", "netns", router)
            _run("ip", "-n", n["wan"], "link", "set", f"p{i}", "master", "br0", "up")
            _run("ip", "-n", router, "link", "add", "lan0", "type", "veth", "peer", "name", "eth0", "netns", home)
            gateway = HOME[i].rsplit(".", 1)[0] + ".1"
            for ns, device, address in ((router, "wan0", ROUTER[i]), (router, "lan0", gateway), (home, "eth0", HOME[i])):
                _run("ip", "-n", ns, "addr", "add", f"{address}/24", "dev", device)
                _run("ip", "-n", ns, "link", "set", device, "up")
            _run("ip", "-n", home, "route", "add", "default", "via", gateway)
            _run("ip", "netns", "exec", router, "sysctl", "-qw", "net.ipv4.ip_forward=1")
            flags = "fully-random" if self.symmetric and i == 2 else ""
            _run("ip", "netns", "exec", router, "nft", "-f", "-", stdin=_RULES.format(flags=flags))

    def process(self, role: str, label: str, argv: Sequence[str], log_dir: Path, **kwargs) -> ManagedProcess:
        """A ManagedProcess running ``argv`` in the namespace of ``role``."""
        return ManagedProcess(label, ["ip", "netns", "exec", self.names[role], *map(str, argv)], log_dir, **kwargs)
