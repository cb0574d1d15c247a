#!/usr/bin/env bash
# Set up everything the test suite needs and run it. Works on a fresh machine with only
# Python >= 3.11, pip and root. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

# Reference clients from Debian: aria2 (peer), mktorrent (torrent maker), iproute2 (namespaces),
# nftables and miniupnpd (the NAT router and its UPnP IGD / NAT-PMP / PCP server in namespaces;
# the package installs no service, so nothing runs outside the tests); Transmission and
# qBittorrent (encryption interop; tests start their own instances, with their own config dirs).
need=()
command -v aria2c >/dev/null || need+=(aria2)
command -v mktorrent >/dev/null || need+=(mktorrent)
command -v opentracker >/dev/null || need+=(opentracker)
command -v tc >/dev/null || need+=(iproute2)
command -v nft >/dev/null || need+=(nftables)
command -v miniupnpd >/dev/null || need+=(miniupnpd-nftables)
# Transmission's remote, its web client and daemon (RPC interop and benchmark), Chromium for the web client.
command -v transmission-remote >/dev/null || need+=(transmission-cli)
[ -d /usr/share/transmission/web ] || need+=(transmission-common)
command -v transmission-daemon >/dev/null || need+=(transmission-daemon)
command -v chromium >/dev/null || need+=(chromium)
command -v qbittorrent-nox >/dev/null || need+=(qbittorrent-nox)
# nginx serves web seeds (BEP 19) in the web seed tests and benchmark.
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v curl >/dev/null || need+=(curl)  # fetches share's files in its tests
if [ ${#need[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

# The package and its test dependencies (libtorrent from PyPI is the reference implementation).
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q -e '.[test]'

# In CI a missing reference tool is a failure, never a skip (tests/conftest.py enforces it).
# The interop matrix's outcomes go to build/interop-matrix.json (docs/interop.md renders them).
mkdir -p build
exec .venv/bin/python -m pytest -q -p no:cacheprovider --matrix-report=build/interop-matrix.json "$@"
