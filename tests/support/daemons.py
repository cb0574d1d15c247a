"""The RPC daemons the web UI and `torrentish remote` are tested against, behind one interface.

Both speak Transmission's RPC; a test parametrized over DAEMON_KINDS runs once against each:

- ``transmission``: a real transmission-daemon 3.00 (tests.support.transmission), serving our
  web UI from TRANSMISSION_WEB_HOME at /transmission/web/.

Each daemon offers ``url`` (the RPC endpoint), ``web_url`` (where our web UI is), ``peer_port``
(where a seed dials it), ``download_dir`` and ``oracle()`` (a transmission-rpc client: an
independent view of what the daemon holds).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torrentish
from tests.support.transmission import TransmissionDaemon

WEB_UI = Path(torrentish.__file__).parent / "web"
DAEMON_KINDS = ["transmission"]


@contextmanager
def rpc_daemon(kind: str, root: Path, logs: Path, *, auth: tuple[str, str] | None = None) -> Iterator:
    if kind == "transmission":
        with TransmissionDaemon(root, logs, web_home=WEB_UI, auth=auth) as daemon:
            yield daemon
        return
    raise ValueError(f"no such daemon kind: {kind}")


def magnet_for(info_hash: bytes, name: str) -> str:
    """A magnet link with only the info hash and a display name (no trackers: the seed dials)."""
    return f"magnet:?xt=urn:btih:{info_hash.hex()}&dn={urllib.parse.quote(name)}"
