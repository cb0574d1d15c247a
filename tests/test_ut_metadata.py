"""BEP 9 metadata exchange: the message format, the assembler, serving, and fetching from peers."""

from __future__ import annotations

import random
import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.trackerless import LOCALHOST, MetadataPeer, make_info, raises_leaf, serve_seed
from torrentish.formats import bencoding
from torrentish.engine.client import open_client
from torrentish.services.extensions.metadata_fetch import MetadataUnavailable, fetch_metadata
from torrentish.errors import MetainfoError, ProtocolError
from torrentish.services.extensions import ut_metadata as um

KiB = 1024

# -- message format -----------------------------------------------------------------------------------


def test_bep9_examples():
    assert um.decode_metadata_message(b"d8:msg_typei0e5:piecei0ee") == um.MetadataRequest(0)
    data = um.decode_metadata_message(b"d8:msg_typei1e5:piecei0e10:total_sizei34256eexxxxxxxx")
    assert data == um.MetadataData(0, 34256, b"xxxxxxxx")
    assert um.decode_metadata_message(b"d8:msg_typei2e5:piecei0ee") == um.MetadataReject(0)
    assert um.encode_metadata_message(um.MetadataRequest(0)) == b"d8:msg_typei0e5:piecei0ee"


messages = st.one_of(
    st.builds(um.MetadataRequest, st.integers(0, um.MAX_PIECE_INDEX)),
    st.builds(um.MetadataReject, st.integers(0, um.MAX_PIECE_INDEX)),
    st.builds(um.MetadataData, st.integers(0, um.MAX_PIECE_INDEX),
              st.integers(1, bencoding.TORRENT_LIMITS.max_size), st.binary(max_size=um.METADATA_PIECE_SIZE)),
)


@given(messages)
@settings(max_examples=300)
def test_round_trip(message):
    assert um.decode_metadata_message(um.encode_metadata_message(message)) == message


@given(st.binary(max_size=200))
@settings(max_examples=400)
def test_random_bytes_give_a_message_or_a_protocol_error(payload):
    try:
        result = um.decode_metadata_message(payload)
    except ProtocolError:
        return
    assert isinstance(result, (um.MetadataRequest, um.MetadataData, um.MetadataReject, um.MetadataUnknown))


@given(messages, st.data())
@settings(max_examples=300)
def test_mutated_messages_give_a_message_or_a_protocol_error(message, data):
    payload = bytearray(um.encode_metadata_message(message))
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(payload) - 1))
        payload[position] = data.draw(st.integers(0, 255))
    try:
        um.decode_metadata_message(bytes(payload))
    except ProtocolError:
        pass


@pytest.mark.parametrize(
    "payload, fragment",
    [
        (b"le", "not a dictionary"),
        (b"d5:piecei0ee", "msg_type"),
        (b"d8:msg_type1:05:piecei0ee", "msg_type"),
        (b"d8:msg_typei0e5:piece1:0e", "piece"),
        (b"d8:msg_typei0e5:piecei-1ee", "outside"),
        (b"d8:msg_typei0e5:piecei99999999999ee", "outside"),
        (b"d8:msg_typei1e5:piecei0ee", "total_size"),
        (b"d8:msg_typei1e5:piecei0e10:total_sizei99999999999eexx", "total_size"),
        (b"d8:msg_typei0e5:piecei0eeXX", "stray"),
        (b"d8:msg_typei1e5:piecei0e10:total_sizei5ee" + bytes(16385), "larger than a piece"),
        (b"d8:msg_typei0e5:piecei0e", "invalid bencoding"),
    ],
)
def test_hostile_messages(payload, fragment):
    with pytest.raises(ProtocolError, match=fragment):
        um.decode_metadata_message(payload)


def test_unknown_message_types_are_returned_to_be_ignored():
    assert um.decode_metadata_message(b"d8:msg_typei7e5:piecei0ee") == um.MetadataUnknown(7)


# -- the assembler --------------------------------------------------------------------------------------


def big_info():
    """An info dictionary of three metadata pieces: 2,000 pieces of 1 KiB (40 KB of hashes)."""
    return make_info(2000 * KiB, piece_length=KiB, seed=3)[0]


