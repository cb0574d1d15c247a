"""The simulated tracker: its announces answer as a list of every other present peer did."""

import random

from torrentish.swarm.runner_sim import PORT, SimTracker, sim_host
from torrentish.swarm.scenario import Group, PeerSpec


class _ListTracker:
    """The tracker as it was: the list of the others built for every announce."""

    def __init__(self, rng, want):
        self._rng, self._want, self._present = rng, want, {}

    def join(self, spec):
        self._present[spec.index] = (sim_host(spec.index), PORT)

    def leave(self, spec):
        self._present.pop(spec.index, None)

    def announce(self, spec):
        others = [a for i, a in self._present.items() if i != spec.index]
        if len(others) <= self._want:
            return others
        return self._rng.sample(others, self._want)


def test_announces_match_a_list_of_the_others_through_joins_and_leaves():
    group = Group()
    specs = [PeerSpec(i, f"p{i}", group, 0.0, False) for i in range(500)]
    ours, theirs = SimTracker(random.Random(7), 30), _ListTracker(random.Random(7), 30)
    moves = random.Random(3)
    sizes = set()
    for step in range(4000):
        spec = specs[moves.randrange(len(specs))]
        # Mostly joins first, then as many leaves as joins: the swarm grows past and shrinks
        # below the size (277 for 30 of them) where random.sample stops copying its population.
        weights = (4, 3, 1) if step < 2000 else (1, 3, 1)
        action = moves.choices(("join", "announce", "leave"), weights)[0]
        if action == "announce":
            assert ours.announce(spec) == theirs.announce(spec)
            sizes.add(len(theirs._present))
        else:
            getattr(ours, action)(spec)
            getattr(theirs, action)(spec)
    assert min(sizes) < 30 and max(sizes) > 300
