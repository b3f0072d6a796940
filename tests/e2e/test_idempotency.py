"""A retried send (same ``client_msg_id``) stores one message, over the socket and over REST."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from rooms.models import Message
from tests.support.servers import DaphneServer

from .conftest import HttpClient, connect, created, db, listen, make_room, send_frame

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]


@pytest.fixture
def pair(transactional_db: Any, make_user: Callable[..., Any]) -> tuple[Any, Any, Any]:
    """Alice (who retries) and Bob (who watches the room) in one room."""
    alice, bob = make_user(), make_user()
    return alice, bob, make_room(alice, [bob])


def stored(author: Any, client_msg_id: str) -> list[int]:
    return list(
        Message.objects.filter(author=author, client_msg_id=client_msg_id).values_list(
            "pk", flat=True
        )
    )


async def test_a_send_retried_on_a_new_socket_stores_one_message(
    daphne_server: DaphneServer, pair: tuple[Any, Any, Any]
) -> None:
    alice, bob, room = pair
    watcher = await connect(daphne_server, bob)
    first_socket = await connect(daphne_server, alice)
    first = await first_socket.request("message.send", **send_frame(room.pk, "hello", "retry-1"))
    await first_socket.close()  # the answer may have been lost: the client retries elsewhere

    second_socket = await connect(daphne_server, alice)
    second = await second_socket.request("message.send", **send_frame(room.pk, "hello", "retry-1"))
    assert first["type"] == second["type"] == "ok", (first, second)
    assert first["data"]["duplicate"] is False
    assert second["data"]["duplicate"] is True
    assert second["data"]["message"]["id"] == first["data"]["message"]["id"]
    assert second["data"]["message"]["seq"] == first["data"]["message"]["seq"]

    conflict = await second_socket.request(
        "message.send", **send_frame(room.pk, "something else", "retry-1")
    )
    assert conflict["type"] == "error"
    assert conflict["error"]["code"] == "conflict"

    assert await db(stored)(alice, "retry-1") == [first["data"]["message"]["id"]]
    history = await HttpClient(daphne_server, token=bob.api_token).get(
        f"/api/rooms/{room.pk}/messages/"
    )
    assert [m["client_msg_id"] for m in history.json()["messages"]] == ["retry-1"]
    await listen(watcher, 0.5)
    assert [e["data"]["message"]["id"] for e in created(watcher, room.pk)] == [
        first["data"]["message"]["id"]
    ]
    await second_socket.close()
    await watcher.close()


async def test_a_rest_send_retried_answers_201_then_200_with_the_same_message(
    daphne_server: DaphneServer, pair: tuple[Any, Any, Any]
) -> None:
    alice, _bob, room = pair
    rest = HttpClient(daphne_server, token=alice.api_token)
    path = f"/api/rooms/{room.pk}/messages/"
    first = await rest.post(path, {"body": "over http", "client_msg_id": "rest-1"})
    second = await rest.post(path, {"body": "over http", "client_msg_id": "rest-1"})
    assert (first.status, second.status) == (201, 200), (first.text, second.text)
    assert first.json()["id"] == second.json()["id"]

    conflict = await rest.post(path, {"body": "changed", "client_msg_id": "rest-1"})
    assert conflict.status == 409, conflict.text
    assert conflict.json()["error"]["code"] == "conflict"

    # The key is the author's, whichever transport retries: a socket retry finds the REST send.
    socket = await connect(daphne_server, alice)
    again = await socket.request("message.send", **send_frame(room.pk, "over http", "rest-1"))
    await socket.close()
    assert again["type"] == "ok", again
    assert again["data"]["duplicate"] is True
    assert again["data"]["message"]["id"] == first.json()["id"]
    assert await db(stored)(alice, "rest-1") == [first.json()["id"]]
