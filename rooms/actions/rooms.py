"""Rooms and membership: create, join, add, leave, remove, roles, rename, archive, invitations."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from chatserver.api import user_summary
from chatserver.errors import Conflict, Forbidden, InvalidInput, NotFound
from chatserver.rendering import is_blank

from .. import events, permissions
from ..models import Invitation, Membership, Room
from ..selectors import access_room
from .log import (
    append_to_log,
    locked_room,
    publish_unsequenced,
    subscribe_on_commit,
    unsubscribe_on_commit,
)


def check_room_fields(*, name: str, topic: str, visibility: str) -> tuple[str, str]:
    """Return the cleaned name and topic, or raise InvalidInput."""
    limits = settings.COMMUNIS
    name, topic = name.strip(), topic.strip()
    if is_blank(name):
        raise InvalidInput(_("A room needs a name."), extra={"field": "name"})
    if len(name) > limits["MAX_ROOM_NAME"]:
        raise InvalidInput(_("The room name is too long."), extra={"field": "name"})
    if len(topic) > limits["MAX_ROOM_TOPIC"]:
        raise InvalidInput(_("The topic is too long."), extra={"field": "topic"})
    if visibility not in Room.Visibility.values:
        raise InvalidInput(
            _("Visibility must be public or private."), extra={"field": "visibility"}
        )
    return name, topic


def do_create_room(creator: Any, *, name: str, topic: str = "", visibility: str = "public") -> Room:
    """Create a room with ``creator`` as its owner."""
    name, topic = check_room_fields(name=name, topic=topic, visibility=visibility)
    with transaction.atomic():
        room = Room.objects.create(
            name=name, topic=topic, visibility=visibility, created_by=creator
        )
        add_member(room, creator, role=Membership.Role.OWNER)
        audience = "everyone" if visibility == Room.Visibility.PUBLIC else f"user.{creator.pk}"
        publish_unsequenced(
            audience, type=events.ROOM_CREATED, data={"room": events.room_payload(room)}
        )
    return room


def add_member(room: Room, user: Any, *, role: str = Membership.Role.MEMBER) -> Membership:
    """Add ``user`` to ``room`` (locked or new) and start their live streams from the join."""
    membership = Membership.objects.create(room=room, user=user, role=role)
    joined = append_to_log(
        room, type=events.MEMBER_JOINED, data={"user": user_summary(user), "role": role}
    )
    subscribe_on_commit(user.pk, room, after_seq=joined.seq - 1)  # type: ignore[operator]
    return membership


def do_join_room(user: Any, *, room_id: int) -> Membership:
    """Join a public room."""
    with transaction.atomic():
        access = access_room(user, room_id, lock=True)
        room = access.room
        if access.membership is not None:
            return access.membership
        if room.archived_at is not None:
            raise Forbidden(_("This room is archived."))
        if not permissions.can_join(room, None):
            raise Forbidden(_("This room is by invitation only."))
        try:
            with transaction.atomic():
                return add_member(room, user)
        except IntegrityError:
            return Membership.objects.get(room=room, user=user)


def do_add_member(actor: Any, *, room_id: int, user: Any) -> Membership:
    """Add someone to a room; owners and admins only."""
    with transaction.atomic():
        access = access_room(actor, room_id, lock=True)
        room = access.room
        if not permissions.can_manage_members(room, access.membership):
            raise Forbidden(_("Only the room's owners and admins can add members."))
        if not user.is_active:
            raise InvalidInput(_("That person's account is not active."))
        existing = Membership.objects.filter(room=room, user=user).first()
        if existing is not None:
            return existing
        if room.archived_at is not None:
            raise Forbidden(_("This room is archived."))  # read-only: nobody new joins
        return add_member(room, user)


def end_membership(room: Room, membership: Membership, *, type: str, data: dict[str, Any]) -> None:
    """Delete a membership and cut the person's live streams in the same breath.

    The revocation rides in the room's own ordered stream, so no socket of theirs can get an
    event of the room after the one that removed them; the control message tidies up sockets
    that had not yet seen it.  Pending invitations of the person lapse with it.
    """
    user_id = membership.user_id
    membership.delete()
    # An invitation sent before they were added would otherwise let them straight back in.
    Invitation.objects.filter(
        room=room, invitee_id=user_id, status=Invitation.Status.PENDING
    ).update(status=Invitation.Status.CANCELLED, responded_at=timezone.now())
    append_to_log(room, type=type, data=data, revoke_user_ids=(user_id,))
    unsubscribe_on_commit(user_id, room)


def _other_owner_exists(room: Room, user_id: int) -> bool:
    return (
        Membership.objects.filter(room=room, role=Membership.Role.OWNER)
        .exclude(user_id=user_id)
        .exists()
    )


def do_leave_room(user: Any, *, room_id: int) -> None:
    """Leave a room (not a direct conversation; not as its last owner)."""
    with transaction.atomic():
        access = access_room(user, room_id, lock=True)
        room = access.room
        membership = Membership.objects.filter(room=room, user=user).first()
        if membership is None:
            raise InvalidInput(_("You are not a member of this room."))
        if room.kind == Room.Kind.DIRECT:
            raise InvalidInput(_("Direct conversations cannot be left."))
        others = Membership.objects.filter(room=room).exclude(pk=membership.pk)
        if (
            membership.role == Membership.Role.OWNER
            and others.exists()
            and not _other_owner_exists(room, user.pk)
        ):
            raise InvalidInput(_("Make someone else an owner before you leave."))
        end_membership(room, membership, type=events.MEMBER_LEFT, data={"user": user_summary(user)})


def do_remove_member(actor: Any, *, room_id: int, user_id: int) -> None:
    """Remove someone from a room; owners and admins only, and never an owner by an admin."""
    with transaction.atomic():
        access = access_room(actor, room_id, lock=True)
        room = access.room
        if not permissions.can_manage_members(room, access.membership):
            raise Forbidden(_("Only the room's owners and admins can remove members."))
        # ``user__pk``, not ``user_id``: only the former gets Django's out-of-range check, so
        # an id from the URL past 64 bits finds nothing instead of crashing SQLite.
        membership = (
            Membership.objects.filter(room=room, user__pk=user_id).select_related("user").first()
        )
        if membership is None:
            raise NotFound(_("That person is not a member of this room."))
        actor_role = access.membership.role  # type: ignore[union-attr]
        if membership.role == Membership.Role.OWNER and actor_role != Membership.Role.OWNER:
            raise Forbidden(_("Only an owner can remove an owner."))
        if membership.user_id == actor.pk and not _other_owner_exists(room, actor.pk):
            raise InvalidInput(_("Make someone else an owner before you leave."))
        end_membership(
            room,
            membership,
            type=events.MEMBER_REMOVED,
            data={"user": user_summary(membership.user), "by": user_summary(actor)},
        )


def do_set_member_role(actor: Any, *, room_id: int, user_id: int, role: str) -> Membership:
    """Make someone owner, admin or member; owners only, and a room keeps one owner."""
    if role not in Membership.Role.values:
        raise InvalidInput(_("Role must be owner, admin or member."), extra={"field": "role"})
    with transaction.atomic():
        access = access_room(actor, room_id, lock=True)
        room = access.room
        if not permissions.can_change_roles(room, access.membership):
            raise Forbidden(_("Only the room's owners can change roles."))
        membership = (
            Membership.objects.filter(room=room, user__pk=user_id).select_related("user").first()
        )
        if membership is None:
            raise NotFound(_("That person is not a member of this room."))
        if membership.role == role:
            return membership
        if membership.role == Membership.Role.OWNER and not _other_owner_exists(room, user_id):
            raise InvalidInput(_("A room needs at least one owner."))
        membership.role = role
        membership.save(update_fields=["role"])
        append_to_log(
            room,
            type=events.MEMBER_ROLE_CHANGED,
            data={"user": user_summary(membership.user), "role": role, "by": user_summary(actor)},
        )
        return membership


def do_update_room(
    actor: Any,
    *,
    room_id: int,
    name: str | None = None,
    topic: str | None = None,
    archived: bool | None = None,
) -> Room:
    """Rename, set the topic of, archive or unarchive a room; owners and admins only."""
    with transaction.atomic():
        access = access_room(actor, room_id, lock=True)
        room = access.room
        if not permissions.can_administer(room, access.membership):
            raise Forbidden(_("Only the room's owners and admins can change the room."))
        new_name, new_topic = check_room_fields(
            name=room.name if name is None else name,
            topic=room.topic if topic is None else topic,
            visibility=room.visibility,
        )
        changed = new_name != room.name or new_topic != room.topic
        room.name, room.topic = new_name, new_topic
        if archived is not None and archived != (room.archived_at is not None):
            room.archived_at = timezone.now() if archived else None
            changed = True
        if changed:
            room.save(update_fields=["name", "topic", "archived_at"])
            append_to_log(
                room,
                type=events.ROOM_UPDATED,
                data={"room": events.room_payload(room), "by": user_summary(actor)},
            )
        return room


# --- invitations --------------------------------------------------------------------------
def do_invite(actor: Any, *, room_id: int, invitee: Any) -> Invitation:
    """Invite someone to a room; they join only when they accept."""
    with transaction.atomic():
        access = access_room(actor, room_id, lock=True)
        room = access.room
        if not permissions.can_invite(room, access.membership):
            raise Forbidden(_("Only members can invite people to this room."))
        if not invitee.is_active:
            raise InvalidInput(_("That person's account is not active."))
        if Membership.objects.filter(room=room, user=invitee).exists():
            raise Conflict(_("That person is already a member."))
        if Invitation.objects.filter(
            room=room, invitee=invitee, status=Invitation.Status.PENDING
        ).exists():
            raise Conflict(_("That person has already been invited."))
        invitation = Invitation.objects.create(room=room, invitee=invitee, inviter=actor)
        publish_unsequenced(
            f"user.{invitee.pk}",
            type=events.INVITATION_CREATED,
            data={"invitation": events.invitation_payload(invitation)},
        )
        return invitation


def do_respond_to_invitation(user: Any, *, invitation_id: int, accept: bool) -> Invitation:
    """Accept (join the room) or decline an invitation addressed to you."""
    with transaction.atomic():
        invitation = (
            Invitation.objects.select_for_update()
            .filter(pk=invitation_id, invitee=user)
            .select_related("room", "inviter", "invitee")
            .first()
        )
        if invitation is None:
            raise NotFound()
        if invitation.status != Invitation.Status.PENDING:
            raise Conflict(_("This invitation has already been answered."))
        room = locked_room(invitation.room_id)
        invitation.status = Invitation.Status.ACCEPTED if accept else Invitation.Status.DECLINED
        invitation.responded_at = timezone.now()
        invitation.save(update_fields=["status", "responded_at"])
        if accept and room.archived_at is not None:
            raise InvalidInput(_("This room is archived."))
        if accept and not Membership.objects.filter(room=room, user=user).exists():
            add_member(room, user)
        payload = {"invitation": events.invitation_payload(invitation)}
        for user_id in {user.pk, invitation.inviter_id}:
            publish_unsequenced(f"user.{user_id}", type=events.INVITATION_UPDATED, data=payload)
        return invitation
