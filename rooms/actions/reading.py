"""Read state, read receipts, notifications read, typing signals and chat preferences."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _

from chatserver.api import user_summary
from chatserver.errors import InvalidInput

from .. import events, permissions
from ..models import ChatPreferences, Membership, Notification, storable_keys
from ..selectors import access_room
from .log import publish_unsequenced

MAX_NOTIFICATION_IDS = 500


def shares_read_receipts(user: Any) -> bool:
    prefs = ChatPreferences.objects.filter(user=user).first()
    return prefs is None or prefs.share_read_receipts


def _mark_room_notifications_read(user: Any, room_id: int, seq: int) -> list[int]:
    unread = Notification.objects.filter(
        user=user, room_id=room_id, read_at__isnull=True, message__seq__lte=seq
    )
    ids = list(unread.values_list("pk", flat=True))
    if ids:
        Notification.objects.filter(pk__in=ids).update(read_at=timezone.now())
    return ids


def do_mark_read(user: Any, *, room_id: int, seq: int) -> int:
    """Move the person's read position forward (never back) and tell their other tabs.

    Notifications up to that point are read too; in small rooms and direct chats the others
    see the new position as a read receipt, unless the person chose not to share it.
    """
    with transaction.atomic():
        access = access_room(user, room_id)
        if access.membership is None:
            raise InvalidInput(_("You are not a member of this room."))
        seq = max(0, min(seq, access.room.last_seq))
        updated = Membership.objects.filter(pk=access.membership.pk, last_read_seq__lt=seq).update(
            last_read_seq=seq
        )
        if not updated:
            return max(seq, access.membership.last_read_seq)
        read_ids = _mark_room_notifications_read(user, room_id, seq)
        publish_unsequenced(
            f"user.{user.pk}", type=events.ROOM_READ, data={"room": room_id, "seq": seq}
        )
        if read_ids:
            publish_unsequenced(
                f"user.{user.pk}", type=events.NOTIFICATION_READ, data={"ids": read_ids}
            )
        member_count = Membership.objects.filter(room=access.room).count()
        if permissions.shows_read_receipts(access.room, member_count) and shares_read_receipts(
            user
        ):
            _publish_receipt(access.room, user, seq)
        return seq


def do_mark_notifications_read(user: Any, *, ids: list[int] | None = None) -> list[int]:
    """Mark some (or, with ``ids=None``, all) of the person's notifications read."""
    if ids is not None and len(ids) > MAX_NOTIFICATION_IDS:
        raise InvalidInput(
            _("At most %(max)s notifications at a time.") % {"max": MAX_NOTIFICATION_IDS}
        )
    with transaction.atomic():
        unread = Notification.objects.filter(user=user, read_at__isnull=True)
        if ids is not None:
            unread = unread.filter(pk__in=storable_keys(ids))
        read_ids = list(unread.values_list("pk", flat=True))
        if read_ids:
            Notification.objects.filter(pk__in=read_ids).update(read_at=timezone.now())
            publish_unsequenced(
                f"user.{user.pk}", type=events.NOTIFICATION_READ, data={"ids": read_ids}
            )
        return read_ids


def do_signal_typing(user: Any, *, room_id: int, active: bool) -> None:
    """Tell a room's members that the person started or stopped typing (never stored)."""
    access = access_room(user, room_id)
    if not permissions.can_post(access.room, access.membership):
        raise InvalidInput(_("You are not a member of this room."))
    publish_unsequenced(
        access.room.topic_name,
        type=events.TYPING_STARTED if active else events.TYPING_STOPPED,
        data={"room": room_id, "user": user_summary(user)},
        room_id=room_id,
    )


def do_set_chat_preferences(user: Any, *, share_read_receipts: bool) -> ChatPreferences:
    """Choose whether others see when you have read their messages.

    Turning it off withdraws the person's "Seen by" from every open screen at once; turning it
    on shows their current positions again.
    """
    with transaction.atomic():
        shared_before = shares_read_receipts(user)
        prefs, _created = ChatPreferences.objects.update_or_create(
            user=user, defaults={"share_read_receipts": share_read_receipts}
        )
        if shared_before != share_read_receipts:
            _announce_receipts(user, shared=share_read_receipts)
    return prefs


def _announce_receipts(user: Any, *, shared: bool) -> None:
    """Publish the person's read position (or its withdrawal, ``seq: null``) where it shows."""
    memberships = (
        Membership.objects.filter(user=user)
        .select_related("room")
        .annotate(member_count=Count("room__memberships"))
    )
    for membership in memberships:
        if not permissions.shows_read_receipts(membership.room, membership.member_count):
            continue
        _publish_receipt(membership.room, user, membership.last_read_seq if shared else None)


def _publish_receipt(room: Any, user: Any, seq: int | None) -> None:
    """Tell the room where the person has read to ("Seen by"); ``None`` withdraws it."""
    publish_unsequenced(
        room.topic_name,
        type=events.RECEIPT_UPDATED,
        data={"room": room.pk, "user": user_summary(user), "seq": seq},
        room_id=room.pk,
    )
