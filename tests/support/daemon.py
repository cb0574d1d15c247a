"""`torrentish daemon` as a child process for tests, and ways to talk to it.

    with Daemon(tmp_path, port_factory) as daemon:
        daemon.remote("-a", str(torrent))          # transmission-remote against it
        daemon.rpc("torrent-get", {"fields": ["id"]})  # a raw RPC call, old envelope

Everything stays on 127.0.0.1: the RPC, the peer port, no LSD, no DHT. The process is always
ended on exit (SIGTERM, then SIGKILL), and `kill()` ends it the hard way for restart tests.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import httpx

from tests.support import ManagedProcess, require_tool, wait_until


class Daemon:
    def __init__(self, root: Path, port_factory: Callable[[], int], *, web_home: Path | None = None,
                 extra: tuple[str, ...] = (), label: str = "daemon"):
        self.root = Path(root)
        self.downloads = self.root / "downloads"
        self.state = self.root / "state"
        self.logs = self.root / "logs"
        self.rpc_port = port_factory()
        self.peer_port = port_factory()
        self.web_home = web_home
        self.extra = extra
        self.label = label
        self.process: ManagedProcess | None = None
        self._session_id = ""
        self.runs = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.rpc_port}/transmission/rpc"

    def start(self) -> Daemon:
        self.downloads.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "torrentish", "daemon", "--rpc-port", str(self.rpc_port),
                "--port", str(self.peer_port), "--download-dir", str(self.downloads), "--no-lsd", "--no-dht",
                "--log-file", str(self.logs / f"{self.label}.log"), *self.extra]
        if self.web_home is not None:
            argv += ["--web-home", str(self.web_home)]
        env = dict(os.environ, TORRENTISH_STATE_DIR=str(self.state))
        self.runs += 1
        self.process = ManagedProcess(f"{self.label}-{self.runs}", argv, self.logs, env=env,
                                      extra_log=self.logs / f"{self.label}.log", grace=30)
        self.process.__enter__()
        self.process.wait_listening(self.rpc_port, 60)
        return self

    def __enter__(self) -> Daemon:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> int | None:
        return self.process.stop(signal.SIGTERM) if self.process else None

    def kill(self) -> None:
        assert self.process is not None and self.process.popen is not None
        self.process.popen.kill()
        self.process.popen.wait()

    def report(self) -> str:
        return self.process.report() if self.process else "(not started)"

    # ------------------------------------------------------------------------------ clients
    def remote(self, *args: str, check: bool = True, timeout: float = 60, stderr: bool = False) -> str:
        """transmission-remote against the daemon; its stdout (its stderr with `stderr`)."""
        tool = require_tool("transmission-remote")
        result = subprocess.run([tool, f"127.0.0.1:{self.rpc_port}", *args], capture_output=True, text=True,
                                timeout=timeout)
        if check and (result.returncode != 0 or "error" in result.stderr.lower()):
            raise AssertionError(f"transmission-remote {' '.join(args)} failed ({result.returncode}):\n"
                                 f"{result.stdout}\n{result.stderr}\n{self.report()}")
        return result.stderr if stderr else result.stdout

    def rpc(self, method: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        """One old-envelope RPC call (the 409 handshake done here); the answer's arguments."""
        body = {"method": method, "arguments": arguments or {}}
        for _ in range(2):
            answer = httpx.post(self.url, content=json.dumps(body), timeout=60,
                                headers={"X-Transmission-Session-Id": self._session_id})
            if answer.status_code == 409:
                self._session_id = answer.headers["X-Transmission-Session-Id"]
                continue
            answer.raise_for_status()
            data = answer.json()
            assert data["result"] == "success", f"{method}: {data['result']}\n{self.report()}"
            return data["arguments"]
        raise AssertionError("no session id after a 409")

    def torrents(self, *fields: str) -> list[dict[str, Any]]:
        return self.rpc("torrent-get", {"fields": ["id", "name", *fields]})["torrents"]

    def wait_for(self, predicate: Callable[[list[dict[str, Any]]], bool], fields: tuple[str, ...], timeout: float,
                 what: str) -> list[dict[str, Any]]:
        def check():
            self.process.check_alive()
            torrents = self.torrents(*fields)
            return torrents if predicate(torrents) else None

        return wait_until(check, timeout, what, lambda: json.dumps(self.torrents(*fields))[:2000] + "\n" +
                          self.report())

