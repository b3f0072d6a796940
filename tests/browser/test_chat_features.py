"""Direct messages, threads, reactions, edits, deletions, mentions and read state in a real
browser, between real people, live; and the new views checked with axe-core."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from rooms import actions
from rooms.models import Message, Notification, Room

from .conftest import sign_in
from .test_accessibility import DESKTOP, PHONE, no_horizontal_scroll, screenshot, serious_violations
from .test_chat import alice_and_bob_in_a_room, send

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def message_in(page: Any, text: str) -> Any:
    return page.locator("#message-log .message", has_text=text)


def act_on(message: Any, action: str) -> None:
    """Use one of a message's actions, which show on hover or keyboard focus."""
    message.hover()
    message.get_by_role("group", name="Message actions").get_by_role(
        "button", name=action, exact=True
    ).click()


def test_a_mention_made_while_someone_is_away_waits_for_them_and_reading_it_clears_every_tab(
    daphne_server: Any, make_user: Any, new_context: Any
) -> None:
    alice, bob, planning = alice_and_bob_in_a_room(make_user)
    coffee = actions.do_create_room(alice, name="Coffee")
    actions.do_add_member(alice, room_id=coffee.pk, user=bob)
    # Bob has no page open anywhere when Alice mentions him.
    actions.do_send_message(
        alice, room_id=planning.pk, body="@bob can you check the rota?", client_msg_id="m-1"
    )
    assert Notification.objects.filter(user=bob, read_at=None).count() == 1

    first = sign_in(new_context(), daphne_server.url, "bob", path=f"/#room-{coffee.pk}")
    second = sign_in(new_context(), daphne_server.url, "bob", path=f"/#room-{coffee.pk}")
    one_unread = re.compile(r"^Mentions & replies\W+1 unread$")
    planning_unread = re.compile(r"^Planning\W+1 unread$")
    for page in (first, second):
        expect(page.get_by_role("heading", level=1)).to_have_text("Coffee")
        expect(page.get_by_role("link", name=one_unread)).to_be_visible()
        expect(page.get_by_role("link", name=planning_unread)).to_be_visible()

    first.get_by_role("link", name=one_unread).click()
    mentions = first.get_by_role("region", name="Mentions & replies")
    expect(first.get_by_role("heading", level=1)).to_have_text("Mentions & replies")
    item = mentions.get_by_role("listitem").filter(has_text="can you check the rota?")
    expect(item).to_contain_text("Alice Andersson mentioned you in #Planning")
    item.get_by_role("link").click()
    expect(first.get_by_role("heading", level=1)).to_have_text("Planning")
    expect(message_in(first, "can you check the rota?")).to_have_class(re.compile("mentions-me"))

    # The other browser hears "notification.read" and "room.read": no reload, badges gone.
    for page in (first, second):
        expect(page.locator("#mentions-badge")).to_be_hidden()
        expect(page.locator(f'a[data-room-id="{planning.pk}"] .badge')).to_be_hidden()
        expect(page.get_by_role("link", name="Mentions & replies", exact=True)).to_be_visible()
    assert Notification.objects.filter(user=bob, read_at=None).count() == 0
    assert first.errors == [] and second.errors == []


