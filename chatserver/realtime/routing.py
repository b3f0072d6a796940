"""Websocket URL routing: one socket at /ws/."""

from __future__ import annotations

from django.urls import path

from .consumer import Gateway

websocket_urlpatterns = [path("ws/", Gateway.as_asgi())]
