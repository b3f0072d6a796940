"""REST API roots: each app contributes its own URL module."""

from __future__ import annotations

from django.urls import include, path

from . import api

urlpatterns = [
    path("auth/token/", api.TokenCreateApi.as_view(), name="api-token"),
    path("me/", api.MeApi.as_view(), name="api-me"),
    path("", include("rooms.urls")),
]
