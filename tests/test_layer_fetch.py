"""Fetching a v2 torrent's piece layers with hash requests (core/layer_fetch.py), against our own
answers (core/hash_trees.py), and through a real metadata fetch where one seed lies."""

from __future__ import annotations

import hashlib

import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.fake_peer import make_sample
from tests.support.trackerless import LOCALHOST, add_seed
from torrentish.core.hash_trees import HashTrees
from torrentish.core.layer_fetch import LayerFetch
from torrentish.engine.client import open_client
from torrentish.formats.metainfo import parse_info
from torrentish.services.extensions.metadata_fetch import fetch_metadata


def exchange(server: HashTrees, fetch: LayerFetch, tamper=None) -> list[bool]:
    outcomes = []
    for request in fetch.requests():
        hashes = server.answer(*request)
        assert hashes is not None, request
        if tamper is not None:
            hashes = tamper(list(hashes))
        outcomes.append(fetch.receive(*request, tuple(hashes)))
    return outcomes


@settings(max_examples=20, deadline=None)
@given(pieces=st.integers(2, 40) | st.sampled_from([511, 513, 1030]), shift=st.integers(0, 2))
def test_honest_answers_rebuild_the_layers_and_any_flipped_hash_is_refused(tmp_path_factory, pieces, shift):
    piece_length = 16384 << (shift if pieces < 100 else 0)  # the large layers at 16 KiB: small files
    sample = make_sample(tmp_path_factory.mktemp("s"), size=pieces * piece_length - 7, version="v2",
                         piece_length=piece_length)
    server, bare = HashTrees(sample.info), parse_info(sample.info.raw)
    fetch = LayerFetch(bare)
    assert not fetch.complete and all(exchange(server, fetch)) and fetch.complete
    assert fetch.layers() == sample.info.piece_layers
    for where in (0, -1):  # a base hash, or the top uncle
        liar = LayerFetch(bare)

        def flip(hashes, where=where):
            hashes[where] = hashlib.sha256(hashes[where]).digest()
            return hashes

        assert not any(exchange(server, liar, flip)) and not liar.complete


def test_unasked_and_malformed_answers_are_refused(tmp_path):
    sample = make_sample(tmp_path, size=40 * 32768, version="v2")
    fetch = LayerFetch(parse_info(sample.info.raw))
    [request] = fetch.requests()
    root, layer, index, length, proof = request
    assert (index, length) == (0, 64)  # 40 pieces in a 64-wide balanced piece layer
    assert fetch.requests() == []  # asked once
    assert not fetch.receive(root, layer, 64, length, proof, (bytes(32),) * 64)  # not asked
    hashes = HashTrees(sample.info).answer(*request)
    assert not fetch.receive(*request, tuple(hashes[:-1]))
    fetch.rejected(*request)
    assert fetch.requests() == [request]  # asked again after a reject


async def test_a_seed_lying_about_the_piece_layers_is_dropped_and_an_honest_one_used(tmp_path):
    sample = make_sample(tmp_path, size=40 * 32768 + 5, version="v2")
    async with open_client(host=LOCALHOST) as liar, open_client(host=LOCALHOST) as honest, \
            open_client(host=LOCALHOST) as us:
        lying = await add_seed(liar, sample.info, sample.data)
        await add_seed(honest, sample.info, sample.data)
        trees = lying.hash_service._trees
        real = trees.answer
        trees.answer = lambda *a: [bytes(32)] + list(real(*a))[1:]  # one wrong hash in every answer
        with trio.fail_after(20):
            fetched = await fetch_metadata(sample.info.info_hash, client=us, concurrency=1,
                                           peers=[(LOCALHOST, liar.port), (LOCALHOST, honest.port)])
    assert fetched.source == (LOCALHOST, honest.port)
    assert fetched.info.piece_layers == sample.info.piece_layers


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_request_is_answered_with_a_valid_proof_or_rejected(tmp_path_factory, data):
    from torrentish.formats import merkle

    sample = SAMPLES.get("s") or SAMPLES.setdefault("s", make_sample(tmp_path_factory.mktemp("h"), size=37 * 32768 + 1,
                                                                      version="v2"))
    root = sample.info.files[0].pieces_root
    trees = HashTrees(sample.info)
    request = (data.draw(st.sampled_from([root, bytes(32)])), data.draw(st.integers(0, 3)),
               data.draw(st.integers(0, 70)), data.draw(st.sampled_from([0, 1, 2, 3, 4, 8, 16, 32, 64, 128])),
               data.draw(st.integers(0, 8)))
    answer = trees.answer(*request)
    if answer is None:
        return
    _, layer, index, length, proof_layers = request
    assert layer == 1 and len(answer) >= length  # the piece layer of 32 KiB pieces
    uncles = answer[length:]
    inside = max(0, length.bit_length() - 2)  # BEP 52: log2(length) - 1 proof layers are not sent
    assert len(uncles) == min(7 - length.bit_length(), max(0, proof_layers - inside))
    if len(uncles) == 7 - length.bit_length():  # all of them: log2(64) - log2(length) in a 64-wide layer
        assert merkle.verify_proof(root, answer[:length], layer, index, uncles)


SAMPLES: dict = {}