def test_assembler_refuses_sizes_over_the_limit():
    with pytest.raises(ProtocolError, match="outside"):
        um.MetadataAssembler(bytes(20), um.MAX_METADATA_SIZE + 1)
    with pytest.raises(ProtocolError):
        um.MetadataAssembler(bytes(20), 0)
    um.MetadataAssembler(bytes(20), um.MAX_METADATA_SIZE)  # the limit itself is fine


@given(st.randoms(use_true_random=False))
@settings(max_examples=50, deadline=None)
def test_assembler_accepts_pieces_in_any_order(rng):
    info = big_info()
    assembler = um.MetadataAssembler(info.info_hash, len(info.raw))
    assert assembler.count == 3
    pieces = assembler.next_requests(8)
    assert pieces == [0, 1, 2] and assembler.next_requests(8) == []
    rng.shuffle(pieces)
    for piece in pieces:
        begin = piece * um.METADATA_PIECE_SIZE
        assembler.add(um.MetadataData(piece, len(info.raw), info.raw[begin : begin + um.METADATA_PIECE_SIZE]))
    assert assembler.complete and assembler.info() == info


def test_assembler_pipeline_and_bad_pieces():
    info = big_info()
    size = len(info.raw)
    assembler = um.MetadataAssembler(info.info_hash, size)
    assert assembler.next_requests(2) == [0, 1] and assembler.in_flight == 2
    with pytest.raises(ProtocolError, match="not requested"):
        assembler.add(um.MetadataData(2, size, bytes(size - 2 * um.METADATA_PIECE_SIZE)))
    with pytest.raises(ProtocolError, match="bytes, expected"):
        assembler.add(um.MetadataData(0, size, b"short"))
    with pytest.raises(ProtocolError, match="differs"):
        assembler.add(um.MetadataData(0, size + 1, bytes(um.METADATA_PIECE_SIZE)))
    assembler.add(um.MetadataData(0, size, info.raw[: um.METADATA_PIECE_SIZE]))
    assert assembler.next_requests(2) == [2]


def test_metadata_that_does_not_match_the_hash_is_refused():
    info = big_info()
    forged = bytearray(info.raw)
    forged[-100] ^= 1
    assembler = um.MetadataAssembler(info.info_hash, len(forged))
    for piece in assembler.next_requests(8):
        begin = piece * um.METADATA_PIECE_SIZE
        assembler.add(um.MetadataData(piece, len(forged), bytes(forged[begin : begin + um.METADATA_PIECE_SIZE])))
    with pytest.raises(MetainfoError, match="does not match the info hash"):
        assembler.info()


# -- serving -------------------------------------------------------------------------------------------


class Peer:
    """Stands for a connection: hashable by identity, as PeerConnection is."""


class Recorder:
    def __init__(self, info):
        self.info = info
        self.sent = []

    def send_extended(self, peer, name, payload):
        self.sent.append((peer, name, um.decode_metadata_message(payload)))
        return True


def test_serving_pieces_rejects_and_flood_limit():
    info = big_info()
    torrent = Recorder(info)
    extension = um.UtMetadata(serve_factor=2)
    peer = Peer()
    assert extension.handshake_fields(torrent) == {"metadata_size": len(info.raw)}
    extension.on_message(torrent, peer, um.encode_metadata_message(um.MetadataRequest(2)))
    _, name, reply = torrent.sent[-1]
    assert name == "ut_metadata" and reply.piece == 2 and reply.data == info.raw[2 * um.METADATA_PIECE_SIZE :]
    extension.on_message(torrent, peer, um.encode_metadata_message(um.MetadataRequest(3)))
    assert torrent.sent[-1][2] == um.MetadataReject(3)  # past the end
    for _ in range(6):  # one more than the 2 x 3 allowance leaves after the first
        extension.on_message(torrent, peer, um.encode_metadata_message(um.MetadataRequest(0)))
    served = [r for _, _, r in torrent.sent if isinstance(r, um.MetadataData)]
    assert len(served) == 2 * 3  # serve_factor times the piece count, then rejects
    assert torrent.sent[-1][2] == um.MetadataReject(0)
    extension.on_peer_closed(torrent, peer)  # a new connection starts afresh
    extension.on_message(torrent, peer, um.encode_metadata_message(um.MetadataRequest(0)))
    assert isinstance(torrent.sent[-1][2], um.MetadataData)


