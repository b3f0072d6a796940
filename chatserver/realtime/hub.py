"""The process-local fan-out hub: each event reaches a process once, then every local socket.

Measured on this project's machine, a channel-layer hop per socket (layer queue, consumer wake-up,
dispatch with its ``close_old_connections`` thread round trip) costs far more than writing the
frame.  So room and personal events bypass per-socket layer channels: each process holds one
subscription per topic it has local sockets for (a Redis pub/sub channel when ``REDIS_URL`` is
set, nothing at all in embedded mode), and one dispatcher task writes the already-encoded frame
to each local subscriber, in the order the process received the events.

The database remains the log.  Anything lost here (Redis hiccup, dropped publish) shows up as a
sequence gap at the socket, which repairs itself from the database (see ``consumer``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import threading
import time
from collections.abc import Iterable
from typing import Protocol

from channels.layers import InMemoryChannelLayer as ChannelsInMemoryChannelLayer
from django.conf import settings

from .envelope import Event

logger = logging.getLogger("communis.hub")
LARGE_FANOUT = 1000


def _shorten_gil_switch_interval() -> None:
    """Let the database thread take the GIL back soon after each round trip.

    Channels runs all of a process's database work on one thread.  Each query releases the
    GIL while it waits for the database; while the event loop is busy (a fan-out, a handshake
    storm) the thread then waits for the loop to drop the GIL, which CPython forces only every
    ``sys.getswitchinterval()`` (5 ms by default) -- for every round trip.  Measured here that
    convoy, not CPU, capped sends and handshakes with the server at 20-60 % CPU.
    """
    interval = settings.COMMUNIS_GIL_SWITCH_INTERVAL
    if interval:
        sys.setswitchinterval(interval)


class Subscriber(Protocol):
    """What the hub needs of a socket."""

    user_id: int
    last_frame_at: float

    async def receive_event(self, event: Event) -> None: ...

    async def close_for(self, code: int) -> None: ...


class Hub:
    """Map topics to local sockets and deliver events to them."""

    def __init__(self) -> None:
        self.topics: dict[str, set[Subscriber]] = {}
        self.connections: set[Subscriber] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.queue: asyncio.Queue[Event] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._start_lock = threading.Lock()
        self.bus: RedisBus | None = None
        self.delivered = 0

    # --- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the dispatcher (and Redis reader) on the running loop, once per process."""
        loop = asyncio.get_running_loop()
        if self.loop is loop:
            return
        with self._start_lock:
            if self.loop is loop:
                return
            self.loop = loop
            _shorten_gil_switch_interval()
            self.queue = asyncio.Queue()
            self.topics.clear()
            self.connections.clear()
            self._tasks = [
                loop.create_task(self._dispatch_forever(), name="hub-dispatch"),
                loop.create_task(self._sweep_forever(), name="hub-sweep"),
            ]
            if settings.REDIS_URL:
                self.bus = RedisBus(self, settings.REDIS_URL, settings.REDIS_PREFIX)
                self._tasks.append(loop.create_task(self.bus.read_forever(), name="hub-bus"))
            else:
                self.bus = None

    # --- subscriptions ----------------------------------------------------------------------
    def register(self, conn: Subscriber) -> None:
        """Track a live socket (for idle sweeps and layer-failure closes)."""
        self.connections.add(conn)

    async def subscribe(self, topic: str, conn: Subscriber) -> None:
        """Deliver ``topic``'s events to ``conn`` from now on."""
        members = self.topics.get(topic)
        if members is None:
            members = self.topics[topic] = set()
            if self.bus is not None:
                await self.bus.subscribe(topic)
        members.add(conn)

    async def unsubscribe(self, topic: str, conn: Subscriber) -> None:
        """Stop delivering ``topic`` to ``conn``."""
        members = self.topics.get(topic)
        if members is None:
            return
        members.discard(conn)
        if not members:
            del self.topics[topic]
            if self.bus is not None:
                await self.bus.unsubscribe(topic)

    async def forget(self, conn: Subscriber, topics: Iterable[str]) -> None:
        """Drop a closed socket from every topic it had."""
        self.connections.discard(conn)
        for topic in list(topics):
            await self.unsubscribe(topic, conn)

    # --- publishing -------------------------------------------------------------------------
    def publish(self, event: Event) -> None:
        """Hand an event to every process; safe to call from any thread.

        Called from ``transaction.on_commit`` in the thread that committed, so the order of
        calls within a process is the commit order.
        """
        if settings.REDIS_URL:
            publish_to_redis(event)
        elif self.loop is not None and self.queue is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.queue.put_nowait, event)
        else:
            logger.debug("no running hub in this process; %s reaches clients on resume", event.type)

    def enqueue(self, event: Event) -> None:
        """Queue an event that arrived from the bus (called on the loop thread)."""
        if self.queue is not None:
            self.queue.put_nowait(event)

    async def _dispatch_forever(self) -> None:
        assert self.queue is not None  # noqa: S101 - set by start()
        while True:
            event = await self.queue.get()
            try:
                await self.dispatch(event)
            except Exception:
                logger.exception("dispatch of %s failed", event.type)

    async def dispatch(self, event: Event) -> None:
        """Write one event to every local subscriber of its topic."""
        members = self.topics.get(event.topic)
        if not members:
            return
        started = time.perf_counter()
        # Copy: a delivery may unsubscribe (revocation) while we iterate.
        for conn in tuple(members):
            try:
                await conn.receive_event(event)
            except Exception:
                logger.exception("delivery to a socket failed")
        self.delivered += len(members)
        if len(members) >= LARGE_FANOUT:
            # The server's share of a broadcast's latency, apart from the network and clients.
            logger.info(
                "fan-out of %s to %d sockets took %.1f ms",
                event.type,
                len(members),
                (time.perf_counter() - started) * 1000,
            )

    # --- housekeeping -----------------------------------------------------------------------
    async def _sweep_forever(self) -> None:
        """Close sockets that have been silent past the idle timeout."""
        limits = settings.COMMUNIS
        while True:
            await asyncio.sleep(min(10, limits["IDLE_TIMEOUT"] / 3))
            deadline = time.monotonic() - limits["IDLE_TIMEOUT"]
            for conn in [c for c in self.connections if c.last_frame_at < deadline]:
                with contextlib.suppress(Exception):
                    await conn.close_for(4408)

    async def close_all(self, code: int) -> None:
        """Close every local socket (layer failure): clients resume from the database."""
        for conn in list(self.connections):
            with contextlib.suppress(Exception):
                await conn.close_for(code)


