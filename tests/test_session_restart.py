"""kill -9 a process running a Session with five torrents mid-transfer, start it again: every
torrent completes, and no piece that was verified on disk at the kill is fetched again."""

from __future__ import annotations

import hashlib

from tests.support.fake_peer import make_sample
from tests.support.session_runner import SessionProcess
from torrentish.formats.metainfo import load_torrent

COUNT = 5


def pieces_on_disk(info, path) -> set[int]:
    """The pieces whose bytes in the file at `path` hash right (what a kill left behind)."""
    good = set()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return good
    for index in range(info.num_pieces):
        start = index * info.piece_length
        if hashlib.sha1(data[start:start + info.piece_length]).digest() == info.piece_hash(index):
            good.add(index)
    return good


def all_torrents(line: dict, predicate) -> bool:
    return len(line["torrents"]) == COUNT and all(predicate(t) for t in line["torrents"])


def test_kill_9_mid_transfer_then_every_torrent_completes_without_refetching(tmp_path):
    samples = [make_sample(tmp_path / "content", 2_000_000 + 1000 * i, name=f"t{i}", seed=i + 1,
                           piece_length=32768) for i in range(COUNT)]
    torrents = [str(s.torrent_path) for s in samples]
    adds = [arg for path in torrents for arg in ("--add", path)]
    leech = ["--state", str(tmp_path / "leech-state"), "--download", str(tmp_path / "down"),
             "--resume-interval", "0.5"]
    with SessionProcess("--state", str(tmp_path / "seed-state"), "--download", str(tmp_path / "content"),
                        *adds, log=tmp_path / "seed.log") as seed:
        line = seed.wait_for(lambda l: all_torrents(l, lambda t: t["state"] == "seeding"), "the seed is ready")
        peer = f"127.0.0.1:{line['port']}"
        with SessionProcess(*leech, *adds, "--peer", peer, "--down-limit", "1500000",
                            log=tmp_path / "leech1.log") as first:
            first.wait_for(lambda l: all_torrents(l, lambda t: 4 <= t["recorded"] and t["have"] < t["pieces"]),
                           "every torrent has pieces on disk")
            first.kill()  # SIGKILL: nothing is saved on the way out
        infos = {s.info_hash.hex(): load_torrent(s.torrent_path).info for s in samples}
        good = {h: pieces_on_disk(info, tmp_path / "down" / info.name) for h, info in infos.items()}
        assert all(0 < len(g) < infos[h].num_pieces for h, g in good.items()), "not killed mid-transfer"
        with SessionProcess(*leech, "--peer", peer, log=tmp_path / "leech2.log") as second:
            line = second.wait_for(lambda l: all_torrents(l, lambda t: t["state"] == "seeding"),
                                   "every torrent completes after the restart")
        for row in line["torrents"]:
            assert good[row["hash"]] <= set(row["at_start"]), f"torrent {row['id']} fetched a verified piece again"
        for s in samples:
            assert (tmp_path / "down" / s.info.name).read_bytes() == s.data
