"""Publishing from actions: events to the hub, control messages to a person's sockets.

Only ``actions.py`` modules call these, inside the transaction that made the change: nothing
is sent before the commit, and a rollback sends nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from .envelope import Event
from .hub import hub

logger = logging.getLogger("communis.publish")


def publish_event_on_commit(event: Event) -> None:
    """Fan ``event`` out to its topic once the current transaction commits."""
    transaction.on_commit(lambda: hub.publish(event), robust=True)


def send_control(user_id: int, message: dict[str, Any]) -> None:
    """Send a control message to every live socket of one person, on every process."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(f"user.{user_id}", message)
    except Exception:
        logger.exception("control message %s to user %s failed", message.get("type"), user_id)


def send_control_on_commit(user_id: int, message: dict[str, Any]) -> None:
    """``send_control`` after the current transaction commits."""
    transaction.on_commit(lambda: send_control(user_id, message), robust=True)


def close_user_sockets(user_id: int) -> None:
    """Close all of a person's sockets (sign-out, deactivation, password change)."""
    send_control(user_id, {"type": "control.close", "code": 4401})
