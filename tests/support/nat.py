"""A home network behind a real NAT router, made of network namespaces, with miniupnpd as the
router's UPnP IGD and NAT-PMP/PCP server.

    with NatLab(log_dir, upnp=True, natpmp=False) as lab:      # needs root, nft and miniupnpd
        with lab.process("home", "seed", [python, "-m", "torrentish", "seed", ...], logs) as seed:
            ...
        lab.forwarded_ports()                                  # what miniupnpd maps right now

Three namespaces joined by two veth pairs, created inside the namespaces (nothing in the machine's
own namespace, no link to a real interface, so no packet can leave them):

    home  eth0 192.168.77.2/24, default route via the router
    router  lan0 192.168.77.1/24 | wan0 100.128.77.1/24: forwards, masquerades out of wan0, and
            lets in from the WAN only what miniupnpd maps (forward policy drop)
    wan   eth0 100.128.77.2/24: an Internet host

The WAN side needs an address that is not private or reserved: miniupnpd refuses to serve one
("not suitable for external IP"). 100.128.0.0/16 lies just past the shared address space
100.64.0.0/10, so miniupnpd takes it; it exists only inside these namespaces.

Debian's miniupnpd-nftables lacks the helper its nft_init.sh sources, so the chains miniupnpd
fills (table inet filter: miniupnpd, prerouting_miniupnpd, postrouting_miniupnpd) are made here.
`close` stops miniupnpd and everything else running in the namespaces, then deletes them.
"""

from __future__ import annotations

import itertools
import os
import subprocess
from pathlib import Path
from typing import Sequence

from tests.support import ManagedProcess, require_tool, tail, wait_until
from tests.support.netns import NamespaceSet, require_netns

_counter = itertools.count()

LAN_GATEWAY = "192.168.77.1"
HOME = "192.168.77.2"
WAN_ADDRESS = "100.128.77.1"  # the router's public side: what a mapping makes reachable
WAN_HOST = "100.128.77.2"

_RULESET = """
table inet filter {
    chain forward {
        type filter hook forward priority 0; policy drop;
        ct state established,related accept
        iifname "lan0" oifname "wan0" accept
        jump miniupnpd
    }
    chain miniupnpd {
    }
    chain prerouting {
        type nat hook prerouting priority -100; policy accept;
        jump prerouting_miniupnpd
    }
    chain postrouting {
        type nat hook postrouting priority 100; policy accept;
        jump postrouting_miniupnpd
        oifname "wan0" masquerade
    }
    chain prerouting_miniupnpd {
    }
    chain postrouting_miniupnpd {
    }
}
"""


def require_nat_lab() -> None:
    """Skip locally / fail in CI unless namespaces, nft and miniupnpd are all here."""
    require_netns()
    require_tool("nft")
    require_tool("miniupnpd")


def _run(*argv: str) -> str:
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {result.stderr.strip()}")
    return result.stdout


class NatLab(NamespaceSet):
    def __init__(self, work_dir: Path, *, upnp: bool = True, natpmp: bool = True):
        tag = f"tn{os.getpid()}x{next(_counter)}"
        self.names = {role: f"{tag}{role[0]}" for role in ("home", "router", "wan")}
        self.work_dir = Path(work_dir)
        self.upnp = upnp
        self.natpmp = natpmp
        self._made: list[str] = []
        self.daemon: ManagedProcess | None = None


    def _in(self, role: str, *argv: str) -> str:
        return _run("ip", "netns", "exec", self.names[role], *argv)

    def _build(self) -> None:
        self._build_network()
        self._start_miniupnpd()

    def _build_network(self) -> None:
        home, router, wan = (self.names[r] for r in ("home", "router", "wan"))
        for name in (home, router, wan):
            _run("ip", "netns", "add", name)
            self._made.append(name)
            _run("ip", "-n", name, "link", "set", "lo", "up")
        _run("ip", "-n", router, "link", "add", "lan0", "type", "veth", "peer", "name", "eth0", "netns", home)
        _run("ip", "-n", router, "link", "add", "wan0", "type", "veth", "peer", "name", "eth0", "netns", wan)
        for name, device, address in ((router, "lan0", LAN_GATEWAY), (router, "wan0", WAN_ADDRESS),
                                      (home, "eth0", HOME), (wan, "eth0", WAN_HOST)):
            _run("ip", "-n", name, "addr", "add", f"{address}/24", "dev", device)
            _run("ip", "-n", name, "link", "set", device, "up")
        _run("ip", "-n", home, "route", "add", "default", "via", LAN_GATEWAY)
        _run("ip", "-n", router, "route", "add", "224.0.0.0/4", "dev", "lan0")  # SSDP answers and notices
        self._in("router", "sysctl", "-qw", "net.ipv4.ip_forward=1")
        subprocess.run(["ip", "netns", "exec", router, "nft", "-f", "-"], input=_RULESET, text=True,
                       check=True, capture_output=True)

    def _start_miniupnpd(self) -> None:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        config = self.work_dir / "miniupnpd.conf"
        config.write_text("\n".join([
            "ext_ifname=wan0",
            "listening_ip=lan0",
            "port=0",
            f"enable_upnp={'yes' if self.upnp else 'no'}",
            f"enable_natpmp={'yes' if self.natpmp else 'no'}",
            "secure_mode=yes",
            "allow 1024-65535 192.168.77.0/24 1024-65535",
            "deny 0-65535 0.0.0.0/0 0-65535",
            "",
        ]))
        argv = ["ip", "netns", "exec", self.names["router"], "miniupnpd", "-d", "-f", str(config),
                "-P", str(self.work_dir / "miniupnpd.pid")]
        self.daemon = ManagedProcess("miniupnpd", argv, self.work_dir)
        self.daemon.__enter__()
        daemon = self.daemon
        ready = "Listening for NAT-PMP/PCP" if self.natpmp else "HTTP listening on port"

        def started() -> bool:
            daemon.check_alive()
            return ready in tail(daemon.stderr_path, 200) + tail(daemon.stdout_path, 200)

        wait_until(started, 10, "miniupnpd to start", daemon.report)

    def close(self) -> None:
        if self.daemon is not None:
            self.daemon.stop()
            self.daemon = None
        super().close()

    # ------------------------------------------------------------------------------------- use
    def process(self, role: str, label: str, argv: Sequence[str], log_dir: Path, **kwargs) -> ManagedProcess:
        """A ManagedProcess running `argv` in the namespace of `role` (home, router or wan)."""
        inside = ["ip", "netns", "exec", self.names[role], *map(str, argv)]
        return ManagedProcess(label, inside, log_dir, **kwargs)

    def forwarded_ports(self) -> list[tuple[str, int, str]]:
        """(protocol, external port, internal address:port) of each mapping miniupnpd holds now,
        read from the DNAT rules it adds (protocol 6 is TCP, 17 UDP)."""
        text = self._in("router", "nft", "list", "chain", "inet", "filter", "prerouting_miniupnpd")
        found = []
        for line in text.splitlines():
            words = line.split()
            if "dnat" not in words:
                continue
            protocol = {"0x6": "tcp", "0x11": "udp"}.get(words[words.index("@nh,72,8") + 1], "?")
            port = int(words[words.index("dport") + 1])
            found.append((protocol, port, words[-1]))
        return sorted(found)
