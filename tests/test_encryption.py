"""MSE in the engine over TCP on 127.0.0.1: every pair of policies, the plaintext retry, the
incoming detection, the magnet fetcher, and hostile peers that must be hung up on cleanly."""

from __future__ import annotations

import random
from functools import partial

import pytest
import trio
from trio.testing import memory_stream_pair

from tests.support import mse as forge
from tests.support.fake_peer import (
    LOCALHOST,
    WAIT,
    EventLog,
    make_sample,
    open_fake_listener,
    open_fake_peer,
    seeder,
    storage_bytes,
)
from tests.support.sim_peers import seed_storage, sim_lab, virtual_clock
from tests.support.trackerless import add_seed, make_info
from torrentish import events as ev
from torrentish.engine.client import open_client
from torrentish.services.extensions.metadata_fetch import fetch_metadata
from torrentish.engine.settings import Settings
from torrentish.errors import TorrentishError
from torrentish.net.encrypted import EncryptedStream
from torrentish.wire import mse
from torrentish.wire.rc4 import rc4


@pytest.fixture
def sample(tmp_path):
    return make_sample(tmp_path)


@pytest.fixture
def virtual():
    """Virtual time on the simulated network (tests/support/sim_peers.py)."""
    return virtual_clock()


def policy(name: str) -> Settings:
    return Settings(encryption=name)


async def _download(sample, dialer: str, listener: str, *, meet: bool = True):
    """A leecher with policy `dialer` dials a seed with policy `listener` and downloads (`meet`)
    or fails to connect. Returns both sides' logs."""
    async with open_client(host=LOCALHOST, settings=policy(listener), key_rng=random.Random(1)) as seed, \
            open_client(host=LOCALHOST, settings=policy(dialer), key_rng=random.Random(2)) as leecher:
        seed_log, leech_log = EventLog(seed), EventLog(leecher)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(seed_log.collect)
            nursery.start_soon(leech_log.collect)
            await seed.add_torrent(sample.info, sample.seed_storage(), upload_only=True)
            storage = sample.empty_storage()
            torrent = await leecher.add_torrent(sample.info, storage, peers=[(LOCALHOST, seed.port)])
            if meet:
                with trio.fail_after(WAIT):
                    await torrent.completed.wait()
                assert await storage_bytes(storage, sample.info) == sample.data
            else:
                await leech_log.wait_for(ev.ConnectFailed)
            nursery.cancel_scope.cancel()
    return leech_log, seed_log


@pytest.mark.parametrize(
    ("dialer", "listener", "expected"),
    [
        ("prefer", "prefer", "rc4"),
        ("prefer", "require", "rc4"),
        ("prefer", "off", "mse-plaintext"),
        ("require", "prefer", "rc4"),
        ("require", "require", "rc4"),
        ("off", "prefer", "none"),
        ("off", "off", "none"),
    ],
)
async def test_policies_that_meet_transfer(sample, dialer, listener, expected):
    leech_log, seed_log = await _download(sample, dialer, listener)
    [out], [into] = leech_log.of(ev.PeerConnected), seed_log.of(ev.PeerConnected)
    assert (out.outgoing, out.encryption) == (True, expected)
    assert (into.outgoing, into.encryption) == (False, expected)


@pytest.mark.parametrize(("dialer", "listener"), [("require", "off"), ("off", "require")])
async def test_policies_that_do_not_meet_never_connect(sample, dialer, listener):
    leech_log, seed_log = await _download(sample, dialer, listener, meet=False)
    assert not leech_log.of(ev.PeerConnected) and not seed_log.of(ev.PeerConnected)


