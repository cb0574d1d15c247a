"""A test-only HTTP BitTorrent tracker (BEP 3 announce, BEP 23 compact peer lists).

Enough for aria2 and libtorrent to find each other and the peers a test registers by hand. It runs
``http.server.ThreadingHTTPServer`` in a background thread on 127.0.0.1 and records every announce.

    with Tracker() as tracker:
        make_torrent(payload, path, announce=tracker.announce_url)
        tracker.add_peer(info_hash, "127.0.0.1", seed_port)   # a peer that does not announce
        ...
        tracker.peers(info_hash)                             # [(ip, port), ...] of everyone

Facts the clients impose:
- libtorrent's SSRF mitigation only announces to a tracker on localhost whose path is ``/announce``
  (and without extra query arguments), hence ``announce_url``.
- Neither aria2 nor libtorrent sends ``ip=``; the peer's address is the connection's source address,
  127.0.0.1 on loopback. Both report their real listening port in ``port=``.
- aria2 and libtorrent (with its floor lowered) re-announce every ``interval`` seconds, so the
  interval is short: a peer registered after a client's first announce reaches it within seconds.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import bencodepy

DEFAULT_INTERVAL = 2  # seconds between announces we ask clients for


@dataclass(frozen=True)
class Announce:
    """What one peer told the tracker in its latest announce."""

    ip: str
    port: int
    left: int | None
    event: str  # "started", "completed", "stopped" or "" (regular)


class Tracker:
    """The tracker; a context manager that serves on ``announce_url`` while open."""

    def __init__(self, interval: int = DEFAULT_INTERVAL, host: str = "127.0.0.1"):
        self.interval = interval
        self._lock = threading.Lock()
        # info_hash -> peer_id -> latest Announce (peers that left with event=stopped are removed)
        self._announces: dict[bytes, dict[bytes, Announce]] = {}
        # info_hash -> [(ip, port)] registered by the test, handed out to every announcer
        self._static: dict[bytes, list[tuple[str, int]]] = {}
        self.log: list[tuple[bytes, bytes, Announce]] = []  # every announce, in order
        self._server = ThreadingHTTPServer((host, 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> "Tracker":
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.1},
                                        name="test-tracker", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def announce_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/announce"

    # what tests use ----------------------------------------------------------------------------
    def add_peer(self, info_hash: bytes, ip: str, port: int) -> None:
        """Hand ``ip:port`` to everyone announcing ``info_hash`` (for peers with no tracker client)."""
        _check_info_hash(info_hash)
        with self._lock:
            static = self._static.setdefault(info_hash, [])
            if (ip, port) not in static:
                static.append((ip, port))

    def peers(self, info_hash: bytes) -> list[tuple[str, int]]:
        """Every known peer of ``info_hash``: those that announced (and did not stop), then static."""
        _check_info_hash(info_hash)
        with self._lock:
            return self._peer_list(info_hash, exclude_peer_id=None)

    def announces(self, info_hash: bytes) -> dict[bytes, Announce]:
        """peer_id -> latest announce, for peers of ``info_hash`` that have not stopped."""
        with self._lock:
            return dict(self._announces.get(info_hash, {}))

    # the protocol --------------------------------------------------------------------------------
    def _peer_list(self, info_hash: bytes, exclude_peer_id: bytes | None) -> list[tuple[str, int]]:
        result = [(a.ip, a.port) for peer_id, a in self._announces.get(info_hash, {}).items()
                  if peer_id != exclude_peer_id]
        result += [p for p in self._static.get(info_hash, []) if p not in result]
        return result

    def handle_announce(self, query: dict[str, list[str]], source_ip: str) -> dict:
        """Turn one announce's query (values as latin-1 strings) into the bencodable response."""
        try:
            info_hash = query["info_hash"][0].encode("latin-1")
            peer_id = query["peer_id"][0].encode("latin-1")
            port = int(query["port"][0])
            _check_info_hash(info_hash)
            if len(peer_id) != 20 or not 0 < port < 65536:
                raise ValueError("bad peer_id or port")
            left = int(query["left"][0]) if "left" in query else None
            event = query.get("event", [""])[0]
            ip = query.get("ip", [source_ip])[0]
            ipaddress.ip_address(ip)
        except (KeyError, ValueError, IndexError) as error:
            return {b"failure reason": f"bad announce: {error}".encode()}
        announce = Announce(ip=ip, port=port, left=left, event=event)
        compact = query.get("compact", ["1"])[0] != "0"
        with self._lock:
            self.log.append((info_hash, peer_id, announce))
            swarm = self._announces.setdefault(info_hash, {})
            if event == "stopped":
                swarm.pop(peer_id, None)
            else:
                swarm[peer_id] = announce
            others = self._peer_list(info_hash, exclude_peer_id=peer_id)
            complete = sum(1 for a in swarm.values() if a.left == 0)
        response = {b"interval": self.interval, b"min interval": self.interval,
                    b"complete": complete, b"incomplete": len(swarm) - complete}
        if compact:
            response[b"peers"] = b"".join(socket.inet_aton(ip) + struct.pack(">H", port)
                                          for ip, port in others if _is_ipv4(ip))
        else:
            response[b"peers"] = [{b"ip": ip.encode(), b"port": port} for ip, port in others]
        return response


def _check_info_hash(info_hash: bytes) -> None:
    if not isinstance(info_hash, bytes) or len(info_hash) != 20:
        raise ValueError(f"an info hash is 20 bytes, not {info_hash!r}")


def _is_ipv4(ip: str) -> bool:
    return isinstance(ipaddress.ip_address(ip), ipaddress.IPv4Address)


def _handler_for(tracker: Tracker) -> type[BaseHTTPRequestHandler]:
    class AnnounceHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            url = urlsplit(self.path)
            if url.path != "/announce":
                self.send_error(404, "only /announce is served")
                return
            # latin-1 maps each %XX escape to one code point, so binary hashes survive intact.
            query = parse_qs(url.query, encoding="latin-1", keep_blank_values=True)
            body = bencodepy.encode(tracker.handle_announce(query, self.client_address[0]))
            try:
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except ConnectionError:
                pass  # a client shutting down may hang up before reading its answer

        def log_message(self, format: str, *args) -> None:  # keep pytest output clean
            pass

    return AnnounceHandler
