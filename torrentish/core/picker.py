"""Which blocks to request from which peer: rarest first, partial pieces first, endgame.

The algorithm is described in prose in docs/picker.md. The data structure, in short:

Every piece is in exactly one of four states, and the state decides where it is kept::

    verified  self._have[i] == 1                           never picked again
    skipped   priority 0, nothing requested                 never picked
    bucketed  wanted, nothing requested or received yet    a candidate for opening
    open      something requested or received              self._open[i] -> _OpenPiece

Bucketed pieces sit in buckets keyed by (-priority, availability) for the "rarest" strategy and by
(-priority, 0) for "random" and "sequential". The keys are kept sorted (self._keys), so a pick walks
the buckets best-first and stops at the first pieces the peer has::

    key (-prio, avail)   bucket, in random order (rarest, random) or by index (sequential)
    (-2, 0)          ->  [17, 3]
    (-1, 0)          ->  [8, 40, 2]
    (-1, 1)          ->  [9, 1, 33, 12]         peer_have(9): 9 moves to (-1, 2) in O(1)
    (-1, 2)          ->  [...]

In a random-order bucket a piece is inserted at a random position (append, then swap with a random
slot) and removed by swapping the last element into its place (self._pos), both O(1); so ties are
broken by the injected rng and the walk never iterates anything ordered by hashing. Availability
counts peers that are not seeds; a seed (full bitfield) only bumps self._seeds, which adds the same
amount to every piece and so moves nothing.

An open piece keeps one state byte per block (FREE / REQUESTED / RECEIVED) and, per requested block,
the list of peers that asked for it (more than one only in endgame). Open wanted pieces with FREE
blocks are kept in self._open_free sorted by the order they were opened, so the oldest partial piece
is finished first. Each peer's outstanding requests are in self._requests[peer], an
insertion-ordered dict used as an ordered set. The picker is the only record of our outstanding
requests: the engine asks it (``outstanding``, ``requests``) rather than keeping its own copy, and
a request whose piece closes (failed, or started over) is forgotten here and so everywhere.
"""

from __future__ import annotations

import random
from bisect import bisect_left, insort
from collections.abc import Collection, Hashable, Iterator, Sequence
from typing import NamedTuple

from torrentish.core.bitfield import Bitfield
from torrentish.formats.geometry import BLOCK_SIZE, PieceGeometry

__all__ = ["Block", "PiecePicker", "STRATEGIES", "ENDGAME_MAX_REQUESTS"]

STRATEGIES = ("rarest", "random", "sequential")
ENDGAME_MAX_REQUESTS = 3  # outstanding requests for one block, from different peers, in endgame
DEFAULT_OPEN_BYTES = 64 * 1024 * 1024  # memory the engine may spend buffering open pieces
MIN_OPEN_PIECES = 8  # never fewer open pieces than this, whatever the piece length
# A scan for candidates that has tested SPARSE_PEER times as many of our pieces as the peer has
# pieces finds the rest from the peer's own pieces, sorted into the scan's order: the same
# candidates, at a cost bounded by the peer's pieces rather than ours (PiecePicker._candidates).
SPARSE_PEER = 4

FREE, REQUESTED, RECEIVED = 0, 1, 2


class Block(NamedTuple):
    index: int
    begin: int
    length: int


class _OpenPiece:
    """Block-level progress of one piece that has something requested or received."""

    __slots__ = ("index", "seq", "blocks", "state", "holders", "free", "received", "cursor",
                 "in_free_list")

    def __init__(self, index: int, seq: int, blocks: list[Block]) -> None:
        self.index = index
        self.seq = seq  # opening order: older pieces are finished first
        self.blocks = blocks
        self.state = bytearray(len(blocks))  # all FREE
        self.holders: dict[int, list[Hashable]] = {}  # block number -> peers that requested it
        self.free = len(blocks)
        self.received = 0
        self.cursor = 0  # every block before it is not FREE
        self.in_free_list = False


