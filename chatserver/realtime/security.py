"""Websocket handshake security: origin checking and token authentication."""

from __future__ import annotations

from typing import Any
from urllib.parse import ParseResult

from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from channels.security.websocket import OriginValidator
from django.conf import settings
from django.contrib.auth.models import AnonymousUser


class BrowserOriginValidator(OriginValidator):
    """Refuse handshakes whose ``Origin`` is not one of ``ALLOWED_HOSTS``.

    Unlike Channels' ``AllowedHostsOriginValidator`` a handshake with no ``Origin`` at all is let
    through: browsers always send one on websocket handshakes, so its absence means a bot or
    integration, which cannot ride a victim's cookies (the attack this check exists for) and
    must authenticate with a token anyway.
    """

    def valid_origin(self, parsed_origin: ParseResult | None) -> bool:
        if parsed_origin is None:
            return True
        return super().valid_origin(parsed_origin)


def origin_validator(application: Any) -> BrowserOriginValidator:
    """Wrap ``application`` with the origin check, reading ALLOWED_HOSTS now (not at import)."""
    allowed = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not allowed:
        allowed = ["localhost", "127.0.0.1", "[::1]"]
    return BrowserOriginValidator(application, allowed)


@database_sync_to_async
def _user_for_token(key: str) -> Any:
    from rest_framework.authtoken.models import Token

    try:
        token = Token.objects.select_related("user").get(key=key)
    except Token.DoesNotExist:
        return AnonymousUser()
    return token.user if token.user.is_active else AnonymousUser()


class TokenAuthMiddleware(BaseMiddleware):
    """Authenticate non-browser clients by ``Authorization: Token <key>`` on the handshake."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        user = scope.get("user")
        if user is None or not user.is_authenticated:
            for name, value in scope.get("headers", []):
                if name == b"authorization":
                    kind, _sep, key = value.decode("latin1").partition(" ")
                    if kind.lower() in {"token", "bearer"} and 0 < len(key) <= 64:
                        scope = dict(scope, user=await _user_for_token(key.strip()))
                    break
        return await super().__call__(scope, receive, send)
