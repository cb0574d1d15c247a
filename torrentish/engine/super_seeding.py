"""BEP 16 super-seeding applied to a torrent's connections (decisions: torrentish.core.superseed).

A torrent gets one as its seeding policy (engine/seeding.py) when `Settings.super_seed` is set and
it is complete once its data is checked (an initial seed); a torrent that completes by downloading
seeds normally. The torrent and its uploads call the policy's hooks. While super-seeding, upload slots go round in turns instead of by
the choker's rates (`rechoke`, `_rotate`), and every peer lacking pieces is a slot candidate (it
can only become interested once we reveal something to it); serving blocks is unchanged.

What the peer sees: HAVE NONE (Fast extension) or no bitfield at all after the handshake; an
UNCHOKE when its turn comes, followed by a HAVE for each piece it should fetch from us; a CHOKE
once it has them; requests for anything else are refused (REJECT with the Fast extension, as for
a piece we lack). It tells us it has a piece with HAVE, which clients send to the peers that
gave them the piece too (libtorrent's send_redundant_have sends it to every peer; ours to the
peers that lack it and those that sent blocks of it). Once the peers hold the whole file between them we
send each one a HAVE for every piece it still lacks and seed normally (core/superseed.py: why).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torrentish.core.superseed import Reveal, SuperSeed
from torrentish.engine.seeding import Seeding

if TYPE_CHECKING:
    from torrentish.engine.peer import PeerConnection
    from torrentish.engine.torrent import Torrent


class SuperSeeding(Seeding):
    def __init__(self, torrent: Torrent):
        self.torrent = torrent
        self.superseed = SuperSeed(torrent.num_pieces, torrent.rng, strict=torrent.settings.super_seed_strict,
                               blocks_in=torrent.geometry.num_blocks)
        self._rotating = False

    @property
    def active(self) -> bool:
        return self.superseed.active

    @property
    def rotates_slots(self) -> bool:  # type: ignore[override]
        return self.superseed.active

    def greet(self, peer: PeerConnection) -> bool:
        """Send what stands for our bitfield; False once we seed normally (send the real one)."""
        if not self.superseed.active:
            return False
        self.superseed.add_peer(peer)
        if peer.state.fast:
            peer.send_have_none()
        # A peer that has nothing sends no bitfield without the Fast extension: offer it a slot now.
        self.torrent.uploads.offer_slot(peer)
        return True

    # ----------------------------------------------------------------- what peers tell us
    def on_pieces(self, peer: PeerConnection) -> None:
        self._send(self.superseed.peer_pieces(peer, peer.state.pieces))

    def on_have(self, peer: PeerConnection, index: int) -> None:
        self._send(self.superseed.peer_have(peer, index))

    def on_closed(self, peer: PeerConnection) -> None:
        self._send(self.superseed.remove_peer(peer))
        self._fill_slots()

    # ------------------------------------------------------------ what our choker decides
    def on_unchoke(self, peer: PeerConnection) -> None:
        self._send(self.superseed.start_serving(peer))

    def on_choke(self, peer: PeerConnection) -> None:
        self._send(self.superseed.stop_serving(peer))

    def rechoke(self) -> None:
        """Instead of the choker's round: a served peer that fetched nothing since the last round
        gives its slot to the next peer (if one waits), and free slots are filled."""
        uploads = self.torrent.uploads
        for peer in self.superseed.stalled():
            following = self._next()
            # Choking one peer may rotate others (_rotate): both are checked again.
            if following is not None and not peer.state.am_choking:
                uploads.choke(peer)
                if following.state.am_choking:
                    uploads.unchoke(following)
        self._fill_slots()

    def wants(self, peer: PeerConnection) -> bool:
        """An upload-slot candidate: interested, or (while super-seeding) lacking pieces."""
        return peer.state.peer_interested or (self.superseed.active and self.superseed.wants(peer))

    def may_serve(self, peer: PeerConnection, index: int, begin: int) -> bool:
        """A request from an unchoked peer: only for what we showed it (noted: see _rotate)."""
        if not self.superseed.request(peer, index, begin):
            return False
        if self.superseed.active:
            self._rotate()
        return True

    # ------------------------------------------------------------------------ internals
    def _send(self, reveals: list[Reveal]) -> None:
        for peer, index in reveals:
            if peer.close_reason is None:  # type: ignore[attr-defined]
                peer.send_have(index)  # type: ignore[attr-defined]
        self._rotate()

    def _rotate(self) -> None:
        """Slots go round: a peer that asked for every block of its turn lets the peer waiting
        longest in; once it has its pieces it is choked (or, if nobody waits, gets another turn)."""
        if self._rotating:  # choking and unchoking below come back here
            return
        self._rotating = True
        try:
            state, uploads = self.superseed, self.torrent.uploads
            for peer in state.finishing():
                following = self._next()
                if following is not None:
                    state.handed_over(peer)
                    uploads.unchoke(following)
            for peer, handed_over in state.finished_turns():
                following = None if handed_over else self._next()
                if handed_over or following is not None:
                    uploads.choke(peer)
                    if following is not None:
                        uploads.unchoke(following)
                else:
                    self._send(state.new_turn(peer))
        finally:
            self._rotating = False

    def _next(self):
        return self.superseed.next_to_serve(p for p in self.torrent.peers.values() if p.state.am_choking)

    def _fill_slots(self) -> None:
        uploads, slots = self.torrent.uploads, self.torrent.settings.upload_slots
        while self.superseed.active:
            served = sum(1 for p in self.torrent.peers.values() if not p.state.am_choking and self.wants(p))
            following = self._next()
            if following is None or (slots and served >= slots):
                return
            uploads.unchoke(following)
            if following.state.am_choking:  # a free rider unchokes nobody
                return
