"""The Transmission RPC over HTTP, and the web client's files.

    server = RpcServer(handler, RpcServerConfig(port=9091))
    port = await nursery.start(server.serve)

Routes: POST /transmission/rpc (also /rpc) runs the RPC (methods.py); GET there answers 409
with the session id, as Transmission does; the web client's files are served at
/transmission/web/ (where Transmission's own client expects to be: it posts to ../rpc) and at /.

Every request passes, in Transmission's order:
1. the Host check against DNS rebinding (421): the Host header must be an IP address,
   `localhost`, or a name in `host_whitelist`; a web page on evil.example whose name now points
   at 127.0.0.1 sends "Host: evil.example" and is refused;
2. HTTP Basic auth when a username and password are set (401 with a challenge); after
   `max_auth_failures` wrong guesses the server refuses every request until restarted (403);
3. for the RPC, the X-Transmission-Session-Id CSRF token (409 carrying the right one): a form
   on another site can POST here but cannot read the 409 to learn the token.
Bodies are capped (413) by the HTTP layer (net/http_server.py).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import secrets
from base64 import b64decode
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path

import trio

from torrentish.errors import TorrentishError
from torrentish.net.http_server import HttpLimits, HttpRequest, HttpResponse, HttpServer
from torrentish.rpc import static
from torrentish.rpc.methods import JSONRPC_VERSION_SEMVER, RpcHandler

LOGGER = logging.getLogger("torrentish.rpc")
SESSION_HEADER = "X-Transmission-Session-Id"
RPC_PATHS = ("/transmission/rpc", "/transmission/rpc/", "/rpc")  # transmission-remote adds the slash
WEB_PREFIX = "/transmission/web/"
JSON = "application/json; charset=utf-8"


@dataclass
class RpcServerConfig:
    host: str = "127.0.0.1"
    port: int = 9091
    username: str | None = None
    password: str | None = None
    host_whitelist: tuple[str, ...] = ()  # extra names allowed in Host (fnmatch patterns: *.lan)
    host_check: bool = True
    web_home: Path | None = None  # the web client's directory; None: no web client
    max_body: int = 16 * 1024 * 1024
    max_auth_failures: int = 100
    http: HttpLimits = field(default_factory=HttpLimits)


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(config: RpcServerConfig) -> None:
    """Off loopback the RPC controls what this machine downloads and where: never without a password."""
    if not is_loopback(config.host) and not (config.username and config.password):
        raise TorrentishError(
            f"the RPC would listen on {config.host}, beyond this machine: set --rpc-username and a password "
            "(TORRENTISH_RPC_PASSWORD) first, or keep --rpc-host 127.0.0.1")


def host_allowed(host_header: str | None, whitelist: tuple[str, ...]) -> bool:
    """Transmission's rule: IP literals and localhost always; other names only when listed."""
    if not host_header:
        return False
    host = host_header.strip()
    if host.startswith("["):  # [::1]:9091
        host = host[1:].split("]", 1)[0]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    host = host.lower()
    if host in ("localhost", "localhost."):
        return True
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    return any(fnmatch(host, pattern.lower()) for pattern in whitelist)


