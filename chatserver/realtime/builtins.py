"""Frames every socket understands whatever features are installed: ``ping`` and ``resume``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .registry import register_handler
from .schema import Field, FrameSchema

if TYPE_CHECKING:
    from .consumer import Gateway

MAX_RESUME_STREAMS = 2000


async def handle_ping(conn: Gateway, frame: dict[str, Any]) -> dict[str, Any]:
    """Keep the socket alive; the ``ok`` answer doubles as the pong."""
    return {"pong": True}


async def handle_resume(conn: Gateway, frame: dict[str, Any]) -> dict[str, Any]:
    """Replay every subscribed stream from the client's last seen positions.

    Streams the client does not mention start from the latest position (if they had not
    started yet; a running stream keeps its place).  Positions for
    streams this socket is not subscribed to (not a member, or an unknown topic) are ignored
    and reported back, so a client learns it lost access.
    """
    positions: dict[str, int] = frame.get("positions", {})
    ignored = sorted(topic for topic in positions if topic not in conn.cursors)
    for topic, cursor in list(conn.cursors.items()):
        if topic in positions:
            await conn.catch_up(topic, positions[topic])
        elif cursor is None:
            await conn.catch_up(topic, None)  # never resumed: start from the latest
    return {
        "positions": {t: c for t, c in conn.cursors.items() if c is not None},
        "ignored": ignored,
    }


def register() -> None:
    """Register the built-in frames with the gateway."""
    register_handler("ping", handle_ping, FrameSchema())
    register_handler(
        "resume",
        handle_resume,
        FrameSchema(
            {"positions": Field(dict, required=False, max_length=MAX_RESUME_STREAMS, item_kind=int)}
        ),
    )
