"""Rooms tests: rooms built through the actions, and a record of what the actions publish."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest

from chatserver.realtime import publish as publish_module
from chatserver.realtime.envelope import PROTOCOL_VERSION, Event
from chatserver.realtime.hub import hub
from rooms import actions
from rooms.models import Room

ENVELOPE_KEYS = {"v", "type", "id", "room", "seq", "ts", "data"}


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Any) -> None:
    """Hash test passwords cheaply: the real hasher costs ~0.3 s per person created."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@dataclass
class Published:
    """Everything the actions handed to the hub and to people's sockets, in order."""

    events: list[Event] = field(default_factory=list)
    controls: list[tuple[int, dict[str, Any]]] = field(default_factory=list)

    @property
    def types(self) -> list[str]:
        return [event.type for event in self.events]

    def clear(self) -> None:
        self.events.clear()
        self.controls.clear()


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> Published:
    """Spy on the hub and on control messages (our own seams; nothing outside is mocked)."""
    record = Published()
    monkeypatch.setattr(hub, "publish", record.events.append)
    monkeypatch.setattr(
        publish_module,
        "send_control",
        lambda user_id, message: record.controls.append((user_id, message)),
    )
    return record


def assert_envelope(
    event: Event, *, topic: str, type: str, room: int | None = None, seq: int | None = None
) -> dict[str, Any]:
    """Check an event's routing facts and its encoded envelope; return the decoded frame."""
    payload = json.loads(event.frame)
    assert set(payload) == ENVELOPE_KEYS
    assert payload["v"] == PROTOCOL_VERSION
    assert event.topic == topic
    assert payload["type"] == event.type == type
    assert payload["room"] == room
    assert payload["seq"] == event.seq == seq
    if seq is None:
        assert isinstance(payload["id"], str) and payload["id"]
    else:
        assert payload["id"] == f"r{room}:{seq}"
    assert datetime.fromisoformat(payload["ts"]).tzinfo is not None
    assert isinstance(payload["data"], dict)
    return payload


@pytest.fixture
def make_room(make_user: Callable[..., Any]) -> Callable[..., Room]:
    """Create a room through the actions, with an owner and optional members."""

    def make(
        owner: Any = None,
        *,
        name: str = "Lobby",
        visibility: str = "public",
        members: tuple[Any, ...] = (),
        admins: tuple[Any, ...] = (),
    ) -> Room:
        owner = owner or make_user()
        room = actions.do_create_room(owner, name=name, visibility=visibility)
        for person in members:
            actions.do_add_member(owner, room_id=room.pk, user=person)
        for person in admins:
            membership = actions.do_add_member(owner, room_id=room.pk, user=person)
            # No action grants roles yet; the fixture sets it directly, as the admin would.
            membership.role = membership.Role.ADMIN
            membership.save(update_fields=["role"])
        room.refresh_from_db()
        return room

    return make
