"""Direct conversations: one-to-one and small groups with a fixed set of people."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from chatserver.errors import InvalidInput

from .. import events
from ..models import Room, storable_keys
from .log import publish_unsequenced
from .rooms import add_member

MAX_DIRECT_PARTICIPANTS = 20


def direct_key(user_ids: set[int]) -> str:
    """The one name a set of people's conversation has, whoever starts it."""
    return "-".join(str(i) for i in sorted(user_ids))


def check_direct_participants(starter: Any, user_ids: list[int]) -> list[Any]:
    """Return the people of a conversation (the starter included), or raise InvalidInput."""
    wanted = {int(i) for i in user_ids} | {starter.pk}
    if len(wanted) < 2:
        raise InvalidInput(
            _("A direct conversation needs at least one other person."),
            extra={"field": "user_ids"},
        )
    if len(wanted) > MAX_DIRECT_PARTICIPANTS:
        raise InvalidInput(
            _("A direct conversation can have at most %(max)s people.")
            % {"max": MAX_DIRECT_PARTICIPANTS},
            extra={"field": "user_ids"},
        )
    people = list(get_user_model().objects.filter(pk__in=storable_keys(wanted), is_active=True))
    if len(people) != len(wanted):
        raise InvalidInput(
            _("Some of those people do not exist or are not active."), extra={"field": "user_ids"}
        )
    return sorted(people, key=lambda p: p.pk)


def do_open_direct(starter: Any, *, user_ids: list[int]) -> tuple[Room, bool]:
    """Return the conversation of exactly these people, creating it if it does not exist.

    Two people starting it at the same moment both end up in the one conversation: the unique
    ``direct_key`` lets only one insert win, and the loser reads the winner's row.
    """
    people = check_direct_participants(starter, user_ids)
    key = direct_key({p.pk for p in people})
    existing = Room.objects.filter(direct_key=key).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            room = Room.objects.create(
                kind=Room.Kind.DIRECT,
                visibility=Room.Visibility.PRIVATE,
                direct_key=key,
                name="",
                created_by=starter,
            )
            for person in people:
                add_member(room, person)
            payload = {"room": events.room_payload(room, participants=people)}
            for person in people:
                publish_unsequenced(f"user.{person.pk}", type=events.ROOM_CREATED, data=payload)
    except IntegrityError:
        return Room.objects.get(direct_key=key), False
    return room, True
