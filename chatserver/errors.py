"""One error shape for REST and the websocket: ``{"error": {"code": ..., "message": ...}}``.

Actions raise ``CommunisError`` subclasses carrying a stable ``code`` that clients key on and a
translatable message that people read.  ``rest_exception_handler`` maps them (and DRF's own
exceptions) to HTTP responses; the gateway maps them to ``error`` frames.
"""

from __future__ import annotations

import math
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler


class CommunisError(Exception):
    """Base of every error an action may raise on purpose."""

    code = "error"
    status = 400
    default_message = _("The request could not be completed.")

    def __init__(self, message: Any = None, *, extra: dict[str, Any] | None = None) -> None:
        self.message = message if message is not None else self.default_message
        self.extra = extra or {}
        super().__init__(str(self.message))

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON body shared by REST and websocket errors."""
        return {"code": self.code, "message": str(self.message), **self.extra}


class InvalidInput(CommunisError):
    code = "invalid"
    default_message = _("The request is not valid.")


class NotFound(CommunisError):
    """Raised for both "missing" and "not yours to see", so ids cannot be probed."""

    code = "not_found"
    status = 404
    default_message = _("Not found.")


class Forbidden(CommunisError):
    code = "forbidden"
    status = 403
    default_message = _("You are not allowed to do that.")


class Conflict(CommunisError):
    code = "conflict"
    status = 409
    default_message = _("This conflicts with something that already exists.")


class RateLimited(CommunisError):
    code = "rate_limited"
    status = 429
    default_message = _("You are sending too fast. Try again in a moment.")

    def __init__(self, retry_after: float, message: Any = None) -> None:
        # Round up: a client that waits exactly as long as told must find a token there.
        super().__init__(message, extra={"retry_after": math.ceil(retry_after * 100) / 100})
        self.retry_after = retry_after


class Unauthenticated(CommunisError):
    code = "unauthenticated"
    status = 401
    default_message = _("Sign in first.")


_DRF_CODES = {
    drf_exceptions.NotAuthenticated: "unauthenticated",
    drf_exceptions.AuthenticationFailed: "unauthenticated",
    drf_exceptions.PermissionDenied: "forbidden",
    drf_exceptions.NotFound: "not_found",
    drf_exceptions.MethodNotAllowed: "method_not_allowed",
    drf_exceptions.ParseError: "invalid_json",
    drf_exceptions.UnsupportedMediaType: "unsupported_media_type",
    drf_exceptions.Throttled: "rate_limited",
    drf_exceptions.ValidationError: "invalid",
}


def _drf_error_body(exc: drf_exceptions.APIException) -> dict[str, Any]:
    code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), "error")
    if isinstance(exc, drf_exceptions.ValidationError):
        body: dict[str, Any] = {
            "code": code,
            "message": str(_("The request is not valid.")),
            "fields": exc.detail,
        }
    else:
        body = {"code": code, "message": str(exc.detail)}
    if isinstance(exc, drf_exceptions.Throttled) and exc.wait is not None:
        body["retry_after"] = exc.wait
    return body


def rest_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Map every error to ``{"error": {...}}`` with the matching HTTP status."""
    if isinstance(exc, CommunisError):
        headers = {}
        if isinstance(exc, RateLimited):
            headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
        return Response({"error": exc.as_dict()}, status=exc.status, headers=headers)
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = drf_exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is not None and isinstance(exc, drf_exceptions.APIException):
        response.data = {"error": _drf_error_body(exc)}
    return response
