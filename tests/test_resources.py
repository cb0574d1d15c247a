"""A library caller whose transfer raises gets its descriptors and threads back: get() and seed()
close their storage on every way out."""

from __future__ import annotations

import os
import threading

import pytest
import trio

from tests.support.data import make_single_file, make_torrent
from torrentish.app.transfer import get, seed
from torrentish.errors import StorageError
from torrentish.formats.metainfo import load_torrent

LOCALHOST = "127.0.0.1"


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def writer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("torrentish writer")]


async def wait_for_writers_to_end() -> None:
    for thread in writer_threads():
        await trio.to_thread.run_sync(thread.join, 10)


def raised(caught: pytest.ExceptionInfo, kind: type) -> bool:
    """The exception, or one inside trio's exception groups, is a `kind`."""
    if isinstance(caught.value, BaseExceptionGroup):
        return caught.group_contains(kind)
    return isinstance(caught.value, kind)


class Boom(Exception):
    pass


async def failing_view(client, torrent) -> None:
    await trio.sleep(0)
    raise Boom("the view failed")


async def test_get_that_raises_closes_its_storage(tmp_path):
    payload = make_single_file(tmp_path / "src", size=2 * 1024 * 1024)
    torrent = tmp_path / "t.torrent"
    make_torrent(payload, torrent)
    info = load_torrent(torrent).info
    # Half the data is already there, so the storage opens files and starts its writer thread.
    (tmp_path / "dl").mkdir()
    (tmp_path / "dl" / payload.name).write_bytes(payload.root.read_bytes()[: 1024 * 1024])
    before = open_descriptors()
    with pytest.raises(BaseException) as caught:
        await get(info, tmp_path / "dl", host=LOCALHOST, view=failing_view, resume=None)
    assert raised(caught, Boom)
    await wait_for_writers_to_end()
    assert not writer_threads()
    assert open_descriptors() <= before


async def test_seed_of_missing_data_closes_its_storage(tmp_path):
    payload = make_single_file(tmp_path / "src", size=1024 * 1024)
    torrent = tmp_path / "t.torrent"
    make_torrent(payload, torrent)
    info = load_torrent(torrent).info
    payload.root.write_bytes(b"\0" * 1024 * 1024)  # the right size, the wrong bytes
    before = open_descriptors()
    with pytest.raises(BaseException) as caught:
        await seed(info, payload.root, host=LOCALHOST)
    assert raised(caught, StorageError)
    await wait_for_writers_to_end()
    assert not writer_threads()
    assert open_descriptors() <= before
