"""Fixtures shared by the suite."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token

from .servers import DaphneServer

_names = itertools.count(1)


@pytest.fixture
def make_user(django_db_blocker: Any) -> Callable[..., Any]:
    """Create an active person (committed when the test uses transactional_db)."""

    def make(username: str | None = None, **fields: Any) -> Any:
        username = username or f"user{next(_names)}"
        user = get_user_model().objects.create_user(
            username=username, password="pw-for-tests-1", **fields
        )
        user.api_token = Token.objects.create(user=user).key
        return user

    return make


@pytest.fixture
def daphne_server(transactional_db: Any) -> Iterator[DaphneServer]:
    """A real daphne process (on Redis when REDIS_URL is set) sharing the test database."""
    server = DaphneServer()
    yield server
    server.stop()


@pytest.fixture
def daphne_factory(transactional_db: Any) -> Iterator[Callable[..., DaphneServer]]:
    """Start as many real daphne processes as a test needs."""
    servers: list[DaphneServer] = []

    def start(**kwargs: Any) -> DaphneServer:
        server = DaphneServer(**kwargs)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
