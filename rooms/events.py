"""The events the rooms app publishes, and the payloads they carry (see docs/protocol.md).

Room stream (sequenced, in the room log, replayed on resume):
``message.created`` {message, thread?}, ``message.edited`` {message}, ``message.deleted``
{message}, ``message.pinned`` / ``message.unpinned`` {message_id, by}, ``reaction.added`` /
``reaction.removed`` {message_id, emoji, user, reactions}, ``member.joined`` {user, role},
``member.left`` {user}, ``member.removed`` {user, by}, ``member.role_changed`` {user, role, by},
``room.updated`` {room, by}.

Room topic, not sequenced (ephemeral): ``typing.started`` / ``typing.stopped`` {room, user},
``receipt.updated`` {room, user, seq}.

Personal (``user.<id>``): ``room.read`` {room, seq}, ``notification.created`` {notification},
``notification.read`` {ids}, ``invitation.created`` / ``invitation.updated`` {invitation},
``room.created`` {room} (also on ``everyone`` for public rooms).
"""

from __future__ import annotations

from typing import Any

from chatserver.api import user_summary

from .models import Invitation, Message, Notification, Room

MESSAGE_CREATED = "message.created"
MESSAGE_EDITED = "message.edited"
MESSAGE_DELETED = "message.deleted"
MESSAGE_PINNED = "message.pinned"
MESSAGE_UNPINNED = "message.unpinned"
REACTION_ADDED = "reaction.added"
REACTION_REMOVED = "reaction.removed"
MEMBER_JOINED = "member.joined"
MEMBER_LEFT = "member.left"
MEMBER_REMOVED = "member.removed"
MEMBER_ROLE_CHANGED = "member.role_changed"
ROOM_CREATED = "room.created"
ROOM_UPDATED = "room.updated"
ROOM_READ = "room.read"
TYPING_STARTED = "typing.started"
TYPING_STOPPED = "typing.stopped"
RECEIPT_UPDATED = "receipt.updated"
NOTIFICATION_CREATED = "notification.created"
NOTIFICATION_READ = "notification.read"
INVITATION_CREATED = "invitation.created"
INVITATION_UPDATED = "invitation.updated"


def reaction_summary(message: Message) -> list[dict[str, Any]]:
    """Reactions grouped by emoji, in first-use order: [{emoji, count, users}]."""
    grouped: dict[str, list[int]] = {}
    for emoji, user_id in message.reactions.order_by("created_at", "pk").values_list(
        "emoji", "user_id"
    ):
        grouped.setdefault(emoji, []).append(user_id)
    return [{"emoji": e, "count": len(ids), "users": ids} for e, ids in grouped.items()]


def message_payload(
    message: Message, *, reactions: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The public form of a message, shared by events and REST."""
    deleted = message.deleted_at is not None
    return {
        "id": message.pk,
        "room": message.room_id,
        "seq": message.seq,
        "author": user_summary(message.author),
        "client_msg_id": message.client_msg_id,
        "body": "" if deleted else message.body,
        "html": "" if deleted else message.body_html,
        "created_at": message.created_at,
        "edited_at": message.edited_at,
        "deleted": deleted,
        "thread_root": message.thread_root_id,
        "reply_count": message.reply_count,
        "last_reply_at": message.last_reply_at,
        "pinned": message.pinned_at is not None,
        "mentions": [] if deleted else message.mentions,
        "reactions": [] if deleted else (reactions if reactions is not None else []),
    }


def room_payload(room: Room, *, participants: list[Any] | None = None) -> dict[str, Any]:
    payload = {
        "id": room.pk,
        "kind": room.kind,
        "name": room.name,
        "topic": room.topic,
        "visibility": room.visibility,
        "archived": room.archived_at is not None,
        "last_seq": room.last_seq,
    }
    if participants is not None:
        payload["participants"] = [user_summary(p) for p in participants]
    return payload


def notification_payload(notification: Notification) -> dict[str, Any]:
    message = notification.message
    return {
        "id": notification.pk,
        "kind": notification.kind,
        "room": notification.room_id,
        "message": message_payload(message),
        "created_at": notification.created_at,
        "read": notification.read_at is not None,
    }


def invitation_payload(invitation: Invitation) -> dict[str, Any]:
    return {
        "id": invitation.pk,
        "room": room_payload(invitation.room),
        "inviter": user_summary(invitation.inviter),
        "invitee": user_summary(invitation.invitee),
        "status": invitation.status,
        "created_at": invitation.created_at,
    }
