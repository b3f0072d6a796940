"""Every change to rooms goes through here: ``check_*`` authorises and validates, ``do_*`` writes
and publishes one event on commit.

Sequence numbers are handed out while holding a row lock on the room (``select_for_update``;
SQLite serialises writers with ``BEGIN IMMEDIATE``), so a room's log is gap-free and strictly
increasing, and publishing on commit happens in commit order within a process.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from chatserver.api import user_summary
from chatserver.errors import Conflict, Forbidden, InvalidInput, NotFound
from chatserver.realtime.envelope import Event, build_event
from chatserver.realtime.publish import publish_event_on_commit, send_control_on_commit
from chatserver.rendering import RENDER_VERSION, ContentTooLong, render_markdown

from . import events, permissions
from .models import Membership, Message, Room, RoomEvent
from .selectors import access_room

CLIENT_MSG_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


@dataclass(frozen=True, slots=True)
class SendResult:
    message: Message
    created: bool  # False: a retry of an earlier send, answered with the original


def _append_to_log(
    room: Room, *, type: str, data: dict[str, Any], revoke_user_ids: tuple[int, ...] = ()
) -> Event:
    """Give the next sequence number to an event, store it in the log, publish on commit.

    Call inside ``transaction.atomic`` holding ``select_for_update`` on ``room``.
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
    RoomEvent.objects.create(room=room, seq=room.last_seq, type=type, frame=event.frame)
    publish_event_on_commit(event)
    return event


def _locked_room(room_id: int) -> Room:
    room = Room.objects.select_for_update().filter(pk=room_id).first()
    if room is None:
        raise NotFound()
    return room


# --- rooms ------------------------------------------------------------------------------------
def check_room_fields(*, name: str, topic: str, visibility: str) -> tuple[str, str]:
    """Return the cleaned name and topic, or raise InvalidInput."""
    limits = settings.COMMUNIS
    name, topic = name.strip(), topic.strip()
    if not name:
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
        Membership.objects.create(room=room, user=creator, role=Membership.Role.OWNER)
        joined = _append_to_log(
            room,
            type=events.MEMBER_JOINED,
            data={"user": user_summary(creator), "role": Membership.Role.OWNER},
        )
        audience = "everyone" if visibility == Room.Visibility.PUBLIC else f"user.{creator.pk}"
        publish_event_on_commit(
            build_event(
                topic=audience, type=events.ROOM_CREATED, data={"room": events.room_payload(room)}
            )
        )
        send_control_on_commit(
            creator.pk,
            {"type": "control.subscribe", "topic": room.topic_name, "after_seq": joined.seq - 1},
        )
    return room


def _add_member(room: Room, user: Any, *, role: str = Membership.Role.MEMBER) -> Membership:
    """Add ``user`` to ``room`` (locked by the caller) and start their live streams."""
    membership = Membership.objects.create(room=room, user=user, role=role)
    joined = _append_to_log(
        room, type=events.MEMBER_JOINED, data={"user": user_summary(user), "role": role}
    )
    send_control_on_commit(
        user.pk,
        {"type": "control.subscribe", "topic": room.topic_name, "after_seq": joined.seq - 1},
    )
    return membership


def do_join_room(user: Any, *, room_id: int) -> Membership:
    """Join a public room."""
    with transaction.atomic():
        access = access_room(user, room_id)
        room = _locked_room(access.room.pk)
        if access.membership is not None:
            return access.membership
        if not permissions.can_join(room, None):
            raise Forbidden(_("This room is by invitation only."))
        try:
            with transaction.atomic():
                return _add_member(room, user)
        except IntegrityError:
            return Membership.objects.get(room=room, user=user)


def do_add_member(actor: Any, *, room_id: int, user: Any) -> Membership:
    """Add someone to a room; owners and admins only."""
    with transaction.atomic():
        access = access_room(actor, room_id)
        room = _locked_room(access.room.pk)
        if not permissions.can_manage_members(room, access.membership):
            raise Forbidden(_("Only the room's owners and admins can add members."))
        if not user.is_active:
            raise InvalidInput(_("That person's account is not active."))
        existing = Membership.objects.filter(room=room, user=user).first()
        if existing is not None:
            return existing
        return _add_member(room, user)


def _end_membership(room: Room, membership: Membership, *, type: str, data: dict[str, Any]) -> None:
    """Delete a membership and cut the person's live streams in the same breath.

    The revocation rides in the room's own ordered stream, so no socket of theirs can get an
    event of the room after the one that removed them; the control message tidies up sockets
    that had not yet seen it.
    """
    user_id = membership.user_id
    membership.delete()
    _append_to_log(room, type=type, data=data, revoke_user_ids=(user_id,))
    send_control_on_commit(user_id, {"type": "control.unsubscribe", "topic": room.topic_name})


