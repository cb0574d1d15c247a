"""Where `get` finds its metadata and its peers: what a .torrent or a magnet link offers.

    meta, magnet = load_source("magnet:?xt=...")          # or a .torrent path
    services = peer_sources_for(meta, magnet)            # trackers, LSD, x.pe hints
    await transfer.get(meta.info, out, services=services)

Metadata for a magnet link comes, for now, from its `xs=` ("exact source") URLs: an HTTP(S)
address of the .torrent, which `torrentish share` puts in every link it prints (its tracker
serves the file). The file is checked against the link's info hash, so a wrong or hostile
server cannot substitute other content. A link without one needs its metadata from peers
(BEP 9): torrentish.app.trackerless does that, and uses `peer_sources_for` once it has it.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

from torrentish.errors import TorrentishError
from torrentish.formats.magnet import Magnet, parse_magnet
from torrentish.formats.metainfo import Metainfo, load_torrent, parse_torrent

__all__ = ["load_source", "exact_sources", "peer_sources_for", "hint_service", "MAX_TORRENT_DOWNLOAD"]

MAX_TORRENT_DOWNLOAD = 32 * 1024 * 1024  # bencoding.TORRENT_LIMITS.max_size
MAX_EXACT_SOURCES = 8


def exact_sources(uri: str) -> list[str]:
    """The http(s) `xs=` URLs of a magnet link (magnet.py ignores xs; it is read here)."""
    _, _, query = uri.partition("?")
    found = []
    for part in query.split("&"):
        key, _, value = part.partition("=")
        if key.lower().split(".")[0] == "xs":
            url = unquote(value)
            if url.lower().startswith(("http://", "https://")) and url not in found:
                found.append(url)
    return found[:MAX_EXACT_SOURCES]


def _fetch_one(url: str, info_hash: bytes) -> tuple[Metainfo | None, str | None]:
    """The .torrent at `url` if its info hash is the link's; else why not."""
    import httpx

    headers = {"Accept-Encoding": "identity"}
    try:
        with httpx.Client(timeout=httpx.Timeout(10.0, connect=3.0), follow_redirects=True, trust_env=False,
                          headers=headers) as http, http.stream("GET", url) as response:
            if response.status_code != 200:
                return None, f"{url}: HTTP status {response.status_code}"
            if response.headers.get("content-encoding", "identity").lower() not in ("", "identity"):
                raise TorrentishError("compressed reply, though we asked for none")
            body = bytearray()
            for chunk in response.iter_raw():
                body += chunk
                if len(body) > MAX_TORRENT_DOWNLOAD:
                    raise TorrentishError("larger than any .torrent")
        meta = parse_torrent(bytes(body))
    except (httpx.HTTPError, TorrentishError) as exc:
        return None, f"{url}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
    if meta.info.info_hash != info_hash:
        return None, f"{url}: it describes another torrent than the link"
    return meta, None


def _fetch_torrent(urls: list[str], info_hash: bytes) -> tuple[Metainfo | None, list[str]]:
    """The first .torrent among `urls` whose info hash is the link's; and why the others failed.

    All are asked at once: a firewall that drops the packets costs one connect timeout, not one
    per URL (a share's link names two servers on every address of the machine)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=len(urls)) as pool:
        results = list(pool.map(lambda url: _fetch_one(url, info_hash), urls))
    problems = [problem for _, problem in results if problem is not None]
    return next((meta for meta, _ in results if meta is not None), None), problems


def load_source(source: str) -> tuple[Metainfo, Magnet | None]:
    """The metainfo for `source` (a .torrent path or a magnet link), and the parsed link if any."""
    if not source.lower().startswith("magnet:"):
        return load_torrent(Path(source)), None
    magnet = parse_magnet(source)
    urls = exact_sources(source)
    meta, problems = _fetch_torrent(urls, magnet.info_hash) if urls else (None, [])
    if meta is None and problems:
        raise TorrentishError(f"cannot get the .torrent from the link's xs= sources: {'; '.join(problems)}")
    if meta is None:
        raise TorrentishError("this magnet link has no xs= source: its metadata must come from peers")
    return meta, magnet


def hint_service(peers):
    """A service handing a link's `x.pe` peers to the torrent (the engine dials them)."""

    async def service(client, torrent) -> None:
        import trio

        from torrentish import events as ev

        torrent.add_peers(peers)
        torrent.events.publish(ev.PeersFound(trio.current_time(), "magnet", len(peers)))

    return service


def peer_sources_for(
    meta: Metainfo,
    magnet: Magnet | None = None,
    *,
    host: str | None = None,
    trackers: bool = True,
    lsd: bool = True,
) -> list:
    """The transfer services that find peers: trackers (the torrent's tiers, then the link's),
    Local Service Discovery (not for private torrents, BEP 27) and the link's peer hints; and
    the web seeds (BEP 19) of the torrent and the link."""
    from torrentish.services.discovery.lsd import lsd_service
    from torrentish.services.tracker.announcer import tracker_service

    services = []
    tiers = [list(t) for t in meta.trackers()]
    if magnet is not None:
        known = {u for t in tiers for u in t}
        extra = [u for u in magnet.trackers if u not in known]
        if extra:
            tiers.append(extra)
        if magnet.peers:
            services.append(hint_service(magnet.peers))
    if trackers and tiers:
        services.append(tracker_service(tiers))
    if lsd and not meta.info.private:
        services.append(lsd_service(host=host))
    web_seeds = [*meta.url_list, *(magnet.web_seeds if magnet is not None else ())]
    if web_seeds:
        from torrentish.services.webseed import webseed_service

        services.append(webseed_service(web_seeds))
    return services
