"""Announcing a torrent to its trackers for as long as it runs: a transfer service.

    services = [tracker_service(metainfo.trackers())]
    await transfer.get(info, out_dir, services=services)

Order (BEP 12): each tier is shuffled once; a round tries the trackers of the first tier in
order, then those of the next tier, and stops at the first that answers, which moves to the
front of its tier. Events (BEP 3): `started` first, `completed` the moment the download finishes
(not when it was already complete at start), `stopped` when the transfer ends (shielded from
the cancellation, with a short deadline), regular announces every `interval` in between, never
sooner than the tracker's `min interval` - except once more at once when the port we announce
changes (`Client.announce_port`: a NAT gateway mapped ours, or the mapping ended).

A hybrid torrent (BEP 52) is in two swarms: every announce to a tracker is made for its v1 hash
and then for its truncated v2 hash, so v2-only clients find us too; only the first one's outcome
counts in the tracker's stats, and the peers of both are used.

No tracker failure stops a transfer: failures are published (`TrackerFailed`) and the round is
retried with exponential backoff. The tracker's warnings are published as `Warning` events.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from functools import partial
from typing import AsyncIterator

import trio

from torrentish import events as ev
from torrentish.services.tracker.protocol import AnnounceRequest, AnnounceResponse, TrackerError

__all__ = ["AnnounceSettings", "TrackerTiers", "TrackerStats", "Announcer", "tracker_service", "open_transport",
           "SCHEMES"]

Transport = Callable[[str, AnnounceRequest], Awaitable[AnnounceResponse]]
SCHEMES = ("http://", "https://", "udp://")


@dataclass
class AnnounceSettings:
    numwant: int = 50
    http_timeout: float = 10.0
    udp_timeout: float = 3.0  # BEP 15 says 15 s; on a LAN 3 s is plenty and a dead tracker costs less
    udp_attempts: int = 3  # 3 + 6 + 12 s before a UDP tracker counts as failed
    retry_first: float = 15.0  # after a round in which every tracker failed
    retry_cap: float = 1800.0
    interval_floor: float = 10.0  # a tracker asking for less is not obeyed (it would make us flood it)
    interval_cap: float = 6 * 3600.0
    stop_timeout: float = 3.0


class TrackerTiers:
    """The BEP 12 order of a torrent's trackers. Unsupported schemes and duplicates are dropped."""

    def __init__(self, tiers: Sequence[Sequence[str]], rng: random.Random):
        seen: set[str] = set()
        self.tiers: list[list[str]] = []
        for tier in tiers:
            urls = [u for u in tier if u.lower().startswith(SCHEMES) and not (u in seen or seen.add(u))]
            if urls:
                rng.shuffle(urls)
                self.tiers.append(urls)

    def __bool__(self) -> bool:
        return bool(self.tiers)

    def in_order(self) -> list[tuple[int, str]]:
        return [(i, url) for i, tier in enumerate(self.tiers) for url in tier]

    def promote(self, tier: int, url: str) -> None:
        urls = self.tiers[tier]
        urls.remove(url)
        urls.insert(0, url)


@dataclass
class TrackerStats:
    """What one tracker last said, for status views (times on trio's clock; None: never)."""

    url: str
    tier: int
    last_announce: float | None = None
    succeeded: bool = False
    result: str = ""  # "Success" or why it failed
    seeders: int | None = None
    leechers: int | None = None
    peers: int = 0  # addresses in the last reply
    next_announce: float | None = None
    announcing: bool = False


