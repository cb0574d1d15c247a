"""uTP against real clients on loopback, both directions, single- and multi-file torrents.

- libtorrent in this process, uTP only (``enable_outgoing_tcp``/``enable_incoming_tcp`` off): no
  TCP to fall back to, so a completed transfer is a uTP one;
- Transmission with ``utp-enabled`` (it cannot turn TCP off): its peer flags say "T" for a peer on
  uTP, and we dial uTP only (``transport="utp"``);
- qBittorrent with TCP and uTP: its peer list says "μTP".

Both daemons are the module's one instance each (tests/support/peer_daemons.py), uTP switched on
over RPC / Web API for the test. Each test is the matrix cell (client, "utp", direction).

Our side counts its connections by transport (net/transports.py ``dialed`` / ``accepted``).
Transmission and qBittorrent never dial loopback peers they do not know, so we dial them.
"""

from __future__ import annotations

import random

import pytest
import trio

from tests.support.fake_peer import make_sample, storage_bytes
from tests.support.matrix import cell
from tests.support.peer_daemons import DEADLINE, PeerDaemon, daemon, forget_torrents  # noqa: F401 (fixtures)
from tests.support.trackerless import LOCALHOST
from torrentish.engine.client import open_client
from torrentish.engine.settings import Settings

pytestmark = [pytest.mark.interop, pytest.mark.timeout(180)]

UTP_ONLY = {"enable_outgoing_utp": True, "enable_incoming_utp": True,
            "enable_outgoing_tcp": False, "enable_incoming_tcp": False}
LAYOUTS = {"single": None, "multi": [700_000, 1, 1_300_000]}


def _sample(tmp_path, layout: str, size: int = 2 * 1024 * 1024 + 77):
    return make_sample(tmp_path / "data", size=size, files=LAYOUTS[layout], name=f"utp-{layout}")


def _on_disk(sample, directory) -> bytes:
    root = directory / sample.content_path.name
    if root.is_file():
        return root.read_bytes()
    return b"".join(path.read_bytes() for path in sorted(root.iterdir()))


async def _utp_client(**settings):
    return open_client(host=LOCALHOST, rng=random.Random(5), settings=Settings(transport="utp", **settings))


@pytest.mark.parametrize("layout", LAYOUTS)
@cell("libtorrent", "utp", "from")
async def test_libtorrent_seeds_to_torrentish_over_utp(tmp_path, logs, layout):
    from tests.support.lt import LtSession

    sample = _sample(tmp_path, layout)
    with LtSession(logs / "lt.log", settings=UTP_ONLY) as session:
        await trio.to_thread.run_sync(session.seed, sample.torrent_path, sample.content_path.parent)
        async with await _utp_client() as client:
            storage = sample.empty_storage()
            torrent = await client.add_torrent(sample.info, storage, peers=[(LOCALHOST, session.port)])
            with trio.fail_after(DEADLINE):
                await torrent.completed.wait()
            assert client.network.dialed == {"utp": 1, "tcp": 0}
        assert await storage_bytes(storage, sample.info) == sample.data


@pytest.mark.parametrize("layout", LAYOUTS)
@cell("libtorrent", "utp", "to")
async def test_torrentish_seeds_to_libtorrent_over_utp(tmp_path, logs, layout):
    from tests.support.lt import LtSession

    sample = _sample(tmp_path, layout)
    with LtSession(logs / "lt.log", settings=UTP_ONLY) as session:
        async with await _utp_client() as client:
            await client.add_torrent(sample.info, sample.seed_storage(), upload_only=True)
            handle = session.leech(sample.torrent_path, tmp_path / "lt")
            session.connect_peer(handle, (LOCALHOST, client.port))  # it dials us
            await trio.to_thread.run_sync(session.wait_seeding, handle, DEADLINE)
            assert client.network.accepted["utp"] >= 1 and client.network.accepted["tcp"] == 0
    assert _on_disk(sample, tmp_path / "lt") == sample.data


# One daemon of each per module, uTP switched on for the test (tests/support/peer_daemons.py).
# Each daemon gets one layout a direction, the other layout the other way: both are covered.
def daemon_cells(direction: str):
    params = [pytest.param(name, marks=cell(name, "utp", direction)) for name in ("transmission", "qbittorrent")]
    return pytest.mark.parametrize("daemon", params, indirect=True)


@pytest.fixture
def with_utp(daemon: PeerDaemon):
    daemon.utp(True)
    yield daemon
    daemon.utp(False)


@daemon_cells("from")
async def test_torrentish_downloads_over_utp_from(with_utp, tmp_path):
    daemon = with_utp
    sample = _sample(tmp_path, {"transmission": "single", "qbittorrent": "multi"}[daemon.label])
    await trio.to_thread.run_sync(daemon.add, sample.torrent_path, sample.content_path.parent)
    await trio.to_thread.run_sync(daemon.wait_complete, sample.info.info_hash)  # its check of the data
    async with await _utp_client() as client:
        storage = sample.empty_storage()
        torrent = await client.add_torrent(sample.info, storage, peers=[(LOCALHOST, daemon.peer_port)])
        with trio.fail_after(DEADLINE):
            await torrent.completed.wait()
        seen = await trio.to_thread.run_sync(daemon.transports, sample.info.info_hash)
    assert await storage_bytes(storage, sample.info) == sample.data
    assert client.network.dialed["utp"] >= 1 and client.network.dialed["tcp"] == 0
    assert seen == ["utp"]


@daemon_cells("to")
async def test_torrentish_seeds_over_utp_to(with_utp, tmp_path):
    daemon = with_utp
    sample = _sample(tmp_path, {"transmission": "multi", "qbittorrent": "single"}[daemon.label])
    (tmp_path / "down").mkdir()
    await trio.to_thread.run_sync(daemon.add, sample.torrent_path, tmp_path / "down")
    async with await _utp_client() as client:
        torrent = await client.add_torrent(sample.info, sample.seed_storage(), upload_only=True)
        torrent.add_peers([(LOCALHOST, daemon.peer_port)])  # we dial it
        with trio.fail_after(DEADLINE):
            while not (seen := await trio.to_thread.run_sync(daemon.transports, sample.info.info_hash)):
                await trio.sleep(0.5)
        await trio.to_thread.run_sync(daemon.wait_complete, sample.info.info_hash)
    assert seen == ["utp"]
    assert client.network.dialed["utp"] >= 1 and client.network.dialed["tcp"] == 0
    assert _on_disk(sample, tmp_path / "down") == sample.data
