"""The ``torrentish`` command line: each command parses its arguments and calls one function.

Exit codes (docs/cli.md): 0 done; 1 an error (bad input, I/O, a network failure; one red line on
stderr, the traceback only with -v) or, for ``verify``, incomplete data; 2 usage errors; 130
interrupted (Ctrl-C).

Defaults come from the config file and TORRENTISH_* variables (torrentish/config.py), installed
as click's default_map by the app callback, so ``--help`` shows the defaults in effect.

Heavy modules (rich, hashing, metainfo, trio) are imported inside the commands so that ``--help``
and ``--version`` start fast (bench/bench_startup.py measures it). Start-up CPU counts in every
transfer (bench/README.md, "Start-up time"): parameter values are converted without pydantic
(cli_coercion.py), the cyclic garbage collector rests during start-up (`main`, `end_startup`), and
the cli modules do not use ``from __future__ import annotations``: typer would eval every
Annotated[...] string on each run. tests/test_startup_imports.py guards all three.
"""

import functools
import gc
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Optional, TypeVar

import typer

from torrentish import __version__
from torrentish.cli_coercion import use_plain_conversions
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


def print_error(message: str) -> None:
    """One red line on stderr (never wrapped, markup in the message printed literally)."""
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {escape(message)}", highlight=False)


def print_warning(message: str) -> None:
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True, soft_wrap=True).print(f"[yellow]warning:[/] {escape(message)}", highlight=False)


def _leaf(error: BaseException) -> BaseException:
    """The first real exception inside (nested) exception groups: trio wraps what a task raises."""
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


def describe_error(error: BaseException) -> tuple[int, str, bool]:
    """(exit code, one-line message, is it our bug) for an exception that ended a command."""
    if isinstance(error, KeyboardInterrupt):
        return 130, "interrupted", False
    if isinstance(error, TorrentishError):
        return 1, str(error), False
    if isinstance(error, OSError):
        where = f"{error.filename}: " if error.filename else ""
        return 1, where + (error.strerror or str(error) or type(error).__name__), False
    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return 1, f"internal error: {text}", True


# True from main() until end_startup(): the cyclic GC is off in this process.
_gc_paused_for_startup = False


def end_startup() -> None:
    """Start-up is over: the objects made so far (modules, classes, functions: some 50,000 that
    live until exit) go to the GC's permanent generation, and the collector runs again.

    main() turns the collector off: start-up allocates much and frees almost nothing, so
    collections during the imports are wasted work (about 0.02 s of CPU). Frozen, those objects
    are not walked again by any collection during the transfer or by the one at exit. Only when
    main() paused it; a command run in-process (tests) leaves the GC alone."""
    global _gc_paused_for_startup
    if _gc_paused_for_startup:
        _gc_paused_for_startup = False
        gc.freeze()
        gc.enable()


def startup_until_run(command: F) -> F:
    """Mark a command whose start-up lasts until run_until_signal starts its trio loop (which
    calls end_startup), so that the imports of trio and the engine also happen with the GC off.
    Every other command ends start-up as it begins."""
    command.startup_until_run = True  # type: ignore[attr-defined]
    return command


def handle_errors(command: F) -> F:
    """Wrap every command: a TorrentishError or OSError becomes one red line and exit 1, Ctrl-C
    exit 130, any other exception (a bug) one red line too, with the traceback under -v."""
    ends_startup = not getattr(command, "startup_until_run", False)

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        if ends_startup:
            end_startup()
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except BaseException as caught:  # noqa: BLE001 - every way out gets a clean exit
            error = _leaf(caught)
            if isinstance(error, (typer.Exit, typer.Abort, typer.TyperException)):
                raise error from None
            code, message, bug = describe_error(error)
            if code == 130:
                raise typer.Exit(130) from None
            if kwargs.get("verbose"):
                import traceback

                traceback.print_exception(caught, file=sys.stderr)
            elif bug:
                message += " (run again with -v for the traceback)"
            print_error(message)
            raise typer.Exit(code) from None

    return run  # type: ignore[return-value]


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
    from torrentish.config import load_config

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


# The commands live in their own modules and register on `app`, in the order --help lists them.
from torrentish import cli_files  # noqa: E402,F401  (create, info, verify)
from torrentish import cli_transfer  # noqa: E402,F401
from torrentish import cli_config  # noqa: E402,F401
from torrentish import cli_share  # noqa: E402,F401  (share, tracker)
from torrentish import cli_swarm  # noqa: E402,F401  (swarm run, swarm compare)


def _reflow(doc: str, rich: bool = True) -> str:
    """Join the lines of each prose paragraph of a docstring, keep indented (example) paragraphs.

    Docstrings wrap at the source's width; typer's rich help keeps single line breaks after the
    first paragraph, which would make ragged text on any other terminal width. Without rich
    (TYPER_USE_RICH=0), click formats the help: markup is dropped and examples get click's
    no-rewrap marker.
    """
    import inspect
    import re

    def example(paragraph: str) -> str:
        if not rich:
            return "\b\n" + paragraph
        # typer dedents the help again after its first paragraph; an empty markup tag in front
        # keeps the example's indentation (it renders as nothing).
        return "\n".join("[dim][/dim]" + line for line in paragraph.split("\n"))

    def prose(paragraph: str) -> str:
        text = " ".join(paragraph.split("\n"))
        return text if rich else re.sub(r"\[/?(bold|dim)\]", "", text)

    paragraphs = inspect.cleandoc(doc).split("\n\n")
    return "\n\n".join(example(p) if p.startswith(" ") else prose(p) for p in paragraphs)


def _reflow_help() -> None:
    from typer.core import HAS_RICH

    for command in app.registered_commands:
        doc = command.help or (command.callback.__doc__ if command.callback else None)
        if doc:
            command.help = _reflow(doc, rich=HAS_RICH)


_reflow_help()


def main() -> None:
    """The console script. Usage errors are one red line and a usage hint (exit 2); Ctrl-C
    anywhere is exit status 130. The GC rests until the command starts its work (end_startup)."""
    global _gc_paused_for_startup
    gc_was_on = gc.isenabled()  # off already under python -m torrentish (__main__.py)
    gc.disable()
    _gc_paused_for_startup = True
    try:
        code = app(prog_name="torrentish", standalone_mode=False)
    except typer.TyperException as error:  # click's usage errors
        _usage_error(error)
        sys.exit(getattr(error, "exit_code", 2))
    except typer.Abort:
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    finally:
        if _gc_paused_for_startup:  # no command began (--help, a usage error): the GC as it was
            _gc_paused_for_startup = False
            if gc_was_on:
                gc.enable()
    sys.exit(code if isinstance(code, int) else 0)


def _usage_error(error: Exception) -> None:
    if type(error).__name__ == "NoArgsIsHelpError":  # `torrentish` alone: the help is the answer
        typer.echo(error.format_message())  # type: ignore[attr-defined]
        return
    message = error.format_message()  # type: ignore[attr-defined]
    ctx = getattr(error, "ctx", None)
    print_error(message)
    if ctx is not None:
        from rich.console import Console

        hint = f"{ctx.get_usage()}  (see `{ctx.command_path} --help`)"
        Console(stderr=True, soft_wrap=True).print(hint, style="dim", highlight=False, markup=False)
