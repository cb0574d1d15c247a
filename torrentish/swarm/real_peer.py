"""One peer of a --real swarm: a torrentish client in its own process, driven over stdin/stdout.

    python -m torrentish.swarm.real_peer '<config JSON>'

The coordinator (runner_real) starts every peer first, so that interpreter start-up does not
count as swarm time, then sends each one line on stdin:

    {"cmd": "go", "at": <time.monotonic() to arrive at>, "peers": [[host, port], ...]}

then, every announce interval, {"cmd": "peers", "peers": [...]} (a tracker's re-announce
answer), and at the end closes stdin. The peer writes one JSON object per line on stdout: ``ready`` (with
its port) once it listens with the torrent added, ``completed``, ``left`` and finally ``stats``.
Times are ``time.monotonic()``, shared by all processes of one machine (namespaces included).
The data is synthetic (torrentish.swarm.synthetic), so no disk is involved.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time

import trio

from torrentish.engine.client import open_client
from torrentish.engine.settings import Settings
from torrentish.swarm.synthetic import SyntheticContent, SyntheticStorage
from torrentish.wire.peer_id import make_peer_id


def _say(**event) -> None:
    print(json.dumps(event), flush=True)


async def _lines(stream: trio.abc.ReceiveStream):
    buffer = b""
    while True:
        data = await stream.receive_some(65536)
        if not data:
            return
        buffer += data
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            yield json.loads(line)


async def run_peer(config: dict) -> None:
    content = SyntheticContent(config["file_size"], config["piece_size"], salt=config["salt"].encode())
    settings = Settings(**config["settings"])
    rng = random.Random(config["rng"])
    storage = SyntheticStorage(content, complete=config["seed"], verify=config["verify"])
    stdin = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
    lines = _lines(stdin)
    torrent = None
    async with open_client(host=config["host"], port=config["port"], settings=settings, rng=rng,
                           peer_id=make_peer_id(rng)) as client:
        torrent = await client.add_torrent(content.info, storage, strategy=config["strategy"],
                                           upload_only=config["seed"])
        if config["free_rider"]:
            torrent.uploads.free_rider = True  # never upload
        _say(event="ready", port=client.port)
        async with trio.open_nursery() as nursery:
            command = await anext(lines, None)
            if command is None or command.get("cmd") != "go":
                nursery.cancel_scope.cancel()
                return

            async def follow_commands() -> None:
                """Re-announces ({"cmd": "peers", ...}) until stdin closes, which stops us."""
                async for line in lines:
                    if line.get("cmd") == "peers":
                        torrent.add_peers([tuple(p) for p in line["peers"]])
                nursery.cancel_scope.cancel()

            nursery.start_soon(follow_commands)
            nursery.start_soon(_report_progress, torrent, config["sample_interval"])
            await trio.sleep(max(0.0, command["at"] - time.monotonic()))
            _say(event="arrived", t=time.monotonic())
            torrent.add_peers([tuple(p) for p in command["peers"]])
            await torrent.completed.wait()
            if not config["seed"]:
                _say(event="completed", t=time.monotonic())
            if config["departure"] == "linger":
                await trio.sleep(config["linger"])
            elif config["departure"] == "stay":
                await trio.sleep_forever()
            nursery.cancel_scope.cancel()
    _say(event="left", t=time.monotonic())
    _say(event="stats", uploaded=torrent.uploaded, downloaded=torrent.downloaded,
         duplicate=torrent.wasted)


async def _report_progress(torrent, interval: float) -> None:
    """What the coordinator samples: verified and uploaded bytes, and which pieces we have."""
    while True:
        _say(event="progress", t=time.monotonic(), verified=torrent.verified_bytes,
             uploaded=torrent.uploaded, have=torrent.have.to_bytes().hex())
        await trio.sleep(interval / 2)


def main() -> None:
    trio.run(run_peer, json.loads(sys.argv[1]))


if __name__ == "__main__":
    main()
