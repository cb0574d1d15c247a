"""`torrentish daemon`: a session with the Transmission RPC in front, until told to stop.

    await run_daemon(DaemonConfig(session=SessionConfig(...), rpc=RpcServerConfig()), stop=event)

It runs in the foreground (like `transmission-daemon -f`; systemd or a terminal supervises it)
and stops cleanly on `stop` (SIGINT/SIGTERM from the command line) or the RPC's session-close:
the RPC stops answering first, then the session saves every torrent's state as it closes.
The defaults need nothing set up: the RPC on 127.0.0.1:9091, torrents in the configured (or
default) download directory, state in the XDG state directory (docs/daemon.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from torrentish.app.watch_dir import watch_directory
from torrentish.rpc.fetch import fetch_torrent_url
from torrentish.rpc.methods import RpcHandler, RpcSettings
from torrentish.rpc.server import RpcServer, RpcServerConfig, check_exposure

LOGGER = logging.getLogger("torrentish.daemon")


@dataclass
class DaemonConfig:
    session: Any  # torrentish.session.SessionConfig
    rpc: RpcServerConfig
    watch_dir: Path | None = None
    watch_interval: float = 5.0
    allow_urls: bool = True  # torrent-add may fetch http(s) URLs


@dataclass(frozen=True)
class DaemonInfo:
    rpc_url: str
    peer_port: int
    download_dir: Path
    state_dir: Path


async def run_daemon(config: DaemonConfig, *, stop: trio.Event, ready: Callable[[DaemonInfo], None] | None = None,
                     network=None, rng=None) -> None:
    """Serve until `stop` is set; the session's state is saved on the way out."""
    from torrentish.session import open_session

    check_exposure(config.rpc)  # before anything binds a port or touches the state
    async with open_session(config.session, network=network, rng=rng) as session:
        handler = RpcHandler(session, RpcSettings(
            allowed_roots=config.session.roots(),
            on_close=stop.set,
            fetch_url=fetch_torrent_url if config.allow_urls else None,
            config_dir=str(config.session.state_dir),
        ))
        server = RpcServer(handler, config.rpc)
        async with trio.open_nursery() as nursery:
            port = await nursery.start(server.serve)
            if config.watch_dir is not None:
                await nursery.start(watch_directory, session, config.watch_dir, config.watch_interval)
            host = config.rpc.host
            shown = f"[{host}]" if ":" in host else host
            info = DaemonInfo(f"http://{shown}:{port}/transmission/rpc", session.port,
                              Path(config.session.download_dir), Path(config.session.state_dir))
            LOGGER.info("daemon ready: RPC %s, peers on port %d, downloads in %s", info.rpc_url, info.peer_port,
                        info.download_dir)
            if ready is not None:
                ready(info)
            await stop.wait()
            LOGGER.info("daemon stopping: saving state")
            nursery.cancel_scope.cancel()
    LOGGER.info("daemon stopped")
