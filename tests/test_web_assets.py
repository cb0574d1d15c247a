"""The web UI's files (torrentish/web/): shipped in the package, self-contained, nothing fetched
from elsewhere at run time."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from html.parser import HTMLParser
from pathlib import Path

import torrentish

WEB = Path(torrentish.__file__).parent / "web"
PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
ASSETS = sorted(path for path in WEB.iterdir() if path.is_file())


def test_the_package_data_ships_every_asset():
    patterns = tomllib.loads(PYPROJECT.read_text())["tool"]["setuptools"]["package-data"]["torrentish"]
    assert {path.name for path in ASSETS} >= {"index.html", "app.js", "style.css"}
    for path in ASSETS:
        relative = path.relative_to(WEB.parent).as_posix()
        assert any(fnmatch.fnmatch(relative, pattern) for pattern in patterns), f"{relative} is not package data"


class _References(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0
        self.csp = ""

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in ("src", "href"):
            if attrs.get(name) is not None:
                self.urls.append(attrs[name])
        if tag == "script" and "src" not in attrs:
            self.inline_scripts += 1
        if tag == "meta" and (attrs.get("http-equiv") or "").lower() == "content-security-policy":
            self.csp = attrs.get("content") or ""


def test_the_page_loads_only_its_own_files():
    page = _References()
    page.feed((WEB / "index.html").read_text())
    assert page.inline_scripts == 0
    assert "default-src 'self'" in page.csp and "script-src 'self'" in page.csp
    for url in page.urls:
        if url.startswith("data:"):
            continue
        assert "//" not in url and not url.startswith("/"), f"not a file beside the page: {url}"
        assert (WEB / url).is_file(), f"index.html refers to a missing {url}"


def test_no_asset_reaches_another_origin():
    for path in ASSETS:
        text = path.read_text()
        assert not re.search(r"https?://|url\(\s*['\"]?//|@import", text), f"{path.name} refers to another origin"


def test_every_module_import_resolves():
    for path in WEB.glob("*.js"):
        for target in re.findall(r"""^import .* from ["'](.+?)["'];""", path.read_text(), re.MULTILINE):
            assert target.startswith("./") and (WEB / target).is_file(), f"{path.name} imports {target}"
