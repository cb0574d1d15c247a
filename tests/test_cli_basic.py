"""The create, info and verify commands: output, exit codes, and nothing written on bad input."""

import json
import os
import signal
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from tests.support import wait_until
from tests.support.data import PIECE_LENGTH, make_multi_file, make_single_file, make_torrent
from torrentish import __version__
from torrentish.cli.errors import handle_errors
from torrentish.cli.main import app
from torrentish.errors import MetainfoError
from torrentish.formats.magnet import make_magnet
from torrentish.formats.metainfo import load_torrent

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def run_module(*args, cwd=None):
    """``python -m torrentish`` in a child process: real exit codes and streams."""
    return subprocess.run([sys.executable, "-m", "torrentish", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=60)


def test_version_and_help():
    result = run_module("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"torrentish {__version__}"
    result = run_module("--help")
    assert result.returncode == 0
    for command in ("create", "info", "verify"):
        assert command in result.stdout


def test_usage_error_exits_2():
    result = run_module("create", "--no-such-option", "x")
    assert result.returncode == 2


def test_create_writes_name_torrent_in_cwd_and_refuses_to_overwrite(tmp_path, monkeypatch):
    payload = make_single_file(tmp_path / "src")
    monkeypatch.chdir(tmp_path)
    result = run("create", payload.root, "--v1", "--tracker", "http://t/announce", "--piece-length", "32KiB")
    assert result.exit_code == 0, result.output
    out = tmp_path / "single.bin.torrent"
    meta = load_torrent(out)
    assert meta.info.piece_length == 32 * 1024 and meta.trackers() == (("http://t/announce",),)
    assert meta.info.info_hash.hex() in result.stdout
    assert make_magnet(meta.info.info_hash, "single.bin", ["http://t/announce"]) in result.stdout
    before = out.read_bytes()

    again = run("create", payload.root, "--comment", "other")
    assert again.exit_code == 1
    assert again.stderr.count("\n") == 1 and "already exists" in again.stderr
    assert out.read_bytes() == before

    forced = run("create", payload.root, "--comment", "other", "--force")
    assert forced.exit_code == 0 and load_torrent(out).comment == "other"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["single.bin.torrent", "src"]


@pytest.mark.parametrize("args, code", [
    (["--piece-length", "3000"], 2),
    (["--piece-length", "lots"], 2),
    (["--tracker", "not a url"], 2),
    (["-o", "missing-dir/x.torrent"], 1),
])
def test_create_bad_arguments_write_nothing(tmp_path, monkeypatch, args, code):
    payload = make_single_file(tmp_path / "src")
    monkeypatch.chdir(tmp_path)
    result = run("create", payload.root, *args)
    assert result.exit_code == code
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


def test_create_bad_path_is_one_red_line(tmp_path):
    result = run_module("create", tmp_path / "nope", "-o", tmp_path / "x.torrent")
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr and not (tmp_path / "x.torrent").exists()


def test_create_warns_about_skipped_links(tmp_path):
    payload = make_multi_file(tmp_path)
    (payload.root / "link").symlink_to(payload.root / "a.bin")
    result = run("create", payload.root, "--v1", "-o", tmp_path / "m.torrent")
    assert result.exit_code == 0
    assert "skipped" in result.stderr and "link" in result.stderr
    assert len(load_torrent(tmp_path / "m.torrent").info.files) == 4


def test_info_torrent_text_and_json(tmp_path):
    payload = make_multi_file(tmp_path)
    info_hash = make_torrent(payload, tmp_path / "m.torrent", announce="http://t/a")
    text = run("info", tmp_path / "m.torrent")
    assert text.exit_code == 0
    for expected in (info_hash.hex(), "multi/sub/d.bin", "http://t/a", "magnet:?xt=urn:btih:"):
        assert expected in text.stdout
    described = json.loads(run("info", tmp_path / "m.torrent", "--json").stdout)
    assert described["info_hash"] == info_hash.hex()
    assert described["num_pieces"] == -(-payload.total_length // PIECE_LENGTH)
    assert [f["length"] for f in described["files"]] == [n for _, n in payload.files]
    assert described["trackers"] == [["http://t/a"]]


def test_info_magnet(tmp_path):
    link = make_magnet(b"\x12" * 20, "some name", ["udp://t:1"], length=99, peers=[("10.0.0.1", 6881)])
    text = run("info", link)
    assert text.exit_code == 0 and "some name" in text.stdout and "12" * 20 in text.stdout
    described = json.loads(run("info", link, "--json").stdout)
    assert described == {
        "kind": "magnet", "name": "some name", "info_hash": "12" * 20, "info_hash_v2": None, "total_length": 99,
        "trackers": [["udp://t:1"]], "web_seeds": [], "peers": ["10.0.0.1:6881"], "select_only": None,
    }


@pytest.mark.parametrize("source", ["magnet:?xt=urn:btih:zz", "not-a-file.torrent"])
def test_info_bad_input(tmp_path, source):
    result = run_module("info", source, cwd=tmp_path)
    assert result.returncode == 1 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_info_garbage_torrent(tmp_path):
    (tmp_path / "g.torrent").write_bytes(b"d4:infoi3ee")
    result = run("info", tmp_path / "g.torrent")
    assert result.exit_code == 1 and "error:" in result.stderr


def test_verify_exit_codes_and_output(tmp_path):
    payload = make_multi_file(tmp_path / "data")
    make_torrent(payload, tmp_path / "m.torrent")
    good = run("verify", tmp_path / "m.torrent", "--data", tmp_path / "data")
    assert good.exit_code == 0 and "complete: 100.0%" in good.stdout
    also = run("verify", tmp_path / "m.torrent", "--data", payload.root)
    assert also.exit_code == 0

    with open(payload.root / "a.bin", "r+b") as f:
        f.write(b"\0\0\0")
    (payload.root / "b-empty.txt").unlink()
    bad = run("verify", tmp_path / "m.torrent", "--data", tmp_path / "data")
    assert bad.exit_code == 1
    assert "INCOMPLETE" in bad.stdout and "bad or missing pieces: 0" in bad.stdout
    assert "missing file: multi/b-empty.txt" in bad.stdout
    report = json.loads(run("verify", tmp_path / "m.torrent", "-d", tmp_path / "data", "--json").stdout)
    assert report["complete"] is False and report["bad_pieces"] == [0]
    assert report["missing_files"] == ["multi/b-empty.txt"]


def test_verify_defaults_to_cwd(tmp_path):
    payload = make_single_file(tmp_path)
    make_torrent(payload, tmp_path / "s.torrent")
    result = run_module("verify", "s.torrent", cwd=tmp_path)
    assert result.returncode == 0, result.stderr


def test_handle_errors_maps_exceptions():
    @handle_errors
    def bad_input():
        raise MetainfoError("broken [thing]")

    @handle_errors
    def interrupted():
        raise KeyboardInterrupt

    with pytest.raises(typer.Exit) as exit_info:
        bad_input()
    assert exit_info.value.exit_code == 1
    with pytest.raises(typer.Exit) as exit_info:
        interrupted()
    assert exit_info.value.exit_code == 130


def _has_open(pid: int, path) -> bool:
    """Whether process `pid` has `path` open (Linux /proc)."""
    fds = f"/proc/{pid}/fd"
    try:
        names = os.listdir(fds)
    except OSError:
        return False
    for name in names:
        try:
            if os.readlink(f"{fds}/{name}") == str(path):
                return True
        except OSError:
            pass
    return False


def test_ctrl_c_exits_130(tmp_path):
    """A real SIGINT while hashing a large sparse file ends with status 130 and no traceback."""
    big = tmp_path / "big"
    with open(big, "wb") as f:
        f.truncate(32 * 1024**3)  # sparse: costs no disk, hashing it takes many seconds
    command = [sys.executable, "-m", "torrentish", "create", big, "-o", tmp_path / "b.torrent"]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # Interrupt it while it hashes (it has the file open), not while Python still starts.
        wait_until(lambda: child.poll() is not None or _has_open(child.pid, big), 60, "create to open the file")
        child.send_signal(signal.SIGINT)
        _, stderr = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 130 and "Traceback" not in stderr
    assert not (tmp_path / "b.torrent").exists()
    assert os.listdir(tmp_path) == ["big"]
