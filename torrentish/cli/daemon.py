"""The `daemon` command: a session behind the Transmission RPC, in the foreground (docs/daemon.md).

Registered on the app by cli/main.py.
"""

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from torrentish.cli.app import Quiet, Transport, Verbose, app
from torrentish.cli.errors import handle_errors
from torrentish.cli.startup import startup_until_run

DEFAULT_RPC_PORT = 9091
DEFAULT_PEER_PORT = 51413


def default_download_dir() -> Path:
    """~/Downloads, where Transmission and browsers put things too."""
    return Path.home() / "Downloads"


def default_web_home() -> Optional[Path]:
    """TRANSMISSION_WEB_HOME (as transmission-daemon reads it), else the package's own web client."""
    explicit = os.environ.get("TRANSMISSION_WEB_HOME")
    if explicit:
        return Path(explicit)
    import torrentish

    bundled = Path(torrentish.__file__).parent / "web"
    return bundled if bundled.is_dir() else None


@app.command()
@handle_errors
@startup_until_run
def daemon(
    rpc_port: Annotated[int, typer.Option(min=0, max=65535, metavar="PORT", help="Port of the RPC and web client.")]
        = DEFAULT_RPC_PORT,
    rpc_host: Annotated[str, typer.Option(metavar="ADDR",
                                          help="Address the RPC listens on; beyond loopback it needs a username "
                                               "and password.")] = "127.0.0.1",
    download_dir: Annotated[Optional[Path], typer.Option(file_okay=False, metavar="DIR", show_default=False,
                                                         help="Where torrents go (default: ~/Downloads).")] = None,
    watch: Annotated[Optional[Path], typer.Option(file_okay=False, metavar="DIR", show_default=False,
                                                  help="Add .torrent files dropped into this directory.")] = None,
    port: Annotated[int, typer.Option(min=0, max=65535, metavar="PORT", help="Port for peers.")] = DEFAULT_PEER_PORT,
    rpc_username: Annotated[Optional[str], typer.Option(metavar="NAME", show_default=False,
                                                        help="Require HTTP Basic auth with this username.")] = None,
    rpc_password: Annotated[Optional[str], typer.Option(
        metavar="PASSWORD", show_default=False, envvar="TORRENTISH_RPC_PASSWORD",
        help="The password (better in TORRENTISH_RPC_PASSWORD: a command line is visible to every user).")] = None,
    rpc_host_whitelist: Annotated[Optional[list[str]], typer.Option(
        metavar="NAME", show_default=False,
        help="Also accept requests for this host name (e.g. nas.lan, *.lan); IP addresses and localhost "
             "always work. Repeat for more.")] = None,
    allowed_root: Annotated[Optional[list[str]], typer.Option(
        metavar="DIR", show_default=False,
        help="A directory RPC clients may download into (with everything below it); repeat for more. "
             "Default: the download directory.")] = None,
    web_home: Annotated[Optional[Path], typer.Option(file_okay=False, metavar="DIR", show_default=False,
                                                     help="Serve this web client instead of the bundled one "
                                                          "(default: TRANSMISSION_WEB_HOME).")] = None,
    log_file: Annotated[Optional[Path], typer.Option(dir_okay=False, metavar="FILE", show_default=False,
                                                     help="The log (default: daemon.log in the state "
                                                          "directory).")] = None,
    lsd: Annotated[bool, typer.Option("--lsd/--no-lsd", help="Find peers on the LAN.")] = True,
    dht: Annotated[bool, typer.Option("--dht/--no-dht", help="Find peers through the DHT.")] = True,
    transport: Transport = "both",
    verbose: Verbose = 0,
    quiet: Quiet = False,
) -> None:
    """Run a session that Transmission's clients control, until Ctrl-C or SIGTERM.

    The RPC speaks Transmission's protocol: transmission-remote, Transmission's web client,
    the transmission-rpc Python library and other front-ends drive it. State (torrents,
    progress) lives in the state directory and survives restarts.

      torrentish daemon --download-dir ~/Downloads --watch ~/torrents

      transmission-remote 9091 -a film.torrent -l
    """
    from torrentish.app.daemon import DaemonConfig, run_daemon
    from torrentish.cli.app import engine_settings
    from torrentish.cli.signals import run_until_signal
    from torrentish.paths import state_dir
    from torrentish.rpc.server import RpcServerConfig, check_exposure
    from torrentish.session import SessionConfig
    from torrentish.ui.logs import setup_logging

    settings = engine_settings("prefer", transport)  # a bad --transport is a usage error
    state = state_dir()
    state.mkdir(parents=True, exist_ok=True)
    downloads = (download_dir or default_download_dir()).expanduser().absolute()
    downloads.mkdir(parents=True, exist_ok=True)
    roots = tuple(Path(root).expanduser().absolute() for root in allowed_root or ()) or (downloads,)
    rpc = RpcServerConfig(host=rpc_host, port=rpc_port, username=rpc_username or None,
                          password=rpc_password or None, host_whitelist=tuple(rpc_host_whitelist or ()),
                          web_home=(web_home.expanduser() if web_home else default_web_home()))
    check_exposure(rpc)
    setup_logging(max(verbose, 1) if not quiet else 0, quiet, log_file or state / "daemon.log")
    config = DaemonConfig(
        session=SessionConfig(state_dir=state, download_dir=downloads, listen_port=port, lsd=lsd, dht=dht,
                              allowed_roots=roots, engine=settings),
        rpc=rpc,
        watch_dir=watch.expanduser().absolute() if watch else None,
    )

    def ready(info) -> None:
        if not quiet:
            print(f"torrentish daemon: RPC {info.rpc_url}, peers on port {info.peer_port}, "
                  f"downloads in {info.download_dir}, state in {info.state_dir}", flush=True)

    run_until_signal(run_daemon, config=config, ready=ready)  # a signal is the normal way out: exit 0
