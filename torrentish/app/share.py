"""Sharing a file on the LAN in one step: the function behind `torrentish share`.

    result = trio.run(partial(share, Path("holiday.mp4"), ready=print_details))

It makes the torrent (or takes a .torrent and its data), then runs, side by side:
- the seed, listening where the user says (default: every interface);
- a tracker (HTTP and UDP on one port) that knows the seed from the start (it is pinned, so the
  first announce of a downloader already returns it) and serves the .torrent over HTTP;
- Local Service Discovery, which announces the torrent at once;
- the peer-wire extensions (ut_metadata, so a bare magnet link works too; PEX);
- an HTTP server (share_web.py): a download page at `/` for a browser (a phone that scans the
  QR code), the files with range support, which is also the torrent's web seed (BEP 19).

`ready` gets a `ShareDetails`: everything the other machine needs (magnet link with `tr=` for
the tracker, `x.pe=` for the seed, `xs=` for the .torrent over HTTP and `ws=` for the web seed;
the .torrent's path; the page's URL; the commands to fetch it). Each source alone is enough:
`get` takes the metadata from whichever answers.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import trio

from torrentish.services.discovery.interfaces import is_wildcard, reachable_addresses
from torrentish.services.discovery.lsd import lsd_service
from torrentish.errors import TorrentishError
from torrentish.services.extensions import standard_extensions
from torrentish.formats.magnet import make_magnet
from torrentish.formats.metainfo import Metainfo, build_torrent, load_torrent, parse_torrent
from torrentish.services.tracker.announcer import tracker_service
from torrentish.services.tracker.server import TrackerConfig, TrackerServer
from torrentish.app.share_web import DEFAULT_HTTP_PORT, FILES_ROOT, ShareWeb
from torrentish.app.transfer import TransferResult, seed

__all__ = ["ShareDetails", "share", "torrent_path_on_server", "SHARE_TRACKER_INTERVAL"]

DEFAULT_PORT = 6881
DEFAULT_TRACKER_PORT = 6969
SHARE_TRACKER_INTERVAL = 60  # a LAN tracker can afford short intervals: late joiners meet sooner


@dataclass(frozen=True)
class ShareDetails:
    name: str
    info_hash: bytes
    total_length: int
    torrent_path: Path
    magnet: str
    addresses: tuple[str, ...]  # where other machines reach us
    port: int  # the seed's port
    tracker_urls: tuple[str, ...]  # the embedded tracker's announce URLs (empty when it is off)
    torrent_urls: tuple[str, ...]  # the .torrent over HTTP
    bind_host: str | None  # None: every interface
    lsd: bool
    page_urls: tuple[str, ...] = ()  # the download page (empty when the HTTP server is off)
    web_seeds: tuple[str, ...] = ()  # its file root, the torrent's url-list and the link's ws=

    def get_command(self) -> str:
        return f"torrentish get '{self.magnet}'"

    def aria2_command(self) -> str | None:
        if not self.torrent_urls:
            return None
        return f"aria2c --seed-time=0 '{self.torrent_urls[0]}'"


def torrent_path_on_server(info_hash: bytes) -> str:
    return f"/torrents/{info_hash.hex()}.torrent"


def _host_in_url(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def _port_or_any(host: str | None, port: int, strict: bool) -> int:
    """`port` if it can be bound on `host`; else 0 (any), unless the user insisted on it."""
    if port == 0:
        return 0
    family = socket.AF_INET6 if host and ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host or "", port))
            return port
        except OSError as exc:
            if strict or exc.errno != errno.EADDRINUSE:
                raise TorrentishError(f"cannot listen on port {port}: {exc.strerror or exc}") from None
            return 0


async def _start_server(nursery: trio.Nursery, serve, what: str, host: str | None, port: int, strict: bool):
    """Start `serve` on `port`, or on any port if that one is busy and the user did not insist."""
    try:
        return await nursery.start(serve, host, port)
    except OSError as exc:
        if strict or port == 0 or exc.errno != errno.EADDRINUSE:
            raise TorrentishError(f"cannot run the {what} on port {port}: {exc.strerror or exc}") from None
        return await nursery.start(serve, host, 0)


def _check_torrent_out(path: Path, info_hash: bytes) -> None:
    """An existing file is replaced only if it describes the same content."""
    if path.exists():
        try:
            same = load_torrent(path).info.info_hash == info_hash
        except TorrentishError:
            same = False
        if not same:
            raise TorrentishError(f"{path} exists and describes something else; choose another with --torrent-out")


async def _metainfo(
    path: Path, data: Path | None, piece_length: int | None, private: bool
) -> tuple[Metainfo, Path, bool]:
    """(metainfo, where the data is, whether we made the torrent)."""
    if path.suffix == ".torrent" and path.is_file():
        meta = load_torrent(path)
        return meta, data if data is not None else path.parent, False
    from torrentish.app.create import create_torrent

    if not path.exists():
        raise TorrentishError(f"{path}: no such file or directory")
    before = await trio.to_thread.run_sync(_tree_stats, path)
    raw = await trio.to_thread.run_sync(lambda: create_torrent(path, piece_length=piece_length, private=private))
    meta = parse_torrent(raw)
    await _record_as_verified(meta.info, path, before)
    return meta, path.resolve().parent, True


def _tree_stats(path: Path) -> dict[Path, tuple[int, int]]:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return {f: (s.st_size, s.st_mtime_ns) for f in files for s in [f.stat()]}


async def _record_as_verified(info, path: Path, before: dict[Path, tuple[int, int]]) -> None:
    """We just hashed every piece: record them as complete, so seeding does not hash them again.

    The record carries each file's size and mtime, which the seed checks; and it is kept only if
    nothing changed since before the hashing started (else the seed checks the data itself).
    """
    from torrentish.paths import resume_path
    from torrentish.storage.files import FileStorage

    record = resume_path(info.info_hash)
    storage = FileStorage(path.resolve(), info, writable=False, resume_path=record)
    try:
        record.parent.mkdir(parents=True, exist_ok=True)
        await storage.save_completed(set(range(info.num_pieces)))
    except (OSError, TorrentishError):
        return  # only a shortcut: the seed will check the data
    finally:
        await storage.close()
    if await trio.to_thread.run_sync(_tree_stats, path) != before:
        record.unlink(missing_ok=True)


async def share(
    path: Path,
    *,
    data: Path | None = None,
    port: int = DEFAULT_PORT,
    tracker_port: int = DEFAULT_TRACKER_PORT,
    host: str | None = None,
    strict_ports: bool = False,
    torrent_out: Path | None = None,
    tracker: bool = True,
    lsd: bool = True,
    piece_length: int | None = None,
    http: bool = True,
    http_port: int = DEFAULT_HTTP_PORT,
    max_up: int = 0,
    port_mapping=None,
    settings=None,
    view=None,
    ready: Callable[[ShareDetails], None] | None = None,
    stop: trio.Event | None = None,
) -> TransferResult:
    """Share `path` (a file or directory, or a .torrent whose data is at `data`) until `stop`.
    `port_mapping` (a PortMapSettings) also asks the NAT gateway to forward the seed's port;
    `http` serves the download page and the files (the web seed) on `http_port`."""
    bind = None if is_wildcard(host) else host
    addresses = tuple(reachable_addresses(bind)) or ("127.0.0.1",)
    meta, data_dir, made = await _metainfo(path, data, piece_length, private=False)
    info = meta.info
    torrent_file = (torrent_out or Path.cwd() / f"{info.name}.torrent") if made else path
    if made:
        _check_torrent_out(torrent_file, info.info_hash)
    async with trio.open_nursery() as nursery:
        tracker_urls: tuple[str, ...] = ()
        torrent_urls: tuple[str, ...] = ()
        server = None
        hosts = [_host_in_url(a) for a in addresses]
        if tracker:
            server = TrackerServer(TrackerConfig(interval=SHARE_TRACKER_INTERVAL, min_interval=10))
            tport, _ = await _start_server(nursery, server.serve, "tracker", bind, tracker_port, strict_ports)
            tracker_urls = tuple(f"http://{h}:{tport}/announce" for h in hosts) + tuple(
                f"udp://{h}:{tport}/announce" for h in hosts
            )
            torrent_urls = tuple(f"http://{h}:{tport}{torrent_path_on_server(info.info_hash)}" for h in hosts)
        own = set(tracker_urls)
        others = [[u for u in tier if u not in own] for tier in meta.trackers()]
        tiers = ([list(tracker_urls)] if tracker_urls else []) + [t for t in others if t]
        web = None
        page_urls: tuple[str, ...] = ()
        web_seeds: tuple[str, ...] = ()
        if http:
            web = ShareWeb(info, data_dir, b"")
            wport = await _start_server(nursery, web.serve, "HTTP server", bind, http_port, strict_ports)
            page_urls = tuple(f"http://{h}:{wport}/" for h in hosts)
            web_seeds = tuple(f"http://{h}:{wport}{FILES_ROOT}" for h in hosts)
            # A second way to the .torrent, for a link whose tracker port is closed to the other side.
            torrent_urls += tuple(f"http://{h}:{wport}{web.torrent_path}" for h in hosts)
        url_list = [*meta.url_list, *(u for u in web_seeds if u not in meta.url_list)]
        torrent_bytes = build_torrent(info.raw, announce_list=tiers, url_list=url_list, created_by=meta.created_by,
                                      piece_layers=info.piece_layers)
        if web is not None:
            web.torrent_bytes = torrent_bytes
        if made:
            torrent_file.write_bytes(torrent_bytes)
        if server is not None:
            server.add_file(torrent_path_on_server(info.info_hash), torrent_bytes)

        def on_ready(client, torrent) -> None:
            peers = [(a, client.port) for a in addresses]
            if server is not None:
                for address in addresses:
                    server.swarms.pin(info.info_hash, client.peer_id, address, client.port)
            magnet = make_magnet(
                info.info_hash, info.name, trackers=[u for t in tiers for u in t], length=info.total_length, peers=peers,
                web_seeds=web_seeds,
            ) + "".join("&xs=" + quote(u, safe="") for u in torrent_urls)
            if web is not None:
                web.magnet = magnet
            if ready is not None:
                ready(
                    ShareDetails(
                        name=info.name,
                        info_hash=info.info_hash,
                        total_length=info.total_length,
                        torrent_path=torrent_file,
                        magnet=magnet,
                        addresses=addresses,
                        port=client.port,
                        tracker_urls=tracker_urls,
                        torrent_urls=torrent_urls,
                        bind_host=bind,
                        lsd=lsd,
                        page_urls=page_urls,
                        web_seeds=web_seeds,
                    )
                )

        # ut_metadata lets a bare magnet (a phone scanning the QR code) get the torrent from us.
        extensions, services = standard_extensions()
        if port_mapping is not None:
            from torrentish.services.portmap.service import port_mapping_service

            services.insert(0, port_mapping_service(port_mapping))
        if any(others):
            services.append(tracker_service([t for t in others if t]))
        if lsd and not info.private:
            services.append(lsd_service(host=bind))
        result = await seed(
            info,
            data_dir,
            port=_port_or_any(bind, port, strict_ports),
            host=bind or "",
            max_up=max_up,
            settings=settings,
            view=view,
            services=services,
            extensions=extensions,
            ready=on_ready,
            stop=stop,
        )
        nursery.cancel_scope.cancel()
    return result
