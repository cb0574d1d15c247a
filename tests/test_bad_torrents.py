"""The hostile corpus in fixtures/bad/: every file is refused with a one-line MetainfoError.

The corpus is written by fixtures/make_bad_torrents.py, which also says what each file breaks; the
files on disk must be exactly what it writes, so the corpus can always be regenerated.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from torrentish.errors import MetainfoError
from torrentish.formats.metainfo import load_torrent, parse_torrent

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
sys.path.insert(0, str(FIXTURES))
import make_bad_torrents as gen  # noqa: E402

BAD_FILES = sorted((FIXTURES / "bad").glob("*.torrent"))
GOOD_FILES = sorted((FIXTURES / "good").glob("*.torrent"))


def test_the_corpus_is_what_the_generator_writes(tmp_path):
    gen.write(tmp_path)
    for kind in ("bad", "good"):
        expected = {p.name: p.read_bytes() for p in (tmp_path / kind).glob("*.torrent")}
        on_disk = {p.name: p.read_bytes() for p in (FIXTURES / kind).glob("*.torrent")}
        assert on_disk.keys() == expected.keys(), f"run fixtures/make_bad_torrents.py ({kind})"
        assert on_disk == expected, f"run fixtures/make_bad_torrents.py ({kind})"
    assert len(BAD_FILES) >= 90


@pytest.mark.parametrize("path", BAD_FILES, ids=lambda p: p.stem)
def test_bad_torrent_is_refused_with_one_line(path):
    with pytest.raises(MetainfoError) as e:
        parse_torrent(path.read_bytes())
    message = str(e.value)
    assert message and "\n" not in message and "\r" not in message
    fragment = gen.BAD[path.stem][1] if path.stem in gen.BAD else ""
    assert fragment in message, f"{path.name} was refused for another reason than it tests: {message}"


@pytest.mark.parametrize("path", BAD_FILES[:10], ids=lambda p: p.stem)
def test_load_torrent_names_the_bad_file(path):
    with pytest.raises(MetainfoError, match=path.name):
        load_torrent(path)


@pytest.mark.parametrize("path", GOOD_FILES, ids=lambda p: p.stem)
def test_good_torrent_is_accepted(path):
    meta = load_torrent(path)
    assert meta.info.num_pieces == -(-meta.info.total_length // meta.info.piece_length)
