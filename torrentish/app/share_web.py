"""The HTTP side of `torrentish share`: a download page, the files themselves, and a web seed.

    web = ShareWeb(info, data_dir, torrent_bytes, magnet=...)
    port = await nursery.start(web.serve, host, 8080)

- `/` is a small page (share_page.py): each file with its size and a direct link, the magnet
  link and the .torrent; plain HTML that works on a phone, nothing fetched from elsewhere.
- `/files/<name>/<path>` is each file, with single range requests (206, 416, HEAD). The same
  URL root is the torrent's web seed (BEP 19 `url-list` and the link's `ws=`), so BitTorrent
  clients fetch pieces from it too.
- `/<name>.torrent` is the .torrent (also when the tracker is off).

Only the torrent's own files are served: a request names a file by its exact path in the
torrent (a dictionary lookup, so no path ever reaches the filesystem from the URL). Files are
read in chunks in a worker thread, so a download of any size holds one chunk in memory.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote, unquote

import trio

from torrentish.app.share_page import render_page
from torrentish.formats.http_range import UNSATISFIABLE, content_range, parse_range
from torrentish.formats.metainfo import Info
from torrentish.net.http_server import HttpLimits, HttpRequest, HttpResponse, HttpServer

__all__ = ["ShareWeb", "FILES_ROOT", "DEFAULT_HTTP_PORT"]

DEFAULT_HTTP_PORT = 8080
FILES_ROOT = "/files/"
CHUNK = 256 * 1024
LIMITS = HttpLimits(max_connections=32, max_body=0, request_timeout=30.0, idle_timeout=60.0)


class ShareWeb:
    def __init__(self, info: Info, data_dir: Path, torrent_bytes: bytes, *, magnet: str = ""):
        self.info = info
        self.data_dir = data_dir
        self.torrent_bytes = torrent_bytes
        self.magnet = magnet  # set once the seed runs (it carries the seed's port)
        # Decoded URL path -> (file on disk, length): the torrent's files only, no pad files.
        # Keys are decoded so that any percent-encoding a client chooses finds the file.
        self.files: dict[str, tuple[Path, int]] = {
            FILES_ROOT + "/".join(entry.path): (data_dir.joinpath(*entry.path), entry.length)
            for entry in info.files if not entry.padding
        }
        self.http = HttpServer(self._request, LIMITS)

    @property
    def torrent_path(self) -> str:
        return "/" + quote(f"{self.info.name}.torrent")

    async def serve(self, host: str | None, port: int, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Listen on (host, port) (None: every interface) and serve until cancelled; reports the port."""
        listeners = await trio.open_tcp_listeners(port, host=host)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.serve_listeners, self.http.connection, listeners)
            task_status.started(listeners[0].socket.getsockname()[1])

    async def _request(self, request: HttpRequest) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            return HttpResponse(405, b"only GET and HEAD\n", headers=[("Allow", "GET, HEAD")])
        # The path is what precedes any query; never parsed as a URL ("//[x" is no host of ours).
        path = request.target.split("?", 1)[0].split("#", 1)[0]
        if path in ("/", "/index.html"):
            # A multi-file torrent's paths all start with its name, which heads the page.
            skip = len(FILES_ROOT) + (len(self.info.name) + 1 if self.info.multi_file else 0)
            page = render_page(self.info.name, [(quote(p), p[skip:], length) for p, (_, length) in self.files.items()],
                               self.torrent_path, self.magnet)
            return HttpResponse(200, page, "text/html; charset=utf-8")
        if path == self.torrent_path:
            return HttpResponse(200, self.torrent_bytes, "application/x-bittorrent")
        found = self.files.get(unquote(path))
        if found is None:
            return HttpResponse(404, b"not found\n")
        return await self._file(request, *found)

    async def _file(self, request: HttpRequest, disk_path: Path, length: int) -> HttpResponse:
        asked = parse_range(request.header("range"), length)
        headers = [("Accept-Ranges", "bytes")]
        if asked == UNSATISFIABLE:
            return HttpResponse(416, b"", headers=[*headers, ("Content-Range", f"bytes */{length}")])
        status, (start, end) = (200, (0, length)) if asked is None else (206, asked)
        if status == 206:
            headers.append(("Content-Range", content_range(start, end, length)))

        async def write_body(send) -> None:
            await _send_file(disk_path, start, end, send)

        return HttpResponse(status, content_type="application/octet-stream", headers=headers,
                            write_body=write_body, length=end - start)


async def _send_file(disk_path: Path, start: int, end: int, send) -> None:
    """Send bytes [start, end) of the file; OSError if it cannot be read or got shorter."""
    async with await trio.open_file(disk_path, "rb") as f:
        await f.seek(start)
        position = start
        while position < end:
            chunk = await f.read(min(CHUNK, end - position))
            if not chunk:
                raise OSError(f"{disk_path.name} is shorter than the torrent says")
            await send(chunk)
            position += len(chunk)
