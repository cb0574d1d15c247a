"""The transfer commands: `get`, `seed` and `demo`. Registered on the app when cli/main.py imports this module.

Each command parses its arguments, builds an `Output` (the live view, plain lines, JSON lines or
nothing: torrentish/ui/output.py) and calls one function of torrentish.app.transfer / demo under
`run_until_signal` (cli/signals.py), which turns SIGINT/SIGTERM into a clean stop (resume state saved, summary
printed) rather than an exception. A second Ctrl-C stops at once.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer

from torrentish.cli.app import (
    DEFAULT_PORT_MAPPING_PROTOCOLS,
    AsJson,
    Dht,
    DhtBootstrap,
    Encryption, Transport,
    LogFile,
    MaxUp,
    Peers,
    Port,
    PortMapping,
    PortMappingProtocols,
    Quiet,
    Verbose,
    app,
    engine_settings,
    parse_peer,
    parse_rate_option,
    port_mapping_services,
    port_mapping_settings,
)
from torrentish.cli.errors import describe_error, handle_errors, leaf
from torrentish.cli.signals import run_until_signal
from torrentish.cli.startup import startup_until_run
from torrentish.errors import TorrentishError

def _load(source: str):
    from torrentish.formats.metainfo import load_torrent

    if source.startswith("magnet:"):
        raise TorrentishError("seeding needs the .torrent file: a magnet link does not describe the data")
    return load_torrent(Path(source))


def _output(command: str, as_json: bool, quiet: bool, verbose: int, log_file: Path | None):
    from torrentish.ui.output import Output

    return Output(command=command, as_json=as_json, quiet=quiet, verbose=verbose, log_file=log_file)


@contextmanager
def _json_errors(output) -> Iterator[None]:
    """Under --json, an error that ends the command also ends the stream, as an error record."""

    try:
        yield
    except (typer.Exit, typer.TyperException):
        raise
    except BaseException as caught:
        code, message, _ = describe_error(leaf(caught))
        output.fail(message, code)
        raise


def _outcome(command: str, result, watch):
    """What the summary line and the JSON summary report, from the result and the view's ledger."""
    from torrentish.ui.summary import Outcome

    ledger = watch.ledger
    last = ledger.last
    if command == "seed":
        outcome = "seeded"
    else:
        outcome = "complete" if result.complete else "stopped"
    return Outcome(
        command=command,
        outcome=outcome,
        name=result.name,
        total=last.total if last is not None else result.total,
        done=last.done if last is not None else (result.total if result.complete else 0),
        downloaded=result.downloaded,
        uploaded=result.uploaded,
        elapsed=result.elapsed,
        download_time=ledger.completed_at,
        peers_used=ledger.peers_used,
        peers_served=ledger.peers_served,
        web_seeds_used=ledger.web_seeds_used,
    )


