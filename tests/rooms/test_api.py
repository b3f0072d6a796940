"""The rooms REST API: every endpoint, its error shape, and who may see what."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.response import Response
from rest_framework.test import APIClient

from rooms import actions
from rooms.models import Membership, Message, Room

pytestmark = pytest.mark.django_db

ROOM_FIELDS = {
    "id",
    "kind",
    "name",
    "topic",
    "visibility",
    "archived",
    "last_seq",
    "is_member",
    "member_count",
    "unread",
}


def client_for(user: Any) -> APIClient:
    """An API client authenticated the way bots are: ``Authorization: Token <key>``."""
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


def send(user: Any, room: Room, body: str, key: str) -> Message:
    return actions.do_send_message(user, room_id=room.pk, body=body, client_msg_id=key).message


# --- room list, create, detail ----------------------------------------------------------------
def test_room_list_shows_visible_rooms_with_membership_and_unread_counts(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    alice, bob, carol = make_user(), make_user(), make_user()
    alpha = make_room(alice, name="Alpha", members=(bob,))
    make_room(alice, name="Bravo", visibility="private")
    make_room(carol, name="Charlie", visibility="private")
    send(alice, alpha, "one", "m1")
    send(alice, alpha, "two", "m2")
    send(bob, alpha, "mine", "m3")  # one's own messages are never unread

    rows = client_for(bob).get("/api/rooms/").json()
    assert [row["name"] for row in rows] == ["Alpha"]
    assert set(rows[0]) == ROOM_FIELDS
    assert rows[0]["is_member"] is True
    assert rows[0]["unread"] == 2
    assert rows[0]["member_count"] == 2
    assert rows[0]["last_seq"] == 5

    assert [r["name"] for r in client_for(alice).get("/api/rooms/").json()] == ["Alpha", "Bravo"]
    carol_rows = {r["name"]: r for r in client_for(carol).get("/api/rooms/").json()}
    assert set(carol_rows) == {"Alpha", "Charlie"}
    assert carol_rows["Alpha"]["is_member"] is False
    assert carol_rows["Alpha"]["unread"] == 0

    client_for(bob).post(f"/api/rooms/{alpha.pk}/read/", {"seq": 5}, format="json")
    assert client_for(bob).get("/api/rooms/").json()[0]["unread"] == 0


def test_member_counts_include_everyone_in_private_rooms_too(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    owner, first, second = make_user(), make_user(), make_user()
    room = make_room(owner, name="Board", visibility="private", members=(first, second))
    for person in (owner, first):
        client = client_for(person)
        assert [r["member_count"] for r in client.get("/api/rooms/").json()] == [3]
        assert client.get(f"/api/rooms/{room.pk}/").json()["member_count"] == 3


def test_archived_rooms_leave_the_list_but_stay_readable(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    from django.utils import timezone

    owner = make_user()
    room = make_room(owner)
    Room.objects.filter(pk=room.pk).update(archived_at=timezone.now())
    client = client_for(owner)
    assert client.get("/api/rooms/").json() == []
    assert client.get(f"/api/rooms/{room.pk}/").json()["archived"] is True


def test_create_room_answers_201_with_the_new_room(make_user: Callable[..., Any]) -> None:
    owner = make_user()
    response = client_for(owner).post(
        "/api/rooms/",
        {"name": "Ops", "topic": "Night shift", "visibility": "private"},
        format="json",
    )
    assert response.status_code == 201
    row = response.json()
    assert set(row) == ROOM_FIELDS
    assert row["name"] == "Ops" and row["visibility"] == "private"
    assert row["is_member"] is True and row["member_count"] == 1 and row["last_seq"] == 1
    assert Membership.objects.get(room_id=row["id"]).role == "owner"


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 81},
        {"name": "Ops", "topic": "t" * 251},
        {"name": "Ops", "visibility": "secret"},
        {"name": ["not", "a", "string"]},
    ],
)
def test_create_room_validation_errors_share_the_error_shape(
    make_user: Callable[..., Any], payload: dict[str, Any]
) -> None:
    response = client_for(make_user()).post("/api/rooms/", payload, format="json")
    assert_error(response, 400, "invalid")
    assert not Room.objects.exists()


def test_malformed_json_is_a_400_in_the_error_shape(make_user: Callable[..., Any]) -> None:
    response = client_for(make_user()).post("/api/rooms/", "{nope", content_type="application/json")
    assert_error(response, 400, "invalid_json")


def test_room_detail(make_user: Callable[..., Any], make_room: Callable[..., Room]) -> None:
    owner, member = make_user(), make_user()
    room = make_room(owner, name="Ops", members=(member,))
    send(owner, room, "hi", "m1")
    row = client_for(member).get(f"/api/rooms/{room.pk}/").json()
    assert set(row) == ROOM_FIELDS
    assert (row["id"], row["name"], row["is_member"], row["unread"]) == (room.pk, "Ops", True, 1)
    assert_error(client_for(member).get("/api/rooms/987654/"), 404, "not_found")


# --- join, leave ------------------------------------------------------------------------------
def test_join_and_leave(make_user: Callable[..., Any], make_room: Callable[..., Room]) -> None:
    room, person = make_room(), make_user()
    client = client_for(person)

    response = client.post(f"/api/rooms/{room.pk}/join/")
    assert response.status_code == 200
    assert response.json()["role"] == "member"
    assert response.json()["user"]["id"] == person.pk
    assert client.post(f"/api/rooms/{room.pk}/join/").status_code == 200  # idempotent

    assert client.post(f"/api/rooms/{room.pk}/leave/").status_code == 204
    assert not Membership.objects.filter(room=room, user=person).exists()
    assert_error(client.post(f"/api/rooms/{room.pk}/leave/"), 400, "invalid")


def test_archived_rooms_cannot_be_joined(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    from django.utils import timezone

    room = make_room()
    Room.objects.filter(pk=room.pk).update(archived_at=timezone.now())
    assert_error(client_for(make_user()).post(f"/api/rooms/{room.pk}/join/"), 403, "forbidden")


# --- members ----------------------------------------------------------------------------------
def test_members_are_listed_with_their_roles(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    owner, member = make_user("owner1"), make_user("member1")
    room = make_room(owner, members=(member,))
    rows = client_for(member).get(f"/api/rooms/{room.pk}/members/").json()
    assert [(row["user"]["username"], row["role"]) for row in rows] == [
        ("member1", "member"),
        ("owner1", "owner"),
    ]
    assert set(rows[0]["user"]) == {"id", "username", "display_name"}


@pytest.mark.parametrize("adder_role", ["owner", "admin"])
def test_owners_and_admins_add_and_remove_members(
    make_user: Callable[..., Any], make_room: Callable[..., Room], adder_role: str
) -> None:
    owner, admin, newcomer = make_user(), make_user(), make_user()
    room = make_room(owner, visibility="private", admins=(admin,))
    client = client_for(owner if adder_role == "owner" else admin)

    response = client.post(f"/api/rooms/{room.pk}/members/", {"user_id": newcomer.pk})
    assert response.status_code == 201
    assert response.json() == {
        "user": {
            "id": newcomer.pk,
            "username": newcomer.username,
            "display_name": newcomer.username,
        },
        "role": "member",
    }
    assert client.delete(f"/api/rooms/{room.pk}/members/{newcomer.pk}/").status_code == 204
    assert not Membership.objects.filter(room=room, user=newcomer).exists()


def test_plain_members_get_403_on_member_management(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    owner, member, newcomer = make_user(), make_user(), make_user()
    room = make_room(owner, members=(member,))
    client = client_for(member)
    assert_error(
        client.post(f"/api/rooms/{room.pk}/members/", {"user_id": newcomer.pk}), 403, "forbidden"
    )
    assert_error(client.delete(f"/api/rooms/{room.pk}/members/{owner.pk}/"), 403, "forbidden")
    assert Membership.objects.filter(room=room).count() == 2


def test_an_admin_cannot_remove_the_owner_over_rest(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    owner, admin = make_user(), make_user()
    room = make_room(owner, admins=(admin,))
    response = client_for(admin).delete(f"/api/rooms/{room.pk}/members/{owner.pk}/")
    assert_error(response, 403, "forbidden")


def test_member_management_input_errors(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    owner = make_user()
    room = make_room(owner)
    client = client_for(owner)
    assert_error(client.post(f"/api/rooms/{room.pk}/members/", {"user_id": "x"}), 400, "invalid")
    assert_error(client.post(f"/api/rooms/{room.pk}/members/", {}), 400, "invalid")
    assert_error(
        client.post(f"/api/rooms/{room.pk}/members/", {"user_id": 987654}), 404, "not_found"
    )
    assert_error(client.delete(f"/api/rooms/{room.pk}/members/987654/"), 404, "not_found")
    # Ids past 64 bits come straight from the URL; they find nothing rather than crash.
    huge = 10**30
    assert_error(client.delete(f"/api/rooms/{room.pk}/members/{huge}/"), 404, "not_found")
    assert_error(client.post(f"/api/rooms/{room.pk}/members/", {"user_id": huge}), 404, "not_found")
    assert_error(client.get(f"/api/rooms/{huge}/messages/"), 404, "not_found")


# --- messages ---------------------------------------------------------------------------------
@pytest.fixture
def history(make_user: Callable[..., Any], make_room: Callable[..., Room]) -> tuple[Any, Room]:
    """A room whose log is: 1 member.joined, then messages with seq 2..6."""
    owner = make_user()
    room = make_room(owner)
    for n in range(2, 7):
        send(owner, room, f"message {n}", f"m{n}")
    return owner, room


@pytest.mark.parametrize(
    ("query", "seqs", "has_more"),
    [
        ("", [2, 3, 4, 5, 6], False),
        ("?limit=2", [5, 6], True),
        ("?before=5&limit=2", [3, 4], True),
        ("?before=3&limit=2", [2], False),
        ("?after=2&limit=2", [3, 4], True),
        ("?after=4&limit=2", [5, 6], False),
        ("?after=6", [], False),
        ("?before=2", [], False),
        ("?limit=5", [2, 3, 4, 5, 6], False),
    ],
)
def test_message_history_pages_by_sequence(
    history: tuple[Any, Room], query: str, seqs: list[int], has_more: bool
) -> None:
    owner, room = history
    response = client_for(owner).get(f"/api/rooms/{room.pk}/messages/{query}")
    assert response.status_code == 200
    page = response.json()
    assert set(page) == {"messages", "latest_seq", "has_more"}
    assert [m["seq"] for m in page["messages"]] == seqs
    assert page["has_more"] is has_more
    assert page["latest_seq"] == 6


def test_message_page_size_is_capped_by_the_setting(
    history: tuple[Any, Room], settings: Any
) -> None:
    settings.COMMUNIS = {**settings.COMMUNIS, "HISTORY_PAGE_MAX": 2}
    owner, room = history
    page = client_for(owner).get(f"/api/rooms/{room.pk}/messages/?limit=50").json()
    assert [m["seq"] for m in page["messages"]] == [5, 6]
    assert page["has_more"] is True


@pytest.mark.parametrize(
    "query",
    [
        "?before=abc",
        "?after=-1",
        "?limit=x",
        "?limit=1.5",
        "?before=3&after=1",
        "?after=%20",
        "?before=%C2%B2",  # "²" passes str.isdigit() but int() refuses it
        "?after=%D9%A1",  # an Arabic-Indic one: a digit to Python, not to the API
        f"?thread={2**70}",  # past 64 bits: would overflow the database's integers
        f"?before={2**53 + 1}",
        "?limit=" + "9" * 5000,  # past 4,300 digits int() itself refuses
    ],
)
def test_bad_history_parameters_are_a_400(history: tuple[Any, Room], query: str) -> None:
    owner, room = history
    assert_error(client_for(owner).get(f"/api/rooms/{room.pk}/messages/{query}"), 400, "invalid")


def test_public_history_is_readable_before_joining(history: tuple[Any, Room], make_user) -> None:
    _owner, room = history
    page = client_for(make_user()).get(f"/api/rooms/{room.pk}/messages/").json()
    assert len(page["messages"]) == 5


def test_posting_a_message_is_idempotent_by_client_msg_id(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    owner = make_user()
    room = make_room(owner)
    client = client_for(owner)
    url = f"/api/rooms/{room.pk}/messages/"

    created = client.post(url, {"body": "**hi**", "client_msg_id": "k-1"}, format="json")
    assert created.status_code == 201
    message = created.json()
    assert message["seq"] == 2 and message["body"] == "**hi**"
    assert "<strong>hi</strong>" in message["html"]
    assert message["author"]["id"] == owner.pk and message["deleted"] is False

    retry = client.post(url, {"body": "**hi**", "client_msg_id": "k-1"}, format="json")
    assert retry.status_code == 200
    assert retry.json()["id"] == message["id"]

    conflict = client.post(url, {"body": "other", "client_msg_id": "k-1"}, format="json")
    assert_error(conflict, 409, "conflict")
    assert Message.objects.count() == 1


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"body": "hi"},
        {"client_msg_id": "k"},
        {"body": "", "client_msg_id": "k"},
        {"body": "  ", "client_msg_id": "k"},
        {"body": "hi", "client_msg_id": "has space"},
        {"body": "hi", "client_msg_id": "x" * 65},
        {"body": "x" * 10_001, "client_msg_id": "k"},
        {"body": 5, "client_msg_id": {"a": 1}},
    ],
)
def test_invalid_messages_are_a_400(
    make_user: Callable[..., Any], make_room: Callable[..., Room], payload: dict[str, Any]
) -> None:
    owner = make_user()
    room = make_room(owner)
    response = client_for(owner).post(f"/api/rooms/{room.pk}/messages/", payload, format="json")
    assert_error(response, 400, "invalid")
    assert not Message.objects.exists()


def test_non_members_cannot_post_in_a_public_room(
    make_user: Callable[..., Any], make_room: Callable[..., Room]
) -> None:
    room = make_room()
    response = client_for(make_user()).post(
        f"/api/rooms/{room.pk}/messages/", {"body": "hi", "client_msg_id": "k"}, format="json"
    )
    assert_error(response, 403, "forbidden")


def test_marking_read(history: tuple[Any, Room], make_user: Callable[..., Any]) -> None:
    owner, room = history
    client = client_for(owner)
    url = f"/api/rooms/{room.pk}/read/"
    assert client.post(url, {"seq": 4}, format="json").json() == {"seq": 4}
    assert client.post(url, {"seq": 2}, format="json").json() == {"seq": 4}
    assert client.post(url, {"seq": 600}, format="json").json() == {"seq": 6}
    assert_error(client.post(url, {"seq": -1}, format="json"), 400, "invalid")
    assert_error(client.post(url, {}, format="json"), 400, "invalid")
    assert_error(client_for(make_user()).post(url, {"seq": 1}, format="json"), 400, "invalid")


# --- privacy ----------------------------------------------------------------------------------
PRIVATE_ROOM_CALLS = [
    ("get", "/api/rooms/{room}/", None),
    ("post", "/api/rooms/{room}/join/", None),
    ("post", "/api/rooms/{room}/leave/", None),
    ("get", "/api/rooms/{room}/members/", None),
    ("post", "/api/rooms/{room}/members/", {"user_id": "{me}"}),
    ("delete", "/api/rooms/{room}/members/{owner}/", None),
    ("get", "/api/rooms/{room}/messages/", None),
    ("get", "/api/rooms/{room}/messages/?after=0", None),
    ("post", "/api/rooms/{room}/messages/", {"body": "hi", "client_msg_id": "k"}),
    ("post", "/api/rooms/{room}/read/", {"seq": 1}),
]


@pytest.mark.parametrize(("method", "path", "payload"), PRIVATE_ROOM_CALLS)
def test_a_private_room_is_404_for_non_members_on_every_endpoint(
    make_user: Callable[..., Any],
    make_room: Callable[..., Room],
    method: str,
    path: str,
    payload: dict[str, Any] | None,
) -> None:
    owner, outsider = make_user(), make_user()
    room = make_room(owner, visibility="private")
    send(owner, room, "secret", "s1")
    url = path.format(room=room.pk, owner=owner.pk)
    if payload is not None:
        payload = {k: outsider.pk if v == "{me}" else v for k, v in payload.items()}
    response = getattr(client_for(outsider), method)(url, payload, format="json")
    error = assert_error(response, 404, "not_found")
    assert "secret" not in response.content.decode()
    # The answer is exactly the one for a room that does not exist, so ids cannot be probed.
    missing = getattr(client_for(outsider), method)(
        path.format(room=987654, owner=owner.pk), payload, format="json"
    )
    assert missing.json()["error"] == error
    assert Membership.objects.filter(room=room).count() == 1


# --- authentication ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/rooms/"),
        ("post", "/api/rooms/"),
        ("get", "/api/rooms/1/"),
        ("post", "/api/rooms/1/join/"),
        ("get", "/api/rooms/1/messages/"),
        ("post", "/api/rooms/1/messages/"),
        ("delete", "/api/rooms/1/members/1/"),
    ],
)
def test_unauthenticated_calls_are_refused_in_the_error_shape(method: str, path: str) -> None:
    response = getattr(APIClient(), method)(path, {}, format="json")
    assert response.status_code in (401, 403)
    assert_error(response, response.status_code, "unauthenticated")


def test_a_wrong_token_is_refused(make_user: Callable[..., Any]) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    response = client.get("/api/rooms/")
    assert response.status_code in (401, 403)
    assert_error(response, response.status_code, "unauthenticated")


def test_token_of_a_deactivated_person_is_refused(make_user: Callable[..., Any]) -> None:
    person = make_user()
    person.is_active = False
    person.save()
    response = client_for(person).get("/api/rooms/")
    assert_error(response, response.status_code, "unauthenticated")
