"""PieceGeometry against a byte-by-byte model of the stream."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from torrentish.formats.geometry import BLOCK_SIZE, PieceGeometry


def owner_of_each_byte(file_lengths):
    """The brute-force model: for every byte of the stream, (file index, offset in that file)."""
    return [(index, i) for index, length in enumerate(file_lengths) for i in range(length)]


def test_single_file_last_piece_short():
    g = PieceGeometry(32768, [100_000])
    assert (g.total_length, g.num_pieces) == (100_000, 4)
    assert [g.piece_size(i) for i in range(4)] == [32768, 32768, 32768, 100_000 - 3 * 32768]
    assert g.piece_offset(3) == 3 * 32768
    assert g.blocks(3) == [(0, 1696)]
    assert g.blocks(0) == [(0, BLOCK_SIZE), (BLOCK_SIZE, BLOCK_SIZE)]
    assert g.num_blocks(0) == 2 and g.num_blocks(3) == 1
    assert g.block_length(0, BLOCK_SIZE) == BLOCK_SIZE
    assert g.block_length(3, 0) == 1696


def test_piece_not_multiple_of_block_size():
    g = PieceGeometry(20000, [50_000])
    assert g.blocks(0) == [(0, 16384), (16384, 3616)]
    assert g.blocks(2) == [(0, 10000)]


def test_pieces_span_files_and_skip_zero_length_files():
    g = PieceGeometry(10, [0, 7, 0, 0, 8, 5, 0])
    assert g.file_offsets == (0, 0, 7, 7, 7, 15, 20)
    assert (g.total_length, g.num_pieces) == (20, 2)
    assert list(g.file_spans(0, 10)) == [(1, 0, 7), (4, 0, 3)]
    assert list(g.file_spans(10, 10)) == [(4, 3, 5), (5, 0, 5)]
    assert list(g.file_spans(7, 0)) == []
    assert g.files_of_piece(0) == range(1, 5)
    assert g.files_of_piece(1) == range(4, 6)
    assert g.pieces_of_file(0) == range(0) and g.pieces_of_file(3) == range(0)
    assert g.pieces_of_file(4) == range(0, 2)
    assert g.pieces_of_file(5) == range(1, 2)


def test_exact_multiple_has_no_short_piece():
    g = PieceGeometry(16384, [16384, 16384])
    assert g.num_pieces == 2 and g.piece_size(1) == 16384
    assert g.files_of_piece(1) == range(1, 2)


def test_empty_stream():
    g = PieceGeometry(16384, [0, 0])
    assert (g.total_length, g.num_pieces) == (0, 0)
    assert list(g.file_spans(0, 0)) == []
    assert PieceGeometry(16384, []).file_offsets == ()


@pytest.mark.parametrize(
    "piece_length, files", [(0, [1]), (-1, [1]), (1.5, [1]), (True, [1]), (16, [-1]), (16, [2.0])]
)
def test_constructor_rejects_misuse(piece_length, files):
    with pytest.raises(ValueError):
        PieceGeometry(piece_length, files)


def test_out_of_range_arguments():
    g = PieceGeometry(16384, [40000])
    with pytest.raises(IndexError):
        g.piece_size(3)
    with pytest.raises(IndexError):
        g.piece_offset(-1)
    with pytest.raises(IndexError):
        g.pieces_of_file(1)
    with pytest.raises(ValueError):
        g.block_length(0, 100)  # not a block start
    with pytest.raises(ValueError):
        g.block_length(2, BLOCK_SIZE)  # past the end of the short last piece
    with pytest.raises(ValueError):
        list(g.file_spans(39999, 2))
    with pytest.raises(ValueError):
        list(g.file_spans(-1, 1))


layouts = st.tuples(
    st.integers(1, 40),
    st.lists(st.one_of(st.just(0), st.integers(0, 90)), min_size=1, max_size=8),
)


@settings(max_examples=300, deadline=None)
@given(layouts, st.data())
def test_against_byte_model(layout, data):
    piece_length, file_lengths = layout
    g = PieceGeometry(piece_length, file_lengths)
    owners = owner_of_each_byte(file_lengths)
    assert g.total_length == len(owners)
    assert g.num_pieces == (len(owners) + piece_length - 1) // piece_length
    assert sum(g.piece_size(i) for i in range(g.num_pieces)) == g.total_length

    # file_spans reproduces the model for an arbitrary span
    if owners:
        offset = data.draw(st.integers(0, len(owners)))
        length = data.draw(st.integers(0, len(owners) - offset))
    else:
        offset = length = 0
    expanded = [
        (index, start + k)
        for index, start, span in g.file_spans(offset, length)
        for k in range(span)
    ]
    assert expanded == owners[offset : offset + length]
    assert all(span > 0 for _, _, span in g.file_spans(offset, length))

    for piece in range(g.num_pieces):
        start = g.piece_offset(piece)
        piece_owners = {owners[b][0] for b in range(start, start + g.piece_size(piece))}
        files = g.files_of_piece(piece)
        assert piece_owners <= set(files)
        assert min(piece_owners) == files.start and max(piece_owners) == files.stop - 1
        assert [length for _, length in g.blocks(piece)] == [
            g.block_length(piece, begin) for begin, _ in g.blocks(piece)
        ]
        assert sum(length for _, length in g.blocks(piece)) == g.piece_size(piece)

    for index in range(len(file_lengths)):
        pieces = {b // piece_length for b, (f, _) in enumerate(owners) if f == index}
        assert set(g.pieces_of_file(index)) == pieces
