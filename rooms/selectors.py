"""Reads with authorisation built in.  "Missing" and "not yours" raise the same NotFound."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from chatserver.errors import NotFound
from chatserver.realtime.registry import LogSlice

from . import permissions
from .models import Membership, Message, Room, RoomEvent


@dataclass(frozen=True, slots=True)
class RoomAccess:
    room: Room
    membership: Membership | None


def access_room(user: Any, room_id: int) -> RoomAccess:
    """Return the room and the person's membership, or raise NotFound if they may not see it."""
    room = Room.objects.filter(pk=room_id).first()
    if room is None:
        raise NotFound()
    membership = Membership.objects.filter(room=room, user=user).first()
    if not permissions.can_read(room, membership):
        raise NotFound()
    return RoomAccess(room=room, membership=membership)


def member_room_ids(user: Any) -> list[int]:
    """Ids of every room the person is a member of."""
    return list(Membership.objects.filter(user=user).values_list("room_id", flat=True))


def rooms_for_user(user: Any, *, include_archived: bool = False) -> QuerySet[Room]:
    """Rooms the person sees in the room list, with membership and unread facts attached."""
    mine = Membership.objects.filter(room=OuterRef("pk"), user=user)
    # Filter through a subquery, not a join: Count("memberships") below would reuse a
    # filtering join and count only the person's own row in private rooms.
    rooms = Room.objects.filter(Q(visibility=Room.Visibility.PUBLIC) | Q(Exists(mine)))
    if not include_archived:
        rooms = rooms.filter(archived_at__isnull=True)
    return (
        rooms.distinct()
        .annotate(
            is_member=Exists(mine),
            member_count=Count("memberships", distinct=True),
        )
        .order_by("name")
    )


def unread_counts(user: Any, room_ids: list[int]) -> dict[int, int]:
    """Messages by others after the person's read position, per room."""
    positions = dict(
        Membership.objects.filter(user=user, room_id__in=room_ids).values_list(
            "room_id", "last_read_seq"
        )
    )
    counts: dict[int, int] = {}
    for room_id, last_read in positions.items():
        counts[room_id] = (
            Message.objects.filter(room_id=room_id, seq__gt=last_read, deleted_at__isnull=True)
            .exclude(author=user)
            .count()
        )
    return counts


def room_members(room: Room) -> QuerySet[Membership]:
    return Membership.objects.filter(room=room).select_related("user").order_by("user__username")


def message_history(
    room: Room, *, before: int | None, after: int | None, limit: int
) -> list[Message]:
    """A page of messages in sequence order: the newest ``limit`` before ``before``, or the
    oldest ``limit`` after ``after``."""
    messages = Message.objects.filter(room=room).select_related("author")
    if after is not None:
        page = list(messages.filter(seq__gt=after).order_by("seq")[:limit])
    else:
        if before is not None:
            messages = messages.filter(seq__lt=before)
        page = list(messages.order_by("-seq")[:limit])
        page.reverse()
    return page


def read_room_log(user: Any, key: str, after_seq: int | None, limit: int) -> LogSlice | None:
    """The stream reader the gateway uses for resume and gap repair of ``room.<key>``."""
    if not key.isdigit():
        return None
    try:
        access = access_room(user, int(key))
    except NotFound:
        return None
    latest = access.room.last_seq
    if after_seq is None or after_seq >= latest:
        return LogSlice(frames=[], latest_seq=latest)
    if latest - after_seq > limit:
        return LogSlice(frames=[], latest_seq=latest, too_far_behind=True)
    rows = RoomEvent.objects.filter(room=access.room, seq__gt=after_seq).order_by("seq")
    frames = list(rows.values_list("seq", "frame")[:limit])
    # A member reads the whole log; a watcher of a public room too: both may read the room.
    return LogSlice(frames=frames, latest_seq=latest)
