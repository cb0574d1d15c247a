"""Benchmark: LEDBAT on a capped link with a deep queue, alone and beside a TCP flow.

    .venv/bin/python bench/bench_ledbat.py [--rate 20mbit] [--queue 500ms] [--alone 10]
        [--shared 15] [--after 5] [--plot bench/out/ledbat.png] [--json bench/out/ledbat.json]

Two network namespaces on a bridge (tests/support/netns.py); the bridge's port to the receiver is
capped with ``tc tbf rate RATE latency QUEUE`` (a queue that holds QUEUE of traffic: deep enough to add that much
delay). A uTP stream (net/utp.py, LEDBAT's window) runs from the sender for the whole run; a TCP flow
(cubic, set on its socket) joins after ``--alone`` seconds for ``--shared`` seconds. The receiver counts
each flow's bytes every 0.25 s; a probe every 0.1 s (a small UDP datagram the receiver echoes)
measures the round trip through the same queue, which is the queueing delay: the path has no other
latency. Reported per phase: each flow's share of the link and the
median and 90th percentile of the ping time. LEDBAT's promise: alone it fills the link (>= 90 %);
beside TCP it yields, and the delay it adds itself stays near its 100 ms target.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

UTP_PORT, TCP_PORT, ECHO_PORT = 7001, 7002, 7003
SAMPLE = 0.25
TCP_CC = "cubic"
CHUNK = 64 * 1024


# ------------------------------------------------------------------ the flows, inside the namespaces
async def _receiver(out: Path, seconds: float) -> None:
    import trio

    from torrentish.net.udp import UdpNetwork
    from torrentish.net.utp import UtpNetwork, open_utp

    counts = {"utp": 0, "tcp": 0}

    def counting(kind: str):
        async def handle(stream, *_):
            while data := await stream.receive_some(256 * 1024):
                counts[kind] += len(data)
        return handle

    async def echo():
        sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
        await sock.bind(("0.0.0.0", ECHO_PORT))
        while True:
            data, source = await sock.recvfrom(64)
            await sock.sendto(data, source)

    async with open_utp(UdpNetwork(), "0.0.0.0", UTP_PORT) as endpoint, trio.open_nursery() as nursery:
        await nursery.start(UtpNetwork(endpoint).serve, "", UTP_PORT, counting("utp"))
        await nursery.start(trio.serve_tcp, counting("tcp"), TCP_PORT)
        nursery.start_soon(echo)
        start = trio.current_time()
        with open(out, "w") as log:
            while trio.current_time() - start < seconds:
                log.write(f"{time.time():.3f} {counts['utp']} {counts['tcp']}\n")  # wall clock: one origin for all
                log.flush()
                await trio.sleep(SAMPLE)
        nursery.cancel_scope.cancel()


async def _sender(kind: str, host: str, seconds: float) -> None:
    import trio

    from torrentish.net.udp import UdpNetwork
    from torrentish.net.utp import open_utp

    payload = bytes(CHUNK)
    with trio.move_on_after(seconds):
        if kind == "probe":  # "elapsed rtt_ms" lines on stdout
            sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
            await sock.connect((host, ECHO_PORT))
            while True:
                sent = trio.current_time()
                with trio.move_on_after(2):
                    try:
                        await sock.send(b"%f" % sent)
                        await sock.recv(64)
                    except OSError:  # the echo is not up yet (ICMP port unreachable)
                        await trio.sleep(0.1)
                        continue
                    print(f"{time.time():.3f} {(trio.current_time() - sent) * 1000:.2f}", flush=True)
                await trio.sleep(max(0.0, sent + 0.1 - trio.current_time()))
        if kind == "tcp":
            stream = await trio.open_tcp_stream(host, TCP_PORT)
            # Loss-based TCP, what LEDBAT is meant to yield to (this machine's default is BBR,
            # which keeps no standing queue of its own and so never pushes the delay past target).
            stream.setsockopt(trio.socket.IPPROTO_TCP, trio.socket.TCP_CONGESTION, TCP_CC.encode())
            while True:
                await stream.send_all(payload)
        async with open_utp(UdpNetwork(), "0.0.0.0", 0) as endpoint:
            stream = await endpoint.connect(host, UTP_PORT)
            while True:
                await stream.send_all(payload)


# ------------------------------------------------------------------ the run
def _rate_bytes(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(kbit|mbit|gbit)", text).groups()
    return float(number) * {"kbit": 1e3, "mbit": 1e6, "gbit": 1e9}[unit] / 8


def run(args) -> dict:
    from tests.support.netns import Lan

    script, python = str(Path(__file__).resolve()), sys.executable
    total = args.alone + args.shared + args.after
    work = Path(args.json).parent
    work.mkdir(parents=True, exist_ok=True)
    counts_path = work / "ledbat-counts.txt"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with Lan(hosts=2) as lan:
        # The queue is in the switch, on its port to the receiver, as a router's would be: on the
        # sender's own interface TCP Small Queues would hold TCP back behind uTP's queued datagrams
        # (a limit of the local host, not of the path). The burst holds a GSO segment (64 KiB + headers).
        subprocess.run(["ip", "netns", "exec", lan.switch, "tc", "qdisc", "add", "dev", "p1", "root", "tbf",
                        "rate", args.rate, "burst", "128kb", "latency", args.queue], check=True)
        receiver_host = lan.ipv4[1]
        receiver = subprocess.Popen(lan.command(1, [python, script, "_receive", counts_path, total + 2]), env=env)
        time.sleep(1.5)  # listening
        ping = subprocess.Popen(lan.command(0, [python, script, "_send", "probe", receiver_host, total]), env=env,
                                stdout=subprocess.PIPE, text=True)
        start = time.time()  # the origin of the phases
        utp = subprocess.Popen(lan.command(0, [python, script, "_send", "utp", receiver_host, total]), env=env)
        time.sleep(args.alone)
        tcp = subprocess.Popen(lan.command(0, [python, script, "_send", "tcp", receiver_host, args.shared]), env=env)
        for proc in (tcp, utp, receiver):
            proc.wait(total + 30)
        pings, _ = ping.communicate(timeout=total + 30)
    samples = [(t - start, u, c) for t, u, c in
               (map(float, line.split()) for line in counts_path.read_text().split("\n") if line)]
    delays = [(t - start, ms) for t, ms in (map(float, line.split()) for line in pings.split("\n") if line)]
    return {"rate": args.rate, "queue": args.queue, "phases": (args.alone, args.shared, args.after),
            "load": os.getloadavg()[0], "samples": samples, "delays": delays}


def summarise(result: dict) -> list[dict]:
    alone, shared, after = result["phases"]
    link = _rate_bytes(result["rate"])
    samples, delays = result["samples"], result["delays"]
    rows = []
    # The first 2 s of each phase are left out: slow start, and TCP's own ramp-up.
    for name, begin, end in (("uTP alone", 2.0, alone), ("uTP + TCP", alone + 2.0, alone + shared),
                             ("uTP alone again", alone + shared + 2.0, alone + shared + after)):
        inside = [s for s in samples if begin <= s[0] <= end]
        if len(inside) < 2:
            continue
        seconds = inside[-1][0] - inside[0][0]
        utp = (inside[-1][1] - inside[0][1]) / seconds
        tcp = (inside[-1][2] - inside[0][2]) / seconds
        ms = sorted(d for t, d in delays if begin <= t <= end)
        rows.append({"phase": name, "utp_share": utp / link, "tcp_share": tcp / link,
                     "delay_median_ms": statistics.median(ms) if ms else None,
                     "delay_p90_ms": ms[int(len(ms) * 0.9)] if ms else None})
    return rows


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = result["samples"]
    times = [b[0] for b in samples[1:]]
    rate = {k: [(b[i] - a[i]) / (b[0] - a[0]) * 8 / 1e6 for a, b in zip(samples, samples[1:])]
            for k, i in (("uTP", 1), ("TCP", 2))}
    figure, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(8, 6))
    for name, values in rate.items():
        top.plot(times, values, label=name)
    top.axhline(_rate_bytes(result["rate"]) * 8 / 1e6, color="grey", linestyle=":", label="link")
    top.set_ylabel("Mbit/s")
    top.legend()
    top.set_title(f"LEDBAT on a {result['rate']} link, tbf queue {result['queue']}")
    bottom.plot([t for t, _ in result["delays"]], [d for _, d in result["delays"]], ".", markersize=2)
    bottom.axhline(100, color="grey", linestyle=":", label="LEDBAT target")
    bottom.set_ylabel("ping through the queue, ms")
    bottom.set_xlabel("seconds")
    bottom.legend()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1].startswith("_"):
        import trio

        if sys.argv[1] == "_receive":
            trio.run(_receiver, Path(sys.argv[2]), float(sys.argv[3]))
        else:
            trio.run(_sender, sys.argv[2], sys.argv[3], float(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", default="20mbit")
    parser.add_argument("--queue", default="500ms", help="tbf latency: how much traffic its queue holds")
    parser.add_argument("--alone", type=float, default=10.0)
    parser.add_argument("--shared", type=float, default=15.0)
    parser.add_argument("--after", type=float, default=5.0)
    parser.add_argument("--plot", type=Path, default=ROOT / "bench" / "out" / "ledbat.png")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "out" / "ledbat.json")
    args = parser.parse_args()
    print(f"# load at the start {os.getloadavg()[0]:.2f}", flush=True)
    result = run(args)
    rows = summarise(result)
    print(f"\n### {args.rate} link, tbf queue {args.queue}\n")
    print("| phase | uTP share of the link | TCP share | ping median ms | ping p90 ms |")
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['phase']} | {row['utp_share']:.0%} | {row['tcp_share']:.0%} "
              f"| {row['delay_median_ms']:.0f} | {row['delay_p90_ms']:.0f} |")
    print(f"\n# load at the end {os.getloadavg()[0]:.2f}; plot {args.plot}")
    plot(result, args.plot)
    args.json.write_text(json.dumps(result | {"summary": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
