"""Headless Chromium for the web UI tests, driven by Playwright.

The browser is Debian's chromium (never one Playwright downloads), started with nothing that talks
to the network by itself: no background networking, component updates, sync or first-run pages.
A page records its console errors and uncaught exceptions so a test can demand there were none.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tests.support import require_tool

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"viewport": {"width": 1280, "height": 760}}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
         "device_scale_factor": 2}


@contextmanager
def chromium() -> Iterator[object]:
    """A running headless Chromium (a Playwright Browser), closed on exit."""
    executable = require_tool("chromium")
    require_tool("playwright")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class PageProblems:
    """Console errors and page exceptions seen by a page, but for the 409 of the session-id
    handshake, which Chromium logs as a failed resource load although it is the protocol."""

    def __init__(self, page, allow: tuple[str, ...] = ()):
        self.allow = ("409", *allow)  # substrings of console errors a test expects
        self.messages: list[str] = []
        page.on("pageerror", lambda error: self.messages.append(f"exception: {error}"))
        page.on("console", self._console)

    def _console(self, message) -> None:
        if message.type == "error" and not any(text in message.text for text in self.allow):
            self.messages.append(f"console: {message.text}")

    def assert_none(self) -> None:
        assert not self.messages, "\n".join(self.messages)
