"""Who a new message asks the attention of: mentions, thread replies, direct messages."""

from __future__ import annotations

import re
from typing import Any

from django.contrib.auth import get_user_model

from .. import events
from ..models import Membership, Message, Notification, Room
from .log import publish_unsequenced

# @name where name is a username; not inside e-mail addresses (a letter before the @).
MENTION_PATTERN = re.compile(r"(?<![\w@])@([\w.+-]{1,150})")
ROOM_MENTIONS = frozenset({"room", "all", "channel", "here"})


def find_mentions(body: str, room: Room) -> tuple[list[int], bool]:
    """Return the member ids mentioned by ``@username`` and whether ``@room`` was used."""
    names = {m.rstrip(".") for m in MENTION_PATTERN.findall(body)}
    everyone = bool(names & ROOM_MENTIONS)
    names -= ROOM_MENTIONS
    if not names:
        return [], everyone
    user_ids = get_user_model().objects.filter(username__in=names).values_list("pk", flat=True)
    members = Membership.objects.filter(room=room, user_id__in=list(user_ids))
    return sorted(members.values_list("user_id", flat=True)), everyone


def _recipients(message: Message, room: Room, everyone: bool) -> dict[int, str]:
    """Map person → notification kind; the strongest reason wins (direct > mention > reply)."""
    recipients: dict[int, str] = {}
    root = message.thread_root
    if root is not None:
        repliers = Message.objects.filter(thread_root=root).values_list("author_id", flat=True)
        # Only those still in the room: someone who left or was removed wrote in the thread
        # once, but may no longer see the room, and the notification carries the message.
        still_members = Membership.objects.filter(
            room=room, user_id__in={root.author_id, *repliers}
        ).values_list("user_id", flat=True)
        for user_id in still_members:
            recipients[user_id] = Notification.Kind.REPLY
    mentioned = [uid for uid in message.mentions if isinstance(uid, int)]
    if everyone:
        mentioned += list(Membership.objects.filter(room=room).values_list("user_id", flat=True))
    for user_id in mentioned:
        recipients[user_id] = Notification.Kind.MENTION
    if room.kind == Room.Kind.DIRECT:
        for user_id in Membership.objects.filter(room=room).values_list("user_id", flat=True):
            recipients[user_id] = Notification.Kind.DIRECT
    recipients.pop(message.author_id, None)
    return recipients


def notify_for_message(message: Message, room: Room, *, everyone: bool) -> None:
    """Create notifications for a new message and push each to its person's sockets.

    Call inside the transaction that created the message.
    """
    recipients = _recipients(message, room, everyone)
    if not recipients:
        return
    created = Notification.objects.bulk_create(
        [
            Notification(user_id=user_id, kind=kind, room=room, message=message)
            for user_id, kind in recipients.items()
        ]
    )
    for notification in created:
        notification.message = message
        publish_unsequenced(
            f"user.{notification.user_id}",
            type=events.NOTIFICATION_CREATED,
            data={"notification": events.notification_payload(notification)},
        )


def mention_ids(body: str, room: Room) -> tuple[list[Any], bool]:
    """The value stored in ``Message.mentions``: member ids, plus "room" for @room."""
    ids, everyone = find_mentions(body, room)
    return ([*ids, "room"] if everyone else ids), everyone
