"""System checks refuse unsafe production settings at start-up."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError


def security_errors() -> list[str]:
    return [message.id for message in checks.run_checks(tags=[checks.Tags.security])]


def test_wildcard_allowed_hosts_is_refused_outside_debug(settings: Any) -> None:
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = ["*"]
    assert "communis.E001" in security_errors()
    with pytest.raises(SystemCheckError, match=r"communis\.E001"):
        call_command("check")


def test_wildcard_allowed_hosts_is_accepted_in_debug(settings: Any) -> None:
    settings.DEBUG = True
    settings.ALLOWED_HOSTS = ["*"]
    assert "communis.E001" not in security_errors()


def test_listed_hosts_pass(settings: Any) -> None:
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = ["chat.example.org"]
    assert "communis.E001" not in security_errors()
