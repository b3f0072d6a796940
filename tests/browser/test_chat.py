"""Live chat in a real browser: messages between two people, surviving a network drop, and
doing it all from the keyboard."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from rooms import actions
from rooms.models import Message, Room

from .conftest import api_post, page_errors, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def alice_and_bob_in_a_room(make_user: Any, *, name: str = "Planning") -> tuple[Any, Any, Room]:
    alice = make_user("alice", first_name="Alice", last_name="Andersson")
    bob = make_user("bob", first_name="Bob", last_name="Berg")
    room = actions.do_create_room(alice, name=name, topic="Weekly planning")
    actions.do_add_member(alice, room_id=room.pk, user=bob)
    return alice, bob, room


def send(page: Any, text: str) -> None:
    """Type a message in the composer and press Enter, as a person would."""
    composer = page.get_by_role("textbox", name="Message to")
    composer.fill(text)
    composer.press("Enter")


def message_ids_in_log(page: Any) -> list[int]:
    return page.eval_on_selector_all(
        "#message-log .message[data-message-id]",
        "nodes => nodes.map(node => Number(node.dataset.messageId))",
    )


def test_a_message_typed_by_one_person_appears_for_the_other_without_reload(
    daphne_server: Any, make_user: Any, new_context: Any
) -> None:
    _alice, _bob, room = alice_and_bob_in_a_room(make_user)
    path = f"/#room-{room.pk}"
    alice = sign_in(new_context(), daphne_server.url, "alice", path=path)
    bob = sign_in(new_context(), daphne_server.url, "bob", path=path)
    expect(bob.get_by_role("heading", level=1)).to_have_text("Planning")

    send(alice, "Hello **Bob**, lunch at noon?")

    log = bob.get_by_role("log")
    expect(log).to_have_attribute("aria-live", "polite")
    arrived = log.locator(".message", has_text="lunch at noon?")
    expect(arrived).to_have_count(1)
    # Read out as "<name>: <text>"; the Markdown arrives as the server's sanitised HTML.
    expect(arrived).to_contain_text("Alice Andersson: Hello Bob, lunch at noon?")
    expect(arrived.locator(".message-body strong")).to_have_text("Bob")
    # The sender's copy stops being "pending" once the server acknowledged it.
    mine = alice.get_by_role("log").locator(".message", has_text="lunch at noon?")
    expect(mine).to_have_count(1)
    expect(mine).not_to_have_class(re.compile(r"\bpending\b"))
    expect(mine).to_have_attribute("data-message-id", str(Message.objects.get(room=room).pk))
    # An en-GB browser with the English interface shows its own 24-hour times.
    expect(arrived.locator(".message-time")).to_have_text(re.compile(r"^\d\d:\d\d$"))
    assert alice.errors == [] and bob.errors == []


@pytest.mark.parametrize(
    "replay_limit",
    [500, 2],
    ids=["replayed-by-the-socket", "too-far-behind-so-refetched-through-rest"],
)
def test_messages_sent_while_someone_is_offline_arrive_once_and_in_order_when_they_return(
    daphne_factory: Any, make_user: Any, new_context: Any, replay_limit: int
) -> None:
    daphne_server = daphne_factory(extra_env={"COMMUNIS_REPLAY_LIMIT": str(replay_limit)})
    _alice, _bob, room = alice_and_bob_in_a_room(make_user)
    path = f"/#room-{room.pk}"
    alice = sign_in(new_context(), daphne_server.url, "alice", path=path)
    bob_context = new_context()
    bob = sign_in(bob_context, daphne_server.url, "bob", path=path)
    send(alice, "Before the outage")
    expect(bob.locator("#message-log .message", has_text="Before the outage")).to_have_count(1)

    bob_context.set_offline(True)
    # Emulated offline may leave an established websocket open: drop it for certain.
    bob.evaluate("window.__communis.dropConnection()")
    status = bob.get_by_role("status")
    expect(status).to_have_text("Reconnecting…")
    assert bob.evaluate("window.__communis.ready()") is False

    for number in (1, 2, 3):
        send(alice, f"While you were away {number}")
    expect(alice.locator("#message-log .message", has_text="While you were away")).to_have_count(3)
    expect(alice.locator("#message-log .message.pending")).to_have_count(0)
    # Bob writes too while offline: it waits in his outbox and goes out on reconnect.
    send(bob, "Typed on the train")
    expect(bob.locator(".message.pending", has_text="Typed on the train")).to_have_count(1)
    expect(bob.locator("#message-log .message", has_text="While you were away")).to_have_count(0)
    expect(status).to_have_text("Reconnecting…")

    bob_context.set_offline(False)
    expect(status).to_have_text("Connected")

    missed = list(
        Message.objects.filter(room=room, body__startswith="While you were away")
        .order_by("seq")
        .values_list("pk", flat=True)
    )
    assert len(missed) == 3
    for message_id in missed:
        expect(bob.locator(f'#message-log [data-message-id="{message_id}"]')).to_have_count(1)
    expect(bob.locator(".message.pending")).to_have_count(0)
    shown = message_ids_in_log(bob)
    assert len(shown) == len(set(shown)), f"a message is shown twice: {shown}"
    assert [pk for pk in shown if pk in missed] == missed
    # The retried send was deduplicated by its client_msg_id: one row, one node, for both.
    assert Message.objects.filter(room=room, body="Typed on the train").count() == 1
    expect(alice.locator("#message-log .message", has_text="Typed on the train")).to_have_count(1)
    expect(bob.locator("#message-log .message", has_text="Typed on the train")).to_have_count(1)
    # Beyond the replay limit the server said "resync.required" and history came through REST.
    refetched = f"/api/rooms/{room.pk}/messages/?after=" in daphne_server.log_text()
    assert refetched == (replay_limit < len(missed))
    assert bob.errors == []


def test_keyboard_alone_opens_a_room_and_sends_a_message(
    daphne_server: Any, make_user: Any, new_context: Any
) -> None:
    alice, _bob, _room = alice_and_bob_in_a_room(make_user, name="Alpha")
    second = actions.do_create_room(alice, name="Beta")
    page = sign_in(new_context(), daphne_server.url, "alice")
    expect(page.get_by_role("heading", level=1)).to_have_text("Alpha")

    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    target = page.locator(f'a.room-link[data-room-id="{second.pk}"]')
    for _ in range(40):
        if target.evaluate("node => node === document.activeElement"):
            break
        page.keyboard.press("Tab")
    else:
        pytest.fail("Tab never reached the room link")
    outline = target.evaluate("node => getComputedStyle(node).outlineStyle")
    assert outline != "none", "the focused room link has no visible focus indicator"
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Beta")
    expect(target).to_have_attribute("aria-current", "page")

    composer = page.get_by_role("textbox", name="Message to Beta")
    for _ in range(20):
        if composer.evaluate("node => node === document.activeElement"):
            break
        page.keyboard.press("Tab")
    else:
        pytest.fail("Tab never reached the composer")
    page.keyboard.type("Sent without a mouse")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("on two lines")
    page.keyboard.press("Enter")

    sent = page.locator("#message-log .message", has_text="Sent without a mouse")
    expect(sent).to_have_count(1)
    expect(sent).to_have_attribute("data-message-id", re.compile(r"^\d+$"))
    stored = Message.objects.get(room=second)
    assert stored.body == "Sent without a mouse\non two lines"
    expect(sent).to_have_attribute("data-message-id", str(stored.pk))
    expect(composer).to_have_value("")
    assert page.errors == []


def post_message(server: Any, author: Any, room_id: int, body: str) -> None:
    """Send a message through the REST API, as a bot or another device would."""
    path = f"/api/rooms/{room_id}/messages/"
    assert api_post(server, author, path, {"body": body, "client_msg_id": uuid.uuid4().hex}) == 201


def test_unread_badges_count_messages_elsewhere_and_clear_in_every_tab_once_read(
    daphne_server: Any, make_user: Any, new_context: Any
) -> None:
    alice, bob, planning = alice_and_bob_in_a_room(make_user)
    coffee = actions.do_create_room(alice, name="Coffee")
    actions.do_add_member(alice, room_id=coffee.pk, user=bob)
    context = new_context()
    page = sign_in(context, daphne_server.url, "alice", path=f"/#room-{planning.pk}")
    other_tab = context.new_page()
    other_tab.errors = page_errors(other_tab)
    other_tab.goto(f"{daphne_server.url}/#room-{planning.pk}")
    expect(other_tab.get_by_role("status")).to_have_text("Connected")

    post_message(daphne_server, bob, coffee.pk, "Coffee in five?")
    post_message(daphne_server, bob, coffee.pk, "I'll bring buns")
    post_message(daphne_server, bob, planning.pk, "Agenda is up")  # the open room: read at once

    # The badge is read out as words, not only shown as a red number.
    two_unread = re.compile(r"^Coffee\W+2 unread$")
    for tab in (page, other_tab):
        expect(tab.get_by_role("link", name=two_unread)).to_be_visible()
        expect(tab.get_by_role("log")).to_contain_text("Agenda is up")
        expect(tab.locator(f'a[data-room-id="{planning.pk}"] .badge')).to_be_hidden()

    page.get_by_role("link", name=two_unread).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Coffee")
    expect(page.get_by_role("log").locator(".message")).to_have_count(2)
    for tab in (page, other_tab):  # the other tab hears "room.read" and clears its badge too
        expect(tab.locator(f'a[data-room-id="{coffee.pk}"] .badge')).to_be_hidden()
        expect(tab.get_by_role("link", name="Coffee", exact=True)).to_be_visible()
    assert page.errors == [] and other_tab.errors == []


def test_watching_and_joining_a_public_room_and_creating_a_new_one(
    daphne_server: Any, make_user: Any, new_context: Any
) -> None:
    _alice, bob, planning = alice_and_bob_in_a_room(make_user)
    book_club = actions.do_create_room(bob, name="Book club", topic="One book a month")
    page = sign_in(new_context(), daphne_server.url, "alice", path=f"/#room-{planning.pk}")
    heading = page.get_by_role("heading", level=1)

    # A public room can be read before joining, live, but not written in.
    page.get_by_role("navigation", name="Rooms").get_by_role("link", name="Book club").click()
    expect(heading).to_have_text("Book club")
    expect(page.get_by_text("Join it to write messages")).to_be_visible()
    expect(page.get_by_role("textbox", name="Message to")).to_be_hidden()
    post_message(daphne_server, bob, book_club.pk, "Next up: Moberg")
    expect(page.get_by_role("log")).to_contain_text("Next up: Moberg")

    page.get_by_role("button", name="Join room").click()
    composer = page.get_by_role("textbox", name="Message to Book club")
    expect(composer).to_be_focused()
    send(page, "Count me in")
    sent = page.get_by_role("log").locator(".message", has_text="Count me in")
    expect(sent).to_have_attribute("data-message-id", re.compile(r"^\d+$"))
    your_rooms = page.get_by_role("list", name="Your rooms")
    expect(your_rooms.get_by_role("link", name="Book club")).to_be_visible()

    page.get_by_role("button", name="New room").click()
    dialog = page.get_by_role("dialog", name="Create a room")
    dialog.get_by_role("button", name="Create room").click()
    expect(dialog.get_by_text("Give the room a name.")).to_be_visible()
    expect(dialog.get_by_label("Name", exact=True)).to_have_attribute("aria-invalid", "true")
    dialog.get_by_label("Name", exact=True).fill("Night shift")
    dialog.get_by_label("Private: by invitation only").check()
    dialog.get_by_role("button", name="Create room").click()
    expect(dialog).to_be_hidden()
    expect(heading).to_have_text("Night shift")
    created = Room.objects.get(name="Night shift")
    assert created.visibility == Room.Visibility.PRIVATE
    expect(your_rooms.get_by_role("link", name=re.compile("Night shift"))).to_have_attribute(
        "aria-current", "page"
    )
    send(page, "First!")
    first = page.get_by_role("log").locator(".message", has_text="First!")
    expect(first).to_have_attribute("data-message-id", re.compile(r"^\d+$"))
    assert page.errors == []


def test_a_refused_message_is_marked_not_sent_and_the_reason_is_announced(
    daphne_server: Any, make_user: Any, new_context: Any
) -> None:
    _alice, _bob, room = alice_and_bob_in_a_room(make_user)
    page = sign_in(new_context(), daphne_server.url, "bob", path=f"/#room-{room.pk}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Planning")
    # Archived behind the page's back (no event): the server refuses the next send.
    Room.objects.filter(pk=room.pk).update(archived_at=timezone.now())

    send(page, "Anyone still here?")
    expect(page.get_by_role("alert")).to_contain_text("This room is archived.")
    refused = page.get_by_role("log").locator(".message", has_text="Anyone still here?")
    expect(refused).to_contain_text("Not sent.")
    expect(refused).not_to_have_attribute("data-message-id", re.compile(".*"))
    refused.get_by_role("button", name="Discard").click()
    expect(refused).to_have_count(0)
    assert not Message.objects.filter(room=room).exists()
    assert page.errors == []
