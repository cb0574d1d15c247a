"""The transfer commands: `get`, `seed` and `demo`. Registered on the app in cli.py.

Each command parses its arguments and calls one function of torrentish.transfer / demo, under
`run_until_signal`, which turns SIGINT/SIGTERM into a clean stop (resume state saved, summary
printed) rather than an exception. A second Ctrl-C stops at once.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from torrentish.cli import app, handle_errors
from torrentish.errors import TorrentishError


def parse_peer(text: str) -> tuple[str, int]:
    """HOST:PORT or [IPv6]:PORT."""
    host, sep, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise typer.BadParameter(f"{text!r} is not HOST:PORT")
    return host, int(port)


def _rate(text: str | None) -> int:
    if not text:
        return 0
    from torrentish.units import parse_rate

    try:
        return parse_rate(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def _load(source: str):
    from torrentish.metainfo import load_torrent

    if source.startswith("magnet:"):
        raise TorrentishError(
            "magnet links are not supported by `get` yet: pass the .torrent file (see `torrentish info` for what the link holds)"
        )
    return load_torrent(Path(source))


def _view(quiet: bool):
    if quiet:
        return None
    from torrentish.ui.views import live_view, plain_view

    if sys.stdout.isatty():
        from rich.console import Console

        return live_view(Console())
    return plain_view(sys.stdout)


def run_until_signal(function, /, **kwargs):
    """Run `function(stop=event, **kwargs)` in trio; SIGINT/SIGTERM set the event once."""
    import trio

    interrupted = False

    async def main():
        nonlocal interrupted
        stop = trio.Event()
        async with trio.open_nursery() as nursery:

            async def watch_signals() -> None:
                nonlocal interrupted
                with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                    async for _ in signals:
                        interrupted = True
                        stop.set()
                        return  # a second signal gets the default handling: stop now

            nursery.start_soon(watch_signals)
            result = await function(stop=stop, **kwargs)
            nursery.cancel_scope.cancel()
        return result

    return trio.run(main), interrupted


def _say(text: str, quiet: bool) -> None:
    if not quiet:
        print(text, flush=True)


def _summary(result, verb: str) -> str:
    from torrentish.units import format_duration, format_rate, format_size

    rate = result.downloaded / result.elapsed if result.elapsed > 0 else 0.0
    if verb == "seeded":
        return (
            f"seeded {result.name}: uploaded {format_size(result.uploaded)} to {result.peers_seen} peers "
            f"in {format_duration(result.elapsed)}"
        )
    ratio = result.uploaded / result.downloaded if result.downloaded else 0.0
    return (
        f"{verb} {result.name}: {format_size(result.total)} in {format_duration(result.elapsed)} "
        f"({format_rate(rate)}), {result.peers_seen} peers, ratio {ratio:.2f}"
    )


@app.command()
@handle_errors
def get(
    torrent: Annotated[str, typer.Argument(help="A .torrent file.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Download directory.")] = Path("."),
    peer: Annotated[
        Optional[list[str]], typer.Option("--peer", help="Connect to this peer (HOST:PORT); repeatable.")
    ] = None,
    port: Annotated[int, typer.Option(help="Port to listen on (0 = any).")] = 0,
    seed: Annotated[bool, typer.Option("--seed", help="Keep seeding after the download completes.")] = False,
    max_up: Annotated[Optional[str], typer.Option(help="Upload limit, e.g. 2MiB/s.")] = None,
    max_down: Annotated[Optional[str], typer.Option(help="Download limit, e.g. 10MiB/s.")] = None,
    sequential: Annotated[bool, typer.Option(help="Fetch pieces in order (for streaming).")] = False,
    only: Annotated[
        Optional[list[str]], typer.Option("--only", help="Download only this file (path in the torrent); repeatable.")
    ] = None,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Print nothing but errors.")] = False,
) -> None:
    """Download a torrent into OUT/<name>; exit 0 once complete and verified.

    Stopped with Ctrl-C, it saves its progress: run the same command to resume.

    Example: torrentish get movie.torrent -o ~/Downloads --peer 192.168.1.20:6881
    """
    from torrentish.transfer import get as get_torrent

    peers = [parse_peer(p) for p in peer or []]
    meta = _load(torrent)
    result, interrupted = run_until_signal(
        get_torrent,
        info=meta.info,
        out_dir=out,
        peers=peers,
        port=port,
        seed=seed,
        max_up=_rate(max_up),
        max_down=_rate(max_down),
        sequential=sequential,
        only=only or (),
        view=_view(quiet),
    )
    if result.complete and not interrupted:
        _say(_summary(result, "downloaded"), quiet)
        return
    if result.complete:  # interrupted while seeding after the download
        _say(_summary(result, "downloaded"), quiet)
        raise typer.Exit(0 if seed else 130)
    _say("stopped; progress is saved: run the same command again to resume", quiet)
    raise typer.Exit(130)


@app.command()
@handle_errors
def seed(
    torrent: Annotated[str, typer.Argument(help="A .torrent file.")],
    data: Annotated[
        Optional[Path],
        typer.Option(help="The data: the file or directory itself, or the directory that holds it (default: .)."),
    ] = None,
    port: Annotated[int, typer.Option(help="Port to listen on (0 = any).")] = 0,
    peer: Annotated[
        Optional[list[str]], typer.Option("--peer", help="Connect to this peer (HOST:PORT); repeatable.")
    ] = None,
    max_up: Annotated[Optional[str], typer.Option(help="Upload limit, e.g. 2MiB/s.")] = None,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Print nothing but errors.")] = False,
) -> None:
    """Seed a torrent from data on disk until interrupted (Ctrl-C), then exit 0.

    Example: torrentish seed movie.torrent --data ~/Videos/movie.mkv --port 6881
    """
    from torrentish.transfer import seed as seed_torrent

    peers = [parse_peer(p) for p in peer or []]
    meta = _load(torrent)

    def ready(client, torrent_) -> None:
        _say(f"seeding {meta.info.name} on port {client.port} (Ctrl-C to stop)", quiet)

    result, _ = run_until_signal(
        seed_torrent,
        info=meta.info,
        data=data,
        peers=peers,
        port=port,
        max_up=_rate(max_up),
        view=_view(quiet),
        ready=ready,
    )
    _say(_summary(result, "seeded"), quiet)


@app.command()
@handle_errors
def demo(
    size: Annotated[str, typer.Option(help="Size of the sample file.")] = "256MiB",
    rate: Annotated[str, typer.Option(help="Download rate limit, so the progress can be watched (0 = none).")] = "64MiB/s",
    workdir: Annotated[
        Optional[Path], typer.Option(help="Where the sample and the copy go (default: a temporary directory).")
    ] = None,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Print nothing but errors.")] = False,
) -> None:
    """Share a generated file from one local peer and download it with another, over 127.0.0.1.

    Nothing outside this machine is needed; the copy is checked byte for byte at the end.
    """
    import tempfile

    from torrentish.demo import run_demo
    from torrentish.units import parse_size

    try:
        size_bytes = parse_size(size)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    if size_bytes <= 0:
        raise typer.BadParameter("--size must be more than 0")
    with tempfile.TemporaryDirectory(prefix="torrentish-demo-") as tmp:
        where = workdir or Path(tmp)
        _say(f"demo: sharing a {size} sample in {where} from one peer to another over 127.0.0.1", quiet)
        result, interrupted = run_until_signal(
            lambda stop, **kw: _demo_until(stop, run_demo, **kw),
            workdir=where,
            size=size_bytes,
            rate=_rate(rate),
            view=_view(quiet),
        )
    if interrupted or result is None:
        raise typer.Exit(130)
    _say(_summary(result, "downloaded"), quiet)
    _say("demo: the copy is identical to the original", quiet)


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