class PiecePicker:
    """Chooses blocks to request; tracks availability, open pieces and outstanding requests.

    ``peer`` arguments are any hashable objects that identify a connection.
    """

    def __init__(self, geometry: PieceGeometry, rng: random.Random, strategy: str = "rarest",
                 random_first: int = 4, max_open_bytes: int = DEFAULT_OPEN_BYTES) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown picking strategy {strategy!r}; expected one of {STRATEGIES}")
        n = geometry.num_pieces
        self.geometry = geometry
        self.strategy = strategy
        self.random_first = random_first
        # Each open piece is a buffer in the engine: bound how many there are.
        self.max_open = max(MIN_OPEN_PIECES, max_open_bytes // geometry.piece_length)
        self._rng = rng
        self._rarest = strategy == "rarest"
        self._sequential = strategy == "sequential"
        self._avail = [0] * n
        self._seeds = 0
        self._priority = [1] * n
        self._have = bytearray(n)
        self._have_count = 0
        self.wanted_remaining = n  # wanted pieces not yet verified
        self._buckets: dict[tuple[int, int], list[int]] = {}
        self._keys: list[tuple[int, int]] = []  # sorted keys of self._buckets
        self._key_of: list[tuple[int, int] | None] = [None] * n  # None: not bucketed
        self._pos = [0] * n  # position inside a random-order bucket
        self._bucketed = 0
        self._open: dict[int, _OpenPiece] = {}
        self._open_free: list[tuple[int, int]] = []  # sorted (seq, index) of open pieces with FREE
        self._open_wanted = 0  # open pieces with priority > 0
        self._next_seq = 0
        self._requests: dict[Hashable, dict[Block, None]] = {}
        for index in range(n):
            self._bucket_add(index)

    # ------------------------------------------------------------------- state queries
    @property
    def complete(self) -> bool:
        """Every wanted piece is verified."""
        return self.wanted_remaining == 0

    @property
    def endgame(self) -> bool:
        """Every remaining wanted block is requested or received: duplicates may be handed out."""
        return self.wanted_remaining > 0 and not self._bucketed and not self._open_free

    @property
    def open_pieces(self) -> int:
        return len(self._open)

    def availability(self, index: int) -> int:
        """How many connected peers have piece ``index``."""
        return self._avail[index] + self._seeds

    def wanted(self, index: int) -> bool:
        """We lack piece ``index`` and its priority is not 0."""
        return not self._have[index] and self._priority[index] > 0

    def interesting(self, peer_bits: Bitfield) -> bool:
        """The peer has a piece we want and lack."""
        if not self.wanted_remaining:
            return False
        if peer_bits.complete():
            return True
        have, priority = self._have, self._priority
        return any(not have[i] and priority[i] > 0 for i in peer_bits)

    def piece_downloaded(self, index: int) -> bool:
        """Every block of the open piece ``index`` was received: it awaits verification."""
        part = self._open.get(index)
        return part is not None and part.received == len(part.blocks)

    def requests(self, peer: Hashable) -> list[Block]:
        """The peer's outstanding requests, oldest first."""
        return list(self._requests.get(peer, ()))

    def outstanding(self, peer: Hashable) -> int:
        """How many requests the peer has outstanding."""
        requests = self._requests.get(peer)
        return len(requests) if requests is not None else 0

    # --------------------------------------------------------------------- availability
    def peer_bitfield(self, bits: Bitfield) -> None:
        """A peer announced its pieces (bitfield, HaveAll or HaveNone)."""
        self._check_bits(bits)
        if bits.complete():
            self._seeds += 1
            return
        for index in bits:
            self._add_avail(index, 1)

    def peer_lost(self, bits: Bitfield) -> None:
        """A peer with these pieces left, or is about to announce a new bitfield."""
        self._check_bits(bits)
        if bits.complete() and self._seeds:
            # Full bitfields add the same to every piece, whether counted as a seed or piece by
            # piece (a peer that completed through haves), so either counter may be taken back.
            self._seeds -= 1
            return
        for index in bits:
            self._add_avail(index, -1)

    def peer_have(self, index: int) -> None:
        """A peer got piece ``index`` (call only when it is new in that peer's bitfield)."""
        self._check_index(index)
        self._add_avail(index, 1)

    # ----------------------------------------------------------------------- priorities
    def set_priority(self, index: int, priority: int) -> None:
        """0 = skip (never requested); higher values are picked before lower ones."""
        self._check_index(index)
        if priority < 0:
            raise ValueError(f"priority must be >= 0, not {priority}")
        old = self._priority[index]
        if old == priority:
            return
        was_wanted, now_wanted = old > 0, priority > 0
        if self._key_of[index] is not None:
            self._bucket_remove(index)
        self._priority[index] = priority
        if self._have[index]:
            return
        self.wanted_remaining += now_wanted - was_wanted
        part = self._open.get(index)
        if part is None:
            if now_wanted:
                self._bucket_add(index)
            return
        # An open piece stays open (its data is buffered), but a skipped one hands out no blocks.
        self._open_wanted += now_wanted - was_wanted
        if now_wanted and part.free:
            self._free_list_add(part)
        elif not now_wanted:
            self._free_list_remove(part)

    def set_strategy(self, strategy: str) -> None:
        """Change how pieces are chosen from now on (a user switching sequential on or off);
        open pieces and requests are kept."""
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown picking strategy {strategy!r}; expected one of {STRATEGIES}")
        if strategy == self.strategy:
            return
        bucketed = [index for index, key in enumerate(self._key_of) if key is not None]
        for index in bucketed:
            self._bucket_remove(index)
        self._buckets, self._keys = {}, []
        self.strategy = strategy
        self._rarest = strategy == "rarest"
        self._sequential = strategy == "sequential"
        for index in bucketed:
            self._bucket_add(index)

    def set_file_priorities(self, priorities: Sequence[int]) -> None:
        """Per-file priorities; a piece shared by files gets the highest of theirs."""
        geometry = self.geometry
        if len(priorities) != len(geometry.file_lengths):
            raise ValueError(f"{len(priorities)} priorities for {len(geometry.file_lengths)} files")
        for index in range(geometry.num_pieces):
            spans = geometry.file_spans(geometry.piece_offset(index), geometry.piece_size(index))
            self.set_priority(index, max(priorities[file] for file, _, _ in spans))

    # --------------------------------------------------------------------- our progress
    def piece_verified(self, index: int) -> None:
        """The piece passed its hash check (or was found complete on disk)."""
        self._check_index(index)
        if self._have[index]:
            return
        if index in self._open:
            self._close(index)
        elif self._key_of[index] is not None:
            self._bucket_remove(index)
        self._have[index] = 1
        self._have_count += 1
        if self._priority[index] > 0:
            self.wanted_remaining -= 1

    def piece_failed(self, index: int) -> None:
        """The piece failed its hash check (or was lost from disk): its blocks are free again."""
        self._check_index(index)
        if index in self._open:
            self._close(index)
        if self._have[index]:
            self._have[index] = 0
            self._have_count -= 1
            if self._priority[index] > 0:
                self.wanted_remaining += 1
        if self._priority[index] > 0 and self._key_of[index] is None:
            self._bucket_add(index)

    # ------------------------------------------------------------------------- requests
    def pick(self, peer: Hashable, peer_bits: Bitfield, count: int,
             allowed: Collection[int] | None = None) -> list[Block]:
        """Up to ``count`` blocks to request from ``peer``; they are recorded as requested.

        With ``allowed`` (we are choked; the peer's allowed-fast set) only those pieces are used.
        """
        out: list[Block] = []
        if count <= 0 or not self.wanted_remaining:
            return out
        # Under "rarest", when picking from a seed, an open piece goes first only if it is at
        # least as rare as the rarest new piece (partials win ties): a seed is asked for pieces
        # nobody else has, not to complete pieces its leechers already trade (docs/picker.md,
        # "Picking"). Only for seeds: their best new piece is the first bucket, O(1); for other
        # peers it would take a walk of the buckets on every pick.
        limit = None
        if (self._rarest and allowed is None and self._open_wanted < self.max_open
                and peer_bits.complete()):
            limit = self._best_bucket_key()
        # 1. Finish what is open, oldest first.
        deferred = []
        for _, index in list(self._open_free):
            if index in peer_bits and (allowed is None or index in allowed):
                if limit is not None and self._key(index) > limit:
                    deferred.append(index)
                    continue
                self._take_free(peer, self._open[index], count - len(out), out)
                if len(out) >= count:
                    return out
        if not deferred:
            # 2. Open new pieces, as many as the blocks still wanted need.
            self._open_new(peer, self._candidates(peer_bits, allowed), count, out)
        else:
            # 2'. New pieces rarer than the deferred open ones, then those, then other new ones.
            bound = min(self._key(index) for index in deferred)
            self._open_new(peer, self._candidates(peer_bits, allowed), count, out, bound)
            for index in deferred:
                if len(out) >= count:
                    return out
                self._take_free(peer, self._open[index], count - len(out), out)
            self._open_new(peer, self._candidates(peer_bits, allowed), count, out)
        # 3. Endgame: ask this peer too for blocks others are already fetching.
        if len(out) < count and self.endgame:
            self._take_duplicates(peer, peer_bits, allowed, count - len(out), out)
        return out

    def block_received(self, peer: Hashable, block: Block) -> list[Hashable]:
        """Record a block; returns the other peers whose request for it should be cancelled.

        A block the peer was not asked for changes nothing (see block_arrived).
        """
        others = self.block_arrived(peer, block.index, block.begin, block.length)
        return list(others) if others else []

    def block_arrived(self, peer: Hashable, index: int, begin: int,
                      length: int) -> Sequence[Hashable] | None:
        """Record a block ``peer`` sent: None if it is not worth storing (we did not ask this peer
        for exactly this block, or it is no longer missing), else the other peers whose request
        for it should be cancelled.

        Only requested blocks count: an unrequested block pushed into a piece an honest peer is
        filling would make the piece fail and get the honest peer banned too. The engine's
        per-block call, so it does everything in one pass.
        """
        block = (index, begin, length)  # equal to, and hashed like, Block(index, begin, length)
        requests = self._requests.get(peer)
        # Values are None: False means the peer had no such request.
        if requests is None or requests.pop(block, False) is not None:  # type: ignore[call-overload]
            return None
        part = self._open.get(index)
        if part is None:
            return None
        number = begin // BLOCK_SIZE  # an outstanding request is one of the piece's blocks
        if part.state[number] == RECEIVED:
            return None
        part.state[number] = RECEIVED
        part.received += 1
        holders = part.holders.pop(number, None)
        if not holders or (len(holders) == 1 and holders[0] == peer):
            return ()
        others = [p for p in holders if p != peer]
        for other in others:
            self._drop_request(other, part.blocks[number])
        return others

    def block_abandoned(self, peer: Hashable, block: Block) -> None:
        """The peer will not send the block (choke, reject, timeout): it is free again."""
        requests = self._requests.get(peer)
        if requests is None or block not in requests:
            return
        del requests[block]
        if not requests:
            del self._requests[peer]
        self._release(peer, block)

    def peer_gone(self, peer: Hashable) -> None:
        """Abandon every outstanding request of ``peer`` (disconnect, choke without Fast, snub)."""
        for block in self._requests.pop(peer, ()):
            self._release(peer, block)

    # ------------------------------------------------------------------ picking helpers
    def _candidates(self, bits: Bitfield, allowed: Collection[int] | None) -> Iterator[int]:
        """Bucketed pieces the peer has, best first. Do not open pieces while iterating."""
        key_of = self._key_of
        if allowed is not None:
            n = len(key_of)
            found = [i for i in allowed if type(i) is int and 0 <= i < n
                     and key_of[i] is not None and i in bits]
            yield from sorted(found, key=lambda i: (key_of[i], i))
        elif self._random_phase(bits):
            # Random first: any piece will do to have something to trade soon.
            n = len(key_of)
            start = self._rng.randrange(n)
            budget = bits.count() * SPARSE_PEER
            for k in range(n):
                i = (start + k) % n
                if key_of[i] is not None and i in bits:
                    yield i
                budget -= 1
                if budget < 0:  # the rest from the peer's own pieces, in the scan's order
                    yield from sorted((j for j in bits if key_of[j] is not None and (j - start) % n > k),
                                      key=lambda j: (j - start) % n)
                    return
        elif bits.complete():
            for key in self._keys:
                yield from self._buckets[key]
        else:
            wire = bits.to_bytes()  # a byte and a mask per test, not a method call
            budget = bits.count() * SPARSE_PEER
            for key in self._keys:
                bucket = self._buckets[key]
                for place, i in enumerate(bucket):
                    if wire[i >> 3] & (0x80 >> (i & 7)):
                        yield i
                    budget -= 1
                    if budget < 0:
                        yield from self._sparse_rest(bits, key, i if self._sequential else place)
                        return

    def _sparse_rest(self, bits: Bitfield, key: tuple[int, int], place: int) -> list[int]:
        """The bucketed pieces the peer has that the bucket walk would meet after the piece at
        ``place`` (its index in a sequential bucket, its position in others) of bucket ``key``:
        the peer's own pieces, sorted into the walk's order (bucket key, then place)."""
        key_of = self._key_of
        places = range(len(key_of)) if self._sequential else self._pos
        mark = (key, place)
        return sorted((j for j in bits if key_of[j] is not None and (key_of[j], places[j]) > mark),
                      key=lambda j: (key_of[j], places[j]))

    def _best_bucket_key(self) -> tuple[int, int] | None:
        """The key of the best non-empty bucket (emptied buckets keep their keys)."""
        buckets = self._buckets
        for key in self._keys:
            if buckets[key]:
                return key
        return None

    def _open_new(self, peer: Hashable, candidates: Iterator[int], count: int, out: list[Block],
                  below: tuple[int, int] | None = None) -> None:
        """Open candidate pieces (best first; with ``below``, only keys less than it) and request
        their blocks until ``out`` holds ``count`` blocks or ``max_open`` pieces are open."""
        room = self.max_open - self._open_wanted
        needed, chosen = count - len(out), []
        if room <= 0 or needed <= 0 or not self._bucketed:
            return
        key_of, num_blocks = self._key_of, self.geometry.num_blocks
        for index in candidates:
            if below is not None and key_of[index] >= below:  # type: ignore[operator]
                break
            chosen.append(index)
            needed -= num_blocks(index)
            if needed <= 0 or len(chosen) >= room:
                break
        for index in chosen:  # collected first: opening changes the buckets being walked
            self._take_free(peer, self._open_piece(index), count - len(out), out)

    def _random_phase(self, bits: Bitfield) -> bool:
        """Pick at random (rarest strategy, fewer than random_first pieces verified) - but not
        from a seed: its rarest pieces are new to the swarm and as quick to get as any."""
        return self._rarest and self._have_count < self.random_first and not bits.complete()

    def _take_free(self, peer: Hashable, part: _OpenPiece, n: int, out: list[Block]) -> None:
        """Request up to ``n`` FREE blocks of ``part`` from ``peer``, lowest offset first."""
        requests = self._requests.setdefault(peer, {})
        state, number = part.state, part.cursor
        while n > 0 and part.free:
            while state[number] != FREE:
                number += 1
            state[number] = REQUESTED
            part.holders[number] = [peer]
            part.free -= 1
            block = part.blocks[number]
            requests[block] = None
            out.append(block)
            n -= 1
            number += 1
        part.cursor = number
        if not part.free:
            self._free_list_remove(part)
        if not requests:
            del self._requests[peer]

    def _take_duplicates(self, peer: Hashable, bits: Bitfield, allowed: Collection[int] | None,
                         n: int, out: list[Block]) -> None:
        """Endgame: blocks requested from other peers, least-duplicated first."""
        requests = self._requests.setdefault(peer, {})
        target = len(out) + n
        for limit in range(2, ENDGAME_MAX_REQUESTS + 1):
            for index, part in self._open.items():
                if (self._priority[index] == 0 or index not in bits
                        or (allowed is not None and index not in allowed)):
                    continue
                for number, holders in part.holders.items():
                    if len(holders) < limit and peer not in holders:
                        holders.append(peer)
                        block = part.blocks[number]
                        requests[block] = None
                        out.append(block)
                        if len(out) >= target:
                            return
        if not requests:
            del self._requests[peer]

    # ------------------------------------------------------------ open-piece bookkeeping
    def _open_piece(self, index: int) -> _OpenPiece:
        self._bucket_remove(index)
        blocks = [Block(index, begin, length) for begin, length in self.geometry.blocks(index)]
        part = self._open[index] = _OpenPiece(index, self._next_seq, blocks)
        self._next_seq += 1
        self._open_wanted += 1
        self._free_list_add(part)
        return part

    def _close(self, index: int) -> None:
        """Forget an open piece and every request for its blocks."""
        part = self._open.pop(index)
        self._free_list_remove(part)
        if self._priority[index] > 0:
            self._open_wanted -= 1
        for number, holders in part.holders.items():
            for peer in holders:
                self._drop_request(peer, part.blocks[number])

    def _release(self, peer: Hashable, block: Block) -> None:
        """``peer`` no longer has ``block`` requested (already removed from its own dict)."""
        part = self._open[block.index]
        number = block.begin // BLOCK_SIZE
        holders = part.holders[number]
        holders.remove(peer)
        if holders:
            return
        del part.holders[number]
        part.state[number] = FREE
        part.free += 1
        part.cursor = min(part.cursor, number)
        if part.free == len(part.blocks):  # nothing requested or received: not open any more
            self._close(block.index)
            if self.wanted(block.index):
                self._bucket_add(block.index)
        elif self._priority[block.index] > 0:
            self._free_list_add(part)

    def _drop_request(self, peer: Hashable, block: Block) -> None:
        requests = self._requests.get(peer)
        if requests is not None:
            requests.pop(block, None)
            if not requests:
                del self._requests[peer]

    def _free_list_add(self, part: _OpenPiece) -> None:
        if not part.in_free_list:
            insort(self._open_free, (part.seq, part.index))
            part.in_free_list = True

    def _free_list_remove(self, part: _OpenPiece) -> None:
        if part.in_free_list:
            del self._open_free[bisect_left(self._open_free, (part.seq, part.index))]
            part.in_free_list = False

    # --------------------------------------------------------------------------- buckets
    def _key(self, index: int) -> tuple[int, int]:
        return (-self._priority[index], self._avail[index] if self._rarest else 0)

    def _bucket_add(self, index: int) -> None:
        key = self._key(index)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = []
            insort(self._keys, key)
        if self._sequential:
            insort(bucket, index)
        else:
            bucket.append(index)
            slot = self._rng.randrange(len(bucket))
            displaced = bucket[slot]
            bucket[slot], bucket[-1] = index, displaced
            self._pos[displaced] = len(bucket) - 1
            self._pos[index] = slot
        self._key_of[index] = key
        self._bucketed += 1

    def _bucket_remove(self, index: int) -> None:
        key = self._key_of[index]
        assert key is not None
        bucket = self._buckets[key]
        if self._sequential:
            del bucket[bisect_left(bucket, index)]
        else:
            last = bucket.pop()
            if last != index:
                slot = self._pos[index]
                bucket[slot] = last
                self._pos[last] = slot
        self._key_of[index] = None
        self._bucketed -= 1

    def _add_avail(self, index: int, delta: int) -> None:
        # Clamped at 0: a peer_lost without its peer_bitfield must not corrupt the order.
        value = max(0, self._avail[index] + delta)
        if self._rarest and self._key_of[index] is not None:
            self._bucket_remove(index)
            self._avail[index] = value
            self._bucket_add(index)
        else:
            self._avail[index] = value

    # ----------------------------------------------------------------------------- checks
    def _check_index(self, index: int) -> None:
        if not 0 <= index < len(self._have):
            raise ValueError(f"piece {index} out of range 0..{len(self._have) - 1}")

    def _check_bits(self, bits: Bitfield) -> None:
        if bits.size != len(self._have):
            raise ValueError(f"bitfield of {bits.size} pieces for a torrent of {len(self._have)}")
