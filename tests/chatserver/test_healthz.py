"""/healthz: says which database and channel layer answer, and names what is failing."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client

from chatserver import views

pytestmark = pytest.mark.django_db


def test_healthy_service_reports_its_database_and_channel_layer(settings: Any) -> None:
    response = Client().get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == connection.vendor
    expected_layer = settings.CHANNEL_LAYERS["default"]["BACKEND"].rsplit(".", 1)[-1]
    assert body["channel_layer"] == expected_layer
    assert "no-cache" in response["Cache-Control"]


def test_healthz_needs_no_login_and_only_answers_get() -> None:
    assert Client().get("/healthz").status_code == 200
    assert Client().post("/healthz").status_code == 405


def test_a_failing_database_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(views, "_database_ok", lambda: "OperationalError: connection refused")
    response = Client().get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["failing"] == ["database"]
    assert "connection refused" in body["errors"]["database"]


def test_an_unreachable_redis_fails_the_channel_layer_check(settings: Any) -> None:
    # Nothing listens there: the view reads REDIS_URL at request time and pings it.
    settings.REDIS_URL = "redis://127.0.0.1:6390/0"
    response = Client().get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["channel_layer"]
    assert body["errors"]["channel_layer"]
