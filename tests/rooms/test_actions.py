"""The rooms actions: authorisation, validation, the ordered log, what each publishes on commit."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from chatserver.api import user_summary
from chatserver.errors import Conflict, Forbidden, InvalidInput, NotFound
from chatserver.rendering import RENDER_VERSION
from rooms import actions
from rooms.models import Membership, Message, Room, RoomEvent

from .conftest import Published, assert_envelope

pytestmark = pytest.mark.django_db


def log_of(room: Room) -> list[tuple[int, str]]:
    return list(RoomEvent.objects.filter(room=room).order_by("seq").values_list("seq", "type"))


def stored_frame(room: Room, seq: int) -> str:
    return RoomEvent.objects.get(room=room, seq=seq).frame


# --- creating rooms ---------------------------------------------------------------------------
def test_create_room_makes_the_creator_owner_and_logs_their_join(
    make_user: Callable[..., Any], published: Published, django_capture_on_commit_callbacks: Any
) -> None:
    owner = make_user()
    with django_capture_on_commit_callbacks(execute=True):
        room = actions.do_create_room(owner, name="  Ops  ", topic=" night shift ")

    room.refresh_from_db()
    assert (room.name, room.topic, room.visibility) == ("Ops", "night shift", "public")
    assert Membership.objects.get(room=room).role == Membership.Role.OWNER
    assert log_of(room) == [(1, "member.joined")]
    assert room.last_seq == 1

    assert published.types == ["member.joined", "room.created"]
    joined, created = published.events
    frame = assert_envelope(
        joined, topic=f"room.{room.pk}", type="member.joined", room=room.pk, seq=1
    )
    assert frame["data"] == {"user": user_summary(owner), "role": "owner"}
    assert joined.frame == stored_frame(room, 1)  # replay sends exactly what live clients got
    frame = assert_envelope(created, topic="everyone", type="room.created")
    assert frame["data"]["room"]["id"] == room.pk
    assert published.controls == [
        (owner.pk, {"type": "control.subscribe", "topic": f"room.{room.pk}", "after_seq": 0})
    ]


def test_create_private_room_is_announced_only_to_its_creator(
    make_user: Callable[..., Any], published: Published, django_capture_on_commit_callbacks: Any
) -> None:
    owner = make_user()
    with django_capture_on_commit_callbacks(execute=True):
        room = actions.do_create_room(owner, name="Board", visibility="private")

    assert published.types == ["member.joined", "room.created"]
    assert_envelope(published.events[1], topic=f"user.{owner.pk}", type="room.created")
    assert room.visibility == Room.Visibility.PRIVATE


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "\u200b\u200c"}, "name"),  # zero-width only: shows as a nameless room
        ({"name": "x" * 81}, "name"),
        ({"name": "ok", "topic": "t" * 251}, "topic"),
        ({"name": "ok", "visibility": "secret"}, "visibility"),
    ],
)
def test_create_room_refuses_invalid_fields(
    make_user: Callable[..., Any],
    published: Published,
    django_capture_on_commit_callbacks: Any,
    fields: dict[str, str],
    field: str,
) -> None:
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(InvalidInput) as error:
        actions.do_create_room(make_user(), **fields)
    assert error.value.code == "invalid"
    assert error.value.extra["field"] == field
    assert not Room.objects.exists()
    assert published.events == []


# --- joining and membership -------------------------------------------------------------------
def test_join_public_room_logs_the_join_and_starts_the_persons_streams(
    make_user: Callable[..., Any],
    make_room: Callable[..., Room],
    published: Published,
    django_capture_on_commit_callbacks: Any,
) -> None:
    room, person = make_room(), make_user()
    with django_capture_on_commit_callbacks(execute=True):
        membership = actions.do_join_room(person, room_id=room.pk)

    assert membership.role == Membership.Role.MEMBER
    assert log_of(room) == [(1, "member.joined"), (2, "member.joined")]
    assert published.types == ["member.joined"]
    frame = assert_envelope(
        published.events[0], topic=f"room.{room.pk}", type="member.joined", room=room.pk, seq=2
    )
    assert frame["data"] == {"user": user_summary(person), "role": "member"}
    assert published.controls == [
        (person.pk, {"type": "control.subscribe", "topic": f"room.{room.pk}", "after_seq": 1})
    ]


def test_joining_twice_returns_the_membership_without_a_second_event(
    make_user: Callable[..., Any],
    make_room: Callable[..., Room],
    published: Published,
    django_capture_on_commit_callbacks: Any,
) -> None:
    room, person = make_room(), make_user()
    first = actions.do_join_room(person, room_id=room.pk)
    with django_capture_on_commit_callbacks(execute=True):
        again = actions.do_join_room(person, room_id=room.pk)
    assert again.pk == first.pk
    assert published.events == [] and published.controls == []


def test_private_room_cannot_be_joined_or_even_seen(
    make_user: Callable[..., Any],
    make_room: Callable[..., Room],
    published: Published,
    django_capture_on_commit_callbacks: Any,
) -> None:
    room, outsider = make_room(visibility="private"), make_user()
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(NotFound):
        actions.do_join_room(outsider, room_id=room.pk)
    assert not Membership.objects.filter(user=outsider).exists()
    assert published.events == []


def test_archived_room_cannot_be_joined(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    room = make_room()
    Room.objects.filter(pk=room.pk).update(archived_at=timezone.now())
    with pytest.raises(Forbidden):
        actions.do_join_room(make_user(), room_id=room.pk)


def test_joining_a_missing_room_is_not_found(make_user: Callable[..., Any]) -> None:
    with pytest.raises(NotFound):
        actions.do_join_room(make_user(), room_id=987654)


@pytest.mark.parametrize("adder_role", ["owner", "admin"])
def test_owners_and_admins_add_members(
    make_user: Callable[..., Any],
    make_room: Callable[..., Room],
    published: Published,
    django_capture_on_commit_callbacks: Any,
    adder_role: str,
) -> None:
    owner, admin, newcomer = make_user(), make_user(), make_user()
    room = make_room(owner, visibility="private", admins=(admin,))
    adder = owner if adder_role == "owner" else admin
    with django_capture_on_commit_callbacks(execute=True):
        membership = actions.do_add_member(adder, room_id=room.pk, user=newcomer)

    assert membership.role == Membership.Role.MEMBER
    assert published.types == ["member.joined"]
    assert_envelope(
        published.events[0],
        topic=f"room.{room.pk}",
        type="member.joined",
        room=room.pk,
        seq=room.last_seq + 1,
    )
    assert [user_id for user_id, _message in published.controls] == [newcomer.pk]


def test_plain_members_cannot_add_members(
    make_user: Callable[..., Any],
    make_room: Callable[..., Room],
    published: Published,
    django_capture_on_commit_callbacks: Any,
) -> None:
    member, newcomer = make_user(), make_user()
    room = make_room(visibility="private", members=(member,))
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(Forbidden):
        actions.do_add_member(member, room_id=room.pk, user=newcomer)
    with pytest.raises(NotFound):  # a stranger to a private room cannot even find it
        actions.do_add_member(make_user(), room_id=room.pk, user=newcomer)
    assert not Membership.objects.filter(user=newcomer).exists()
    assert published.events == []


def test_adding_an_existing_member_changes_nothing(
    make_user: Callable[..., Any],
    make_room: Callable[..., Room],
    published: Published,
    django_capture_on_commit_callbacks: Any,
) -> None:
    owner, member = make_user(), make_user()
    room = make_room(owner, members=(member,))
    with django_capture_on_commit_callbacks(execute=True):
        membership = actions.do_add_member(owner, room_id=room.pk, user=member)
    assert membership.user_id == member.pk
    assert published.events == []


def test_inactive_people_cannot_be_added(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    owner = make_user()
    room = make_room(owner)
    with pytest.raises(InvalidInput):
        actions.do_add_member(owner, room_id=room.pk, user=make_user(is_active=False))


@pytest.mark.parametrize("remover_role", ["owner", "admin"])
def test_removal_logs_the_event_and_revokes_the_persons_stream(
    make_user: Callable[..., Any],
    make_room: Callable[..., Room],
    published: Published,
    django_capture_on_commit_callbacks: Any,
    remover_role: str,
) -> None:
    owner, admin, member = make_user(), make_user(), make_user()
    room = make_room(owner, visibility="private", members=(member,), admins=(admin,))
    remover = owner if remover_role == "owner" else admin
    with django_capture_on_commit_callbacks(execute=True):
        actions.do_remove_member(remover, room_id=room.pk, user_id=member.pk)

    assert not Membership.objects.filter(room=room, user=member).exists()
    assert published.types == ["member.removed"]
    removed = published.events[0]
    frame = assert_envelope(
        removed, topic=f"room.{room.pk}", type="member.removed", room=room.pk, seq=room.last_seq + 1
    )
    assert frame["data"] == {"user": user_summary(member), "by": user_summary(remover)}
    assert removed.revoke_user_ids == (member.pk,)
    assert removed.frame == stored_frame(room, room.last_seq + 1)
    assert published.controls == [
        (member.pk, {"type": "control.unsubscribe", "topic": f"room.{room.pk}"})
    ]


def test_an_admin_cannot_remove_the_owner(
    make_user: Callable[..., Any],
    make_room: Callable[..., Room],
    published: Published,
    django_capture_on_commit_callbacks: Any,
) -> None:
    owner, admin = make_user(), make_user()
    room = make_room(owner, admins=(admin,))
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(Forbidden):
        actions.do_remove_member(admin, room_id=room.pk, user_id=owner.pk)
    assert Membership.objects.filter(room=room, user=owner, role="owner").exists()
    assert published.events == []


def test_plain_members_cannot_remove_anyone(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    member, other = make_user(), make_user()
    room = make_room(members=(member, other))
    with pytest.raises(Forbidden):
        actions.do_remove_member(member, room_id=room.pk, user_id=other.pk)
    assert Membership.objects.filter(room=room, user=other).exists()


def test_removing_someone_who_is_not_a_member_is_not_found(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    owner = make_user()
    room = make_room(owner)
    with pytest.raises(NotFound):
        actions.do_remove_member(owner, room_id=room.pk, user_id=make_user().pk)


def test_leaving_logs_the_event_and_revokes_the_stream(
    make_user: Callable[..., Any],
    make_room: Callable[..., Room],
    published: Published,
    django_capture_on_commit_callbacks: Any,
) -> None:
    member = make_user()
    room = make_room(members=(member,))
    with django_capture_on_commit_callbacks(execute=True):
        actions.do_leave_room(member, room_id=room.pk)

    assert not Membership.objects.filter(room=room, user=member).exists()
    assert published.types == ["member.left"]
    left = published.events[0]
    frame = assert_envelope(
        left, topic=f"room.{room.pk}", type="member.left", room=room.pk, seq=room.last_seq + 1
    )
    assert frame["data"] == {"user": user_summary(member)}
    assert left.revoke_user_ids == (member.pk,)
    assert published.controls == [
        (member.pk, {"type": "control.unsubscribe", "topic": f"room.{room.pk}"})
    ]


def test_leaving_a_room_one_is_not_in_is_refused(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    public, private = make_room(), make_room(visibility="private")
    with pytest.raises(InvalidInput):
        actions.do_leave_room(make_user(), room_id=public.pk)
    with pytest.raises(NotFound):
        actions.do_leave_room(make_user(), room_id=private.pk)


# --- messages ---------------------------------------------------------------------------------
def test_sent_messages_get_strictly_increasing_seqs_and_one_log_row_each(
    make_user: Callable[..., Any],
    make_room: Callable[..., Room],
    published: Published,
    django_capture_on_commit_callbacks: Any,
) -> None:
    author, member = make_user(), make_user()
    room = make_room(author, members=(member,))
    start = room.last_seq
    with django_capture_on_commit_callbacks(execute=True):
        results = [
            actions.do_send_message(
                person, room_id=room.pk, body=f"hello {n}", client_msg_id=f"m-{n}"
            )
            for n, person in enumerate([author, member, author])
        ]

    seqs = [result.message.seq for result in results]
    assert seqs == [start + 1, start + 2, start + 3]
    assert all(result.created for result in results)
    room.refresh_from_db()
    assert room.last_seq == start + 3
    assert log_of(room)[-3:] == [(seq, "message.created") for seq in seqs]
    assert published.types == ["message.created"] * 3
    for result, event in zip(results, published.events, strict=True):
        message = result.message
        frame = assert_envelope(
            event, topic=f"room.{room.pk}", type="message.created", room=room.pk, seq=message.seq
        )
        assert frame["data"]["message"]["id"] == message.pk
        assert frame["data"]["message"]["body"] == message.body
        assert event.frame == stored_frame(room, message.seq)
        assert event.revoke_user_ids == ()
    assert published.controls == []


def test_message_html_is_rendered_once_and_sanitised(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    author = make_user()
    room = make_room(author)
    body = '**bold** <script>alert(1)</script> [x](javascript:alert(1)) <img src=x onerror="y">'
    message = actions.do_send_message(
        author, room_id=room.pk, body=body, client_msg_id="c1"
    ).message

    message.refresh_from_db()
    assert message.body == body  # the source is kept as written
    assert "<strong>bold</strong>" in message.body_html
    assert "<script" not in message.body_html
    assert "<img" not in message.body_html
    assert "javascript:" not in message.body_html
    assert message.render_version == RENDER_VERSION
    event = json.loads(stored_frame(room, message.seq))
    assert event["data"]["message"]["html"] == message.body_html


def test_a_retried_send_returns_the_original_message_and_publishes_nothing(
    make_user: Callable[..., Any],
    make_room: Callable[..., Room],
    published: Published,
    django_capture_on_commit_callbacks: Any,
) -> None:
    author = make_user()
    room = make_room(author)
    with django_capture_on_commit_callbacks(execute=True):
        first = actions.do_send_message(author, room_id=room.pk, body="hi", client_msg_id="k-1")
        retry = actions.do_send_message(author, room_id=room.pk, body="hi", client_msg_id="k-1")

    assert first.created and not retry.created
    assert retry.message.pk == first.message.pk
    assert Message.objects.filter(room=room).count() == 1
    assert published.types == ["message.created"]


def test_the_same_key_for_another_person_is_a_different_message(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    alice, bob = make_user(), make_user()
    room = make_room(alice, members=(bob,))
    a = actions.do_send_message(alice, room_id=room.pk, body="hi", client_msg_id="same")
    b = actions.do_send_message(bob, room_id=room.pk, body="hi", client_msg_id="same")
    assert a.created and b.created and a.message.pk != b.message.pk


def test_a_reused_key_with_another_body_or_room_conflicts(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    author = make_user()
    room, other_room = make_room(author), make_room(author, name="Other")
    actions.do_send_message(author, room_id=room.pk, body="hi", client_msg_id="k-1")

    with pytest.raises(Conflict) as error:
        actions.do_send_message(author, room_id=room.pk, body="changed", client_msg_id="k-1")
    assert error.value.code == "conflict"
    with pytest.raises(Conflict):
        actions.do_send_message(author, room_id=other_room.pk, body="hi", client_msg_id="k-1")
    assert Message.objects.count() == 1


@pytest.mark.parametrize(
    "body", ["", "   \n\t ", "\u200b\u200d\ufeff", "\u3164 \u2800", "x" * 10_001]
)
def test_empty_and_over_long_bodies_are_refused(
    make_user: Callable[..., Any], make_room: Callable[..., Room], body: str
) -> None:
    author = make_user()
    room = make_room(author)
    with pytest.raises(InvalidInput) as error:
        actions.do_send_message(author, room_id=room.pk, body=body, client_msg_id="c1")
    assert error.value.extra["field"] == "body"
    assert not Message.objects.exists()


def test_the_length_limit_is_a_setting(
    make_user: Callable[..., Any], make_room: Callable[..., Room], settings: Any
) -> None:
    settings.COMMUNIS = {**settings.COMMUNIS, "MAX_MESSAGE_LENGTH": 5}
    author = make_user()
    room = make_room(author)
    actions.do_send_message(author, room_id=room.pk, body="12345", client_msg_id="ok")
    with pytest.raises(InvalidInput):
        actions.do_send_message(author, room_id=room.pk, body="123456", client_msg_id="long")


@pytest.mark.parametrize("client_msg_id", ["", "has space", "x" * 65, "åäö", "a/b", "a\nb"])
def test_bad_client_msg_ids_are_refused(
    make_user: Callable[..., Any], make_room: Callable[..., Room], client_msg_id: str
) -> None:
    author = make_user()
    room = make_room(author)
    with pytest.raises(InvalidInput) as error:
        actions.do_send_message(author, room_id=room.pk, body="hi", client_msg_id=client_msg_id)
    assert error.value.extra["field"] == "client_msg_id"


def test_nobody_posts_in_an_archived_room(
    make_user: Callable[..., Any],
    make_room: Callable[..., Room],
    published: Published,
    django_capture_on_commit_callbacks: Any,
) -> None:
    author = make_user()
    room = make_room(author)
    Room.objects.filter(pk=room.pk).update(archived_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(Forbidden):
        actions.do_send_message(author, room_id=room.pk, body="hi", client_msg_id="c1")
    assert published.events == []


def test_non_members_cannot_post(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    public, private = make_room(), make_room(visibility="private")
    outsider = make_user()
    with pytest.raises(Forbidden):
        actions.do_send_message(outsider, room_id=public.pk, body="hi", client_msg_id="c1")
    with pytest.raises(NotFound):
        actions.do_send_message(outsider, room_id=private.pk, body="hi", client_msg_id="c2")
    with pytest.raises(NotFound):
        actions.do_send_message(outsider, room_id=987654, body="hi", client_msg_id="c3")
    assert not Message.objects.exists()


# --- read positions ---------------------------------------------------------------------------
def test_read_position_moves_forward_only_and_tells_the_persons_other_tabs(
    make_user: Callable[..., Any],
    make_room: Callable[..., Room],
    published: Published,
    django_capture_on_commit_callbacks: Any,
) -> None:
    reader, author = make_user(), make_user()
    room = make_room(author, members=(reader,))
    for n in range(3):
        actions.do_send_message(author, room_id=room.pk, body=f"m{n}", client_msg_id=f"m{n}")
    room.refresh_from_db()
    latest = room.last_seq

    with django_capture_on_commit_callbacks(execute=True):
        assert actions.do_mark_read(reader, room_id=room.pk, seq=latest - 1) == latest - 1
        assert actions.do_mark_read(reader, room_id=room.pk, seq=1) == latest - 1
        assert actions.do_mark_read(reader, room_id=room.pk, seq=latest + 50) == latest

    assert Membership.objects.get(room=room, user=reader).last_read_seq == latest
    # Each forward move tells the reader's tabs (room.read) and, in a room this small, the
    # other members ("seen by"); the backwards call publishes nothing.  The reader had no
    # notifications in the room, so no notification.read follows.
    assert published.types == ["room.read", "receipt.updated"] * 2
    for index, seq in ((0, latest - 1), (2, latest)):
        tabs = assert_envelope(published.events[index], topic=f"user.{reader.pk}", type="room.read")
        assert tabs["data"] == {"room": room.pk, "seq": seq}
        receipt = assert_envelope(
            published.events[index + 1],
            topic=f"room.{room.pk}",
            type="receipt.updated",
            room=room.pk,
        )
        assert receipt["data"]["seq"] == seq
        assert receipt["data"]["room"] == room.pk
        assert receipt["data"]["user"]["id"] == reader.pk


def test_only_members_have_a_read_position(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    public, private = make_room(), make_room(visibility="private")
    with pytest.raises(InvalidInput):
        actions.do_mark_read(make_user(), room_id=public.pk, seq=1)
    with pytest.raises(NotFound):
        actions.do_mark_read(make_user(), room_id=private.pk, seq=1)


# --- commit and rollback ----------------------------------------------------------------------
def test_a_rolled_back_transaction_publishes_nothing(
    make_user: Callable[..., Any],
    make_room: Callable[..., Room],
    published: Published,
    django_capture_on_commit_callbacks: Any,
) -> None:
    owner, newcomer = make_user(), make_user()
    room = make_room(owner)
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        actions.do_send_message(owner, room_id=room.pk, body="hi", client_msg_id="c1")
        actions.do_add_member(owner, room_id=room.pk, user=newcomer)
        actions.do_create_room(owner, name="Doomed")
        raise RuntimeError("something later in the same transaction failed")
    assert callbacks == []
    assert published.events == [] and published.controls == []
    assert not Message.objects.exists()
    assert not Room.objects.filter(name="Doomed").exists()


@pytest.mark.django_db(transaction=True)
def test_events_are_published_at_the_real_commit_and_never_on_rollback(
    make_user: Callable[..., Any], make_room: Callable[..., Room], published: Published
) -> None:
    author = make_user()
    room = make_room(author)
    published.clear()

    with pytest.raises(RuntimeError), transaction.atomic():
        actions.do_send_message(author, room_id=room.pk, body="lost", client_msg_id="c1")
        assert published.events == []  # nothing before the commit
        raise RuntimeError
    assert published.events == []

    with transaction.atomic():
        result = actions.do_send_message(author, room_id=room.pk, body="kept", client_msg_id="c2")
        assert published.events == []
    assert published.types == ["message.created"]
    assert published.events[0].seq == result.message.seq


def test_a_retry_is_answered_with_the_original_even_after_the_room_was_archived(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    author = make_user()
    room = make_room(author)
    first = actions.do_send_message(author, room_id=room.pk, body="hi", client_msg_id="k-1")
    Room.objects.filter(pk=room.pk).update(archived_at=timezone.now())

    retry = actions.do_send_message(author, room_id=room.pk, body="hi", client_msg_id="k-1")
    assert not retry.created and retry.message.pk == first.message.pk
    with pytest.raises(Forbidden):
        actions.do_send_message(author, room_id=room.pk, body="hi", client_msg_id="k-2")
    assert Message.objects.filter(room=room).count() == 1
