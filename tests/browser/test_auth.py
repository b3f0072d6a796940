"""Signing in and out in a real browser, and the page following the browser's language."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from rooms import actions

from .conftest import PASSWORD, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def test_a_wrong_password_shows_an_error_next_to_the_form(
    daphne_server: Any, make_user: Any, new_context: Any
) -> None:
    make_user("carin")
    page = new_context().new_page()
    page.goto(f"{daphne_server.url}/login/")
    page.get_by_label("Username").fill("carin")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()

    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("correct username and password")
    expect(page).to_have_url(re.compile(r"/login/$"))
    expect(page.get_by_label("Password")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Username")).to_have_value("carin")

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("status")).to_have_text("Connected")


def test_signing_out_ends_the_session_and_sends_every_open_tab_to_sign_in(
    daphne_server: Any, make_user: Any, new_context: Any
) -> None:
    dora = make_user("dora", first_name="Dora")
    actions.do_create_room(dora, name="Reception")
    context = new_context()
    first = sign_in(context, daphne_server.url, "dora")
    second = context.new_page()  # a second tab of the same session
    second.goto(f"{daphne_server.url}/")
    expect(second.get_by_role("status")).to_have_text("Connected")
    expect(first.get_by_text("Signed in as")).to_contain_text("Dora")

    first.get_by_role("button", name="Sign out").click()
    expect(first).to_have_url(re.compile(r"/login/$"))
    expect(first.get_by_role("heading", level=1)).to_have_text("Sign in")
    # The server closed the other tab's socket (4401): it goes to sign-in by itself.
    expect(second).to_have_url(re.compile(r"/login/\?next="))

    first.goto(f"{daphne_server.url}/")
    expect(first).to_have_url(re.compile(r"/login/\?next=/$"))
    assert first.errors == []


def test_the_sign_in_page_speaks_swedish_to_a_swedish_browser(
    daphne_server: Any, make_user: Any, new_context: Any
) -> None:
    eva = make_user("eva", first_name="Eva")
    actions.do_create_room(eva, name="Ledningsgruppen")
    context = new_context(locale="sv-SE")
    page = context.new_page()
    page.goto(f"{daphne_server.url}/login/")

    expect(page.locator("html")).to_have_attribute("lang", "sv")
    expect(page.get_by_role("heading", level=1)).to_have_text("Logga in")
    page.get_by_label("Användarnamn").fill("eva")
    page.get_by_label("Lösenord").fill(PASSWORD)
    page.get_by_role("button", name="Logga in").click()
    # The client's own strings come from the JavaScript catalog in Swedish too.
    expect(page.get_by_role("status")).to_have_text("Ansluten")
    expect(page.get_by_role("button", name="Logga ut")).to_be_visible()
    expect(page.get_by_role("textbox", name="Meddelande till Ledningsgruppen")).to_be_visible()

    # The language switcher takes the person back to English, on the same page.
    page.get_by_label("Språk").select_option("en")
    page.get_by_role("button", name="Byt språk").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("status")).to_have_text("Connected")
