"""ASGI entry point: HTTP through Django, websockets through the gateway."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatserver.settings")
django_asgi_app = get_asgi_application()

from django.conf import settings  # noqa: E402

if settings.COMMUNIS_SERVE_STATIC:
    # Embedded mode serves its own static files; behind a reverse proxy, the proxy does.
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    django_asgi_app = ASGIStaticFilesHandler(django_asgi_app)

from channels.auth import AuthMiddlewareStack  # noqa: E402 - needs Django set up first
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from chatserver.realtime.routing import websocket_urlpatterns  # noqa: E402
from chatserver.realtime.security import TokenAuthMiddleware, origin_validator  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": origin_validator(
            AuthMiddlewareStack(TokenAuthMiddleware(URLRouter(websocket_urlpatterns)))
        ),
    }
)