async def test_nothing_readable_crosses_the_wire_under_rc4(tmp_path):
    """A relay between the two records every byte: neither the protocol string, nor the peer
    ids, nor any 64-byte run of the payload shows."""
    sample = make_sample(tmp_path, size=300_000)
    seen = bytearray()

    async def pipe(source, sink):
        async for chunk in source:
            seen.extend(chunk)
            await sink.send_all(chunk)

    async with open_client(host=LOCALHOST, settings=policy("require")) as seed, \
            open_client(host=LOCALHOST) as leecher, trio.open_nursery() as nursery:

        async def relay(inbound):
            outbound = await trio.open_tcp_stream(LOCALHOST, seed.port)
            async with outbound, inbound, trio.open_nursery() as pipes:
                pipes.start_soon(pipe, inbound, outbound)
                await pipe(outbound, inbound)
                pipes.cancel_scope.cancel()

        [listener] = await nursery.start(partial(trio.serve_tcp, relay, 0, host=LOCALHOST))
        await seed.add_torrent(sample.info, sample.seed_storage(), upload_only=True)
        storage = sample.empty_storage()
        torrent = await leecher.add_torrent(sample.info, storage,
                                            peers=[(LOCALHOST, listener.socket.getsockname()[1])])
        with trio.fail_after(WAIT):
            await torrent.completed.wait()
        nursery.cancel_scope.cancel()
    assert await storage_bytes(storage, sample.info) == sample.data
    assert len(seen) > len(sample.data)
    for secret in (b"BitTorrent protocol", seed.peer_id, leecher.peer_id, sample.info_hash):
        assert secret not in seen
    assert not any(sample.data[i : i + 64] in seen for i in range(0, len(sample.data), 4096))


async def test_prefer_falls_back_to_plaintext_and_remembers(sample):
    """A peer without MSE hangs up on our key: we dial again in plaintext, and next time at once."""
    async with open_fake_listener(sample, responder=seeder(sample)) as plain_only:
        async with open_client(host=LOCALHOST) as client:
            log = EventLog(client)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(log.collect)
                storage = sample.empty_storage()
                address = (LOCALHOST, plain_only.port)
                torrent = await client.add_torrent(sample.info, storage, peers=[address])
                with trio.fail_after(WAIT):
                    await torrent.completed.wait()
                nursery.cancel_scope.cancel()
            assert torrent.connector.known[address].refuses_encryption
    assert plain_only.refused_encrypted == 1 and len(plain_only.peers) == 1
    assert [e.encryption for e in log.of(ev.PeerConnected)] == ["none"]
    assert not log.of(ev.ConnectFailed)


async def test_require_never_falls_back(sample):
    async with open_fake_listener(sample, responder=seeder(sample)) as plain_only:
        async with open_client(host=LOCALHOST, settings=policy("require")) as client:
            log = EventLog(client)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(log.collect)
                await client.add_torrent(sample.info, sample.empty_storage(), peers=[(LOCALHOST, plain_only.port)])
                failed = await log.wait_for(ev.ConnectFailed)
                nursery.cancel_scope.cancel()
    assert "encryption handshake" in failed.reason
    assert plain_only.refused_encrypted >= 1 and plain_only.peers == []


async def test_require_refuses_a_plaintext_handshake(sample):
    async with open_client(host=LOCALHOST, settings=policy("require")) as client:
        await client.add_torrent(sample.info, sample.seed_storage(), upload_only=True)
        async with open_fake_peer(client.port, sample, handshake=False) as peer:
            await peer.send_handshake()
            await peer.wait_closed()
            assert peer.handshake is None


async def test_a_plaintext_handshake_is_still_welcome_by_default(sample):
    async with open_client(host=LOCALHOST) as client:
        await client.add_torrent(sample.info, sample.seed_storage(), upload_only=True)
        async with open_fake_peer(client.port, sample) as peer:
            assert peer.handshake.info_hash == sample.info_hash


async def test_the_magnet_fetcher_dials_with_the_policy():
    info, data = make_info(300 * 1024, piece_length=16 * 1024, seed=3)
    async with open_client(host=LOCALHOST, settings=policy("require")) as seed:
        await add_seed(seed, info, data)
        async with open_client(host=LOCALHOST, settings=policy("require")) as client:
            fetched = await fetch_metadata(info.info_hash, client=client, peers=[(LOCALHOST, seed.port)],
                                           timeout=WAIT)
    assert fetched.info == info


def test_an_unknown_policy_is_a_one_line_error():
    with pytest.raises(TorrentishError, match="encryption must be one of prefer, require, off"):
        trio.run(_open_with, "sometimes")


async def _open_with(name: str) -> None:
    async with open_client(host=LOCALHOST, settings=policy(name)):
        pass


# ------------------------------------------------------------------------------ hostile peers

