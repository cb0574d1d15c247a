"""One libtorrent peer with Local Service Discovery on, for runs inside a network namespace.

    ip netns exec NS python -m tests.support.lt_lsd seed  TORRENT SAVE_DIR PORT
    ip netns exec NS python -m tests.support.lt_lsd leech TORRENT SAVE_DIR PORT

It listens on every interface of the namespace (libtorrent's LSD only announces on real
interfaces, never on 127.0.0.1), with DHT, UPnP, NAT-PMP and uTP off as in tests.support.lt, and
prints one line per telling alert (LSD peers, connections, completion). A seed runs until
SIGTERM; a leech exits 0 once the download is complete and on disk.
"""

from __future__ import annotations

import signal
import sys
import time

import libtorrent as lt

from tests.support.lt import ALERT_MASK, TEST_SETTINGS


def main(mode: str, torrent: str, save_dir: str, port: int) -> int:
    settings = dict(
        TEST_SETTINGS,
        enable_lsd=True,
        listen_interfaces=f"0.0.0.0:{port}",
        alert_mask=ALERT_MASK | lt.alert_category.peer,
    )
    session = lt.session(settings)
    params = lt.add_torrent_params()
    params.ti = lt.torrent_info(torrent)
    params.save_path = save_dir
    handle = session.add_torrent(params)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    announced_seeding = False
    deadline = time.monotonic() + 120
    while not stopping and time.monotonic() < deadline:
        for alert in session.pop_alerts():
            name = type(alert).__name__
            if name in (
                "lsd_peer_alert",
                "peer_connect_alert",
                "incoming_connection_alert",
                "torrent_finished_alert",
                "listen_succeeded_alert",
                "peer_disconnected_alert",
            ):
                print(f"{name}: {alert.message()}", flush=True)
        status = handle.status()
        if status.is_seeding and not announced_seeding:
            announced_seeding = True
            print("seeding", flush=True)
            if mode == "leech":
                handle.save_resume_data(lt.torrent_handle.flush_disk_cache)
                time.sleep(0.5)
                return 0
        time.sleep(0.05)
    return 0 if mode == "seed" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
