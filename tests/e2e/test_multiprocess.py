"""Two daphne processes sharing one Redis: what one receives reaches clients of the other."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.servers import DaphneServer
from tests.support.wsclient import WsClient

from .conftest import HttpClient, connect, created, listen, make_room, room_events, send_frame

pytestmark = [pytest.mark.e2e, pytest.mark.redis, pytest.mark.timeout(120)]


@pytest.fixture
def trio(transactional_db: Any, make_user: Callable[..., Any]) -> tuple[Any, Any, Any, Any]:
    """Alice, Bob and Carol in one room."""
    alice, bob, carol = make_user(), make_user(), make_user()
    return alice, bob, carol, make_room(alice, [bob, carol])


async def test_messages_sent_through_one_server_reach_the_other_in_order(
    daphne_factory: Callable[..., DaphneServer], trio: tuple[Any, Any, Any, Any]
) -> None:
    alice, bob, _carol, room = trio
    server_a, server_b = daphne_factory(), daphne_factory()
    on_a = await connect(server_a, alice)
    on_b = await connect(server_b, bob)

    sent = []
    for n in range(30):
        answer = await on_a.request("message.send", **send_frame(room.pk, f"a {n}", f"a-{n}"))
        assert answer["type"] == "ok", answer
        sent.append(answer["data"]["message"])
    await on_b.events_until(lambda _e: len(created(on_b, room.pk)) >= 30, timeout=30)

    # And back the other way, while A's client is still reading its own echoes.
    answer = await on_b.request("message.send", **send_frame(room.pk, "b 0", "b-0"))
    assert answer["type"] == "ok", answer
    sent.append(answer["data"]["message"])
    for client in (on_a, on_b):
        await client.events_until(lambda _e, c=client: len(created(c, room.pk)) >= 31, timeout=15)
        await listen(client, 0.5)
        assert [e["data"]["message"]["id"] for e in created(client, room.pk)] == [
            m["id"] for m in sent
        ]
        seqs = [e["seq"] for e in room_events(client, room.pk)]
        assert seqs == list(range(seqs[0], seqs[0] + 31))
    await on_a.close()
    await on_b.close()


async def test_a_rest_send_to_one_server_reaches_a_socket_on_the_other(
    daphne_factory: Callable[..., DaphneServer], trio: tuple[Any, Any, Any, Any]
) -> None:
    alice, bob, _carol, room = trio
    server_a, server_b = daphne_factory(), daphne_factory()
    on_b = await connect(server_b, bob)
    response = await HttpClient(server_a, token=alice.api_token).post(
        f"/api/rooms/{room.pk}/messages/", {"body": "via REST on A", "client_msg_id": "rest-a"}
    )
    assert response.status == 201, response.text
    await on_b.events_until(lambda _e: len(created(on_b, room.pk)) >= 1, timeout=15)
    [event] = created(on_b, room.pk)
    assert event["data"]["message"]["id"] == response.json()["id"]
    assert event["seq"] == response.json()["seq"]
    await on_b.close()


async def test_concurrent_senders_on_both_servers_give_every_reader_one_contiguous_stream(
    daphne_factory: Callable[..., DaphneServer], trio: tuple[Any, Any, Any, Any]
) -> None:
    """Commits on two processes race to Redis; each socket still delivers in sequence order."""
    alice, bob, carol, room = trio
    server_a, server_b = daphne_factory(), daphne_factory()
    sender_a, sender_b = await connect(server_a, alice), await connect(server_b, bob)
    readers = [await connect(server_a, carol), await connect(server_b, carol)]

    async def send_all(client: WsClient, prefix: str) -> None:
        for n in range(30):
            answer = await client.request(
                "message.send", **send_frame(room.pk, f"{prefix} {n}", f"{prefix}-{n}")
            )
            assert answer["type"] == "ok", answer
        await client.events_until(lambda _e: len(created(client, room.pk)) >= 60, timeout=30)

    async def read_all(client: WsClient) -> None:
        await client.events_until(lambda _e: len(created(client, room.pk)) >= 60, timeout=30)

    await asyncio.gather(
        send_all(sender_a, "a"), send_all(sender_b, "b"), *(read_all(r) for r in readers)
    )
    clients = [sender_a, sender_b, *readers]
    await asyncio.gather(*(listen(client, 0.5) for client in clients))
    first = room.last_seq + 1
    for client in clients:
        assert [e["seq"] for e in room_events(client, room.pk)] == list(range(first, first + 60))
        bodies = [e["data"]["message"]["body"] for e in created(client, room.pk)]
        for prefix in ("a", "b"):
            assert [b for b in bodies if b.startswith(prefix)] == [
                f"{prefix} {n}" for n in range(30)
            ]
        await client.close()
