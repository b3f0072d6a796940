"""A small real websocket client for tests (the ``websockets`` library)."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import websockets

_ids = itertools.count(1)


class WsClient:
    """One socket: send requests, await answers, collect events."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []
        self.hello: dict[str, Any] | None = None

    @classmethod
    async def connect(
        cls,
        ws_url: str,
        *,
        token: str | None = None,
        origin: str | None = None,
        cookie: str | None = None,
    ) -> WsClient:
        headers = {}
        if token:
            headers["Authorization"] = f"Token {token}"
        if cookie:
            headers["Cookie"] = cookie
        kwargs: dict[str, Any] = {"additional_headers": headers, "max_size": 2**22}
        if origin:
            kwargs["origin"] = origin
        client = cls(await websockets.connect(ws_url, **kwargs))
        client.hello = await client.recv()
        return client

    async def recv(self, timeout: float = 10) -> dict[str, Any]:
        return json.loads(await asyncio.wait_for(self.ws.recv(), timeout))

    async def send_raw(self, text: str) -> None:
        await self.ws.send(text)

    async def request(self, frame_type: str, timeout: float = 10, **fields: Any) -> dict[str, Any]:
        """Send a request and return its ``ok``/``error`` answer; events meanwhile are kept."""
        req_id = f"q{next(_ids)}"
        await self.ws.send(json.dumps({"type": frame_type, "req_id": req_id, **fields}))
        while True:
            frame = await self.recv(timeout)
            if frame.get("req_id") == req_id and frame["type"] in ("ok", "error"):
                return frame
            self.events.append(frame)

    async def events_until(self, predicate: Any, timeout: float = 10) -> list[dict[str, Any]]:
        """Collect events until ``predicate(collected)`` is true."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate(self.events):
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"only {len(self.events)} events arrived")
            self.events.append(await self.recv(remaining))
        return self.events

    async def close(self) -> None:
        await self.ws.close()
