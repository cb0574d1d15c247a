"""One peer's protocol state, both directions, without I/O (BEP 3, BEP 6).

Shaped like h11's connection state: the connection's task tells it what the peer sent
(``receive_*``) and asks it before anything goes out (``send_*``), so it always holds the truth
about the link and refuses a message that would break the protocol. What the peer sends is
checked for framing by the codec (torrentish.wire.codec, ProtocolError) and is otherwise taken
as it comes (a REQUEST while we choke it is refused with REJECT, not an error). What *we* are
about to send is checked here: a violation raises LocalProtocolError, which is a bug of ours,
never the peer's doing (the way h11 tells LocalProtocolError from RemoteProtocolError).

Kept here: both directions' choke and interest, what the peer has (bitfield, HAVE ALL, HAVE NONE,
HAVEs), the pieces it lets us fetch while it chokes us (allowed fast), its request queue length
(reqq), and the blocks it asked of us, which are served in order while we do not choke it. Our
own outstanding requests are not kept here: the piece picker owns them (torrentish.core.picker),
so they are recorded exactly once.

Nothing here is called per block on the download side; the upload side appends each request
(``requested``) and the connection's writer pops them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from torrentish.core.bitfield import Bitfield

__all__ = ["PeerState", "LocalProtocolError", "MAX_ALLOWED_FAST", "DEFAULT_REQQ"]

MAX_ALLOWED_FAST = 64  # allowed-fast pieces kept per peer (BEP 6 suggests offering 10)
DEFAULT_REQQ = 250  # requests a peer queues when its extended handshake does not say (libtorrent)

Request = tuple[int, int, int]  # (index, begin, length)


class LocalProtocolError(Exception):
    """We were about to break the wire protocol: a bug of ours (a plain exception, see errors.py)."""


class PeerState:
    """What we and one peer have told each other. ``ours`` is our own have-set (shared, read only)."""

    __slots__ = ("am_choking", "am_interested", "peer_choking", "peer_interested", "pieces",
                 "allowed_fast", "reqq", "requested", "queue_limit", "fast", "unchoked_at",
                 "_ours", "_announced")

    def __init__(self, ours: Bitfield, *, fast: bool, queue_limit: int) -> None:
        self.am_choking = True  # we choke the peer
        self.am_interested = False  # we want data from it
        self.peer_choking = True  # it chokes us
        self.peer_interested = False  # it wants data from us
        self.pieces = Bitfield(ours.size)  # what the peer has, as it told us
        self.allowed_fast: set[int] = set()  # what it serves us even while choking us (BEP 6)
        self.reqq = DEFAULT_REQQ  # how many of our requests it queues
        self.requested: deque[Request] = deque()  # blocks it asked of us, to serve in order
        self.queue_limit = queue_limit  # our reqq: more queued requests than this are refused
        self.fast = fast  # both sides set the Fast extension bit
        self.unchoked_at: float | None = None  # when we last unchoked it (the seed's round robin)
        self._ours = ours
        self._announced = False  # our bitfield (or HAVE ALL / HAVE NONE) went out

    @property
    def is_seed(self) -> bool:
        return self.pieces.complete()

    # ---------------------------------------------------------------- what the peer sends
    def receive_choke(self) -> None:
        self.peer_choking = True

    def receive_unchoke(self) -> None:
        self.peer_choking = False

    def receive_interested(self) -> None:
        self.peer_interested = True

    def receive_not_interested(self) -> None:
        self.peer_interested = False

    def receive_have(self, index: int) -> bool:
        """True if the piece is new in the peer's set (a repeated HAVE changes nothing)."""
        pieces = self.pieces
        if index in pieces:
            return False
        pieces.add(index)
        return True

    def receive_pieces(self, pieces: Bitfield) -> Bitfield:
        """The peer's whole set (BITFIELD, HAVE ALL, HAVE NONE) replaces what it had; returns that."""
        if pieces.size != self.pieces.size:
            raise ValueError(f"a bitfield of {pieces.size} pieces for a torrent of {self.pieces.size}")
        before, self.pieces = self.pieces, pieces
        return before

    def receive_allowed_fast(self, index: int) -> None:
        if len(self.allowed_fast) < MAX_ALLOWED_FAST:  # a peer may send any number of them
            self.allowed_fast.add(index)

    def receive_reqq(self, reqq: int) -> None:
        """The peer's extended handshake says how many requests it queues."""
        if reqq > 0:
            self.reqq = reqq

    def receive_request(self, index: int, begin: int, length: int) -> bool:
        """Queue a block the peer asks for: False (refuse it) while we choke the peer, for a piece
        we lack, or beyond our advertised queue."""
        requested = self.requested
        if self.am_choking or len(requested) >= self.queue_limit or index not in self._ours:
            return False
        requested.append((index, begin, length))
        return True

    def unqueue_last(self) -> None:
        """Take back the request just queued (a policy of ours refused it after all)."""
        self.requested.pop()

    def receive_cancel(self, index: int, begin: int, length: int) -> None:
        try:
            self.requested.remove((index, begin, length))
        except ValueError:
            pass  # already sent, or never asked: nothing to do

    # ------------------------------------------------------------------ what we send
    def send_choke(self) -> list[Request]:
        """We choke the peer: its queued requests are dropped and returned (BEP 6: to REJECT)."""
        if self.am_choking:
            raise LocalProtocolError("CHOKE sent to a peer we already choke")
        self.am_choking = True
        dropped = list(self.requested)
        self.requested.clear()
        return dropped

    def send_unchoke(self, now: float) -> None:
        if not self.am_choking:
            raise LocalProtocolError("UNCHOKE sent to a peer we do not choke")
        self.am_choking = False
        self.unchoked_at = now

    def send_interested(self) -> None:
        if self.am_interested:
            raise LocalProtocolError("INTERESTED sent twice")
        self.am_interested = True

    def send_not_interested(self) -> None:
        if not self.am_interested:
            raise LocalProtocolError("NOT INTERESTED sent while not interested")
        self.am_interested = False

    def send_have(self, index: int) -> None:
        if index not in self._ours:
            raise LocalProtocolError(f"HAVE sent for piece {index}, which we lack")

    def send_bitfield(self) -> bytes:
        """Our pieces, once, as the first message after the handshakes: the BITFIELD payload."""
        self._announce("BITFIELD", fast_only=False)
        return self._ours.to_bytes()

    def send_have_all(self) -> None:
        if not self._ours.complete():
            raise LocalProtocolError("HAVE ALL sent while we lack pieces")
        self._announce("HAVE ALL", fast_only=True)

    def send_have_none(self) -> None:
        """HAVE NONE: the truth, or a super-seed's opening (BEP 16 reveals pieces one by one)."""
        self._announce("HAVE NONE", fast_only=True)

    def send_requests(self, blocks: Sequence[Request], outstanding: int) -> None:
        """We ask for `blocks`, which makes `outstanding` of our requests in flight.

        Checked once per batch, not per block: we must want data, the peer must not choke us
        (or let us fetch every one of these pieces anyway), and the batch must fit its reqq."""
        if not self.am_interested:
            raise LocalProtocolError("REQUEST sent while not interested")
        if self.peer_choking:
            if not self.fast:
                raise LocalProtocolError("REQUEST sent while choked")
            allowed = self.allowed_fast
            if not all(block[0] in allowed for block in blocks):
                raise LocalProtocolError("REQUEST sent while choked, for a piece not allowed fast")
        if outstanding > self.reqq:
            raise LocalProtocolError(f"{outstanding} requests in flight, the peer queues {self.reqq}")

    def send_reject(self) -> None:
        if not self.fast:
            raise LocalProtocolError("REJECT sent without the Fast extension")

    def _announce(self, what: str, *, fast_only: bool) -> None:
        if self._announced:
            raise LocalProtocolError(f"{what} sent after our pieces were announced already")
        if fast_only and not self.fast:
            raise LocalProtocolError(f"{what} sent without the Fast extension")
        self._announced = True
