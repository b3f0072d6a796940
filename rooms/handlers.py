"""Websocket frames of the rooms app: parse, call the action, answer.  Nothing else."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async
from django.conf import settings

from chatserver.realtime.registry import register_connect_hook, register_handler, register_stream
from chatserver.realtime.schema import Field, FrameSchema

from . import actions, events, selectors

if TYPE_CHECKING:
    from chatserver.realtime.consumer import Gateway

ROOM_ID = Field(int, min_value=1, max_value=2**53)
SEQ = Field(int, min_value=0, max_value=2**53)


async def on_connect(conn: Gateway) -> None:
    """Subscribe a new socket to every room the person is a member of, and to ``everyone``."""
    room_ids = await database_sync_to_async(selectors.member_room_ids)(conn.user)
    await conn.subscribe_topic("everyone")
    for room_id in room_ids:
        await conn.subscribe_stream(f"room.{room_id}")


async def handle_send(conn: Gateway, frame: dict[str, Any]) -> dict[str, Any]:
    result = await database_sync_to_async(actions.do_send_message)(
        conn.user, room_id=frame["room"], body=frame["body"], client_msg_id=frame["client_msg_id"]
    )
    return {"message": events.message_payload(result.message), "duplicate": not result.created}


async def handle_subscribe(conn: Gateway, frame: dict[str, Any]) -> dict[str, Any]:
    """Watch a room one may read (e.g. a public room before joining), from ``after_seq``."""
    access = await database_sync_to_async(selectors.access_room)(conn.user, frame["room"])
    topic = access.room.topic_name
    await conn.subscribe_stream(topic, after_seq=frame.get("after_seq", access.room.last_seq))
    return {"room": access.room.pk, "position": conn.cursors.get(topic)}


async def handle_unsubscribe(conn: Gateway, frame: dict[str, Any]) -> dict[str, Any]:
    await conn.unsubscribe(f"room.{frame['room']}")
    return {"room": frame["room"]}


async def handle_read(conn: Gateway, frame: dict[str, Any]) -> dict[str, Any]:
    seq = await database_sync_to_async(actions.do_mark_read)(
        conn.user, room_id=frame["room"], seq=frame["seq"]
    )
    return {"room": frame["room"], "seq": seq}


async def handle_join(conn: Gateway, frame: dict[str, Any]) -> dict[str, Any]:
    membership = await database_sync_to_async(actions.do_join_room)(
        conn.user, room_id=frame["room"]
    )
    return {"room": membership.room_id, "role": membership.role}


async def handle_leave(conn: Gateway, frame: dict[str, Any]) -> dict[str, Any]:
    await database_sync_to_async(actions.do_leave_room)(conn.user, room_id=frame["room"])
    return {"room": frame["room"]}


async def read_log(user: Any, key: str, after_seq: int | None, limit: int) -> Any:
    return await database_sync_to_async(selectors.read_room_log)(user, key, after_seq, limit)


def register() -> None:
    """Plug the rooms frames, connect hook and room streams into the gateway."""
    max_body = settings.COMMUNIS["MAX_MESSAGE_LENGTH"]
    register_connect_hook(on_connect)
    register_stream("room", read_log)
    register_handler(
        "message.send",
        handle_send,
        FrameSchema(
            {
                "room": ROOM_ID,
                "body": Field(str, max_length=max_body),
                "client_msg_id": Field(str, max_length=64),
            }
        ),
    )
    register_handler(
        "room.subscribe",
        handle_subscribe,
        FrameSchema({"room": ROOM_ID, "after_seq": Field(int, required=False, min_value=0)}),
    )
    register_handler("room.unsubscribe", handle_unsubscribe, FrameSchema({"room": ROOM_ID}))
    register_handler("room.read", handle_read, FrameSchema({"room": ROOM_ID, "seq": SEQ}))
    register_handler("room.join", handle_join, FrameSchema({"room": ROOM_ID}))
    register_handler("room.leave", handle_leave, FrameSchema({"room": ROOM_ID}))