def do_leave_room(user: Any, *, room_id: int) -> None:
    """Leave a room."""
    with transaction.atomic():
        access = access_room(user, room_id)
        room = _locked_room(access.room.pk)
        membership = Membership.objects.filter(room=room, user=user).first()
        if membership is None:
            raise InvalidInput(_("You are not a member of this room."))
        _end_membership(
            room, membership, type=events.MEMBER_LEFT, data={"user": user_summary(user)}
        )


def do_remove_member(actor: Any, *, room_id: int, user_id: int) -> None:
    """Remove someone from a room; owners and admins only, and never an owner."""
    with transaction.atomic():
        access = access_room(actor, room_id)
        room = _locked_room(access.room.pk)
        if not permissions.can_manage_members(room, access.membership):
            raise Forbidden(_("Only the room's owners and admins can remove members."))
        # ``user__pk``, not ``user_id``: only the former gets Django's out-of-range check, so
        # an id from the URL past 64 bits finds nothing instead of crashing SQLite.
        membership = (
            Membership.objects.filter(room=room, user__pk=user_id).select_related("user").first()
        )
        if membership is None:
            raise NotFound(_("That person is not a member of this room."))
        if (
            membership.role == Membership.Role.OWNER
            and access.membership.role != Membership.Role.OWNER
        ):  # type: ignore[union-attr]
            raise Forbidden(_("Only an owner can remove an owner."))
        _end_membership(
            room,
            membership,
            type=events.MEMBER_REMOVED,
            data={"user": user_summary(membership.user), "by": user_summary(actor)},
        )


# --- messages ---------------------------------------------------------------------------------
def check_send_message(*, body: str, client_msg_id: str) -> str:
    """Validate a message and return its sanitised HTML (rendered once, here)."""
    if not CLIENT_MSG_ID_PATTERN.match(client_msg_id or ""):
        raise InvalidInput(
            _("client_msg_id must be 1 to 64 letters, digits or . _ : -"),
            extra={"field": "client_msg_id"},
        )
    if not body.strip():
        raise InvalidInput(_("A message cannot be empty."), extra={"field": "body"})
    try:
        return render_markdown(body, max_length=settings.COMMUNIS["MAX_MESSAGE_LENGTH"])
    except ContentTooLong as error:
        raise InvalidInput(
            _("The message is too long (at most %(max)s characters).")
            % {"max": settings.COMMUNIS["MAX_MESSAGE_LENGTH"]},
            extra={"field": "body"},
        ) from error


def _original_send(
    author: Any, *, room_id: int, body: str, client_msg_id: str
) -> SendResult | None:
    """Return the message an earlier send with this key created, or raise if it differs."""
    original = (
        Message.objects.filter(author=author, client_msg_id=client_msg_id)
        .select_related("author")
        .first()
    )
    if original is None:
        return None
    if original.room_id != room_id or original.body != body:
        raise Conflict(
            _("This client_msg_id was already used for a different message."),
            extra={"message_id": original.pk},
        )
    return SendResult(message=original, created=False)


def do_send_message(author: Any, *, room_id: int, body: str, client_msg_id: str) -> SendResult:
    """Store a message and publish it on commit; a retried send returns the original."""
    html = check_send_message(body=body, client_msg_id=client_msg_id)
    if original := _original_send(author, room_id=room_id, body=body, client_msg_id=client_msg_id):
        return original
    try:
        with transaction.atomic():
            access = access_room(author, room_id)
            room = _locked_room(access.room.pk)
            if not permissions.can_post(room, access.membership):
                if access.membership is None:
                    raise Forbidden(_("Join the room to post in it."))
                raise Forbidden(_("This room is archived."))
            message = Message.objects.create(
                room=room,
                seq=room.last_seq + 1,
                author=author,
                client_msg_id=client_msg_id,
                body=body,
                body_html=html,
                render_version=RENDER_VERSION,
            )
            _append_to_log(
                room, type=events.MESSAGE_CREATED, data={"message": events.message_payload(message)}
            )
    except IntegrityError:
        # Two sends with one key raced; the loser answers with the winner's message.
        original = _original_send(author, room_id=room_id, body=body, client_msg_id=client_msg_id)
        if original is None:
            raise
        return original
    return SendResult(message=message, created=True)


def do_mark_read(user: Any, *, room_id: int, seq: int) -> int:
    """Move the person's read position forward (never back) and tell their other tabs."""
    with transaction.atomic():
        access = access_room(user, room_id)
        if access.membership is None:
            raise InvalidInput(_("You are not a member of this room."))
        seq = max(0, min(seq, access.room.last_seq))
        updated = Membership.objects.filter(pk=access.membership.pk, last_read_seq__lt=seq).update(
            last_read_seq=seq
        )
        if updated:
            publish_event_on_commit(
                build_event(
                    topic=f"user.{user.pk}",
                    type=events.ROOM_READ,
                    data={"room": room_id, "seq": seq},
                    ts=timezone.now(),
                )
            )
        return max(seq, access.membership.last_read_seq)
