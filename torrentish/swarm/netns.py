"""Network namespaces for --real --netns: one namespace per peer on a shared bridge, with tc caps.

Each peer gets namespace ``<prefix>-<i>`` whose ``eth0`` (one end of a veth pair, the other end on
the bridge) has the address 10.<run>.<i / 256>.<i % 256 + 1>/16. The same access-link model as
the simulation:

- upload: the namespace side's egress, ``tbf`` at the peer's upload rate;
- download: the bridge side's egress (traffic towards the peer), ``tbf`` at its download rate;
- latency: ``netem delay`` on both sides, so a packet from a to b is delayed a's latency + b's;
  where the kernel lacks netem (``sch_netem`` not loaded, as on the benchmark machine), latency is
  not emulated and ``latency_emulated`` says so.

Needs root (CAP_NET_ADMIN) and iproute2. Every name carries a random run id, and ``close`` removes
all of it (also after errors: use it as a context manager).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

# The ARP table's limits (global to all namespaces, set from the init namespace).
_NEIGH = Path("/proc/sys/net/ipv4/neigh/default")


def available() -> str | None:
    """None if namespaces can be used here, else why not."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            return f"{tool} (iproute2) is not installed"
    return None


def _run(*args: str) -> None:
    result = subprocess.run(args, capture_output=True, text=True)
    if result.returncode:
        raise OSError(f"{' '.join(args)}: {result.stderr.strip() or result.returncode}")


@dataclass
class Node:
    namespace: str
    address: str
    veth_outside: str


class NetnsLab:
    """``queue``: how many seconds of traffic a capped link buffers before it drops."""

    def __init__(self, prefix: str | None = None, queue: float = 0.1):
        self.queue = queue
        self.run_id = os.urandom(2).hex()
        self.prefix = prefix or f"tsh{self.run_id}"
        self.bridge = f"{self.prefix}br"
        self.subnet_octet = 64 + int(self.run_id, 16) % 128  # 10.64.0.0/16 ... 10.191.0.0/16
        self.nodes: list[Node] = []
        self._bridge_up = False
        self._neighbour_limits: tuple[list[str], list[str]] | None = None  # (original, ours)
        self.latency_emulated: bool | None = None  # None: no latency asked for yet

    def __enter__(self) -> NetnsLab:
        _run("ip", "link", "add", self.bridge, "type", "bridge")
        self._bridge_up = True
        _run("ip", "link", "set", self.bridge, "up")
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def add_node(self, index: int, *, up: float, down: float, latency: float) -> Node:
        """A namespace with caps in bytes/s (0 = unlimited) and one-way latency in seconds."""
        namespace = f"{self.prefix}-{index}"
        outside, inside = f"{self.prefix}h{index}", f"{self.prefix}n{index}"
        address = f"10.{self.subnet_octet}.{index // 256}.{index % 256 + 1}"
        _run("ip", "netns", "add", namespace)
        node = Node(namespace, address, outside)
        self.nodes.append(node)
        self._make_room_for_neighbours(len(self.nodes) ** 2 + 256)
        _run("ip", "link", "add", outside, "type", "veth", "peer", "name", inside)
        _run("ip", "link", "set", inside, "netns", namespace)
        _run("ip", "link", "set", outside, "master", self.bridge)
        _run("ip", "link", "set", outside, "up")
        inns = ("ip", "netns", "exec", namespace)
        _run(*inns, "ip", "link", "set", inside, "name", "eth0")
        _run(*inns, "ip", "addr", "add", f"{address}/16", "dev", "eth0")
        _run(*inns, "ip", "link", "set", "eth0", "up")
        _run(*inns, "ip", "link", "set", "lo", "up")
        if latency > 0 and self.latency_emulated is None:
            self.latency_emulated = _has_netem(outside)
        delay = latency if self.latency_emulated else 0.0
        _shape(inns, "eth0", up, delay, self.queue)
        _shape((), outside, down, delay, self.queue)
        return node

    def dropped_packets(self) -> int:
        """Packets the caps dropped so far, all links both ways (TCP had to recover them)."""
        total = 0
        for node in self.nodes:
            for prefix, device in (((), node.veth_outside),
                                   (("ip", "netns", "exec", node.namespace), "eth0")):
                shown = subprocess.run([*prefix, "tc", "-s", "qdisc", "show", "dev", device],
                                       capture_output=True, text=True).stdout
                total += sum(int(m) for m in re.findall(r"dropped (\d+)", shown))
        return total

    def exec_prefix(self, node: Node) -> list[str]:
        return ["ip", "netns", "exec", node.namespace]

    def _make_room_for_neighbours(self, entries: int) -> None:
        """Linux keeps one ARP table for all namespaces, capped by the init namespace's
        gc_thresh3 (1024 by default): with every peer talking to every other, 51 namespaces
        need 2,550 entries, and past the cap the namespaces set up last cannot resolve anyone
        ("neighbor table overflow"): their connections all time out. Raised for the lab's run,
        put back by close() unless someone changed them since."""
        current = [_NEIGH.joinpath(f"gc_thresh{i}").read_text().strip() for i in (1, 2, 3)]
        if int(current[2]) >= entries:
            return
        ours = [current[0], str(entries), str(entries)]  # soft and hard limits
        for i, value in zip((2, 3), ours[1:]):
            _NEIGH.joinpath(f"gc_thresh{i}").write_text(value)
        original = self._neighbour_limits[0] if self._neighbour_limits else current
        self._neighbour_limits = (original, ours)

    def close(self) -> None:
        """Remove every namespace (their veths go with them) and the bridge; never raises."""
        for node in self.nodes:
            # Deleting the veth now: a namespace whose sockets still linger (TIME_WAIT) lives on,
            # with its link, until they time out.
            subprocess.run(["ip", "link", "del", node.veth_outside], capture_output=True)
            subprocess.run(["ip", "netns", "del", node.namespace], capture_output=True)
        self.nodes.clear()
        if self._bridge_up:
            subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
            self._bridge_up = False
        if self._neighbour_limits is not None:
            original, ours = self._neighbour_limits
            self._neighbour_limits = None
            with suppress(OSError):
                if [_NEIGH.joinpath(f"gc_thresh{i}").read_text().strip() for i in (1, 2, 3)] == ours:
                    for i, value in zip((1, 2, 3), original):
                        _NEIGH.joinpath(f"gc_thresh{i}").write_text(value)


def _has_netem(device: str) -> bool:
    probe = subprocess.run(["tc", "qdisc", "add", "dev", device, "root", "netem", "delay", "1ms"],
                           capture_output=True)
    if probe.returncode:
        return False
    _run("tc", "qdisc", "del", "dev", device, "root")
    return True


def _shape(prefix: tuple[str, ...], device: str, rate: float, latency: float, queue: float) -> None:
    """netem delay (if any) with a tbf rate limit under it (if any), on device's egress."""
    parent = ("root",)
    if latency > 0:
        _run(*prefix, "tc", "qdisc", "add", "dev", device, "root", "handle", "1:", "netem",
             "delay", f"{latency * 1000:.3f}ms", "limit", "100000")
        parent = ("parent", "1:1")
    if rate:
        # The burst must hold a whole GSO segment (64 KiB) or big sends stall.
        burst = max(64 * 1024, int(rate / 50))
        limit = burst + int(rate * queue)
        _run(*prefix, "tc", "qdisc", "add", "dev", device, *parent, "handle", "10:", "tbf",
             "rate", f"{int(rate * 8)}bit", "burst", str(burst), "limit", str(limit))
