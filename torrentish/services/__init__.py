"""Services that plug into the engine: trackers, local discovery, the DHT, BEP 10 extensions, port mapping."""
