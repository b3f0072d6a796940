"""The events the rooms app publishes, and the payloads they carry (see docs/protocol.md).

``message.created``  room stream   data: {"message": Message}
``member.joined``    room stream   data: {"user": User, "role": str}
``member.left``      room stream   data: {"user": User}
``member.removed``   room stream   data: {"user": User, "by": User}
``room.created``     everyone / creator   data: {"room": Room}
``room.read``        user.<id>     data: {"room": id, "seq": int}   (other tabs clear badges)
"""

from __future__ import annotations

from typing import Any

from chatserver.api import user_summary

from .models import Message, Room

MESSAGE_CREATED = "message.created"
MEMBER_JOINED = "member.joined"
MEMBER_LEFT = "member.left"
MEMBER_REMOVED = "member.removed"
ROOM_CREATED = "room.created"
ROOM_READ = "room.read"


def message_payload(message: Message) -> dict[str, Any]:
    """The public form of a message, shared by events and REST."""
    return {
        "id": message.pk,
        "room": message.room_id,
        "seq": message.seq,
        "author": user_summary(message.author),
        "client_msg_id": message.client_msg_id,
        "body": message.body,
        "html": message.body_html,
        "created_at": message.created_at,
        "edited_at": message.edited_at,
        "deleted": message.deleted_at is not None,
    }


def room_payload(room: Room) -> dict[str, Any]:
    return {
        "id": room.pk,
        "name": room.name,
        "topic": room.topic,
        "visibility": room.visibility,
        "archived": room.archived_at is not None,
        "last_seq": room.last_seq,
    }
