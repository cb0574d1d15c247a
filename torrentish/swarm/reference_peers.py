"""The command line of one --real peer, by client: torrentish itself or a reference client.

Every peer speaks the line protocol of torrentish.swarm.real_peer on stdin/stdout, so the
coordinator drives them all alike:
- torrentish: torrentish.swarm.real_peer (synthetic data in memory);
- libtorrent: torrentish.swarm.lt_peer (the PyPI bindings; the data on disk under the peer's
  directory);
- aria2: not yet: aria2c cannot dial a peer given by address, so it needs a tracker in the swarm
  (see /work/shared/reference-peers.md).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from torrentish.swarm.runner_real import RealSwarmError, python_peer_command
from torrentish.swarm.synthetic import SyntheticContent


def command(client: str, config: dict, content: SyntheticContent, peer_dir: Path) -> list[str]:
    if client == "torrentish":
        return python_peer_command("torrentish.swarm.real_peer", config)
    if client == "libtorrent":
        if importlib.util.find_spec("libtorrent") is None:
            raise RealSwarmError("libtorrent peers need the libtorrent Python bindings (pip install libtorrent)")
        return python_peer_command("torrentish.swarm.lt_peer", dict(config, dir=str(peer_dir)))
    raise RealSwarmError(f"client {client!r} is not supported in --real yet (torrentish, libtorrent)")
