"""HAVEs of verified pieces: at once by default, or gathered per Settings.have_interval and sent
to each neighbour in one write (engine/have_batch.py)."""

from types import SimpleNamespace

import trio
import trio.testing

from torrentish.core.bitfield import Bitfield
from torrentish.engine.have_batch import HaveAnnouncer
from torrentish.engine.settings import Settings

PIECES = 8


class _Peer:
    def __init__(self, key, has=()):
        self.ban_key = key
        self.state = SimpleNamespace(pieces=Bitfield(PIECES))
        for index in has:
            self.state.pieces.add(index)
        self.writes: list[list[int]] = []

    def send_haves(self, indices):
        self.writes.append(list(indices))


class _Torrent:
    def __init__(self, interval, peers, nursery=None):
        self.settings = Settings(have_interval=interval)
        self.peers = {p.ban_key: p for p in peers}
        self.picker = SimpleNamespace(complete=False)
        self._nursery = nursery
        self.log: list[str] = []
        self.haves = HaveAnnouncer(self)

    def refill_all(self):
        self.log.append("refill")

    def finish(self):
        self.log.append("finish")


def test_by_default_each_piece_goes_out_at_once_to_the_peers_lacking_it_and_refills():
    a, b = _Peer("a"), _Peer("b", has=[3])
    torrent = _Torrent(0.0, [a, b])
    torrent.haves.piece_verified(3, set())
    torrent.haves.piece_verified(4, set())
    assert a.writes == [[3], [4]] and b.writes == [[4]]
    assert torrent.log == ["refill", "refill"]


def test_a_contributor_hears_of_the_piece_it_has_unless_it_is_a_seed():
    leecher, seed = _Peer("l", has=[2]), _Peer("s", has=range(PIECES))
    torrent = _Torrent(0.0, [leecher, seed])
    torrent.haves.piece_verified(2, {"l", "s"})
    assert leecher.writes == [[2]] and seed.writes == []


def test_gathered_pieces_go_out_in_one_write_per_peer_each_interval_with_one_refill():
    async def main():
        a, b = _Peer("a"), _Peer("b", has=[1])
        async with trio.open_nursery() as nursery:
            torrent = _Torrent(0.5, [a, b], nursery)
            for index in (0, 1, 2):
                torrent.haves.piece_verified(index, set())
                await trio.sleep(0.1)
            assert a.writes == [] and torrent.log == []  # nothing before the interval is over
            await trio.sleep(0.25)
            assert a.writes == [[0, 1, 2]] and b.writes == [[0, 2]]
            assert torrent.log == ["refill"]
            torrent.haves.piece_verified(5, set())  # the next batch starts its own interval
            await trio.sleep(0.4)
            assert a.writes == [[0, 1, 2]]
            await trio.sleep(0.2)
            assert a.writes == [[0, 1, 2], [5]] and torrent.log == ["refill", "refill"]

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_the_last_piece_sends_everything_pending_at_once_then_finishes():
    async def main():
        a = _Peer("a")
        async with trio.open_nursery() as nursery:
            torrent = _Torrent(5.0, [a], nursery)
            torrent.haves.piece_verified(6, set())
            torrent.picker.complete = True
            torrent.haves.piece_verified(7, set())
            assert a.writes == [[6, 7]] and torrent.log == ["finish", "refill"]
            await trio.sleep(6)  # the timer of the first batch finds nothing left to send
            assert a.writes == [[6, 7]] and torrent.log == ["finish", "refill"]

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
