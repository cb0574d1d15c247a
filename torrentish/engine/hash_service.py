"""BEP 52 hash requests from peers: answered from our piece layers (core/hash_trees.py) or rejected.

Every request gets an answer (BEP 52: HASHES or HASH REJECT), whatever the choke state. What one
peer may have answered is bounded: a downloader needs each file's piece layer about once, so a
peer gets at most ``4 x pieces + 4096`` hashes over its connection, then only rejects.
The HASHES and HASH REJECT messages peers send us are ignored: we ask for nothing yet (our v2
torrents come from .torrent files, which carry the piece layers).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torrentish.core.hash_trees import HashTrees
from torrentish.wire import codec as wire
from torrentish.wire import messages as msg

if TYPE_CHECKING:
    from torrentish.engine.torrent import Torrent

EXTRA_HASHES_PER_PEER = 4096


class HashService:
    def __init__(self, torrent: Torrent) -> None:
        self.torrent = torrent
        self._trees = HashTrees(torrent.info) if torrent.info.has_v2 else None
        self._budget = 4 * torrent.info.num_pieces + EXTRA_HASHES_PER_PEER
        self._served: dict[object, int] = {}  # hashes sent, per connection

    def on_hash_request(self, peer, m: msg.HashRequest) -> None:
        fields = (m.pieces_root, m.base_layer, m.index, m.length, m.proof_layers)
        served = self._served.get(peer, 0)
        hashes = None
        if self._trees is not None and served + m.length <= self._budget:
            hashes = self._trees.answer(*fields)
        if hashes is None:
            peer.send(wire.encode(msg.HashReject(*fields)))
            return
        if len(self._served) > 2 * len(self.torrent.peers) + 16:  # forget connections that ended
            live = set(self.torrent.peers.values())
            self._served = {p: n for p, n in self._served.items() if p in live}
        self._served[peer] = served + len(hashes)
        peer.send(wire.encode(msg.Hashes(*fields, tuple(hashes))))

    def ignore(self, peer, m) -> None:
        """HASHES / HASH REJECT: answers to requests we never send."""
