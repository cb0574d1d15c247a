"""How a command ends: one red line for an error, exit codes (docs/cli.md), tracebacks only with -v."""

import functools
import sys
from typing import Any, Callable, TypeVar

import typer

from torrentish.cli.startup import end_startup
from torrentish.errors import TorrentishError

F = TypeVar("F", bound=Callable[..., Any])


def print_error(message: str) -> None:
    """One red line on stderr (never wrapped, markup in the message printed literally)."""
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {escape(message)}", highlight=False)


def print_warning(message: str) -> None:
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True, soft_wrap=True).print(f"[yellow]warning:[/] {escape(message)}", highlight=False)


def leaf(error: BaseException) -> BaseException:
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
            error = leaf(caught)
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
