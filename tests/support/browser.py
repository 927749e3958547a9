"""Driving Debian's Chromium through Playwright: where it is, how it starts, signing in,
screenshots. The session's browser and `open_page` are fixtures in `tests/fixtures/browser.py`.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from tests.support.pages import PASSWORD

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RESULTS = Path(__file__).resolve().parents[2] / "test-results"
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}


def sign_in(page, username: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/account/usage/")


def screenshot(page, name: str) -> None:
    RESULTS.mkdir(exist_ok=True)
    page.screenshot(path=RESULTS / f"{name}.png", full_page=True)


def in_browser(base_url: str, script) -> None:
    """Run `script(page)` in a Chromium of its own, in a thread of its own.

    The pages' tests keep one Playwright session open per worker in the main thread, and
    Playwright's sync API allows one per thread; a thread of our own keeps the two apart.
    """
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: `apt-get install chromium`.")
    failure: list[BaseException] = []

    def run() -> None:
        from playwright.sync_api import sync_playwright

        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                try:
                    context = browser.new_context(viewport=DESKTOP, base_url=base_url)
                    context.set_default_timeout(15_000)
                    script(context.new_page())
                finally:
                    browser.close()
        except BaseException as exc:  # re-raised in the test's thread
            failure.append(exc)

    thread = threading.Thread(target=run, name="browser")
    thread.start()
    thread.join(timeout=120)
    assert not thread.is_alive(), "the browser script did not finish"
    if failure:
        raise failure[0]
