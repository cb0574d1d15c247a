"""The commands on torrent files and data: `create`, `info` and `verify`. Registered in cli.py."""

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from torrentish.cli.app import Quiet, Verbose, app
from torrentish.cli.errors import handle_errors, print_warning


# -- argument parsers (ValueError -> usage error, exit 2) ------------------------------------------


def _piece_length(text: str, version: str = "v1") -> int | None:
    from torrentish.app.create import check_piece_length
    from torrentish.formats.units import parse_size

    if text.strip().lower() == "auto":
        return None
    try:
        return check_piece_length(parse_size(text), version)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None


def _url(text: str) -> str:
    if "://" not in text or text.startswith("://"):
        raise typer.BadParameter(f"not a URL: {text!r}")
    return text


# -- create ---------------------------------------------------------------------------------------


@app.command()
@handle_errors
def create(
    path: Annotated[Path, typer.Argument(metavar="PATH", help="The file or directory to share.", show_default=False)],
    output: Annotated[
        Optional[Path],
        typer.Option("-o", "--output", metavar="FILE", show_default=False,
                     help="Where to write the .torrent (default: ./NAME.torrent)."),
    ] = None,
    piece_length: Annotated[
        Optional[str], typer.Option("--piece-length", metavar="SIZE", help="auto, or a power of two such as 256KiB or 1MiB.")
    ] = "auto",
    tracker: Annotated[
        list[str], typer.Option("--tracker", "-t", metavar="URL", show_default=False, help="Tracker URL (repeat for more).")
    ] = [],  # noqa: B006 - typer copies the default
    web_seed: Annotated[
        list[str], typer.Option("--web-seed", "-w", metavar="URL", show_default=False, help="Web seed URL (repeat for more).")
    ] = [],  # noqa: B006
    private: Annotated[
        bool, typer.Option("--private", metavar="", help="Mark private: peers only from trackers.")
    ] = False,
    comment: Annotated[
        Optional[str], typer.Option("--comment", metavar="TEXT", show_default=False, help="A comment stored in the torrent.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", "-f", metavar="", help="Overwrite OUTPUT if it exists.")] = False,
    v1: Annotated[bool, typer.Option("--v1", help="A v1 torrent (BEP 3, SHA-1) only.")] = False,
    v2: Annotated[bool, typer.Option("--v2", help="A v2 torrent (BEP 52, SHA-256 merkle trees) only.")] = False,
    hybrid: Annotated[bool, typer.Option("--hybrid", help="Both v1 and v2 in one torrent (the default).")] = False,
    quiet: Quiet = False,
    verbose: Verbose = 0,
) -> None:
    """Make a .torrent of a file or a directory (hybrid v1+v2 unless --v1 or --v2).

    [bold]Examples[/bold]

      torrentish create ~/Videos/film.mkv

      torrentish create ~/Music/album -t http://tracker.example/announce

      torrentish create photos/ -o photos.torrent --piece-length 1MiB --private

      torrentish create film.mkv --v1
    """
    from torrentish.app.create import create_torrent, scan_source
    from torrentish.errors import StorageError
    from torrentish.formats.metainfo import parse_torrent
    from torrentish.formats.units import format_size

    if v1 + v2 + hybrid > 1:
        raise typer.BadParameter("choose one of --v1, --v2 and --hybrid")
    from torrentish.app.create import DEFAULT_VERSION

    version = "v1" if v1 else "v2" if v2 else "hybrid" if hybrid else DEFAULT_VERSION
    length = _piece_length(piece_length or "auto", version)
    trackers = [_url(url) for url in tracker]
    web_seeds = [_url(url) for url in web_seed]
    name = scan_source(path).name  # fails fast on a bad path, before anything is written
    out = output if output is not None else Path.cwd() / f"{name}.torrent"
    if out.exists() and not force:
        raise StorageError(f"{out} already exists (use --force to overwrite it)")
    if not out.parent.is_dir():
        raise StorageError(f"{out.parent} is not a directory")
    with hashing_progress(f"hashing {name}", quiet) as progress:
        data = create_torrent(
            path,
            piece_length=length,
            trackers=trackers,
            web_seeds=web_seeds,
            private=private,
            comment=comment,
            creation_date=int(time.time()),
            progress=progress,
            on_skip=lambda skipped, why: print_warning(f"skipped {skipped}: {why}"),
            version=version,
        )
    _write_new_file(out, data, force)
    if quiet:
        return
    meta = parse_torrent(data)
    info = meta.info
    files = f"{len(info.files)} files" if info.multi_file else "1 file"
    typer.echo(f"created    {out}")
    typer.echo(f"name       {info.name}")
    typer.echo(f"size       {format_size(info.total_length)} in {files}, "
               f"{info.num_pieces} pieces of {format_size(info.piece_length)}")
    typer.echo(f"kind       {info.kind}")
    if info.has_v1:
        typer.echo(f"info hash  {info.info_hash.hex()}")
    if info.has_v2:
        typer.echo(f"v2 hash    {info.info_hash_v2.hex()}")
    trackers_flat = [url for tier in meta.trackers() for url in tier]
    typer.echo("magnet     " + _magnet(info, trackers_flat, meta.url_list))


