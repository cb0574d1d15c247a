"""Moving and deleting a torrent's data: its own files only, links never followed, the copy
checked before the original goes."""

from __future__ import annotations

import errno
import os

import pytest

from tests.support.fake_peer import make_sample
from torrentish.errors import StorageError
from torrentish.session.data import delete_content, has_any_data, move_content


@pytest.fixture
def multi(tmp_path):
    return make_sample(tmp_path / "src", 200_000, files=[100_000, 0, 100_000])


def no_rename_across(monkeypatch):
    """As if source and target were on two filesystems."""
    def rename(source, target):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "rename", rename)


def test_a_move_within_a_filesystem_renames(tmp_path, multi):
    target = tmp_path / "dst" / "sample"
    move_content(multi.info, multi.content_path, target)
    assert not multi.content_path.exists() and (target / "f02.bin").read_bytes() == multi.data[100_000:]


def test_a_move_across_filesystems_copies_checks_then_deletes(tmp_path, multi, monkeypatch):
    (multi.content_path / "mine.txt").write_text("a user's own file")
    no_rename_across(monkeypatch)
    target = tmp_path / "dst" / "sample"
    move_content(multi.info, multi.content_path, target)
    assert sorted(p.name for p in target.iterdir()) == ["f00.bin", "f01.bin", "f02.bin"]
    assert (target / "f00.bin").read_bytes() == multi.data[:100_000]
    assert sorted(p.name for p in multi.content_path.iterdir()) == ["mine.txt"]  # only ours went


def test_a_copy_that_differs_leaves_the_original(tmp_path, multi, monkeypatch):
    import shutil

    no_rename_across(monkeypatch)
    real_copy = shutil.copy2

    def bad_copy(source, target, **kwargs):
        real_copy(source, target, **kwargs)
        with open(target, "r+b") as f:
            f.write(b"X")

    monkeypatch.setattr(shutil, "copy2", bad_copy)
    with pytest.raises(StorageError, match="differs from the original"):
        move_content(multi.info, multi.content_path, tmp_path / "dst" / "sample")
    assert (multi.content_path / "f00.bin").read_bytes() == multi.data[:100_000]
    assert not (tmp_path / "dst" / "sample" / "f00.bin").exists()


def test_a_move_onto_existing_data_is_refused(tmp_path, multi):
    (tmp_path / "dst" / "sample").mkdir(parents=True)
    with pytest.raises(StorageError, match="exists already"):
        move_content(multi.info, multi.content_path, tmp_path / "dst" / "sample")


def test_delete_removes_only_the_torrents_files_and_follows_no_link(tmp_path):
    import shutil

    from tests.support.data import make_multi_file, make_torrent
    from torrentish.formats.metainfo import load_torrent

    payload = make_multi_file(tmp_path / "src")  # multi/a.bin, b-empty.txt, c-small.bin, sub/d.bin
    make_torrent(payload, tmp_path / "multi.torrent")
    info = load_torrent(tmp_path / "multi.torrent").info
    outside = tmp_path / "outside"
    shutil.move(payload.root / "sub", outside)  # the torrent's sub/ is now a link to elsewhere
    (payload.root / "sub").symlink_to(outside)
    (payload.root / "notes.txt").write_text("a user's own file")
    delete_content(info, payload.root)
    assert (outside / "d.bin").exists()
    assert sorted(p.name for p in payload.root.iterdir()) == ["notes.txt", "sub"]
    (payload.root / "notes.txt").unlink()
    (payload.root / "sub").unlink()
    assert not has_any_data(info, payload.root)
    delete_content(info, payload.root)
    assert not payload.root.exists()
