"""Resume after a dropped socket: the missed events replayed exactly, or a resync past the bound."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.servers import DaphneServer
from tests.support.wsclient import WsClient

from .conftest import (
    HttpClient,
    connect,
    created,
    listen,
    make_room,
    room_events,
    send_frame,
    wait_for_event,
    wait_for_messages,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]


@pytest.fixture
def pair(transactional_db: Any, make_user: Callable[..., Any]) -> tuple[Any, Any, Any]:
    """Alice (who will drop her socket) and Bob (who keeps talking) in one room."""
    alice, bob = make_user(), make_user()
    return alice, bob, make_room(alice, [bob])


async def send_many(client: WsClient, room_id: int, prefix: str, count: int) -> list[int]:
    """Send ``count`` messages one after another; return their sequence numbers."""
    seqs = []
    for n in range(count):
        answer = await client.request(
            "message.send", **send_frame(room_id, f"{prefix} {n}", f"{prefix}-{n}")
        )
        assert answer["type"] == "ok", answer
        seqs.append(answer["data"]["message"]["seq"])
    return seqs


async def drop_after_seeing_some(
    server: DaphneServer, alice: Any, bob_socket: WsClient, room_id: int
) -> int:
    """Connect Alice, let her see a few messages, drop her socket; return her last seq."""
    alice_socket = await connect(server, alice)
    await send_many(bob_socket, room_id, "before", 3)
    await wait_for_messages(alice_socket, room_id, 3)
    last_seq = room_events(alice_socket, room_id)[-1]["seq"]
    await alice_socket.close()
    return last_seq


async def test_resume_replays_exactly_the_missed_messages_in_order_then_goes_live(
    daphne_server: DaphneServer, pair: tuple[Any, Any, Any]
) -> None:
    alice, bob, room = pair
    topic = f"room.{room.pk}"
    bob_socket = await connect(daphne_server, bob)
    last_seq = await drop_after_seeing_some(daphne_server, alice, bob_socket, room.pk)
    missed = await send_many(bob_socket, room.pk, "missed", 20)
    assert missed == list(range(last_seq + 1, last_seq + 21))

    alice_socket = await WsClient.connect(daphne_server.ws_url, token=alice.api_token)
    answer = await alice_socket.request("resume", positions={topic: last_seq})
    assert answer["type"] == "ok", answer
    assert answer["data"]["positions"][topic] == last_seq + 20
    replayed = await wait_for_messages(alice_socket, room.pk, 20)
    assert [e["seq"] for e in replayed] == missed
    assert [e["data"]["message"]["body"] for e in replayed] == [f"missed {n}" for n in range(20)]

    live = await send_many(bob_socket, room.pk, "live", 1)
    await wait_for_messages(alice_socket, room.pk, 21)
    await listen(alice_socket, 0.5)
    assert [e["seq"] for e in room_events(alice_socket, room.pk)] == [*missed, *live]
    await alice_socket.close()
    await bob_socket.close()


async def test_resume_past_the_replay_bound_asks_for_a_resync_and_rest_fills_the_gap(
    daphne_factory: Callable[..., DaphneServer], pair: tuple[Any, Any, Any]
) -> None:
    server = daphne_factory(extra_env={"COMMUNIS_REPLAY_LIMIT": "10"})
    alice, bob, room = pair
    topic = f"room.{room.pk}"
    bob_socket = await connect(server, bob)
    last_seq = await drop_after_seeing_some(server, alice, bob_socket, room.pk)
    missed = await send_many(bob_socket, room.pk, "missed", 15)

    alice_socket = await WsClient.connect(server.ws_url, token=alice.api_token)
    answer = await alice_socket.request("resume", positions={topic: last_seq})
    assert answer["type"] == "ok", answer
    resync = await wait_for_event(alice_socket, lambda e: e["type"] == "resync.required")
    assert resync["room"] == room.pk
    assert resync["data"]["after_seq"] == last_seq
    assert resync["data"]["latest_seq"] == missed[-1]
    assert created(alice_socket, room.pk) == []  # nothing replayed over the socket

    # The client fills the gap from the database, page by page.
    rest = HttpClient(server, token=alice.api_token)
    fetched: list[dict[str, Any]] = []
    after, has_more = resync["data"]["after_seq"], True
    while has_more:
        page = await rest.get(f"/api/rooms/{room.pk}/messages/?after={after}&limit=4")
        assert page.status == 200, page.text
        body = page.json()
        assert body["messages"], body
        fetched += body["messages"]
        after, has_more = body["messages"][-1]["seq"], body["has_more"]
    assert [m["seq"] for m in fetched] == missed
    assert [m["body"] for m in fetched] == [f"missed {n}" for n in range(15)]

    # The stream goes on live from the latest position.
    live = await send_many(bob_socket, room.pk, "live", 1)
    messages = await wait_for_messages(alice_socket, room.pk, 1)
    await listen(alice_socket, 0.5)
    assert [e["seq"] for e in created(alice_socket, room.pk)] == live
    assert messages[0]["data"]["message"]["body"] == "live 0"
    await alice_socket.close()
    await bob_socket.close()


async def resume_while_busy(
    sender_server: DaphneServer, reader_server: DaphneServer, pair: tuple[Any, Any, Any]
) -> None:
    """Alice resumes while Bob keeps sending: replay and live events merge with no gap or repeat."""
    alice, bob, room = pair
    topic = f"room.{room.pk}"
    bob_socket = await connect(sender_server, bob)
    last_seq = await drop_after_seeing_some(reader_server, alice, bob_socket, room.pk)

    some_missed = asyncio.Event()

    async def keep_sending() -> list[int]:
        seqs = await send_many(bob_socket, room.pk, "busy", 20)
        some_missed.set()
        return seqs + await send_many(bob_socket, room.pk, "busier", 40)

    sending = asyncio.create_task(keep_sending())
    await asyncio.wait_for(some_missed.wait(), timeout=30)
    alice_socket = await WsClient.connect(reader_server.ws_url, token=alice.api_token)
    answer = await alice_socket.request("resume", positions={topic: last_seq})
    assert answer["type"] == "ok", answer
    sent = await sending
    await alice_socket.events_until(
        lambda _e: any(e["seq"] == sent[-1] for e in room_events(alice_socket, room.pk)),
        timeout=30,
    )
    await listen(alice_socket, 0.5)
    assert [e["seq"] for e in room_events(alice_socket, room.pk)] == sent
    await alice_socket.close()
    await bob_socket.close()


async def test_resume_while_the_room_is_busy_merges_replay_and_live_exactly_once(
    daphne_server: DaphneServer, pair: tuple[Any, Any, Any]
) -> None:
    await resume_while_busy(daphne_server, daphne_server, pair)


@pytest.mark.redis
async def test_resume_on_another_server_while_the_room_is_busy(
    daphne_factory: Callable[..., DaphneServer], pair: tuple[Any, Any, Any]
) -> None:
    await resume_while_busy(daphne_factory(), daphne_factory(), pair)
