"""The mainline DHT (BEP 5, with BEP 32 IPv6 and BEP 43 read-only nodes).

Pure parts (no trio, sockets or clocks; time passed in as ``now``):
    krpc.py        KRPC messages over bencoding: decode, encode, size-bounded replies
    routing.py     the Kademlia routing table: buckets, good/questionable/bad, replacements
    lookup.py      one iterative lookup (find_node / get_peers) as a state machine
    tokens.py      announce tokens from rotating secrets
    peer_store.py  the peers others announced to us, bounded and expiring
    limits.py      per-source rate limits
    answers.py     what the node replies to each query
    config.py      DhtConfig: addresses, bootstrap nodes, timings, limits
With I/O:
    state.py       the routing table saved in the state dir between runs
    node.py        a DHT node on UDP: its sockets, answering queries, asking one query
    search.py      the node's lookups (find_node, get_peers, announce), joining and upkeep
    service.py     a node serving torrents: announce, get_peers, PORT messages, magnet lookups
"""
