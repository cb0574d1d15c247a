"""What the web UI's poll and `torrentish remote list` cost, on torrentish daemon beside
transmission-daemon, in one run.

    .venv/bin/python bench/bench_remote.py --torrents 1000

For each daemon, N small complete torrents (added through the RPC, data on disk, checked; the
set-up of bench/bench_rpc.py), then:
- the web UI's list poll (the torrent-get that torrentish/web/app.js sends every 2 s: its
  LIST_FIELDS, read from app.js, in the `table` format): median latency of 20, and reply size;
  beside it the same request in the `objects` format, for the size the table format saves;
- `torrentish remote list` (session-get + torrent-get, printing the table) beside
  `transmission-remote PORT -l`: median wall time of 5 runs, as a person waits for it.
Everything runs on 127.0.0.1 in a temporary directory; both daemons are stopped at the end.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_rpc import ROOT, Rpc, free_port, make_torrents, start_torrentish, start_transmission, stop, wait_rpc

APP_JS = ROOT / "torrentish" / "web" / "app.js"


def list_fields() -> list[str]:
    """The fields the web UI's list asks for, as app.js has them."""
    block = re.search(r"const LIST_FIELDS = \[(.*?)\];", APP_JS.read_text(), re.S)
    assert block, "LIST_FIELDS not found in app.js"
    return re.findall(r'"(\w+)"', block.group(1))


def timed_poll(rpc: Rpc, fields: list[str], table: bool) -> tuple[float, int]:
    """(median seconds, reply bytes) of 20 torrent-gets as the web UI sends them."""
    import json

    body = json.dumps({"method": "torrent-get", "arguments": {"fields": fields, **({"format": "table"} if table else {})}})
    seconds, size = [], 0
    for _ in range(20):
        started = time.perf_counter()
        answer = rpc.client.post(rpc.url, content=body, headers={"X-Transmission-Session-Id": rpc.session_id})
        seconds.append(time.perf_counter() - started)
        assert answer.status_code == 200, answer.status_code
        size = len(answer.content)
    return statistics.median(seconds), size


def timed_command(argv: list[str], env: dict[str, str]) -> float:
    """Median wall seconds of 5 runs of a command that must succeed."""
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def measure(label: str, process: subprocess.Popen, port: int, metainfos: list[bytes], data: Path) -> dict:
    rpc = Rpc(port)
    try:
        wait_rpc(rpc, process)
        started = time.monotonic()
        for metainfo in metainfos:
            rpc.call("torrent-add", {"metainfo": base64.b64encode(metainfo).decode(), "download-dir": str(data)})
        print(f"{label}: {len(metainfos)} added in {time.monotonic() - started:.1f} s", file=sys.stderr)
        while True:
            states = [t["status"] for t in rpc.call("torrent-get", {"fields": ["status"]})["torrents"]]
            if all(state in (5, 6) for state in states):  # checked: seeding, or queued to seed
                break
            if time.monotonic() - started > 600:
                counts = {state: states.count(state) for state in sorted(set(states))}
                raise RuntimeError(f"{label}: not all checked after 600 s (statuses: {counts})")
            time.sleep(0.5)
        print(f"{label}: all checked after {time.monotonic() - started:.1f} s", file=sys.stderr)
        fields = list_fields()
        table_s, table_bytes = timed_poll(rpc, fields, table=True)
        _, objects_bytes = timed_poll(rpc, fields, table=False)
        url = f"http://127.0.0.1:{port}/transmission/rpc"
        env = dict(os.environ, PYTHONPATH=str(ROOT), NO_COLOR="1")
        ours = timed_command([sys.executable, "-m", "torrentish", "remote", "--url", url, "list"], env)
        theirs = timed_command(["transmission-remote", str(port), "-l"], env) if shutil.which("transmission-remote") else float("nan")
        return {"label": label, "fields": len(fields), "poll_ms": table_s * 1000, "table_kib": table_bytes / 1024,
                "objects_kib": objects_bytes / 1024, "ours_s": ours, "theirs_s": theirs}
    finally:
        stop(process)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torrents", type=int, default=1000)
    parser.add_argument("--size", type=int, default=64 * 1024, help="bytes per torrent")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="torrentish-bench-remote-"))
    try:
        metainfos = make_torrents(work, args.torrents, args.size)
        results = []
        port = free_port()
        results.append(measure("torrentish daemon", start_torrentish(work, port, free_port()), port,
                               metainfos, work / "data"))
        if shutil.which("transmission-daemon"):
            port = free_port()
            results.append(measure("transmission-daemon 3.00", start_transmission(work, port, free_port()), port,
                                   metainfos, work / "data"))
        print(f"{args.torrents} complete torrents; the web UI's list poll asks for {results[0]['fields']} fields\n")
        print("| daemon | web UI poll (ms) | reply, table (KiB) | reply, objects (KiB) "
              "| `torrentish remote list` (s) | `transmission-remote -l` (s) |")
        print("|---|---:|---:|---:|---:|---:|")
        for r in results:
            print(f"| {r['label']} | {r['poll_ms']:.1f} | {r['table_kib']:.0f} | {r['objects_kib']:.0f} | "
                  f"{r['ours_s']:.2f} | {r['theirs_s']:.2f} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
