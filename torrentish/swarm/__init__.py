"""The swarm lab: whole swarms, simulated or real, measured against the theoretical bound (docs/swarm.md)."""
