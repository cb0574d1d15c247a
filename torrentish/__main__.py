import gc

# No cyclic garbage collection during start-up, from the first import on: main() keeps it off
# until the command starts its work (torrentish.cli.startup.end_startup).
gc.disable()

from torrentish.cli.main import main  # noqa: E402

main()
