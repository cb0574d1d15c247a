"""One torrent being downloaded or seeded: its peers, pieces, choking and resume state.

All bookkeeping (picker, have-set, peer states) is changed only by synchronous methods called
from the peer tasks, so no two changes interleave. The slow parts run in tasks of the torrent's
own nursery: hashing in worker threads, disk writes, dialing peers, the choker, resume saves.

Data safety: a piece is written to disk only after its hash checks, and recorded as complete in
the resume file only after the data was synced; at start, pieces that are not recorded but have
data on disk are hashed again, so a kill at any moment loses at most the pieces in flight.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import replace
from ipaddress import ip_address

import trio

from torrentish.core.bitfield import Bitfield
from torrentish.core.picker import Block, PiecePicker
from torrentish.core.pipeline import PipelineLimits
from torrentish.core.rates import RateMeter, TokenBucket, set_limits
from torrentish import events as ev
from torrentish.engine.checking import check_existing
from torrentish.engine.connector import Connector, KnownPeer
from torrentish.engine.extensions import Extension
from torrentish.engine.hash_service import HashService
from torrentish.engine.have_batch import HaveAnnouncer
from torrentish.engine.peer import PeerConnection
from torrentish.engine.pieces import PieceBuffer, SpareBuffers
from torrentish.engine.seeding import Seeding
from torrentish.engine.settings import Settings
from torrentish.engine.super_seeding import SuperSeeding
from torrentish.engine.uploads import Uploads
from torrentish.engine.verification import verify_piece
from torrentish.engine.status import progress_event
from torrentish.errors import ProtocolError, TorrentishError
from torrentish.formats.metainfo import Info
from torrentish.formats.piece_hashes import PieceHashes
from torrentish.net.base import transport_of
from torrentish.storage.base import Storage
from torrentish.wire import codec as wire
from torrentish.wire import messages as msg
from torrentish.wire.codec import PeerCodec
from torrentish.wire.extension import decode_extended_handshake, encode_extended_handshake

BLOCK = 16384
LIMITED_READ_SECONDS = 0.1  # a read under a download limit takes about this much of the rate
MIN_READ = BLOCK + 13  # ... but always a whole PIECE message


class Torrent:
    def __init__(
        self,
        info: Info,
        storage: Storage,
        *,
        client,
        settings: Settings,
        rng: random.Random,
        strategy: str = "rarest",
        wanted_files: set[int] | None = None,
        upload_only: bool = False,
        extensions: Sequence[Extension] = (),
    ):
        self.info = info
        self.info_hash = info.info_hash
        self.storage = storage
        self.client = client
        self.settings = settings
        self.rng = rng
        self.geometry = info.geometry()
        self.num_pieces = info.num_pieces
        self.piece_hashes = PieceHashes(info)  # what each piece must hash to (SHA-1 and/or merkle)
        if not self.piece_hashes.usable:
            raise TorrentishError(
                "a v2 torrent needs its piece layers (from the .torrent, or fetched with the metadata)")
        self.upload_only = upload_only

        self.have = Bitfield(self.num_pieces)
        self.picker = PiecePicker(
            self.geometry, rng, strategy=strategy, max_open_bytes=settings.assembly_budget
        )
        self.wanted_files = wanted_files  # None: every file
        # Per file: 0 = not wanted, higher values picked first (None: every file alike).
        self.file_priorities: list[int] | None = (
            None if wanted_files is None else [int(i in wanted_files) for i in range(len(info.files))]
        )
        self.pipeline_limits = PipelineLimits(settings.min_pipeline, settings.max_pipeline,
                                              settings.pipeline_seconds, settings.snub_timeout)
        self.peers: dict[bytes, PeerConnection] = {}
        self.assembly: dict[int, PieceBuffer] = {}
        self._spare_buffers = SpareBuffers(self.geometry.piece_length, settings.assembly_budget)
        self.strikes: dict[object, int] = {}
        self.banned: set[object] = set()

        self.up_bucket = TokenBucket(settings.max_upload_rate, burst=256 * 1024)
        self.down_bucket = TokenBucket(settings.max_download_rate, burst=256 * 1024)
        # False: only this torrent's own limits apply, not the client's (Transmission's
        # honorsSessionLimits).
        self.honors_client_limits = True
        self.down = RateMeter()
        self.up = RateMeter()
        self.downloaded = 0  # payload bytes received (incl. waste)
        self.uploaded = 0
        self.wasted = 0
        self.verified_bytes = 0  # verified this session
        self.done_bytes = 0  # all verified pieces, including those found at start
        self.state = "checking"
        self.started_at = 0.0
        self.completed = trio.Event()
        self.events: ev.EventBus = client.events
        self._nursery: trio.Nursery | None = None
        # Peers are taken on only once the check of existing data is over: what we greet them
        # with (bitfield, HAVE ALL) must be the whole truth, and HAVEs for pieces the check
        # finds are never sent.
        self._serving = False
        self._stopping = False  # run() is ending: its nursery takes no new task
        # An idle torrent (no peers, nothing to dial, nothing changed) has its upkeep asleep
        # until one of these wakes it: a session seeds a thousand of them (see _tick_loop).
        self._wake_tick = trio.Event()
        self._peers_arrived = trio.Event()
        self._resume_changed = trio.Event()
        self._resume_dirty = False
        self.hash_limiter = trio.CapacityLimiter(2)
        # BEP 10: our local message ids are 1, 2, ... in registration order.
        self.extensions: dict[int, Extension] = {i + 1: e for i, e in enumerate(extensions)}
        # BEP 5: set by a DHT service while it runs. We send `dht_port` in a PORT message to peers
        # that set the DHT bit; PORT messages from peers go to `on_dht_node((ip, port))`.
        self.dht_port: int | None = None
        self.on_dht_node = None
        self.web_seeds: list = []  # the BEP 19 servers fetching for us (services/webseed), for status
        self.connector = Connector(self)
        self.uploads = Uploads(self)
        self.haves = HaveAnnouncer(self)  # HAVEs of verified pieces, at once or gathered
        self.hash_service = HashService(self)
        # How we share what we have: BEP 3, or BEP 16 super-seeding for an initial seed (run()).
        self.seeding: Seeding = Seeding()
        self.handlers = {
            msg.Choke: self._on_choke,
            msg.Unchoke: self._on_unchoke,
            msg.Interested: self.uploads.on_interested,
            msg.NotInterested: self.uploads.on_not_interested,
            msg.Have: self._on_have,
            msg.BitfieldMsg: self._on_bitfield,
            msg.HaveAll: self._on_have_all,
            msg.HaveNone: self._on_have_none,
            msg.Request: self.uploads.on_request,
            msg.Cancel: self.uploads.on_cancel,
            msg.Piece: self._on_piece,
            msg.Reject: self._on_reject,
            msg.AllowedFast: self._on_allowed_fast,
            msg.Extended: self._on_extended,
            msg.Port: self._on_port,
            msg.HashRequest: self.hash_service.on_hash_request,  # BEP 52
            msg.Hashes: self.hash_service.ignore,
            msg.HashReject: self.hash_service.ignore,
        }

    @property
    def known(self) -> dict[tuple[str, int], KnownPeer]:
        return self.connector.known

    @property
    def resume_dirty(self) -> bool:
        """Verified pieces (or the file selection) changed since the resume data was saved."""
        return self._resume_dirty

    @resume_dirty.setter
    def resume_dirty(self, dirty: bool) -> None:
        self._resume_dirty = dirty
        if dirty:
            self._resume_changed.set()

    def poke(self) -> None:
        """Something changed that the once-a-second upkeep must see (a peer, an address, the
        file selection): an idle torrent's upkeep wakes up."""
        self._wake_tick.set()

    # --------------------------------------------------------------------------- lifecycle
    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Check existing data, then serve peers until cancelled; saves resume state on exit."""
        self.started_at = trio.current_time()
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                good, hashed = await check_existing(self, self.hash_limiter)
                for index in good:
                    self.have.add(index)
                    self.picker.piece_verified(index)
                    self.done_bytes += self.geometry.piece_size(index)
                # Record what hashing found, so the next start trusts it (a record that already
                # says it all is not written again: a thousand seeds starting would each write one).
                self.resume_dirty = bool(hashed)
                self._apply_file_selection()
                self._set_state("seeding" if self.have.complete() else "downloading")
                if self.settings.super_seed and self.have.complete():
                    self.seeding = SuperSeeding(self)
                if self.picker.complete:
                    self.finish()
                self._serving = True
                nursery.start_soon(self._tick_loop)
                nursery.start_soon(self.uploads.run)
                nursery.start_soon(self._resume_loop)
                task_status.started(self)
        finally:
            # Nothing new may start in the closing nursery: late dials, accepted connections.
            self._stopping = True
            for peer in list(self.peers.values()):
                peer.close("torrent stopped")
            # Shielded, so that a stop still records what is verified; bounded, so that a disk
            # that no longer answers cannot hold the stop up (unrecorded pieces are hashed
            # again at the next start: slower, never wrong).
            with trio.CancelScope(shield=True), trio.move_on_after(self.settings.stop_save_timeout):
                await self._save_resume()
            self._set_state("stopped")

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.events.publish(ev.StateChanged(trio.current_time(), state))

    def _apply_file_selection(self) -> None:
        if self.file_priorities is None:
            return
        # Pad files (BEP 47) never decide a piece: they share it with the file they follow.
        priorities = [0 if entry.padding else p for entry, p in zip(self.info.files, self.file_priorities)]
        self.picker.set_file_priorities(priorities)

    def set_file_priorities(self, priorities: Sequence[int]) -> None:
        """Per-file priorities (0: not wanted; higher first), also while running: pieces only
        unwanted files need are no longer requested, and a finished torrent downloads again
        when a file it lacks becomes wanted."""
        if len(priorities) != len(self.info.files) or any(p < 0 for p in priorities):
            raise ValueError(f"{len(priorities)} priorities for {len(self.info.files)} files")
        self.file_priorities = list(priorities)
        everything = all(p > 0 for entry, p in zip(self.info.files, priorities) if not entry.padding)
        self.wanted_files = None if everything else {i for i, p in enumerate(priorities) if p > 0}
        if not self._serving:
            return  # applied when the check of existing data is over
        self._apply_file_selection()
        if self.picker.complete:
            self.finish()
        elif self.completed.is_set():
            self.completed = trio.Event()  # those who waited on the old one have seen it set
            self._set_state("downloading")
        self.resume_dirty = True
        self.poke()
        for peer in list(self.peers.values()):
            self._peer_progress_changed(peer)
        self.refill_all()

    def set_sequential(self, sequential: bool) -> None:
        """Fetch pieces in order (streaming) or rarest first, from now on."""
        self.picker.set_strategy("sequential" if sequential else "rarest")
        self.refill_all()

    def finish(self) -> None:
        if self.completed.is_set():
            return
        now = trio.current_time()
        self._set_state("seeding" if self.have.complete() else "finished")
        self.completed.set()
        self.events.publish(ev.Completed(now, self.verified_bytes, now - self.started_at))
        for peer in list(self.peers.values()):
            if peer.state.am_interested:
                peer.send_not_interested()
            if self.have.complete() and peer.state.is_seed:
                peer.close("both are seeds")
        self.resume_dirty = True

    # ------------------------------------------------------------------------------- peers
    def add_peers(self, addresses) -> None:
        if self.connector.add(addresses) and self._serving and not self._stopping:
            self.connector.connect_more(trio.current_time(), self._nursery)  # now, not next tick
            self.poke()

    async def accept(self, stream, codec: PeerCodec, handshake: msg.Handshake, address, leftover,
                     encryption: str = "none") -> None:
        """Serve a connection whose handshakes are done (ours was sent), until it ends.

        The connection task runs in the torrent's nursery, so stopping the torrent ends it; the
        caller (the listener's handler, which owns the stream) just waits for that.
        """
        assert self._nursery is not None
        if self._stopping:  # stopped while the handshake was answered
            await trio.aclose_forcefully(stream)
            return
        done = trio.Event()

        async def serve() -> None:
            try:
                await self.serve_peer(stream, codec, handshake, address, False, leftover, None, encryption)
            finally:
                done.set()

        self._nursery.start_soon(serve)
        await done.wait()

    def can_accept(self) -> bool:
        return self._serving and not self._stopping and len(self.peers) < self.settings.max_peers_per_torrent

    async def serve_peer(self, stream, codec, handshake, address, outgoing, leftover, known,
                         encryption: str = "none") -> None:
        """Run one connection whose handshakes are done, until it ends (known: if we dialed it;
        encryption: as in the PeerConnected event)."""
        peer_id = handshake.peer_id
        reason = None
        existing = self.peers.get(peer_id)
        if existing is not None and (existing.close_reason is not None
                                     or self._keeps_new_connection(existing, outgoing, peer_id)):
            existing.close("duplicate connection: both sides keep the other one")
            await existing.finished.wait()
        now = trio.current_time()
        if peer_id == self.client.peer_id:
            reason = "connected to ourselves"
        elif peer_id in self.peers:
            reason = "duplicate connection"
        elif self._ban_key(address, peer_id) in self.banned:
            reason = "banned"
        elif len(self.peers) >= self.settings.max_peers_per_torrent:
            reason = "too many peers"
        if reason is None:
            try:
                codec.set_geometry(self.num_pieces, self.info.piece_length, self.info.total_length,
                                   tail_padded=self.info.has_v2)
            except ProtocolError as exc:
                reason = f"protocol error: {exc}"
        if reason is not None:
            if known is not None:
                # A duplicate is not retired: once the other connection ends, we dial again.
                known.retired = reason not in ("too many peers", "duplicate connection")
                self.connector.failed(known)
            await trio.aclose_forcefully(stream)
            return
        peer = PeerConnection(self, stream, codec, address, peer_id, outgoing, now)
        peer.ban_key = self._ban_key(address, peer_id)
        self.peers[peer_id] = peer
        self.poke()
        self._peers_arrived.set()
        if known is not None:
            known.connected = True
            known.failures = 0
        self._greet(peer)
        from torrentish.wire.peer_id import client_name

        self.events.publish(ev.PeerConnected(now, address, client_name(peer_id), outgoing, encryption,
                                             transport_of(stream)))
        try:
            await peer.run(leftover)
        finally:
            del self.peers[peer_id]
            self.picker.peer_lost(peer.state.pieces)
            self.picker.peer_gone(peer)
            self.seeding.on_closed(peer)
            for extension in self.extensions.values():
                extension.on_peer_closed(self, peer)
            self.refill_all()
            if known is not None:
                known.connected = False
                if self.have.complete() and peer.state.is_seed:
                    known.retired = True
                self.connector.failed(known)
            self.events.publish(
                ev.PeerDisconnected(
                    trio.current_time(), address, peer.close_reason or "closed", peer.downloaded, peer.uploaded
                )
            )
            peer.finished.set()

    def _keeps_new_connection(self, existing: PeerConnection, outgoing: bool, peer_id: bytes) -> bool:
        """Two peers that dial each other at once each end up with two connections. Both sides
        keep the one dialed by the side with the lower peer id (libtorrent breaks the tie the
        same way), so they agree without a word and no retry is needed."""
        if existing.outgoing == outgoing:
            return False  # the same side dialed twice: the first connection stays
        ours = self.client.peer_id
        dialer = ours if outgoing else peer_id
        return dialer == min(ours, peer_id)

    def _greet(self, peer: PeerConnection) -> None:
        """What we send right after the handshake: extended handshake, then our pieces."""
        if peer.codec.extensions:
            extra: dict = {}
            for extension in self.extensions.values():
                extra.update(extension.handshake_fields(self))
            metadata_size = extra.pop("metadata_size", None)
            peer.send(
                wire.encode(
                    msg.Extended(
                        0,
                        encode_extended_handshake(
                            m={e.name: i for i, e in self.extensions.items()},
                            v=f"torrentish {self.client.version}",
                            p=self.client.announce_port or None,
                            reqq=self.settings.max_queued_requests,
                            yourip=_compact_ip(peer.address[0]),
                            metadata_size=metadata_size,
                            extra={k.encode() if isinstance(k, str) else k: v for k, v in extra.items()} or None,
                        ),
                    )
                )
            )
        count = self.have.count()
        if self.seeding.greet(peer):
            pass  # the policy announced our pieces its own way (BEP 16: one by one)
        elif peer.state.fast and count == self.num_pieces:
            peer.send_have_all()
        elif peer.state.fast and count == 0:
            peer.send_have_none()
        elif count:
            peer.send_bitfield()
        handshake = peer.codec.handshake  # after our pieces, as libtorrent orders it
        if self.dht_port and handshake is not None and handshake.supports_dht:
            peer.send(wire.encode(msg.Port(self.dht_port)))

    @staticmethod
    def _ban_key(address: tuple[str, int], peer_id: bytes) -> object:
        # Loopback peers all share one address (tests, local swarms): tell them apart by id.
        try:
            if ip_address(address[0]).is_loopback:
                return (address[0], peer_id)
        except ValueError:
            pass
        return address[0]

    # --------------------------------------- messages in (dispatched by PeerConnection._handle)
    def _on_choke(self, peer, m) -> None:
        peer.state.receive_choke()
        if not peer.state.fast:  # with Fast, the peer rejects each request explicitly
            self.picker.peer_gone(peer)

    def _on_unchoke(self, peer, m) -> None:
        peer.state.receive_unchoke()

    def _on_have(self, peer, m) -> None:
        if not peer.state.receive_have(m.index):
            return
        self.picker.peer_have(m.index)
        self.seeding.on_have(peer, m.index)
        self._peer_progress_changed(peer)

    def _on_bitfield(self, peer, m) -> None:
        self._set_peer_bitfield(peer, Bitfield(self.num_pieces, m.data))

    def _on_have_all(self, peer, m) -> None:
        self._set_peer_bitfield(peer, Bitfield.full(self.num_pieces))

    def _on_have_none(self, peer, m) -> None:
        self._set_peer_bitfield(peer, Bitfield(self.num_pieces))

    def _set_peer_bitfield(self, peer, bits: Bitfield) -> None:
        self.picker.peer_lost(peer.state.receive_pieces(bits))
        self.picker.peer_bitfield(bits)
        self.seeding.on_pieces(peer)
        self._peer_progress_changed(peer)

    def _peer_progress_changed(self, peer) -> None:
        state = peer.state
        if state.is_seed and self.have.complete():
            peer.close("both are seeds")
            return
        if not state.am_interested and not self.upload_only and not self.picker.complete:
            if self.picker.interesting(state.pieces):
                peer.send_interested()

    def _on_reject(self, peer, m) -> None:
        self.picker.block_abandoned(peer, Block(m.index, m.begin, m.length))

    def _on_allowed_fast(self, peer, m) -> None:
        peer.state.receive_allowed_fast(m.index)

    def _on_extended(self, peer, m) -> None:
        if m.ext_id == 0:
            hs = decode_extended_handshake(m.payload)
            if hs.reqq:
                peer.state.receive_reqq(hs.reqq)
            peer.client_version = hs.v
            if hs.p:
                peer.listen_port = hs.p
            # BEP 10: a later handshake updates the peer's ids; id 0 disables a name.
            for name, ext_id in hs.m.items():
                if ext_id:
                    peer.extension_ids[name] = ext_id
                else:
                    peer.extension_ids.pop(name, None)
            for extension in self.extensions.values():
                extension.on_handshake(self, peer, hs)
            return
        extension = self.extensions.get(m.ext_id)
        if extension is not None:  # unknown extension messages are ignored (BEP 10)
            extension.on_message(self, peer, m.payload)

    def _on_port(self, peer, m) -> None:
        if self.on_dht_node is not None and m.port:
            self.on_dht_node((peer.address[0], m.port))

    def send_extended(self, peer: PeerConnection, name: str, payload: bytes) -> bool:
        """Send an extension message with the id the peer chose; False if it lacks the extension."""
        ext_id = peer.extension_ids.get(name)
        if not ext_id:
            return False
        peer.send(wire.encode(msg.Extended(ext_id, payload)))
        return True

    def _on_piece(self, peer, m) -> None:
        # The hot path: one call per 16 KiB block. Rates are counted per received chunk by the
        # peer's reader (see PeerConnection._reader), not here. `block` is a view into the
        # peer's receive buffer: it is copied once, into the piece's buffer, or dropped.
        index, begin, block = m.index, m.begin, m.block
        length = len(block)
        peer.downloaded += length  # the reader restarts the peer's snub clock, once per read
        self.downloaded += length
        # None: not a block we asked this peer for (see PiecePicker.block_arrived), or a late one.
        others = self.picker.block_arrived(peer, index, begin, length)
        if others is None:
            self.wasted += length
            return
        for other in others:  # endgame: the picker has forgotten their requests already
            other.send_cancel(index, begin, length)
        buffer = self.assembly.get(index)
        if buffer is None:
            buffer = self.assembly[index] = PieceBuffer(
                index, self.geometry.piece_size(index), self.geometry.num_blocks(index),
                self._spare_buffers, hash_as_received=self.storage.checks_sha1 and not self.info.has_v2,
            )
        if not buffer.add(begin, block, peer.ban_key):
            self.wasted += length
            return
        if buffer.whole:
            del self.assembly[index]
            assert self._nursery is not None
            self._nursery.start_soon(verify_piece, self, buffer)

    def add_block(self, source, index: int, begin: int, block: bytes) -> None:
        """A block from a source that is not a peer connection (a web seed): `source` is what
        asked the picker for it, with a peer's `downloaded`, `ban_key` and `send_cancel`."""
        self._on_piece(source, msg.Piece(index, begin, block))

    # --------------------------------------------------------------------- requests out
    def fill_requests(self, peer: PeerConnection) -> None:
        """Keep the peer's request pipeline full (core/pipeline.py says how full)."""
        state = peer.state
        if not state.am_interested or peer.close_reason is not None:
            return
        allowed = None
        if state.peer_choking:
            if not (state.fast and state.allowed_fast):
                return
            allowed = state.allowed_fast
        picker = self.picker
        outstanding = picker.outstanding(peer)
        now = trio.current_time()
        want = peer.pipeline.wanted(peer.down.rate(now), state.reqq, outstanding, picker.endgame)
        if not want:
            return
        blocks = picker.pick(peer, state.pieces, want, allowed=allowed)
        if not blocks:
            if not outstanding and not picker.interesting(state.pieces):
                peer.send_not_interested()
            return
        peer.pipeline.requests_sent(now, outstanding)
        peer.send_requests(blocks, outstanding + len(blocks))

    def check_requests(self, peer: PeerConnection, now: float) -> None:
        """A peer that sends nothing for snub_timeout loses its requests to others."""
        if peer.pipeline.snub_due(now, self.picker.outstanding(peer)):
            self.picker.peer_gone(peer)
            self.refill_all()

    # ------------------------------------------------------------------ verified pieces
    def refill_all(self) -> None:
        """A piece closed or requests came free: peers that were idle may have work again."""
        for peer in list(self.peers.values()):
            self.fill_requests(peer)

    def set_rate_limits(self, *, up: float | None = None, down: float | None = None) -> None:
        """This torrent's own limits in bytes/s (0: none; None: unchanged). The client's
        limits (Client.set_rate_limits, Settings) apply on top."""
        set_limits(self.up_bucket, self.down_bucket, up, down, trio.current_time())

    def download_delay(self, n: int, now: float) -> float:
        if not self.honors_client_limits:
            return self.down_bucket.delay(n, now)
        return max(self.down_bucket.delay(n, now), self.client.down_bucket.delay(n, now))

    def read_size(self, largest: int) -> int:
        """How much one read from a peer may take: with a download limit, about a tenth of a
        second of it, so the limit is kept smoothly (unread data holds the sender back through
        TCP's window) rather than by a large read and a long sleep.

        Under a client-wide limit every peer of every torrent reads the same amount: readers
        share that bucket in proportion to what they read at a time."""
        rate = (self.honors_client_limits and self.client.down_bucket.rate) or self.down_bucket.rate
        if not rate:
            return largest
        return max(MIN_READ, min(largest, int(rate * LIMITED_READ_SECONDS)))

    # --------------------------------------------------------------- periodic upkeep
    async def _tick_loop(self) -> None:
        """Once a second: request and connection upkeep, and a Progress event when it moved.

        A torrent with no peer, nothing being dialed and nothing changed since its last
        Progress sleeps until poked (a connection, new addresses) or until its next dial
        attempt is due: a thousand idle seeds cost no CPU."""
        last = None
        while True:
            now = trio.current_time()
            for peer in list(self.peers.values()):
                peer.upkeep(now)  # idle and keepalive timers
                self.check_requests(peer, now)
                self.fill_requests(peer)
            self.connector.connect_more(now, self._nursery)
            progress = progress_event(self, now)
            moved = last is None or replace(progress, time=last.time) != last
            if moved:
                self.events.publish(progress)
                last = progress
            if moved or self.peers or self.connector.dialing():
                await trio.sleep(1.0)
                continue
            self._wake_tick = trio.Event()
            with trio.move_on_at(self.connector.next_attempt()):
                await self._wake_tick.wait()

    async def _resume_loop(self) -> None:
        """Saves, at most every resume_interval, while verified pieces keep coming."""
        while True:
            await self._resume_changed.wait()
            await trio.sleep(self.settings.resume_interval)
            self._resume_changed = trio.Event()
            await self._save_resume()

    async def wait_for_peers(self) -> None:
        """Return once the torrent has a connection (at once if it has one)."""
        while not self.peers:
            self._peers_arrived = trio.Event()
            await self._peers_arrived.wait()

    async def _save_resume(self) -> None:
        if not self.resume_dirty:
            return
        self.resume_dirty = False
        await self.storage.sync()
        await self.storage.save_completed(set(self.have))

    # -------------------------------------------------------------------------- status
    def status(self):
        from torrentish.engine.status import snapshot

        return snapshot(self, trio.current_time())


def _compact_ip(host: str) -> bytes | None:
    try:
        return ip_address(host).packed
    except ValueError:
        return None

