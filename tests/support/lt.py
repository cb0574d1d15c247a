"""libtorrent (the PyPI ``libtorrent`` 2.x bindings) as a reference peer in tests.

``LtSession`` is one libtorrent session set up for loopback tests (see
docs/reference-clients.md for why each setting matters):
- TCP only: uTP off in both directions, else libtorrent tries uTP first and its TCP fall-back can be
  reset by repeated ``connect_peer`` calls, so it may never connect.
- No DHT, LSD, UPnP, NAT-PMP, IP notifier: nothing but the peers a test names or the test tracker.
- Listens on 127.0.0.1:<port>; many connections per IP, because every peer is 127.0.0.1.
- Re-announces as often as the test tracker asks (libtorrent's floor is 5 minutes by default).

    with LtSession(tmp_path / "lt.log") as session:
        handle = session.seed(torrent, payload.parent)
        session.wait_seeding(handle, timeout=30)

Closing removes every torrent and destroys the session (its threads and sockets), in every outcome.
The session's error/status/tracker/peer alerts are kept and shown when a wait fails.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import libtorrent as lt

from tests.support import free_port, wait_until

ALERT_MASK = (lt.alert_category.error | lt.alert_category.status | lt.alert_category.tracker
              | lt.alert_category.storage | lt.alert_category.connect | lt.alert_category.peer)

# Alerts that repeat every tracker interval and drown the telling ones in a failure report.
ROUTINE_ALERTS = ("tracker_announce_alert", "tracker_reply_alert")

TEST_SETTINGS = {
    "enable_outgoing_utp": False,
    "enable_incoming_utp": False,
    "enable_dht": False,
    "enable_lsd": False,
    "enable_upnp": False,
    "enable_natpmp": False,
    "enable_ip_notifier": False,
    "allow_multiple_connections_per_ip": True,
    "min_announce_interval": 1,      # honour the test tracker's short interval
    "stop_tracker_timeout": 1,       # don't hang on shutdown announcing "stopped"
    "min_reconnect_time": 1,         # retry a refused peer quickly (the default is 60 s)
    "peer_connect_timeout": 5,
    "alert_mask": ALERT_MASK,
}


class LtSession:
    """A libtorrent session on 127.0.0.1:``port``; a context manager that always tears it down."""

    def __init__(self, log_path: Path | None = None, port: int | None = None,
                 settings: dict | None = None):
        self.port = port if port is not None else free_port()
        self.log_path = log_path
        self.alerts: list[str] = []   # every alert message seen, oldest first
        pack = dict(TEST_SETTINGS, listen_interfaces=f"127.0.0.1:{self.port}")
        pack.update(settings or {})
        self.session: lt.session | None = lt.session(pack)
        self.handles: list[lt.torrent_handle] = []
        wait_until(self._listening, 10, f"libtorrent to listen on 127.0.0.1:{self.port}", self.report)

    def __enter__(self) -> "LtSession":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        """Remove all torrents and destroy the session; write the alert log if one was asked for."""
        if self.session is None:
            return
        try:
            self.pump()
            for handle in self.handles:
                self.session.remove_torrent(handle)
            self.handles.clear()
        finally:
            self.session = None  # the last reference: libtorrent aborts and joins its threads here
            if self.log_path is not None:
                Path(self.log_path).write_text("\n".join(self.alerts) + "\n")

    # torrents ------------------------------------------------------------------------------------
    def add(self, torrent: Path, save_path: Path, trackers: tuple[str, ...] = ()) -> lt.torrent_handle:
        """Add ``torrent`` with data under ``save_path`` (its parent directory); seed or leech."""
        assert self.session is not None, "session is closed"
        params = lt.add_torrent_params()
        params.ti = lt.torrent_info(str(torrent))
        params.save_path = str(save_path)
        if trackers:
            params.trackers = list(trackers)
        handle = self.session.add_torrent(params)
        self.handles.append(handle)
        return handle

    def seed(self, torrent: Path, save_path: Path, trackers: tuple[str, ...] = (),
             timeout: float = 30) -> lt.torrent_handle:
        """Add a torrent whose data is present and wait until it is checked and seeding."""
        handle = self.add(torrent, save_path, trackers)
        wait_until(lambda: self._is_seeding(handle), timeout,
                   f"libtorrent to check {torrent.name} and seed it", lambda: self.report(handle))
        return handle

    def leech(self, torrent: Path, save_path: Path,
              trackers: tuple[str, ...] = ()) -> lt.torrent_handle:
        """Add a torrent to download into ``save_path``."""
        save_path.mkdir(parents=True, exist_ok=True)
        return self.add(torrent, save_path, trackers)

    def connect_peer(self, handle: lt.torrent_handle, address: tuple[str, int]) -> None:
        """Ask libtorrent to dial ``address`` for this torrent (it keeps the peer and may retry)."""
        handle.connect_peer(address)

    def wait_seeding(self, handle: lt.torrent_handle, timeout: float,
                     on_poll: Callable[[], None] | None = None) -> None:
        """Wait until the download is complete, then until its data has been written to disk.

        libtorrent reports completion when the last piece's hash passed, which can be before the
        data is flushed; a resume-data request with ``flush_disk_cache`` waits for the writes.
        ``on_poll`` runs on every poll (e.g. to fail early when another peer died).
        """
        def done() -> bool:
            if on_poll is not None:
                on_poll()
            return self._is_seeding(handle)
        wait_until(done, timeout, "libtorrent to finish the download", lambda: self.report(handle))
        handle.save_resume_data(lt.torrent_handle.flush_disk_cache)
        wait_until(lambda: self._saw(lt.save_resume_data_alert, handle), 10,
                   "libtorrent to flush the download to disk", lambda: self.report(handle))

    # inspection ----------------------------------------------------------------------------------
    def pump(self) -> list[lt.alert]:
        """Collect pending alerts into ``self.alerts``; return them."""
        if self.session is None:
            return []
        alerts = self.session.pop_alerts()
        self.alerts.extend(f"{type(a).__name__}: {a.message()}" for a in alerts)
        return alerts

    def status_line(self, handle: lt.torrent_handle) -> str:
        s = handle.status()
        return (f"state={s.state} progress={s.progress:.3f} peers={s.num_peers} "
                f"seeds={s.num_seeds} error={s.errc.message() if s.errc.value() else '-'}")

    def report(self, handle: lt.torrent_handle | None = None, lines: int = 30) -> str:
        """Status and the latest alerts (routine announces left out), for failure messages."""
        self.pump()
        head = [f"--- libtorrent on 127.0.0.1:{self.port}"]
        if handle is not None:
            head.append(f"--- {self.status_line(handle)}")
        telling = [a for a in self.alerts if not a.startswith(ROUTINE_ALERTS)]
        return "\n".join(head + ["--- alerts (without tracker announces):"] + telling[-lines:])

    def _is_seeding(self, handle: lt.torrent_handle) -> bool:
        self.pump()
        return handle.status().is_seeding

    def _saw(self, alert_type: type, handle: lt.torrent_handle) -> bool:
        return any(isinstance(a, alert_type) and a.handle == handle for a in self.pump())

    def _listening(self) -> bool:
        for alert in self.pump():
            if isinstance(alert, lt.listen_failed_alert):
                raise RuntimeError(f"libtorrent cannot listen: {alert.message()}")
        return self.session.is_listening() and self.session.listen_port() == self.port
