"""Many small torrents seeding in one daemon, torrentish beside transmission-daemon, in one run.

    .venv/bin/python bench/bench_rpc.py --torrents 1000 --idle 60

For each daemon: N single-file torrents (data already on disk) are added through the RPC
(torrent-add with base64 metainfo, one request each, as a front-end does), then we measure
- the time to add them, and until every one is checked and seeding;
- resident memory (VmRSS) once all seed;
- CPU used while idle (nothing connects: no tracker, DHT, LSD or PEX), over `--idle` seconds;
- the latency of one torrent-get of all N torrents with 20 fields (median of 20 requests).
Everything runs on 127.0.0.1 in a temporary directory; both daemons are stopped at the end.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from torrentish.formats.bencoding import encode  # noqa: E402

FIELDS = ["id", "name", "status", "error", "errorString", "eta", "isFinished", "leftUntilDone",
          "peersGettingFromUs", "peersSendingToUs", "rateDownload", "rateUpload", "sizeWhenDone",
          "uploadRatio", "percentDone", "totalSize", "downloadDir", "hashString", "addedDate", "queuePosition"]


def make_torrents(directory: Path, count: int, size: int) -> list[bytes]:
    data = directory / "data"
    data.mkdir(parents=True)
    rng = random.Random(7)
    metainfos = []
    for i in range(count):
        name = f"small-{i:05d}.bin"
        content = rng.randbytes(size)
        (data / name).write_bytes(content)
        piece = 16384
        pieces = b"".join(hashlib.sha1(content[o:o + piece]).digest() for o in range(0, size, piece))
        info = {b"name": name.encode(), b"piece length": piece, b"pieces": pieces, b"length": size}
        metainfos.append(encode({b"info": info}))
    return metainfos


class Rpc:
    def __init__(self, port: int):
        self.url = f"http://127.0.0.1:{port}/transmission/rpc"
        self.client = httpx.Client(timeout=120)
        self.session_id = ""

    def call(self, method: str, arguments: dict) -> dict:
        body = json.dumps({"method": method, "arguments": arguments})
        for _ in range(3):
            answer = self.client.post(self.url, content=body, headers={"X-Transmission-Session-Id": self.session_id})
            if answer.status_code == 409:
                self.session_id = answer.headers["X-Transmission-Session-Id"]
                continue
            data = answer.json()
            if data["result"] != "success":
                raise RuntimeError(f"{method}: {data['result']}")
            return data["arguments"]
        raise RuntimeError("no session id")


def wait_rpc(rpc: Rpc, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"daemon exited with {process.returncode}")
        try:
            rpc.call("session-get", {"fields": ["version"]})
            return
        except (httpx.HTTPError, RuntimeError):
            time.sleep(0.2)
    raise RuntimeError("the RPC did not come up")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_torrentish(work: Path, rpc_port: int, peer_port: int) -> subprocess.Popen:
    env = dict(os.environ, TORRENTISH_STATE_DIR=str(work / "t-state"), PYTHONPATH=str(ROOT))
    argv = [sys.executable, "-m", "torrentish", "daemon", "--rpc-port", str(rpc_port), "--port", str(peer_port),
            "--download-dir", str(work / "data"), "--no-lsd", "--no-dht", "-q", "--log-file", str(work / "t.log")]
    return subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=open(work / "t.err", "wb"))


def start_transmission(work: Path, rpc_port: int, peer_port: int) -> subprocess.Popen:
    config = work / "tr-config"
    config.mkdir()
    settings = {"rpc-port": rpc_port, "rpc-bind-address": "127.0.0.1", "rpc-authentication-required": False,
                "rpc-whitelist-enabled": False, "peer-port": peer_port, "dht-enabled": False, "lpd-enabled": False,
                "pex-enabled": False, "utp-enabled": False, "port-forwarding-enabled": False,
                "download-dir": str(work / "data"), "download-queue-enabled": False, "seed-queue-enabled": False,
                "message-level": 1}
    (config / "settings.json").write_text(json.dumps(settings))
    return subprocess.Popen(["transmission-daemon", "-f", "-g", str(config)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=open(work / "tr.err", "wb"))


def measure(label: str, process: subprocess.Popen, rpc: Rpc, metainfos: list[bytes], data: Path,
            idle: float) -> dict:
    try:
        wait_rpc(rpc, process)
        # every torrent seeds at once (both daemons queue seeds by default)
        rpc.call("session-set", {"seed-queue-enabled": False, "download-queue-enabled": False})
        started = time.perf_counter()
        for metainfo in metainfos:
            rpc.call("torrent-add", {"metainfo": base64.b64encode(metainfo).decode(), "download-dir": str(data)})
        added = time.perf_counter() - started
        while True:
            torrents = rpc.call("torrent-get", {"fields": ["status"]})["torrents"]
            if len(torrents) == len(metainfos) and all(t["status"] == 6 for t in torrents):
                break
            if process.poll() is not None:
                raise RuntimeError(f"{label} exited")
            if time.perf_counter() - started > 900:
                states = statistics.multimode(t["status"] for t in torrents)
                raise RuntimeError(f"{label}: not all seeding after 900 s (most are in state {states})")
            time.sleep(0.5)
        seeding = time.perf_counter() - started
        time.sleep(2)  # let start-up work settle before the idle window
        cpu0, t0 = cpu_seconds(process.pid), time.monotonic()
        time.sleep(idle)
        idle_cpu = (cpu_seconds(process.pid) - cpu0) / (time.monotonic() - t0)
        memory = rss_mib(process.pid)
        latencies = []
        for _ in range(20):
            t = time.perf_counter()
            got = rpc.call("torrent-get", {"fields": FIELDS})["torrents"]
            latencies.append(time.perf_counter() - t)
            assert len(got) == len(metainfos)
        return {"label": label, "add_s": added, "seeding_s": seeding, "rss_mib": memory,
                "idle_cpu_pct": idle_cpu * 100, "get_ms": statistics.median(latencies) * 1000}
    finally:
        stop(process)


def stop(process: subprocess.Popen) -> None:
    """SIGTERM (a clean stop), SIGKILL after a minute."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torrents", type=int, default=1000)
    parser.add_argument("--size", type=int, default=64 * 1024, help="bytes per torrent")
    parser.add_argument("--idle", type=float, default=60.0, help="seconds of idle CPU measurement")
    parser.add_argument("--only", choices=["torrentish", "transmission"])
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="torrentish-bench-rpc-"))
    try:
        metainfos = make_torrents(work, args.torrents, args.size)
        results = []
        if args.only != "transmission":
            port = free_port()
            results.append(measure("torrentish daemon", start_torrentish(work, port, free_port()), Rpc(port),
                                   metainfos, work / "data", args.idle))
        if args.only != "torrentish" and shutil.which("transmission-daemon"):
            port = free_port()
            results.append(measure("transmission-daemon 3.00", start_transmission(work, port, free_port()),
                                   Rpc(port), metainfos, work / "data", args.idle))
        print(f"{args.torrents} torrents of {args.size} bytes, idle window {args.idle:g} s\n")
        print("| daemon | add all (s) | all seeding (s) | RSS (MiB) | idle CPU (%) | torrent-get, 20 fields (ms) |")
        print("|---|---:|---:|---:|---:|---:|")
        for r in results:
            print(f"| {r['label']} | {r['add_s']:.2f} | {r['seeding_s']:.2f} | {r['rss_mib']:.1f} | "
                  f"{r['idle_cpu_pct']:.2f} | {r['get_ms']:.1f} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
