"""A libtorrent peer for --real swarms, speaking real_peer's line protocol (see there).

    python -m torrentish.swarm.lt_peer '<config JSON>'

Needs the ``libtorrent`` Python bindings (PyPI ``libtorrent``; a test dependency of torrentish).
Set up as docs/reference-clients.md says: TCP only (no uTP), no DHT/LSD/UPnP, many
connections per IP. Capacities on loopback are per-torrent limits (session limits do not apply to
local peers); on namespaces, tc does it. The data is the same synthetic content as torrentish's,
written to disk for a seed (libtorrent reads files), so every client serves identical pieces.
"""

from __future__ import annotations

import json
import queue
import sys
import threading
import time
from pathlib import Path

from torrentish.formats.metainfo import build_torrent
from torrentish.swarm.synthetic import SyntheticContent

POLL = 0.05


def _say(**event) -> None:
    print(json.dumps(event), flush=True)


def _stdin_lines(out: queue.Queue) -> None:
    for line in sys.stdin:
        out.put(json.loads(line))
    out.put(None)


def main() -> None:
    import libtorrent as lt

    config = json.loads(sys.argv[1])
    peer_dir = Path(config["dir"])
    peer_dir.mkdir(parents=True, exist_ok=True)
    content = SyntheticContent(config["file_size"], config["piece_size"], salt=config["salt"].encode())
    torrent = peer_dir / "swarm.torrent"
    torrent.write_bytes(build_torrent(content.info.raw))
    if config["seed"]:
        content.write_file(peer_dir / content.name)
    settings = {
        "listen_interfaces": f"{config['host']}:{config['port']}",
        "enable_outgoing_utp": False, "enable_incoming_utp": False,
        "enable_dht": False, "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
        "enable_ip_notifier": False, "allow_multiple_connections_per_ip": True,
        "unchoke_slots_limit": config["settings"].get("upload_slots", 4),
        "connections_limit": 4 * config["settings"].get("max_peers_per_torrent", 50),
        "alert_mask": 0,
    }
    session = lt.session(settings)
    params = lt.add_torrent_params()
    params.ti = lt.torrent_info(str(torrent))
    params.save_path = str(peer_dir)
    handle = session.add_torrent(params)
    handle.set_max_connections(config["settings"].get("max_peers_per_torrent", 50))
    if not config["netns"]:
        if config["up"]:
            handle.set_upload_limit(int(config["up"]))
        if config["down"]:
            handle.set_download_limit(int(config["down"]))
    deadline = time.monotonic() + 60
    while not session.is_listening() or (config["seed"] and not handle.status().is_seeding):
        if time.monotonic() > deadline:
            raise SystemExit("libtorrent did not start")
        time.sleep(POLL)
    _say(event="ready", port=session.listen_port())
    commands: queue.Queue = queue.Queue()
    threading.Thread(target=_stdin_lines, args=(commands,), daemon=True).start()
    go = commands.get()
    if go is not None:
        _run(config, handle, commands, go)
    status = handle.status()
    _say(event="left", t=time.monotonic())
    _say(event="stats", uploaded=status.total_payload_upload, downloaded=status.total_payload_download,
         duplicate=status.total_redundant_bytes + status.total_failed_bytes)
    del session


def _run(config: dict, handle, commands: queue.Queue, go: dict) -> None:
    time.sleep(max(0.0, go["at"] - time.monotonic()))
    _say(event="arrived", t=time.monotonic())
    for host, port in go["peers"]:
        handle.connect_peer((host, port))
    completed_at = None
    next_progress = 0.0
    interval = config["sample_interval"] / 2
    while True:
        try:
            command = commands.get(timeout=POLL)
            if command is None:
                return  # stdin closed: the swarm is over
            if command.get("cmd") == "peers":  # a re-announce
                for host, port in command["peers"]:
                    handle.connect_peer((host, port))
        except queue.Empty:
            pass
        now = time.monotonic()
        status = handle.status()
        if completed_at is None and status.is_seeding:
            completed_at = now
            if not config["seed"]:
                _say(event="completed", t=now)
        if now >= next_progress:
            bits = bytearray((len(status.pieces) + 7) // 8)
            for index, have in enumerate(status.pieces):
                if have:
                    bits[index >> 3] |= 0x80 >> (index & 7)
            _say(event="progress", t=now, verified=status.total_wanted_done,
                 uploaded=status.total_payload_upload, have=bits.hex())
            next_progress = now + interval
        if completed_at is not None:
            departure = config["departure"]
            if departure == "leave" or (departure == "linger" and now - completed_at >= config["linger"]):
                return


if __name__ == "__main__":
    main()