@app.command()
@handle_errors
@startup_until_run
def get(
    torrent: Annotated[
        str, typer.Argument(metavar="TORRENT|MAGNET", help="A .torrent file or a magnet link.", show_default=False)
    ],
    out: Annotated[
        Path, typer.Option("-o", "--out", metavar="DIR", help="Download directory; the data goes to DIR/<name>.")
    ] = Path("."),
    peer: Peers = None,
    port: Port = 0,
    seed: Annotated[bool, typer.Option("--seed", metavar="", help="Keep seeding after the download completes.")] = False,
    max_up: MaxUp = None,
    max_down: Annotated[
        Optional[str], typer.Option(metavar="RATE", help="Download limit, e.g. 10MiB/s (0 = none).")
    ] = None,
    sequential: Annotated[
        bool, typer.Option("--sequential", metavar="", help="Fetch pieces in order (for streaming).")
    ] = False,
    only: Annotated[
        Optional[list[str]],
        typer.Option("--only", metavar="FILE", show_default=False,
                     help="Download only this file (its path in the torrent); repeat for more."),
    ] = None,
    dht: Dht = None,
    dht_bootstrap: DhtBootstrap = None,
    lsd: Annotated[bool, typer.Option("--lsd/--no-lsd", help="Find peers on the LAN (Local Service Discovery).")] = True,
    port_mapping: PortMapping = True,
    port_mapping_protocols: PortMappingProtocols = DEFAULT_PORT_MAPPING_PROTOCOLS,
    save_torrent: Annotated[
        Optional[Path], typer.Option(metavar="FILE", show_default=False,
                                     help="For a magnet link: also save the .torrent once the metadata arrives."),
    ] = None,
    encryption: Encryption = "prefer",
    transport: Transport = "both",
    as_json: AsJson = False,
    quiet: Quiet = False,
    verbose: Verbose = 0,
    log_file: LogFile = None,
) -> None:
    """Download a torrent; exit 0 once every piece is verified.

    The data goes to DIR/NAME. On a terminal you see a live view; piped, a status line every few seconds; with --json,
    one JSON object per event. Ctrl-C stops cleanly and saves progress: run the same command
    again to resume (exit status 130).

    [bold]Examples[/bold]

      torrentish get film.torrent -o ~/Downloads --peer 192.168.1.20:6881

      torrentish get film.torrent --max-down 5MiB/s --max-up 1MiB/s --seed

      torrentish get album.torrent --only "album/02.flac" --json > log.jsonl
    """
    peers = [parse_peer(p) for p in peer or []]
    up, down = parse_rate_option(max_up, "--max-up"), parse_rate_option(max_down, "--max-down")
    mapping = port_mapping_settings(port_mapping, port_mapping_protocols)
    settings = engine_settings(encryption, transport)
    output = _output("get", as_json, quiet, verbose, log_file)
    with _json_errors(output):
        from torrentish.app.trackerless import get_function  # .torrent or magnet; trackers, LSD, DHT, PEX

        function, source = get_function(torrent, dht=dht, dht_bootstrap=dht_bootstrap or (),
                                        save_torrent=save_torrent, port=port, lsd=lsd,
                                        services=port_mapping_services(mapping))
        if "magnet" in source:
            output.say("fetching the torrent's metadata from peers", style="dim")
        result, interrupted = run_until_signal(
            function,
            **source,
            out_dir=out,
            peers=peers,
            port=port,
            seed=seed,
            max_up=up,
            max_down=down,
            sequential=sequential,
            only=only or (),
            settings=settings,
            view=output.watch,
        )
    # Interrupted while seeding after a complete download is the expected way to end --seed.
    code = 0 if result.complete and (seed or not interrupted) else 130
    output.finish(_outcome("get", result, output.watch), code)
    raise typer.Exit(code)


@app.command()
@handle_errors
@startup_until_run
def seed(
    torrents: Annotated[list[str], typer.Argument(metavar="TORRENT...", help="One or more .torrent files.",
                                                  show_default=False)],
    data: Annotated[
        Optional[Path],
        typer.Option("--data", "-d", metavar="PATH", show_default=False,
                     help="The data: the file or directory itself, or the directory that holds it (default: .). "
                          "With several torrents, the directory that holds all of them."),
    ] = None,
    port: Port = 0,
    peer: Peers = None,
    max_up: MaxUp = None,
    dht: Annotated[bool, typer.Option("--dht/--no-dht", help="Announce the torrent on the DHT.")] = False,
    dht_bootstrap: DhtBootstrap = None,
    lsd: Annotated[bool, typer.Option("--lsd/--no-lsd", help="Announce on the LAN (Local Service Discovery).")] = True,
    pex: Annotated[bool, typer.Option("--pex/--no-pex", help="Tell the peers about each other (BEP 11 peer exchange).")] = True,
    port_mapping: PortMapping = True,
    port_mapping_protocols: PortMappingProtocols = DEFAULT_PORT_MAPPING_PROTOCOLS,
    super_seed: Annotated[bool, typer.Option(
        "--super-seed", help="BEP 16 initial seeding: reveal pieces one at a time, so each leaves "
                             "this seed about once (for the first seed of a new torrent).")] = False,
    encryption: Encryption = "prefer",
    transport: Transport = "both",
    as_json: AsJson = False,
    quiet: Quiet = False,
    verbose: Verbose = 0,
    log_file: LogFile = None,
) -> None:
    """Seed torrents from data on disk until Ctrl-C.

    Ctrl-C ends seeding normally (exit 0). The data is checked first; seeding starts only if it is complete. The live view shows who
    is downloading and how much you uploaded. Several torrents share one port, one tracker client, LSD and the DHT.

    [bold]Examples[/bold]

      torrentish seed film.torrent --data ~/Videos/film.mkv --port 6881

      torrentish seed album.torrent -d ~/Music --max-up 2MiB/s

      torrentish seed film.torrent -d film.mkv --peer 192.168.1.30:6881 --json

      torrentish seed *.torrent -d ~/Shared
    """
    from torrentish.app.transfer import seed_several
    from torrentish.services.dht.state import default_state_path

    peers = [parse_peer(p) for p in peer or []]
    up = parse_rate_option(max_up, "--max-up")
    mapping = port_mapping_settings(port_mapping, port_mapping_protocols)
    settings = engine_settings(encryption, transport, super_seed=super_seed)
    output = _output("seed", as_json, quiet, verbose, log_file)
    with _json_errors(output):
        metas = [_load(torrent) for torrent in torrents]
        several = len(metas) > 1
        # The session's shared services: the torrents' trackers, LSD, ut_metadata, PEX, the DHT.
        discovery = dict(lsd=lsd, dht=dht, pex=pex, trackers=True, dht_bootstrap=tuple(dht_bootstrap or ()),
                         dht_state_path=default_state_path() if dht else None)

        def ready(client, torrent_) -> None:
            if several:
                for meta in metas:
                    output.say(f"seeding {meta.info.name} ({meta.info.info_hash.hex()})", style="dim")
                output.say(f"{len(metas)} torrents on port {client.port}; Ctrl-C to stop", style="dim")
            elif output.mode == "live":
                output.say(f"seeding {metas[0].info.name} on port {client.port}; Ctrl-C to stop", style="dim")

        results, _ = run_until_signal(
            seed_several,
            torrents=[(meta, data) for meta in metas],
            peers=peers,
            port=port,
            max_up=up,
            settings=settings,
            view=None if several else output.watch,
            ready=ready,
            discovery=discovery,
            listener_services=port_mapping_services(mapping),
        )
    output.finish(_seed_outcome(results, output.watch) if several else _outcome("seed", results[0], output.watch), 0)


