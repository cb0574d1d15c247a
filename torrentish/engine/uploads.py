"""Serving the peers that download from us: who gets an upload slot, and their block requests.

Choking follows BEP 3 (torrentish.core.choker decides; this applies it). Requests from an
unchoked peer queue in its state (`PeerState.requested`) and its connection's writer task serves
them from a cache of whole pieces, so a peer reading a piece block by block costs one disk read,
not one per block. Where sharing is a choice (which peers compete for slots, which requests may be
served, who runs the rechoke) the torrent's seeding policy (engine/seeding.py) is asked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from torrentish.core.choker import ChokeCandidate, Choker, idle_slot, waiting_since
from torrentish.engine.pieces import PieceReadCache

if TYPE_CHECKING:
    from torrentish.engine.peer import PeerConnection
    from torrentish.engine.torrent import Torrent

READ_CACHE_BYTES = 32 * 1024 * 1024
SEED_QUOTA_PIECES = 20  # a seed's round-robin slot lasts this many pieces (libtorrent's default)
IDLE_CHECK_SECONDS = 0.5  # how often slots are checked for idle holders between rechokes


class Uploads:
    def __init__(self, torrent: Torrent):
        self.torrent = torrent
        settings = torrent.settings
        self.choker = Choker(
            slots=settings.upload_slots,
            interval=settings.rechoke_interval,
            optimistic_every=settings.optimistic_every,
            rng=torrent.rng,
            seed_quota=SEED_QUOTA_PIECES * torrent.geometry.piece_length,
        )
        self.read_cache = PieceReadCache(
            self._read_piece, budget=READ_CACHE_BYTES, read_piece_now=self._read_piece_now
        )
        # A free rider never unchokes anyone (for swarm experiments); it still downloads.
        self.free_rider = False
        # When each peer's last request was accepted (idle slots); pruned as peers go.
        self._last_request: dict[PeerConnection, float] = {}

    # ------------------------------------------------------------------------ messages
    def on_interested(self, peer: PeerConnection, m) -> None:
        peer.state.receive_interested()
        if peer.state.am_choking:
            self.offer_slot(peer)
        else:
            self._keep_to_slots()

    def _keep_to_slots(self) -> None:
        """BEP 3: a peer unchoked for its rate while not interested has become interested; if
        that makes more downloaders than slots, the one with the worst rate is choked. Without
        this a peer's unchoked set grew to a dozen in a flash crowd, its upload was spread so
        thin that nobody reciprocated, and it finished last."""
        slots = self.torrent.settings.upload_slots
        if slots == 0 or self.torrent.seeding.rotates_slots:
            return
        if self._unchoked_interested() <= slots:
            return
        now = trio.current_time()
        seeding = self.torrent.picker.complete
        optimistic = self.choker.optimistic
        ranked = [p for p in self.torrent.peers.values()
                  if not p.state.am_choking and self._wants(p) and p.peer_id != optimistic]
        if ranked:
            self.choke(min(ranked, key=lambda p: (p.up if seeding else p.down).rate(now)))

    def offer_slot(self, peer: PeerConnection) -> None:
        """A free slot is not kept waiting for the next rechoke."""
        slots = self.torrent.settings.upload_slots
        if peer.state.am_choking and (slots == 0 or self._unchoked_interested() < slots):
            self.unchoke(peer)

    def on_not_interested(self, peer: PeerConnection, m) -> None:
        peer.state.receive_not_interested()
        if not peer.state.am_choking and not self._wants(peer):
            self._fill_free_slot()

    def _fill_free_slot(self) -> None:
        """A peer that wants nothing more from us leaves its slot to one that does, now (libtorrent
        does the same): a slot left to an idle peer until the next rechoke is upload lost."""
        slots = self.torrent.settings.upload_slots
        if slots == 0 or self._unchoked_interested() >= slots:
            return
        following = self._next_waiting(trio.current_time())
        if following is not None:
            self.unchoke(following)

    def _next_waiting(self, now: float, passed_over: tuple = ()) -> PeerConnection | None:
        """Who gets a slot that frees between rechokes: while seeding (round robin) the peer that
        has waited longest since we last served it, while leeching the best reciprocator (ties:
        first connected); never a snubbed peer while leeching."""
        seeding = self.torrent.picker.complete
        waiting = [p for p in self.torrent.peers.values()
                   if p.state.am_choking and self._wants(p) and (seeding or not p.pipeline.snubbed)
                   and p not in passed_over]
        if not waiting:
            return None
        if seeding:
            return min(waiting, key=lambda p: (waiting_since(p.state.unchoked_at), p.connected_at))
        return max(waiting, key=lambda p: p.down.rate(now))

    def reassign_idle_slots(self, now: float) -> None:
        """A slot whose holder has asked for nothing for `idle_slot_seconds` goes to a waiting peer
        (core/choker.py idle_slot): an interested peer may have nothing to ask of us for a while
        (all it lacks of ours is on its way from others), and its slot is upload lost until the
        next rechoke. The holder keeps its place in the rechoke's ranking."""
        grace = self.torrent.settings.idle_slot_seconds
        if (not grace or not self.torrent.settings.upload_slots or self.free_rider
                or self.torrent.seeding.rotates_slots):
            return
        peers = self.torrent.peers
        if len(self._last_request) > len(peers):
            self._last_request = {p: t for p, t in self._last_request.items() if peers.get(p.peer_id) is p}
        idle = [p for p in peers.values() if not p.state.am_choking and self._wants(p) and idle_slot(
            now, p.state.unchoked_at, self._last_request.get(p), len(p.state.requested), grace)]
        for peer in idle:
            following = self._next_waiting(now, passed_over=tuple(idle))
            if following is None:
                return
            self.choke(peer)
            self.unchoke(following)

    def on_request(self, peer: PeerConnection, m) -> None:
        state = peer.state
        # Queued unless we choke the peer, lack the piece or its queue is full; then the policy
        # has its say (it sees only requests we would otherwise serve).
        if state.receive_request(m.index, m.begin, m.length):
            if self.torrent.seeding.may_serve(peer, m.index, m.begin):
                peer.refused_requests = 0
                if self.torrent.settings.idle_slot_seconds:  # off by default: no clock read per request
                    self._last_request[peer] = trio.current_time()
                peer.wake()
                return
            state.unqueue_last()
        # Each request we refuse (choked, a piece we lack, a full queue) costs a REJECT: a peer
        # that keeps sending them regardless is flooding us.
        settings = self.torrent.settings
        full = len(state.requested) >= settings.max_queued_requests
        peer.refused_requests += 1
        if peer.refused_requests > settings.request_flood_limit or (full and not state.fast):
            peer.close("request flood")
        elif state.fast:
            peer.send_reject(m.index, m.begin, m.length)

    def on_cancel(self, peer: PeerConnection, m) -> None:
        peer.state.receive_cancel(m.index, m.begin, m.length)

    # ---------------------------------------------------------------- serving blocks
    async def _read_piece(self, index: int) -> bytes:
        geometry = self.torrent.geometry
        return await self.torrent.storage.read(geometry.piece_offset(index), geometry.piece_size(index))

    def _read_piece_now(self, index: int, spare: bytearray | None) -> bytes | None:
        geometry = self.torrent.geometry
        return self.torrent.storage.read_now(
            geometry.piece_offset(index), geometry.piece_size(index), spare
        )

    def on_block_sent(self, peer: PeerConnection, length: int) -> None:
        """Count `length` payload bytes sent to the peer (one block or a whole batch)."""
        torrent = self.torrent
        now = trio.current_time()
        peer.up.add(length, now)
        torrent.up.add(length, now)
        torrent.uploaded += length

    def delay(self, n: int, now: float) -> float:
        """How long to wait before sending n more bytes (per-torrent and global limits)."""
        torrent = self.torrent
        if not torrent.honors_client_limits:
            return torrent.up_bucket.delay(n, now)
        return max(torrent.up_bucket.delay(n, now), torrent.client.up_bucket.delay(n, now))

    # ----------------------------------------------------------------------- choking
    def _unchoked_interested(self) -> int:
        return sum(1 for p in self.torrent.peers.values() if not p.state.am_choking and self._wants(p))

    def _wants(self, peer: PeerConnection) -> bool:
        """An upload-slot candidate (interested, or for a super-seed lacking pieces)."""
        return self.torrent.seeding.wants(peer)

    def unchoke(self, peer: PeerConnection) -> None:
        if self.free_rider:
            return
        peer.send_unchoke(trio.current_time())
        self.torrent.seeding.on_unchoke(peer)  # a super-seed reveals what the peer may fetch

    def choke(self, peer: PeerConnection) -> None:
        peer.send_choke()  # with the Fast extension, its queued requests are rejected
        self.torrent.seeding.on_choke(peer)

    def rechoke(self, now: float) -> None:
        seeding = self.torrent.seeding
        if seeding.rotates_slots:
            seeding.rechoke()  # slots go round by turns (engine/super_seeding.py)
            return
        peers = self.torrent.peers
        seeding = self.torrent.picker.complete
        candidates = [
            ChokeCandidate(
                key=peer.peer_id,
                interested=self._wants(peer),
                rate=(peer.up if seeding else peer.down).rate(now),
                connected_at=peer.connected_at,
                snubbed=peer.pipeline.snubbed,
                unchoked=not peer.state.am_choking,
                unchoked_at=peer.state.unchoked_at,
                sent_since_unchoke=peer.uploaded - peer.uploaded_at_unchoke,
            )
            for peer in sorted(peers.values(), key=lambda p: p.connected_at)
        ]
        unchoke = self.choker.rechoke(candidates, now, seeding)
        for peer in list(peers.values()):
            if peer.peer_id in unchoke and peer.state.am_choking:
                self.unchoke(peer)
            elif peer.peer_id not in unchoke and not peer.state.am_choking:
                self.choke(peer)

    async def run(self) -> None:
        """The BEP 3 rechoke round, every `rechoke_interval` seconds; idle slots are looked for
        every IDLE_CHECK_SECONDS in between."""
        settings = self.torrent.settings
        while True:
            await self.torrent.wait_for_peers()  # without peers a round has nothing to do
            due = trio.current_time() + settings.rechoke_interval
            while settings.idle_slot_seconds and trio.current_time() + IDLE_CHECK_SECONDS < due:
                await trio.sleep(IDLE_CHECK_SECONDS)
                self.reassign_idle_slots(trio.current_time())
            await trio.sleep_until(due)
            self.rechoke(trio.current_time())
