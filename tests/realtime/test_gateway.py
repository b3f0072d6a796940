"""The websocket protocol, end to end through the real ASGI stack with ``WebsocketCommunicator``.

Covers the handshake (auth, origin), requests and their ``ok``/``error`` answers, resume, live
fan-out between members, revocation on removal, rate limits, and the exactly-once, in-order
delivery of each room stream (gap repair from the database, duplicates dropped).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.test import Client

from chatserver.asgi import application
from chatserver.realtime.envelope import Event
from chatserver.realtime.hub import hub
from rooms import actions
from rooms.models import Room

from .conftest import TIMEOUT, Socket, headers

pytestmark = pytest.mark.django_db(transaction=True)

Open = Callable[..., Awaitable[Socket]]
ENVELOPE_KEYS = {"v", "type", "id", "room", "seq", "ts", "data"}


@dataclass
class Team:
    alice: Any  # owner of the room
    bob: Any  # member
    carol: Any  # not a member
    room: Room  # public; its log so far: 1 alice joined, 2 bob joined

    @property
    def topic(self) -> str:
        return f"room.{self.room.pk}"


@pytest.fixture
def team(make_user: Callable[..., Any]) -> Team:
    alice, bob, carol = make_user(), make_user(), make_user()
    room = actions.do_create_room(alice, name="Lobby")
    actions.do_add_member(alice, room_id=room.pk, user=bob)
    return Team(alice=alice, bob=bob, carol=carol, room=room)


@pytest.fixture
def private_team(make_user: Callable[..., Any]) -> Team:
    alice, bob, carol = make_user(), make_user(), make_user()
    room = actions.do_create_room(alice, name="Board", visibility="private")
    actions.do_add_member(alice, room_id=room.pk, user=bob)
    return Team(alice=alice, bob=bob, carol=carol, room=room)


@database_sync_to_async
def send_message(author: Any, room: Room, body: str, key: str) -> Any:
    return actions.do_send_message(author, room_id=room.pk, body=body, client_msg_id=key).message


async def send_unpublished(
    monkeypatch: pytest.MonkeyPatch, author: Any, room: Room, count: int
) -> list[Event]:
    """Commit ``count`` messages whose events never reach the hub; return those events."""
    captured: list[Event] = []
    with monkeypatch.context() as patch:
        patch.setattr(hub, "publish", captured.append)
        for n in range(count):
            await send_message(author, room, f"quiet {n}", f"quiet-{n}")
    assert [event.type for event in captured] == ["message.created"] * count
    return captured


def assert_event(frame: dict[str, Any], *, type: str, room: Room, seq: int) -> None:
    assert set(frame) == ENVELOPE_KEYS
    assert (frame["v"], frame["type"], frame["room"], frame["seq"]) == (1, type, room.pk, seq)
    assert frame["id"] == f"r{room.pk}:{seq}"


# --- handshake --------------------------------------------------------------------------------
async def test_hello_is_the_first_frame(sockets: Open, team: Team) -> None:
    socket = await sockets(team.alice)
    hello = socket.hello
    assert hello is not None
    assert (hello["type"], hello["v"]) == ("hello", 1)
    assert hello["data"]["user"] == {"id": team.alice.pk, "username": team.alice.username}
    assert hello["data"]["streams"] == [team.topic]
    limits = hello["data"]["limits"]
    assert limits["max_frame_bytes"] == django_settings.COMMUNIS["MAX_FRAME_BYTES"]
    assert limits["max_message_length"] == django_settings.COMMUNIS["MAX_MESSAGE_LENGTH"]
    assert {"heartbeat_interval", "idle_timeout", "replay_limit"} <= set(limits)
    # Embedded mode fans out in-process; with REDIS_URL every event crosses the Redis bus.
    assert (hub.bus is not None) == bool(django_settings.REDIS_URL)


@pytest.mark.parametrize("credentials", ["none", "wrong-token", "inactive"])
async def test_an_unauthenticated_socket_gets_an_error_and_is_closed_with_4401(
    make_user: Callable[..., Any], credentials: str
) -> None:
    token = {
        "none": None,
        "wrong-token": "not-a-token",
        "inactive": await database_sync_to_async(make_user)(is_active=False),
    }[credentials]
    token = getattr(token, "api_token", token)
    communicator = WebsocketCommunicator(application, "/ws/", headers=headers(token=token))
    connected, _code = await communicator.connect(timeout=TIMEOUT)
    assert connected  # accepted so the close code and the error can reach the client
    frame = await communicator.receive_json_from(timeout=TIMEOUT)
    assert frame["type"] == "error" and frame["req_id"] is None
    assert frame["error"]["code"] == "unauthenticated"
    assert await communicator.receive_output(timeout=TIMEOUT) == {
        "type": "websocket.close",
        "code": 4401,
    }
    await communicator.disconnect(code=4401, timeout=TIMEOUT)


@pytest.mark.parametrize(
    "origin",
    [b"http://evil.example", b"http://127.0.0.1.evil.example", b"null"],
)
async def test_a_foreign_origin_is_refused(team: Team, origin: bytes) -> None:
    communicator = WebsocketCommunicator(
        application, "/ws/", headers=headers(token=team.alice.api_token, origin=origin)
    )
    connected, _code = await communicator.connect(timeout=TIMEOUT)
    assert not connected


@pytest.fixture
def session_cookie(team: Team) -> str:
    """The session cookie a browser would send after signing in as Bob."""
    client = Client()
    client.force_login(team.bob)
    name = django_settings.SESSION_COOKIE_NAME
    return f"{name}={client.cookies[name].value}"


async def test_a_browser_session_authenticates_the_socket(
    sockets: Open, team: Team, session_cookie: str
) -> None:
    socket = await sockets(cookie=session_cookie)
    assert socket.hello is not None
    assert socket.hello["data"]["user"]["id"] == team.bob.pk


async def test_a_browser_session_from_a_foreign_origin_is_refused(session_cookie: str) -> None:
    communicator = WebsocketCommunicator(
        application, "/ws/", headers=headers(cookie=session_cookie, origin=b"http://evil.example")
    )
    connected, _code = await communicator.connect(timeout=TIMEOUT)
    assert not connected


async def test_a_token_client_may_omit_the_origin(sockets: Open, team: Team) -> None:
    socket = await sockets(team.alice, origin=None)
    assert (await socket.ok("ping")) == {"pong": True}


# --- requests ---------------------------------------------------------------------------------
@pytest.mark.parametrize("req_id", ["abc", 17, 0])
async def test_ping_is_answered_with_the_same_req_id(
    sockets: Open, team: Team, req_id: Any
) -> None:
    socket = await sockets(team.alice)
    await socket.communicator.send_json_to({"type": "ping", "req_id": req_id})
    assert await socket.answer() == {"type": "ok", "req_id": req_id, "data": {"pong": True}}


BAD_FRAMES = [
    pytest.param("{not json", None, "invalid_json", None, id="bad-json"),
    pytest.param("[" * 5000 + "]" * 5000, None, "invalid_json", None, id="too-deep"),
    pytest.param("[1, 2]", None, "invalid", None, id="not-an-object"),
    pytest.param(
        '{"type": "ping", "req_id": "r1", "\\ud800": 1}', None, "invalid", None, id="surrogate"
    ),
    pytest.param(
        '{"type": "message.send", "req_id": "r1", "room": 1, "client_msg_id": "k", '
        '"body": "a\\u0000b"}',
        None,
        "invalid",
        None,
        id="nul",
    ),
    pytest.param('"ping"', None, "invalid", None, id="a-string"),
    pytest.param({"type": "nope", "req_id": "r1"}, "r1", "unknown_type", None, id="unknown-type"),
    pytest.param({"req_id": "r1"}, "r1", "unknown_type", None, id="no-type"),
    pytest.param({"type": 5, "req_id": "r1"}, "r1", "unknown_type", None, id="type-not-a-string"),
    pytest.param(
        {"type": "__init__", "req_id": "r1"}, "r1", "unknown_type", None, id="dunder-type"
    ),
    pytest.param(
        {"type": "websocket.disconnect", "req_id": "r1"}, "r1", "unknown_type", None, id="asgi"
    ),
    pytest.param(
        {"type": "control.close", "req_id": "r1"}, "r1", "unknown_type", None, id="control"
    ),
    pytest.param(
        {"type": "message.send", "req_id": "r1", "room": "1", "body": "x", "client_msg_id": "a"},
        "r1",
        "invalid",
        "room",
        id="wrong-type",
    ),
    pytest.param(
        {"type": "room.read", "req_id": "r1", "room": 1, "seq": True},
        "r1",
        "invalid",
        "seq",
        id="bool-for-int",
    ),
    pytest.param(
        {"type": "room.read", "req_id": "r1", "room": 0, "seq": 1},
        "r1",
        "invalid",
        "room",
        id="out-of-range",
    ),
    pytest.param(
        {"type": "message.send", "req_id": "r1", "room": 1, "body": "x"},
        "r1",
        "invalid",
        "client_msg_id",
        id="missing-field",
    ),
    pytest.param(
        {"type": "ping", "req_id": "r1", "extra": 1}, "r1", "invalid", "extra", id="extra"
    ),
    pytest.param(
        {"type": "resume", "req_id": "r1", "positions": {"room.1": [1]}},
        "r1",
        "invalid",
        "positions",
        id="nested-value",
    ),
    pytest.param({"type": "ping", "req_id": {"a": 1}}, None, "invalid", None, id="object-req-id"),
    pytest.param({"type": "ping", "req_id": "r" * 65}, None, "invalid", None, id="long-req-id"),
    pytest.param({"type": "ping", "req_id": True}, None, "invalid", None, id="bool-req-id"),
]


@pytest.mark.parametrize(("frame", "req_id", "code", "field"), BAD_FRAMES)
async def test_bad_frames_get_an_error_frame_and_the_socket_stays_open(
    sockets: Open,
    team: Team,
    frame: Any,
    req_id: Any,
    code: str,
    field: str | None,
) -> None:
    socket = await sockets(team.alice, resume={})
    await socket.send_raw(frame if isinstance(frame, str) else json.dumps(frame))
    answer = await socket.answer()
    assert answer["type"] == "error"
    assert answer["req_id"] == req_id
    assert answer["error"]["code"] == code
    assert isinstance(answer["error"]["message"], str) and answer["error"]["message"]
    if field is not None:
        assert answer["error"]["field"] == field
    assert (await socket.ok("ping")) == {"pong": True}


async def test_escaped_astral_characters_are_text_like_any_other(sockets: Open, team: Team) -> None:
    socket = await sockets(team.alice, resume={})
    # json.dumps escapes the emoji as a surrogate pair: valid, unlike a lone surrogate.
    frame = {"type": "message.send", "req_id": "e", "room": team.room.pk, "client_msg_id": "e"}
    text = json.dumps({**frame, "body": "ok 😀"})
    assert "\\ud83d\\ude00" in text
    await socket.send_raw(text)
    answer = await socket.answer()
    assert answer["type"] == "ok", answer
    assert answer["data"]["message"]["body"] == "ok 😀"


async def test_binary_and_oversize_frames_are_refused(sockets: Open, team: Team) -> None:
    socket = await sockets(team.alice, resume={})
    await socket.send_raw(data=b'{"type": "ping"}')
    assert (await socket.answer())["error"]["code"] == "invalid"

    limit = django_settings.COMMUNIS["MAX_FRAME_BYTES"]
    await socket.send_raw(json.dumps({"type": "ping", "req_id": "big", "pad": "é" * (limit // 2)}))
    answer = await socket.answer()
    assert answer["req_id"] is None  # the frame is not even parsed
    assert answer["error"]["code"] == "frame_too_large"
    assert (await socket.ok("ping")) == {"pong": True}


async def test_sends_beyond_the_rate_limit_are_refused_with_a_retry_time(
    sockets: Open, team: Team, settings: Any
) -> None:
    settings.COMMUNIS = {**settings.COMMUNIS, "SEND_RATE": 0.1, "SEND_BURST": 3}
    socket = await sockets(team.alice, resume={})
    for _ in range(3):
        await socket.ok("room.unsubscribe", room=987654)
    limited = await socket.request("room.unsubscribe", room=987654)
    assert limited["type"] == "error"
    assert limited["error"]["code"] == "rate_limited"
    assert 0 < limited["error"]["retry_after"] <= 10
    assert (await socket.ok("ping")) == {"pong": True}  # keep-alives are never throttled
    # The budget is per person: a second socket of the same person shares it.
    other = await sockets(team.alice, resume={})
    assert (await other.request("room.unsubscribe", room=987654))["type"] == "error"


# --- resume -----------------------------------------------------------------------------------
async def test_resume_replays_what_was_missed_and_reports_positions(
    sockets: Open, team: Team
) -> None:
    await send_message(team.alice, team.room, "one", "m1")
    await send_message(team.alice, team.room, "two", "m2")
    socket = await sockets(team.bob)

    data = await socket.ok("resume", positions={team.topic: 2, "room.987654": 0, "bogus": 1})
    assert data == {"positions": {team.topic: 4}, "ignored": ["bogus", "room.987654"]}
    replayed = socket.events
    assert [(e["type"], e["seq"]) for e in replayed] == [
        ("message.created", 3),
        ("message.created", 4),
    ]
    assert [e["data"]["message"]["body"] for e in replayed] == ["one", "two"]
    socket.events = []
    await socket.assert_silent()


async def test_resume_without_a_position_starts_from_the_latest(sockets: Open, team: Team) -> None:
    await send_message(team.alice, team.room, "old", "m1")
    socket = await sockets(team.bob)
    assert await socket.ok("resume") == {"positions": {team.topic: 3}, "ignored": []}
    await socket.assert_silent()
    await send_message(team.alice, team.room, "new", "m2")
    assert_event(await socket.event(), type="message.created", room=team.room, seq=4)


async def test_resume_too_far_behind_asks_for_a_resync(
    sockets: Open, team: Team, settings: Any
) -> None:
    settings.COMMUNIS = {**settings.COMMUNIS, "REPLAY_LIMIT": 1}
    for n in range(3):
        await send_message(team.alice, team.room, f"m{n}", f"m{n}")
    socket = await sockets(team.bob)
    assert (await socket.ok("resume", positions={team.topic: 2}))["positions"] == {team.topic: 5}
    [resync] = socket.events
    assert resync["type"] == "resync.required"
    assert resync["room"] == team.room.pk
    assert resync["data"] == {"topic": team.topic, "after_seq": 2, "latest_seq": 5}


async def test_room_events_wait_for_the_clients_resume(sockets: Open, team: Team) -> None:
    socket = await sockets(team.bob)  # connected, not yet resumed
    await send_message(team.alice, team.room, "while you connected", "m1")
    await socket.assert_silent()
    await socket.ok("resume", positions={team.topic: 2})
    [event] = socket.events
    assert_event(event, type="message.created", room=team.room, seq=3)
    socket.events = []
    await socket.assert_silent()  # the held live copy is not delivered a second time


# --- live fan-out -----------------------------------------------------------------------------
async def test_a_sent_message_is_acknowledged_and_reaches_every_member_in_order(
    sockets: Open, team: Team
) -> None:
    alice = await sockets(team.alice, resume={})
    bob = await sockets(team.bob, resume={})
    watcher = await sockets(team.carol, resume={})  # not a member: sees nothing of the room

    sent = []
    for n in range(3):
        data = await alice.ok(
            "message.send", room=team.room.pk, body=f"hello *{n}*", client_msg_id=f"k{n}"
        )
        assert data["duplicate"] is False
        sent.append(data["message"])
    assert [message["seq"] for message in sent] == [3, 4, 5]
    assert "<em>0</em>" in sent[0]["html"]

    for socket in (bob, alice):
        received = await socket.events_of(3)
        for seq, frame, message in zip([3, 4, 5], received, sent, strict=True):
            assert_event(frame, type="message.created", room=team.room, seq=seq)
            assert frame["data"]["message"] == message
        await socket.assert_silent(0.2)
    await watcher.assert_silent(0.1)


async def test_a_retried_send_returns_the_original_and_is_not_delivered_twice(
    sockets: Open, team: Team
) -> None:
    alice = await sockets(team.alice, resume={})
    bob = await sockets(team.bob, resume={})
    first = await alice.ok("message.send", room=team.room.pk, body="hi", client_msg_id="k1")
    retry = await alice.ok("message.send", room=team.room.pk, body="hi", client_msg_id="k1")
    assert retry["duplicate"] is True
    assert retry["message"]["id"] == first["message"]["id"]
    conflict = await alice.request(
        "message.send", room=team.room.pk, body="changed", client_msg_id="k1"
    )
    assert conflict["error"]["code"] == "conflict"
    assert_event(await bob.event(), type="message.created", room=team.room, seq=3)
    await bob.assert_silent()


async def test_send_errors_come_back_as_error_frames(sockets: Open, private_team: Team) -> None:
    team = private_team
    carol = await sockets(team.carol, resume={})
    hidden = await carol.request("message.send", room=team.room.pk, body="x", client_msg_id="k")
    assert hidden["error"]["code"] == "not_found"
    missing = await carol.request("message.send", room=987654, body="x", client_msg_id="k")
    assert missing["error"] == hidden["error"]  # a private room looks exactly like no room
    alice = await sockets(team.alice, resume={})
    empty = await alice.request("message.send", room=team.room.pk, body=" ", client_msg_id="k")
    assert (empty["error"]["code"], empty["error"]["field"]) == ("invalid", "body")


async def test_marking_read_tells_the_persons_other_sockets(sockets: Open, team: Team) -> None:
    tab1 = await sockets(team.bob, resume={})
    tab2 = await sockets(team.bob, resume={})
    assert await tab1.ok("room.read", room=team.room.pk, seq=2) == {"room": team.room.pk, "seq": 2}
    for tab in (tab1, tab2):
        event = await tab.event()
        assert (event["type"], event["room"], event["seq"]) == ("room.read", None, None)
        assert event["data"] == {"room": team.room.pk, "seq": 2}


# --- membership changes apply to live sockets at once -----------------------------------------
async def test_joining_over_the_socket_starts_the_room_stream(sockets: Open, team: Team) -> None:
    carol = await sockets(team.carol, resume={})
    assert await carol.ok("room.join", room=team.room.pk) == {
        "room": team.room.pk,
        "role": "member",
    }
    joined = await carol.event()
    assert_event(joined, type="member.joined", room=team.room, seq=3)
    assert joined["data"]["user"]["id"] == team.carol.pk
    await send_message(team.alice, team.room, "welcome", "m1")
    assert_event(await carol.event(), type="message.created", room=team.room, seq=4)
    await carol.assert_silent()


async def test_leaving_over_the_socket_stops_the_room_stream(sockets: Open, team: Team) -> None:
    bob = await sockets(team.bob, resume={})
    assert await bob.ok("room.leave", room=team.room.pk) == {"room": team.room.pk}
    left = await bob.event()
    assert_event(left, type="member.left", room=team.room, seq=3)
    await send_message(team.alice, team.room, "after you left", "m1")
    await bob.assert_silent()


@pytest.mark.parametrize("visibility", ["public", "private"])
async def test_a_removed_member_gets_the_removal_and_then_nothing(
    sockets: Open, team: Team, private_team: Team, visibility: str
) -> None:
    team = team if visibility == "public" else private_team
    alice = await sockets(team.alice, resume={})
    bob = await sockets(team.bob, resume={})
    bob_tab2 = await sockets(team.bob, resume={})

    await database_sync_to_async(actions.do_remove_member)(
        team.alice, room_id=team.room.pk, user_id=team.bob.pk
    )
    for socket in (bob, bob_tab2, alice):
        removal = await socket.event()
        assert_event(removal, type="member.removed", room=team.room, seq=3)
        assert removal["data"]["user"]["id"] == team.bob.pk

    await alice.ok("message.send", room=team.room.pk, body="after removal", client_msg_id="m1")
    assert_event(await alice.event(), type="message.created", room=team.room, seq=4)
    await bob.assert_silent()
    await bob_tab2.assert_silent(0.1)


async def test_a_socket_removed_before_resuming_learns_it_lost_the_room(
    sockets: Open, private_team: Team
) -> None:
    team = private_team
    bob = await sockets(team.bob)  # not resumed: the room stream is held
    await database_sync_to_async(actions.do_remove_member)(
        team.alice, room_id=team.room.pk, user_id=team.bob.pk
    )
    await send_message(team.alice, team.room, "secret", "m1")
    data = await bob.ok("resume", positions={team.topic: 2})
    # Whether the removal itself is replayed depends on timing; nothing after it ever is.
    assert all(event["seq"] <= 3 for event in bob.events), bob.events
    assert "secret" not in "".join(bob.texts)
    assert team.topic not in data["positions"]


async def test_being_added_to_a_private_room_starts_its_stream_at_once(
    sockets: Open, private_team: Team
) -> None:
    team = private_team
    carol = await sockets(team.carol, resume={})
    await database_sync_to_async(actions.do_add_member)(
        team.alice, room_id=team.room.pk, user=team.carol
    )
    joined = await carol.event()
    assert_event(joined, type="member.joined", room=team.room, seq=3)
    assert joined["data"]["user"]["id"] == team.carol.pk
    await send_message(team.alice, team.room, "welcome aboard", "m1")
    assert_event(await carol.event(), type="message.created", room=team.room, seq=4)
    await carol.assert_silent()


async def test_watching_a_public_room_without_joining(sockets: Open, team: Team) -> None:
    carol = await sockets(team.carol, resume={})
    assert await carol.ok("room.subscribe", room=team.room.pk) == {
        "room": team.room.pk,
        "position": 2,
    }
    await send_message(team.alice, team.room, "hello watchers", "m1")
    assert_event(await carol.event(), type="message.created", room=team.room, seq=3)
    await carol.ok("room.unsubscribe", room=team.room.pk)
    await send_message(team.alice, team.room, "gone", "m2")
    await carol.assert_silent()


async def test_joining_a_watched_room_repeats_nothing(sockets: Open, team: Team) -> None:
    carol = await sockets(team.carol, resume={})
    await carol.ok("room.subscribe", room=team.room.pk)
    await carol.ok("room.join", room=team.room.pk)
    joined = await carol.event()
    assert_event(joined, type="member.joined", room=team.room, seq=3)
    await send_message(team.alice, team.room, "welcome", "m1")
    assert_event(await carol.event(), type="message.created", room=team.room, seq=4)
    await carol.assert_silent()


async def test_subscribing_again_to_a_running_stream_neither_repeats_nor_skips(
    sockets: Open, team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    bob = await sockets(team.bob, resume={})
    in_flight = await send_unpublished(monkeypatch, team.alice, team.room, 2)  # seq 3, 4
    # A client retry of room.subscribe while 3 and 4 are still on their way.
    assert (await bob.ok("room.subscribe", room=team.room.pk))["room"] == team.room.pk
    for event in in_flight:
        await hub.dispatch(event)
    assert [event["seq"] for event in await bob.events_of(2)] == [3, 4]
    await bob.assert_silent()


async def test_a_private_room_cannot_be_watched(sockets: Open, private_team: Team) -> None:
    carol = await sockets(private_team.carol, resume={})
    answer = await carol.request("room.subscribe", room=private_team.room.pk, after_seq=0)
    assert answer["error"]["code"] == "not_found"
    await send_message(private_team.alice, private_team.room, "secret", "m1")
    await carol.assert_silent()


# --- access ends: sockets close ---------------------------------------------------------------
@pytest.mark.parametrize("change", ["deactivate", "new password"])
async def test_losing_access_closes_every_socket_of_that_person(
    sockets: Open, team: Team, change: str
) -> None:
    tabs = [await sockets(team.bob, resume={}), await sockets(team.bob, resume={})]
    alice = await sockets(team.alice, resume={})

    def lose_access() -> None:
        if change == "deactivate":
            team.bob.is_active = False
        else:
            team.bob.set_password("a-brand-new-password-1")
        team.bob.save()

    await database_sync_to_async(lose_access)()
    for tab in tabs:
        output = await tab.communicator.receive_output(timeout=TIMEOUT)
        assert output == {"type": "websocket.close", "code": 4401}
    assert (await alice.ok("ping")) == {"pong": True}  # nobody else is touched


async def test_silent_sockets_are_closed_after_the_idle_timeout(
    sockets: Open, team: Team, settings: Any
) -> None:
    # Set before the first socket of this test starts the hub, whose sweeper reads it once.
    settings.COMMUNIS = {**settings.COMMUNIS, "IDLE_TIMEOUT": 0.6}
    silent = await sockets(team.bob, resume={})
    chatty = await sockets(team.alice, resume={})
    for _ in range(6):
        await asyncio.sleep(0.2)
        await chatty.ok("ping")
    output = await silent.communicator.receive_output(timeout=TIMEOUT)
    assert output == {"type": "websocket.close", "code": 4408}
    assert (await chatty.ok("ping")) == {"pong": True}


# --- exactly once, in order -------------------------------------------------------------------
async def test_a_gap_is_repaired_from_the_database_in_order(
    sockets: Open, team: Team, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.COMMUNIS = {**settings.COMMUNIS, "GAP_REPAIR_DELAY": 0.05}
    bob = await sockets(team.bob, resume={})
    lost = await send_unpublished(monkeypatch, team.alice, team.room, 2)  # seq 3 and 4

    await hub.dispatch(lost[1])  # 4 arrives; 3 is in the database but never came through
    first, second = await bob.events_of(2)
    assert (first["seq"], second["seq"]) == (3, 4)
    # Replayed frames are byte-for-byte what live sockets get.
    assert bob.texts[-2:] == [lost[0].frame, lost[1].frame]

    await hub.dispatch(lost[0])  # the straggler is now a duplicate
    await bob.assert_silent()


async def test_an_out_of_order_event_waits_for_the_one_before_it(
    sockets: Open, team: Team, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.COMMUNIS = {**settings.COMMUNIS, "GAP_REPAIR_DELAY": 0.2}
    bob = await sockets(team.bob, resume={})
    lost = await send_unpublished(monkeypatch, team.alice, team.room, 2)

    await hub.dispatch(lost[1])
    await hub.dispatch(lost[0])  # arrives before the repair is due
    assert [event["seq"] for event in await bob.events_of(2)] == [3, 4]
    await bob.assert_silent(0.5)  # the scheduled repair finds nothing left to do


async def test_hub_duplicates_and_shuffles_are_delivered_once_in_order(
    sockets: Open, team: Team, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.COMMUNIS = {**settings.COMMUNIS, "GAP_REPAIR_DELAY": 0.05}
    bob = await sockets(team.bob, resume={})
    lost = await send_unpublished(monkeypatch, team.alice, team.room, 5)  # seq 3..7

    for index in [0, 0, 2, 1, 1, 4, 2, 3, 0, 4]:
        await hub.dispatch(lost[index])
    received = await bob.events_of(5)
    assert [event["seq"] for event in received] == [3, 4, 5, 6, 7]
    assert bob.texts[-5:] == [event.frame for event in lost]
    await bob.assert_silent()
