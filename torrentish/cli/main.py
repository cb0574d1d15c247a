"""The ``torrentish`` command line (the console script): each command parses its arguments and calls one function.

Exit codes (docs/cli.md): 0 done; 1 an error (bad input, I/O, a network failure; one red line on
stderr, the traceback only with -v) or, for ``verify``, incomplete data; 2 usage errors; 130
interrupted (Ctrl-C).

Defaults come from the config file and TORRENTISH_* variables (torrentish/cli/defaults.py), installed
as click's default_map by the app callback, so ``--help`` shows the defaults in effect.

Heavy modules (rich, hashing, metainfo, trio) are imported inside the commands so that ``--help``
and ``--version`` start fast (bench/bench_startup.py measures it). Start-up CPU counts in every
transfer (bench/README.md, "Start-up time"): parameter values are converted without pydantic
(cli_coercion.py), the cyclic garbage collector rests during start-up (`main`, `end_startup`), and
the cli modules do not use ``from __future__ import annotations``: typer would eval every
Annotated[...] string on each run. tests/test_startup_imports.py guards all three.
"""

import sys

import typer

from torrentish.cli.app import app
from torrentish.cli.errors import print_error
from torrentish.cli.startup import pause_gc_for_startup, startup_ended_without_command

# The commands live in their own modules and register on `app`, in the order --help lists them.
from torrentish.cli import files  # noqa: E402,F401  (create, info, verify)
from torrentish.cli import transfer  # noqa: E402,F401
from torrentish.cli import config  # noqa: E402,F401
from torrentish.cli import share  # noqa: E402,F401  (share, tracker)
from torrentish.cli import swarm  # noqa: E402,F401  (swarm run, swarm compare)
from torrentish.cli import daemon  # noqa: E402,F401
from torrentish.cli import remote  # noqa: E402,F401  (remote add, list, show, ...)


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

    groups = [group.typer_instance.registered_commands for group in app.registered_groups]
    for command in [*app.registered_commands, *(command for group in groups for command in group)]:
        doc = command.help or (command.callback.__doc__ if command.callback else None)
        if doc:
            command.help = _reflow(doc, rich=HAS_RICH)


_reflow_help()


def main() -> None:
    """The console script. Usage errors are one red line and a usage hint (exit 2); Ctrl-C
    anywhere is exit status 130. The GC rests until the command starts its work (end_startup)."""
    gc_was_on = pause_gc_for_startup()
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
        startup_ended_without_command(gc_was_on)
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
