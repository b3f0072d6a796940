"""Reads with authorisation built in.  "Missing" and "not yours" raise the same NotFound."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from chatserver.errors import NotFound
from chatserver.realtime.registry import LogSlice

from . import permissions
from .models import (
    ChatPreferences,
    Invitation,
    Membership,
    Message,
    Notification,
    Reaction,
    Room,
    RoomEvent,
)


@dataclass(frozen=True, slots=True)
class RoomAccess:
    room: Room
    membership: Membership | None


def access_room(user: Any, room_id: int, *, lock: bool = False) -> RoomAccess:
    """Return the room and the person's membership, or raise NotFound if they may not see it.

    One query for a member (the usual case): the membership joined to its room.  With
    ``lock`` (inside ``transaction.atomic``, before writing to the room's log) that same query
    also locks the room's row, so a send, edit or reaction costs one round trip to authorise
    and lock instead of three (docs/performance.md).
    """
    memberships = Membership.objects.select_related("room")
    rooms = Room.objects.all()
    if lock:
        memberships = memberships.select_for_update(of=("room",))
        rooms = rooms.select_for_update()
    # room__pk, not room_id: a lookup on the room's own key finds nothing for an id past 64
    # bits (straight from a URL) instead of failing in the database driver.
    membership = memberships.filter(room__pk=room_id, user=user).first()
    if membership is not None:
        return RoomAccess(room=membership.room, membership=membership)
    room = rooms.filter(pk=room_id).first()
    if room is None or not permissions.can_read(room, None):
        raise NotFound()
    return RoomAccess(room=room, membership=None)


def member_room_ids(user: Any) -> list[int]:
    """Ids of every room the person is a member of."""
    return list(Membership.objects.filter(user=user).values_list("room_id", flat=True))


def member_room_heads(user: Any, room_ids: list[int]) -> dict[int, int]:
    """The latest sequence number of each of ``room_ids`` the person is a member of (one query)."""
    return dict(
        Membership.objects.filter(user=user, room_id__in=room_ids).values_list(
            "room_id", "room__last_seq"
        )
    )


def rooms_for_user(
    user: Any, *, include_archived: bool = False, kind: str | None = Room.Kind.ROOM
) -> QuerySet[Room]:
    """Rooms the person sees in the room list, with membership and unread facts attached."""
    mine = Membership.objects.filter(room=OuterRef("pk"), user=user)
    # Filter through a subquery, not a join: Count("memberships") below would reuse a
    # filtering join and count only the person's own row in private rooms.
    rooms = Room.objects.filter(Q(visibility=Room.Visibility.PUBLIC) | Q(Exists(mine)))
    if kind is not None:
        rooms = rooms.filter(kind=kind)
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
            Message.objects.filter(
                room_id=room_id, seq__gt=last_read, deleted_at__isnull=True, thread_root=None
            )
            .exclude(author=user)
            .count()
        )
    return counts


def room_members(room: Room) -> QuerySet[Membership]:
    return Membership.objects.filter(room=room).select_related("user").order_by("user__username")


def message_history(
    room: Room,
    *,
    before: int | None,
    after: int | None,
    limit: int,
    thread: int | None = None,
    include_replies: bool = False,
) -> list[Message]:
    """A page of messages in sequence order: the newest ``limit`` before ``before``, or the
    oldest ``limit`` after ``after``.

    The room's main view leaves thread replies out; ``thread`` gives one thread (its replies);
    ``include_replies`` gives everything (what a resyncing client needs).
    """
    messages = Message.objects.filter(room=room).select_related("author")
    if thread is not None:
        messages = messages.filter(thread_root_id=thread)
    elif not include_replies:
        messages = messages.filter(thread_root__isnull=True)
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
    # One query for a member (the usual case), a second only for a watcher of a public room.
    membership = Membership.objects.select_related("room").filter(room_id=key, user=user).first()
    room = membership.room if membership else Room.objects.filter(pk=key).first()
    if room is None or not permissions.can_read(room, membership):
        return None
    latest = room.last_seq
    if after_seq is None or after_seq >= latest:
        return LogSlice(frames=[], latest_seq=latest)
    if latest - after_seq > limit:
        return LogSlice(frames=[], latest_seq=latest, too_far_behind=True)
    rows = RoomEvent.objects.filter(room=room, seq__gt=after_seq).order_by("seq")
    frames = list(rows.values_list("seq", "frame")[:limit])
    # A member reads the whole log; a watcher of a public room too: both may read the room.
    return LogSlice(frames=frames, latest_seq=latest)


def reaction_summaries(messages: list[Message]) -> dict[int, list[dict[str, Any]]]:
    """Reactions of many messages in one query: {message id: [{emoji, count, users}]}."""
    grouped: dict[int, dict[str, list[int]]] = {}
    rows = (
        Reaction.objects.filter(message__in=[m.pk for m in messages])
        .order_by("created_at", "pk")
        .values_list("message_id", "emoji", "user_id")
    )
    for message_id, emoji, user_id in rows:
        grouped.setdefault(message_id, {}).setdefault(emoji, []).append(user_id)
    return {
        message_id: [{"emoji": e, "count": len(ids), "users": ids} for e, ids in by_emoji.items()]
        for message_id, by_emoji in grouped.items()
    }


def direct_conversations(user: Any) -> list[Room]:
    """The person's direct conversations, most recently active first, with participants."""
    rooms = list(
        Room.objects.filter(kind=Room.Kind.DIRECT, memberships__user=user)
        .prefetch_related("memberships__user")
        .order_by("-last_seq", "-pk")
    )
    for room in rooms:
        room.participants = sorted(  # type: ignore[attr-defined]
            (m.user for m in room.memberships.all()), key=lambda u: u.pk
        )
        room.latest_message = (  # type: ignore[attr-defined]
            Message.objects.filter(room=room, deleted_at__isnull=True)
            .select_related("author")
            .order_by("-seq")
            .first()
        )
    rooms.sort(
        key=lambda r: r.latest_message.created_at if r.latest_message else r.created_at,  # type: ignore[attr-defined]
        reverse=True,
    )
    return rooms


def room_participants(room: Room) -> list[Any]:
    return [m.user for m in room_members(room)]


def notifications_for_user(
    user: Any, *, unread_only: bool = False, limit: int = 50
) -> list[Notification]:
    """The person's mentions, replies and direct messages they may still see, newest first."""
    rows = Notification.objects.filter(
        user=user, room__memberships__user=user, message__deleted_at__isnull=True
    ).select_related("message__author", "room")
    if unread_only:
        rows = rows.filter(read_at__isnull=True)
    return list(rows.order_by("-created_at", "-pk")[:limit])


def unread_notification_count(user: Any) -> int:
    return Notification.objects.filter(
        user=user, read_at__isnull=True, room__memberships__user=user
    ).count()


def pinned_messages(room: Room) -> list[Message]:
    return list(
        Message.objects.filter(room=room, pinned_at__isnull=False, deleted_at__isnull=True)
        .select_related("author")
        .order_by("-pinned_at")
    )


def read_receipts(room: Room) -> list[Membership] | None:
    """Members' read positions for "seen by", or None where the room is too big to show it."""
    members = list(room_members(room))
    if not permissions.shows_read_receipts(room, len(members)):
        return None
    hidden = set(
        ChatPreferences.objects.filter(
            user__in=[m.user_id for m in members], share_read_receipts=False
        ).values_list("user_id", flat=True)
    )
    return [m for m in members if m.user_id not in hidden]


def pending_invitations(user: Any) -> list[Invitation]:
    return list(
        Invitation.objects.filter(invitee=user, status=Invitation.Status.PENDING)
        .select_related("room", "inviter", "invitee")
        .order_by("-created_at")
    )


def search_people(query: str, *, limit: int = 20) -> list[Any]:
    """Active people whose username or name starts with ``query`` (mention autocomplete)."""
    from django.contrib.auth import get_user_model

    people = get_user_model().objects.filter(is_active=True)
    query = query.strip()
    if query:
        people = people.filter(
            Q(username__istartswith=query)
            | Q(first_name__istartswith=query)
            | Q(last_name__istartswith=query)
        )
    return list(people.order_by("username")[:limit])
