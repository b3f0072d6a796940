"""The chat frames over the real ASGI stack: threads, reactions, edits, deletes, pins, typing,
notifications and read state reach exactly the right sockets, and replay rebuilds the state."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from channels.db import database_sync_to_async
from rest_framework.test import APIClient

from rooms import actions
from rooms.models import Message, Notification, Reaction, Room

from .conftest import Socket

pytestmark = pytest.mark.django_db(transaction=True)

Open = Callable[..., Awaitable[Socket]]
DATETIME_FIELDS = ("created_at", "edited_at", "last_reply_at")
MESSAGE_EVENTS = ("message.created", "message.edited", "message.deleted")


# --- client state, as a client keeps it -------------------------------------------------------
def apply_events(state: dict[int, dict[str, Any]], frames: Iterable[dict[str, Any]]) -> None:
    """Apply room events in order to ``{message id: Message}``, as a client would."""
    for frame in frames:
        data = frame.get("data", {})
        if frame.get("type") in MESSAGE_EVENTS:
            message = data["message"]
            state[message["id"]] = dict(message)
            thread = data.get("thread")
            if thread and thread["root"] in state:
                state[thread["root"]]["reply_count"] = thread["reply_count"]
                state[thread["root"]]["last_reply_at"] = thread["last_reply_at"]
        elif frame.get("type") in ("reaction.added", "reaction.removed"):
            state[data["message_id"]]["reactions"] = data["reactions"]
        elif frame.get("type") in ("message.pinned", "message.unpinned"):
            state[data["message_id"]]["pinned"] = frame["type"] == "message.pinned"


def _moment(value: str | None) -> datetime | None:
    """Events give milliseconds and REST microseconds: compare at the events' precision."""
    if value is None:
        return None
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def comparable(state: dict[int, dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {
        message_id: {k: _moment(v) if k in DATETIME_FIELDS else v for k, v in message.items()}
        for message_id, message in state.items()
    }


def rest_state(user: Any, room_id: int) -> dict[int, dict[str, Any]]:
    """Every message of the room (thread replies too) as REST gives it now."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {user.api_token}")
    response = client.get(f"/api/rooms/{room_id}/messages/?after=0&limit=100&include_replies=1")
    assert response.status_code == 200, response.content
    return {m["id"]: m for m in response.json()["messages"]}


# --- helpers ----------------------------------------------------------------------------------
@dataclass
class Team:
    alice: Any  # owner
    bob: Any  # member
    carol: Any  # not a member
    room: Room  # private

    @property
    def topic(self) -> str:
        return f"room.{self.room.pk}"


@pytest.fixture
def team(make_user: Callable[..., Any]) -> Team:
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    room = actions.do_create_room(alice, name="Board", visibility="private")
    actions.do_add_member(alice, room_id=room.pk, user=bob)
    return Team(alice=alice, bob=bob, carol=carol, room=room)


async def events_until(
    socket: Socket, done: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    """Take events (kept ones first) until ``done(taken)``; return them all."""
    taken: list[dict[str, Any]] = []
    while not done(taken):
        taken.append(await socket.event())
    return taken


def has(type_: str, count: int = 1) -> Callable[[list[dict[str, Any]]], bool]:
    return lambda taken: sum(e["type"] == type_ for e in taken) >= count


@database_sync_to_async
def room_seq(room: Room) -> int:
    room.refresh_from_db()
    return room.last_seq


# --- live everywhere, and replayed right ------------------------------------------------------
async def test_threads_reactions_edits_and_deletes_reach_every_socket_of_every_member(
    sockets: Open, team: Team
) -> None:
    room_id = team.room.pk
    tabs = [await sockets(p, resume={}) for p in (team.alice, team.alice, team.bob, team.bob)]
    alice, _, bob, _ = tabs

    root = (await bob.ok("message.send", room=room_id, body="plan?", client_msg_id="r"))["message"]
    reply = await alice.ok(
        "message.send", room=room_id, body="@bob frdiay", client_msg_id="t1", thread=root["id"]
    )
    reply_id = reply["message"]["id"]
    assert reply["message"]["thread_root"] == root["id"]
    assert (await bob.ok("reaction.toggle", message=reply_id, emoji="👍"))["added"] is True
    await alice.ok("reaction.toggle", message=reply_id, emoji="🎉")
    await alice.ok("reaction.toggle", message=reply_id, emoji="🎉")
    await alice.ok("message.edit", message=reply_id, body="@bob friday")
    await alice.ok("message.pin", message=root["id"], pinned=True)
    await bob.ok("message.delete", message=root["id"])

    expected = [
        "message.created",
        "message.created",
        "reaction.added",
        "reaction.added",
        "reaction.removed",
        "message.edited",
        "message.pinned",
        "message.deleted",
    ]
    want = await room_seq(team.room)
    state_now = comparable(await database_sync_to_async(rest_state)(team.bob, room_id))
    for tab in tabs:
        taken = await events_until(tab, has("message.deleted"))
        stream = [e for e in taken if e["room"] == room_id and e["seq"] is not None]
        assert [e["type"] for e in stream] == expected
        assert [e["seq"] for e in stream] == list(range(want - len(expected) + 1, want + 1))
        thread = stream[1]["data"]["thread"]
        assert (thread["root"], thread["reply_count"]) == (root["id"], 1)
        assert stream[5]["data"]["message"]["body"] == "@bob friday"
        assert stream[-1]["data"]["message"]["deleted"] is True
        state: dict[int, dict[str, Any]] = {}
        apply_events(state, stream)
        assert comparable(state) == state_now
    assert state_now[reply_id]["reactions"] == [{"emoji": "👍", "count": 1, "users": [team.bob.pk]}]


async def test_a_reconnecting_client_replays_the_edit_it_missed_not_the_old_text(
    sockets: Open, team: Team
) -> None:
    room_id = team.room.pk
    bob = await sockets(team.bob, resume={})
    first = await database_sync_to_async(actions.do_send_message)(
        team.alice, room_id=room_id, body="the meeting is at 9", client_msg_id="m1"
    )
    gone = await database_sync_to_async(actions.do_send_message)(
        team.alice, room_id=room_id, body="wrong room, sorry", client_msg_id="m2"
    )
    seen = await events_until(bob, has("message.created", 2))
    state: dict[int, dict[str, Any]] = {}
    apply_events(state, seen)
    position = seen[-1]["seq"]
    await bob.close()

    # While Bob is away: an edit, a reaction, a thread reply and a delete.
    alice = await sockets(team.alice, resume={})
    await alice.ok("message.edit", message=first.message.pk, body="the meeting is at 10")
    await alice.ok("reaction.toggle", message=first.message.pk, emoji="✅")
    await alice.ok(
        "message.send", room=room_id, body="room B", client_msg_id="t1", thread=first.message.pk
    )
    await alice.ok("message.delete", message=gone.message.pk)

    back = await sockets(team.bob, resume={team.topic: position})
    replayed = [e for e in back.events if e["room"] == room_id]
    assert [e["type"] for e in replayed] == [
        "message.edited",
        "reaction.added",
        "message.created",
        "message.deleted",
    ]
    assert "the meeting is at 9" not in "".join(back.texts)
    assert "wrong room, sorry" not in "".join(back.texts)
    apply_events(state, replayed)
    assert state[first.message.pk]["body"] == "the meeting is at 10"
    assert comparable(state) == comparable(
        await database_sync_to_async(rest_state)(team.bob, room_id)
    )


# --- who may see what -------------------------------------------------------------------------
async def test_a_third_person_cannot_subscribe_to_or_overhear_a_direct_conversation(
    sockets: Open, team: Team
) -> None:
    direct, _ = await database_sync_to_async(actions.do_open_direct)(
        team.alice, user_ids=[team.bob.pk]
    )
    carol = await sockets(team.carol)
    resumed = await carol.ok("resume", positions={f"room.{direct.pk}": 0})
    assert resumed["ignored"] == [f"room.{direct.pk}"]
    answer = await carol.request("room.subscribe", room=direct.pk, after_seq=0)
    assert (answer["type"], answer["error"]["code"]) == ("error", "not_found")
    for frame, fields in (
        ("message.send", {"room": direct.pk, "body": "hi", "client_msg_id": "c1"}),
        ("typing", {"room": direct.pk}),
        ("room.read", {"room": direct.pk, "seq": 1}),
    ):
        answer = await carol.request(frame, **fields)
        assert (answer["type"], answer["error"]["code"]) == ("error", "not_found"), frame

    bob = await sockets(team.bob, resume={})
    await bob.ok("message.send", room=direct.pk, body="psst, alice", client_msg_id="d1")
    await bob.ok("typing", room=direct.pk)
    await events_until(bob, has("typing.started"))
    await carol.assert_silent()
    assert "psst" not in "".join(carol.texts)


async def test_removal_from_a_private_room_stops_every_live_event_at_once(
    sockets: Open, team: Team
) -> None:
    bob, bob_tab2 = await sockets(team.bob, resume={}), await sockets(team.bob, resume={})
    alice = await sockets(team.alice, resume={})

    await database_sync_to_async(actions.do_remove_member)(
        team.alice, room_id=team.room.pk, user_id=team.bob.pk
    )
    for tab in (bob, bob_tab2):
        removal = await tab.event()
        assert removal["type"] == "member.removed"
    await events_until(alice, has("member.removed"))

    sent = await alice.ok(
        "message.send", room=team.room.pk, body="now he's gone", client_msg_id="m1"
    )
    await alice.ok("typing", room=team.room.pk)
    await alice.ok("reaction.toggle", message=sent["message"]["id"], emoji="👋")
    await events_until(alice, has("reaction.added"))
    await bob.assert_silent()
    await bob_tab2.assert_silent(0.1)
    answer = await bob.request("room.subscribe", room=team.room.pk, after_seq=0)
    assert answer["error"]["code"] == "not_found"


# --- notifications and read state -------------------------------------------------------------
async def test_a_mention_reaches_every_tab_and_reading_it_in_one_clears_the_others(
    sockets: Open, team: Team
) -> None:
    bob, bob_tab2 = await sockets(team.bob, resume={}), await sockets(team.bob, resume={})
    alice = await sockets(team.alice, resume={})

    await alice.ok(
        "message.send", room=team.room.pk, body="@bob can you check?", client_msg_id="m1"
    )

    pushed = []
    for tab in (bob, bob_tab2):
        taken = await events_until(tab, has("notification.created"))
        notification = next(e for e in taken if e["type"] == "notification.created")
        assert (notification["room"], notification["seq"]) == (None, None)
        pushed.append(notification["data"]["notification"])
    assert pushed[0] == pushed[1]
    assert (pushed[0]["kind"], pushed[0]["read"]) == ("mention", False)
    assert pushed[0]["message"]["body"] == "@bob can you check?"

    answer = await bob.ok("notification.read", ids=[pushed[0]["id"]])
    assert answer == {"ids": [pushed[0]["id"]]}
    for tab in (bob, bob_tab2):
        taken = await events_until(tab, has("notification.read"))
        read = next(e for e in taken if e["type"] == "notification.read")
        assert read["data"] == {"ids": [pushed[0]["id"]]}
    assert not await database_sync_to_async(
        Notification.objects.filter(user=team.bob, read_at__isnull=True).exists
    )()
    await events_until(alice, has("message.created"))
    await alice.assert_silent()  # never someone else's notifications


async def test_reading_in_one_tab_clears_the_badge_in_the_others_and_shows_a_receipt(
    sockets: Open, team: Team
) -> None:
    bob, bob_tab2 = await sockets(team.bob, resume={}), await sockets(team.bob, resume={})
    alice = await sockets(team.alice, resume={})
    sent = await alice.ok("message.send", room=team.room.pk, body="hej", client_msg_id="m1")
    seq = sent["message"]["seq"]

    assert await bob.ok("room.read", room=team.room.pk, seq=seq) == {
        "room": team.room.pk,
        "seq": seq,
    }

    for tab in (bob, bob_tab2):
        taken = await events_until(tab, has("room.read"))
        read = next(e for e in taken if e["type"] == "room.read")
        assert read["data"] == {"room": team.room.pk, "seq": seq}
    taken = await events_until(alice, has("receipt.updated"))
    receipt = next(e for e in taken if e["type"] == "receipt.updated")
    assert receipt["room"] == team.room.pk and receipt["seq"] is None
    assert (receipt["data"]["user"]["id"], receipt["data"]["seq"]) == (team.bob.pk, seq)
    assert "room.read" not in [e["type"] for e in taken]  # Bob's read state is his own


async def test_a_direct_message_notifies_the_other_participant_live(
    sockets: Open, team: Team
) -> None:
    direct, _ = await database_sync_to_async(actions.do_open_direct)(
        team.alice, user_ids=[team.bob.pk]
    )
    bob = await sockets(team.bob, resume={})
    alice = await sockets(team.alice, resume={})
    await alice.ok("message.send", room=direct.pk, body="got a minute?", client_msg_id="d1")
    taken = await events_until(
        bob, lambda t: has("notification.created")(t) and has("message.created")(t)
    )
    notification = next(e for e in taken if e["type"] == "notification.created")
    assert notification["data"]["notification"]["kind"] == "direct"
    assert notification["data"]["notification"]["room"] == direct.pk
    await alice.ok("message.send", room=direct.pk, body="and you?", client_msg_id="d2")
    await events_until(alice, has("message.created", 2))
    assert "notification.created" not in [e["type"] for e in alice.events]


# --- typing -----------------------------------------------------------------------------------
async def test_typing_is_relayed_throttled_stopped_and_never_stored(
    sockets: Open, team: Team
) -> None:
    alice = await sockets(team.alice, resume={})
    bob = await sockets(team.bob, resume={})
    before = await room_seq(team.room)

    assert await bob.ok("typing", room=team.room.pk) == {"room": team.room.pk, "relayed": True}
    assert await bob.ok("typing", room=team.room.pk) == {"room": team.room.pk, "relayed": False}
    started = await alice.event()
    assert started["type"] == "typing.started"
    assert (started["room"], started["seq"]) == (team.room.pk, None)
    assert started["data"] == {
        "room": team.room.pk,
        "user": {"id": team.bob.pk, "username": "bob", "display_name": "bob"},
    }
    await bob.ok("typing", room=team.room.pk, active=False)
    assert (await alice.event())["type"] == "typing.stopped"
    assert await bob.ok("typing", room=team.room.pk, active=False) == {
        "room": team.room.pk,
        "relayed": False,
    }
    await alice.assert_silent()
    assert await room_seq(team.room) == before  # nothing in the room log


async def test_typing_stops_within_seconds_when_the_typing_socket_closes(
    sockets: Open, team: Team
) -> None:
    alice = await sockets(team.alice, resume={})
    bob = await sockets(team.bob, resume={})
    await bob.ok("typing", room=team.room.pk)
    assert (await alice.event())["type"] == "typing.started"

    started = time.monotonic()
    await bob.close()

    stopped = await alice.event(timeout=3)
    assert stopped["type"] == "typing.stopped"
    assert stopped["data"]["user"]["id"] == team.bob.pk
    assert time.monotonic() - started < 3


async def test_only_members_may_signal_typing(sockets: Open, team: Team) -> None:
    public = await database_sync_to_async(actions.do_create_room)(team.alice, name="Open")
    carol = await sockets(team.carol, resume={})
    answer = await carol.request("typing", room=public.pk)
    assert answer["error"]["code"] == "invalid"


# --- bad input: a clear error, nothing changed, nothing published -----------------------------
async def test_bad_chat_frames_get_clear_errors_and_change_nothing(
    sockets: Open, team: Team
) -> None:
    elsewhere = await database_sync_to_async(actions.do_create_room)(team.bob, name="Elsewhere")
    other = await database_sync_to_async(actions.do_send_message)(
        team.bob, room_id=elsewhere.pk, body="over here", client_msg_id="e1"
    )
    alice = await sockets(team.alice, resume={})
    bob = await sockets(team.bob, resume={})
    mine = (await alice.ok("message.send", room=team.room.pk, body="mine", client_msg_id="m1"))[
        "message"
    ]
    await events_until(bob, has("message.created"))
    await events_until(alice, has("message.created"))
    before = await room_seq(team.room)

    cases = [
        ("reaction.toggle", {"message": mine["id"], "emoji": "abc"}, "invalid"),
        ("reaction.toggle", {"message": mine["id"], "emoji": "👍" * 17}, "invalid"),
        ("reaction.toggle", {"message": mine["id"], "emoji": "x" * 33}, "invalid"),
        ("message.edit", {"message": mine["id"], "body": "hijacked"}, "forbidden"),
        ("message.delete", {"message": mine["id"]}, "forbidden"),
        ("message.pin", {"message": mine["id"], "pinned": True}, "forbidden"),
        (
            "message.send",
            {"room": team.room.pk, "body": "re", "client_msg_id": "b1", "thread": other.message.pk},
            "invalid",
        ),
        ("message.edit", {"message": 987654, "body": "x"}, "not_found"),
        ("notification.read", {"ids": ["x"]}, "invalid"),
        ("typing", {"room": team.room.pk, "active": "yes"}, "invalid"),
    ]
    for frame, fields, code in cases:
        answer = await bob.request(frame, **fields)
        assert answer["type"] == "error", (frame, fields, answer)
        assert answer["error"]["code"] == code, (frame, fields, answer)
        assert answer["error"]["message"]

    assert await room_seq(team.room) == before
    message = await database_sync_to_async(Message.objects.get)(pk=mine["id"])
    assert (message.body, message.edited_at, message.deleted_at, message.pinned_at) == (
        "mine",
        None,
        None,
        None,
    )
    assert not await database_sync_to_async(Reaction.objects.exists)()
    await alice.assert_silent()


async def test_notification_ids_past_64_bits_are_skipped_not_a_server_error(
    sockets: Open, team: Team
) -> None:
    await database_sync_to_async(actions.do_send_message)(
        team.alice, room_id=team.room.pk, body="@bob look", client_msg_id="m1"
    )
    bob = await sockets(team.bob, resume={})

    answer = await bob.ok("notification.read", ids=[2**70, -(2**70), 0])

    assert answer == {"ids": []}
    unread = Notification.objects.filter(user=team.bob, read_at__isnull=True)
    assert await database_sync_to_async(unread.count)() == 1
