"""A download limit is kept smoothly: no large read followed by a long sleep."""

from __future__ import annotations

import pytest
import trio

from tests.support.fake_peer import MiB, make_sample
from tests.support.sim_peers import empty_storage, seed_storage, sim_lab, virtual_clock
from torrentish.engine.client import open_client
from torrentish.engine.settings import Settings


@pytest.fixture
def clock():
    """Virtual time on the simulated network: the clock moves only when every byte has moved."""
    return virtual_clock()


async def test_a_download_limit_is_kept_in_small_steps(tmp_path, clock):
    sample = make_sample(tmp_path, size=8 * MiB)
    rate = 1 * MiB
    async with sim_lab() as lab, lab.client("10.0.0.1", settings=Settings(max_download_rate=rate)) as client:
        torrent = await client.add_torrent(sample.info, empty_storage(sample))
        async with lab.client("10.0.0.2") as seed:
            await seed.add_torrent(sample.info, await seed_storage(sample), upload_only=True,
                                   peers=[("10.0.0.1", client.port)])
            samples = []
            while trio.current_time() < 4 and not torrent.completed.is_set():
                samples.append((trio.current_time(), torrent.downloaded))
                await trio.sleep(0.02)
    window = 0.2
    # Within any 0.2 s: the rate's share, the bucket's burst (256 KiB) and one read (0.1 s).
    bound = window * rate + 256 * 1024 + 0.1 * rate + 16 * 1024
    steps = [
        later - earlier
        for i, (start, earlier) in enumerate(samples)
        for end, later in samples[i:]
        if end - start <= window
    ]
    assert samples[-1][1] > 2 * MiB, "the download did not get going"
    assert max(steps) <= bound, (max(steps) / MiB, bound / MiB)


async def test_limits_can_be_changed_while_running(tmp_path):
    sample = make_sample(tmp_path, size=1 * MiB)
    async with open_client(host="127.0.0.1") as client:
        torrent = await client.add_torrent(sample.info, sample.empty_storage())
        assert torrent.read_size(1 << 20) == 1 << 20  # unlimited: whole reads
        torrent.set_rate_limits(down=2 * MiB)
        assert torrent.read_size(1 << 20) == int(0.2 * MiB)
        client.set_rate_limits(up=3 * MiB, down=1 * MiB)  # the client-wide limit sets the pace
        assert torrent.read_size(1 << 20) == int(0.1 * MiB)
        assert (client.up_bucket.rate, torrent.up_bucket.rate) == (3 * MiB, 0)
        torrent.set_rate_limits(down=0)
        client.set_rate_limits(down=0)
        assert torrent.read_size(1 << 20) == 1 << 20
