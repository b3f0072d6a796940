"""Shared test fixtures: service detection, real daphne servers, real websocket clients.

Tests marked ``redis``, ``postgres`` or ``browser`` need that real service.  Where it is absent
they are skipped with the reason shown in the summary — except in CI
(``COMMUNIS_REQUIRE_SERVICES=1``), where a missing service is an error, never a silent skip.
"""

from __future__ import annotations

import os
import shutil

import pytest
from django.conf import settings

from tests.support.services import chromium_path, postgres_in_use, redis_available

REQUIRE_SERVICES = os.environ.get("COMMUNIS_REQUIRE_SERVICES") == "1"


def _missing(marker: str) -> str | None:
    if marker == "redis" and not (settings.REDIS_URL and redis_available()):
        return "needs Redis: set REDIS_URL to a running server"
    if marker == "postgres" and not postgres_in_use():
        return "needs PostgreSQL: set DATABASE_URL=postgres://…"
    if marker == "browser" and not chromium_path():
        return "needs Chromium: apt-get install chromium"
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker in ("redis", "postgres", "browser"):
        if item.get_closest_marker(marker) is None:
            continue
        reason = _missing(marker)
        if reason is None:
            continue
        if REQUIRE_SERVICES:
            pytest.fail(f"CI requires this service: {reason}", pytrace=False)
        pytest.skip(reason)


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [
        f"communis: database={settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]} "
        f"channel_layer={settings.CHANNEL_LAYERS['default']['BACKEND'].rsplit('.', 1)[-1]} "
        f"redis={'yes' if settings.REDIS_URL and redis_available() else 'no'} "
        f"chromium={chromium_path() or 'no'} daphne={shutil.which('daphne') is not None}"
    ]


@pytest.fixture(autouse=True)
def _empty_rest_meters() -> None:
    """Start each test with empty REST rate meters (they live in this process's cache).

    Ids repeat across tests (rolled-back inserts), so one test's meter would throttle the next.
    """
    from django.core.cache import cache

    cache.clear()


pytest_plugins = ["tests.support.fixtures"]
