"""A downloaded piece: its hash checked, then stored and announced, or blamed and fetched again.

Called by the torrent once every block of a piece is in (engine/torrent.py `_on_piece`). A piece
reaches the disk only if its hash matched (SHA-1, or for v2 and hybrid torrents the merkle tree
too: formats/piece_hashes.py); a piece that fails counts a strike against the peers
that sent its blocks, and enough strikes ban a peer (its connection closes, it is refused if it
comes back, and pieces still being assembled with its blocks start over).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from torrentish import events as ev
from torrentish.engine.pieces import PieceBuffer

if TYPE_CHECKING:
    from torrentish.engine.torrent import Torrent


async def verify_piece(torrent: Torrent, buffer: PieceBuffer) -> None:
    """Check the piece's hash and, only if it matches, store it (one worker-thread hop)."""
    index = buffer.index
    offset = torrent.geometry.piece_offset(index)
    if torrent.info.has_v2:  # merkle (and for a hybrid SHA-1 too): checked, then stored
        async with torrent.hash_limiter:
            ok = await trio.to_thread.run_sync(torrent.piece_hashes.matches, index, buffer.data)
            if ok:
                await torrent.storage.write(offset, buffer.data)
        _verified_or_failed(torrent, buffer, ok)
        return
    expected = torrent.info.piece_hash(index)
    digest = buffer.digest()  # hashed as its blocks arrived, unless they came out of order
    async with torrent.hash_limiter:
        if digest is None:
            ok = await torrent.storage.write_verified(offset, buffer.data, expected)
        else:
            ok = digest == expected
            if ok:
                await torrent.storage.write(offset, buffer.data)
    _verified_or_failed(torrent, buffer, ok)


def _verified_or_failed(torrent: Torrent, buffer: PieceBuffer, ok: bool) -> None:
    if ok:
        _piece_verified(torrent, buffer.index, buffer.contributors)
    else:
        _piece_failed(torrent, buffer)
    buffer.recycle()


def _piece_verified(torrent: Torrent, index: int, contributors: set[object]) -> None:
    torrent.have.add(index)
    torrent.done_bytes += torrent.geometry.piece_size(index)
    torrent.picker.piece_verified(index)
    torrent.verified_bytes += torrent.geometry.piece_size(index)
    torrent.resume_dirty = True
    torrent.events.publish(ev.PieceVerified(trio.current_time(), index))
    # A HAVE to the neighbours, at once or with the next batch, and their pipelines refilled
    # (engine/have_batch.py); the torrent finishes with its last piece.
    torrent.haves.piece_verified(index, contributors)


def _piece_failed(torrent: Torrent, buffer: PieceBuffer) -> None:
    torrent.picker.piece_failed(buffer.index)
    torrent.wasted += len(buffer.data)
    addresses = []
    # A piece with blocks from a peer banned already failed because of that peer: it does
    # not count against the honest peers that completed it.
    culprits = buffer.contributors & torrent.banned or buffer.contributors
    for key in culprits:
        strikes = torrent.strikes[key] = torrent.strikes.get(key, 0) + 1
        newly_banned = strikes >= torrent.settings.ban_after_failures and key not in torrent.banned
        if newly_banned:
            torrent.banned.add(key)  # also when it has left: it is refused if it comes back
        for peer in list(torrent.peers.values()):
            if peer.ban_key == key:
                addresses.append(peer.address)
                if newly_banned:
                    peer.close(f"banned: sent data that failed the hash check {strikes} times")
                    torrent.events.publish(ev.PeerBanned(trio.current_time(), peer.address, "corrupt data"))
                    torrent.connector.retire(peer.address)
    torrent.events.publish(ev.PieceFailed(trio.current_time(), buffer.index, tuple(addresses)))
    # Pieces still being assembled with a banned peer's blocks cannot pass: start them over.
    for index, open_buffer in list(torrent.assembly.items()):
        if open_buffer.contributors & torrent.banned:
            del torrent.assembly[index]
            torrent.picker.piece_failed(index)
    torrent.refill_all()