class RedisBus:
    """One Redis pub/sub connection per process, subscribed to the topics it has sockets for."""

    def __init__(self, hub: Hub, url: str, prefix: str) -> None:
        import redis.asyncio as aioredis

        self.hub = hub
        self.prefix = f"{prefix}:hub:"
        self.client = aioredis.Redis.from_url(url)
        self.pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        self.lock = asyncio.Lock()
        self.has_subscriptions = asyncio.Event()

    async def subscribe(self, topic: str) -> None:
        async with self.lock:
            await self.pubsub.subscribe(self.prefix + topic)
        self.has_subscriptions.set()

    async def unsubscribe(self, topic: str) -> None:
        async with self.lock:
            await self.pubsub.unsubscribe(self.prefix + topic)

    async def read_forever(self) -> None:
        backoff = 0.5
        while True:
            await self.has_subscriptions.wait()
            try:
                message = await self.pubsub.get_message(timeout=1.0)
                backoff = 0.5
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("the Redis bus failed; closing sockets so clients resume")
                await self.hub.close_all(1012)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10)
                continue
            if message is None or message.get("type") != "message":
                continue
            self.hub.enqueue(Event.from_wire(message["data"]))


class InMemoryChannelLayer(ChannelsInMemoryChannelLayer):
    """Channels' in-memory layer (embedded mode), with its expiry sweep at most once a second.

    The stock layer sweeps every channel and group on *every* ``receive``, and each socket
    receives on its own channel: a connect storm of N sockets costs O(N²) (measured: 15 % of
    all server samples and 33 s to connect 5,000 sockets).  Messages and group memberships
    still expire, at most a second late.
    """

    clean_interval = 1.0

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._next_clean = 0.0

    def _clean_expired(self) -> None:
        now = time.monotonic()
        if now < self._next_clean:
            return
        self._next_clean = now + self.clean_interval
        super()._clean_expired()


_sync_redis = None
_sync_redis_lock = threading.Lock()


def publish_to_redis(event: Event) -> None:
    """PUBLISH an event from sync code, on a thread-safe pooled client."""
    global _sync_redis
    if _sync_redis is None:
        import redis

        with _sync_redis_lock:
            if _sync_redis is None:
                _sync_redis = redis.Redis.from_url(settings.REDIS_URL, max_connections=64)
    try:
        _sync_redis.publish(f"{settings.REDIS_PREFIX}:hub:{event.topic}", event.to_wire())
    except Exception:
        # Already committed: clients will see a sequence gap and repair it from the database.
        logger.exception("publishing %s to Redis failed", event.type)


hub = Hub()