def _magnet(info, trackers: list[str], web_seeds) -> str:
    """The magnet link of info: btih for v1 and hybrid, btmh for v2 and hybrid."""
    from torrentish.formats.magnet import make_magnet

    return make_magnet(info.info_hash if info.has_v1 else None, info.name, trackers, web_seeds=web_seeds,
                       info_hash_v2=info.info_hash_v2)


def _write_new_file(out: Path, data: bytes, force: bool) -> None:
    """Write ``out`` whole or not at all (a temporary file renamed into place)."""
    import os
    import tempfile

    from torrentish.errors import StorageError

    try:
        fd, temporary = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            if out.exists() and not force:
                raise StorageError(f"{out} already exists (use --force to overwrite it)")
            os.replace(temporary, out)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as error:
        raise StorageError(f"cannot write {out}: {error.strerror or error}") from None


# -- info -----------------------------------------------------------------------------------------


@app.command()
@handle_errors
def info(
    source: Annotated[
        str, typer.Argument(help="A .torrent file or a magnet link.", metavar="TORRENT|MAGNET")
    ],
    as_json: Annotated[bool, typer.Option("--json", metavar="", help="Print JSON.")] = False,
    fetch: Annotated[
        bool, typer.Option("--fetch", help="For a magnet link: get the metadata from peers and show the torrent.")
    ] = False,
    peer: Annotated[
        Optional[list[str]],
        typer.Option("--peer", metavar="HOST:PORT", show_default=False, help="With --fetch: ask this peer too."),
    ] = None,
    dht: Annotated[bool, typer.Option("--dht/--no-dht", help="With --fetch: find peers through the DHT.")] = True,
    dht_bootstrap: Annotated[
        Optional[list[str]],
        typer.Option("--dht-bootstrap", metavar="HOST:PORT", show_default=False,
                     help="With --fetch: join the DHT through this node instead of the public routers."),
    ] = None,
    timeout: Annotated[float, typer.Option(metavar="SECONDS", help="With --fetch: give up after this long.")] = 60.0,
    verbose: Verbose = 0,
) -> None:
    """Show what a torrent file or a magnet link contains.

    For a magnet link, --fetch gets the metadata from peers and shows the whole torrent.

    [bold]Examples[/bold]

      torrentish info film.torrent

      torrentish info film.torrent --json

      torrentish info "magnet:?xt=urn:btih:..." --fetch
    """
    if source.startswith("magnet:"):
        from torrentish.formats.magnet import parse_magnet

        magnet = parse_magnet(source)
        described = _describe_magnet(magnet)
        if fetch:  # BEP 9: the info dictionary from peers (torrentish/app/trackerless.py)
            from torrentish.cli.app import parse_peer
            from torrentish.app.trackerless import fetch_metainfo_sync

            described = _describe_torrent(fetch_metainfo_sync(
                magnet, peers=[parse_peer(p) for p in peer or []], dht=dht, dht_bootstrap=dht_bootstrap or (),
                timeout=timeout))
    else:
        from torrentish.formats.metainfo import load_torrent

        described = _describe_torrent(load_torrent(source))
    if as_json:
        import json

        typer.echo(json.dumps(described, indent=2, ensure_ascii=False))
    else:
        _print_description(described)


def _describe_torrent(meta) -> dict[str, Any]:
    info = meta.info
    trackers = [list(tier) for tier in meta.trackers()]
    return {
        "kind": "torrent",
        "name": info.name,
        # The torrent's 20-byte id (v1 hash, or the truncated v2 hash of a v2-only torrent): what
        # RPC, state files and trackers know it by.
        "info_hash": info.info_hash.hex(),
        "info_hash_v2": info.info_hash_v2.hex() if info.has_v2 else None,
        "meta_version": 2 if info.has_v2 else 1,
        "torrent_kind": info.kind,
        "total_length": info.total_length,
        "piece_length": info.piece_length,
        "num_pieces": info.num_pieces,
        "private": info.private,
        "multi_file": info.multi_file,
        "files": [{"path": "/".join(f.path), "length": f.length, "padding": f.padding} for f in info.files],
        "trackers": trackers,
        "web_seeds": list(meta.url_list),
        "comment": meta.comment,
        "created_by": meta.created_by,
        "creation_date": meta.creation_date,
        "magnet": _magnet(info, [t for tier in trackers for t in tier], meta.url_list),
    }


def _describe_magnet(magnet) -> dict[str, Any]:
    return {
        "kind": "magnet",
        "name": magnet.display_name,
        "info_hash": magnet.info_hash.hex(),
        "info_hash_v2": magnet.info_hash_v2.hex() if magnet.info_hash_v2 else None,
        "total_length": magnet.exact_length,
        "trackers": [[t] for t in magnet.trackers],
        "web_seeds": list(magnet.web_seeds),
        "peers": [f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in magnet.peers],
        "select_only": None if magnet.select_only is None else list(magnet.select_only),
    }


