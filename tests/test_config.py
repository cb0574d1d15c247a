"""Defaults from the config file and TORRENTISH_* variables: parsing, precedence, errors, and the
command line honouring them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.data import make_single_file, make_torrent
from torrentish.cli.defaults import ConfigError, load_config
from torrentish.errors import TorrentishError
from torrentish.paths import config_dir, config_path
from tests.support import NO_HOST_DISCOVERY


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_paths_follow_xdg_and_the_override(monkeypatch, tmp_path):
    monkeypatch.delenv("TORRENTISH_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert config_dir() == tmp_path / "xdg" / "torrentish"
    assert config_path() == tmp_path / "xdg" / "torrentish" / "config.toml"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert config_path() == tmp_path / "home" / ".config" / "torrentish" / "config.toml"
    monkeypatch.setenv("TORRENTISH_CONFIG", str(tmp_path / "elsewhere.toml"))
    assert config_path() == tmp_path / "elsewhere.toml"


def test_no_file_and_no_variables_means_no_defaults(tmp_path):
    config = load_config(tmp_path / "missing.toml", environ={})
    assert not config.file_found and config.default_map() == {}


def test_file_values_then_environment_overrides(tmp_path):
    path = write(tmp_path / "c.toml", 'port = 6881\nmax_up = "2MiB/s"\ndownload-dir = "~/Downloads"\n'
                                      "max_down = 1048576\nkeep_seeding = true\n")
    config = load_config(path, environ={"HOME": "/home/u"})
    assert config.file_found
    assert config.default_map() == {
        "get": {"port": 6881, "max_up": "2MiB/s", "out": str(Path("~/Downloads").expanduser()),
                "max_down": "1048576", "seed": True},
        "seed": {"port": 6881, "max_up": "2MiB/s"},
        "daemon": {"port": 6881, "download_dir": str(Path("~/Downloads").expanduser())},
    }
    env = {"TORRENTISH_PORT": "7000", "TORRENTISH_MAX_UP": "500KB/s", "TORRENTISH_KEEP_SEEDING": "no",
           "TORRENTISH_MAX_DOWN": ""}  # empty: not set
    config = load_config(path, environ=env)
    assert config.default_map()["seed"] == {"port": 7000, "max_up": "500KB/s"}
    assert config.default_map()["get"]["seed"] is False and config.default_map()["get"]["max_down"] == "1048576"
    assert config.settings["port"].source == "TORRENTISH_PORT"
    assert config.settings["max_down"].source == str(path)


@pytest.mark.parametrize("text, message", [
    ("port = 70000\n", "port: a port is a number from 0 to 65535"),
    ("port = true\n", "port: a port is a number"),
    ('max_up = "fast"\n', "max_up: not a rate: 'fast'"),
    ("max_up = [1]\n", "max_up: a rate is text"),
    ('keep_seeding = "maybe"\n', "keep_seeding: expected true or false"),
    ("download_dir = 3\n", "download_dir: a directory is a path"),
    ("prot = 6881\n", "unknown key 'prot' (known keys: port, download_dir"),
    ("port = \n", "config file"),  # not TOML
])
def test_bad_files_are_one_line_errors_naming_the_file(tmp_path, text, message):
    path = write(tmp_path / "c.toml", text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert isinstance(caught.value, TorrentishError)
    assert str(path) in str(caught.value) and message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_port_mapping_keys_reach_get_seed_and_share(tmp_path):
    path = write(tmp_path / "c.toml", 'port_mapping = false\nport_mapping_protocols = "UPnP, natpmp"\n')
    defaults = load_config(path, environ={}).default_map()
    for command in ("get", "seed", "share"):
        assert defaults[command] == {"port_mapping": False, "port_mapping_protocols": "upnp,natpmp"}
    env = {"TORRENTISH_PORT_MAPPING": "on", "TORRENTISH_PORT_MAPPING_PROTOCOLS": "pcp"}
    assert load_config(path, environ=env).default_map()["seed"] == {"port_mapping": True,
                                                                    "port_mapping_protocols": "pcp"}
    with pytest.raises(ConfigError, match="^TORRENTISH_PORT_MAPPING_PROTOCOLS: port mapping protocols are"):
        load_config(path, environ={"TORRENTISH_PORT_MAPPING_PROTOCOLS": "igd"})


def test_bad_bytes_and_bad_variables(tmp_path):
    latin1 = tmp_path / "c.toml"
    latin1.write_bytes(b'download_dir = "/home/Jos\xe9"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(latin1, environ={})
    with pytest.raises(ConfigError, match=r"^TORRENTISH_MAX_DOWN: not a rate"):
        load_config(tmp_path / "missing.toml", environ={"TORRENTISH_MAX_DOWN": "lots"})
    directory = tmp_path / "dir.toml"
    directory.mkdir()
    with pytest.raises(ConfigError, match="cannot read the config file"):
        load_config(directory, environ={})


# -- through the command line -----------------------------------------------------------------------


def cli(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "torrentish", *args], capture_output=True, text=True,
                          env=clean_env(tmp_path, env or {}), timeout=60)


def clean_env(tmp_path: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TORRENTISH_")}
    env.update(TORRENTISH_STATE_DIR=str(tmp_path / "state"), TORRENTISH_CONFIG=str(tmp_path / "config.toml"),
               COLUMNS="100")
    env.update(NO_HOST_DISCOVERY)
    env.update(extra)
    return env


def seed_port(tmp_path: Path, *args: str, env: dict[str, str]) -> int:
    """Start `seed --json`, read the port from its start record, stop it."""
    payload = make_single_file(tmp_path / "src", size=100_000)
    make_torrent(payload, tmp_path / "s.torrent")
    child = subprocess.Popen(
        [sys.executable, "-m", "torrentish", "seed", str(tmp_path / "s.torrent"), "-d", str(payload.root), "--json",
         *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env(tmp_path, env))
    try:
        line = child.stdout.readline()
        child.send_signal(signal.SIGINT)
        child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0
    return json.loads(line)["port"]


def test_precedence_on_the_command_line(tmp_path, port_factory):
    file_port, env_port, cli_port = port_factory(), port_factory(), port_factory()
    write(tmp_path / "config.toml", f'port = {file_port}\nmax_up = "3MiB/s"\n')
    help_text = cli(tmp_path, "seed", "--help").stdout
    assert f"[default: {file_port}]" in help_text and "[default: 3MiB/s]" in help_text
    assert seed_port(tmp_path, env={}) == file_port
    assert seed_port(tmp_path, env={"TORRENTISH_PORT": str(env_port)}) == env_port
    assert seed_port(tmp_path, "--port", str(cli_port), env={"TORRENTISH_PORT": str(env_port)}) == cli_port


def test_a_broken_config_is_one_red_line(tmp_path):
    write(tmp_path / "config.toml", "port = 70000\n")
    result = cli(tmp_path, "get", "x.torrent")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and str(tmp_path / "config.toml") in result.stderr
    assert cli(tmp_path, "--version").returncode == 0  # --version never reads it


def test_config_command_shows_sources(tmp_path):
    write(tmp_path / "config.toml", 'max_up = "2MiB/s"\n')
    shown = cli(tmp_path, "config", env={"TORRENTISH_PORT": "6999"}).stdout
    assert str(tmp_path / "config.toml") in shown
    lines = {line.split()[0]: line for line in shown.splitlines() if line.strip()}
    assert "6999" in lines["port"] and "environment" in lines["port"]
    assert "2MiB/s" in lines["max_up"] and "config file" in lines["max_up"]
    assert cli(tmp_path, "config", "--path").stdout.strip() == str(tmp_path / "config.toml")
    example = cli(tmp_path, "config", "--example").stdout
    write(tmp_path / "config.toml", example)
    assert load_config(tmp_path / "config.toml", environ={}).settings["port"].value == 6881


def test_help_names_the_configured_side_of_an_on_off_flag(tmp_path):
    # click prints the declared side of a flag pair unless the engine's default is rewritten.
    off = cli(tmp_path, "get", "--help", env={"TORRENTISH_LSD": "0"}).stdout
    on = cli(tmp_path, "get", "--help", env={"TORRENTISH_LSD": "1"}).stdout
    assert "[default: no-lsd]" in off and "[default: lsd]" not in off
    assert "[default: lsd]" in on


def test_encryption_from_the_file_and_the_environment(tmp_path):
    path = write(tmp_path / "c.toml", 'encryption = "Require"\n')
    defaults = load_config(path, environ={}).default_map()
    assert {command: d["encryption"] for command, d in defaults.items()} == {
        "get": "require", "seed": "require", "share": "require"}
    assert load_config(path, environ={"TORRENTISH_ENCRYPTION": "off"}).default_map()["get"]["encryption"] == "off"
    with pytest.raises(ConfigError, match="^TORRENTISH_ENCRYPTION: encryption is one of prefer, require, off"):
        load_config(path, environ={"TORRENTISH_ENCRYPTION": "always"})


def test_encryption_on_the_command_line(tmp_path):
    assert "[default: require]" in cli(tmp_path, "seed", "--help", env={"TORRENTISH_ENCRYPTION": "require"}).stdout
    result = cli(tmp_path, "get", "x.torrent", "--encryption", "sometimes")
    assert result.returncode == 2 and "'sometimes' is not one of prefer, require, off" in result.stderr


def test_transport_from_the_file_the_environment_and_the_command_line(tmp_path):
    path = write(tmp_path / "c.toml", 'transport = "TCP"\n')
    defaults = load_config(path, environ={}).default_map()
    assert {command: d["transport"] for command, d in defaults.items()} == dict.fromkeys(
        ("get", "seed", "share", "daemon"), "tcp")
    assert load_config(path, environ={"TORRENTISH_TRANSPORT": "utp"}).default_map()["seed"]["transport"] == "utp"
    with pytest.raises(ConfigError, match="^TORRENTISH_TRANSPORT: transport is one of both, utp, tcp"):
        load_config(path, environ={"TORRENTISH_TRANSPORT": "quic"})
    result = cli(tmp_path, "get", "x.torrent", "--transport", "quic")
    assert result.returncode == 2 and "'quic' is not one of both, utp, tcp" in result.stderr