class Announcer:
    """One torrent's announce loop. `transport(url, request)` does one announce or raises TrackerError."""

    def __init__(self, tiers: TrackerTiers, client, torrent, transport: Transport, settings: AnnounceSettings):
        self.tiers = tiers
        self.client = client
        self.torrent = torrent
        self.transport = transport
        self.settings = settings
        self.key = client.rng.getrandbits(32)
        self.tracker_ids: dict[str, bytes] = {}
        self.current: str | None = None  # the tracker that answered last
        self.stats = {url: TrackerStats(url, tier) for tier, url in tiers.in_order()}
        self._reannounce = trio.Event()

    def reannounce(self) -> None:
        """Announce now rather than at the next interval (a user's "ask for more peers")."""
        self._reannounce.set()

    def request(self, event: str) -> AnnounceRequest:
        torrent = self.torrent
        return AnnounceRequest(
            info_hash=torrent.info.info_hash,
            peer_id=self.client.peer_id,
            port=self.client.announce_port,
            uploaded=torrent.uploaded,
            downloaded=torrent.downloaded,
            left=max(0, torrent.info.total_length - torrent.done_bytes),
            event=event,
            numwant=0 if event == "stopped" else self.settings.numwant,
            key=self.key,
        )

    async def _announce_other_swarms(self, url: str, request: AnnounceRequest, event: str) -> None:
        """The same announce for a hybrid's v2 swarm; its failures only cost those peers."""
        swarms = getattr(self.torrent.info, "swarm_hashes", ())  # a magnet's stand-in has none
        for info_hash in swarms[1:]:
            try:
                reply = await self.transport(url, replace(request, info_hash=info_hash))
            except TrackerError:
                continue
            if reply.peers and event != "stopped":
                self.torrent.add_peers(reply.peers)

    async def announce_to(self, url: str, event: str) -> AnnounceResponse:
        """One announce to one tracker; peers go to the torrent, the outcome to the event bus."""
        request = self.request(event)
        tracker_id = self.tracker_ids.get(url)
        if tracker_id is not None:
            request = replace(request, tracker_id=tracker_id)
        events = self.torrent.events
        stats = self.stats.get(url) or self.stats.setdefault(url, TrackerStats(url, 0))
        stats.announcing = True
        try:
            reply = await self.transport(url, request)
        except TrackerError as exc:
            stats.last_announce, stats.succeeded, stats.result = trio.current_time(), False, str(exc)
            events.publish(ev.TrackerFailed(trio.current_time(), url, str(exc)))
            raise
        finally:
            stats.announcing = False
        stats.last_announce, stats.succeeded, stats.result = trio.current_time(), True, "Success"
        stats.seeders, stats.leechers, stats.peers = reply.complete, reply.incomplete, len(reply.peers)
        if reply.tracker_id is not None:
            self.tracker_ids[url] = reply.tracker_id
        if reply.warning:
            events.publish(ev.Warning(trio.current_time(), f"tracker {url}: {reply.warning}"))
        if reply.peers and event != "stopped":
            self.torrent.add_peers(reply.peers)
        await self._announce_other_swarms(url, request, event)
        events.publish(
            ev.TrackerReply(
                trio.current_time(), url, len(reply.peers), reply.complete, reply.incomplete, reply.interval
            )
        )
        return reply

    async def announce_round(self, event: str) -> AnnounceResponse | None:
        """BEP 12: the first tracker in tier order that answers; None when none did."""
        for tier, url in self.tiers.in_order():
            try:
                reply = await self.announce_to(url, event)
            except TrackerError:
                continue
            self.tiers.promote(tier, url)
            self.current = url
            return reply
        return None

    def next_wait(self, reply: AnnounceResponse) -> float:
        s = self.settings
        wait = min(max(float(reply.interval), s.interval_floor), s.interval_cap)
        if reply.min_interval is not None:
            wait = max(wait, min(float(reply.min_interval), s.interval_cap))
        return wait

    async def _next_news(self, wait: float, watch_completion: bool) -> str:
        """Wait until the next announce is due ("timer", after `wait` seconds), the download
        completes ("completed", if `watch_completion`), our announce port changes ("port") or
        the user asks for an announce ("reannounce")."""
        news = "timer"
        async with trio.open_nursery() as nursery:

            async def on(name: str, happens: Callable[[], Awaitable[object]]) -> None:
                nonlocal news
                await happens()
                news = name
                nursery.cancel_scope.cancel()

            if watch_completion:
                nursery.start_soon(on, "completed", self.torrent.completed.wait)
            nursery.start_soon(on, "port", self.client.announce_port_changed)
            nursery.start_soon(on, "reannounce", self._reannounce.wait)
            nursery.start_soon(on, "timer", partial(trio.sleep, wait))
        return news

    async def run(self) -> None:
        """Announce until cancelled, then say `stopped` to the tracker that answered last."""
        watch_completion = not self.torrent.completed.is_set()
        event = "started"
        failures = 0
        try:
            while True:
                reply = await self.announce_round(event)
                if reply is not None:
                    failures, event = 0, ""
                    wait = self.next_wait(reply)
                else:
                    failures += 1
                    wait = min(self.settings.retry_cap, self.settings.retry_first * 2 ** (failures - 1))
                if self.current is not None:
                    self.stats[self.current].next_announce = trio.current_time() + wait
                news = await self._next_news(wait, watch_completion)
                if news == "completed":
                    watch_completion = False
                    if event == "":  # `started` was heard: tell the tracker we finished
                        event = "completed"
                # On "port" (a NAT mapping came or went) announce now: the tracker hands out the
                # port it heard last, and only the mapped one is reachable from outside.
                if news == "reannounce":
                    self._reannounce = trio.Event()
        finally:
            if self.current is not None:
                with trio.CancelScope(shield=True), trio.move_on_after(self.settings.stop_timeout):
                    try:
                        await self.announce_to(self.current, "stopped")
                    except TrackerError:
                        pass


@asynccontextmanager
async def open_transport(rng: random.Random, settings: AnnounceSettings) -> AsyncIterator[Transport]:
    """The real transport: HTTP(S) through httpx, UDP through UdpTrackerClient."""
    from torrentish.services.tracker.http_client import http_announce, open_http_client
    from torrentish.services.tracker.udp_client import UdpTrackerClient

    udp = UdpTrackerClient(rng, timeout=settings.udp_timeout, attempts=settings.udp_attempts)
    async with open_http_client(settings.http_timeout) as http:

        async def transport(url: str, request: AnnounceRequest) -> AnnounceResponse:
            if url.lower().startswith("udp://"):
                return await udp.announce(url, request)
            return await http_announce(http, url, request)

        yield transport


def tracker_service(
    tiers: Sequence[Sequence[str]],
    settings: AnnounceSettings | None = None,
    transport: Transport | None = None,
):
    """A transfer service announcing to these tracker tiers (a .torrent's `trackers()`)."""
    settings = settings or AnnounceSettings()

    async def service(client, torrent) -> None:
        rng = random.Random(client.rng.getrandbits(64))
        ordered = TrackerTiers(tiers, rng)
        if not ordered:
            return
        if transport is not None:
            await Announcer(ordered, client, torrent, transport, settings).run()
            return
        async with open_transport(rng, settings) as real:
            await Announcer(ordered, client, torrent, real, settings).run()

    return service