async def _raw_mse_peer(port: int, private_key: int = 7 << 150, dial=partial(trio.open_tcp_stream, LOCALHOST)):
    """Dial (127.0.0.1, or with `dial` another network), send our MSE key and read the
    client's: (stream, S)."""
    stream = await dial(port)
    await stream.send_all(forge.public_key(private_key))
    received = b""
    while len(received) < mse.KEY_SIZE:
        data = await stream.receive_some(4096)
        assert data, "closed before sending its key"
        received += data
    return stream, forge.shared_secret(private_key, received[: mse.KEY_SIZE])


async def _closed_by_client(stream: trio.abc.Stream, timeout: float = WAIT) -> None:
    """Read until the client hangs up (fail if it does not within `timeout`)."""
    with trio.fail_after(timeout):
        try:
            while await stream.receive_some(65536):
                pass
        except trio.BrokenResourceError:
            pass  # a reset is a hang-up too
    await stream.aclose()


@pytest.mark.parametrize(
    "hostile",
    [
        pytest.param(lambda s, ih: random.Random(9).randbytes(700), id="garbage-after-the-key"),
        pytest.param(lambda s, ih: bytes(mse.MAX_PAD + 1) + forge.forged_third(s, ih, b""), id="pad-a-too-long"),
        pytest.param(lambda s, ih: forge.forged_third(s, ih, b"", pad_c=600), id="pad-c-too-long"),
        pytest.param(lambda s, ih: forge.forged_third(s, ih, b"", vc=b"\xff" * 8), id="wrong-vc"),
        pytest.param(lambda s, ih: forge.forged_third(s, bytes(20), b""), id="unknown-torrent"),
        pytest.param(lambda s, ih: forge.forged_third(s, ih, b"\x13BitTorrent protocol" + bytes(48)),
                     id="ia-names-another-torrent"),
    ],
)
async def test_hostile_mse_input_closes_the_connection(sample, hostile):
    async with open_client(host=LOCALHOST) as client:
        await client.add_torrent(sample.info, sample.seed_storage(), upload_only=True)
        stream, secret = await _raw_mse_peer(client.port)
        await stream.send_all(hostile(secret, sample.info_hash))
        await _closed_by_client(stream)
        assert client.connection_count() == 0


async def test_a_peer_silent_after_its_key_is_dropped_at_the_handshake_timeout(sample, virtual):
    async with sim_lab() as lab, lab.client("10.0.0.1", settings=Settings(handshake_timeout=5.0)) as client:
        await client.add_torrent(sample.info, await seed_storage(sample), upload_only=True)
        silent = lab.network.add_node("10.9.0.1")
        start = trio.current_time()
        stream, _ = await _raw_mse_peer(client.port, dial=partial(silent.connect, "10.0.0.1"))
        await _closed_by_client(stream, timeout=60)
        assert 5.0 <= trio.current_time() - start < 5.1  # counted from the connection, in virtual time


# ---------------------------------------------------------------------------- the stream itself

async def test_the_encrypted_stream_round_trips_and_reads_into_buffers():
    left, right = memory_stream_pair()
    a = EncryptedStream(left, rc4(b"1" * 16), rc4(b"2" * 16))
    b = EncryptedStream(right, rc4(b"2" * 16), rc4(b"1" * 16))
    await a.send_all(b"hello " * 1000)
    received = b""
    while len(received) < 6000:
        received += await b.receive_some(1000)
    assert received == b"hello " * 1000
    await b.send_all(b"world")
    buffer = bytearray(64)
    n = await a.receive_into(memoryview(buffer))
    assert bytes(buffer[:n]) == b"world"
    await a.aclose()
    assert await b.receive_some(10) == b""


async def test_batches_and_reads_larger_than_a_chunk_go_through_whole():
    from torrentish.net.encrypted import CHUNK

    left, right = memory_stream_pair()
    a = EncryptedStream(left, rc4(b"1" * 16), rc4(b"2" * 16))
    b = EncryptedStream(right, rc4(b"2" * 16), rc4(b"1" * 16))
    payload = random.Random(3).randbytes(3 * CHUNK + 1234)
    buffers = [payload[:13], memoryview(payload)[13 : CHUNK + 7], bytearray(payload[CHUNK + 7 :])]
    received = bytearray()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(a.send_buffers, buffers)
        buffer = bytearray(4 * CHUNK)
        while len(received) < len(payload):
            n = await b.receive_into(memoryview(buffer))
            assert 0 < n <= CHUNK
            received += buffer[:n]
    assert received == payload
