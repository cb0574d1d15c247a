"""Announcing verified pieces: a HAVE to each neighbour at once, or gathered per interval.

With ``Settings.have_interval`` at 0 (the default) every verified piece goes out at once, as a
HAVE to each neighbour that lacks it, and every neighbour's request pipeline is topped up. With
an interval, the torrent collects the pieces verified meanwhile and, once per interval, sends
each neighbour all its pending HAVEs in one write and tops up the pipelines once. BEP 3 lets a
client delay its HAVEs; libtorrent and others gather them too. What it buys is fewer messages:
in a large simulated swarm a leecher sends and receives some fifteen times as many HAVEs as
blocks, and each write wakes a task at both ends; gathered, the neighbour's reader handles many
per wake and its picker runs once for all of them. What it costs is that neighbours learn of a
piece up to an interval later (docs/swarm.md "Scale" has the effect on completion times).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    from torrentish.engine.torrent import Torrent


class HaveAnnouncer:
    """Sends the HAVEs of a torrent's verified pieces (see the module's docstring)."""

    def __init__(self, torrent: Torrent):
        self.torrent = torrent
        self.interval = torrent.settings.have_interval
        self._pending: list[tuple[int, set[object]]] = []  # (piece, who sent its blocks)
        self._flush_due = False

    def piece_verified(self, index: int, contributors: set[object]) -> None:
        """Announce `index` now, or with the next batch; then (or then) refill the pipelines."""
        self._pending.append((index, contributors))
        torrent = self.torrent
        if not self.interval or torrent.picker.complete:
            # The last piece goes out at once: a neighbour that is a seed learns now that it
            # should drop us, a leecher that it may ask us for everything.
            self.flush(refill=False)
            if torrent.picker.complete:
                torrent.finish()
            torrent.refill_all()
            return
        if not self._flush_due and torrent._nursery is not None:
            self._flush_due = True
            torrent._nursery.start_soon(self._flush_later)

    async def _flush_later(self) -> None:
        await trio.sleep(self.interval)
        self._flush_due = False
        self.flush(refill=True)

    def flush(self, *, refill: bool) -> None:
        """Send each neighbour the pending HAVEs it should get, in one write."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        for peer in list(self.torrent.peers.values()):
            # To the peers that lack it, and to those that sent us its blocks: a BEP 16
            # super-seed learns from that HAVE that the piece it revealed to us arrived.
            # (Not to every peer that has it, as libtorrent's send_redundant_have does: in a
            # large swarm those HAVEs cost more than all the others.)
            pieces = peer.state.pieces
            seed = pieces.complete()
            indices = [index for index, contributors in pending
                       if index not in pieces or (not seed and peer.ban_key in contributors)]
            if indices:
                peer.send_haves(indices)
        if refill:
            self.torrent.refill_all()
