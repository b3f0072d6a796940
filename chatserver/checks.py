"""System checks that refuse unsafe production configurations at start-up."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


@register(Tags.security, deploy=False)
def check_allowed_hosts(app_configs: Any, **kwargs: Any) -> list[Error]:
    """Refuse ``ALLOWED_HOSTS = *`` outside debug: it would disable the websocket origin check."""
    if "*" in settings.ALLOWED_HOSTS and not settings.DEBUG:
        return [
            Error(
                "ALLOWED_HOSTS contains '*', which turns off the websocket Origin check.",
                hint="List the host names people use to reach Communis.",
                id="communis.E001",
            )
        ]
    return []


@register(Tags.security, deploy=True)
def check_production_services(app_configs: Any, **kwargs: Any) -> list[Warning]:
    """Warn when a deployment runs on the embedded defaults."""
    warnings = []
    if not settings.REDIS_URL:
        warnings.append(
            Warning(
                "REDIS_URL is not set: only one server process can serve websockets.",
                id="communis.W001",
            )
        )
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        warnings.append(Warning("DATABASE_URL is not set: using SQLite.", id="communis.W002"))
    return warnings
