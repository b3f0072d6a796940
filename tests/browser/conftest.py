"""Playwright fixtures for the browser tests: Debian's Chromium, real daphne, real people.

Playwright's sync API refuses to run inside a running asyncio loop, so every browser test is a
plain synchronous test.  The browser starts lazily, at a test's first ``new_context()`` (after
the test has created its people and rooms) and stops at the end of that test, so no other test
ever runs while Playwright's loop is alive.

While that loop is set in this thread, Django's ORM believes it is called from async code and
refuses.  The ORM calls a test makes between browser steps are plain synchronous calls, so the
test process sets ``DJANGO_ALLOW_ASYNC_UNSAFE`` while the browser runs; the daphne under test
was started before, without it, and keeps its real async-safety checks.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from django.db import connections

from tests.support.services import chromium_path

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "pw-for-tests-1"
# Generous for a 2-core machine shared with other test runs; waits end as soon as the DOM is ready.
WAIT_MS = 15_000


@pytest.fixture
def new_context() -> Iterator[Callable[..., Any]]:
    """Open isolated browser contexts (one per person); the browser stops after the test."""
    if not chromium_path():
        pytest.skip("needs Chromium: apt-get install chromium")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WAIT_MS)
    with contextlib.ExitStack() as stack:
        browser: list[Any] = []

        def open_context(**options: Any) -> Any:
            if not browser:
                stack.enter_context(_async_unsafe_allowed())
                playwright = stack.enter_context(sync_playwright())
                # ORM calls made while Playwright's loop is current get their own database
                # connections (asgiref keys them by context): close them, or PostgreSQL cannot
                # drop the test database at the end of the run.
                stack.callback(connections.close_all)
                launched = playwright.chromium.launch(
                    executable_path=chromium_path(), args=CHROMIUM_ARGS
                )
                stack.callback(launched.close)
                browser.append(launched)
            options.setdefault("locale", "en-GB")
            options.setdefault("viewport", {"width": 1280, "height": 800})
            context = browser[0].new_context(**options)
            context.set_default_timeout(WAIT_MS)
            stack.callback(context.close)
            return context

        yield open_context


@contextlib.contextmanager
def _async_unsafe_allowed() -> Iterator[None]:
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def page_errors(page: Any) -> list[str]:
    """Collect uncaught script errors of ``page`` (checked at the end of a test)."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def sign_in(context: Any, base_url: str, username: str, *, path: str = "/") -> Any:
    """Sign in through the real form, land on ``path`` and wait until the live connection is up."""
    from playwright.sync_api import expect

    page = context.new_page()
    page.errors = page_errors(page)
    page.goto(f"{base_url}/login/?{urlencode({'next': path})}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.locator("form.login-form button[type=submit]").click()
    page.wait_for_url(lambda url: "/login/" not in url)
    expect(page.locator("#connection-status")).to_have_attribute("data-state", "connected")
    return page


def api_post(server: Any, person: Any, path: str, body: dict[str, Any]) -> int:
    """POST to the server's REST API with the person's token, as a bot or another device
    would; return the status."""
    import json
    import urllib.request

    request = urllib.request.Request(  # noqa: S310 - the test's own loopback server
        f"{server.url}{path}",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Token {person.api_token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
        return response.status
