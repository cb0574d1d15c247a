"""`torrentish remote ...`: drive a torrentish daemon or a transmission-daemon over its RPC.

    torrentish remote [--url URL] [--auth USER:PASSWORD] COMMAND ...

Commands: add, list, show, start, stop, verify, remove, limits (docs/remote.md). --url and --auth
default to the config file's remote_url / remote_auth or TORRENTISH_REMOTE_URL /
TORRENTISH_REMOTE_AUTH (cli/defaults.py). Each command asks the daemon through
torrentish/rpc/client.py and prints through torrentish/ui/remote.py: tables on a terminal, plain
aligned lines when piped, one JSON document with --json. A torrent named by an id or hash the
daemon does not have is an error before anything is done (Transmission itself ignores those).
"""

import re
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer

from torrentish.cli.app import app
from torrentish.cli.errors import handle_errors
from torrentish.errors import TorrentishError

remote_app = typer.Typer(
    name="remote",
    help="Control a torrentish daemon or a transmission-daemon over its RPC.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(remote_app, name="remote")

AsJson = Annotated[bool, typer.Option("--json", metavar="", help="Print one JSON document (docs/remote.md).")]
Ids = Annotated[
    list[str],
    typer.Argument(metavar="ID", show_default=False,
                   help="Torrent ids (3, 1,4, 2-5), info hashes, or `all`."),
]
Verbose = Annotated[int, typer.Option("-v", "--verbose", count=True, show_default=False, metavar="",
                                      help="Tracebacks on errors.")]
MAX_IDS = 100_000


class Target:
    """Where the daemon is, from the group's options (typer hands it on as ctx.obj)."""

    def __init__(self, url: str, auth: Optional[str], timeout: float):
        self.url, self.auth, self.timeout = url, auth, timeout

    def run(self, work: Callable[[Any], Any]) -> Any:
        """`await work(client)` with a connected client that has read the session's settings."""
        import trio

        from torrentish.rpc.client import RpcClient, parse_auth

        auth = parse_auth(self.auth) if self.auth else None

        async def main():
            async with RpcClient(self.url, auth, timeout=self.timeout) as client:
                await client.session()
                return await work(client)

        return trio.run(main)


@remote_app.callback()
def remote(
    ctx: typer.Context,
    url: Annotated[str, typer.Option(
        "--url", metavar="URL",
        help="The daemon's RPC: http://HOST:9091/transmission/rpc (HOST:PORT is enough).")
    ] = "http://127.0.0.1:9091/transmission/rpc",
    auth: Annotated[Optional[str], typer.Option(
        "--auth", metavar="USER:PASSWORD", show_default=False,
        help="HTTP Basic credentials, if the daemon asks for them.")
    ] = None,
    timeout: Annotated[float, typer.Option(min=0.1, metavar="SECONDS", help="Give up on an answer after this long.")] = 30.0,
) -> None:
    """Control a torrentish daemon or a transmission-daemon over its RPC.

    Both speak Transmission's RPC, so this works with either, on this machine or another.
    """
    ctx.obj = Target(url, auth, timeout)


def parse_ids(texts: list[str]) -> list[int | str] | None:
    """IDS arguments: None for `all`, else ids and lower-case info hashes in the order given."""
    if texts == ["all"]:
        return None
    ids: list[int | str] = []
    for text in (part for argument in texts for part in argument.split(",") if part):
        if re.fullmatch(r"[0-9a-fA-F]{40}", text):
            ids.append(text.lower())
        elif re.fullmatch(r"\d{1,9}", text):
            ids.append(int(text))
        elif match := re.fullmatch(r"(\d{1,9})-(\d{1,9})", text):
            first, last = int(match[1]), int(match[2])
            if last < first or last - first >= MAX_IDS:
                raise typer.BadParameter(f"{text!r} is not a range of ids")
            ids.extend(range(first, last + 1))
        else:
            raise typer.BadParameter(f"{text!r} is not a torrent id, range or info hash (or `all`)")
        if len(ids) > MAX_IDS:
            raise typer.BadParameter(f"more than {MAX_IDS} ids")
    if not ids:
        raise typer.BadParameter("name the torrents: ids, info hashes or `all`")
    return list(dict.fromkeys(ids))


async def _named(client, ids: list[int | str] | None, fields=("id", "name", "hashString")) -> list[dict]:
    """The torrents `ids` name (every torrent for None); an error if one is not there."""
    torrents = await client.torrents(list(fields), ids)
    if ids is not None:
        found = {t.get("id") for t in torrents} | {str(t.get("hashString", "")).lower() for t in torrents}
        missing = [str(i) for i in ids if i not in found]
        if missing:
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            raise TorrentishError(f"the daemon has no torrent {', '.join(missing[:5])}{more}")
    return torrents


def _output(as_json: bool):
    import sys

    from torrentish.ui.remote import RemoteOutput

    return RemoteOutput(as_json=as_json, stdout=sys.stdout)


def _names(torrents: list[dict]) -> str:
    from torrentish.ui.remote import one_line

    return "; ".join(f"{t.get('id')} {one_line(t.get('name'))}" for t in torrents)


# -- add ---------------------------------------------------------------------------------------


def _add_arguments(source: str) -> dict[str, Any]:
    """torrent-add's filename or metainfo for a .torrent path, magnet link or http(s) URL."""
    import base64

    if source.startswith("magnet:"):
        from torrentish.formats.magnet import parse_magnet

        parse_magnet(source)  # a bad link is our one-line error, not the daemon's
        return {"filename": source}
    if re.match(r"https?://", source, re.IGNORECASE):
        return {"filename": source}  # the daemon fetches it
    from torrentish.formats.metainfo import load_torrent

    path = Path(source).expanduser()
    load_torrent(path)  # checks it is a torrent, within the size limit
    return {"metainfo": base64.b64encode(path.read_bytes()).decode("ascii")}


@remote_app.command()
@handle_errors
def add(
    ctx: typer.Context,
    sources: Annotated[list[str], typer.Argument(
        metavar="TORRENT|MAGNET|URL...", show_default=False,
        help="A .torrent file, a magnet link or the URL of a .torrent (the daemon fetches it).")],
    download_dir: Annotated[Optional[str], typer.Option(
        "--download-dir", "-d", metavar="DIR", show_default=False,
        help="Where the daemon puts the data: an absolute path on its machine (default: its own).")] = None,
    paused: Annotated[bool, typer.Option("--paused", metavar="", help="Add without starting.")] = False,
    as_json: AsJson = False,
    verbose: Verbose = 0,
) -> None:
    """Add torrents.

    [bold]Examples[/bold]

      torrentish remote add film.torrent

      torrentish remote add "magnet:?xt=urn:btih:..." -d /srv/downloads --paused
    """
    from torrentish.rpc.replies import added_torrent
    from torrentish.ui.remote import json_record, one_line

    if download_dir is not None and not download_dir.startswith("/"):
        raise typer.BadParameter("an absolute path on the daemon's machine", param_hint="'--download-dir'")
    requests = []
    for source in sources:
        arguments = _add_arguments(source)
        if download_dir is not None:
            arguments["download-dir"] = download_dir
        if paused:
            arguments["paused"] = True
        requests.append(arguments)

    async def work(client):
        return [added_torrent(await client.call("torrent-add", arguments)) for arguments in requests]

    results = ctx.obj.run(work)
    output = _output(as_json)
    if output.mode == "json":
        output.json([{"added": new, **json_record(torrent)} for new, torrent in results])
        return
    for new, torrent in results:
        what = "added" if new else "already there:"
        output.say(f"{what} {torrent.get('id')} {one_line(torrent.get('name'))} ({torrent.get('hashString')})")


# -- list, show --------------------------------------------------------------------------------


@remote_app.command("list")
@handle_errors
def list_(ctx: typer.Context, as_json: AsJson = False, verbose: Verbose = 0) -> None:
    """List the daemon's torrents: progress, rates, ratio, state."""
    from torrentish.ui.remote import LIST_FIELDS, LIST_HEADER, LIST_RIGHT, json_record, list_rows, totals_line

    torrents = ctx.obj.run(lambda client: client.torrents(LIST_FIELDS))
    torrents.sort(key=lambda t: t.get("id") if isinstance(t.get("id"), int) else 0)
    output = _output(as_json)
    if output.mode == "json":
        output.json(json_record(torrents))
    else:
        output.table(None, LIST_HEADER, list_rows(torrents), LIST_RIGHT, footer=totals_line(torrents))


@remote_app.command()
@handle_errors
def show(
    ctx: typer.Context,
    torrent: Annotated[str, typer.Argument(metavar="ID", help="A torrent id or info hash.", show_default=False)],
    as_json: AsJson = False,
    verbose: Verbose = 0,
) -> None:
    """Show one torrent: its state, sizes, files, peers and trackers."""
    from torrentish.ui import remote as view

    ids = parse_ids([torrent])
    if ids is None or len(ids) != 1:
        raise typer.BadParameter("one torrent id or info hash")

    async def work(client):
        found = await _named(client, ids, view.SHOW_FIELDS)
        return found[0], client.speed_bytes

    found, speed_bytes = ctx.obj.run(work)
    output = _output(as_json)
    if output.mode == "json":
        output.json(view.json_record(found))
        return
    output.facts(view.facts(found, speed_bytes))
    for title, header, rows, right in (
        ("Files", view.FILE_HEADER, view.file_rows(found), {0, 1, 2}),
        ("Peers", view.PEER_HEADER, view.peer_rows(found), {3, 4, 5}),
        ("Trackers", view.TRACKER_HEADER, view.tracker_rows(found), {0, 3, 4}),
    ):
        output.say("")
        if rows:
            output.table(title, header, rows, right)
        else:
            output.say(f"{title}: none")


# -- start, stop, verify, remove ---------------------------------------------------------------


def _act(ctx: typer.Context, method: str, ids: list[str], done: str, as_json: bool,
         extra: dict[str, Any] | None = None) -> None:
    from torrentish.ui.remote import json_record

    wanted = parse_ids(ids)

    async def work(client):
        torrents = await _named(client, wanted)
        if torrents:
            await client.call(method, {"ids": [t["id"] for t in torrents], **(extra or {})})
        return torrents

    torrents = ctx.obj.run(work)
    output = _output(as_json)
    if output.mode == "json":
        output.json({"done": done, "torrents": json_record(torrents)})
    elif torrents:
        output.say(f"{done} {len(torrents)}: {_names(torrents)}")
    else:
        output.say("the daemon has no torrents")


@remote_app.command()
@handle_errors
def start(
    ctx: typer.Context,
    ids: Ids,
    now: Annotated[bool, typer.Option("--now", metavar="", help="Start at once, ahead of the queue.")] = False,
    as_json: AsJson = False,
    verbose: Verbose = 0,
) -> None:
    """Start torrents (they queue if the daemon runs its maximum already, unless --now)."""
    _act(ctx, "torrent-start-now" if now else "torrent-start", ids, "started", as_json)


@remote_app.command()
@handle_errors
def stop(ctx: typer.Context, ids: Ids, as_json: AsJson = False, verbose: Verbose = 0) -> None:
    """Stop torrents."""
    _act(ctx, "torrent-stop", ids, "stopped", as_json)


@remote_app.command()
@handle_errors
def verify(ctx: typer.Context, ids: Ids, as_json: AsJson = False, verbose: Verbose = 0) -> None:
    """Check torrents' data on the daemon's disk again."""
    _act(ctx, "torrent-verify", ids, "verifying", as_json)


@remote_app.command()
@handle_errors
def remove(
    ctx: typer.Context,
    ids: Ids,
    delete: Annotated[bool, typer.Option("--delete", metavar="", help="Also delete the downloaded data.")] = False,
    as_json: AsJson = False,
    verbose: Verbose = 0,
) -> None:
    """Remove torrents from the daemon (the data stays unless --delete)."""
    _act(ctx, "torrent-remove", ids, "removed and deleted" if delete else "removed", as_json,
         {"delete-local-data": delete})


# -- limits ------------------------------------------------------------------------------------


def _kilo(text: str, option: str, speed_bytes: int) -> tuple[bool, int]:
    """(limited, limit in the daemon's K units) for a RATE; 0 / none / unlimited: no limit."""
    from torrentish.cli.app import parse_rate_option

    rate = parse_rate_option(text, option)
    return (False, 0) if rate == 0 else (True, min(2**31 - 1, max(1, round(rate / speed_bytes))))


@remote_app.command()
@handle_errors
def limits(
    ctx: typer.Context,
    ids: Annotated[Optional[list[str]], typer.Argument(
        metavar="ID", show_default=False, help="Torrents to limit (default: the daemon's own limits).")] = None,
    up: Annotated[Optional[str], typer.Option("--up", metavar="RATE", show_default=False,
                                              help="Upload limit, e.g. 1MiB/s (0 = none).")] = None,
    down: Annotated[Optional[str], typer.Option("--down", metavar="RATE", show_default=False,
                                                help="Download limit, e.g. 10MiB/s (0 = none).")] = None,
    as_json: AsJson = False,
    verbose: Verbose = 0,
) -> None:
    """Show or set speed limits: the daemon's, or some torrents' own.

    [bold]Examples[/bold]

      torrentish remote limits

      torrentish remote limits --down 5MiB/s --up 1MiB/s

      torrentish remote limits 3 4 --up 0
    """
    from torrentish.ui.remote import limits_line, session_limits, torrent_limits

    wanted = parse_ids(ids) if ids else None
    per_torrent = bool(ids)

    async def work(client):
        k = client.speed_bytes
        if not per_torrent:
            changes = {}
            for value, option, key in ((up, "--up", "speed-limit-up"), (down, "--down", "speed-limit-down")):
                if value is not None:
                    changes[f"{key}-enabled"], changes[key] = _kilo(value, option, k)
            if changes:
                await client.call("session-set", changes)
            return [await client.session()], k
        fields = ("id", "name", "hashString", "uploadLimit", "uploadLimited", "downloadLimit",
                  "downloadLimited", "honorsSessionLimits")
        torrents = await _named(client, wanted, fields)
        changes = {}
        for value, option, key in ((up, "--up", "uploadLimit"), (down, "--down", "downloadLimit")):
            if value is not None:
                changes[key.replace("Limit", "Limited")], changes[key] = _kilo(value, option, k)
        if changes and torrents:
            await client.call("torrent-set", {"ids": [t["id"] for t in torrents], **changes})
            torrents = await _named(client, [t["id"] for t in torrents], fields)
        return torrents, k

    found, k = ctx.obj.run(work)
    records = [session_limits(found[0], k)] if not per_torrent else [torrent_limits(t, k) for t in found]
    output = _output(as_json)
    if output.mode == "json":
        output.json(records if per_torrent else records[0])
        return
    for record in records:
        output.say(("" if per_torrent else "daemon: ") + limits_line(record))
