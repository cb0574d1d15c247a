"""What `torrentish get`/`seed` do before the first byte moves: start-up CPU counts in every
transfer (bench/README.md, "Start-up time"), so these guard the ways it was cut.

- No pydantic: typer 0.29 converts values through pydantic (0.1 s of CPU); torrentish/cli/coercion.py
  converts the plain ones itself, and must give typer's result and typer's error message.
- No rich under -q, nor typer's rich help renderer: they are for the live view, help and errors.
- The cyclic GC rests during start-up and runs again, start-up's objects frozen, once the transfer
  starts; a command without a transfer gets it back as it begins.
- The cli modules keep real (not postponed) annotations: typer would eval each string on each run.

The subprocess tests stop the command at its first socket bind/connect (an audit hook), i.e. just
as the transfer starts, and look at the process's state there.
"""

import json
import os
import string
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import NO_HOST_DISCOVERY
from tests.support.data import make_single_file, make_torrent

# Runs `python -m torrentish ARGS` (torrentish/__main__.py) and, at the first bind or connect or at
# the open of the file named by PROBE_OPEN, writes what it sees to PROBE_OUT and exits.
PROBE = r"""
import gc, json, os, runpy, sys

def report(event, args):
    if event in ("socket.bind", "socket.connect") or (
            event == "open" and os.environ.get("PROBE_OPEN") and str(args[0]) == os.environ["PROBE_OPEN"]):
        with open(os.environ["PROBE_OUT"], "w") as out:
            json.dump({"event": event, "modules": sorted(sys.modules), "gc_enabled": gc.isenabled(),
                       "gc_frozen": gc.get_freeze_count()}, out)
        os._exit(0)

sys.addaudithook(report)
sys.argv = ["torrentish", *sys.argv[1:]]
runpy.run_module("torrentish", run_name="__main__", alter_sys=True)
"""


def probe(tmp_path: Path, *args: str, open_path: Path | None = None) -> dict:
    out = tmp_path / "probe.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TORRENTISH_")}
    env.update(NO_HOST_DISCOVERY, TORRENTISH_STATE_DIR=str(tmp_path / "state"),
               TORRENTISH_CONFIG=str(tmp_path / "none.toml"), PROBE_OUT=str(out),
               PROBE_OPEN=str(open_path or ""))
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=60)
    assert out.exists(), f"the probe never fired (exit {done.returncode}): {done.stderr[-2000:]}"
    return json.loads(out.read_text())


@pytest.fixture
def torrent(tmp_path: Path) -> Path:
    payload = make_single_file(tmp_path / "data", "small.bin", size=5000)
    make_torrent(payload, tmp_path / "small.torrent", piece_length=16384)
    return tmp_path / "small.torrent"


def assert_lean_transfer_start(seen: dict) -> None:
    assert seen["event"] in ("socket.bind", "socket.connect")
    modules = set(seen["modules"])
    assert "torrentish.app.transfer" in modules  # the probe fired where the transfer starts
    assert not {m for m in modules if m == "pydantic" or m.startswith(("pydantic.", "pydantic_core"))}
    assert not {m for m in modules if m == "rich" or m.startswith("rich.")}
    assert "typer.rich_utils" not in modules and "typer._adapters" not in modules
    assert seen["gc_enabled"]
    assert seen["gc_frozen"] > 10_000  # start-up's modules, classes and functions


def test_get_quiet_starts_without_pydantic_or_rich_and_with_the_gc_on(tmp_path, torrent):
    seen = probe(tmp_path, "get", str(torrent), "-o", str(tmp_path / "down"), "--peer", "127.0.0.1:1",
                 "-q", "--no-lsd", "--no-dht", "--port", "0")
    assert_lean_transfer_start(seen)


def test_seed_quiet_starts_without_pydantic_or_rich_and_with_the_gc_on(tmp_path, torrent):
    seen = probe(tmp_path, "seed", str(torrent), "-d", str(tmp_path / "data"), "-q", "--no-lsd", "--no-dht")
    assert_lean_transfer_start(seen)


def test_a_command_without_a_transfer_has_the_gc_back_as_it_begins(tmp_path):
    payload = make_single_file(tmp_path / "data", "small.bin", size=5000)
    seen = probe(tmp_path, "create", str(payload.root), "-o", str(tmp_path / "new.torrent"), "-q",
                 open_path=payload.root)
    assert seen["event"] == "open"
    assert seen["gc_enabled"]
    assert "pydantic" not in seen["modules"]


def test_in_process_commands_leave_the_gc_alone(torrent, monkeypatch, capsys):
    """CliRunner (tests, embedding) never calls main(): no freeze, no pause; and main() run
    in-process for --version or a usage error gives the GC back as it found it."""
    import gc

    from typer.testing import CliRunner

    from torrentish.cli.main import app, main

    frozen = gc.get_freeze_count()
    result = CliRunner().invoke(app, ["info", str(torrent)])
    assert result.exit_code == 0, result.output
    assert gc.isenabled() and gc.get_freeze_count() == frozen
    for argv, code in ((["--version"], 0), (["get"], 2)):
        monkeypatch.setattr(sys, "argv", ["torrentish", *argv])
        with pytest.raises(SystemExit) as exited:
            main()
        assert exited.value.code == code
        assert gc.isenabled() and gc.get_freeze_count() == frozen


