"""What the torrent and its uploads ask about sharing our pieces: the seeding policy.

Every torrent has exactly one policy object, `Torrent.seeding`, and consults it at the few points
where the way we share pieces is a choice: what to greet a peer with, what a peer's pieces and
HAVEs mean for what we show it, which peers compete for an upload slot, whether a request may be
served, and who does the rechoke round. `Seeding` is the plain BEP 3 behaviour (greet with our
bitfield, serve any piece we have, the choker ranks the slots); BEP 16 super-seeding
(engine/super_seeding.py) is the other policy, installed for an initial seed.

The hooks are synchronous and called from the peer tasks, like the torrent's message handlers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torrentish.engine.peer import PeerConnection


class Seeding:
    """BEP 3: every piece we have is shown and served; upload slots go by the choker's ranking."""

    # True while the policy hands out upload slots itself (Uploads then leaves them alone).
    rotates_slots = False

    def greet(self, peer: PeerConnection) -> bool:
        """Announce our pieces in the policy's own way; False: send our real ones."""
        return False

    def on_pieces(self, peer: PeerConnection) -> None:
        """The peer's bitfield, HAVE ALL or HAVE NONE is in `peer.state.pieces`."""

    def on_have(self, peer: PeerConnection, index: int) -> None:
        """The peer has a new piece (it is in `peer.state.pieces` already)."""

    def on_closed(self, peer: PeerConnection) -> None:
        """The connection ended."""

    def on_unchoke(self, peer: PeerConnection) -> None:
        """We unchoked the peer."""

    def on_choke(self, peer: PeerConnection) -> None:
        """We choked the peer."""

    def wants(self, peer: PeerConnection) -> bool:
        """Whether the peer competes for an upload slot."""
        return peer.state.peer_interested

    def may_serve(self, peer: PeerConnection, index: int, begin: int) -> bool:
        """Whether a request the peer's state accepted (we have the piece, we do not choke the
        peer) may be served. Called for every request: keep it cheap."""
        return True

    def rechoke(self) -> None:
        """The rechoke round, while `rotates_slots`."""