def test_a_direct_conversation_starts_from_a_name_or_the_picker_and_messages_flow_live(
    daphne_server: Any, make_user: Any, new_context: Any
) -> None:
    _alice, bob, room = alice_and_bob_in_a_room(make_user)
    make_user("carin", first_name="Carin", last_name="Carlsson")
    actions.do_send_message(bob, room_id=room.pk, body="Ping me any time", client_msg_id="b-1")
    alice = sign_in(new_context(), daphne_server.url, "alice", path=f"/#room-{room.pk}")
    bob_page = sign_in(new_context(), daphne_server.url, "bob", path=f"/#room-{room.pk}")
    carin = sign_in(new_context(), daphne_server.url, "carin")

    # From a person's name on a message.
    message_in(alice, "Ping me any time").get_by_role("button", name="Bob Berg").click()
    card = alice.get_by_role("dialog", name="Bob Berg")
    card.get_by_role("button", name="Send a direct message").click()
    heading = alice.get_by_role("heading", level=1)
    expect(heading).to_have_text("Bob Berg")
    send(alice, "Can we talk about the budget?")
    expect(message_in(alice, "budget")).to_have_attribute("data-message-id", re.compile(r"\d+"))

    directs = bob_page.get_by_role("list", name="Direct messages")
    link = directs.get_by_role("link", name=re.compile(r"^Alice Andersson.*budget.*1 unread$"))
    expect(link).to_be_visible()
    link.click()
    expect(bob_page.get_by_role("heading", level=1)).to_have_text("Alice Andersson")
    expect(message_in(bob_page, "Can we talk about the budget?")).to_have_count(1)
    send(bob_page, "Sure, after lunch")
    expect(message_in(alice, "Sure, after lunch")).to_have_count(1)
    dm = Room.objects.get(kind=Room.Kind.DIRECT)
    assert set(dm.memberships.values_list("user__username", flat=True)) == {"alice", "bob"}

    # From the "New message" picker: a small group.
    alice.get_by_role("button", name="New message").click()
    picker = alice.get_by_role("dialog", name="New message")
    picker.get_by_label("Find people").fill("Car")
    picker.get_by_role("button", name=re.compile("^Carin Carlsson")).click()
    picker.get_by_label("Find people").fill("bo")
    picker.get_by_role("button", name=re.compile("^Bob Berg")).click()
    expect(picker.get_by_role("list", name="Chosen").get_by_role("button")).to_have_count(2)
    picker.get_by_role("button", name="Start conversation").click()
    expect(picker).to_be_hidden()
    expect(heading).to_have_text(re.compile("Bob Berg.*Carin Carlsson|Carin Carlsson.*Bob Berg"))
    send(alice, "Group hello")
    carin_link = carin.get_by_role("list", name="Direct messages").get_by_role(
        "link", name=re.compile(r"Group hello.*1 unread$")
    )
    expect(carin_link).to_be_visible()
    assert alice.errors == [] and bob_page.errors == [] and carin.errors == []


