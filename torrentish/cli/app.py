"""The typer app and the options many commands share.

Commands live in their own modules (transfer.py, files.py, share.py, swarm.py, config.py); each
registers on `app` with `@app.command()` when cli/main.py imports it, in the order --help lists
them. This module imports no command module, so nothing here depends on a command.

The cli modules do not use ``from __future__ import annotations``: typer would eval every
Annotated[...] string on each run (tests/test_startup_imports.py checks it).
"""

from pathlib import Path
from typing import Annotated, Any, Callable, Optional, TypeVar

import typer

from torrentish import __version__
from torrentish.cli.coercion import use_plain_conversions
from torrentish.cli.errors import print_error
from torrentish.errors import TorrentishError

app = typer.Typer(
    name="torrentish",
    help="A BitTorrent client: make, inspect, verify, download and seed torrents.",
    epilog="Try `torrentish demo` to see a transfer between two local peers. Docs: docs/cli.md.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
use_plain_conversions()  # typer converts str/int/bool/Path values without importing pydantic

F = TypeVar("F", bound=Callable[..., Any])

# Options shared by many commands.
Verbose = Annotated[
    int,
    typer.Option("-v", "--verbose", count=True, show_default=False, metavar="",
                 help="More detail (-v: peers, trackers; -vv: every piece) and tracebacks on errors."),
]
Quiet = Annotated[bool, typer.Option("-q", "--quiet", metavar="", help="Print nothing but errors.")]
LogFile = Annotated[
    Optional[Path],
    typer.Option("--log-file", dir_okay=False, show_default=False, metavar="FILE",
                 help="Also write a log to this file (peers and trackers; every piece with -vv)."),
]
AsJson = Annotated[
    bool, typer.Option("--json", metavar="",
                       help="One JSON object per line on stdout: every event and a summary (docs/events.md).")
]

Port = Annotated[int, typer.Option(min=0, max=65535, metavar="PORT", help="Port to listen on for peers (0 = any free port).")]
Peers = Annotated[
    Optional[list[str]],
    typer.Option("--peer", metavar="HOST:PORT", show_default=False,
                 help="Connect to this peer; repeat for more. IPv6: [::1]:6881."),
]
MaxUp = Annotated[Optional[str], typer.Option(metavar="RATE", help="Upload limit, e.g. 2MiB/s, 500KB/s (0 = none).")]
Dht = Annotated[
    Optional[bool], typer.Option("--dht/--no-dht", show_default=False,
                                 help="Find peers through the DHT (default: on for magnet links, off for .torrent files)."),
]
Encryption = Annotated[
    str,
    typer.Option("--encryption", metavar="prefer|require|off",
                 help="Message Stream Encryption: prefer (encrypt when the peer can, else plaintext), "
                      "require (RC4 only, both ways) or off."),
]
Transport = Annotated[
    str,
    typer.Option("--transport", metavar="both|utp|tcp",
                 help="Peer connections: both (dial uTP first, fall back to TCP; accept both), utp or tcp only."),
]
DhtBootstrap = Annotated[
    Optional[list[str]],
    typer.Option("--dht-bootstrap", metavar="HOST:PORT", show_default=False,
                 help="Join the DHT through this node instead of the public routers; repeat for more."),
]

PortMapping = Annotated[
    bool, typer.Option("--port-mapping/--no-port-mapping",
                       help="Ask the NAT gateway (UPnP, NAT-PMP, PCP) to forward the listen port; announce its port."),
]
PortMappingProtocols = Annotated[
    str, typer.Option(metavar="LIST", help="Port mapping protocols to try, in order (pcp, natpmp, upnp)."),
]
DEFAULT_PORT_MAPPING_PROTOCOLS = "pcp,natpmp,upnp"


def port_mapping_settings(enabled: bool, protocols: str):
    """The port mapping service's settings for the command's options, or None when it is off."""
    from torrentish.services.portmap.leases import parse_protocols

    try:
        chosen = parse_protocols(protocols)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--port-mapping-protocols'") from None
    if not enabled:
        return None
    from torrentish.services.portmap.service import PortMapSettings

    return PortMapSettings(protocols=chosen)


def port_mapping_services(settings) -> list:
    """[the port mapping service] for these settings, or [] when port mapping is off."""
    if settings is None:
        return []
    from torrentish.services.portmap.service import port_mapping_service

    return [port_mapping_service(settings)]


def parse_peer(text: str) -> tuple[str, int]:
    """HOST:PORT or [IPv6]:PORT."""
    host, sep, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise typer.BadParameter(f"{text!r} is not HOST:PORT", param_hint="'--peer'")
    return host, int(port)


def parse_rate_option(text: str | None, option: str) -> int:
    if not text:
        return 0
    from torrentish.formats.units import parse_rate

    try:
        return parse_rate(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=f"'{option}'") from None


def engine_settings(encryption: str, transport: str = "both", **fields):
    """Engine Settings for a command's options; --encryption and --transport checked (usage errors)."""
    from torrentish.engine.settings import ENCRYPTION_POLICIES, TRANSPORTS, Settings

    for option, value, allowed in (("--encryption", encryption, ENCRYPTION_POLICIES), ("--transport", transport, TRANSPORTS)):
        if value not in allowed:
            raise typer.BadParameter(f"{value!r} is not one of {', '.join(allowed)}", param_hint=f"'{option}'")
    return Settings(encryption=encryption, transport=transport, **fields)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"torrentish {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    ctx: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, metavar="", help="Show the version and exit.")
    ] = False,
) -> None:
    """A BitTorrent client: make, inspect, verify, download and seed torrents.

    Defaults for options come from ~/.config/torrentish/config.toml and TORRENTISH_* variables:
    see `torrentish config`.
    """
    if ctx.resilient_parsing:  # shell completion: no config errors in the middle of a TAB
        return
    from torrentish.cli.defaults import load_config

    try:
        ctx.default_map = load_config().default_map()
    except TorrentishError as error:
        print_error(str(error))
        raise typer.Exit(1) from None
    _show_flag_defaults(ctx)


def _show_flag_defaults(ctx: typer.Context) -> None:
    """Let --help name the configured side of an on/off flag (--lsd/--no-lsd).

    click shows the default_map's value for other options, but for a flag pair it prints the
    declared default whatever the config says; so the declared default becomes the configured
    one (the value an unset flag takes is the same either way).
    """
    commands = getattr(ctx.command, "commands", {})
    for name, defaults in (ctx.default_map or {}).items():
        command = commands.get(name)
        if command is None or not isinstance(defaults, dict):
            continue
        for param in command.params:
            if getattr(param, "is_bool_flag", False) and isinstance(defaults.get(param.name), bool):
                param.default = defaults[param.name]
