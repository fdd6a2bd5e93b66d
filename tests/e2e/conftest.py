"""A real headless Chromium (Debian's, not Playwright's download) against the live server.

The server is pytest-django's ``live_server`` (a thread of this process, on the same file-backed
SQLite test database as the test code: see DATABASES[...]["TEST"]["NAME"]) and the gateway
points at the session's sandbox process. Screenshots go to artifacts/screenshots/.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
PASSWORD = "correct-horse-battery"  # the personas' password (tests/conftest.py)

# Playwright's sync API runs an event loop; Django refuses ORM calls from a thread that has one
# unless told this is a test process.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


# Per module, not per session: Playwright's sync API keeps an event loop running in this thread
# while it is started, and the tests after it on the same xdist worker (the stream tests run
# ``asyncio.run``) need the thread without one.
@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1440, "height": 2000}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    # Anything the Content-Security-Policy blocked (an inline script, a handler, an eval) shows
    # in the console: a journey that passes with such an error would hide a broken page.
    blocked: list[str] = []
    page.on("console", lambda message: blocked.append(message.text)
            if message.type == "error" and "Content Security Policy" in message.text else None)
    yield page
    context.close()
    assert not blocked, blocked


def login(page, username: str) -> None:
    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.press("#id_password", "Enter")
    page.wait_for_url("**/admin/")


def shot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
