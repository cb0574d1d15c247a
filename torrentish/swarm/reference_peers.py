"""The command line of one --real peer, by client: torrentish itself or a reference client.

Every peer speaks the line protocol of torrentish.swarm.real_peer on stdin/stdout, so the
coordinator drives them all alike:
- torrentish: torrentish.swarm.real_peer (synthetic data in memory);
- libtorrent: torrentish.swarm.lt_peer (the PyPI bindings; the data on disk under the peer's
  directory);
- aria2: not yet: aria2c cannot dial a peer given by address (it learns peers only from trackers,
  the DHT or LSD), so it needs a tracker in the swarm.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

from torrentish.errors import TorrentishError
from torrentish.swarm.synthetic import SyntheticContent


class RealSwarmError(TorrentishError):
    """A peer process failed to start or died."""


def python_peer_command(module: str, config: dict) -> list[str]:
    return [sys.executable, "-m", module, json.dumps(config)]


def command(client: str, config: dict, content: SyntheticContent, peer_dir: Path) -> list[str]:
    if client == "torrentish":
        return python_peer_command("torrentish.swarm.real_peer", config)
    if client == "libtorrent":
        if importlib.util.find_spec("libtorrent") is None:
            raise RealSwarmError("libtorrent peers need the libtorrent Python bindings (pip install libtorrent)")
        return python_peer_command("torrentish.swarm.lt_peer", dict(config, dir=str(peer_dir)))
    raise RealSwarmError(f"client {client!r} is not supported in --real yet (torrentish, libtorrent)")
