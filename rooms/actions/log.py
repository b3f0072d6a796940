"""The room log: sequence numbers, stored frames and publishing, shared by every room action."""

from __future__ import annotations

import json
from typing import Any

from chatserver.errors import NotFound
from chatserver.realtime.envelope import Event, build_event, encode
from chatserver.realtime.publish import publish_event_on_commit, send_control_on_commit

from ..models import Message, Room, RoomEvent


def locked_room(room_id: int) -> Room:
    """Return the room with its row locked for the rest of the transaction."""
    room = Room.objects.select_for_update().filter(pk=room_id).first()
    if room is None:
        raise NotFound()
    return room


def append_to_log(
    room: Room,
    *,
    type: str,
    data: dict[str, Any],
    message: Message | None = None,
    revoke_user_ids: tuple[int, ...] = (),
) -> Event:
    """Give the next sequence number to an event, store it in the log, publish on commit.

    Call inside ``transaction.atomic`` holding the room's lock (``locked_room``, or
    ``access_room(..., lock=True)``).
    """
    room.last_seq += 1
    room.save(update_fields=["last_seq"])
    event = build_event(
        topic=room.topic_name,
        type=type,
        data=data,
        room_id=room.pk,
        seq=room.last_seq,
        revoke_user_ids=revoke_user_ids,
    )
    RoomEvent.objects.create(
        room=room, seq=room.last_seq, type=type, frame=event.frame, message=message
    )
    publish_event_on_commit(event)
    return event


def publish_unsequenced(
    topic: str, *, type: str, data: dict[str, Any], room_id: int | None = None
) -> None:
    """Publish an ephemeral or personal event (no sequence, not in any room log)."""
    publish_event_on_commit(build_event(topic=topic, type=type, data=data, room_id=room_id))


def subscribe_on_commit(user_id: int, room: Room, *, after_seq: int) -> None:
    """Start the person's live sockets on the room's stream after ``after_seq``."""
    send_control_on_commit(
        user_id, {"type": "control.subscribe", "topic": room.topic_name, "after_seq": after_seq}
    )


def unsubscribe_on_commit(user_id: int, room: Room) -> None:
    """Stop the person's live sockets receiving the room's stream."""
    send_control_on_commit(user_id, {"type": "control.unsubscribe", "topic": room.topic_name})


def scrub_message_frames(message: Message, tombstone: dict[str, Any]) -> None:
    """Replace a deleted message's text in every stored frame that carried it.

    Reconnecting clients replay the log; without this they would briefly see the deleted
    text again before the ``message.deleted`` event.
    """
    for row in RoomEvent.objects.filter(message=message).only("pk", "frame"):
        payload = json.loads(row.frame)
        if isinstance(payload.get("data"), dict) and "message" in payload["data"]:
            payload["data"]["message"] = tombstone
            RoomEvent.objects.filter(pk=row.pk).update(frame=encode(payload))