def all_commands() -> list:
    import typer.main

    from torrentish.cli.main import app

    found, todo = [], [typer.main.get_command(app)]
    while todo:
        command = todo.pop()
        found.append(command)
        todo.extend(getattr(command, "commands", {}).values())
    return found


def test_cli_annotations_are_not_postponed():
    """`from __future__ import annotations` in a cli module makes typer eval every parameter's
    Annotated[...] string on every run (about 10 ms for all commands)."""
    callbacks = [c.callback for c in all_commands() if c.callback is not None]
    assert len(callbacks) > 10
    for callback in callbacks:
        callback = getattr(callback, "__wrapped__", callback)
        postponed = [name for name, value in callback.__annotations__.items() if isinstance(value, str)]
        assert not postponed, f"{callback.__module__}.{callback.__name__}: {postponed}"


# -- the plain conversions agree with typer's (pydantic) ------------------------------------------

def params_by_type() -> dict[str, list]:
    """Parameters of the real app, by the annotation typer converts them with."""
    from torrentish.cli.coercion import PlainRuntimeParam, plain_or_typer_runtime_param

    found: dict[str, list] = {}
    for command in all_commands():
        for param in command.params:
            descriptor = getattr(param, "type_descriptor", None)
            if descriptor is not None and isinstance(plain_or_typer_runtime_param(descriptor), PlainRuntimeParam):
                annotation = descriptor.annotation
                name = annotation.__name__ if isinstance(annotation, type) else str(annotation)
                found.setdefault(name, []).append(param)
    return found


PARAMS = params_by_type()


def test_the_plain_conversions_cover_get_and_seed():
    from torrentish.cli.coercion import PlainRuntimeParam, plain_or_typer_runtime_param

    commands = {c.name: c for c in all_commands()}
    for name in ("get", "seed"):
        for param in commands[name].params:
            if param.type_descriptor.annotation is not bool:  # bool flags skip conversion
                assert isinstance(plain_or_typer_runtime_param(param.type_descriptor), PlainRuntimeParam), param.name
    assert {"str", "int", "bool", "Path", "list[str]"} <= set(PARAMS)


def convert_both(param, value):
    """(plain result or error message, typer's result or error message) for one value."""
    from typer._coercion import build_runtime_param

    from torrentish.cli.coercion import plain_or_typer_runtime_param

    results = []
    for runtime in (plain_or_typer_runtime_param(param.type_descriptor), build_runtime_param(param.type_descriptor)):
        try:
            results.append(("ok", runtime.coerce(value, param=param, ctx=None)))
        except typer.BadParameter as error:
            results.append(("error", error.format_message()))
    return results


TEXT = st.text(alphabet=string.printable + "٣é\u00a0\x00", max_size=12)
NUMBERS = st.one_of(st.integers(-10**20, 10**20).map(str),
                    st.from_regex(r"\s?[-+]?[0-9_]{1,8}(\.0)?\s?", fullmatch=True))
ODD_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=False, width=16))


@settings(max_examples=300, deadline=None)
@given(value=st.one_of(TEXT, NUMBERS, ODD_VALUES))
def test_int_and_str_values_convert_as_typer_converts_them(value):
    for kind in ("int", "str", "bool"):
        for param in PARAMS[kind][:2]:
            plain, typer_own = convert_both(param, value)
            assert plain == typer_own and type(plain[1]) is type(typer_own[1]), (param.name, value)


@settings(max_examples=200, deadline=None)
@given(value=st.one_of(NUMBERS, st.sampled_from(["-1", "0", "65535", "65536", "6881"]), ODD_VALUES))
def test_ranged_ints_convert_as_typer_converts_them(value):
    """--port has a range: in it, a plain conversion; out of it, typer's own error."""
    port = next(p for c in all_commands() if c.name == "get" for p in c.params if p.name == "port")
    plain, typer_own = convert_both(port, value)
    assert plain == typer_own and type(plain[1]) is type(typer_own[1]), value


ODD_PATHS = st.sampled_from(["", ".", "-", "a//b/", "./x", "nope/x", "~", "/", "x\x00", "\ud800x", "/etc/passwd/"])


@settings(max_examples=200, deadline=None)
@given(value=st.one_of(TEXT, ODD_PATHS, ODD_VALUES))
def test_path_values_convert_as_typer_converts_them(value):
    for param in PARAMS["Path"]:  # among them --log-file, which must not be a directory
        plain, typer_own = convert_both(param, value)
        assert plain == typer_own and type(plain[1]) is type(typer_own[1]), (param.name, value)


def test_existing_paths_convert_as_typer_converts_them(tmp_path):
    (tmp_path / "a_file").touch()
    for param in PARAMS["Path"]:
        for value in (str(tmp_path / "a_file"), str(tmp_path), str(tmp_path / "none"), tmp_path, Path(".")):
            plain, typer_own = convert_both(param, value)
            assert plain == typer_own and type(plain[1]) is type(typer_own[1]), (param.name, value)


@settings(max_examples=100, deadline=None)
@given(values=st.one_of(st.lists(TEXT, max_size=3).map(tuple), st.lists(TEXT, max_size=3), ODD_VALUES, TEXT))
def test_list_values_convert_as_typer_converts_them(values):
    for param in PARAMS["list[str]"][:2]:
        plain, typer_own = convert_both(param, values)
        assert plain == typer_own, (param.name, values)
