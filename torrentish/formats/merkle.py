"""BEP 52 merkle trees: SHA-256 over 16 KiB blocks, binary, padded with zero leaves.

A file's tree has one leaf per 16 KiB block (the last block may be shorter and is hashed as it is),
and as many more leaves of 32 zero bytes as it takes to reach a power of two. Each parent is the
SHA-256 of its two children concatenated. The root is the file's ``pieces root``.

The *piece layer* is the layer in which one hash covers ``piece length`` bytes (``piece length`` is a
power of two of at least 16 KiB, so it is a whole layer). A .torrent stores it only for files larger
than one piece, and only the hashes that cover some of the file: the rest of that layer, needed only
to balance the tree, is the root of a subtree of zero leaves (``pad_hash``).

Proofs (for BEP 52 ``hashes`` messages) are the uncle hashes from a subtree root up to the file root.

Layers are numbered from the leaves: layer 0 holds the leaf hashes, layer ``log2(piece length /
16 KiB)`` the piece hashes. Everything here is pure computation on bytes; ValueError means a caller
passed something inconsistent (untrusted input is checked by whoever parses it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from functools import lru_cache

__all__ = ["BLOCK_SIZE", "HASH_SIZE", "ZERO_HASH", "leaf_hashes", "next_power_of_two", "pad_hash",
           "root_of", "parent_layer", "layers_of", "piece_layer_root", "piece_layer_of", "verify_proof",
           "proof_for", "piece_hash_v2", "blocks_in", "layer_for_piece_length"]

BLOCK_SIZE = 16384
HASH_SIZE = 32
ZERO_HASH = bytes(HASH_SIZE)
MAX_LAYERS = 64  # a tree over 2**50 bytes has 37 layers: anything near 64 is a caller's bug


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def next_power_of_two(n: int) -> int:
    """The smallest power of two >= n (1 for n <= 1)."""
    return 1 if n <= 1 else 1 << (n - 1).bit_length()


def blocks_in(length: int) -> int:
    """16 KiB blocks (leaves with data) in a file of ``length`` bytes."""
    return -(-length // BLOCK_SIZE)


def layer_for_piece_length(piece_length: int) -> int:
    """The layer (0 = leaves) in which one hash covers ``piece_length`` bytes."""
    if piece_length < BLOCK_SIZE or piece_length & (piece_length - 1):
        raise ValueError(f"piece length must be a power of two >= {BLOCK_SIZE}, not {piece_length}")
    return (piece_length // BLOCK_SIZE).bit_length() - 1


@lru_cache(maxsize=MAX_LAYERS)
def pad_hash(layer: int) -> bytes:
    """The root of a subtree of 2**layer zero leaves: what balances a layer beyond the file's end."""
    if not 0 <= layer < MAX_LAYERS:
        raise ValueError(f"layer {layer} out of range")
    digest = ZERO_HASH
    for _ in range(layer):
        digest = _sha256(digest + digest)
    return digest


def leaf_hashes(data: bytes | bytearray | memoryview) -> list[bytes]:
    """SHA-256 of each 16 KiB block of ``data`` (the last one may be short)."""
    view = memoryview(data)
    return [_sha256(view[i : i + BLOCK_SIZE]) for i in range(0, len(view), BLOCK_SIZE)]


def parent_layer(hashes: Sequence[bytes], layer: int = 0) -> list[bytes]:
    """The layer above ``hashes`` (which lie in ``layer``); an odd count is balanced with a pad hash."""
    items = list(hashes)
    if len(items) % 2:
        items.append(pad_hash(layer))
    return [_sha256(items[i] + items[i + 1]) for i in range(0, len(items), 2)]


def layers_of(hashes: Sequence[bytes], width: int, layer: int = 0) -> list[list[bytes]]:
    """Every layer from ``hashes`` (in ``layer``, balanced to ``width`` nodes) up to the root.

    ``width`` must be a power of two >= len(hashes); only the hashes that cover data are stored in
    each layer (the rest are pad hashes), so the result is small for a mostly empty tree.
    """
    if width != next_power_of_two(width) or width < len(hashes):
        raise ValueError(f"width {width} must be a power of two >= {len(hashes)}")
    result = [list(hashes)]
    while width > 1:
        result.append(parent_layer(result[-1], layer))
        layer += 1
        width //= 2
    if not result[-1]:
        result[-1] = [pad_hash(layer)]
    return result


