"""Core REST endpoints: who am I, and tokens for non-browser clients."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from .errors import Unauthenticated


class UserOutput(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    display_name = serializers.CharField()


def user_summary(user: object) -> dict[str, object]:
    """Return the public summary of a person used across the API and events."""
    full_name = user.get_full_name() if hasattr(user, "get_full_name") else ""  # type: ignore[attr-defined]
    return {
        "id": user.pk,  # type: ignore[attr-defined]
        "username": user.get_username(),  # type: ignore[attr-defined]
        "display_name": full_name or user.get_username(),  # type: ignore[attr-defined]
    }


class MeApi(APIView):
    @extend_schema(responses=UserOutput)
    def get(self, request: Request) -> Response:
        return Response(user_summary(request.user))


class TokenInput(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=200, style={"input_type": "password"})


class TokenOutput(serializers.Serializer):
    token = serializers.CharField()


class TokenCreateApi(APIView):
    """Exchange a username and password for an API token (bots, integrations, the load tool)."""

    permission_classes = [AllowAny]
    authentication_classes: list[type] = []
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"  # password guessing: per client address

    @extend_schema(request=TokenInput, responses=TokenOutput)
    def post(self, request: Request) -> Response:
        data = TokenInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(
            request,
            username=data.validated_data["username"],
            password=data.validated_data["password"],
        )
        if user is None or not user.is_active:
            raise Unauthenticated(_("Wrong username or password."))
        token, _created = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "stable; clients key on it"},
                "message": {"type": "string", "description": "for people, translated"},
                "field": {"type": "string"},
                "retry_after": {"type": "number", "description": "seconds (rate_limited)"},
            },
            "additionalProperties": True,
        }
    },
}


def document_error_responses(result: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
    """Add the one error shape to every operation of the OpenAPI schema (drf-spectacular hook).

    Every 4xx and 5xx answer of the API is ``{"error": {"code", "message", …}}``
    (``chatserver.errors``); the codes are listed in docs/protocol.md.
    """
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    reference = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            operation["responses"].setdefault(
                "4XX", {"description": "Refused: see error.code", "content": reference}
            )
            operation["responses"].setdefault(
                "5XX", {"description": "Server error (server_error)", "content": reference}
            )
    return result
