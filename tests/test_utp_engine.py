"""The engine over uTP: on the simulated network with packet loss, and the transport policy."""

import pytest
import trio

from tests.support.fake_peer import make_sample, storage_bytes
from tests.support.sim_peers import empty_storage, seed_storage, sim_lab, virtual_clock
from torrentish.engine.settings import Settings
from torrentish.net.sim import SimConfig
from torrentish.net.utp import UtpStream


@pytest.fixture
def virtual():
    return virtual_clock()


@pytest.mark.parametrize("encryption", ["off", "require"])
async def test_download_over_utp_with_packet_loss(tmp_path, virtual, encryption):
    from torrentish import events as ev

    sample = make_sample(tmp_path, size=2 * 1024 * 1024 + 999, files=[1024 * 1024, 1024 * 1024 + 999])
    settings = Settings(encryption=encryption)
    async with sim_lab(SimConfig(datagram_loss=0.02, datagram_seed=3)) as lab, \
            lab.client("10.0.0.1", transport="utp", latency=0.02, settings=settings) as seed, \
            lab.client("10.0.0.2", transport="utp", latency=0.03, settings=settings) as leech:
        seeding = await seed.add_torrent(sample.info, await seed_storage(sample), upload_only=True)
        events = leech.events.subscribe()
        storage = empty_storage(sample)
        torrent = await leech.add_torrent(sample.info, storage, peers=[("10.0.0.1", seed.port)])
        with trio.fail_after(600):
            await torrent.completed.wait()
        while not isinstance(event := events.receive_nowait(), ev.PeerConnected):
            pass
        assert (event.transport, event.encryption) == ("utp", "rc4" if encryption == "require" else "none")
        assert await storage_bytes(storage, sample.info) == sample.data
        assert seed.network.accepted == {"utp": 1, "tcp": 0}
        assert leech.network.dialed == {"utp": 1, "tcp": 0}
        (peer,) = seeding.peers.values()
        stream = peer.stream
        while not isinstance(stream, UtpStream) and hasattr(stream, "stream"):
            stream = stream.stream  # under RC4
        assert isinstance(stream, UtpStream) and stream.connection.resent > 0  # losses were repaired


async def test_both_falls_back_to_tcp_when_the_peer_has_no_utp(tmp_path, virtual):
    sample = make_sample(tmp_path, size=300_000)
    async with sim_lab() as lab, lab.client("10.0.0.1", transport=None) as seed, \
            lab.client("10.0.0.2", transport="both") as leech:
        await seed.add_torrent(sample.info, await seed_storage(sample), upload_only=True)
        storage = empty_storage(sample)
        torrent = await leech.add_torrent(sample.info, storage, peers=[("10.0.0.1", seed.port)])
        with trio.fail_after(120):
            await torrent.completed.wait()
        assert leech.network.dialed == {"utp": 0, "tcp": 1}
        assert await storage_bytes(storage, sample.info) == sample.data


async def test_both_prefers_utp_and_listens_on_both(tmp_path, virtual):
    sample = make_sample(tmp_path, size=300_000)
    async with sim_lab() as lab, lab.client("10.0.0.1", transport="both") as seed, \
            lab.client("10.0.0.2", transport="both") as utp_leech, lab.client("10.0.0.3") as tcp_leech:
        await seed.add_torrent(sample.info, await seed_storage(sample), upload_only=True)
        for leech in (utp_leech, tcp_leech):
            torrent = await leech.add_torrent(sample.info, empty_storage(sample), peers=[("10.0.0.1", seed.port)])
            with trio.fail_after(120):
                await torrent.completed.wait()
        assert utp_leech.network.dialed == {"utp": 1, "tcp": 0}
        assert seed.network.accepted == {"utp": 1, "tcp": 1}


async def test_a_taken_udp_port_leaves_outgoing_utp_working(tmp_path):
    """Something else holds the listen port's UDP side: incoming uTP is off, dialing uTP still works."""
    import random

    from torrentish.engine.client import open_client
    from torrentish.net.udp import UdpNetwork
    from tests.support.fake_peer import LOCALHOST
    from tests.support import free_port

    port = free_port()
    squatter = await UdpNetwork().open_datagram(LOCALHOST, port)
    sample = make_sample(tmp_path, size=200_000)
    try:
        async with open_client(host=LOCALHOST, settings=Settings(transport="both"), rng=random.Random(1)) as seed, \
                open_client(host=LOCALHOST, port=port, settings=Settings(transport="both"), rng=random.Random(2)) as leech:
            assert leech.port == port and leech.network.endpoint.port != port
            await seed.add_torrent(sample.info, sample.seed_storage(), upload_only=True)
            torrent = await leech.add_torrent(sample.info, sample.empty_storage(), peers=[(LOCALHOST, seed.port)])
            with trio.fail_after(30):
                await torrent.completed.wait()
            assert leech.network.dialed == {"utp": 1, "tcp": 0}
    finally:
        squatter.close()
