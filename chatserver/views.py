"""Operational endpoints."""

from __future__ import annotations

from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .errors import NotFound


def _database_ok() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as error:
        return f"{type(error).__name__}: {error}"
    return None


def _layer_ok() -> str | None:
    """Check the channel layer exists and, when it is Redis-backed, that Redis answers."""
    if get_channel_layer() is None:
        return "no channel layer configured"
    if not settings.REDIS_URL:
        return None  # in-memory: nothing outside this process to be down
    import redis

    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2).ping()
    except Exception as error:
        return f"{type(error).__name__}: {error}"
    return None


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Report whether the database and the channel layer answer."""
    layer = get_channel_layer()
    body: dict[str, object] = {
        "status": "ok",
        "database": connection.vendor,
        "channel_layer": type(layer).__name__ if layer else None,
    }
    failures = {}
    if problem := _database_ok():
        failures["database"] = problem
    if problem := _layer_ok():
        failures["channel_layer"] = problem
    if failures:
        body["status"] = "error"
        body["failing"] = sorted(failures)
        body["errors"] = failures
        return JsonResponse(body, status=503)
    return JsonResponse(body)


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Answer an unknown URL: the API's JSON error under ``/api/``, Django's page elsewhere."""
    if _is_api(request):
        error = NotFound()
        return JsonResponse({"error": error.as_dict()}, status=error.status)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """Answer an unhandled error: JSON under ``/api/`` (clients parse it), a page elsewhere."""
    if _is_api(request):
        message = _("Something went wrong on the server. Try again.")
        body = {"code": "server_error", "message": str(message)}
        return JsonResponse({"error": body}, status=500)
    return defaults.server_error(request)