def _print_description(d: dict[str, Any]) -> None:
    from torrentish.formats.units import format_size

    def line(label: str, value: object) -> None:
        typer.echo(f"{label:<13}{value}")

    line("name", d["name"] if d["name"] is not None else "(not given)")
    if d["info_hash"] and d.get("torrent_kind") != "v2":  # a v2 torrent's id is its v2 hash, cut
        line("info hash", d["info_hash"])
    if d.get("info_hash_v2"):
        line("v2 hash", d["info_hash_v2"])
    if d.get("torrent_kind"):
        line("kind", d["torrent_kind"])
    if d["total_length"] is not None:
        line("size", f"{format_size(d['total_length'])} ({d['total_length']} bytes)")
    if d["kind"] == "torrent":
        line("pieces", f"{d['num_pieces']} of {format_size(d['piece_length'])}")
        line("private", "yes" if d["private"] else "no")
        for key in ("comment", "created_by"):
            if d[key]:
                line(key.replace("_", " "), d[key])
        if d["creation_date"] is not None:
            line("created", time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(d["creation_date"])))
    else:
        typer.echo("(a magnet link: files and pieces come from peers)")
    for number, tier in enumerate(d["trackers"]):
        tier_note = f"  (tier {number})" if len(d["trackers"]) > 1 else ""
        line("tracker" if number == 0 else "", " ".join(tier) + tier_note)
    for url in d["web_seeds"]:
        line("web seed", url)
    for peer in d.get("peers", ()):
        line("peer", peer)
    if d.get("select_only") is not None:
        line("files wanted", ", ".join(str(i) for i in d["select_only"]))
    if d["kind"] == "torrent":
        typer.echo(f"files ({len(d['files'])}):")
        for f in d["files"]:
            padding = "  (padding)" if f["padding"] else ""
            typer.echo(f"  {format_size(f['length']):>10}  {f['path']}{padding}")
        line("magnet", d["magnet"])


# -- verify ---------------------------------------------------------------------------------------


@app.command()
@handle_errors
def verify(
    torrent: Annotated[Path, typer.Argument(metavar="TORRENT", help="The .torrent file.", show_default=False)],
    data: Annotated[
        Optional[Path],
        typer.Option(
            "--data", "-d", metavar="PATH", show_default=False,
            help="The content, or the directory holding it (default: the current directory)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", metavar="", help="Print JSON.")] = False,
    quiet: Quiet = False,
    verbose: Verbose = 0,
) -> None:
    """Check data on disk against a torrent: exit 0 if complete, 1 if not.

    [bold]Examples[/bold]

      torrentish verify film.torrent --data ~/Videos

      torrentish verify album.torrent -d ~/Music/album --json

      torrentish verify film.torrent -q && echo complete
    """
    from torrentish.formats.metainfo import load_torrent
    from torrentish.storage.content import resolve_content_path
    from torrentish.app.verify import verify as verify_data

    meta = load_torrent(torrent)
    info = meta.info
    content = resolve_content_path(info, data)
    with hashing_progress(f"verifying {info.name}", quiet) as progress:
        result = verify_data(info, content, progress=progress, piece_layers=meta.piece_layers)
    if as_json:
        import json

        typer.echo(json.dumps({
            "name": info.name,
            "info_hash": info.info_hash.hex(),
            "info_hash_v2": info.info_hash_v2.hex() if info.has_v2 else None,
            "content_path": str(content),
            "complete": result.complete,
            "percent": result.percent,
            "total_pieces": result.total_pieces,
            "good_pieces": len(result.good),
            "bad_pieces": result.bad,
            "missing_files": result.missing_files,
        }, indent=2, ensure_ascii=False))
    elif not quiet:
        # Never print 100.0% for data that is not complete.
        percent = result.percent if not result.bad else min(result.percent, 99.9)
        state = "complete" if result.complete else "INCOMPLETE"
        typer.echo(f"{state}: {percent:.1f}% of {info.name} at {content} "
                   f"({len(result.good)} of {result.total_pieces} pieces good)")
        if result.bad:
            typer.echo(f"bad or missing pieces: {_ranges(result.bad)}")
        for name in result.missing_files:
            typer.echo(f"missing file: {name}")
    if not result.complete:
        raise typer.Exit(1)


def _ranges(indices: list[int]) -> str:
    """``[1, 2, 3, 7, 9, 10]`` -> ``"1-3, 7, 9-10"``."""
    parts = []
    start = previous = None
    for index in [*indices, None]:
        if start is not None and index == previous + 1:
            previous = index
            continue
        if start is not None:
            parts.append(str(start) if start == previous else f"{start}-{previous}")
        start = previous = index
    return ", ".join(parts)


@contextmanager
def hashing_progress(description: str, quiet: bool = False) -> Iterator[Callable[[int, int], None] | None]:
    """A rich progress bar on stderr when it is a terminal; None (no output) when piped or quiet."""
    if quiet or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(binary_units=True),
               TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(description, total=None)
        yield lambda done, total: progress.update(task, completed=done, total=total)


