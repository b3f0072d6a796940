"""Keyboard focus survives live changes: a reaction, someone else's reaction, a deletion,
being removed from a private room, and Escape in a dialog opened from the phone drawer."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from rooms import actions

from .conftest import api_post, sign_in
from .test_accessibility import PHONE
from .test_chat import alice_and_bob_in_a_room, send
from .test_chat_features import message_in

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def action(message: Any, name: str) -> Any:
    return message.get_by_role("group", name="Message actions").get_by_role(
        "button", name=name, exact=True
    )


def test_reacting_deleting_and_others_reactions_keep_keyboard_focus_in_the_message(
    daphne_server: Any, make_user: Any, new_context: Any
) -> None:
    _alice, _bob, room = alice_and_bob_in_a_room(make_user)
    path = f"/#room-{room.pk}"
    alice = sign_in(new_context(), daphne_server.url, "alice", path=path)
    bob = sign_in(new_context(), daphne_server.url, "bob", path=path)
    send(bob, "Budget meeting at ten")
    on_alice = message_in(alice, "Budget meeting at ten")
    expect(on_alice).to_have_attribute("data-message-id", re.compile(r"^\d+$"))

    # React from the keyboard: the menu closes, the redrawn "React" button keeps focus.
    action(on_alice, "React").focus()
    alice.keyboard.press("Enter")
    expect(alice.get_by_role("button", name="React with thumbs up")).to_be_focused()
    alice.keyboard.press("Enter")
    expect(on_alice.get_by_role("button", name=re.compile("^👍: 1 reaction"))).to_be_visible()
    expect(action(on_alice, "React")).to_be_focused()

    # Someone else's reaction redraws the message under Alice's focus: it stays put.
    action(on_alice, "Reply in thread").focus()
    message_in(bob, "Budget meeting at ten").get_by_role(
        "button", name=re.compile("^👍: 1 reaction")
    ).click()
    expect(on_alice.get_by_role("button", name=re.compile("^👍: 2 reactions"))).to_be_visible()
    expect(action(on_alice, "Reply in thread")).to_be_focused()

    # Deleting her own message leaves focus on its tombstone, not on the page body.
    send(alice, "Wrong room, sorry")
    mine = message_in(alice, "Wrong room, sorry")
    expect(mine).to_have_attribute("data-message-id", re.compile(r"^\d+$"))
    action(mine, "Delete").focus()
    alice.keyboard.press("Enter")
    alice.get_by_role("dialog", name=re.compile("^Delete this message")).get_by_role(
        "button", name="Delete"
    ).press("Enter")
    tombstone = alice.locator("#message-log .message.is-deleted")
    expect(tombstone).to_contain_text("This message was deleted.")
    expect(tombstone).to_be_focused()
    assert alice.errors == [] and bob.errors == []


def test_someone_removed_from_a_private_room_no_longer_sees_its_messages_or_thread(
    daphne_server: Any, make_user: Any, new_context: Any
) -> None:
    alice, bob, _planning = alice_and_bob_in_a_room(make_user)
    secret = actions.do_create_room(alice, name="Salaries", visibility="private")
    actions.do_add_member(alice, room_id=secret.pk, user=bob)
    root = actions.do_send_message(
        alice, room_id=secret.pk, body="Next year's salary figures", client_msg_id="s1"
    ).message
    actions.do_send_message(
        alice, room_id=secret.pk, body="Details follow", client_msg_id="s2", thread=root.pk
    )
    path = f"/#room-{secret.pk}"
    owner = sign_in(new_context(), daphne_server.url, "alice", path=path)
    member = sign_in(new_context(), daphne_server.url, "bob", path=path)
    on_bob = message_in(member, "salary figures")
    on_bob.get_by_role("button", name=re.compile("1 reply")).click()
    pane = member.get_by_role("complementary", name="Thread")
    expect(pane).to_contain_text("Details follow")

    owner.get_by_role("button", name="Room settings").click()
    owner.get_by_role("button", name="Remove Bob Berg").click()
    owner.get_by_role("dialog", name="Remove Bob Berg from this room?").get_by_role(
        "button", name="Remove", exact=True
    ).click()

    heading = member.get_by_role("heading", level=1)
    expect(heading).to_have_text("Room not found")
    expect(member.locator("#message-log")).not_to_contain_text("salary figures")
    expect(pane).to_be_hidden()
    expect(heading).to_be_focused()
    assert owner.errors == [] and member.errors == []


def test_escape_in_a_dialog_opened_from_the_phone_drawer_closes_only_the_dialog(
    daphne_server: Any, make_user: Any, new_context: Any
) -> None:
    _alice, _bob, room = alice_and_bob_in_a_room(make_user)
    page = sign_in(
        new_context(viewport=PHONE), daphne_server.url, "alice", path=f"/#room-{room.pk}"
    )
    page.get_by_role("button", name="Rooms").click()
    opener = page.get_by_role("button", name="New message")
    opener.click()
    dialog = page.get_by_role("dialog", name="New message")
    expect(dialog.get_by_label("Find people")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("button", name="Rooms")).to_have_attribute("aria-expanded", "true")
    expect(opener).to_be_focused()
    assert page.errors == []


def test_mark_all_as_read_keeps_keyboard_focus_once_nothing_is_unread(
    daphne_server: Any, make_user: Any, new_context: Any
) -> None:
    _alice, bob, room = alice_and_bob_in_a_room(make_user)
    actions.do_send_message(bob, room_id=room.pk, body="@alice agenda?", client_msg_id="n1")
    page = sign_in(new_context(), daphne_server.url, "alice", path="/#mentions")
    expect(page.locator("#mention-list .mention.unread")).to_have_count(1)
    mark = page.get_by_role("button", name="Mark all as read")
    mark.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#mentions-badge")).to_be_hidden()
    expect(mark).to_have_attribute("aria-disabled", "true")
    expect(mark).to_be_focused()
    assert page.errors == []


def test_a_room_archived_while_someone_writes_moves_their_focus_to_the_archived_note(
    daphne_server: Any, make_user: Any, new_context: Any
) -> None:
    _alice, _bob, room = alice_and_bob_in_a_room(make_user)
    path = f"/#room-{room.pk}"
    owner = sign_in(new_context(), daphne_server.url, "alice", path=path)
    member = sign_in(new_context(), daphne_server.url, "bob", path=path)
    member.get_by_role("textbox", name="Message to").fill("Half-written")

    owner.get_by_role("button", name="Room settings").click()
    owner.get_by_role("button", name="Archive room").click()
    owner.get_by_role("dialog", name=re.compile("^Archive this room")).get_by_role(
        "button", name="Archive room"
    ).click()

    note = member.get_by_text("This room is archived.")
    expect(note).to_be_visible()
    expect(member.get_by_role("textbox", name="Message to")).to_be_hidden()
    expect(note).to_be_focused()
    assert owner.errors == [] and member.errors == []


def test_the_member_list_follows_changes_live_and_a_role_change_is_confirmed(
    daphne_server: Any, make_user: Any, new_context: Any
) -> None:
    alice, _bob, room = alice_and_bob_in_a_room(make_user)
    cecilia = make_user("cecilia", first_name="Cecilia", last_name="Cederlund")
    owner = sign_in(new_context(), daphne_server.url, "alice", path=f"/#room-{room.pk}")
    owner.get_by_role("button", name="Room settings").click()
    dialog = owner.get_by_role("dialog", name="Room settings")
    members = dialog.get_by_role("list", name="Members")
    role_of_bob = members.get_by_role("combobox", name="Role of Bob Berg")
    expect(role_of_bob).to_be_visible()

    role_of_bob.focus()
    # Someone else adds her (another device of Alice's, through the API).
    members_url = f"/api/rooms/{room.pk}/members/"
    assert api_post(daphne_server, alice, members_url, {"user_id": cecilia.pk}) == 201
    expect(members.get_by_role("combobox", name="Role of Cecilia Cederlund")).to_be_visible()
    expect(role_of_bob).to_be_focused()  # the redraw kept the keyboard where it was

    role_of_bob.select_option("admin")
    expect(dialog.get_by_role("status").filter(has_text="Bob Berg")).to_have_text(
        "Bob Berg is now: Admin."
    )
    assert owner.errors == []
