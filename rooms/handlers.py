"""Websocket frames of the rooms app: parse, call the action, answer.  Nothing else."""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async
from django.conf import settings

from chatserver.realtime.registry import (
    register_connect_hook,
    register_disconnect_hook,
    register_handler,
    register_stream,
)
from chatserver.realtime.schema import Field, FrameSchema

from . import actions, events, selectors

if TYPE_CHECKING:
    from chatserver.realtime.consumer import Gateway

ROOM_ID = Field(int, min_value=1, max_value=2**53)
SEQ = Field(int, min_value=0, max_value=2**53)
MESSAGE_ID = Field(int, min_value=1, max_value=2**53)
TYPING_THROTTLE = 3.0  # seconds between relayed "typing" signals per room and socket
TYPING_EXPIRY = 6.0  # clients drop a "typing" they have not heard again within this


async def on_connect(conn: Gateway) -> None:
    """Subscribe a new socket to every room the person is a member of, and to ``everyone``."""
    conn.typing_in = {}
    room_ids = await database_sync_to_async(selectors.member_room_ids)(conn.user)
    await conn.subscribe_topic("everyone")
    for room_id in room_ids:
        await conn.subscribe_stream(f"room.{room_id}")
    if room_ids:
        # Read after subscribing, so every later event is held for the stream: ``resume`` can
        # then start these streams (or confirm a position at the head) with no further query.
        heads = await database_sync_to_async(selectors.member_room_heads)(conn.user, room_ids)
        for room_id, last_seq in heads.items():
            conn.stream_heads[f"room.{room_id}"] = last_seq


async def handle_send(conn: Gateway, frame: dict[str, Any]) -> dict[str, Any]:
    result = await database_sync_to_async(actions.do_send_message)(
        conn.user,
        room_id=frame["room"],
        body=frame["body"],
        client_msg_id=frame["client_msg_id"],
        thread=frame.get("thread"),
    )
    if result.created:
        conn.typing_in.pop(frame["room"], None)  # the message itself ends "typing…"
    return {"message": events.message_payload(result.message), "duplicate": not result.created}


async def handle_edit(conn: Gateway, frame: dict[str, Any]) -> dict[str, Any]:
    message = await database_sync_to_async(actions.do_edit_message)(
        conn.user, message_id=frame["message"], body=frame["body"]
    )
    return {"message": {"id": message.pk, "edited_at": message.edited_at}}


async def handle_delete(conn: Gateway, frame: dict[str, Any]) -> dict[str, Any]:
    message = await database_sync_to_async(actions.do_delete_message)(
        conn.user, message_id=frame["message"]
    )
    return {"message": {"id": message.pk, "deleted": True}}


async def handle_react(conn: Gateway, frame: dict[str, Any]) -> dict[str, Any]:
    added = await database_sync_to_async(actions.do_toggle_reaction)(
        conn.user, message_id=frame["message"], emoji=frame["emoji"]
    )
    return {"message": frame["message"], "emoji": frame["emoji"], "added": added}


async def handle_pin(conn: Gateway, frame: dict[str, Any]) -> dict[str, Any]:
    message = await database_sync_to_async(actions.do_pin_message)(
        conn.user, message_id=frame["message"], pinned=frame["pinned"]
    )
    return {"message": message.pk, "pinned": message.pinned_at is not None}


async def handle_typing(conn: Gateway, frame: dict[str, Any]) -> dict[str, Any]:
    """Relay "typing", at most once per TYPING_THROTTLE seconds per room and socket."""
    room_id, active = frame["room"], frame.get("active", True)
    now = time.monotonic()
    last = conn.typing_in.get(room_id)
    if active and last is not None and now - last < TYPING_THROTTLE:
        return {"room": room_id, "relayed": False}
    if not active and last is None:
        return {"room": room_id, "relayed": False}
    await database_sync_to_async(actions.do_signal_typing)(
        conn.user, room_id=room_id, active=active
    )
    if active:
        conn.typing_in[room_id] = now
    else:
        conn.typing_in.pop(room_id, None)
    return {"room": room_id, "relayed": True}


async def on_disconnect(conn: Gateway) -> None:
    """A closed socket stops typing at once rather than waiting for clients to time out."""
    typing_in = getattr(conn, "typing_in", {})
    recent = [r for r, t in typing_in.items() if time.monotonic() - t < TYPING_EXPIRY]
    typing_in.clear()
    for room_id in recent:
        with contextlib.suppress(Exception):
            await database_sync_to_async(actions.do_signal_typing)(
                conn.user, room_id=room_id, active=False
            )


async def handle_notifications_read(conn: Gateway, frame: dict[str, Any]) -> dict[str, Any]:
    ids = await database_sync_to_async(actions.do_mark_notifications_read)(
        conn.user, ids=frame.get("ids")
    )
    return {"ids": ids}


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
    register_disconnect_hook(on_disconnect)
    register_stream("room", read_log)
    register_handler(
        "message.send",
        handle_send,
        FrameSchema(
            {
                "room": ROOM_ID,
                "body": Field(str, max_length=max_body),
                "client_msg_id": Field(str, max_length=64),
                "thread": Field(int, required=False, min_value=1, max_value=2**53),
            }
        ),
    )
    register_handler(
        "message.edit",
        handle_edit,
        FrameSchema({"message": MESSAGE_ID, "body": Field(str, max_length=max_body)}),
    )
    register_handler("message.delete", handle_delete, FrameSchema({"message": MESSAGE_ID}))
    register_handler(
        "message.pin", handle_pin, FrameSchema({"message": MESSAGE_ID, "pinned": Field(bool)})
    )
    register_handler(
        "reaction.toggle",
        handle_react,
        FrameSchema({"message": MESSAGE_ID, "emoji": Field(str, max_length=32)}),
    )
    register_handler(
        "typing",
        handle_typing,
        FrameSchema({"room": ROOM_ID, "active": Field(bool, required=False)}),
    )
    register_handler(
        "notification.read",
        handle_notifications_read,
        FrameSchema({"ids": Field(list, required=False, max_length=500, item_kind=int)}),
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
