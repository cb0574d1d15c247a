"""Start-up CPU counts in every transfer (bench/README.md, "Start-up time"): the cyclic garbage
collector rests from main() until the command starts its work."""

import gc
from typing import Any, Callable, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

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


def pause_gc_for_startup() -> bool:
    """Called by main(): the GC is off until end_startup(). Returns whether it was on before."""
    global _gc_paused_for_startup
    was_on = gc.isenabled()  # off already under python -m torrentish (__main__.py)
    gc.disable()
    _gc_paused_for_startup = True
    return was_on


def startup_ended_without_command(gc_was_on: bool) -> None:
    """No command began (--help, a usage error): the GC as it was."""
    global _gc_paused_for_startup
    if _gc_paused_for_startup:
        _gc_paused_for_startup = False
        if gc_was_on:
            gc.enable()
