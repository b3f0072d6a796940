"""Chat features against real daphne processes and real websocket clients: the direct-message
race, private conversations, live thread/reaction/edit/delete fan-out, replay after a
reconnect, typing that stops when the socket closes, and removal that cuts a member off."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import pytest

from rooms.models import Membership, Room
from tests.support.servers import DaphneServer
from tests.support.wsclient import WsClient

from .conftest import HttpClient, connect, db, listen, make_room, room_events, wait_for_event

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]
QUIET_WINDOW = 1.0  # seconds in which a socket that must hear nothing stays silent
TYPING_STOP_BOUND = 3.0  # "within a few seconds"
DATETIME_FIELDS = ("created_at", "edited_at", "last_reply_at")
MESSAGE_EVENTS = ("message.created", "message.edited", "message.deleted")


def apply_events(state: dict[int, dict[str, Any]], frames: Iterable[dict[str, Any]]) -> None:
    """Apply room events in order to ``{message id: Message}``, as a client would."""
    for frame in frames:
        data = frame["data"]
        if frame["type"] in MESSAGE_EVENTS:
            state[data["message"]["id"]] = dict(data["message"])
            thread = data.get("thread")
            if thread and thread["root"] in state:
                state[thread["root"]]["reply_count"] = thread["reply_count"]
                state[thread["root"]]["last_reply_at"] = thread["last_reply_at"]
        elif frame["type"] in ("reaction.added", "reaction.removed"):
            state[data["message_id"]]["reactions"] = data["reactions"]
        elif frame["type"] in ("message.pinned", "message.unpinned"):
            state[data["message_id"]]["pinned"] = frame["type"] == "message.pinned"


def comparable(state: dict[int, dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Events carry milliseconds and REST microseconds: compare at the events' precision."""

    def moment(value: str | None) -> datetime | None:
        if value is None:
            return None
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed.replace(microsecond=parsed.microsecond // 1000 * 1000)

    return {
        key: {k: moment(v) if k in DATETIME_FIELDS else v for k, v in message.items()}
        for key, message in state.items()
    }


async def rest_state(rest: HttpClient, room_id: int) -> dict[int, dict[str, Any]]:
    response = await rest.get(f"/api/rooms/{room_id}/messages/?after=0&limit=100&include_replies=1")
    assert response.status == 200, response.text
    return {m["id"]: m for m in response.json()["messages"]}


async def ok(client: WsClient, frame_type: str, **fields: Any) -> dict[str, Any]:
    answer = await client.request(frame_type, **fields)
    assert answer["type"] == "ok", (frame_type, answer)
    return answer["data"]


def stream(client: WsClient, room_id: int) -> list[dict[str, Any]]:
    """The room's sequenced events this socket got, in arrival order."""
    return [e for e in room_events(client, room_id) if e["seq"] is not None]


async def wait_for_type(client: WsClient, room_id: int, type_: str, *, count: int = 1) -> None:
    await client.events_until(
        lambda _events: sum(e["type"] == type_ for e in room_events(client, room_id)) >= count,
        timeout=15,
    )


@pytest.fixture
def people(transactional_db: Any, make_user: Callable[..., Any]) -> list[Any]:
    """Eight committed people (made here: the tests themselves run in an event loop)."""
    return [make_user() for _ in range(8)]


# --- direct conversations ---------------------------------------------------------------------
async def test_two_people_starting_a_dm_at_the_same_moment_get_exactly_one_conversation(
    daphne_factory: Callable[..., DaphneServer], people: list[Any]
) -> None:
    # Two server processes, so the two requests really run at once and race in the database.
    servers = [daphne_factory(), daphne_factory()]
    pairs = [(people[n], people[n + 1]) for n in range(0, 6, 2)]
    for anna, bertil in pairs:
        answers = await asyncio.gather(
            HttpClient(servers[0], token=anna.api_token).post(
                "/api/direct/", {"user_ids": [bertil.pk]}
            ),
            HttpClient(servers[1], token=bertil.api_token).post(
                "/api/direct/", {"user_ids": [anna.pk]}
            ),
        )
        assert sorted(a.status for a in answers) in ([200, 201], [201, 200]), [
            (a.status, a.text) for a in answers
        ]
        ids = {a.json()["id"] for a in answers}
        assert len(ids) == 1, ids
        rooms = await db(
            lambda a=anna, b=bertil: list(
                Room.objects.filter(kind=Room.Kind.DIRECT, memberships__user=a)
                .filter(memberships__user=b)
                .distinct()
                .values_list("pk", flat=True)
            )
        )()
        assert rooms == list(ids)
        members = await db(
            lambda r=rooms[0]: sorted(
                Membership.objects.filter(room_id=r).values_list("user_id", flat=True)
            )
        )()
        assert members == sorted([anna.pk, bertil.pk])
    assert await db(Room.objects.filter(kind=Room.Kind.DIRECT).count)() == len(pairs)


async def test_a_third_person_can_neither_fetch_nor_hear_a_direct_conversation(
    daphne_server: DaphneServer, people: list[Any]
) -> None:
    anna, bertil, carol = people[:3]
    opened = await HttpClient(daphne_server, token=anna.api_token).post(
        "/api/direct/", {"user_ids": [bertil.pk]}
    )
    assert opened.status == 201, opened.text
    room_id = opened.json()["id"]

    carol_rest = HttpClient(daphne_server, token=carol.api_token)
    for path in (f"/api/rooms/{room_id}/", f"/api/rooms/{room_id}/messages/"):
        response = await carol_rest.get(path)
        assert response.status == 404, (path, response.text)
        assert response.json()["error"]["code"] == "not_found"
    carol = await connect(daphne_server, carol, positions={f"room.{room_id}": 0})
    answer = await carol.request("room.subscribe", room=room_id, after_seq=0)
    assert answer["type"] == "error" and answer["error"]["code"] == "not_found", answer

    bertil_socket = await connect(daphne_server, bertil)
    anna_socket = await connect(daphne_server, anna)
    secret = "the surprise party is on friday"
    sent = await ok(anna_socket, "message.send", room=room_id, body=secret, client_msg_id="dm-1")
    await ok(anna_socket, "reaction.toggle", message=sent["message"]["id"], emoji="🎉")
    await ok(anna_socket, "typing", room=room_id)
    await wait_for_type(bertil_socket, room_id, "reaction.added")
    await wait_for_event(bertil_socket, lambda e: e["type"] == "notification.created")
    await listen(carol, QUIET_WINDOW)
    assert room_events(carol, room_id) == []
    assert secret not in json.dumps(carol.events)
    assert not [e for e in carol.events if e.get("type", "").startswith("notification.")]
    for client in (carol, bertil_socket, anna_socket):
        await client.close()


# --- live on every socket, replayed right -----------------------------------------------------
async def test_thread_replies_reactions_edits_and_deletes_arrive_live_and_replay_after_a_reconnect(
    daphne_server: DaphneServer, people: list[Any]
) -> None:
    alice, bob = people[:2]
    room_id = (await db(make_room)(alice, [bob], visibility="private")).pk
    tabs = [await connect(daphne_server, person) for person in (alice, alice, bob, bob)]
    alice_tab, _, bob_tab, _ = tabs

    root = (await ok(alice_tab, "message.send", room=room_id, body="ideas?", client_msg_id="r"))[
        "message"
    ]
    reply = (
        await ok(
            bob_tab,
            "message.send",
            room=room_id,
            body="a picnic on tusday",
            client_msg_id="t1",
            thread=root["id"],
        )
    )["message"]
    await ok(alice_tab, "reaction.toggle", message=reply["id"], emoji="👍")
    await ok(bob_tab, "message.edit", message=reply["id"], body="a picnic on tuesday")
    doomed = (await ok(alice_tab, "message.send", room=room_id, body="oops", client_msg_id="x"))[
        "message"
    ]
    await ok(alice_tab, "message.delete", message=doomed["id"])

    expected = [
        "message.created",
        "message.created",
        "reaction.added",
        "message.edited",
        "message.created",
        "message.deleted",
    ]
    rest = HttpClient(daphne_server, token=bob.api_token)
    for tab in tabs:
        await wait_for_type(tab, room_id, "message.deleted")
        events = [
            e for e in stream(tab, room_id) if e["type"] in (*MESSAGE_EVENTS, "reaction.added")
        ]
        assert [e["type"] for e in events] == expected
        assert events[1]["data"]["thread"] == {
            "root": root["id"],
            "reply_count": 1,
            "last_reply_at": events[1]["data"]["thread"]["last_reply_at"],
        }
        assert events[2]["data"]["reactions"] == [{"emoji": "👍", "count": 1, "users": [alice.pk]}]
        assert events[3]["data"]["message"]["body"] == "a picnic on tuesday"
        assert events[5]["data"]["message"]["deleted"] is True
    bob_state: dict[int, dict[str, Any]] = {}
    apply_events(bob_state, stream(bob_tab, room_id))
    assert comparable(bob_state) == comparable(await rest_state(rest, room_id))

    # Bob drops every socket; Alice edits, reacts, replies and deletes while he is away.
    position = stream(bob_tab, room_id)[-1]["seq"]
    for tab in tabs[2:]:
        await tab.close()
    await ok(alice_tab, "message.edit", message=root["id"], body="ideas for the summer party?")
    await ok(alice_tab, "reaction.toggle", message=root["id"], emoji="☀️")
    await ok(
        alice_tab,
        "message.send",
        room=room_id,
        body="or a boat trip",
        client_msg_id="t2",
        thread=root["id"],
    )
    await ok(alice_tab, "message.delete", message=reply["id"])  # as the room's owner

    back = await connect(daphne_server, bob, positions={f"room.{room_id}": position})
    replayed = stream(back, room_id)
    assert [e["type"] for e in replayed] == [
        "message.edited",
        "reaction.added",
        "message.created",
        "message.deleted",
    ]
    assert [e["seq"] for e in replayed] == list(range(position + 1, position + 5))
    assert "a picnic on tuesday" not in json.dumps(back.events)  # deleted while he was away
    apply_events(bob_state, replayed)
    assert bob_state[root["id"]]["body"] == "ideas for the summer party?"
    assert bob_state[root["id"]]["reply_count"] == 2
    assert comparable(bob_state) == comparable(await rest_state(rest, room_id))
    for tab in (*tabs[:2], back):
        await tab.close()


# --- typing -----------------------------------------------------------------------------------
async def test_typing_starts_and_stops_within_seconds_when_the_typing_socket_closes(
    daphne_server: DaphneServer, people: list[Any]
) -> None:
    alice, bob = people[:2]
    room_id = (await db(make_room)(alice, [bob])).pk
    watcher = await connect(daphne_server, alice)
    typist = await connect(daphne_server, bob)

    await ok(typist, "typing", room=room_id)
    started = await wait_for_event(watcher, lambda e: e["type"] == "typing.started")
    assert (started["room"], started["seq"], started["data"]["user"]["id"]) == (
        room_id,
        None,
        bob.pk,
    )
    loop = asyncio.get_running_loop()
    closed_at = loop.time()
    await typist.close()

    stopped = await wait_for_event(
        watcher, lambda e: e["type"] == "typing.stopped", timeout=TYPING_STOP_BOUND
    )
    assert loop.time() - closed_at < TYPING_STOP_BOUND
    assert stopped["data"]["user"]["id"] == bob.pk
    # Typing is never stored: the room's log did not move.
    response = await HttpClient(daphne_server, token=alice.api_token).get(f"/api/rooms/{room_id}/")
    assert response.json()["last_seq"] == 2
    await watcher.close()


# --- removal ----------------------------------------------------------------------------------
async def test_removal_from_a_private_room_stops_live_events_and_hides_its_history(
    daphne_server: DaphneServer, people: list[Any]
) -> None:
    alice, bob, dave = people[:3]
    room_id = (await db(make_room)(alice, [bob, dave], visibility="private")).pk
    bob_tabs = [await connect(daphne_server, bob), await connect(daphne_server, bob)]
    alice_socket = await connect(daphne_server, alice)
    bob_rest = HttpClient(daphne_server, token=bob.api_token)
    assert (await bob_rest.get(f"/api/rooms/{room_id}/messages/")).status == 200

    dave_rest = HttpClient(daphne_server, token=dave.api_token)
    refused = await dave_rest.delete(f"/api/rooms/{room_id}/members/{bob.pk}/")
    assert refused.status == 403 and refused.json()["error"]["code"] == "forbidden"
    removed = await HttpClient(daphne_server, token=alice.api_token).delete(
        f"/api/rooms/{room_id}/members/{bob.pk}/"
    )
    assert removed.status == 204, removed.text
    for tab in bob_tabs:
        await wait_for_type(tab, room_id, "member.removed")

    secret = "bob is not to know this"
    sent = await ok(alice_socket, "message.send", room=room_id, body=secret, client_msg_id="s1")
    await ok(alice_socket, "reaction.toggle", message=sent["message"]["id"], emoji="🤫")
    await ok(alice_socket, "typing", room=room_id)
    await wait_for_type(alice_socket, room_id, "reaction.added")
    for tab in bob_tabs:
        later = await listen(tab, QUIET_WINDOW)
        assert [e for e in later if e.get("room") == room_id] == []
        assert stream(tab, room_id)[-1]["type"] == "member.removed"
        assert secret not in json.dumps(tab.events)
    for path in (f"/api/rooms/{room_id}/", f"/api/rooms/{room_id}/messages/"):
        response = await bob_rest.get(path)
        assert response.status == 404, (path, response.text)
    for client in (*bob_tabs, alice_socket):
        await client.close()
