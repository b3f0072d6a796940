"""Per-person token buckets for inbound frames."""

from __future__ import annotations

import time
from dataclasses import dataclass

from chatserver.errors import RateLimited


@dataclass(slots=True)
class TokenBucket:
    """``rate`` tokens a second, up to ``burst`` saved; each request spends one."""

    rate: float
    burst: float
    tokens: float = -1.0
    updated: float = 0.0

    def take(self, now: float | None = None) -> None:
        """Spend one token or raise ``RateLimited`` saying when one will be there."""
        now = time.monotonic() if now is None else now
        if self.tokens < 0:
            self.tokens, self.updated = self.burst, now
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1:
            raise RateLimited(retry_after=(1 - self.tokens) / self.rate)
        self.tokens -= 1


class BucketRegistry:
    """One bucket per person per process, shared by all that person's sockets there."""

    def __init__(self) -> None:
        self._buckets: dict[int, TokenBucket] = {}

    def take(self, user_id: int, *, rate: float, burst: float) -> None:
        bucket = self._buckets.get(user_id)
        if bucket is None:
            if len(self._buckets) > 50_000:  # bound memory: idle buckets are full anyway
                self._buckets.clear()
            bucket = self._buckets[user_id] = TokenBucket(rate=rate, burst=burst)
        bucket.take()


frame_buckets = BucketRegistry()
