"""The command line as a finished tool: help with examples everywhere, usage errors (exit 2) and
runtime errors (exit 1) as one red line, and get/seed/demo end to end when not on a terminal:
timestamped lines, the closing summary, Ctrl-C with a word on resuming (exit 130), -q."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tests.support.data import make_single_file, make_torrent
from torrentish import __version__
from torrentish.cli.errors import handle_errors
from torrentish.cli.main import app
from torrentish.errors import StorageError
from tests.support import NO_HOST_DISCOVERY, wait_until

OURS = ("create", "info", "verify", "get", "seed", "demo", "config")
STAMP = re.compile(r"^\d\d:\d\d:\d\d ")


def env_for(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TORRENTISH_")}
    env.update(TORRENTISH_STATE_DIR=str(tmp_path / "state"), TORRENTISH_CONFIG=str(tmp_path / "none.toml"))
    env.update(NO_HOST_DISCOVERY)
    return env


def cli(tmp_path: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "torrentish", *map(str, args)], capture_output=True, text=True,
                          env=env_for(tmp_path), timeout=timeout, cwd=tmp_path)


def command_names() -> list[str]:
    import typer.main

    group = typer.main.get_command(app)
    return sorted(group.commands)  # type: ignore[attr-defined]


def test_every_command_has_help_and_ours_have_examples():
    runner = CliRunner()
    names = command_names()
    assert set(OURS) <= set(names)
    for name in names:
        result = runner.invoke(app, [name, "--help"], env={"COLUMNS": "80"})
        assert result.exit_code == 0, (name, result.output)
        assert "Usage" in result.output
        if name in OURS:
            assert "Examples" in result.output and f"torrentish {name}" in result.output, name
            assert "-v" in result.output, name


def test_version_and_root_help(tmp_path):
    assert cli(tmp_path, "--version").stdout == f"torrentish {__version__}\n"
    root = cli(tmp_path, "--help")
    assert root.returncode == 0 and "--install-completion" in root.stdout
    for name in OURS:
        assert name in root.stdout
    bare = cli(tmp_path)  # no arguments: the help, as a usage error
    assert bare.returncode == 2 and "Usage" in bare.stdout + bare.stderr


def test_shell_completion_script(tmp_path):
    script = cli(tmp_path, "--show-completion", "bash")
    assert script.returncode == 0 and "_TORRENTISH_COMPLETE" in script.stdout


@pytest.mark.parametrize("args, hint", [
    (["get"], "Missing argument 'TORRENT"),
    (["get", "x.torrent", "--max-up", "fast"], "'--max-up': not a rate: 'fast'"),
    (["get", "x.torrent", "--peer", "nowhere"], "'--peer': 'nowhere' is not HOST:PORT"),
    (["get", "x.torrent", "--port", "lots"], "Invalid value for '--port'"),
    (["get", "x.torrent", "--port", "70000"], "'--port': Input should be less than or equal to 65535"),
    (["seed", "x.torrent", "--port", "-5"], "'--port': Input should be greater than or equal to 0"),
    (["share", "x", "--tracker-port", "65536"], "'--tracker-port'"),
    (["seed", "x.torrent", "--nope"], "No such option: --nope"),
    (["demo", "--size", "huge"], "'--size': not a size"),
    (["gte"], "No such command 'gte'. Did you mean 'get'?"),
])
def test_usage_errors_exit_2_with_a_helpful_line(tmp_path, args, hint):
    result = cli(tmp_path, *args)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: ") and hint in lines[0]
    assert len(lines) == 2 and "Usage: torrentish" in lines[1] and "--help" in lines[1]
    assert result.stdout == ""


def test_runtime_errors_are_one_red_line(tmp_path):
    missing = cli(tmp_path, "get", "missing.torrent")
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1
    assert missing.stderr.startswith("error: ") and "missing.torrent" in missing.stderr
    (tmp_path / "s.torrent").write_bytes(b"")
    payload = make_single_file(tmp_path / "src", size=50_000)
    make_torrent(payload, tmp_path / "s.torrent")
    payload.root.write_bytes(b"not the data")
    bad_data = cli(tmp_path, "seed", tmp_path / "s.torrent", "-d", payload.root)
    assert bad_data.returncode == 1 and bad_data.stderr.count("\n") == 1, bad_data.stderr
    assert "nothing to seed" in bad_data.stderr and "Traceback" not in bad_data.stderr


def test_bugs_get_a_traceback_only_with_verbose(capsys):
    @handle_errors
    def broken(verbose: int = 0):
        raise ValueError("boom")

    @handle_errors
    def grouped(verbose: int = 0):
        raise ExceptionGroup("tasks", [StorageError("disk full")])

    for function, code in ((broken, 1), (grouped, 1)):
        with pytest.raises(typer.Exit) as caught:
            function()
        assert caught.value.exit_code == code
    quiet = capsys.readouterr().err
    assert "internal error: ValueError: boom (run again with -v for the traceback)" in quiet
    assert "error: disk full" in quiet and "Traceback" not in quiet
    with pytest.raises(typer.Exit):
        broken(verbose=1)
    loud = capsys.readouterr().err
    assert "Traceback" in loud and 'raise ValueError("boom")' in loud and "internal error: ValueError: boom" in loud


# -- transfers, piped (plain lines) -------------------------------------------------------------------


def start_seeder(tmp_path: Path, torrent: Path, data: Path, port: int, *args: str) -> subprocess.Popen:
    child = subprocess.Popen(
        [sys.executable, "-m", "torrentish", "seed", str(torrent), "-d", str(data), "--port", str(port), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env_for(tmp_path),
    )
    first = child.stdout.readline()  # printed once the data is checked and the port is open
    assert "listening on port" in first, first + child.stderr.read()
    return child


def stop(child: subprocess.Popen) -> tuple[str, str]:
    child.send_signal(signal.SIGINT)
    try:
        return child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()


def test_get_and_seed_piped(tmp_path, port_factory):
    payload = make_single_file(tmp_path / "src", size=3 * 1024 * 1024 + 5)
    torrent = tmp_path / "s.torrent"
    make_torrent(payload, torrent)
    port = port_factory()
    seeder = start_seeder(tmp_path, torrent, payload.root, port)
    try:
        # A slow download, interrupted: exit 130, progress kept, a word on resuming.
        slow = subprocess.Popen(
            [sys.executable, "-m", "torrentish", "get", str(torrent), "-o", str(tmp_path / "dl"),
             "--peer", f"127.0.0.1:{port}", "--max-down", "512KiB/s"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env_for(tmp_path),
        )
        # Stop it once data has landed (a sparse file gets blocks only as pieces are written).
        partial = tmp_path / "dl" / "single.bin"
        wait_until(lambda: slow.poll() is not None or (partial.exists() and partial.stat().st_blocks > 0), 60,
                   "the slow download to write its first piece")
        out, err = stop(slow)
        assert slow.returncode == 130, err
        assert "stopped single.bin at" in out and "run the same command again to resume" in out

        # The same command resumes and finishes.
        done = cli(tmp_path, "get", torrent, "-o", tmp_path / "dl", "--peer", f"127.0.0.1:{port}")
        assert done.returncode == 0, done.stderr
    finally:
        seed_out, seed_err = stop(seeder)
    lines = done.stdout.splitlines()
    assert all(STAMP.match(line) for line in lines), lines
    assert "downloading single.bin (3.0 MiB in 97 pieces)" in lines[0]
    assert re.match(r"done: single\.bin, 3\.0 MiB \(.* this run\) in .* average\) from 1 peer, ratio 0\.00$",
                    STAMP.sub("", lines[-1])), lines[-1]
    assert (tmp_path / "dl" / "single.bin").read_bytes() == payload.root.read_bytes()
    assert "\x1b" not in done.stdout + done.stderr

    assert seeder.returncode == 0, seed_err
    # Blocks in flight when the first download stopped are sent again to the second.
    assert re.search(r"seeded single\.bin for \d+s: uploaded \d+\.\d MiB to 2 peers \(ratio \d\.\d\d\)$", seed_out), seed_out


def test_quiet_prints_nothing_and_verbose_logs_peers(tmp_path, port_factory):
    payload = make_single_file(tmp_path / "src", size=200_000)
    torrent = tmp_path / "s.torrent"
    make_torrent(payload, torrent)
    port = port_factory()
    seeder = start_seeder(tmp_path, torrent, payload.root, port)
    try:
        quiet = cli(tmp_path, "get", torrent, "-o", tmp_path / "q", "--peer", f"127.0.0.1:{port}", "-q")
        log = tmp_path / "get.log"
        loud = cli(tmp_path, "get", torrent, "-o", tmp_path / "v", "--peer", f"127.0.0.1:{port}", "-v",
                   "--log-file", log)
    finally:
        stop(seeder)
    assert quiet.returncode == 0 and quiet.stdout == quiet.stderr == ""
    assert loud.returncode == 0
    assert re.search(rf"^\d\d:\d\d:\d\d connected to 127\.0\.0\.1:{port} \(torrentish ", loud.stderr, re.M), loud.stderr
    assert f"connected to 127.0.0.1:{port}" in log.read_text() and " INFO " in log.read_text()


def test_demo_piped(tmp_path):
    result = cli(tmp_path, "demo", "--size", "3MiB", "--rate", "0", "--workdir", tmp_path / "demo")
    assert result.returncode == 0, result.stderr
    lines = [STAMP.sub("", line) for line in result.stdout.splitlines()]
    assert lines[0] == f"demo: a local peer shares a 3.0 MiB sample file in {tmp_path / 'demo'}, another downloads it"
    assert re.match(r"demo: 3\.0 MiB copied in \d+s at .*/s, identical to the original$", lines[-1])
    assert (tmp_path / "demo" / "download" / "torrentish-demo.bin").stat().st_size == 3 * 1024 * 1024


def test_one_seed_process_serves_several_torrents(tmp_path, port_factory):
    first = make_single_file(tmp_path / "src", "one.bin", size=300_000, seed=1)
    second = make_single_file(tmp_path / "src", "two.bin", size=200_000, seed=2)
    torrents = [tmp_path / "one.torrent", tmp_path / "two.torrent"]
    make_torrent(first, torrents[0])
    make_torrent(second, torrents[1])
    port = port_factory()
    seeder = subprocess.Popen(
        [sys.executable, "-m", "torrentish", "seed", *map(str, torrents), "-d", str(tmp_path / "src"),
         "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env_for(tmp_path))
    try:
        said = [seeder.stdout.readline() for _ in range(3)]  # printed once both are checked
        assert "seeding one.bin" in said[0] and "seeding two.bin" in said[1], said
        assert f"2 torrents on port {port}" in said[2], said
        for torrent, payload in zip(torrents, (first, second)):
            done = cli(tmp_path, "get", torrent, "-o", tmp_path / "dl", "--peer", f"127.0.0.1:{port}", "-q")
            assert done.returncode == 0, done.stderr
            assert (tmp_path / "dl" / payload.name).read_bytes() == payload.root.read_bytes()
    finally:
        out, err = stop(seeder)
    assert seeder.returncode == 0, err
    assert re.search(r"seeded 2 torrents for \d+s: uploaded", out), out
