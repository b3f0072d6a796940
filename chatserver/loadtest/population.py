"""The people and rooms a load test needs, created once and reused by later runs.

People ``lt-1`` … ``lt-<n>`` are bulk-inserted with unusable passwords and API tokens (the
quick part).  Rooms ``lt-room-<scenario>-0`` are public rooms created, and joined, through
``rooms.actions`` — one ``do_join_room`` per member, in batches of ``JOIN_BATCH`` per
transaction — so every room's log holds a ``member.joined`` for each member exactly as real
joins would leave it.  That is the slow part the first time (a few seconds per thousand
members); later runs find the members already there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import transaction
from rest_framework.authtoken.models import Token

from rooms import actions
from rooms.models import Membership, Room

USERNAME_PREFIX = "lt-"
JOIN_BATCH = 250


@dataclass(frozen=True)
class Population:
    tokens: dict[int, str]  # person number (lt-<n>) -> API token
    rooms: dict[str, int]  # scenario -> room id


def room_name(scenario: str) -> str:
    return f"lt-room-{scenario}-0"


def prepare(
    *, people: int, rooms: dict[str, int], progress: Callable[[str], None] = print
) -> Population:
    """Make sure ``lt-1..lt-<people>`` exist with tokens and each room has its members.

    ``rooms`` maps a scenario to how many people (``lt-1`` upwards) must be members.
    """
    user_ids = _ensure_people(people, progress)
    tokens = _ensure_tokens(user_ids)
    room_ids = {
        scenario: _ensure_room(scenario, [user_ids[n] for n in range(1, members + 1)], progress)
        for scenario, members in rooms.items()
    }
    return Population(tokens={n: tokens[user_ids[n]] for n in user_ids}, rooms=room_ids)


def _ensure_people(count: int, progress: Callable[[str], None]) -> dict[int, int]:
    """Return {n: user id} for lt-1..lt-<count>, creating the missing ones in bulk."""
    User = get_user_model()
    wanted = {f"{USERNAME_PREFIX}{n}": n for n in range(1, count + 1)}
    existing = set(
        User.objects.filter(username__startswith=USERNAME_PREFIX).values_list("username", flat=True)
    )
    missing = [name for name in wanted if name not in existing]
    if missing:
        progress(f"creating {len(missing)} load-test people")
        User.objects.bulk_create(
            [
                User(
                    username=name,
                    password=make_password(None),
                    first_name="Load",
                    last_name=f"Test {wanted[name]}",
                )
                for name in missing
            ],
            batch_size=500,
        )
    rows = User.objects.filter(username__startswith=USERNAME_PREFIX).values_list("username", "pk")
    return {wanted[name]: pk for name, pk in rows if name in wanted}


def _ensure_tokens(user_ids: dict[int, int]) -> dict[int, str]:
    """Return {user id: token key}, creating the missing tokens in bulk."""
    ids = list(user_ids.values())
    tokens: dict[int, str] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        tokens.update(Token.objects.filter(user_id__in=chunk).values_list("user_id", "key"))
    missing = [Token(user_id=pk, key=Token.generate_key()) for pk in ids if pk not in tokens]
    if missing:
        Token.objects.bulk_create(missing, batch_size=500)
        tokens.update({token.user_id: token.key for token in missing})
    return tokens


def _ensure_room(scenario: str, member_ids: list[int], progress: Callable[[str], None]) -> int:
    """Return the id of ``lt-room-<scenario>-0``, creating it and adding missing members."""
    User = get_user_model()
    name = room_name(scenario)
    room = Room.objects.filter(name=name).order_by("pk").first()
    if room is None:
        owner = User.objects.get(pk=member_ids[0])
        room = actions.do_create_room(
            owner, name=name, topic="Communis load test", visibility=Room.Visibility.PUBLIC
        )
    present = set(Membership.objects.filter(room=room).values_list("user_id", flat=True))
    missing = [pk for pk in member_ids if pk not in present]
    if missing:
        progress(f"adding {len(missing)} members to {name} through rooms.actions")
    for start in range(0, len(missing), JOIN_BATCH):
        chunk = missing[start : start + JOIN_BATCH]
        with transaction.atomic():
            for user in User.objects.filter(pk__in=chunk):
                actions.do_join_room(user, room_id=room.pk)
    return room.pk
