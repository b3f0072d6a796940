"""Joining a room starts its stream on the person's live sockets at once, each event once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.support.servers import DaphneServer
from tests.support.wsclient import WsClient

from .conftest import (
    HttpClient,
    connect,
    db,
    listen,
    make_room,
    room_events,
    wait_for_messages,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]


@pytest.fixture
def people(transactional_db: Any, make_user: Callable[..., Any]) -> tuple[Any, Any]:
    """Alice (who owns rooms) and Bob (not yet in any)."""
    return make_user(), make_user()


async def post_message(server: DaphneServer, author: Any, room_id: int, body: str) -> int:
    response = await HttpClient(server, token=author.api_token).post(
        f"/api/rooms/{room_id}/messages/", {"body": body, "client_msg_id": body.replace(" ", "-")}
    )
    assert response.status == 201, response.text
    return response.json()["seq"]


def stream(client: WsClient, room_id: int) -> list[tuple[int, str]]:
    return [(e["seq"], e["type"]) for e in room_events(client, room_id)]


async def test_a_person_added_to_a_private_room_gets_its_events_on_every_socket(
    daphne_server: DaphneServer, people: tuple[Any, Any]
) -> None:
    alice, bob = people
    room = await db(make_room)(alice, [], visibility="private")
    sockets = [await connect(daphne_server, bob) for _ in range(2)]
    response = await HttpClient(daphne_server, token=alice.api_token).post(
        f"/api/rooms/{room.pk}/members/", {"user_id": bob.pk}
    )
    assert response.status == 201, response.text
    joined = room.last_seq + 1
    message = await post_message(daphne_server, alice, room.pk, "welcome bob")
    for socket in sockets:
        await wait_for_messages(socket, room.pk, 1)
        await listen(socket, 0.5)
        assert stream(socket, room.pk) == [(joined, "member.joined"), (message, "message.created")]
        await socket.close()


async def test_a_watcher_who_joins_gets_each_event_once(
    daphne_server: DaphneServer, people: tuple[Any, Any]
) -> None:
    """Watching a public room, then joining it, must not replay what the socket already had."""
    alice, bob = people
    room = await db(make_room)(alice, [], visibility="public")
    socket = await connect(daphne_server, bob)
    watch = await socket.request("room.subscribe", room=room.pk)
    assert watch["type"] == "ok", watch
    before = await post_message(daphne_server, alice, room.pk, "while watching")
    await wait_for_messages(socket, room.pk, 1)

    join = await socket.request("room.join", room=room.pk)
    assert join["type"] == "ok", join
    after = await post_message(daphne_server, alice, room.pk, "after joining")
    await wait_for_messages(socket, room.pk, 2)
    await listen(socket, 0.5)
    assert stream(socket, room.pk) == [
        (before, "message.created"),
        (before + 1, "member.joined"),
        (after, "message.created"),
    ]
    await socket.close()
