"""`torrentish demo`: the whole job on one machine with nothing outside.

Generates a sample file, makes a torrent of it, seeds it from one client and downloads it with
another over 127.0.0.1, with the usual live view on the downloader, then checks the copy
byte for byte.
"""

from __future__ import annotations

import random
from pathlib import Path

import trio

from torrentish.app.transfer import TransferResult, View, get

DEMO_NAME = "torrentish-demo.bin"


def make_sample(path: Path, size: int, seed: int = 1) -> None:
    """Pseudo-random data (incompressible, reproducible), written in 1 MiB chunks."""
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 1 << 20)
            f.write(rng.randbytes(n))
            left -= n


def _same_bytes(a: Path, b: Path) -> bool:
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(1 << 20), fb.read(1 << 20)
            if x != y:
                return False
            if not x:
                return True


async def run_demo(
    workdir: Path, *, size: int, rate: int, view: View | None = None, leechers: int = 1
) -> TransferResult:
    from torrentish.app.create import create_torrent
    from torrentish.engine.client import open_client
    from torrentish.errors import StorageError
    from torrentish.formats.metainfo import parse_torrent
    from torrentish.storage.files import FileStorage

    source = workdir / "seed" / DEMO_NAME
    if not source.exists() or source.stat().st_size != size:
        await trio.to_thread.run_sync(make_sample, source, size)
    torrent_bytes = await trio.to_thread.run_sync(lambda: create_torrent(source, creation_date=None))
    (workdir / f"{DEMO_NAME}.torrent").write_bytes(torrent_bytes)
    info = parse_torrent(torrent_bytes).info
    download = workdir / "download"
    target = download / info.name
    target.unlink(missing_ok=True)

    async with open_client(host="127.0.0.1") as seeder:
        storage = FileStorage(source, info, writable=False, resume_path=None)
        await seeder.add_torrent(info, storage, upload_only=True)
        result = await get(
            info,
            download,
            peers=[("127.0.0.1", seeder.port)],
            host="127.0.0.1",
            max_down=rate,
            view=view,
            resume=None,
        )
    if not await trio.to_thread.run_sync(_same_bytes, source, target):
        raise StorageError("demo: the downloaded copy differs from the original")
    return result