def test_private_torrents_do_not_give_out_their_metadata():
    info, _ = make_info(private=True)
    torrent = Recorder(info)
    extension = um.UtMetadata()
    assert extension.handshake_fields(torrent) == {}
    extension.on_message(torrent, Peer(), um.encode_metadata_message(um.MetadataRequest(0)))
    assert torrent.sent[-1][2] == um.MetadataReject(0)


def test_serving_ignores_data_and_unknown_messages_but_not_garbage():
    info, _ = make_info()
    torrent = Recorder(info)
    extension = um.UtMetadata()
    extension.on_message(torrent, Peer(), b"d8:msg_typei9e5:piecei0ee")
    extension.on_message(torrent, Peer(), um.encode_metadata_message(um.MetadataReject(0)))
    assert torrent.sent == []
    with pytest.raises(ProtocolError):
        extension.on_message(torrent, Peer(), b"garbage")


# -- fetching from peers ---------------------------------------------------------------------------------


async def test_fetch_from_a_torrentish_seed():
    info, data = make_info(2000 * KiB, piece_length=KiB, seed=4)  # three metadata pieces
    async with serve_seed(info, data) as (seeder, _):
        async with open_client(host=LOCALHOST) as client:
            fetched = await fetch_metadata(info.info_hash, client=client, peers=[(LOCALHOST, seeder.port)], timeout=10)
    assert fetched.info == info and fetched.source == (LOCALHOST, seeder.port)


async def test_liars_are_passed_over_for_honest_peers():
    info = big_info()
    async with trio.open_nursery() as nursery:
        liar = await nursery.start(MetadataPeer(info.info_hash, info.raw, "liar").run)
        honest = await nursery.start(MetadataPeer(info.info_hash, info.raw, "honest").run)
        async with open_client(host=LOCALHOST) as client:
            fetched = await fetch_metadata(info.info_hash, client=client, timeout=10, concurrency=1,
                                           peers=[(LOCALHOST, liar.port), (LOCALHOST, honest.port)])
        nursery.cancel_scope.cancel()
    assert fetched.info == info and fetched.source == (LOCALHOST, honest.port)
    assert liar.connections == 1  # a liar is never asked again


@pytest.mark.parametrize(
    "behaviour, reason",
    [
        ("liar", "bad metadata"),
        ("silent", "timed out"),
        ("chatty", "timed out"),  # keep-alives are not progress
        ("reject", "rejected"),
        ("huge", "refused"),
        ("plain", "extension protocol"),
    ],
)
async def test_peers_that_cannot_help_end_in_a_clear_error(behaviour, reason):
    info, _ = make_info()
    async with trio.open_nursery() as nursery:
        peer = await nursery.start(MetadataPeer(info.info_hash, info.raw, behaviour).run)
        async with open_client(host=LOCALHOST) as client:
            with raises_leaf(MetadataUnavailable, match=reason):
                await fetch_metadata(info.info_hash, client=client, peers=[(LOCALHOST, peer.port)],
                                     request_timeout=0.3, max_attempts=1, timeout=10)
        nursery.cancel_scope.cancel()


async def test_nothing_to_ask_is_an_error_at_once():
    async with open_client(host=LOCALHOST) as client:
        with raises_leaf(MetadataUnavailable, match="no peers to ask"):
            await fetch_metadata(bytes(20), client=client)


async def test_a_source_that_finds_nothing_ends_with_the_timeout(autojump_clock):
    async def silent_source(info_hash, found):
        await trio.sleep_forever()

    async with open_client(host=LOCALHOST) as client:
        with raises_leaf(MetadataUnavailable, match="within 30 s"):
            await fetch_metadata(bytes(20), client=client, peer_sources=[silent_source], timeout=30)


async def test_peers_from_a_source_are_used():
    info, data = make_info(seed=5)
    async with serve_seed(info, data) as (seeder, _):

        async def source(info_hash, found):
            assert info_hash == info.info_hash
            await trio.sleep(0.05)
            found([(LOCALHOST, seeder.port)])
            await trio.sleep_forever()

        async with open_client(host=LOCALHOST) as client:
            fetched = await fetch_metadata(info.info_hash, client=client, peer_sources=[source], timeout=10)
    assert fetched.info == info


def test_rng_is_unused_by_the_format():
    # The format is deterministic: the same message always encodes to the same bytes.
    message = um.MetadataData(1, 40000, random.Random(0).randbytes(100))
    assert um.encode_metadata_message(message) == um.encode_metadata_message(message)
