"""Finding peers without a tracker: Local Service Discovery, LAN interfaces, a link's peer sources."""
