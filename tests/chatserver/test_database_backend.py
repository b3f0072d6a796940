"""The PostgreSQL backend's health check: skipped in steady use, still there after idle."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import DatabaseError, connections

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.fixture
def long_lived() -> Iterator[Any]:
    """A connection of its own, kept open like a server process's (CONN_MAX_AGE 600)."""
    default = connections["default"]
    # A copy of the settings: changing the shared dict would keep the test process's own
    # connections open too, and PostgreSQL could then not drop the test database.
    connection = type(default)({**default.settings_dict, "CONN_MAX_AGE": 600}, "long_lived")
    yield connection
    connection.close()


def backend_pid(connection: Any) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def kill(pid: int) -> None:
    """Drop a connection from the server's side, as a PostgreSQL restart would."""
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])


def count_health_checks(connection: Any) -> list[bool]:
    """Record each ``is_usable`` health check (a ``SELECT 1`` round trip) the connection runs."""
    checks: list[bool] = []
    real = connection.is_usable

    def is_usable() -> bool:
        checks.append(real())
        return checks[-1]

    connection.is_usable = is_usable
    return checks


def test_a_connection_in_steady_use_is_not_checked_before_each_call(long_lived: Any) -> None:
    pid = backend_pid(long_lived)
    checks = count_health_checks(long_lived)
    for _call in range(3):
        long_lived.close_if_unusable_or_obsolete()  # what Channels runs around every call
        assert backend_pid(long_lived) == pid
    assert checks == []


def test_an_idle_connection_that_died_is_replaced_before_it_is_used(long_lived: Any) -> None:
    first = backend_pid(long_lived)
    kill(first)
    long_lived._last_used = float("-inf")  # idle for longer than the check's threshold
    checks = count_health_checks(long_lived)
    long_lived.close_if_unusable_or_obsolete()
    assert backend_pid(long_lived) != first  # the check found it dead and reconnected
    assert checks == [False]


def test_a_connection_that_dies_in_steady_use_fails_one_call_then_is_replaced(
    long_lived: Any,
) -> None:
    first = backend_pid(long_lived)
    kill(first)
    long_lived.close_if_unusable_or_obsolete()
    with pytest.raises(DatabaseError):
        backend_pid(long_lived)
    long_lived.close_if_unusable_or_obsolete()  # after the call: errors_occurred → closed
    assert backend_pid(long_lived) != first