def test_reactions_edits_thread_replies_typing_and_deletions_show_live_for_the_other_person(
    daphne_server: Any, make_user: Any, new_context: Any
) -> None:
    _alice, _bob, room = alice_and_bob_in_a_room(make_user)
    path = f"/#room-{room.pk}"
    alice = sign_in(new_context(), daphne_server.url, "alice", path=path)
    bob = sign_in(new_context(), daphne_server.url, "bob", path=path)
    send(alice, "Lunch at noon?")
    on_bob = message_in(bob, "Lunch at noon?")
    expect(on_bob).to_have_count(1)

    # Typing shows for the other person and goes away when the message arrives.
    bob.get_by_role("textbox", name="Message to").fill("Sounds")
    typing = alice.locator("#typing")
    expect(typing).to_have_text("Bob Berg is typing…")
    expect(typing).to_have_attribute("aria-live", "polite")

    act_on(on_bob, "React")
    bob.get_by_role("button", name="React with thumbs up").click()
    on_alice = message_in(alice, "Lunch at noon?")
    reaction = on_alice.get_by_role("button", name=re.compile(r"^👍: 1 reaction, from Bob Berg$"))
    expect(reaction).to_have_attribute("aria-pressed", "false")
    reaction.click()  # Alice adds hers to the same emoji: a toggle
    expect(on_bob.get_by_role("button", name=re.compile("^👍: 2 reactions"))).to_be_visible()

    act_on(on_alice, "Edit")
    editor = on_alice.get_by_role("textbox", name="Edit message")
    editor.fill("Lunch at half past twelve?")
    editor.press("Enter")
    expect(on_bob).to_have_count(0)
    edited = message_in(bob, "Lunch at half past twelve?")
    expect(edited).to_contain_text("(edited)")

    act_on(edited, "Reply in thread")
    pane = bob.get_by_role("complementary", name="Thread")
    expect(pane).to_be_visible()
    expect(pane.get_by_role("textbox", name="Reply in thread")).to_be_focused()
    pane.get_by_role("textbox", name="Reply in thread").fill("Works for me")
    pane.get_by_role("textbox", name="Reply in thread").press("Enter")
    expect(pane.get_by_role("log", name="Replies")).to_contain_text("Works for me")
    expect(typing).to_have_text("")
    summary = message_in(alice, "half past twelve").get_by_role(
        "button", name=re.compile("1 reply")
    )
    expect(summary).to_be_visible()
    # The reply stays out of the room's own history.
    expect(message_in(alice, "Works for me")).to_have_count(0)
    summary.click()
    alice_pane = alice.get_by_role("complementary", name="Thread")
    expect(alice_pane.get_by_role("log", name="Replies")).to_contain_text("Works for me")
    alice_pane.get_by_role("button", name="Close thread").click()
    expect(alice_pane).to_be_hidden()

    act_on(message_in(alice, "half past twelve"), "Delete")
    alice.get_by_role("dialog").get_by_role("button", name="Delete").click()
    tombstone = bob.locator(
        f'#message-log [data-message-id="{Message.objects.get(thread_root=None, room=room).pk}"]'
    )
    expect(tombstone).to_contain_text("This message was deleted.")
    expect(bob.locator("#message-log")).not_to_contain_text("half past twelve")
    assert alice.errors == [] and bob.errors == []


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_direct_message_thread_and_mentions_views_have_no_serious_accessibility_violations(
    daphne_server: Any, make_user: Any, new_context: Any, viewport: dict[str, int]
) -> None:
    alice, bob, room = alice_and_bob_in_a_room(make_user)
    dm, _created = actions.do_open_direct(alice, user_ids=[bob.pk])
    actions.do_send_message(
        bob, room_id=dm.pk, body="Hi! Have you got a minute?", client_msg_id="d1"
    )
    actions.do_send_message(alice, room_id=dm.pk, body="Sure, **go ahead**.", client_msg_id="d2")
    root = actions.do_send_message(
        bob, room_id=room.pk, body="@alice the minutes are ready", client_msg_id="r1"
    ).message
    actions.do_send_message(
        alice, room_id=room.pk, body="Thanks, reading now", client_msg_id="r2", thread=root.pk
    )
    actions.do_toggle_reaction(alice, message_id=root.pk, emoji="👍")
    width = viewport["width"]
    page = sign_in(
        new_context(viewport=viewport), daphne_server.url, "alice", path=f"/#room-{dm.pk}"
    )
    expect(page.get_by_role("heading", level=1)).to_have_text("Bob Berg")
    expect(page.get_by_role("log").locator(".message")).to_have_count(2)
    assert serious_violations(page) == []
    assert no_horizontal_scroll(page)
    screenshot(page, f"direct-{width}")

    page.goto(f"{daphne_server.url}/#room-{room.pk}")
    summary = message_in(page, "minutes are ready").get_by_role(
        "button", name=re.compile("1 reply")
    )
    summary.click()
    pane = page.get_by_role("complementary", name="Thread")
    expect(pane.get_by_role("log", name="Replies")).to_contain_text("Thanks, reading now")
    assert serious_violations(page) == []
    assert no_horizontal_scroll(page)
    screenshot(page, f"thread-{width}")
    if viewport is PHONE:
        # Full screen on a phone, with a way back.
        box = pane.bounding_box()
        assert box is not None and box["width"] >= width - 1
        pane.get_by_role("button", name="Back").click()
        expect(pane).to_be_hidden()
        expect(summary).to_be_focused()
    else:
        pane.get_by_role("button", name="Close thread").click()

    page.goto(f"{daphne_server.url}/#mentions")
    expect(page.get_by_role("heading", level=1)).to_have_text("Mentions & replies")
    expect(page.locator("#mention-list .mention")).to_have_count(2)
    assert serious_violations(page) == []
    assert no_horizontal_scroll(page)
    screenshot(page, f"mentions-{width}")
    assert page.errors == []


