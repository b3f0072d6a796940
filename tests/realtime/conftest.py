"""Protocol-test helpers: the real ASGI application driven by ``WebsocketCommunicator``.

The tests run on whatever the settings choose: the in-memory layer and in-process hub in
embedded mode, the Redis layer and the hub's Redis bus when ``REDIS_URL`` is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator

from chatserver.asgi import application
from chatserver.realtime.ratelimit import frame_buckets

ORIGIN = b"http://127.0.0.1"
# Generous: the machine is shared, and on Redis every event makes a network round trip.
TIMEOUT = 5.0

_req_ids = itertools.count(1)


@pytest.fixture(autouse=True)
def fresh_gateway_state(settings: Any) -> None:
    """Start each test with cheap password hashing, empty rate buckets and a fresh layer."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Ids repeat across transactional tests, so a bucket drained by one test would throttle
    # the next; and in-memory layer groups would still name the last test's dead sockets.
    frame_buckets._buckets.clear()
    channel_layers.backends.clear()


def headers(
    *, token: str | None = None, origin: bytes | None = ORIGIN, cookie: str | None = None
) -> list[tuple[bytes, bytes]]:
    result = []
    if token is not None:
        result.append((b"authorization", f"Token {token}".encode()))
    if origin is not None:
        result.append((b"origin", origin))
    if cookie is not None:
        result.append((b"cookie", cookie.encode()))
    return result


class Socket:
    """One test socket: requests answered by ``req_id``, events kept in arrival order."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.communicator = communicator
        self.hello: dict[str, Any] | None = None
        self.events: list[dict[str, Any]] = []
        self.texts: list[str] = []

    async def recv(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The next frame; fails if the server closed the socket instead."""
        output = await self.communicator.receive_output(timeout)
        assert output["type"] == "websocket.send", f"socket closed: {output}"
        text = output["text"]
        self.texts.append(text)
        return json.loads(text)

    async def send_raw(self, text: str | None = None, data: bytes | None = None) -> None:
        """Send one frame as is (``send_to`` refuses the empty frames real clients can send)."""
        if data is None:
            await self.communicator.send_input({"type": "websocket.receive", "text": text})
        else:
            await self.communicator.send_input({"type": "websocket.receive", "bytes": data})

    async def answer(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The next ``ok``/``error`` frame; events that arrive first are kept."""
        while True:
            frame = await self.recv(timeout)
            if frame.get("type") in ("ok", "error") and "v" not in frame:
                return frame
            self.events.append(frame)

    async def request(self, frame_type: str, **fields: Any) -> dict[str, Any]:
        """Send a request and return its answer."""
        req_id = f"q{next(_req_ids)}"
        await self.communicator.send_json_to({"type": frame_type, "req_id": req_id, **fields})
        answer = await self.answer()
        assert answer["req_id"] == req_id, answer
        return answer

    async def ok(self, frame_type: str, **fields: Any) -> dict[str, Any]:
        """Send a request that must succeed; return its ``data``."""
        answer = await self.request(frame_type, **fields)
        assert answer["type"] == "ok", answer
        return answer["data"]

    async def event(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The next event (kept ones first)."""
        if self.events:
            return self.events.pop(0)
        frame = await self.recv(timeout)
        assert "v" in frame, f"expected an event, got {frame}"
        return frame

    async def events_of(self, count: int) -> list[dict[str, Any]]:
        return [await self.event() for _ in range(count)]

    async def assert_silent(self, timeout: float = 0.4) -> None:
        """Nothing more arrives (no duplicate, no leaked event)."""
        assert self.events == [], self.events
        assert await self.communicator.receive_nothing(timeout=timeout), "unexpected frame"

    async def close(self) -> None:
        await self.communicator.disconnect(timeout=TIMEOUT)


async def open_socket(
    user: Any = None,
    *,
    resume: dict[str, int] | None = None,
    origin: bytes | None = ORIGIN,
    cookie: str | None = None,
) -> Socket:
    """Connect (as ``user`` by token), read ``hello``, and resume unless ``resume`` is None."""
    communicator = WebsocketCommunicator(
        application,
        "/ws/",
        headers=headers(token=getattr(user, "api_token", None), origin=origin, cookie=cookie),
    )
    connected, code = await communicator.connect(timeout=TIMEOUT)
    assert connected, f"handshake refused with {code}"
    socket = Socket(communicator)
    socket.hello = await socket.recv()
    assert socket.hello["type"] == "hello", socket.hello
    if resume is not None:
        await socket.ok("resume", positions=resume)
    return socket


@pytest.fixture
async def sockets() -> AsyncIterator[Callable[..., Awaitable[Socket]]]:
    """Open sockets like ``open_socket``; every one is closed at the end of the test."""
    opened: list[Socket] = []

    async def open_(*args: Any, **kwargs: Any) -> Socket:
        socket = await open_socket(*args, **kwargs)
        opened.append(socket)
        return socket

    yield open_
    for socket in opened:
        # The server may have closed it, or a timed-out receive cancelled its application.
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await socket.close()


def latest_seq(room: Any) -> int:
    room.refresh_from_db()
    return room.last_seq
