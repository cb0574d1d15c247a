"""Answers to BEP 52 hash requests from the piece layers we hold (decisions only, no I/O).

We serve what a .torrent gives us: the piece layer of each file larger than a piece, and every
layer above it up to the pieces root (computed once per file, on the first request for it). A
request for the piece layer (or, when pieces are 16 KiB, the leaf layer, which is the same) is
answered with the hashes and the uncle hashes its ``proof_layers`` ask for; anything else (leaf
hashes of larger pieces, unknown roots, ranges past the file's tree) is rejected - BEP 52 lets a
peer reject, and requesters ask the piece layer first.

Proof layers: the hashes form one subtree, so the first ``log2(length) - 1`` proof layers lie
inside it and are not sent (they are counted, as BEP 52 says); then one uncle per layer, lowest
first, never the root itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torrentish.formats import merkle

if TYPE_CHECKING:
    from torrentish.formats.metainfo import Info

__all__ = ["HashTrees"]

MAX_CACHED_TREES = 64  # files whose upper tree we keep; a torrent with more recomputes some


class HashTrees:
    def __init__(self, info: Info) -> None:
        self._piece_length = info.piece_length
        self._layer = merkle.layer_for_piece_length(info.piece_length)
        self._files = {f.pieces_root: f.length for f in info.files
                       if f.pieces_root is not None and f.pieces_root in info.piece_layers}
        self._layers = info.piece_layers
        self._trees: dict[bytes, list[list[bytes]]] = {}

    def _tree(self, root: bytes) -> list[list[bytes]]:
        tree = self._trees.get(root)
        if tree is None:
            layer = self._layers[root]
            hashes = [layer[i : i + merkle.HASH_SIZE] for i in range(0, len(layer), merkle.HASH_SIZE)]
            tree = merkle.layers_of(hashes, self._width(root), self._layer)
            if len(self._trees) >= MAX_CACHED_TREES:
                self._trees.pop(next(iter(self._trees)))
            self._trees[root] = tree
        return tree

    def _width(self, root: bytes) -> int:
        """Nodes in the piece layer of the file's balanced tree."""
        return max(1, merkle.next_power_of_two(merkle.blocks_in(self._files[root])) >> self._layer)

    def answer(self, root: bytes, base_layer: int, index: int, length: int, proof_layers: int) -> list[bytes] | None:
        """The hashes (base hashes, then uncles) for a request, or None to reject it."""
        if root not in self._files or base_layer != self._layer:
            return None
        width = self._width(root)
        if not 1 <= length <= width or index < 0 or index + length > width or length & (length - 1) or index % length:
            return None
        tree = self._tree(root)
        row = tree[0]
        pad = merkle.pad_hash(self._layer)
        hashes = [row[i] if i < len(row) else pad for i in range(index, index + length)]
        proof = merkle.proof_for(tree, index, length, self._layer)
        inside = max(0, length.bit_length() - 2)  # log2(length) - 1 proof layers inside the subtree
        return hashes + proof[: max(0, proof_layers - inside)]
