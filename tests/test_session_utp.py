"""uTP in the session: one port for TCP and uTP, the transport switched while the session runs
(what the RPC's utp-enabled / tcp-enabled do), and session-get/-set's view of it.

Real sockets on 127.0.0.1 in real time (uTP's timers and a jumping mock clock do not mix).
"""

from __future__ import annotations

import random

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from tests.support.fake_peer import make_sample
from tests.test_session import LOCALHOST, config, wait_for
from torrentish.engine.settings import TRANSPORTS, Settings
from torrentish.errors import TorrentishError
from torrentish.net.tcp import TcpNetwork
from torrentish.net.udp import UdpNetwork
from torrentish.net.utp import open_utp
from torrentish.rpc import session_keys
from torrentish.rpc.protocol import RpcError
from torrentish.session import open_session
from torrentish.session import config as cfg


def session(tmp_path, name: str, transport: str, seed: int = 0, **overrides):
    return open_session(config(tmp_path, name, engine=Settings(transport=transport), **overrides),
                        rng=random.Random(seed))


async def refused(stream: trio.abc.Stream) -> bool:
    """Whether the other side closes `stream` without a word (it would wait for our handshake)."""
    await stream.send_all(b"\x13BitTorrent protocol")
    with trio.move_on_after(10):
        try:
            return await stream.receive_some(100) == b""
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return True
    return False


async def test_utp_switched_off_and_on_while_the_session_runs(tmp_path):
    async with session(tmp_path, "s", "tcp") as s, open_utp(UdpNetwork(), LOCALHOST, 0) as dialer:
        network = s.client.network
        with pytest.raises(OSError, match="reset"):  # the UDP side of the port is bound anyway
            await dialer.connect(LOCALHOST, s.port, 5)
        assert network.accepted == {"utp": 0, "tcp": 0}

        s.update(transport="both")
        utp = await dialer.connect(LOCALHOST, s.port, 5)
        with trio.fail_after(10):
            while network.accepted["utp"] == 0:
                await trio.sleep(0.01)
        await utp.aclose()

        s.update(transport="utp")  # TCP refused now, uTP still taken
        tcp = await TcpNetwork().connect(LOCALHOST, s.port)
        assert await refused(tcp)
        assert network.accepted["tcp"] == 0
        assert s.saved.settings["transport"] == "utp"  # kept for the next start
        with pytest.raises(TorrentishError, match="transport must be one of"):
            s.update(transport="udp")


async def test_sessions_trade_over_utp_only_on_one_port(tmp_path):
    """Both sessions on the default transports: the downloader dials uTP first and it answers on
    the seed's one port, so TCP is never used. (A dial while the seed still checks its data is
    refused and made again: more than one uTP connection may be counted.)"""
    sample = make_sample(tmp_path / "content", 600_000, name="u")
    async with session(tmp_path, "seed", "both", seed=1, download_dir=tmp_path / "content") as seed, \
            session(tmp_path, "get", "both", seed=2) as get:
        assert seed.client.network.endpoint.port == seed.port
        await seed.add(sample.torrent_path)
        t = await get.add(sample.torrent_path, peers=[(LOCALHOST, seed.port)])
        await wait_for(get, lambda: t.status().percent_done == 1.0, timeout=60)
        assert get.client.network.dialed["utp"] >= 1 and get.client.network.dialed["tcp"] == 0
        assert seed.client.network.accepted["utp"] >= 1 and seed.client.network.accepted["tcp"] == 0
    assert (tmp_path / "get" / "data" / sample.content_path.name).read_bytes() == sample.data


async def test_a_kept_transport_wins_at_the_next_start(tmp_path):
    async with session(tmp_path, "s", "both") as s:
        s.update(transport="tcp")
    async with session(tmp_path, "s", "both") as s:
        assert s.config.transport == "tcp" and s.client.network.mode == "tcp"


# ---------------------------------------------------------------------- session-get / session-set
def test_session_get_reports_utp_and_tcp():
    for transport, utp, tcp in (("both", True, True), ("utp", True, False), ("tcp", False, True)):
        conf = cfg.SessionConfig(state_dir=None, download_dir="/x", engine=Settings(transport=transport))
        info = session_keys.SessionInfo("v", 16, 1, "5.0.0", "id", "/c")
        values = session_keys.session_values(conf, session_keys.SpeedLimits(), info, jsonrpc=False, peer_port=1)
        assert (values["utp_enabled"], values["tcp_enabled"]) == (utp, tcp)


def test_the_session_config_defaults_to_utp_on_like_transmission():
    assert cfg.SessionConfig(state_dir=None, download_dir="/x").transport == "both"


@given(st.sampled_from(TRANSPORTS), st.dictionaries(st.sampled_from(["utp_enabled", "tcp_enabled"]), st.booleans()))
def test_session_set_of_utp_and_tcp(current, changes):
    conf = cfg.SessionConfig(state_dir=None, download_dir="/x", engine=Settings(transport=current))
    utp = changes.get("utp_enabled", current != "tcp")
    tcp = changes.get("tcp_enabled", current != "utp")
    if not (utp or tcp):
        with pytest.raises(RpcError, match="cannot both be off"):
            session_keys.config_changes(conf, session_keys.SpeedLimits(), changes)
        return
    out = session_keys.config_changes(conf, session_keys.SpeedLimits(), changes)
    if not changes:
        assert "transport" not in out  # untouched: it keeps following the daemon's own setting
        return
    transport = out["transport"]
    assert cfg.check_setting("transport", transport) == transport
    assert (transport != "tcp", transport != "utp") == (utp, tcp)
