"""Detect the real services the suite can use."""

from __future__ import annotations

import functools
import os
import shutil

from django.conf import settings


@functools.cache
def redis_available() -> bool:
    if not settings.REDIS_URL:
        return False
    try:
        import redis

        return bool(redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1).ping())
    except Exception:
        return False


def postgres_in_use() -> bool:
    return settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


@functools.cache
def chromium_path() -> str | None:
    for candidate in (
        os.environ.get("CHROMIUM_PATH"),
        "/usr/bin/chromium",
        shutil.which("chromium"),
    ):
        if candidate and os.path.exists(candidate):
            return candidate
    return None
