"""The chat actions: direct conversations, threads, reactions, mentions, notifications, read
receipts, edits and deletes, pins, invitations, roles and room administration."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from chatserver.errors import Conflict, Forbidden, InvalidInput, NotFound
from rooms import actions, selectors
from rooms.models import (
    Invitation,
    Membership,
    Message,
    MessageRevision,
    Notification,
    Reaction,
    Room,
    RoomEvent,
)

from .conftest import Published, assert_envelope

pytestmark = pytest.mark.django_db


def say(author: Any, room: Room, body: str, key: str, *, thread: int | None = None) -> Message:
    return actions.do_send_message(
        author, room_id=room.pk, body=body, client_msg_id=key, thread=thread
    ).message


def notified(message: Message) -> dict[int, str]:
    """Who got a notification for ``message``, and of which kind."""
    return dict(Notification.objects.filter(message=message).values_list("user_id", "kind"))


def last_seq(room: Room) -> int:
    room.refresh_from_db()
    return room.last_seq


# --- direct conversations ---------------------------------------------------------------------
def test_the_same_people_always_land_in_the_same_direct_conversation(
    make_user: Callable[..., Any],
) -> None:
    anna, bertil, cecilia = make_user(), make_user(), make_user()

    first, created = actions.do_open_direct(anna, user_ids=[bertil.pk])
    again, created_again = actions.do_open_direct(bertil, user_ids=[anna.pk, bertil.pk])
    group, _ = actions.do_open_direct(cecilia, user_ids=[bertil.pk, anna.pk])

    assert created and not created_again
    assert again.pk == first.pk
    assert group.pk != first.pk
    assert (first.kind, first.visibility) == (Room.Kind.DIRECT, Room.Visibility.PRIVATE)
    assert set(Membership.objects.filter(room=first).values_list("user_id", flat=True)) == {
        anna.pk,
        bertil.pk,
    }
    assert Room.objects.filter(kind=Room.Kind.DIRECT).count() == 2


def test_opening_a_direct_conversation_announces_it_to_each_participant(
    make_user: Callable[..., Any], published: Published, django_capture_on_commit_callbacks: Any
) -> None:
    anna, bertil = make_user(), make_user()
    with django_capture_on_commit_callbacks(execute=True):
        room, _ = actions.do_open_direct(anna, user_ids=[bertil.pk])

    announced = [e for e in published.events if e.type == "room.created"]
    assert sorted(e.topic for e in announced) == sorted([f"user.{anna.pk}", f"user.{bertil.pk}"])
    frame = assert_envelope(announced[0], topic=announced[0].topic, type="room.created")
    assert frame["data"]["room"]["kind"] == "direct"
    assert frame["data"]["room"]["id"] == room.pk
    assert {p["id"] for p in frame["data"]["room"]["participants"]} == {anna.pk, bertil.pk}
    assert "everyone" not in {e.topic for e in published.events}


def test_a_third_person_can_neither_see_nor_post_in_a_direct_conversation(
    make_user: Callable[..., Any],
) -> None:
    anna, bertil, outsider = make_user(), make_user(), make_user()
    room, _ = actions.do_open_direct(anna, user_ids=[bertil.pk])
    secret = say(anna, room, "just between us", "d1")

    with pytest.raises(NotFound):
        selectors.access_room(outsider, room.pk)
    with pytest.raises(NotFound):
        say(outsider, room, "let me in", "o1")
    with pytest.raises(NotFound):
        actions.do_toggle_reaction(outsider, message_id=secret.pk, emoji="👀")
    with pytest.raises(NotFound):
        actions.do_join_room(outsider, room_id=room.pk)
    assert selectors.read_room_log(outsider, str(room.pk), 0, 100) is None
    assert room.pk not in [r.pk for r in selectors.direct_conversations(outsider)]
    assert not Message.objects.filter(author=outsider).exists()


def test_a_direct_conversation_has_at_most_twenty_people(make_user: Callable[..., Any]) -> None:
    starter = make_user()
    others = [make_user() for _ in range(20)]

    with pytest.raises(InvalidInput) as error:
        actions.do_open_direct(starter, user_ids=[p.pk for p in others])  # 21 with the starter

    assert error.value.code == "invalid"
    assert error.value.extra == {"field": "user_ids"}
    assert not Room.objects.filter(kind=Room.Kind.DIRECT).exists()
    room, created = actions.do_open_direct(starter, user_ids=[p.pk for p in others[:19]])
    assert created and room.memberships.count() == 20


def test_direct_conversations_refuse_unknown_or_inactive_people(
    make_user: Callable[..., Any],
) -> None:
    anna, gone = make_user(), make_user(is_active=False)
    for user_ids in ([gone.pk], [987654]):
        with pytest.raises(InvalidInput):
            actions.do_open_direct(anna, user_ids=user_ids)
    assert not Room.objects.filter(kind=Room.Kind.DIRECT).exists()


def test_direct_conversations_keep_their_people_and_have_no_admins(
    make_user: Callable[..., Any],
) -> None:
    anna, bertil, cecilia = make_user(), make_user(), make_user()
    room, _ = actions.do_open_direct(anna, user_ids=[bertil.pk])
    message = say(anna, room, "hi", "d1")

    with pytest.raises(InvalidInput):
        actions.do_leave_room(anna, room_id=room.pk)
    with pytest.raises(Forbidden):
        actions.do_add_member(anna, room_id=room.pk, user=cecilia)
    with pytest.raises(Forbidden):
        actions.do_invite(anna, room_id=room.pk, invitee=cecilia)
    with pytest.raises(Forbidden):
        actions.do_remove_member(anna, room_id=room.pk, user_id=bertil.pk)
    with pytest.raises(Forbidden):
        actions.do_update_room(anna, room_id=room.pk, name="ours")
    with pytest.raises(Forbidden):
        actions.do_pin_message(anna, message_id=message.pk, pinned=True)
    assert room.memberships.count() == 2


def test_a_direct_message_notifies_every_other_participant(
    make_user: Callable[..., Any], published: Published, django_capture_on_commit_callbacks: Any
) -> None:
    anna, bertil, cecilia = make_user(), make_user(), make_user()
    room, _ = actions.do_open_direct(anna, user_ids=[bertil.pk, cecilia.pk])
    published.clear()

    with django_capture_on_commit_callbacks(execute=True):
        message = say(anna, room, "lunch?", "d1")

    assert notified(message) == {bertil.pk: "direct", cecilia.pk: "direct"}
    pushed = [e for e in published.events if e.type == "notification.created"]
    assert sorted(e.topic for e in pushed) == sorted([f"user.{bertil.pk}", f"user.{cecilia.pk}"])
    frame = assert_envelope(pushed[0], topic=pushed[0].topic, type="notification.created")
    assert frame["data"]["notification"]["kind"] == "direct"
    assert frame["data"]["notification"]["message"]["body"] == "lunch?"
    assert frame["data"]["notification"]["read"] is False


# --- mentions and notifications ---------------------------------------------------------------
def test_a_mention_notifies_the_mentioned_member_only(
    make_user: Callable[..., Any],
    make_room: Callable[..., Room],
    published: Published,
    django_capture_on_commit_callbacks: Any,
) -> None:
    author, bertil, cecilia = make_user("anna"), make_user("bertil"), make_user("cecilia")
    outsider = make_user("david")
    room = make_room(author, members=(bertil, cecilia))
    published.clear()

    with django_capture_on_commit_callbacks(execute=True):
        message = say(author, room, "@bertil and @david, see anna@example.com @anna", "m1")

    # Not the outsider (not a member), not the author mentioning herself, not an e-mail address.
    assert notified(message) == {bertil.pk: "mention"}
    assert bertil.pk in message.mentions
    assert outsider.pk not in message.mentions
    pushed = [e for e in published.events if e.type == "notification.created"]
    assert [e.topic for e in pushed] == [f"user.{bertil.pk}"]
    assert published.types[0] == "message.created"


def test_at_room_notifies_every_member_but_the_sender(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    author, bertil, cecilia, outsider = make_user(), make_user(), make_user(), make_user()
    room = make_room(author, members=(bertil, cecilia))

    message = say(author, room, "@room fire drill at ten", "m1")

    assert notified(message) == {bertil.pk: "mention", cecilia.pk: "mention"}
    assert "room" in message.mentions
    assert outsider.pk not in notified(message)


def test_thread_replies_notify_the_root_author_and_thread_participants(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    root_author, first, second, bystander = make_user(), make_user(), make_user(), make_user()
    room = make_room(root_author, members=(first, second, bystander))
    root = say(root_author, room, "plan for Friday?", "r")

    reply1 = say(first, room, "I can host", "t1", thread=root.pk)
    reply2 = say(second, room, "me too", "t2", thread=root.pk)

    assert notified(reply1) == {root_author.pk: "reply"}
    assert notified(reply2) == {root_author.pk: "reply", first.pk: "reply"}
    assert bystander.pk not in notified(reply2)
    root.refresh_from_db()
    assert root.reply_count == 2
    assert root.last_reply_at == reply2.created_at


def test_the_stronger_reason_wins_when_a_reply_also_mentions(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    root_author, replier = make_user("rita"), make_user("rolf")
    room = make_room(root_author, members=(replier,))
    root = say(root_author, room, "question", "r")

    reply = say(replier, room, "@rita answer", "t1", thread=root.pk)

    assert notified(reply) == {root_author.pk: "mention"}


def test_notifications_are_listed_and_read_from_any_tab(
    make_user: Callable[..., Any],
    make_room: Callable[..., Room],
    published: Published,
    django_capture_on_commit_callbacks: Any,
) -> None:
    author, reader = make_user(), make_user("reader")
    room = make_room(author, members=(reader,))
    first = say(author, room, "@reader one", "m1")
    second = say(author, room, "@reader two", "m2")
    assert [n.message_id for n in selectors.notifications_for_user(reader)] == [
        second.pk,
        first.pk,
    ]
    assert selectors.unread_notification_count(reader) == 2
    ids = list(Notification.objects.filter(user=reader).values_list("pk", flat=True))
    published.clear()

    with django_capture_on_commit_callbacks(execute=True):
        read = actions.do_mark_notifications_read(reader, ids=[ids[0], 987654])
        again = actions.do_mark_notifications_read(reader, ids=[ids[0]])
        rest = actions.do_mark_notifications_read(reader)

    assert read == [ids[0]]
    assert again == []  # nothing new: nothing published
    assert sorted(rest) == sorted(ids[1:])
    assert selectors.unread_notification_count(reader) == 0
    assert published.types == ["notification.read", "notification.read"]
    frame = assert_envelope(
        published.events[0], topic=f"user.{reader.pk}", type="notification.read"
    )
    assert frame["data"] == {"ids": [ids[0]]}


def test_someone_elses_notifications_cannot_be_marked_read(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    author, reader, other = make_user(), make_user("reader"), make_user()
    room = make_room(author, members=(reader, other))
    say(author, room, "@reader look", "m1")
    notification = Notification.objects.get(user=reader)

    assert actions.do_mark_notifications_read(other, ids=[notification.pk]) == []
    notification.refresh_from_db()
    assert notification.read_at is None


def test_reading_a_room_reads_its_notifications_and_tells_every_tab(
    make_user: Callable[..., Any],
    make_room: Callable[..., Room],
    published: Published,
    django_capture_on_commit_callbacks: Any,
) -> None:
    author, reader = make_user(), make_user("reader")
    room = make_room(author, members=(reader,))
    message = say(author, room, "@reader ping", "m1")
    notification = Notification.objects.get(user=reader, message=message)
    published.clear()

    with django_capture_on_commit_callbacks(execute=True):
        actions.do_mark_read(reader, room_id=room.pk, seq=message.seq)

    assert published.types == ["room.read", "notification.read", "receipt.updated"]
    frame = assert_envelope(
        published.events[1], topic=f"user.{reader.pk}", type="notification.read"
    )
    assert frame["data"] == {"ids": [notification.pk]}
    assert selectors.unread_counts(reader, [room.pk]) == {room.pk: 0}


def test_unread_counts_leave_out_own_messages_deleted_ones_and_thread_replies(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    author, reader = make_user(), make_user()
    room = make_room(author, members=(reader,))
    root = say(author, room, "one", "m1")
    say(author, room, "reply", "m2", thread=root.pk)
    gone = say(author, room, "oops", "m3")
    actions.do_delete_message(author, message_id=gone.pk)
    say(reader, room, "mine", "m4")
    say(author, room, "two", "m5")

    assert selectors.unread_counts(reader, [room.pk]) == {room.pk: 2}


def test_a_removed_member_no_longer_sees_the_rooms_notifications(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    owner, member = make_user(), make_user("member")
    room = make_room(owner, visibility="private", members=(member,))
    say(owner, room, "@member secret plan", "m1")
    assert len(selectors.notifications_for_user(member)) == 1

    actions.do_remove_member(owner, room_id=room.pk, user_id=member.pk)

    assert selectors.notifications_for_user(member) == []
    assert selectors.unread_notification_count(member) == 0
    with pytest.raises(NotFound):
        selectors.access_room(member, room.pk)
    assert selectors.read_room_log(member, str(room.pk), 0, 100) is None


# --- read receipts ----------------------------------------------------------------------------
def test_read_receipts_show_positions_and_respect_the_share_setting(
    make_user: Callable[..., Any],
    make_room: Callable[..., Room],
    published: Published,
    django_capture_on_commit_callbacks: Any,
) -> None:
    owner, sharer, private = make_user(), make_user(), make_user()
    room = make_room(owner, members=(sharer, private))
    message = say(owner, room, "seen?", "m1")
    actions.do_set_chat_preferences(private, share_read_receipts=False)
    published.clear()

    with django_capture_on_commit_callbacks(execute=True):
        actions.do_mark_read(sharer, room_id=room.pk, seq=message.seq)
        actions.do_mark_read(private, room_id=room.pk, seq=message.seq)

    receipts = {m.user_id: m.last_read_seq for m in selectors.read_receipts(room) or []}
    assert receipts[sharer.pk] == message.seq
    assert private.pk not in receipts
    receipt_events = [e for e in published.events if e.type == "receipt.updated"]
    assert len(receipt_events) == 1
    frame = assert_envelope(
        receipt_events[0], topic=f"room.{room.pk}", type="receipt.updated", room=room.pk
    )
    assert frame["data"]["user"]["id"] == sharer.pk
    # The private person's own tabs still learn the position.
    assert [e.topic for e in published.events if e.type == "room.read"] == [
        f"user.{sharer.pk}",
        f"user.{private.pk}",
    ]


def test_turning_receipts_off_withdraws_them_live_and_on_shows_them_again(
    make_user: Callable[..., Any],
    make_room: Callable[..., Room],
    published: Published,
    django_capture_on_commit_callbacks: Any,
) -> None:
    owner, reader = make_user(), make_user()
    room = make_room(owner, members=(reader,))
    message = say(owner, room, "seen?", "m1")
    actions.do_mark_read(reader, room_id=room.pk, seq=message.seq)
    published.clear()

    with django_capture_on_commit_callbacks(execute=True):
        actions.do_set_chat_preferences(reader, share_read_receipts=False)
        actions.do_set_chat_preferences(reader, share_read_receipts=False)  # no change
        actions.do_set_chat_preferences(reader, share_read_receipts=True)

    frames = [
        assert_envelope(e, topic=f"room.{room.pk}", type="receipt.updated", room=room.pk)
        for e in published.events
    ]
    assert [(f["data"]["user"]["id"], f["data"]["seq"]) for f in frames] == [
        (reader.pk, None),
        (reader.pk, message.seq),
    ]


def test_rooms_of_more_than_fifty_members_show_no_receipts(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    owner = make_user()
    room = make_room(owner, members=tuple(make_user() for _ in range(50)))
    assert room.memberships.count() == 51
    assert selectors.read_receipts(room) is None
    direct, _ = actions.do_open_direct(owner, user_ids=[make_user().pk])
    assert selectors.read_receipts(direct) is not None


# --- threads ----------------------------------------------------------------------------------
def test_a_reply_carries_its_thread_summary_in_the_event(
    make_user: Callable[..., Any],
    make_room: Callable[..., Room],
    published: Published,
    django_capture_on_commit_callbacks: Any,
) -> None:
    author, replier = make_user(), make_user()
    room = make_room(author, members=(replier,))
    root = say(author, room, "root", "r")
    published.clear()

    with django_capture_on_commit_callbacks(execute=True):
        reply = say(replier, room, "reply", "t1", thread=root.pk)
        nested = say(author, room, "reply to the reply", "t2", thread=reply.pk)

    assert nested.thread_root_id == root.pk  # threads are one level deep
    created = [e for e in published.events if e.type == "message.created"]
    frame = assert_envelope(
        created[-1], topic=f"room.{room.pk}", type="message.created", room=room.pk, seq=nested.seq
    )
    assert frame["data"]["message"]["thread_root"] == root.pk
    assert frame["data"]["thread"]["root"] == root.pk
    assert frame["data"]["thread"]["reply_count"] == 2
    thread = selectors.message_history(room, before=None, after=None, limit=10, thread=root.pk)
    assert [m.pk for m in thread] == [reply.pk, nested.pk]
    main = selectors.message_history(room, before=None, after=None, limit=10)
    assert [m.pk for m in main] == [root.pk]


def test_a_reply_to_a_message_in_another_room_is_refused(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    author = make_user()
    here, there = make_room(author, name="Here"), make_room(author, name="There")
    elsewhere = say(author, there, "over there", "m1")
    before = last_seq(here)

    with pytest.raises(InvalidInput) as error:
        say(author, here, "reply", "t1", thread=elsewhere.pk)
    with pytest.raises(InvalidInput):
        say(author, here, "reply", "t2", thread=987654)

    assert error.value.code == "invalid"
    assert error.value.extra == {"field": "thread"}
    assert last_seq(here) == before
    elsewhere.refresh_from_db()
    assert elsewhere.reply_count == 0
    assert not Message.objects.filter(thread_root__isnull=False).exists()


# --- reactions --------------------------------------------------------------------------------
def test_reactions_toggle_with_live_counts_and_who(
    make_user: Callable[..., Any],
    make_room: Callable[..., Room],
    published: Published,
    django_capture_on_commit_callbacks: Any,
) -> None:
    author, fan = make_user(), make_user()
    room = make_room(author, members=(fan,))
    message = say(author, room, "ship it", "m1")
    published.clear()

    with django_capture_on_commit_callbacks(execute=True):
        assert actions.do_toggle_reaction(fan, message_id=message.pk, emoji="👍") is True
        assert actions.do_toggle_reaction(author, message_id=message.pk, emoji="👍") is True
        assert actions.do_toggle_reaction(fan, message_id=message.pk, emoji="👍🏽") is True
        assert actions.do_toggle_reaction(fan, message_id=message.pk, emoji="👍") is False

    assert published.types == ["reaction.added"] * 3 + ["reaction.removed"]
    last = assert_envelope(
        published.events[-1],
        topic=f"room.{room.pk}",
        type="reaction.removed",
        room=room.pk,
        seq=last_seq(room),
    )
    assert last["data"]["message_id"] == message.pk
    assert last["data"]["user"]["id"] == fan.pk
    assert last["data"]["reactions"] == [
        {"emoji": "👍", "count": 1, "users": [author.pk]},
        {"emoji": "👍🏽", "count": 1, "users": [fan.pk]},
    ]
    assert Reaction.objects.filter(message=message).count() == 2


@pytest.mark.parametrize(
    "emoji", ["👍", "❤️", "👨‍👩‍👧", "🇸🇪", "1️⃣", "🏳️‍🌈", "👍🏽", "👩🏽‍💻", "#️⃣", "🏴󠁧󠁢󠁳󠁣󠁴󠁿"]
)
def test_real_emoji_are_accepted(emoji: str) -> None:
    assert actions.check_emoji(emoji) == emoji


@pytest.mark.parametrize(
    "emoji",
    [
        *["abc", "", " ", "a", "1", "<b>", "👍" * 17, "x👍", "👍 ", "\u200d", "©" * 40],
        # Several emoji are not one: a reaction is a single emoji.
        *["👍👍", "🇸🇪🇸🇪", "1️⃣2️⃣", "👍🏽🏽", "^©", "🇸", "👍\u200d", "\u200d👍", "🏽"],
    ],
)
def test_reactions_that_are_not_one_emoji_are_refused_and_change_nothing(
    emoji: str, make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    author = make_user()
    room = make_room(author)
    message = say(author, room, "hi", "m1")
    before = last_seq(room)

    with pytest.raises(InvalidInput) as error:
        actions.do_toggle_reaction(author, message_id=message.pk, emoji=emoji)

    assert error.value.extra == {"field": "emoji"}
    assert not Reaction.objects.exists()
    assert last_seq(room) == before


def test_a_watcher_of_a_public_room_cannot_react(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    author, watcher = make_user(), make_user()
    room = make_room(author)
    message = say(author, room, "hi", "m1")
    with pytest.raises(Forbidden):
        actions.do_toggle_reaction(watcher, message_id=message.pk, emoji="👍")
    assert not Reaction.objects.exists()


# --- edit and delete --------------------------------------------------------------------------
def test_an_edit_keeps_the_previous_text_and_is_published_with_the_new_one(
    make_user: Callable[..., Any],
    make_room: Callable[..., Room],
    published: Published,
    django_capture_on_commit_callbacks: Any,
) -> None:
    author, fan = make_user(), make_user()
    room = make_room(author, members=(fan,))
    message = say(author, room, "teh plan", "m1")
    actions.do_toggle_reaction(fan, message_id=message.pk, emoji="👍")
    published.clear()

    with django_capture_on_commit_callbacks(execute=True):
        actions.do_edit_message(author, message_id=message.pk, body="the **plan**")

    message.refresh_from_db()
    assert message.body == "the **plan**"
    assert message.edited_at is not None
    assert "<strong>plan</strong>" in message.body_html
    revision = MessageRevision.objects.get(message=message)
    assert (revision.body, revision.replaced_by_id) == ("teh plan", author.pk)
    assert published.types == ["message.edited"]
    frame = assert_envelope(
        published.events[0],
        topic=f"room.{room.pk}",
        type="message.edited",
        room=room.pk,
        seq=last_seq(room),
    )
    edited = frame["data"]["message"]
    assert (edited["id"], edited["body"], edited["seq"]) == (
        message.pk,
        "the **plan**",
        message.seq,
    )
    assert edited["edited_at"] is not None
    assert edited["reactions"] == [{"emoji": "👍", "count": 1, "users": [fan.pk]}]
    assert published.events[0].frame == RoomEvent.objects.get(room=room, seq=last_seq(room)).frame


def test_nobody_edits_someone_elses_message_not_even_an_owner(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    owner, author = make_user(), make_user()
    room = make_room(owner, members=(author,))
    message = say(author, room, "mine", "m1")
    before = last_seq(room)

    with pytest.raises(Forbidden) as error:
        actions.do_edit_message(owner, message_id=message.pk, body="yours now")

    assert error.value.code == "forbidden"
    message.refresh_from_db()
    assert (message.body, message.edited_at) == ("mine", None)
    assert not MessageRevision.objects.exists()
    assert last_seq(room) == before


def test_an_outsider_cannot_edit_or_delete_messages_of_a_private_room(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    owner, outsider = make_user(), make_user()
    room = make_room(owner, visibility="private")
    message = say(owner, room, "private", "m1")
    with pytest.raises(NotFound):
        actions.do_edit_message(outsider, message_id=message.pk, body="x")
    with pytest.raises(NotFound):
        actions.do_delete_message(outsider, message_id=message.pk)
    message.refresh_from_db()
    assert message.deleted_at is None and message.body == "private"


def test_delete_leaves_a_tombstone_and_scrubs_the_text_from_the_log(
    make_user: Callable[..., Any],
    make_room: Callable[..., Room],
    published: Published,
    django_capture_on_commit_callbacks: Any,
) -> None:
    author, fan = make_user(), make_user()
    room = make_room(author, members=(fan,))
    secret = "my password is hunter2"
    message = say(author, room, secret, "m1")
    actions.do_edit_message(author, message_id=message.pk, body=f"{secret}!")
    actions.do_toggle_reaction(fan, message_id=message.pk, emoji="😱")
    published.clear()

    with django_capture_on_commit_callbacks(execute=True):
        actions.do_delete_message(author, message_id=message.pk)
        again = actions.do_delete_message(author, message_id=message.pk)

    assert again.deleted_at is not None
    message.refresh_from_db()
    assert message.deleted_at is not None
    assert not Reaction.objects.filter(message=message).exists()
    assert published.types == ["message.deleted"]  # deleting twice publishes once
    frame = assert_envelope(
        published.events[0],
        topic=f"room.{room.pk}",
        type="message.deleted",
        room=room.pk,
        seq=last_seq(room),
    )
    assert frame["data"]["message"]["deleted"] is True
    assert frame["data"]["message"]["body"] == frame["data"]["message"]["html"] == ""
    # No stored frame of the room, replayed on resume, still carries the text.
    for row in RoomEvent.objects.filter(room=room):
        assert "hunter2" not in row.frame, row.type
    created = json.loads(RoomEvent.objects.get(room=room, type="message.created").frame)
    assert created["data"]["message"]["deleted"] is True
    # Moderators keep the history.
    assert list(
        MessageRevision.objects.filter(message=message)
        .order_by("pk")
        .values_list("body", flat=True)
    ) == [secret, f"{secret}!"]


def test_owners_and_admins_may_delete_others_messages_but_members_may_not(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    owner, admin, member, author = make_user(), make_user(), make_user(), make_user()
    room = make_room(owner, members=(member, author), admins=(admin,))
    first = say(author, room, "one", "m1")
    second = say(author, room, "two", "m2")

    with pytest.raises(Forbidden):
        actions.do_delete_message(member, message_id=first.pk)
    first.refresh_from_db()
    assert first.deleted_at is None
    actions.do_delete_message(admin, message_id=first.pk)
    actions.do_delete_message(owner, message_id=second.pk)
    assert Message.objects.filter(deleted_at__isnull=False).count() == 2


def test_deleted_messages_cannot_be_edited_reacted_to_or_replied_to(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    author = make_user()
    room = make_room(author)
    message = say(author, room, "gone soon", "m1")
    actions.do_delete_message(author, message_id=message.pk)
    with pytest.raises(InvalidInput):
        actions.do_edit_message(author, message_id=message.pk, body="back")
    with pytest.raises(InvalidInput):
        actions.do_toggle_reaction(author, message_id=message.pk, emoji="👍")
    with pytest.raises(InvalidInput):
        say(author, room, "reply", "t1", thread=message.pk)


# --- pins -------------------------------------------------------------------------------------
def test_admins_pin_and_unpin_and_the_pins_list_follows(
    make_user: Callable[..., Any],
    make_room: Callable[..., Room],
    published: Published,
    django_capture_on_commit_callbacks: Any,
) -> None:
    owner, admin, member = make_user(), make_user(), make_user()
    room = make_room(owner, members=(member,), admins=(admin,))
    first, second = say(member, room, "one", "m1"), say(member, room, "two", "m2")
    published.clear()

    with django_capture_on_commit_callbacks(execute=True):
        actions.do_pin_message(admin, message_id=first.pk, pinned=True)
        actions.do_pin_message(owner, message_id=second.pk, pinned=True)
        actions.do_pin_message(owner, message_id=second.pk, pinned=True)  # no change
        actions.do_pin_message(admin, message_id=second.pk, pinned=False)

    assert [m.pk for m in selectors.pinned_messages(room)] == [first.pk]
    assert published.types == ["message.pinned", "message.pinned", "message.unpinned"]
    frame = assert_envelope(
        published.events[0],
        topic=f"room.{room.pk}",
        type="message.pinned",
        room=room.pk,
        seq=published.events[0].seq,
    )
    assert frame["data"]["message_id"] == first.pk
    assert frame["data"]["by"]["id"] == admin.pk
    actions.do_delete_message(member, message_id=first.pk)
    assert selectors.pinned_messages(room) == []


def test_members_cannot_pin(make_user: Callable[..., Any], make_room: Callable[..., Room]) -> None:
    owner, member = make_user(), make_user()
    room = make_room(owner, members=(member,))
    message = say(member, room, "pin me", "m1")
    before = last_seq(room)
    with pytest.raises(Forbidden):
        actions.do_pin_message(member, message_id=message.pk, pinned=True)
    message.refresh_from_db()
    assert message.pinned_at is None
    assert last_seq(room) == before


def test_pins_of_an_archived_room_stay_as_they_were(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    owner = make_user()
    room = make_room(owner)
    pinned, other = say(owner, room, "pinned", "m1"), say(owner, room, "other", "m2")
    actions.do_pin_message(owner, message_id=pinned.pk, pinned=True)
    actions.do_update_room(owner, room_id=room.pk, archived=True)
    before = last_seq(room)
    for message, pin in ((other, True), (pinned, False)):
        with pytest.raises(Forbidden) as error:
            actions.do_pin_message(owner, message_id=message.pk, pinned=pin)
        assert "archived" in str(error.value.message)
    assert [m.pk for m in selectors.pinned_messages(room)] == [pinned.pk]
    assert last_seq(room) == before


# --- rooms: rename, topic, archive ------------------------------------------------------------
def test_admins_rename_set_the_topic_and_archive(
    make_user: Callable[..., Any],
    make_room: Callable[..., Room],
    published: Published,
    django_capture_on_commit_callbacks: Any,
) -> None:
    owner, admin = make_user(), make_user()
    room = make_room(owner, admins=(admin,))
    published.clear()

    with django_capture_on_commit_callbacks(execute=True):
        actions.do_update_room(admin, room_id=room.pk, name="Ops", topic="Night shift")
        actions.do_update_room(admin, room_id=room.pk, name="Ops")  # no change: no event

    room.refresh_from_db()
    assert (room.name, room.topic) == ("Ops", "Night shift")
    assert published.types == ["room.updated"]
    frame = assert_envelope(
        published.events[0],
        topic=f"room.{room.pk}",
        type="room.updated",
        room=room.pk,
        seq=room.last_seq,
    )
    assert frame["data"]["room"]["name"] == "Ops"
    assert frame["data"]["by"]["id"] == admin.pk


def test_members_cannot_rename_set_the_topic_or_archive(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    owner, member, watcher = make_user(), make_user(), make_user()
    room = make_room(owner, name="Lobby", members=(member,))
    before = last_seq(room)
    for actor in (member, watcher):
        for change in ({"name": "Mine"}, {"topic": "mine"}, {"archived": True}):
            with pytest.raises(Forbidden):
                actions.do_update_room(actor, room_id=room.pk, **change)

    room.refresh_from_db()
    assert (room.name, room.topic, room.archived_at) == ("Lobby", "", None)
    assert room.last_seq == before


def test_an_archived_room_is_read_only_and_hidden_from_the_default_list(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    owner, member, newcomer = make_user(), make_user(), make_user()
    room = make_room(owner, name="Old", members=(member,))
    message = say(member, room, "last words", "m1")

    actions.do_update_room(owner, room_id=room.pk, archived=True)

    assert room.pk not in [r.pk for r in selectors.rooms_for_user(member)]
    assert room.pk in [r.pk for r in selectors.rooms_for_user(member, include_archived=True)]
    selectors.access_room(member, room.pk)  # still readable
    with pytest.raises(Forbidden):
        say(member, room, "more", "m2")
    with pytest.raises(Forbidden):
        actions.do_edit_message(member, message_id=message.pk, body="changed")
    with pytest.raises(Forbidden):
        actions.do_toggle_reaction(member, message_id=message.pk, emoji="👍")
    with pytest.raises(Forbidden):
        actions.do_join_room(newcomer, room_id=room.pk)
    with pytest.raises(Forbidden):
        actions.do_invite(member, room_id=room.pk, invitee=newcomer)
    actions.do_update_room(owner, room_id=room.pk, archived=False)
    say(member, room, "we are back", "m3")


# --- roles ------------------------------------------------------------------------------------
def test_only_owners_change_roles(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    owner, admin, member = make_user(), make_user(), make_user()
    room = make_room(owner, members=(member,), admins=(admin,))

    for actor in (admin, member):
        with pytest.raises(Forbidden):
            actions.do_set_member_role(actor, room_id=room.pk, user_id=member.pk, role="admin")
    assert Membership.objects.get(room=room, user=member).role == "member"

    actions.do_set_member_role(owner, room_id=room.pk, user_id=member.pk, role="admin")
    assert Membership.objects.get(room=room, user=member).role == "admin"
    assert RoomEvent.objects.filter(room=room, type="member.role_changed").count() == 1
    with pytest.raises(InvalidInput):
        actions.do_set_member_role(owner, room_id=room.pk, user_id=member.pk, role="king")


def test_the_last_owner_can_neither_leave_nor_be_demoted(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    owner, member = make_user(), make_user()
    room = make_room(owner, members=(member,))

    with pytest.raises(InvalidInput):
        actions.do_leave_room(owner, room_id=room.pk)
    with pytest.raises(InvalidInput):
        actions.do_set_member_role(owner, room_id=room.pk, user_id=owner.pk, role="member")
    assert Membership.objects.get(room=room, user=owner).role == "owner"

    actions.do_set_member_role(owner, room_id=room.pk, user_id=member.pk, role="owner")
    actions.do_set_member_role(member, room_id=room.pk, user_id=owner.pk, role="member")
    actions.do_leave_room(owner, room_id=room.pk)
    assert list(Membership.objects.filter(room=room).values_list("user_id", "role")) == [
        (member.pk, "owner")
    ]


def test_an_admin_manages_members_but_not_owners(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    owner, admin, member = make_user(), make_user(), make_user()
    room = make_room(owner, visibility="private", members=(member,), admins=(admin,))
    with pytest.raises(Forbidden):
        actions.do_remove_member(admin, room_id=room.pk, user_id=owner.pk)
    with pytest.raises(Forbidden):
        actions.do_remove_member(member, room_id=room.pk, user_id=admin.pk)
    actions.do_remove_member(admin, room_id=room.pk, user_id=member.pk)
    assert set(Membership.objects.filter(room=room).values_list("user_id", flat=True)) == {
        owner.pk,
        admin.pk,
    }


# --- invitations ------------------------------------------------------------------------------
def test_an_accepted_invitation_makes_a_member_and_starts_their_stream(
    make_user: Callable[..., Any],
    make_room: Callable[..., Room],
    published: Published,
    django_capture_on_commit_callbacks: Any,
) -> None:
    owner, member, guest = make_user(), make_user(), make_user()
    room = make_room(owner, visibility="private", members=(member,))
    published.clear()

    with django_capture_on_commit_callbacks(execute=True):
        invitation = actions.do_invite(member, room_id=room.pk, invitee=guest)
    assert published.types == ["invitation.created"]
    frame = assert_envelope(
        published.events[0], topic=f"user.{guest.pk}", type="invitation.created"
    )
    assert frame["data"]["invitation"]["room"]["id"] == room.pk
    assert [i.pk for i in selectors.pending_invitations(guest)] == [invitation.pk]
    with pytest.raises(NotFound):
        selectors.access_room(guest, room.pk)  # invited is not yet a member
    published.clear()

    with django_capture_on_commit_callbacks(execute=True):
        actions.do_respond_to_invitation(guest, invitation_id=invitation.pk, accept=True)

    membership = Membership.objects.get(room=room, user=guest)
    assert membership.role == "member"
    assert sorted(published.types) == sorted(
        ["member.joined", "invitation.updated", "invitation.updated"]
    )
    assert sorted(e.topic for e in published.events if e.type == "invitation.updated") == sorted(
        [f"user.{guest.pk}", f"user.{member.pk}"]
    )
    room.refresh_from_db()
    assert published.controls == [
        (
            guest.pk,
            {
                "type": "control.subscribe",
                "topic": f"room.{room.pk}",
                "after_seq": room.last_seq - 1,
            },
        )
    ]
    assert selectors.pending_invitations(guest) == []
    with pytest.raises(Conflict):
        actions.do_respond_to_invitation(guest, invitation_id=invitation.pk, accept=False)


def test_a_declined_invitation_changes_no_membership(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    owner, guest = make_user(), make_user()
    room = make_room(owner, visibility="private")
    invitation = actions.do_invite(owner, room_id=room.pk, invitee=guest)
    before = last_seq(room)

    actions.do_respond_to_invitation(guest, invitation_id=invitation.pk, accept=False)

    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.DECLINED
    assert not Membership.objects.filter(room=room, user=guest).exists()
    assert last_seq(room) == before
    # Declining lets someone invite again later.
    actions.do_invite(owner, room_id=room.pk, invitee=guest)


def test_invitations_refuse_duplicates_members_outsiders_and_strangers(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    owner, member, guest, outsider = make_user(), make_user(), make_user(), make_user()
    room = make_room(owner, visibility="private", members=(member,))
    invitation = actions.do_invite(owner, room_id=room.pk, invitee=guest)

    with pytest.raises(Conflict):
        actions.do_invite(member, room_id=room.pk, invitee=guest)
    with pytest.raises(Conflict):
        actions.do_invite(owner, room_id=room.pk, invitee=member)
    with pytest.raises(NotFound):
        actions.do_invite(outsider, room_id=room.pk, invitee=guest)
    with pytest.raises(NotFound):  # only the invitee may answer
        actions.do_respond_to_invitation(outsider, invitation_id=invitation.pk, accept=True)
    public = make_room(owner, name="Open")
    with pytest.raises(Forbidden):  # a watcher of a public room is not a member
        actions.do_invite(outsider, room_id=public.pk, invitee=guest)
    assert Invitation.objects.count() == 1
    assert not Membership.objects.filter(room=room, user__in=[guest, outsider]).exists()


def test_private_rooms_are_joined_only_by_invitation(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    owner, stranger = make_user(), make_user()
    room = make_room(owner, visibility="private")
    with pytest.raises(NotFound):
        actions.do_join_room(stranger, room_id=room.pk)
    assert not Membership.objects.filter(room=room, user=stranger).exists()


# --- found by the bad-input and authorisation hunt --------------------------------------------
def test_a_reply_does_not_notify_thread_participants_who_left_a_private_room(
    make_user: Callable[..., Any],
    make_room: Callable[..., Room],
    published: Published,
    django_capture_on_commit_callbacks: Any,
) -> None:
    owner, leaver, removed = make_user(), make_user(), make_user()
    room = make_room(owner, visibility="private", members=(leaver, removed))
    root = say(leaver, room, "the plan", "r")
    say(removed, room, "agreed", "t1", thread=root.pk)
    actions.do_leave_room(leaver, room_id=room.pk)
    actions.do_remove_member(owner, room_id=room.pk, user_id=removed.pk)
    published.clear()

    with django_capture_on_commit_callbacks(execute=True):
        reply = say(owner, room, "the secret details", "t2", thread=root.pk)

    assert notified(reply) == {}
    assert not [e for e in published.events if e.type == "notification.created"]


def test_a_removed_member_cannot_come_back_through_an_old_invitation(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    owner, guest = make_user(), make_user()
    room = make_room(owner, visibility="private")
    invitation = actions.do_invite(owner, room_id=room.pk, invitee=guest)
    actions.do_add_member(owner, room_id=room.pk, user=guest)  # added before answering
    actions.do_remove_member(owner, room_id=room.pk, user_id=guest.pk)

    with pytest.raises(Conflict):
        actions.do_respond_to_invitation(guest, invitation_id=invitation.pk, accept=True)

    assert not Membership.objects.filter(room=room, user=guest).exists()
    assert selectors.pending_invitations(guest) == []
    actions.do_invite(owner, room_id=room.pk, invitee=guest)  # a new invitation still works


def test_a_retried_reply_to_a_reply_returns_the_original(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    author, replier = make_user(), make_user()
    room = make_room(author, members=(replier,))
    root = say(author, room, "question", "r")
    reply = say(replier, room, "answer", "t1", thread=root.pk)
    first = actions.do_send_message(
        author, room_id=room.pk, body="thanks", client_msg_id="t2", thread=reply.pk
    )
    before = last_seq(room)

    retry = actions.do_send_message(
        author, room_id=room.pk, body="thanks", client_msg_id="t2", thread=reply.pk
    )

    assert first.created and first.message.thread_root_id == root.pk
    assert not retry.created and retry.message.pk == first.message.pk
    assert last_seq(room) == before
    with pytest.raises(Conflict):  # another thread is still another message
        actions.do_send_message(
            author, room_id=room.pk, body="thanks", client_msg_id="t2", thread=None
        )


def test_nobody_new_is_added_to_an_archived_room(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    owner, member, newcomer = make_user(), make_user(), make_user()
    room = make_room(owner, members=(member,))
    actions.do_update_room(owner, room_id=room.pk, archived=True)
    before = last_seq(room)

    with pytest.raises(Forbidden):
        actions.do_add_member(owner, room_id=room.pk, user=newcomer)

    assert not Membership.objects.filter(room=room, user=newcomer).exists()
    assert last_seq(room) == before
    assert actions.do_add_member(owner, room_id=room.pk, user=member).user_id == member.pk
