"""The chat REST API: direct conversations, threads, reactions, edits, deletes, pins, receipts,
invitations, roles, room administration, notifications and preferences."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.response import Response
from rest_framework.test import APIClient

from rooms import actions
from rooms.models import (
    Invitation,
    Membership,
    Message,
    MessageRevision,
    Notification,
    Reaction,
    Room,
)

pytestmark = pytest.mark.django_db

MESSAGE_FIELDS = {
    "id",
    "room",
    "seq",
    "author",
    "client_msg_id",
    "body",
    "html",
    "created_at",
    "edited_at",
    "deleted",
    "thread_root",
    "reply_count",
    "last_reply_at",
    "pinned",
    "mentions",
    "reactions",
}


def client_for(user: Any) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {user.api_token}")
    return client


def assert_error(response: Response, status: int, code: str) -> dict[str, Any]:
    """Check the one error shape: ``{"error": {"code", "message"}}``."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


def say(author: Any, room: Room, body: str, key: str, *, thread: int | None = None) -> Message:
    return actions.do_send_message(
        author, room_id=room.pk, body=body, client_msg_id=key, thread=thread
    ).message


def seq_of(room: Room) -> int:
    room.refresh_from_db()
    return room.last_seq


# --- direct conversations ---------------------------------------------------------------------
def test_opening_a_direct_conversation_twice_gives_the_same_one(
    make_user: Callable[..., Any],
) -> None:
    anna, bertil = make_user(), make_user()

    first = client_for(anna).post("/api/direct/", {"user_ids": [bertil.pk]}, format="json")
    second = client_for(bertil).post("/api/direct/", {"user_ids": [anna.pk]}, format="json")

    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    body = first.json()
    assert body["kind"] == "direct"
    assert {p["id"] for p in body["participants"]} == {anna.pk, bertil.pk}
    assert (body["unread"], body["latest_message"]) == (0, None)
    assert Room.objects.filter(kind=Room.Kind.DIRECT).count() == 1


def test_the_direct_list_shows_latest_message_and_unread_and_direct_rooms_stay_off_the_room_list(
    make_user: Callable[..., Any],
) -> None:
    anna, bertil = make_user(), make_user()
    room, _ = actions.do_open_direct(anna, user_ids=[bertil.pk])
    say(anna, room, "first", "d1")
    say(anna, room, "second", "d2")

    rows = client_for(bertil).get("/api/direct/").json()

    assert [r["id"] for r in rows] == [room.pk]
    assert rows[0]["unread"] == 2
    assert rows[0]["latest_message"]["body"] == "second"
    assert room.pk not in [r["id"] for r in client_for(bertil).get("/api/rooms/").json()]
    assert client_for(bertil).get(f"/api/rooms/{room.pk}/").json()["kind"] == "direct"


def test_a_third_person_gets_not_found_for_a_direct_conversation(
    make_user: Callable[..., Any],
) -> None:
    anna, bertil, outsider = make_user(), make_user(), make_user()
    room, _ = actions.do_open_direct(anna, user_ids=[bertil.pk])
    message = say(anna, room, "private", "d1")
    client = client_for(outsider)

    for path in (
        f"/api/rooms/{room.pk}/",
        f"/api/rooms/{room.pk}/messages/",
        f"/api/rooms/{room.pk}/members/",
        f"/api/rooms/{room.pk}/pins/",
        f"/api/rooms/{room.pk}/receipts/",
    ):
        assert_error(client.get(path), 404, "not_found")
    assert_error(
        client.post(
            f"/api/rooms/{room.pk}/messages/", {"body": "hi", "client_msg_id": "x"}, format="json"
        ),
        404,
        "not_found",
    )
    assert_error(
        client.post(f"/api/messages/{message.pk}/reactions/", {"emoji": "👍"}, format="json"),
        404,
        "not_found",
    )
    assert client.get("/api/direct/").json() == []


def test_a_direct_conversation_with_twenty_one_people_is_refused(
    make_user: Callable[..., Any],
) -> None:
    starter = make_user()
    others = [make_user() for _ in range(20)]

    response = client_for(starter).post(
        "/api/direct/", {"user_ids": [p.pk for p in others]}, format="json"
    )

    error = assert_error(response, 400, "invalid")
    assert error["field"] == "user_ids"
    assert "20" in error["message"]
    assert not Room.objects.filter(kind=Room.Kind.DIRECT).exists()
    assert_error(client_for(starter).post("/api/direct/", {}, format="json"), 400, "invalid")


