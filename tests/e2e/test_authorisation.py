"""Nobody gets a private room's events or history without access; removal cuts every socket."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from rooms.models import Message
from tests.support.servers import DaphneServer
from tests.support.wsclient import WsClient

from .conftest import (
    HttpClient,
    connect,
    created,
    db,
    listen,
    make_room,
    room_events,
    send_frame,
    wait_for_event,
    wait_for_messages,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]
QUIET_WINDOW = 1.0  # seconds in which a removed person's sockets must stay silent


@dataclass
class Team:
    alice: Any  # owner
    bob: Any  # member, the one removed
    dave: Any  # member who stays
    carol: Any  # never a member
    room: Any  # private


@pytest.fixture
def team(transactional_db: Any, make_user: Callable[..., Any]) -> Team:
    alice, bob, dave, carol = (make_user() for _ in range(4))
    room = make_room(alice, [bob, dave], visibility="private")
    return Team(alice=alice, bob=bob, dave=dave, carol=carol, room=room)


def mentions(client: WsClient, text: str) -> bool:
    return any(text in json.dumps(frame) for frame in client.events)


async def test_a_non_member_cannot_read_subscribe_post_or_overhear_a_private_room(
    daphne_server: DaphneServer, team: Team
) -> None:
    room_id = team.room.pk
    carol_rest = HttpClient(daphne_server, token=team.carol.api_token)
    for path in (f"/api/rooms/{room_id}/", f"/api/rooms/{room_id}/messages/"):
        response = await carol_rest.get(path)
        assert response.status == 404, (path, response.text)
        assert response.json()["error"]["code"] == "not_found"

    carol = await connect(daphne_server, team.carol, positions={f"room.{room_id}": 0})
    bob = await connect(daphne_server, team.bob)
    subscribe = await carol.request("room.subscribe", room=room_id, after_seq=0)
    send = await carol.request("message.send", **send_frame(room_id, "let me in", "carol-1"))
    for answer in (subscribe, send):
        assert answer["type"] == "error", answer
        assert answer["error"]["code"] in {"not_found", "forbidden"}
    assert await db(Message.objects.filter(author=team.carol).count)() == 0

    secret = "the board meets at dawn"
    answer = await bob.request("message.send", **send_frame(room_id, secret, "bob-1"))
    assert answer["type"] == "ok", answer
    await wait_for_messages(bob, room_id, 1)  # published: carol would have had it by now
    await listen(carol, QUIET_WINDOW)
    assert room_events(carol, room_id) == []
    assert not mentions(carol, secret)
    await carol.close()
    await bob.close()


async def remove(how: str, team: Team, server: DaphneServer, bob_socket: WsClient) -> str:
    """Take Bob out of the room; return the event type that announces it."""
    if how == "removed by the owner":
        response = await HttpClient(server, token=team.alice.api_token).delete(
            f"/api/rooms/{team.room.pk}/members/{team.bob.pk}/"
        )
        assert response.status == 204, response.text
        return "member.removed"
    answer = await bob_socket.request("room.leave", room=team.room.pk)
    assert answer["type"] == "ok", answer
    return "member.left"


async def assert_removal_cuts_every_socket(
    how: str, team: Team, *, bob_server: DaphneServer, owner_server: DaphneServer
) -> None:
    """Bob has two sockets; after his removal neither gets anything more from the room."""
    room_id = team.room.pk
    bob_sockets = [await connect(bob_server, team.bob) for _ in range(2)]
    dave = await connect(bob_server, team.dave)
    event_type = await remove(how, team, owner_server, bob_sockets[0])
    # Right after the removal, a message Bob must never see.
    secret = f"after bob's exit ({how})"
    response = await HttpClient(owner_server, token=team.alice.api_token).post(
        f"/api/rooms/{room_id}/messages/", {"body": secret, "client_msg_id": "after-exit"}
    )
    assert response.status == 201, response.text

    [message] = await wait_for_messages(dave, room_id, 1)
    assert message["data"]["message"]["body"] == secret
    assert [e["type"] for e in room_events(dave, room_id)] == [event_type, "message.created"]
    for socket in bob_sockets:
        removal = await wait_for_event(socket, lambda e: e["type"] == event_type)
        assert removal["data"]["user"]["id"] == team.bob.pk
        await listen(socket, QUIET_WINDOW)
        assert room_events(socket, room_id) == [removal], room_events(socket, room_id)
        assert created(socket, room_id) == []
        assert not mentions(socket, secret)
    for socket in [*bob_sockets, dave]:
        await socket.close()
    await assert_return_replays_nothing(
        team, bob_server, before_removal=removal["seq"] - 1, secret=secret
    )


async def assert_return_replays_nothing(
    team: Team, server: DaphneServer, *, before_removal: int, secret: str
) -> None:
    """Bob comes back with a position from before his removal: nothing of the room replays."""
    room_id = team.room.pk
    topic = f"room.{room_id}"
    returning = await WsClient.connect(server.ws_url, token=team.bob.api_token)
    answer = await returning.request("resume", positions={topic: before_removal})
    assert answer["type"] == "ok", answer
    assert answer["data"]["ignored"] == [topic]
    watch = await returning.request("room.subscribe", room=room_id, after_seq=before_removal)
    assert watch["type"] == "error", watch
    assert watch["error"]["code"] == "not_found"
    await listen(returning, QUIET_WINDOW / 2)
    assert room_events(returning, room_id) == []
    assert not mentions(returning, secret)
    await returning.close()


@pytest.mark.parametrize("how", ["removed by the owner", "left"])
async def test_removal_stops_the_rooms_events_on_every_socket_at_once(
    daphne_server: DaphneServer, team: Team, how: str
) -> None:
    await assert_removal_cuts_every_socket(
        how, team, bob_server=daphne_server, owner_server=daphne_server
    )


@pytest.mark.redis
async def test_removal_on_one_server_cuts_sockets_on_another(
    daphne_factory: Callable[..., DaphneServer], team: Team
) -> None:
    server_a, server_b = daphne_factory(), daphne_factory()
    await assert_removal_cuts_every_socket(
        "removed by the owner", team, bob_server=server_b, owner_server=server_a
    )
