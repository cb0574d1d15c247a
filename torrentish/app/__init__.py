"""Application functions: what each command does, usable from Python (get, seed, share, ...)."""
