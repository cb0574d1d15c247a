"""The RPC daemons the web UI and `torrentish remote` are tested against, behind one interface.

Both speak Transmission's RPC; a test parametrized over DAEMON_KINDS runs once against each:

- ``transmission``: a real transmission-daemon 3.00 (tests.support.transmission), serving our
  web UI from TRANSMISSION_WEB_HOME at /transmission/web/;
- ``torrentish``: ``torrentish daemon`` (tests.support.daemon), serving it at /.

Each offers ``url`` (the RPC endpoint), ``web_url`` (where our web UI is), ``peer_port`` (where
a seed dials it), ``download_dir``, ``stop()``/``restart()`` (same ports and state),
``report()`` and ``oracle()`` (a transmission-rpc client: an independent view of what the daemon
holds). Downloads may go anywhere below the test's directory (the torrentish daemon's allowed
roots; Transmission allows any path).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torrentish
from tests.support import free_port, require_tool
from tests.support.daemon import Daemon
from tests.support.transmission import TransmissionDaemon

WEB_UI = Path(torrentish.__file__).parent / "web"
DAEMON_KINDS = ["transmission", "torrentish"]


class TorrentishDaemon:
    """`torrentish daemon` on 127.0.0.1 with the interface above."""

    def __init__(self, root: Path, auth: tuple[str, str] | None = None):
        extra = ["--allowed-root", str(root.parent)]
        if auth is not None:
            extra += ["--rpc-username", auth[0], "--rpc-password", auth[1]]
        self.auth = auth
        self.daemon = Daemon(root, free_port, web_home=WEB_UI, extra=tuple(extra), label="torrentish-daemon")
        self.url = self.daemon.url
        self.web_url = f"http://127.0.0.1:{self.daemon.rpc_port}/"
        self.peer_port = self.daemon.peer_port
        self.download_dir = self.daemon.downloads

    def __enter__(self) -> TorrentishDaemon:
        self.daemon.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.daemon.stop()

    def stop(self) -> None:
        self.daemon.stop()

    def restart(self) -> None:
        self.daemon.stop()
        self.daemon.start()

    def report(self) -> str:
        return self.daemon.report()

    def oracle(self):
        transmission_rpc = require_tool("transmission_rpc")
        user, password = self.auth if self.auth is not None else (None, None)
        return transmission_rpc.Client(host="127.0.0.1", port=self.daemon.rpc_port, username=user,
                                       password=password, timeout=15)


@contextmanager
def rpc_daemon(kind: str, root: Path, logs: Path, *, auth: tuple[str, str] | None = None) -> Iterator:
    if kind == "transmission":
        with TransmissionDaemon(root, logs, web_home=WEB_UI, auth=auth) as daemon:
            yield daemon
    elif kind == "torrentish":
        with TorrentishDaemon(root, auth) as daemon:
            yield daemon
    else:
        raise ValueError(f"no such daemon kind: {kind}")


def magnet_for(info_hash: bytes, name: str, peer_port: int | None = None) -> str:
    """A magnet link with the info hash, a display name and, given its port, a peer on
    127.0.0.1 (x.pe, BEP 9): the torrentish daemon dials it; Transmission ignores loopback
    peers, so for it the seed dials the daemon."""
    link = f"magnet:?xt=urn:btih:{info_hash.hex()}&dn={urllib.parse.quote(name)}"
    return link + (f"&x.pe=127.0.0.1:{peer_port}" if peer_port is not None else "")
