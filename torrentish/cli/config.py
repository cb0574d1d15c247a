"""`torrentish config`: where the config file is, and which defaults are in effect from where."""

from typing import Annotated

import typer

from torrentish.cli.app import Verbose, app
from torrentish.cli.errors import handle_errors


@app.command()
@handle_errors
def config(
    path: Annotated[bool, typer.Option("--path", metavar="", help="Print only the config file's path.")] = False,
    example: Annotated[bool, typer.Option("--example", metavar="", help="Print an example config file.")] = False,
    verbose: Verbose = 0,
) -> None:
    """Show the config file and the defaults in effect.

    Lists each setting with its value and where it comes from.

    Defaults apply when an option is not given: the command line wins over a TORRENTISH_*
    variable, which wins over the config file.

    [bold]Examples[/bold]

      torrentish config

      torrentish config --example

      TORRENTISH_MAX_UP=1MiB/s torrentish config
    """
    from torrentish.cli.defaults import KEYS, load_config
    from torrentish.paths import state_dir

    if path or example:
        from torrentish.paths import config_path

        if path:
            typer.echo(config_path())
        if example:
            typer.echo(EXAMPLE)
        return
    loaded = load_config()
    found = "" if loaded.file_found else "  (none: built-in defaults apply)"
    typer.echo(f"config file  {loaded.path}{found}")
    typer.echo(f"state dir    {state_dir()}")
    rows = [("setting", "value", "from", "variable", "option")]
    for key in KEYS:
        setting = loaded.settings.get(key.name)
        value = "-" if setting is None else str(setting.value)
        source = "" if setting is None else "environment" if setting.source == key.env else "config file"
        options = {f"--{param.replace('_', '-')}" for param in key.params.values()}
        rows.append((key.name, value, source, key.env, f"{', '.join(key.params)} {' '.join(sorted(options))}"))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    typer.echo("")
    for row in rows:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths)) + "  " + row[4])


EXAMPLE = """\
# torrentish config file (TOML). Every key is optional; options on the command line win.
port = 6881                 # listen here for peers (0 = any free port)
download_dir = "~/Downloads"
max_up = "2MiB/s"           # also 500KB/s, 512k, or 0 for unlimited
max_down = "0"
keep_seeding = false        # `get` keeps seeding once the download is complete
port_mapping = true         # ask the router (UPnP, NAT-PMP, PCP) to forward the listen port
encryption = "prefer"       # or "require" (RC4 only, both ways) or "off"
transport = "both"          # uTP first, then TCP; or "utp" or "tcp" only
"""
