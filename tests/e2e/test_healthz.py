"""``/healthz`` on a real server: what it runs on, and a 503 naming what is down."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from tests.support.servers import DaphneServer

from .conftest import HttpClient

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]
NOTHING_LISTENS = "redis://127.0.0.1:6390/0"


async def test_healthz_reports_the_database_and_channel_layer_in_use(
    daphne_server: DaphneServer,
) -> None:
    response = await HttpClient(daphne_server).get("/healthz")
    assert response.status == 200, response.text
    expected_layer = "RedisPubSubChannelLayer" if settings.REDIS_URL else "InMemoryChannelLayer"
    assert response.json() == {
        "status": "ok",
        "database": connection.vendor,
        "channel_layer": expected_layer,
    }
    assert connection.vendor in {"sqlite", "postgresql"}


async def test_healthz_answers_503_naming_the_channel_layer_when_redis_is_down(
    daphne_factory: Callable[..., DaphneServer],
) -> None:
    server = daphne_factory(extra_env={"REDIS_URL": NOTHING_LISTENS}, ready_statuses=(503,))
    response = await HttpClient(server).get("/healthz")
    assert response.status == 503, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "error"
    assert body["failing"] == ["channel_layer"]
    assert body["errors"]["channel_layer"]
    assert body["database"] == connection.vendor
