"""The engine with v2 torrents (BEP 52): merkle-checked pieces, liars banned, hash requests served."""

from __future__ import annotations

import pytest
import trio

from tests.support.fake_peer import LOCALHOST, make_sample, mock_clock, open_fake_peer, seeder
from tests.support.sim_peers import sim_lab
from tests.test_engine_faults import swarm
from torrentish import events as ev
from torrentish.engine.client import open_client
from torrentish.engine.settings import Settings
from torrentish.formats import merkle
from torrentish.formats.metainfo import parse_info
from torrentish.wire import codec as wire
from torrentish.wire import messages as msg


@pytest.fixture
def virtual():
    """Virtual time on the simulated network (tests/support/sim_peers.py), jumping only after
    10 ms of real idleness: v2 pieces are checked against their merkle tree in a worker thread
    (formats/piece_hashes.py), and a clock that jumps at once would race ahead of the hashing."""
    return mock_clock()


@pytest.mark.parametrize("version", ["v2", "hybrid"])
async def test_a_v2_torrent_downloads_between_two_clients(tmp_path, version):
    sample = make_sample(tmp_path, version=version)
    assert sample.info.kind == version
    async with swarm(sample) as s:
        await s.finish()
        assert s.log.of(ev.PieceVerified) and not s.log.of(ev.PieceFailed)


async def test_corrupt_v2_pieces_fail_the_merkle_check_and_ban_the_sender(tmp_path, virtual):
    sample = make_sample(tmp_path, version="v2")
    settings = Settings(ban_after_failures=2, reconnect_backoff=(1.0, 5.0))
    corrupt = seeder(sample, corrupt=lambda index: True)
    async with sim_lab() as lab, lab.fake_listener(sample, responder=corrupt) as liar:
        async with swarm(sample, settings, extra_peers=[(liar.host, liar.port)], lab=lab) as s:
            banned = await s.log.wait_for(ev.PeerBanned)
            assert banned.address == (liar.host, liar.port)
            assert all((liar.host, liar.port) in f.peers for f in s.log.of(ev.PieceFailed)[:2])
            await s.finish(timeout=600)  # every piece from the honest seed, each checked


async def test_a_v2_torrent_without_piece_layers_is_refused(tmp_path):
    sample = make_sample(tmp_path, version="v2")
    bare = parse_info(sample.info.raw)  # as from a magnet link: no piece layers
    async with open_client(host=LOCALHOST) as client:
        with pytest.raises(Exception, match="needs its piece layers"):
            await client.add_torrent(bare, sample.empty_storage())


async def test_hash_requests_are_answered_with_proofs_or_rejected(tmp_path):
    sample = make_sample(tmp_path, version="v2", size=20 * 32768 + 5)  # 21 pieces of 32 KiB
    [entry] = sample.info.files
    root, layer = entry.pieces_root, merkle.layer_for_piece_length(sample.info.piece_length)
    async with open_client(host=LOCALHOST) as seed:
        await seed.add_torrent(sample.info, sample.seed_storage(), upload_only=True)
        async with open_fake_peer(seed.port, sample) as peer:
            await peer.send(msg.HashRequest(root, layer, 8, 8, 10), msg.HashRequest(root, 0, 0, 2, 0),
                            msg.HashRequest(bytes(32), layer, 0, 2, 0), msg.HashRequest(root, layer, 0, 64, 0))
            answer = await peer.wait_for(msg.Hashes)
            rejects = [await peer.wait_for(msg.HashReject, lambda m, n=n: m.index == 0 and m.length == n)
                       for n in (2, 64)]
    hashes, uncles = answer.hashes[:8], answer.hashes[8:]
    assert hashes == tuple(sample.info.piece_layers[root][i * 32 : (i + 1) * 32] for i in range(8, 16))
    assert len(uncles) == 2  # a 32-wide piece layer: 8 hashes need the uncles at 8 and 16 wide
    assert merkle.verify_proof(root, list(hashes), layer, 8, uncles)
    assert len(rejects) == 2


async def test_the_padded_tail_of_the_last_piece_is_served_as_zeros(tmp_path):
    # qBittorrent 4.5 (libtorrent 2.0.8) asks a v2 torrent's last piece as a whole piece length.
    sample = make_sample(tmp_path, version="v2", size=3 * 32768 + 4321)
    last, data = sample.info.num_pieces - 1, sample.data
    async with open_client(host=LOCALHOST) as seed:
        await seed.add_torrent(sample.info, sample.seed_storage(), upload_only=True)
        async with open_fake_peer(seed.port, sample) as peer:
            await peer.send(msg.Interested())
            await peer.wait_for(msg.Unchoke)
            await peer.send(msg.Request(last, 0, 16384), msg.Request(last, 16384, 16384))
            first = await peer.wait_for(msg.Piece, lambda m: m.index == last and m.begin == 0)
            second = await peer.wait_for(msg.Piece, lambda m: m.index == last and m.begin == 16384)
    assert bytes(first.block) == data[3 * 32768:] + bytes(16384 - 4321)
    assert bytes(second.block) == bytes(16384)
