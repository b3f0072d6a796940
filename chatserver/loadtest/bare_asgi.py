"""The bare floor: the least a Channels app can do to relay a message to a group.

``loadtest --baseline`` runs this module in its own daphne process, on the same server stack
and channel layer as Communis (the settings' ``CHANNEL_LAYERS``: Redis pub/sub when
``REDIS_URL`` is set, in-memory otherwise), and compares the two.  No authentication, no
database, no rendering, no envelope: a socket at ``/ws/<group>/`` joins the group, every text
frame it sends is ``group_send``-ed to the group, and each member's handler writes the text to its
socket.  It is deliberately outside the product's URL space and is never routed by
``chatserver.asgi``.

Run by hand with ``daphne chatserver.loadtest.bare_asgi:application``.
"""

from __future__ import annotations

import os
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatserver.settings")
django.setup()  # the channel layer reads its configuration from the settings

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

HELLO = '{"type":"hello","bare":true}'


class BareRelay(AsyncWebsocketConsumer):
    """Join a group on connect; relay every text frame to the whole group."""

    async def connect(self) -> None:
        self.group = self.scope["url_route"]["kwargs"]["group"]
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send(text_data=HELLO)

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data:
            await self.channel_layer.group_send(self.group, {"type": "relay", "text": text_data})

    async def relay(self, message: dict[str, Any]) -> None:
        await self.send(text_data=message["text"])


async def health(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answer every HTTP request with 200, so the tool can wait for readiness."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


application = ProtocolTypeRouter(
    {
        "http": health,
        "websocket": URLRouter([path("ws/<str:group>/", BareRelay.as_asgi())]),
    }
)
