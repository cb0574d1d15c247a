"""A real transmission-daemon (Debian 3.00, rpc-version 16) for tests of RPC clients.

Each daemon gets a config directory of its own (settings.json written here, before it starts)
with everything that would reach beyond loopback switched off: no DHT, LPD, PEX, uTP or port
forwarding, RPC and peers on 127.0.0.1 only, downloads into the test's directory. It can serve a
web client from a directory (TRANSMISSION_WEB_HOME) at /transmission/web/ and ask for a user
name and password.

Facts that shape the tests: Transmission never dials loopback peers it learns from trackers or
PEX, so a transfer into it needs the seed to dial it; and it unchokes on a 10 s round, so the first
piece can take that long.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.support import ManagedProcess, free_port, require_tool


class TransmissionDaemon(ManagedProcess):
    """transmission-daemon in the foreground (-f), stopped on exit like every ManagedProcess."""

    def __init__(self, root: Path, log_dir: Path, *, web_home: Path | None = None,
                 auth: tuple[str, str] | None = None, label: str = "transmission"):
        self.binary = require_tool("transmission-daemon")
        self.root = Path(root)
        self.config_dir = self.root / "config"
        self.download_dir = self.root / "downloads"
        self.rpc_port = free_port()
        self.peer_port = free_port()
        self.auth = auth
        self.config_dir.mkdir(parents=True, exist_ok=True)
        self.download_dir.mkdir(parents=True, exist_ok=True)
        settings = {
            "rpc-enabled": True,
            "rpc-bind-address": "127.0.0.1",
            "rpc-port": self.rpc_port,
            "rpc-whitelist-enabled": True,
            "rpc-whitelist": "127.0.0.1",
            "rpc-host-whitelist-enabled": False,
            "rpc-authentication-required": auth is not None,
            "peer-port": self.peer_port,
            "peer-port-random-on-start": False,
            "bind-address-ipv4": "127.0.0.1",
            "dht-enabled": False,
            "lpd-enabled": False,
            "pex-enabled": False,
            "utp-enabled": False,
            "port-forwarding-enabled": False,
            "download-dir": str(self.download_dir),
            "incomplete-dir-enabled": False,
            "watch-dir-enabled": False,
            "start-added-torrents": True,
            "message-level": 2,
        }
        if auth is not None:
            settings["rpc-username"], settings["rpc-password"] = auth  # it hashes the password on start
        (self.config_dir / "settings.json").write_text(json.dumps(settings, indent=2))
        env = dict(os.environ)
        env.pop("TRANSMISSION_WEB_HOME", None)
        if web_home is not None:
            env["TRANSMISSION_WEB_HOME"] = str(web_home)
        super().__init__(label, [self.binary, "-f", "-g", self.config_dir], log_dir, env=env)

    def __enter__(self) -> "TransmissionDaemon":
        super().__enter__()
        try:
            self.wait_listening(self.rpc_port, timeout=20)
        except BaseException:
            self.stop()
            raise
        return self

    def restart(self) -> None:
        """Stop and start again on the same ports and config (a new session id, same torrents)."""
        self.stop()
        self.__enter__()

    @property
    def url(self) -> str:
        """The RPC endpoint."""
        return f"http://127.0.0.1:{self.rpc_port}/transmission/rpc"

    @property
    def web_url(self) -> str:
        """Where the web client from TRANSMISSION_WEB_HOME is served."""
        return f"http://127.0.0.1:{self.rpc_port}/transmission/web/"

    def oracle(self):
        """A client from the PyPI transmission-rpc library: an independent view of the daemon."""
        transmission_rpc = require_tool("transmission_rpc")
        user, password = self.auth if self.auth is not None else (None, None)
        return transmission_rpc.Client(host="127.0.0.1", port=self.rpc_port, username=user,
                                       password=password, timeout=15)
