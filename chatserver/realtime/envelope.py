"""The one server → client event envelope, serialised once per event.

Every event a client sees has the same shape::

    {"v": 1, "type": "message.created", "id": "r12:345", "room": 12, "seq": 345,
     "ts": "2026-11-25T10:00:00.000000+00:00", "data": {...}}

``room`` and ``seq`` are present for events in a room's ordered log; personal and global
events carry ``null`` there.  The envelope is encoded to text exactly once, in the action that
creates it; the hub then hands the same string to every socket.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

PROTOCOL_VERSION = 1


def encode(payload: dict[str, Any]) -> str:
    """Serialise a frame compactly; dates and decimals become strings."""
    return json.dumps(payload, cls=DjangoJSONEncoder, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class Event:
    """An event ready for fan-out: its routing facts plus the encoded frame.

    ``message`` is the ASGI send message built once and shared by every socket that gets it.
    """

    topic: str
    type: str
    frame: str
    seq: int | None = None
    # Users whose sockets must stop receiving ``topic`` right after this event (removal).
    revoke_user_ids: tuple[int, ...] = field(default=())
    message: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", {"type": "websocket.send", "text": self.frame})

    def to_wire(self) -> bytes:
        """Encode for the cross-process bus: one JSON header line, then the frame."""
        header = {"t": self.topic, "y": self.type, "s": self.seq, "x": list(self.revoke_user_ids)}
        return (encode(header) + "\n" + self.frame).encode()

    @classmethod
    def from_wire(cls, raw: bytes) -> Event:
        """Decode what ``to_wire`` produced (once per process, never per socket)."""
        text = raw.decode()
        header_text, _, frame = text.partition("\n")
        header = json.loads(header_text)
        return cls(
            topic=header["t"],
            type=header["y"],
            frame=frame,
            seq=header["s"],
            revoke_user_ids=tuple(header["x"]),
        )


def build_event(
    *,
    topic: str,
    type: str,
    data: dict[str, Any],
    room_id: int | None = None,
    seq: int | None = None,
    ts: datetime | None = None,
    revoke_user_ids: tuple[int, ...] = (),
) -> Event:
    """Build the envelope for one event and encode it once."""
    event_id = f"r{room_id}:{seq}" if seq is not None else uuid.uuid4().hex
    payload = {
        "v": PROTOCOL_VERSION,
        "type": type,
        "id": event_id,
        "room": room_id,
        "seq": seq,
        "ts": (ts or timezone.now()).isoformat(),
        "data": data,
    }
    return Event(
        topic=topic, type=type, frame=encode(payload), seq=seq, revoke_user_ids=revoke_user_ids
    )


def reply_ok(req_id: Any, data: dict[str, Any] | None = None) -> str:
    """Encode the answer to a successful client request."""
    return encode({"type": "ok", "req_id": req_id, "data": data or {}})


def reply_error(req_id: Any, error: dict[str, Any]) -> str:
    """Encode the answer to a failed client request (or a frame that could not be read)."""
    return encode({"type": "error", "req_id": req_id, "error": error})
