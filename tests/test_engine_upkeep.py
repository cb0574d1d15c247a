"""A connection's timers, run by the torrent's upkeep: a silent peer is dropped, a quiet link
gets a keepalive."""

from types import SimpleNamespace

from torrentish.core.bitfield import Bitfield
from torrentish.core.pipeline import PipelineLimits
from torrentish.engine.peer import KEEPALIVE, PeerConnection
from torrentish.engine.settings import Settings
from torrentish.wire.codec import PeerCodec


def _connection(now: float) -> PeerConnection:
    settings = Settings(idle_timeout=150.0, keepalive_interval=60.0)
    torrent = SimpleNamespace(settings=settings, have=Bitfield(8),
                              pipeline_limits=PipelineLimits(8, 512, 1.0, 30.0))
    return PeerConnection(torrent, stream=None, codec=PeerCodec(bytes(8)), address=("10.0.0.1", 6881),
                          peer_id=b"p" * 20, outgoing=True, now=now)


def test_a_quiet_link_gets_one_keepalive_once_nothing_was_sent_for_the_interval():
    peer = _connection(now=100.0)
    peer.upkeep(160.0)
    assert bytes(peer._outbox) == b""
    peer.upkeep(160.5)
    assert bytes(peer._outbox) == KEEPALIVE and peer.close_reason is None


def test_a_peer_silent_past_the_idle_timeout_is_closed():
    peer = _connection(now=100.0)
    peer.last_sent = 250.0
    peer.upkeep(250.0)
    assert peer.close_reason is None
    peer.upkeep(250.5)
    assert peer.close_reason == "idle: nothing received for too long"
