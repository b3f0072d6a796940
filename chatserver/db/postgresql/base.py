"""PostgreSQL, with the connection health check skipped for a connection in steady use.

Channels wraps every ``database_sync_to_async`` call in ``close_old_connections``, which
re-arms Django's health check (``CONN_HEALTH_CHECKS``), so every call began with an extra
``SELECT 1`` round trip: on the one database thread a daphne process has, that was one round
trip in six of every message sent.  A connection used less than
``HEALTH_CHECK_AFTER_IDLE`` seconds ago is not checked again; one that has been idle (the case
a PostgreSQL restart or an idle-connection timeout hits) still is.  A connection that fails
while in steady use is closed by Django after that call (``errors_occurred``), and the next
call opens a new one.
"""

from __future__ import annotations

import time
from typing import Any

from django.db.backends.postgresql import base

HEALTH_CHECK_AFTER_IDLE = 5.0  # seconds


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._last_used = float("-inf")

    def close_if_health_check_failed(self) -> None:
        now = time.monotonic()
        in_steady_use = now - self._last_used < HEALTH_CHECK_AFTER_IDLE
        self._last_used = now
        if in_steady_use and self.connection is not None:
            self.health_check_done = True
            return
        super().close_if_health_check_failed()
