"""Who may do what in a room: the one place both REST and websocket ask."""

from __future__ import annotations

from .models import Membership, Room

MANAGER_ROLES = frozenset({Membership.Role.OWNER, Membership.Role.ADMIN})


def can_read(room: Room, membership: Membership | None) -> bool:
    """Public rooms are open to every signed-in person; private ones to members only."""
    return membership is not None or room.visibility == Room.Visibility.PUBLIC


def can_join(room: Room, membership: Membership | None) -> bool:
    """Anyone may join a public, active room; private rooms are by invitation."""
    return (
        membership is None
        and room.kind == Room.Kind.ROOM
        and room.visibility == Room.Visibility.PUBLIC
        and room.archived_at is None
    )


def can_post(room: Room, membership: Membership | None) -> bool:
    """Only members post, and nobody posts in an archived room."""
    return membership is not None and room.archived_at is None


def can_manage_members(room: Room, membership: Membership | None) -> bool:
    """Owners and admins add and remove members; direct chats keep their people."""
    return (
        room.kind == Room.Kind.ROOM and membership is not None and membership.role in MANAGER_ROLES
    )


def can_administer(room: Room, membership: Membership | None) -> bool:
    """Owners and admins rename, set the topic, pin and archive (never in direct chats)."""
    return (
        room.kind == Room.Kind.ROOM and membership is not None and membership.role in MANAGER_ROLES
    )


def can_pin(room: Room, membership: Membership | None) -> bool:
    """Owners and admins pin and unpin, except in an archived room, which is read-only."""
    return can_administer(room, membership) and room.archived_at is None


def can_invite(room: Room, membership: Membership | None) -> bool:
    """Any member may invite others to a room, as in Slack; direct chats have fixed people."""
    return room.kind == Room.Kind.ROOM and membership is not None and room.archived_at is None


def can_change_roles(room: Room, membership: Membership | None) -> bool:
    """Only owners appoint admins and owners."""
    return (
        room.kind == Room.Kind.ROOM
        and membership is not None
        and membership.role == Membership.Role.OWNER
    )


def shows_read_receipts(room: Room, member_count: int) -> bool:
    """Show "seen by" in direct chats and in rooms of up to 50 members."""
    return room.kind == Room.Kind.DIRECT or member_count <= 50
