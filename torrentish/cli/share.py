"""The `share` and `tracker` commands. Registered on the app in cli.py.

`share` prints what the other machine needs (the link, the .torrent, the commands, a QR code for
phones) and then one line per peer that comes and goes; `tracker` runs the tracker on its own.
"""

import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from torrentish.cli.app import (
    DEFAULT_PORT_MAPPING_PROTOCOLS,
    Encryption,
    PortMapping,
    PortMappingProtocols,
    Quiet,
    app,
    engine_settings,
    parse_rate_option,
    port_mapping_settings,
)
from torrentish.cli.errors import handle_errors
from torrentish.cli.startup import startup_until_run
from torrentish.errors import TorrentishError


def qr_rows(text: str) -> list[str]:
    """`text` as a QR code in half-block characters: two modules per character cell, dark as ink."""
    import qrcode

    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_L, border=2)
    code.add_data(text)
    code.make(fit=True)
    matrix = code.get_matrix()
    if len(matrix) % 2:
        matrix.append([False] * len(matrix[0]))
    glyphs = {(False, False): " ", (True, False): "▀", (False, True): "▄", (True, True): "█"}
    return [
        "".join(glyphs[top, bottom] for top, bottom in zip(upper, lower))
        for upper, lower in zip(matrix[::2], matrix[1::2])
    ]


def _print_qr(text: str) -> None:
    from rich.console import Console

    console = Console(soft_wrap=True, highlight=False)
    for row in qr_rows(text):
        # Dark ink on a light ground, whatever the terminal's colours (plain characters when piped).
        console.print(row, style="black on white", markup=False)


def _details_lines(details) -> list[str]:
    from torrentish.formats.units import format_size

    where = "every interface" if details.bind_host is None else details.bind_host
    lines = [
        f"sharing {details.name} ({format_size(details.total_length)}), info hash {details.info_hash.hex()}",
        f"seeding on port {details.port} ({where}): " + ", ".join(details.addresses),
    ]
    if details.tracker_urls:
        lines.append("tracker: " + "  ".join(details.tracker_urls))
    if details.page_urls:
        lines.append("download page (and web seed): " + "  ".join(details.page_urls))
    lines.append("local peer discovery: " + ("on" if details.lsd else "off"))
    lines.append(f"torrent file: {details.torrent_path}")
    lines += ["", "on the other machine:", f"  {details.get_command()}"]
    if details.aria2_command():
        lines.append(f"  {details.aria2_command()}")
    if details.page_urls:
        lines.append(f"  or a browser (a phone: scan the QR code): {details.page_urls[0]}")
    lines += ["", f"magnet: {details.magnet}"]
    return lines


def _share_view(quiet: bool):
    """One line per peer arriving or leaving, and for tracker or discovery trouble."""
    if quiet:
        return None

    async def view(client, torrent) -> None:
        from torrentish import events as ev
        from torrentish.formats.units import format_size

        def say(text: str) -> None:
            print(f"{time.strftime('%H:%M:%S')} {text}", flush=True)

        async for event in client.events.subscribe():
            if isinstance(event, ev.PeerConnected):
                say(f"peer {event.address[0]}:{event.address[1]} connected ({event.client})")
            elif isinstance(event, ev.PeerDisconnected):
                sent = f", sent {format_size(event.uploaded)}" if getattr(event, "uploaded", 0) else ""
                say(f"peer {event.address[0]}:{event.address[1]} left ({event.reason}{sent})")
            elif isinstance(event, ev.TrackerFailed):
                say(f"tracker {event.url}: {event.reason}")
            elif isinstance(event, ev.PortMapped) and event.transport == "tcp":
                where = f"{event.external_address or 'the gateway'}:{event.external_port}"
                say(f"reachable from outside the LAN at {where} ({event.protocol} port mapping)")
            elif isinstance(event, ev.Warning):
                say(f"warning: {event.message}")

    return view