def test_seen_by_shows_live_and_goes_at_once_when_the_reader_stops_sharing_it(
    daphne_server: Any, make_user: Any, new_context: Any
) -> None:
    _alice, _bob, planning = alice_and_bob_in_a_room(make_user)
    path = f"/#room-{planning.pk}"
    alice = sign_in(new_context(), daphne_server.url, "alice", path=path)
    send(alice, "Is the rota done?")
    expect(message_in(alice, "Is the rota done?")).to_have_count(1)

    bob = sign_in(new_context(), daphne_server.url, "bob", path=path)
    expect(message_in(bob, "Is the rota done?")).to_have_count(1)
    seen = message_in(alice, "Is the rota done?").locator(".message-seen")
    expect(seen).to_have_text("Seen by Bob Berg")

    sharing = bob.get_by_role("checkbox", name="Show others when I have read their messages")
    expect(sharing).to_be_checked()
    sharing.uncheck()
    expect(seen).to_have_count(0)
    sharing.check()
    expect(seen).to_have_text("Seen by Bob Berg")
    assert alice.errors == [] and bob.errors == []


def test_mentions_autocomplete_from_the_keyboard_and_the_choices_are_announced(
    daphne_server: Any, make_user: Any, new_context: Any
) -> None:
    _alice, bob, planning = alice_and_bob_in_a_room(make_user)
    alice = sign_in(new_context(), daphne_server.url, "alice", path=f"/#room-{planning.pk}")
    composer = alice.get_by_role("textbox", name="Message to")
    composer.press_sequentially("Over to @bo")
    choices = alice.get_by_role("listbox", name="People to mention")
    expect(choices.get_by_role("option")).to_have_count(1)
    expect(choices.get_by_role("option", selected=True)).to_contain_text("Bob Berg")
    expect(alice.locator("#announcer")).to_have_text(
        "1 suggestion. Up and down arrows to choose, Enter to insert."
    )
    composer.press("Enter")  # picks the suggestion, does not send
    expect(choices).to_be_hidden()
    expect(composer).to_have_value("Over to @bob ")
    composer.press_sequentially("please")
    composer.press("Enter")
    expect(message_in(alice, "please")).to_have_count(1)
    expect(message_in(alice, "please")).not_to_have_class(re.compile(r"\bpending\b"))
    assert Message.objects.get(room=planning).mentions == [bob.pk]

    composer.press_sequentially("@ro")
    expect(choices.get_by_role("option")).to_have_count(1)
    composer.press("Escape")
    expect(choices).to_be_hidden()
    expect(composer).to_be_focused()
    assert alice.errors == []


def test_opening_an_old_mention_shows_and_focuses_that_message_in_its_room(
    daphne_server: Any, make_user: Any, new_context: Any
) -> None:
    alice, _bob, planning = alice_and_bob_in_a_room(make_user)
    actions.do_send_message(
        alice, room_id=planning.pk, body="@bob the old question", client_msg_id="m-old"
    )
    for n in range(60):  # more than one page of history after it
        actions.do_send_message(
            alice, room_id=planning.pk, body=f"chatter {n}", client_msg_id=f"c{n}"
        )

    bob = sign_in(new_context(), daphne_server.url, "bob", path="/#mentions")
    mentions = bob.get_by_role("region", name="Mentions & replies")
    mentions.get_by_role("listitem").filter(has_text="the old question").get_by_role("link").click()
    expect(bob.get_by_role("heading", level=1)).to_have_text("Planning")
    target = message_in(bob, "the old question")
    expect(target).to_be_focused()
    expect(target).to_have_class(re.compile(r"\bis-target\b"))
    expect(target).to_be_in_viewport()
    assert bob.errors == []