class RpcServer:
    def __init__(self, handler: RpcHandler, config: RpcServerConfig | None = None, session_id: str | None = None):
        self.handler = handler
        self.config = config or RpcServerConfig()
        # A CSRF token must be unguessable, so it comes from the OS's CSPRNG, not an injected Random.
        self.session_id = session_id or secrets.token_urlsafe(36)
        handler.settings.session_id = self.session_id
        self.auth_failures = 0
        limits = self.config.http
        self.http = HttpServer(self.respond, HttpLimits(
            max_connections=limits.max_connections, max_header_bytes=limits.max_header_bytes,
            max_body=self.config.max_body, request_timeout=limits.request_timeout,
            idle_timeout=limits.idle_timeout, max_requests_per_connection=limits.max_requests_per_connection,
        ), server_name="torrentish")

    async def serve(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        check_exposure(self.config)
        await self.http.serve(self.config.host, self.config.port, task_status=task_status)

    # --------------------------------------------------------------------------------- routing
    async def respond(self, request: HttpRequest) -> HttpResponse:
        if self.config.host_check and (request.header_counts.get("host", 0) != 1 or
                                       not host_allowed(request.header("host"), self.config.host_whitelist)):
            return _page(421, "Misdirected Request", "Unauthorized host name: set --rpc-host-whitelist to allow it.")
        refused = self._check_auth(request)
        if refused is not None:
            return refused
        path = request.target.split("?", 1)[0]
        if path in RPC_PATHS:
            return await self._rpc(request)
        if request.method not in ("GET", "HEAD"):
            return _page(405, "Method Not Allowed", "Only GET here.")
        if path in ("/transmission", "/transmission/", "/transmission/web"):
            return HttpResponse(301, b"", headers=[("Location", WEB_PREFIX)])
        if path.startswith("//"):
            return _page(404, "Not Found", "No such file.")
        relative = path[len(WEB_PREFIX):] if path.startswith(WEB_PREFIX) else path[1:]
        return await self._file(path, relative)

    def _check_auth(self, request: HttpRequest) -> HttpResponse | None:
        config = self.config
        if not (config.username and config.password):
            return None
        if self.auth_failures >= config.max_auth_failures:
            return _page(403, "Forbidden", "Too many failed logins: restart the daemon.")
        if _credentials_match(request.header("authorization"), config.username, config.password):
            return None
        if request.header("authorization") is not None:
            self.auth_failures += 1
            if self.auth_failures == config.max_auth_failures:
                LOGGER.warning("RPC: %d failed logins; refusing every request until restarted", self.auth_failures)
        response = _page(401, "Unauthorized", "Unauthorized User")
        response.headers.append(("WWW-Authenticate", 'Basic realm="torrentish"'))
        return response

    async def _rpc(self, request: HttpRequest) -> HttpResponse:
        token = request.header(SESSION_HEADER.lower())
        if token is None or not hmac.compare_digest(token.encode("utf-8", "replace"), self.session_id.encode()):
            response = _page(409, "Conflict", f"Your request had an invalid session-id header. "
                                              f"Send {SESSION_HEADER}: {self.session_id}")
            response.headers.append((SESSION_HEADER, self.session_id))
            # As Transmission 4.1: a client that speaks both envelopes may pick JSON-RPC from here.
            response.headers.append(("X-Transmission-Rpc-Version", JSONRPC_VERSION_SEMVER))
            return response
        if request.method != "POST":
            return _page(405, "Method Not Allowed", "POST a JSON request here.")
        answer = await self.handler.handle(request.body)
        if answer is None:
            return HttpResponse(204, b"", headers=[(SESSION_HEADER, self.session_id)])
        return HttpResponse(200, answer, content_type=JSON)

    async def _file(self, path_in_url: str, relative: str) -> HttpResponse:
        root = self.config.web_home
        if root is None:
            return _page(404, "Not Found", "No web client is installed; the RPC is at /transmission/rpc.")
        path = static.resolve(root, relative)
        if path is None:
            return _page(404, "Not Found", "No such file.")
        target = trio.Path(path)
        try:
            if await target.is_dir():
                return HttpResponse(301, b"", headers=[("Location", path_in_url.rstrip("/") + "/")])
            if (await target.stat()).st_size > static.MAX_FILE_BYTES:
                return _page(404, "Not Found", "No such file.")
            body = await target.read_bytes()
        except OSError:
            return _page(404, "Not Found", "No such file.")
        return HttpResponse(200, body, content_type=static.content_type(path))


def _credentials_match(header: str | None, username: str, password: str) -> bool:
    if not header or not header[:6].lower() == "basic ":
        return False
    try:
        decoded = b64decode(header[6:].strip(), validate=True)
    except ValueError:
        return False
    user, sep, given = decoded.partition(b":")
    expected_user, expected_password = username.encode(), password.encode()
    # compare both, always, in constant time: no early exit that tells which was wrong
    ok_user = hmac.compare_digest(user, expected_user)
    ok_password = hmac.compare_digest(given, expected_password)
    return bool(sep) and ok_user and ok_password


def _page(status: int, title: str, text: str) -> HttpResponse:
    from html import escape

    body = f"<html><head><title>{status}: {title}</title></head><body><h1>{status}: {title}</h1>" \
           f"<p>{escape(text)}</p></body></html>\n"
    return HttpResponse(status, body.encode(), content_type="text/html; charset=utf-8")
