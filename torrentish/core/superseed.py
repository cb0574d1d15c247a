"""BEP 16 super-seeding: which piece an initial seed reveals to which peer (pure).

An initial seed (the only one, uploading no faster than anyone else) sets the pace of the whole
swarm: every byte of the file must leave it once, and every byte it sends twice before the swarm
holds a full copy delays the end. A normal seed cannot prevent that: peers choose what to ask for,
and several ask for the same piece at the same moment (they see what others *have*, not what they
are fetching). A super-seed advertises no pieces at all and reveals them with HAVE, a few at a time
to each peer it serves; a peer can only ask for what it was shown, and what it is shown is the
piece nobody has and nobody else is fetching from us.

Decisions, after libtorrent (``torrent::get_piece_to_super_seed``,
``peer_connection::superseed_piece``), changed where a seed with few upload slots needs it:

* Which piece: the peer's rarest missing piece that no other peer we serve is fetching from us
  (fewest holders among our peers, then revealed to fewest peers, then random: the injected rng).
* To whom: only to peers we serve (unchoked), when we unchoke them; choking a peer releases what
  it was fetching. libtorrent reveals to every connected peer at once, so the pieces shown to the
  peers its choker leaves waiting are held back from everyone else, or sent twice.
* Slots go round in turns (libtorrent's round-robin seed choking, at piece granularity): a served
  peer gets ``per_peer`` pieces; once it is on the last one the peer that has waited longest is
  let in (``finishing``, ``next_to_serve``), and once it has them all (it sent HAVE; with
  ``strict``, libtorrent's ``strict_super_seeding``, only once another peer has them too) it is
  choked (``finished_turns``). So every peer gets pieces nobody else has, to trade, and what the
  seed sends spreads from many places. A served peer that fetches nothing between two rechoke
  rounds gives its slot up (``stalled``). The engine's choker therefore counts every peer that
  lacks pieces as a candidate, interested or not (``wants``): it cannot be interested in us before
  we reveal something to it.
* Fall-back: once the peers we are connected to hold every piece between them, the initial
  distribution is done and super-seeding would only slow the end (each peer could fetch from us
  only its own assignments). We then reveal everything to everyone and seed normally from then
  on. This also covers another seed appearing (a peer holding every piece).

The peer keys are opaque and hashable; state is kept in insertion-ordered dicts so that
decisions do not depend on hashing.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable, Iterable

__all__ = ["SuperSeed", "Reveal"]

Reveal = tuple[Hashable, int]  # send HAVE(index) to the peer


class SuperSeed:
    def __init__(self, num_pieces: int, rng: random.Random, *, per_peer: int = 2, strict: bool = False,
                 blocks_in: Callable[[int], int] = lambda index: 1):
        if num_pieces < 1 or per_peer < 1:
            raise ValueError("num_pieces and per_peer must be at least 1")
        self.num_pieces = num_pieces
        self._blocks_in = blocks_in  # how many blocks a piece has (the last may be shorter)
        self.per_peer = per_peer
        self.strict = strict
        self.active = True  # False once we fell back to normal seeding
        self._rng = rng
        self._held: dict[Hashable, set[int]] = {}  # what each peer has, as it told us
        self._revealed: dict[Hashable, set[int]] = {}  # what we told each peer we have
        self._assigned: dict[Hashable, list[int]] = {}  # peers we serve -> pieces they fetch from us
        self._holders = [0] * num_pieces  # how many connected peers have each piece
        self._fetching = [0] * num_pieces  # how many served peers have it assigned
        self._shown = [0] * num_pieces  # how many peers it was ever revealed to
        self._unheld = num_pieces  # pieces no connected peer has
        self._turn_done: dict[Hashable, int] = {}  # served peers -> pieces finished this turn
        self._progress: dict[Hashable, int | None] = {}  # served peers -> pieces since stalled()
        self._served_at: dict[Hashable, int] = {}  # when each peer last got a turn (a counter)
        self._handed_over: dict[Hashable, bool] = {}  # served peers -> the next one was let in
        self._asked: dict[Hashable, dict[int, set[int]]] = {}  # served peers -> piece -> blocks asked
        self._turns = 0

    # ------------------------------------------------------------------------- queries
    def may_serve(self, peer: Hashable, index: int) -> bool:
        """Whether a request for a block of `index` from `peer` may be served."""
        return not self.active or index in self._revealed.get(peer, ())

    def request(self, peer: Hashable, index: int, begin: int) -> bool:
        """The peer asks for the block at `begin` of piece `index`: may we serve it? (noted)"""
        if not self.may_serve(peer, index):
            return False
        asked = self._asked.get(peer)
        if asked is not None and index in asked:
            asked[index].add(begin)
        return True

    def wants(self, peer: Hashable) -> bool:
        """Whether the peer lacks pieces (an upload-slot candidate while super-seeding)."""
        held = self._held.get(peer)
        return held is not None and len(held) < self.num_pieces

    def assigned(self, peer: Hashable) -> list[int]:
        return list(self._assigned.get(peer, ()))

    def revealed(self, peer: Hashable) -> set[int]:
        return set(self._revealed.get(peer, ()))

    # ------------------------------------------------------------------------ turns
    def finishing(self) -> list[Hashable]:
        """Served peers that asked for every block of their turn and have not let the next peer in.

        Letting the next peer in now, while the blocks asked for are still being sent, not when
        the turn is over, keeps our upload busy over the round trips it takes the next peer to
        ask for its first block."""
        if not self.active:
            return []
        out = []
        for peer, assigned in self._assigned.items():
            if self._handed_over[peer] or not assigned or self._turn_done[peer] + len(assigned) < self.per_peer:
                continue
            asked = self._asked[peer]
            if all(len(asked[index]) >= self._blocks_in(index) for index in assigned):
                out.append(peer)
        return out

    def handed_over(self, peer: Hashable) -> None:
        """The next peer was let in for `peer`: once its turn is over, it is simply choked."""
        if peer in self._handed_over:
            self._handed_over[peer] = True

    def finished_turns(self) -> list[tuple[Hashable, bool]]:
        """Served peers that fetched their `per_peer` pieces, and whether they handed over."""
        if not self.active:
            return []
        return [(p, self._handed_over[p]) for p, done in self._turn_done.items()
                if done >= self.per_peer and not self._assigned[p]]

    def next_to_serve(self, waiting: Iterable[Hashable]) -> Hashable | None:
        """Of the peers waiting for a slot, the one whose last turn is oldest (never: first)."""
        best, best_at = None, None
        for peer in waiting:
            if peer in self._assigned or not self.wants(peer):
                continue
            at = self._served_at.get(peer, -1)
            if best_at is None or at < best_at:
                best, best_at = peer, at
        return best

    def new_turn(self, peer: Hashable) -> list[Reveal]:
        """Nobody else is waiting: the peer keeps its slot for another turn."""
        if not self.active or peer not in self._assigned:
            return []
        self._turn_done[peer] = 0
        self._handed_over[peer] = False
        self._served_at[peer] = self._turns = self._turns + 1
        return self._fill(peer)

    def stalled(self) -> list[Hashable]:
        """Served peers that finished nothing since the last call (called every rechoke)."""
        out = [p for p, n in self._progress.items() if n == 0] if self.active else []
        for peer in self._progress:  # a peer served since the last call is checked next time
            self._progress[peer] = 0
        return out

    # ----------------------------------------------------------------------- peer events
    def add_peer(self, peer: Hashable) -> None:
        if peer not in self._held:
            self._held[peer] = set()
            self._revealed[peer] = set()

    def remove_peer(self, peer: Hashable) -> list[Reveal]:
        held = self._held.pop(peer, None)
        if held is None:
            return []
        self._revealed.pop(peer, None)
        self._served_at.pop(peer, None)
        self._release(peer)
        for index in held:
            self._holders[index] -= 1
            if not self._holders[index]:
                self._unheld += 1
        return self._refill()  # what it was fetching may go to others now

    def peer_pieces(self, peer: Hashable, pieces: Iterable[int]) -> list[Reveal]:
        """The peer's whole set of pieces (bitfield, HAVE ALL, HAVE NONE)."""
        self.add_peer(peer)
        new = {i for i in pieces if 0 <= i < self.num_pieces}
        held = self._held[peer]
        for index in held - new:
            self._holders[index] -= 1
            if not self._holders[index]:
                self._unheld += 1
        for index in new - held:
            self._gain(index)
        self._held[peer] = new
        return self._after_change(new)

    def peer_have(self, peer: Hashable, index: int) -> list[Reveal]:
        """The peer announced a piece (HAVE)."""
        self.add_peer(peer)
        held = self._held[peer]
        if not 0 <= index < self.num_pieces or index in held:
            return []
        held.add(index)
        self._gain(index)
        return self._after_change({index})

    def start_serving(self, peer: Hashable) -> list[Reveal]:
        """We unchoked the peer: give it pieces to fetch."""
        self.add_peer(peer)
        if not self.active or peer in self._assigned:
            return []
        self._assigned[peer] = []
        self._asked[peer] = {}
        self._turn_done[peer] = 0
        self._handed_over[peer] = False
        self._progress[peer] = None
        self._served_at[peer] = self._turns = self._turns + 1
        return self._fill(peer)

    def stop_serving(self, peer: Hashable) -> list[Reveal]:
        """We choked the peer: its assignments may go to others."""
        if peer not in self._assigned:
            return []
        self._release(peer)
        return self._refill()

    # ------------------------------------------------------------------------ internals
    def _gain(self, index: int) -> None:
        if not self._holders[index]:
            self._unheld -= 1
        self._holders[index] += 1

    def _release(self, peer: Hashable) -> None:
        for index in self._assigned.pop(peer, ()):
            self._fetching[index] -= 1
        self._turn_done.pop(peer, None)
        self._asked.pop(peer, None)
        self._handed_over.pop(peer, None)
        self._progress.pop(peer, None)

    def _done(self, peer: Hashable, index: int) -> bool:
        """Whether the assignment of `index` to `peer` is over."""
        if index not in self._held[peer]:
            return False
        return not self.strict or self._holders[index] >= 2

    def _after_change(self, pieces: set[int]) -> list[Reveal]:
        if not self.active:
            return []
        if not self._unheld:
            return self._fall_back()
        for peer, assigned in self._assigned.items():
            if any(index in pieces for index in assigned):
                for index in [i for i in assigned if self._done(peer, i)]:
                    assigned.remove(index)
                    del self._asked[peer][index]
                    self._fetching[index] -= 1
                    self._turn_done[peer] += 1
                    self._progress[peer] = (self._progress[peer] or 0) + 1
        return self._refill()

    def _refill(self) -> list[Reveal]:
        out: list[Reveal] = []
        if self.active:
            for peer in list(self._assigned):
                out += self._fill(peer)
        return out

    def _fill(self, peer: Hashable) -> list[Reveal]:
        assigned = self._assigned[peer]
        out: list[Reveal] = []
        while len(assigned) + self._turn_done[peer] < self.per_peer:
            index = self._pick(peer)
            if index is None:
                break
            assigned.append(index)
            self._asked[peer][index] = set()
            self._fetching[index] += 1
            revealed = self._revealed[peer]
            if index not in revealed:
                revealed.add(index)
                self._shown[index] += 1
                out.append((peer, index))
        return out

    def _pick(self, peer: Hashable) -> int | None:
        """The peer's rarest missing piece that no other served peer is fetching from us."""
        held, mine = self._held[peer], self._assigned[peer]
        best: tuple[int, int] | None = None
        ties: list[int] = []
        holders, shown, fetching = self._holders, self._shown, self._fetching
        for index in range(self.num_pieces):
            if fetching[index] or index in held or index in mine:
                continue
            key = (holders[index], shown[index])
            if best is None or key < best:
                best, ties = key, [index]
            elif key == best:
                ties.append(index)
        if not ties:
            return None
        return ties[0] if len(ties) == 1 else self._rng.choice(ties)

    def _fall_back(self) -> list[Reveal]:
        """Every piece is out: reveal the rest to every peer and seed normally from now on."""
        self.active = False
        for peer in list(self._assigned):
            self._release(peer)
        out: list[Reveal] = []
        for peer, held in self._held.items():
            revealed = self._revealed[peer]
            out += [(peer, i) for i in range(self.num_pieces) if i not in held and i not in revealed]
        return out
