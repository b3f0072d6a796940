"""The REST API's default rate meter.

Its own module: DRF imports ``DEFAULT_THROTTLE_CLASSES`` while ``rest_framework.views`` is still
loading, so this must not import any view.
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.throttling import UserRateThrottle


class WriteRateThrottle(UserRateThrottle):
    """Meter every unsafe REST call per person (per address when signed out); reads are free.

    The default for every API view.  Views with a meter of their own (token requests, message
    sends) replace it.  Like the websocket's bucket, it counts per process.
    """

    scope = "write"

    def allow_request(self, request: Request, view: Any) -> bool:
        if request.method in SAFE_METHODS:
            return True
        return super().allow_request(request, view)