# --- messages: threads, edits, deletes --------------------------------------------------------
def test_history_carries_thread_summaries_and_a_thread_can_be_fetched(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    author, replier = make_user(), make_user()
    room = make_room(author, members=(replier,))
    root = say(author, room, "root", "r")
    client = client_for(replier)

    reply = client.post(
        f"/api/rooms/{room.pk}/messages/",
        {"body": "reply", "client_msg_id": "t1", "thread": root.pk},
        format="json",
    )

    assert reply.status_code == 201, reply.content
    assert reply.json()["thread_root"] == root.pk
    main = client.get(f"/api/rooms/{room.pk}/messages/").json()["messages"]
    assert [m["id"] for m in main] == [root.pk]
    assert set(main[0]) == MESSAGE_FIELDS
    assert main[0]["reply_count"] == 1
    assert main[0]["last_reply_at"] is not None
    thread = client.get(f"/api/rooms/{room.pk}/messages/?thread={root.pk}").json()["messages"]
    assert [m["body"] for m in thread] == ["reply"]
    everything = client.get(f"/api/rooms/{room.pk}/messages/?include_replies=1&after=0").json()
    assert [m["body"] for m in everything["messages"]] == ["root", "reply"]


def test_a_reply_to_a_message_in_another_room_is_invalid(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    author = make_user()
    here, there = make_room(author, name="Here"), make_room(author, name="There")
    elsewhere = say(author, there, "elsewhere", "m1")
    before = seq_of(here)

    response = client_for(author).post(
        f"/api/rooms/{here.pk}/messages/",
        {"body": "reply", "client_msg_id": "t1", "thread": elsewhere.pk},
        format="json",
    )

    assert assert_error(response, 400, "invalid")["field"] == "thread"
    assert seq_of(here) == before
    assert not Message.objects.filter(client_msg_id="t1").exists()


def test_the_author_edits_and_the_answer_is_the_edited_message(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    author = make_user()
    room = make_room(author)
    message = say(author, room, "draft", "m1")

    response = client_for(author).patch(
        f"/api/messages/{message.pk}/", {"body": "final"}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json()["body"] == "final"
    assert response.json()["edited_at"] is not None
    assert MessageRevision.objects.get(message=message).body == "draft"
    history = client_for(author).get(f"/api/rooms/{room.pk}/messages/").json()["messages"]
    assert history[0]["body"] == "final"


def test_editing_someone_elses_message_is_forbidden_and_changes_nothing(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    owner, author = make_user(), make_user()
    room = make_room(owner, members=(author,))
    message = say(author, room, "mine", "m1")
    before = seq_of(room)

    response = client_for(owner).patch(
        f"/api/messages/{message.pk}/", {"body": "hijacked"}, format="json"
    )

    assert_error(response, 403, "forbidden")
    message.refresh_from_db()
    assert (message.body, message.edited_at) == ("mine", None)
    assert not MessageRevision.objects.exists()
    assert seq_of(room) == before
    blank = client_for(author).patch(f"/api/messages/{message.pk}/", {"body": "  "}, format="json")
    assert_error(blank, 400, "invalid")
    assert_error(
        client_for(author).patch("/api/messages/987654/", {"body": "x"}, format="json"),
        404,
        "not_found",
    )


def test_delete_leaves_a_tombstone_in_history(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    author, member = make_user(), make_user()
    room = make_room(author, members=(member,))
    message = say(author, room, "regret", "m1")

    assert_error(client_for(member).delete(f"/api/messages/{message.pk}/"), 403, "forbidden")
    response = client_for(author).delete(f"/api/messages/{message.pk}/")

    assert response.status_code == 204
    history = client_for(member).get(f"/api/rooms/{room.pk}/messages/").json()["messages"]
    tombstone = next(m for m in history if m["id"] == message.pk)
    assert tombstone["deleted"] is True
    assert tombstone["body"] == tombstone["html"] == ""


# --- reactions --------------------------------------------------------------------------------
def test_a_reaction_toggles_and_shows_in_history(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    author, fan = make_user(), make_user()
    room = make_room(author, members=(fan,))
    message = say(author, room, "ship it", "m1")
    path = f"/api/messages/{message.pk}/reactions/"

    assert client_for(fan).post(path, {"emoji": "🎉"}, format="json").json() == {"added": True}
    history = client_for(author).get(f"/api/rooms/{room.pk}/messages/").json()["messages"]
    assert history[0]["reactions"] == [{"emoji": "🎉", "count": 1, "users": [fan.pk]}]
    assert client_for(fan).post(path, {"emoji": "🎉"}, format="json").json() == {"added": False}
    assert not Reaction.objects.exists()


@pytest.mark.parametrize("emoji", ["abc", "<script>", "🎉" * 17, "🎉" * 40])
def test_bad_reactions_are_invalid_and_change_nothing(
    emoji: str, make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    author = make_user()
    room = make_room(author)
    message = say(author, room, "hi", "m1")
    before = seq_of(room)

    response = client_for(author).post(
        f"/api/messages/{message.pk}/reactions/", {"emoji": emoji}, format="json"
    )

    assert_error(response, 400, "invalid")
    assert not Reaction.objects.exists()
    assert seq_of(room) == before


# --- pins -------------------------------------------------------------------------------------
def test_admins_pin_members_cannot_and_the_pins_list_shows_them(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    owner, admin, member = make_user(), make_user(), make_user()
    room = make_room(owner, members=(member,), admins=(admin,))
    message = say(member, room, "important", "m1")
    path = f"/api/messages/{message.pk}/pin/"

    assert_error(client_for(member).post(path, {"pinned": True}, format="json"), 403, "forbidden")
    assert client_for(member).get(f"/api/rooms/{room.pk}/pins/").json() == []

    assert client_for(admin).post(path, {"pinned": True}, format="json").json() == {"pinned": True}
    pins = client_for(member).get(f"/api/rooms/{room.pk}/pins/").json()
    assert [p["id"] for p in pins] == [message.pk]
    assert pins[0]["pinned"] is True
    assert client_for(owner).post(path, {"pinned": False}, format="json").json() == {
        "pinned": False
    }
    assert client_for(member).get(f"/api/rooms/{room.pk}/pins/").json() == []


# --- room administration ----------------------------------------------------------------------
def test_a_member_cannot_rename_set_the_topic_or_archive(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    owner, member = make_user(), make_user()
    room = make_room(owner, name="Lobby", members=(member,))
    before = seq_of(room)

    for change in ({"name": "Mine"}, {"topic": "mine"}, {"archived": True}):
        response = client_for(member).patch(f"/api/rooms/{room.pk}/", change, format="json")
        assert_error(response, 403, "forbidden")

    room.refresh_from_db()
    assert (room.name, room.topic, room.archived_at, room.last_seq) == ("Lobby", "", None, before)


def test_an_admin_renames_and_archives_and_an_archived_room_is_read_only_and_hidden(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    owner, admin, member = make_user(), make_user(), make_user()
    room = make_room(owner, name="Lobby", members=(member,), admins=(admin,))
    client = client_for(admin)

    renamed = client.patch(
        f"/api/rooms/{room.pk}/", {"name": "Ops", "topic": "Night"}, format="json"
    )
    assert renamed.status_code == 200, renamed.content
    assert (renamed.json()["name"], renamed.json()["topic"]) == ("Ops", "Night")
    archived = client.patch(f"/api/rooms/{room.pk}/", {"archived": True}, format="json")
    assert archived.json()["archived"] is True

    assert room.pk not in [r["id"] for r in client_for(member).get("/api/rooms/").json()]
    assert client_for(member).get(f"/api/rooms/{room.pk}/").status_code == 200
    response = client_for(member).post(
        f"/api/rooms/{room.pk}/messages/", {"body": "hi", "client_msg_id": "m1"}, format="json"
    )
    assert_error(response, 403, "forbidden")
    assert client_for(member).get(f"/api/rooms/{room.pk}/messages/").status_code == 200
    assert_error(
        client.patch(f"/api/rooms/{room.pk}/", {"name": " "}, format="json"), 400, "invalid"
    )


def test_only_owners_change_roles_and_the_last_owner_stays(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    owner, admin, member = make_user(), make_user(), make_user()
    room = make_room(owner, members=(member,), admins=(admin,))

    def set_role(actor: Any, user: Any, role: str) -> Response:
        return client_for(actor).post(
            f"/api/rooms/{room.pk}/members/{user.pk}/role/", {"role": role}, format="json"
        )

    assert_error(set_role(admin, member, "admin"), 403, "forbidden")
    assert_error(set_role(member, member, "owner"), 403, "forbidden")
    assert_error(set_role(owner, owner, "member"), 400, "invalid")
    assert_error(set_role(owner, member, "emperor"), 400, "invalid")
    assert_error(client_for(owner).post(f"/api/rooms/{room.pk}/leave/"), 400, "invalid")
    assert Membership.objects.get(room=room, user=member).role == "member"
    assert Membership.objects.get(room=room, user=owner).role == "owner"

    assert set_role(owner, member, "admin").json() == {"role": "admin"}
    assert Membership.objects.get(room=room, user=member).role == "admin"


def test_a_non_admin_cannot_remove_members(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    owner, member, other = make_user(), make_user(), make_user()
    room = make_room(owner, visibility="private", members=(member, other))
    before = seq_of(room)

    response = client_for(member).delete(f"/api/rooms/{room.pk}/members/{other.pk}/")

    assert_error(response, 403, "forbidden")
    assert Membership.objects.filter(room=room, user=other).exists()
    assert seq_of(room) == before


def test_a_removed_member_loses_the_private_rooms_history(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    owner, member = make_user(), make_user()
    room = make_room(owner, visibility="private", members=(member,))
    say(owner, room, "before removal", "m1")

    assert client_for(owner).delete(f"/api/rooms/{room.pk}/members/{member.pk}/").status_code == 204

    for path in (f"/api/rooms/{room.pk}/", f"/api/rooms/{room.pk}/messages/"):
        assert_error(client_for(member).get(path), 404, "not_found")
    assert room.pk not in [r["id"] for r in client_for(member).get("/api/rooms/").json()]


# --- invitations ------------------------------------------------------------------------------
def test_invite_accept_and_the_invitee_becomes_a_member(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    owner, member, guest = make_user(), make_user(), make_user()
    room = make_room(owner, visibility="private", members=(member,))

    invited = client_for(member).post(
        f"/api/rooms/{room.pk}/invitations/", {"user_id": guest.pk}, format="json"
    )

    assert invited.status_code == 201, invited.content
    invitation = invited.json()
    assert (invitation["status"], invitation["room"]["id"]) == ("pending", room.pk)
    assert invitation["inviter"]["id"] == member.pk
    assert_error(client_for(guest).get(f"/api/rooms/{room.pk}/messages/"), 404, "not_found")
    listed = client_for(guest).get("/api/invitations/").json()
    assert [i["id"] for i in listed] == [invitation["id"]]
    assert_error(
        client_for(member).post(f"/api/invitations/{invitation['id']}/accept/"), 404, "not_found"
    )

    accepted = client_for(guest).post(f"/api/invitations/{invitation['id']}/accept/")

    assert accepted.json()["status"] == "accepted"
    assert Membership.objects.get(room=room, user=guest).role == "member"
    assert client_for(guest).get(f"/api/rooms/{room.pk}/messages/").status_code == 200
    assert client_for(guest).get("/api/invitations/").json() == []
    again = client_for(guest).post(f"/api/invitations/{invitation['id']}/decline/")
    assert_error(again, 409, "conflict")


def test_decline_duplicate_and_outsider_invitations(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    owner, guest, outsider = make_user(), make_user(), make_user()
    room = make_room(owner, visibility="private")
    path = f"/api/rooms/{room.pk}/invitations/"

    first = client_for(owner).post(path, {"user_id": guest.pk}, format="json")
    assert_error(
        client_for(owner).post(path, {"user_id": guest.pk}, format="json"), 409, "conflict"
    )
    assert_error(
        client_for(owner).post(path, {"user_id": owner.pk}, format="json"), 409, "conflict"
    )
    assert_error(client_for(owner).post(path, {"user_id": 987654}, format="json"), 404, "not_found")
    assert_error(
        client_for(outsider).post(path, {"user_id": outsider.pk}, format="json"), 404, "not_found"
    )
    declined = client_for(guest).post(f"/api/invitations/{first.json()['id']}/decline/")

    assert declined.json()["status"] == "declined"
    assert not Membership.objects.filter(room=room, user=guest).exists()
    assert Invitation.objects.count() == 1


# --- notifications, receipts, preferences, people ---------------------------------------------
def test_mentions_are_listed_and_read_over_rest(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    author, reader = make_user("anna"), make_user("bertil")
    room = make_room(author, members=(reader,))
    say(author, room, "@bertil one", "m1")
    say(author, room, "@bertil two", "m2")
    client = client_for(reader)

    listed = client.get("/api/notifications/").json()
    assert [n["message"]["body"] for n in listed] == ["@bertil two", "@bertil one"]
    assert {n["kind"] for n in listed} == {"mention"}
    assert client_for(author).get("/api/notifications/").json() == []

    first_id = listed[1]["id"]
    assert client.post("/api/notifications/read/", {"ids": [first_id]}, format="json").json() == {
        "ids": [first_id]
    }
    unread = client.get("/api/notifications/?unread=1").json()
    assert [n["id"] for n in unread] == [listed[0]["id"]]
    assert client.post("/api/notifications/read/", {}, format="json").json() == {
        "ids": [listed[0]["id"]]
    }
    assert client.get("/api/notifications/?unread=true").json() == []
    assert not Notification.objects.filter(read_at__isnull=True).exists()
    too_many = client.post("/api/notifications/read/", {"ids": list(range(1, 502))}, format="json")
    assert_error(too_many, 400, "invalid")


def test_receipts_show_read_positions_unless_a_person_opts_out(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    owner, sharer, shy = make_user(), make_user(), make_user()
    room = make_room(owner, members=(sharer, shy))
    message = say(owner, room, "seen?", "m1")
    client_for(sharer).post(f"/api/rooms/{room.pk}/read/", {"seq": message.seq}, format="json")

    assert client_for(shy).get("/api/me/preferences/").json() == {"share_read_receipts": True}
    turned_off = client_for(shy).put(
        "/api/me/preferences/", {"share_read_receipts": False}, format="json"
    )
    assert turned_off.json() == {"share_read_receipts": False}
    client_for(shy).post(f"/api/rooms/{room.pk}/read/", {"seq": message.seq}, format="json")

    receipts = client_for(owner).get(f"/api/rooms/{room.pk}/receipts/").json()
    positions = {r["user"]["id"]: r["seq"] for r in receipts}
    assert positions[sharer.pk] == message.seq
    assert shy.pk not in positions
    assert client_for(shy).get("/api/me/preferences/").json() == {"share_read_receipts": False}


def test_people_search_finds_colleagues_by_the_start_of_their_name(
    make_user: Callable[..., Any],
) -> None:
    me = make_user("me")
    make_user("sven", first_name="Sven")
    make_user("svea")
    make_user("olle", is_active=False)
    found = client_for(me).get("/api/people/?q=sv").json()
    assert [p["username"] for p in found] == ["svea", "sven"]
    assert "olle" not in [p["username"] for p in client_for(me).get("/api/people/").json()]


def test_the_openapi_schema_describes_every_new_endpoint(make_user: Callable[..., Any]) -> None:
    schema = APIClient().get("/api/schema/?format=json").json()
    for path in (
        "/api/direct/",
        "/api/messages/{message_id}/",
        "/api/messages/{message_id}/reactions/",
        "/api/messages/{message_id}/pin/",
        "/api/rooms/{room_id}/pins/",
        "/api/rooms/{room_id}/receipts/",
        "/api/rooms/{room_id}/invitations/",
        "/api/rooms/{room_id}/members/{user_id}/role/",
        "/api/invitations/",
        "/api/invitations/{invitation_id}/accept/",
        "/api/invitations/{invitation_id}/decline/",
        "/api/notifications/",
        "/api/notifications/read/",
        "/api/people/",
        "/api/me/preferences/",
    ):
        assert path in schema["paths"], path


# --- found by the bad-input and authorisation hunt --------------------------------------------
def test_ids_past_64_bits_in_lists_are_a_clear_answer_not_a_crash(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    author, reader = make_user("anna"), make_user("bertil")
    room = make_room(author, members=(reader,))
    say(author, room, "@bertil hello", "m1")
    client = client_for(reader)
    huge = 2**70

    direct = client.post("/api/direct/", {"user_ids": [author.pk, huge]}, format="json")
    error = assert_error(direct, 400, "invalid")
    assert error["field"] == "user_ids"
    assert not Room.objects.filter(kind=Room.Kind.DIRECT).exists()
    read = client.post("/api/notifications/read/", {"ids": [huge]}, format="json")
    assert read.status_code == 200, read.content
    assert read.json() == {"ids": []}  # ids that are not yours are skipped
    assert Notification.objects.filter(read_at__isnull=True).count() == 1


def test_a_direct_conversation_with_only_yourself_is_refused(
    make_user: Callable[..., Any],
) -> None:
    me = make_user()
    client = client_for(me)

    for user_ids in ([me.pk], [me.pk, me.pk]):
        error = assert_error(
            client.post("/api/direct/", {"user_ids": user_ids}, format="json"), 400, "invalid"
        )
        assert error["field"] == "user_ids"

    assert not Room.objects.filter(kind=Room.Kind.DIRECT).exists()


def test_a_people_search_with_a_nul_character_is_invalid(make_user: Callable[..., Any]) -> None:
    # PostgreSQL text cannot hold NUL: searching for it failed in the database driver.
    me = make_user()
    for query in ("%00", "sv%00en"):
        error = assert_error(client_for(me).get(f"/api/people/?q={query}"), 400, "invalid")
        assert "q" in error["fields"]
