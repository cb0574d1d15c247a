"""BEP 52 merkle trees: against a naive full tree, proofs both ways, piece layers."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from torrentish.formats import merkle
from torrentish.formats.merkle import BLOCK_SIZE, ZERO_HASH


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def naive_root(data: bytes) -> bytes:
    """Every leaf written out, zero leaves up to a power of two, pairs hashed to the top."""
    leaves = [sha256(data[i : i + BLOCK_SIZE]) for i in range(0, len(data), BLOCK_SIZE)]
    width = 1
    while width < len(leaves):
        width *= 2
    layer = leaves + [ZERO_HASH] * (width - len(leaves))
    while len(layer) > 1:
        layer = [sha256(layer[i] + layer[i + 1]) for i in range(0, len(layer), 2)]
    return layer[0]


# Sizes around block boundaries, kept small: leaves are hashed once per 16 KiB anyway.
file_lengths = st.integers(1, 9 * BLOCK_SIZE + 1) | st.sampled_from([1, BLOCK_SIZE, BLOCK_SIZE + 1, 4 * BLOCK_SIZE])
piece_lengths = st.sampled_from([BLOCK_SIZE, 2 * BLOCK_SIZE, 4 * BLOCK_SIZE, 16 * BLOCK_SIZE])


def data_of(length: int, seed: int) -> bytes:
    """length bytes in which no two blocks are alike (a stretched SHA-256 stream)."""
    block = b"".join(sha256(b"%d %d" % (seed, i)) for i in range(BLOCK_SIZE // 32 + 1))
    return b"".join(sha256(b"%d" % i) + block for i in range(length // BLOCK_SIZE + 1))[:length]


def test_known_values():
    assert merkle.pad_hash(0) == ZERO_HASH
    assert merkle.pad_hash(1) == sha256(ZERO_HASH * 2)
    assert merkle.file_root(b"x") == sha256(b"x")  # one block is its own root
    assert merkle.next_power_of_two(0) == 1 and merkle.next_power_of_two(5) == 8
    assert merkle.layer_for_piece_length(BLOCK_SIZE) == 0 and merkle.layer_for_piece_length(1 << 20) == 6
    with pytest.raises(ValueError):
        merkle.layer_for_piece_length(8192)


@settings(max_examples=60)
@given(file_lengths, st.integers(0, 65535))
def test_root_matches_the_naive_tree(length, seed):
    data = data_of(length, seed)
    assert merkle.file_root(data) == naive_root(data)


@settings(max_examples=60)
@given(file_lengths, piece_lengths, st.integers(0, 65535))
def test_the_piece_layer_leads_to_the_root(length, piece_length, seed):
    data = data_of(length, seed)
    layer = merkle.piece_layer_of(merkle.leaf_hashes(data), piece_length)
    assert len(layer) == -(-length // piece_length)
    assert merkle.piece_layer_root(layer, piece_length, length) == naive_root(data)
    # each piece's v2 hash is its entry in the piece layer (or the root for a one-piece file)
    leaves = merkle.piece_leaves(length, piece_length)
    for i, expected in enumerate(layer):
        piece = data[i * piece_length : (i + 1) * piece_length]
        assert merkle.piece_hash_v2(piece, leaves) == expected
    if len(layer) > 1:
        broken = [bytes(32)] + layer[1:]
        assert merkle.piece_layer_root(broken, piece_length, length) != naive_root(data)


@settings(max_examples=80)
@given(file_lengths, st.integers(0, 3), st.data())
def test_proofs_verify_and_tampering_is_caught(length, log_count, draw):
    data = data_of(length, 7)
    leaves = merkle.leaf_hashes(data)
    width = merkle.next_power_of_two(len(leaves))
    layers = merkle.layers_of(leaves, width)
    count = min(1 << log_count, width)
    index = draw.draw(st.integers(0, width // count - 1)) * count
    row = layers[0] + [ZERO_HASH] * (width - len(leaves))
    hashes = row[index : index + count]
    proof = merkle.proof_for(layers, index, count)
    root = layers[-1][0]
    assert merkle.verify_proof(root, hashes, 0, index, proof)
    if proof:
        which = draw.draw(st.integers(0, len(proof) - 1))
        bad = list(proof)
        bad[which] = sha256(bad[which])
        assert not merkle.verify_proof(root, hashes, 0, index, bad)
    wrong = [sha256(hashes[0])] + hashes[1:]
    assert not merkle.verify_proof(root, wrong, 0, index, proof)
    if width > count and row[index ^ count : (index ^ count) + count] != hashes:  # zero leaves look alike
        assert not merkle.verify_proof(root, hashes, 0, index ^ count, proof)


@settings(max_examples=200)
@given(st.lists(st.binary(min_size=0, max_size=40), max_size=9), st.integers(-3, 40), st.integers(-1, 40),
       st.lists(st.binary(max_size=40), max_size=8))
def test_verify_proof_never_raises_on_junk(hashes, layer, index, proof):
    assert merkle.verify_proof(ZERO_HASH, hashes, max(layer, 0), index, proof) in (True, False)
