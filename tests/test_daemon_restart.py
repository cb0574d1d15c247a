"""A daemon killed with SIGKILL in the middle of five transfers picks them up after a restart:
all five complete, every piece it had verified before the kill is still verified once the
restart's check is done, and the seeder sends little more than what was missing.

The seed is a second daemon with the data in place and its upload limited, so that the kill
lands mid-transfer; the test tracker introduces the two.
"""

from __future__ import annotations

import pytest

from tests.support.daemon import Daemon
from tests.support.data import assert_identical, make_single_file, make_torrent

pytestmark = [pytest.mark.slow]

SIZE = 2 * 1024 * 1024
PIECE = 32 * 1024
# Per torrent: what was in flight when the kill came, sent (and counted by the seeder) but lost:
# the leecher's requests out (a second of its rate, 8 blocks at least) and the blocks of pieces
# being assembled. Measured at 1.0-1.35 MiB for the five; the exact check is the one on haveValid.
IN_FLIGHT_SLACK = 16 * PIECE


def test_kill_9_mid_transfer_then_restart(tmp_path, port_factory, tracker):
    payloads, torrents = [], []
    for i in range(5):
        payload = make_single_file(tmp_path / "data", name=f"part{i}.bin", size=SIZE, seed=i + 10)
        torrent = tmp_path / f"part{i}.torrent"
        make_torrent(payload, torrent, piece_length=PIECE, announce=tracker.announce_url)
        payloads.append(payload)
        torrents.append(torrent)
    seeder = Daemon(tmp_path / "seeder", port_factory, label="seeder")
    seeder.downloads = tmp_path / "data"
    leecher = Daemon(tmp_path / "leecher", port_factory, label="leecher")
    with seeder, leecher:
        seeder.rpc("session-set", {"speed-limit-up": 1000, "speed-limit-up-enabled": True})  # 1 MB/s
        for torrent in torrents:
            seeder.rpc("torrent-add", {"filename": str(torrent)})
        seeder.wait_for(lambda ts: len(ts) == 5 and all(t["status"] == 6 for t in ts), ("status",), 120,
                        "the seeder to check its data and seed")
        for torrent in torrents:
            leecher.rpc("torrent-add", {"filename": str(torrent)})
        total = 5 * SIZE

        def midway(ts):
            have = sum(t["haveValid"] for t in ts)
            return 0.2 * total <= have <= 0.7 * total

        leecher.wait_for(midway, ("haveValid",), 120, "the transfers to be under way")
        # The leecher first: what arrives between the two readings counts as missing but was
        # sent before the seeder's reading, so the allowance errs generous. (The other way
        # round, it was sent after the seeder's reading and not counted missing: the test once
        # failed by 448 KiB so, on a loaded machine.)
        verified_before = sum(t["haveValid"] for t in leecher.torrents("haveValid"))
        uploaded_before = sum(t["uploadedEver"] for t in seeder.torrents("uploadedEver"))
        leecher.kill()
        assert verified_before < total
        leecher.start()
        # What was verified before the kill is still verified once the restart's check is done
        # (from the resume record, or found again by hashing): nothing is lost but what was in
        # flight. haveValid only grows after the check, so reading it then is exact.
        checked = leecher.wait_for(lambda ts: len(ts) == 5 and all(t["status"] not in (1, 2) for t in ts),
                                   ("status", "haveValid"), 120, "the restart's check to end")
        assert sum(t["haveValid"] for t in checked) >= verified_before
        leecher.wait_for(lambda ts: len(ts) == 5 and all(t["percentDone"] == 1 for t in ts), ("percentDone",),
                         180, "all five to complete after the restart")
        for payload in payloads:
            assert_identical(payload, leecher.downloads / payload.name)
        uploaded_after = sum(t["uploadedEver"] for t in seeder.torrents("uploadedEver"))
        refetched_allowance = (total - verified_before) + 5 * IN_FLIGHT_SLACK
        assert uploaded_after - uploaded_before <= refetched_allowance, (
            f"the seeder sent {uploaded_after - uploaded_before} bytes after the kill; "
            f"at most {refetched_allowance} were missing")