@app.command()
@handle_errors
@startup_until_run
def share(
    path: Annotated[
        Path, typer.Argument(metavar="PATH", help="A file or directory to share, or a .torrent.", show_default=False)
    ],
    data: Annotated[
        Optional[Path],
        typer.Option(
            "--data",
            "-d",
            metavar="PATH",
            show_default=False,
            help="With a .torrent: its data (the file or directory, or where it is).",
        ),
    ] = None,
    port: Annotated[int, typer.Option(min=0, max=65535, metavar="PORT", help="Port for peers; if busy, any free port.")] = 6881,
    tracker_port: Annotated[
        int, typer.Option(min=0, max=65535, metavar="PORT", help="Port of the tracker (HTTP and UDP); if busy, any.")
    ] = 6969,
    host: Annotated[
        Optional[str],
        typer.Option(
            metavar="ADDR", show_default=False, help="Listen on this address only (default: every interface)."
        ),
    ] = None,
    torrent_out: Annotated[
        Optional[Path],
        typer.Option(
            metavar="FILE", show_default=False, help="Where to write the .torrent (default: ./<name>.torrent)."
        ),
    ] = None,
    tracker: Annotated[bool, typer.Option("--tracker/--no-tracker", help="Run the embedded tracker.")] = True,
    lsd: Annotated[bool, typer.Option("--lsd/--no-lsd", help="Announce on the LAN (Local Service Discovery).")] = True,
    http: Annotated[
        bool, typer.Option("--http/--no-http", help="Serve a download page and the files over HTTP (also a web seed).")
    ] = True,
    http_port: Annotated[
        int, typer.Option(min=0, max=65535, metavar="PORT", help="Port of the download page; if busy, any.")
    ] = 8080,
    qr: Annotated[
        bool, typer.Option("--qr/--no-qr", help="Print a QR code: the download page's URL (the magnet link with --no-http).")
    ] = True,
    max_up: Annotated[Optional[str], typer.Option(metavar="RATE", help="Upload limit, e.g. 2MiB/s.")] = None,
    port_mapping: PortMapping = True,
    port_mapping_protocols: PortMappingProtocols = DEFAULT_PORT_MAPPING_PROTOCOLS,
    encryption: Encryption = "prefer",
    quiet: Quiet = False,
) -> None:
    """Share a file or directory on the LAN: make the torrent, seed it, run a tracker, local
    discovery and a download page (also the torrent's web seed), and print what the other
    machine needs (link, commands, a QR code of the page).

    [bold]Examples[/bold]

      torrentish share holiday.mp4

      torrentish share ~/photos --host 192.168.1.20 --port 7000

      torrentish share film.torrent --data ~/Videos --no-qr
    """
    from torrentish.app.share import share as share_path
    from torrentish.cli.signals import run_until_signal

    mapping = port_mapping_settings(port_mapping, port_mapping_protocols)

    strict = port != 6881 or tracker_port != 6969 or http_port != 8080  # a port the user chose must be that port
    settings = engine_settings(encryption)

    def ready(details) -> None:
        if quiet:
            return
        print("\n".join(_details_lines(details)), flush=True)
        if qr:
            # A phone's camera opens a URL in its browser, which needs no BitTorrent app; the
            # page links the magnet for a phone that has one.
            _print_qr(details.page_urls[0] if details.page_urls else details.magnet)
        print("Ctrl-C to stop", flush=True)

    result, _ = run_until_signal(
        share_path,
        path=path,
        data=data,
        port=port,
        tracker_port=tracker_port,
        host=host,
        strict_ports=strict,
        torrent_out=torrent_out,
        tracker=tracker,
        lsd=lsd,
        http=http,
        http_port=http_port,
        max_up=parse_rate_option(max_up, "--max-up"),
        port_mapping=mapping,
        settings=settings,
        view=_share_view(quiet),
        ready=ready,
    )
    if not quiet:
        from torrentish.formats.units import format_size

        print(f"stopped sharing {result.name}: uploaded {format_size(result.uploaded)} to {result.peers_seen} peers")


def _allow_list(path: Path) -> frozenset[bytes]:
    """Info hashes, 40 hex digits per line; blank lines and # comments skipped."""
    hashes = set()
    for number, line in enumerate(path.read_text().splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            if len(text) != 40:
                raise ValueError
            hashes.add(bytes.fromhex(text))
        except ValueError:
            raise TorrentishError(f"{path}:{number}: not an info hash (40 hex digits): {text[:50]!r}") from None
    return frozenset(hashes)


@app.command("tracker")
@handle_errors
@startup_until_run
def tracker_command(
    port: Annotated[int, typer.Option(min=0, max=65535, metavar="PORT", help="Port for HTTP and UDP.")] = 6969,
    host: Annotated[
        Optional[str], typer.Option(metavar="ADDR", show_default=False, help="Listen on this address only.")
    ] = None,
    http: Annotated[bool, typer.Option("--http/--no-http", help="Serve HTTP announces and scrapes.")] = True,
    udp: Annotated[bool, typer.Option("--udp/--no-udp", help="Serve UDP announces and scrapes (BEP 15).")] = True,
    interval: Annotated[int, typer.Option(metavar="SECONDS", help="How often clients should announce.")] = 1800,
    allow: Annotated[
        Optional[Path],
        typer.Option(
            metavar="FILE", show_default=False, help="Track only the info hashes in FILE (hex, one per line)."
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="Print every announce.")] = False,
    quiet: Quiet = False,
) -> None:
    """Run a BitTorrent tracker (HTTP and UDP) until Ctrl-C.

    [bold]Example[/bold]

      torrentish tracker --port 6969 --allow hashes.txt
    """
    from torrentish.cli.signals import run_until_signal
    from torrentish.services.tracker.server import TrackerConfig, TrackerServer

    if not (http or udp):
        raise typer.BadParameter("--no-http and --no-udp leave nothing to serve", param_hint="'--http/--udp'")
    if interval < 1:
        raise typer.BadParameter("must be at least 1 second", param_hint="'--interval'")
    allowed = _allow_list(allow) if allow is not None else None

    def log_announce(request, ip: str) -> None:
        event = f" {request.event}" if request.event else ""
        print(
            f"{time.strftime('%H:%M:%S')} {ip}:{request.port}{event} {request.info_hash.hex()} left {request.left}",
            flush=True,
        )

    config = TrackerConfig(interval=interval, min_interval=min(interval, 30), allowed=allowed)
    server = TrackerServer(config, on_announce=log_announce if verbose else None)

    async def run(stop) -> None:
        try:
            await serve(stop)
        except* OSError as errors:  # binding failed: trio hands it over inside an exception group
            first = errors.exceptions[0]
            raise TorrentishError(f"cannot serve on port {port}: {first.strerror or first}") from None

    async def serve(stop) -> None:
        import trio

        async with trio.open_nursery() as nursery:
            http_port, udp_port = await nursery.start(
                lambda task_status: server.serve(host, port, http=http, udp=udp, task_status=task_status)
            )
            if not quiet:
                shown = host if host and ":" not in host else f"[{host}]" if host else "0.0.0.0"
                urls = ([f"http://{shown}:{http_port}/announce"] if http else []) + (
                    [f"udp://{shown}:{udp_port}/announce"] if udp else []
                )
                scope = "" if allowed is None else f", {len(allowed)} allowed torrents"
                print(f"tracker on {'  '.join(urls)}{scope} (Ctrl-C to stop)", flush=True)
            await stop.wait()
            nursery.cancel_scope.cancel()

    run_until_signal(run)
    if not quiet:
        print("tracker stopped", file=sys.stderr)
