"""Running a command's trio function until SIGINT/SIGTERM/SIGHUP asks it to stop cleanly."""

import signal

from torrentish.cli.startup import end_startup


def run_until_signal(function, /, **kwargs):
    """Run `function(stop=event, **kwargs)` in trio; SIGINT/SIGTERM/SIGHUP set the event once."""
    import trio

    interrupted = False

    async def main():
        nonlocal interrupted
        stop = trio.Event()
        async with trio.open_nursery() as nursery:

            async def watch_signals() -> None:
                nonlocal interrupted
                # SIGHUP: the terminal was closed; stop as cleanly as for Ctrl-C (resume state saved).
                with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGHUP) as signals:
                    async for _ in signals:
                        interrupted = True
                        stop.set()
                        return  # a second signal gets the default handling: stop now

            nursery.start_soon(watch_signals)
            result = await function(stop=stop, **kwargs)
            nursery.cancel_scope.cancel()
        return result

    end_startup()  # the imports are done: the GC runs again, start-up's objects frozen
    return trio.run(main), interrupted
