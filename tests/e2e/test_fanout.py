"""Fan-out through a real daphne process: every member gets every message once, in order."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.servers import DaphneServer
from tests.support.wsclient import WsClient

from .conftest import connect, created, listen, make_room, room_events, send_frame

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

CLIENTS = 50
SENDERS = 5
PER_SENDER = 40
TOTAL = SENDERS * PER_SENDER


@pytest.fixture
def crowd(transactional_db: Any, make_user: Callable[..., Any]) -> tuple[Any, list[Any]]:
    """A public room with 50 members."""
    users = [make_user() for _ in range(CLIENTS)]
    return make_room(users[0], users[1:]), users


async def test_fifty_clients_get_all_concurrent_messages_once_in_contiguous_order(
    daphne_server: DaphneServer, crowd: tuple[Any, list[Any]]
) -> None:
    room, users = crowd
    start = room.last_seq
    positions = {f"room.{room.pk}": start}
    clients = await asyncio.gather(*(connect(daphne_server, u, positions=positions) for u in users))
    acknowledged: list[dict[str, Any]] = []

    async def send_all(sender: WsClient, index: int) -> None:
        for n in range(PER_SENDER):
            frame = send_frame(room.pk, f"sender {index} message {n}", f"s{index}-m{n}")
            answer = await sender.request("message.send", timeout=30, **frame)
            assert answer["type"] == "ok", answer
            acknowledged.append(answer["data"]["message"])
        await receive_all(sender)  # one reader per socket: the sender reads after sending

    async def receive_all(client: WsClient) -> None:
        await client.events_until(lambda _e: len(created(client, room.pk)) >= TOTAL, timeout=45)

    try:
        await asyncio.gather(
            *(send_all(client, i) for i, client in enumerate(clients[:SENDERS])),
            *(receive_all(client) for client in clients[SENDERS:]),
        )
        # A duplicate or a stray late event would show up in this window.
        await asyncio.gather(*(listen(client, 0.5) for client in clients))
    finally:
        await asyncio.gather(*(client.close() for client in clients))

    acknowledged_ids = {m["id"] for m in acknowledged}
    assert len(acknowledged_ids) == TOTAL
    expected_seqs = list(range(start + 1, start + TOTAL + 1))
    assert sorted(m["seq"] for m in acknowledged) == expected_seqs
    for client in clients:
        messages = created(client, room.pk)
        assert len(messages) == TOTAL, f"{client.hello['data']['user']}: {len(messages)} messages"
        assert [e["seq"] for e in messages] == expected_seqs
        assert {e["data"]["message"]["id"] for e in messages} == acknowledged_ids
        # Nothing else happened in the room: the whole stream is exactly the messages.
        assert [e["seq"] for e in room_events(client, room.pk)] == expected_seqs
    # Each sender's own messages arrive in the order it sent them.
    bodies = [e["data"]["message"]["body"] for e in created(clients[-1], room.pk)]
    for index in range(SENDERS):
        mine = [b for b in bodies if b.startswith(f"sender {index} ")]
        assert mine == [f"sender {index} message {n}" for n in range(PER_SENDER)]
