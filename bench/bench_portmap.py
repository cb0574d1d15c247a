"""Benchmark: how soon a NAT router forwards our port, and whether it stops when we do;
torrentish against libtorrent, side by side in the same namespaces.

    sudo .venv/bin/python bench/bench_portmap.py [--repeat 5] [--json bench/out/portmap.json]

The network is tests/support/nat.py's: a home namespace behind a router namespace that runs
miniupnpd (nftables masquerade) with, per protocol, only UPnP or only NAT-PMP/PCP turned on. Each
run starts one client in the home namespace on a port of its own and measures, inside that
process, the time from the listening socket being up to the router's first TCP mapping:

- torrentish: `seed T --json --port-mapping-protocols P` (P = upnp, natpmp or pcp): from the
  `start` record to the TCP `port_mapped` record (their `t` fields);
- libtorrent (PyPI, its Python bindings): a session with only `enable_upnp` or only
  `enable_natpmp`, from its creation to its first TCP `portmap_alert`.

Then the client is stopped (torrentish: SIGINT; libtorrent: the session deleted) and the router's
table is read: "removed" counts the runs after which miniupnpd held no mapping for that port.
Runs alternate between the clients. Needs root, nft, miniupnpd; prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.nat import NatLab  # noqa: E402
from torrentish.app.create import create_torrent  # noqa: E402

LIBTORRENT = """
import json, sys, time
import libtorrent as lt
protocol, port = sys.argv[1], int(sys.argv[2])
start = time.monotonic()
session = lt.session({"listen_interfaces": f"0.0.0.0:{port}", "enable_dht": False, "enable_lsd": False,
                      "enable_upnp": protocol == "upnp", "enable_natpmp": protocol == "natpmp",
                      "alert_mask": lt.alert.category_t.port_mapping_notification})
found = None
while found is None and time.monotonic() - start < 30:
    session.wait_for_alert(100)
    for alert in session.pop_alerts():
        # (libtorrent 2: map_protocol is TCP or UDP, map_transport NAT-PMP or UPnP)
        if isinstance(alert, lt.portmap_alert) and alert.map_protocol == lt.portmap_protocol.tcp:
            found = {"seconds": time.monotonic() - start, "external_port": alert.external_port,
                     "method": str(alert.map_transport)}
print(json.dumps(found), flush=True)
del session
"""


def _lab_for(protocol: str, work: Path) -> NatLab:
    if protocol == "upnp":
        return NatLab(work / f"router-{protocol}", upnp=True, natpmp=False)
    return NatLab(work / f"router-{protocol}", upnp=False, natpmp=True)


def _in(lab: NatLab, role: str, argv: list[str]) -> list[str]:
    return ["ip", "netns", "exec", lab.names[role], *map(str, argv)]


def run_torrentish(lab: NatLab, protocol: str, port: int, work: Path) -> tuple[float | None, bool]:
    payload = work / "payload.bin"
    torrent = work / "payload.torrent"
    if not torrent.exists():
        payload.write_bytes(random.Random(1).randbytes(100_000))
        torrent.write_bytes(create_torrent(payload, piece_length=16384))
    env = dict(os.environ, PYTHONPATH=str(ROOT), TORRENTISH_STATE_DIR=str(work / f"state-{port}"))
    argv = [sys.executable, "-m", "torrentish", "seed", torrent, "--data", payload, "--port", port, "--no-lsd",
            "--port-mapping", "--port-mapping-protocols", protocol, "--json", "-q"]
    child = subprocess.Popen(_in(lab, "home", argv), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             text=True, env=env)
    seconds = None
    try:
        start_t = None
        deadline = time.monotonic() + 30
        for line in child.stdout:
            record = json.loads(line)
            if record["event"] == "start":
                start_t = record["t"]
            if record["event"] == "port_mapped" and record["transport"] == "tcp":
                seconds = record["t"] - (start_t or 0.0)
                break
            if time.monotonic() > deadline:
                break
        child.send_signal(signal.SIGINT)
        child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return seconds, not any(p == port for _, p, _ in lab.forwarded_ports())


def run_libtorrent(lab: NatLab, protocol: str, port: int) -> tuple[float | None, bool]:
    if protocol == "pcp":
        return None, True
    result = subprocess.run(_in(lab, "home", [sys.executable, "-c", LIBTORRENT, protocol, port]),
                            capture_output=True, text=True, timeout=60)
    found = json.loads(result.stdout.strip().splitlines()[-1]) if result.stdout.strip() else None
    return (found or {}).get("seconds"), not any(p == port for _, p, _ in lab.forwarded_ports())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="torrentish-portmap-") as tmp:
        work = Path(tmp)
        port = 7000
        for protocol in ("upnp", "natpmp", "pcp"):
            with _lab_for(protocol, work) as lab:
                for _ in range(args.repeat):
                    for client in ("torrentish", "libtorrent"):
                        port += 1
                        if client == "torrentish":
                            seconds, removed = run_torrentish(lab, protocol, port, work)
                        else:
                            seconds, removed = run_libtorrent(lab, protocol, port)
                        entry = results.setdefault(f"{client} {protocol}", {"seconds": [], "removed": 0, "runs": 0})
                        entry["runs"] += 1
                        entry["removed"] += removed
                        if seconds is not None:
                            entry["seconds"].append(seconds)
    print(f"{'client, protocol':<22} {'mapped after (median, min-max)':>32} {'mapped':>7} {'removed at exit':>16}")
    for name, entry in results.items():
        if name == "libtorrent pcp":
            continue
        times = entry["seconds"]
        figure = (f"{statistics.median(times) * 1000:.0f} ms ({min(times) * 1000:.0f}-{max(times) * 1000:.0f})"
                  if times else "-")
        print(f"{name:<22} {figure:>32} {len(times):>3}/{entry['runs']:<3} {entry['removed']:>8}/{entry['runs']}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
