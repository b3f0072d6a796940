"""Where feature apps plug into the gateway, so a new feature never edits the gateway.

Apps call these from ``AppConfig.ready``:

* ``register_handler(type, handler, schema)`` — a client → server frame type;
* ``register_connect_hook(hook)`` — run when a socket opens (subscribe what the person may see);
* ``register_disconnect_hook(hook)`` — run when it closes (end ephemeral state such as typing);
* ``register_stream(prefix, reader)`` — how to read the ordered log behind ``<prefix>.<key>``
  topics, used for resume and gap repair.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .consumer import Gateway
    from .schema import FrameSchema

Handler = Callable[["Gateway", dict[str, Any]], Awaitable[dict[str, Any] | None]]
ConnectHook = Callable[["Gateway"], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class LogSlice:
    """Events after a position in one stream, or word that the position is too far behind."""

    frames: list[tuple[int, str]]  # (seq, encoded envelope), ascending
    latest_seq: int
    too_far_behind: bool = False


# reader(user, key, after_seq, limit) -> LogSlice, or None when the user may no longer see it.
StreamReader = Callable[[Any, str, int | None, int], Awaitable[LogSlice | None]]


@dataclass(frozen=True, slots=True)
class FrameHandler:
    handler: Handler
    schema: FrameSchema


handlers: dict[str, FrameHandler] = {}
connect_hooks: list[ConnectHook] = []
disconnect_hooks: list[ConnectHook] = []
streams: dict[str, StreamReader] = {}


def register_handler(frame_type: str, handler: Handler, schema: FrameSchema) -> None:
    """Accept client frames of ``frame_type``, validated against ``schema``."""
    if frame_type in handlers:
        raise ValueError(f"frame type {frame_type!r} is registered twice")
    handlers[frame_type] = FrameHandler(handler=handler, schema=schema)


def register_connect_hook(hook: ConnectHook) -> None:
    """Run ``hook(conn)`` for every new socket, after authentication."""
    if hook not in connect_hooks:
        connect_hooks.append(hook)


def register_disconnect_hook(hook: ConnectHook) -> None:
    """Run ``hook(conn)`` when an authenticated socket closes (end its ephemeral state)."""
    if hook not in disconnect_hooks:
        disconnect_hooks.append(hook)


def register_stream(prefix: str, reader: StreamReader) -> None:
    """Declare that topics ``<prefix>.<key>`` are ordered logs readable through ``reader``."""
    streams[prefix] = reader