def _seed_outcome(results, watch):
    """One summary for several seeded torrents."""
    from torrentish.ui.summary import Outcome

    total = sum(r.total for r in results)
    return Outcome(command="seed", outcome="seeded", name=f"{len(results)} torrents", total=total, done=total,
                   downloaded=0, uploaded=sum(r.uploaded for r in results),
                   elapsed=max((r.elapsed for r in results), default=0.0), download_time=None,
                   peers_used=0, peers_served=max((r.peers_seen for r in results), default=0))


@app.command()
@handle_errors
@startup_until_run
def demo(
    size: Annotated[str, typer.Option(metavar="SIZE", help="Size of the sample file, e.g. 1GiB.")] = "256MiB",
    rate: Annotated[
        str, typer.Option(metavar="RATE", help="Download rate limit, so the progress can be watched (0 = none).")
    ] = "64MiB/s",
    workdir: Annotated[
        Optional[Path],
        typer.Option(metavar="DIR", show_default=False,
                     help="Where the sample and the copy go, kept afterwards (default: a temporary directory)."),
    ] = None,
    as_json: AsJson = False,
    quiet: Quiet = False,
    verbose: Verbose = 0,
    log_file: LogFile = None,
) -> None:
    """Watch a transfer: two local peers share a generated file.

    One peer seeds a sample file, the other downloads it over 127.0.0.1. Nothing outside this machine is needed; the copy is checked byte for byte at the end.

    [bold]Examples[/bold]

      torrentish demo

      torrentish demo --size 1GiB --rate 0

      torrentish demo --workdir /tmp/demo -v
    """
    import tempfile

    from torrentish.app.demo import run_demo
    from torrentish.formats.units import format_size, parse_size

    try:
        size_bytes = parse_size(size)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--size'") from None
    if size_bytes <= 0:
        raise typer.BadParameter("must be more than 0", param_hint="'--size'")
    limit = parse_rate_option(rate, "--rate")
    output = _output("demo", as_json, quiet, verbose, log_file)
    with _json_errors(output), tempfile.TemporaryDirectory(prefix="torrentish-demo-") as tmp:
        where = workdir or Path(tmp)
        kept = f" in {where}" if workdir else ""
        output.say(f"demo: a local peer shares a {format_size(size_bytes)} sample file{kept}, another downloads it",
                   style="dim")
        result, interrupted = run_until_signal(
            lambda stop, **kw: _demo_until(stop, run_demo, **kw),
            workdir=where,
            size=size_bytes,
            rate=limit,
            view=output.watch,
        )
    if interrupted or result is None:
        output.say("demo stopped", style="yellow")
        output.fail("interrupted", 130)
        raise typer.Exit(130)
    output.finish(_outcome("demo", result, output.watch), 0)


async def _demo_until(stop, run_demo, **kwargs):
    import trio

    result = None
    async with trio.open_nursery() as nursery:

        async def cancel_on_stop() -> None:
            await stop.wait()
            nursery.cancel_scope.cancel()

        nursery.start_soon(cancel_on_stop)
        result = await run_demo(**kwargs)
        nursery.cancel_scope.cancel()
    return result
