"""uTP (BEP 29): the packet codec and the per-connection state machine, both sans-I/O."""
