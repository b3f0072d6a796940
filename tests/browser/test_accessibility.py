"""Accessibility (WCAG 2.1 AA, required of the public sector) checked with axe-core, on a
desktop and on a 375 px phone, plus the phone layout's drawer."""

from __future__ import annotations

from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.conf import settings
from playwright.sync_api import expect

from rooms import actions

from .conftest import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 667}
SCREENS = settings.VAR_DIR / "screens"


def serious_violations(page: Any) -> list[str]:
    """Run axe-core on the page; describe every serious or critical violation."""
    results = Axe().run(page)
    found = []
    for violation in results.response["violations"]:
        if violation["impact"] in {"serious", "critical"}:
            targets = [", ".join(node["target"]) for node in violation["nodes"]][:5]
            found.append(
                f"{violation['id']} ({violation['impact']}): {violation['help']} {targets}"
            )
    return found


def screenshot(page: Any, name: str) -> None:
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENS / f"{name}.png"))


def no_horizontal_scroll(page: Any) -> bool:
    return page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_sign_in_page_has_no_serious_accessibility_violations(
    daphne_server: Any, make_user: Any, new_context: Any, viewport: dict[str, int]
) -> None:
    make_user("frida")
    page = new_context(viewport=viewport).new_page()
    page.goto(f"{daphne_server.url}/login/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    assert serious_violations(page) == []
    # With an error shown, too.
    page.get_by_label("Username").fill("frida")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    assert serious_violations(page) == []
    assert no_horizontal_scroll(page)
    screenshot(page, f"login-error-{viewport['width']}")


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_room_view_has_no_serious_accessibility_violations(
    daphne_server: Any, make_user: Any, new_context: Any, viewport: dict[str, int]
) -> None:
    greta = make_user("greta", first_name="Greta", last_name="Gran")
    hugo = make_user("hugo", first_name="Hugo", last_name="Holm")
    room = actions.do_create_room(greta, name="Kommunikation", topic="News and press")
    actions.do_add_member(greta, room_id=room.pk, user=hugo)
    actions.do_create_room(greta, name="Krisgrupp", visibility="private")
    actions.do_create_room(hugo, name="Fika")
    for number, body in enumerate(
        [
            "Good morning! The **press release** is ready for review.",
            "Thanks, reading it now.\n\n- one typo in the title\n- `Datum` is missing",
            "> Fixed both.\n\nSee https://example.org/press",
        ]
    ):
        author = greta if number % 2 == 0 else hugo
        actions.do_send_message(author, room_id=room.pk, body=body, client_msg_id=f"seed-{number}")

    page = sign_in(
        new_context(viewport=viewport), daphne_server.url, "greta", path=f"/#room-{room.pk}"
    )
    expect(page.get_by_role("heading", level=1)).to_have_text("Kommunikation")
    expect(page.get_by_role("log").locator(".message")).to_have_count(3)
    expect(page.locator("#public-rooms")).to_contain_text("Fika")
    assert serious_violations(page) == []
    assert no_horizontal_scroll(page)
    screenshot(page, f"room-{viewport['width']}")

    if viewport is DESKTOP:
        page.get_by_role("button", name="New room").click()
        dialog = page.get_by_role("dialog", name="Create a room")
        expect(dialog.get_by_label("Name", exact=True)).to_be_focused()
        assert serious_violations(page) == []
        screenshot(page, f"new-room-{viewport['width']}")
        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
        expect(page.get_by_role("button", name="New room")).to_be_focused()

    if viewport is PHONE:
        toggle = page.get_by_role("button", name="Rooms")
        expect(toggle).to_have_attribute("aria-expanded", "false")
        expect(page.get_by_role("navigation", name="Rooms")).to_be_hidden()
        toggle.click()
        expect(toggle).to_have_attribute("aria-expanded", "true")
        nav = page.get_by_role("navigation", name="Rooms")
        expect(nav).to_be_visible()
        assert serious_violations(page) == []
        assert no_horizontal_scroll(page)
        screenshot(page, f"room-drawer-{viewport['width']}")
        nav.get_by_role("link", name="Krisgrupp").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Krisgrupp")
        expect(toggle).to_have_attribute("aria-expanded", "false")
        screenshot(page, f"private-room-{viewport['width']}")
    assert page.errors == []