def root_of(hashes: Sequence[bytes], width: int, layer: int = 0) -> bytes:
    """The root of a tree whose ``layer`` holds ``hashes`` balanced to ``width`` nodes."""
    return layers_of(hashes, width, layer)[-1][0]


def piece_hash_v2(data: bytes | bytearray | memoryview, leaves: int) -> bytes:
    """The root over ``data``'s blocks padded to ``leaves`` leaves: the v2 hash of one piece.

    A piece of a file larger than one piece has ``piece length / 16 KiB`` leaves; a file of one
    piece or less is its own tree, with ``next_power_of_two(blocks)`` leaves.
    """
    return root_of(leaf_hashes(data), leaves)


def piece_leaves(file_length: int, piece_length: int) -> int:
    """How many leaves a piece's subtree has in a file of ``file_length`` bytes."""
    return min(piece_length // BLOCK_SIZE, next_power_of_two(blocks_in(file_length)))


def piece_layer_of(file_leaves: Sequence[bytes], piece_length: int) -> list[bytes]:
    """The piece layer of a file from its leaf hashes (only hashes covering data)."""
    per_piece = piece_length // BLOCK_SIZE
    width = min(per_piece, next_power_of_two(len(file_leaves)))  # a small file is a smaller tree
    return [root_of(file_leaves[i : i + per_piece], width) for i in range(0, len(file_leaves), per_piece)]


def piece_layer_root(piece_hashes: Sequence[bytes], piece_length: int, file_length: int) -> bytes:
    """The pieces root implied by a file's piece layer (for checking a .torrent's piece layers)."""
    layer = layer_for_piece_length(piece_length)
    width = next_power_of_two(blocks_in(file_length)) >> layer
    return root_of(piece_hashes, max(1, width), layer)


def file_root(data: bytes | bytearray | memoryview) -> bytes:
    """The pieces root of a whole file held in memory (tests and small files)."""
    leaves = leaf_hashes(data)
    return root_of(leaves, next_power_of_two(len(leaves)))


def proof_for(layers: Sequence[Sequence[bytes]], index: int, count: int, bottom: int = 0) -> list[bytes]:
    """Uncle hashes from the subtree of ``count`` nodes at ``index`` of ``layers[0]`` up to the root.

    ``layers`` is what ``layers_of`` returned (``layers[0]`` lies in layer ``bottom``). ``count``
    must be a power of two and ``index`` a multiple of it, so the nodes form one subtree.
    """
    if count != next_power_of_two(count) or index % count:
        raise ValueError(f"{count} nodes at {index} are not one subtree")
    proof = []
    position = index // count
    level = count.bit_length() - 1  # the row holding the subtree's root
    while level < len(layers) - 1:
        sibling = position ^ 1
        row = layers[level]
        proof.append(row[sibling] if sibling < len(row) else pad_hash(bottom + level))
        position //= 2
        level += 1
    return proof


def subtree_root(hashes: Sequence[bytes], layer: int) -> bytes:
    """The root of a full subtree whose bottom row (in ``layer``) is ``hashes`` (a power of two)."""
    if len(hashes) != next_power_of_two(len(hashes)) or not hashes:
        raise ValueError(f"{len(hashes)} hashes do not make a full subtree")
    return root_of(hashes, len(hashes), layer)


def verify_proof(root: bytes, hashes: Sequence[bytes], layer: int, index: int, proof: Iterable[bytes]) -> bool:
    """Whether ``hashes`` (a full subtree at ``index`` of ``layer``) hang from ``root`` via ``proof``."""
    count = len(hashes)
    if not count or count != next_power_of_two(count) or index % count or index < 0:
        return False
    digest = subtree_root(hashes, layer)
    position = index // count
    for uncle in proof:
        if len(uncle) != HASH_SIZE:
            return False
        digest = _sha256(uncle + digest) if position & 1 else _sha256(digest + uncle)
        position //= 2
    return position == 0 and digest == root
