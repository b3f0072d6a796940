"""One load-test websocket client, and the recorder that checks what the clients receive.

Every test message carries its run, sender, index and send time in the body::

    lt:<run>:<sender>:<index>:<time.time_ns() at send>

so a receiver computes the delivery latency without asking anyone, and the index identifies the
message across clients and processes.  Each client checks exactly-once, in-order delivery: an
index seen twice is a duplicate, a sequence number not above the last one seen in that room is
out of order, and the message id and sequence number each index arrived with must be the ones
the server acknowledged to the sender.

Kept free of Django so worker processes start fast.  The receive path is the client's hot path
(it can easily be the bottleneck of a benchmark): Communis message events are recognised with
two regular expressions instead of a full JSON parse, with the JSON parse as fallback.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import random
import re
import time
from array import array
from collections import Counter
from dataclasses import dataclass
from typing import Any

import websockets
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

COMMUNIS = "communis"
BARE = "bare"
_EVENT_PREFIX = re.compile(r'\{"v":1,"type":"message\.created","id":"r(\d+):(\d+)"')
_BODY = re.compile(r'"body":"lt:([0-9a-z]+):(\d+):(\d+):(\d+)"')
_MESSAGE_ID = re.compile(r'"message":\{"id":(\d+)')
_CONNECT_SUPPORTS_PROXY = "proxy" in inspect.signature(connect.__init__).parameters
MAX_ERROR_SAMPLES = 10


@dataclass(frozen=True, slots=True)
class ClientSpec:
    """Who a client is and where it connects."""

    index: int
    url: str
    token: str | None = None


def message_body(run_id: str, sender: int, index: int, sent_ns: int) -> str:
    """The text of test message ``index``."""
    return f"lt:{run_id}:{sender}:{index}:{sent_ns}"


class Recorder:
    """Deliveries, latencies and errors seen by the clients of one process."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.latencies_ns = array("q")
        self.last_receipt_ns: dict[int, int] = {}
        self.identity: dict[int, tuple[int | None, int | None]] = {}
        self.unique = 0
        self.duplicates = 0
        self.out_of_order = 0
        self.mismatched = 0
        self.foreign = 0
        self.errors: Counter[str] = Counter()
        self.error_samples: list[str] = []
        self._target: int | None = None
        self._reached: asyncio.Future[None] | None = None

    def error(self, kind: str, detail: str = "") -> None:
        self.errors[kind] += 1
        if len(self.error_samples) < MAX_ERROR_SAMPLES:
            self.error_samples.append(f"{kind}: {detail}"[:300])

    def reset_latencies(self) -> None:
        self.latencies_ns = array("q")
        self.last_receipt_ns.clear()

    def deliver(
        self,
        client: LoadClient,
        index: int,
        sent_ns: int,
        now_ns: int,
        *,
        room: int | None = None,
        seq: int | None = None,
        message_id: int | None = None,
    ) -> None:
        """Count one test message arriving at one client."""
        if index in client.seen:
            self.duplicates += 1
            return
        if seq is not None:
            topic = f"room.{room}"
            if seq <= client.positions.get(topic, -1):
                self.out_of_order += 1
            client.positions[topic] = max(seq, client.positions.get(topic, 0))
        known = self.identity.setdefault(index, (message_id, seq))
        if known != (message_id, seq):
            self.mismatched += 1
        client.seen.add(index)
        self.unique += 1
        self.latencies_ns.append(now_ns - sent_ns)
        if now_ns > self.last_receipt_ns.get(index, 0):
            self.last_receipt_ns[index] = now_ns
        if self._target is not None and self.unique >= self._target:
            self._release()

    async def wait_unique(self, target: int, timeout: float) -> bool:
        """Wait until ``target`` distinct deliveries have arrived; False on timeout."""
        if self.unique >= target:
            return True
        self._target = target
        self._reached = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(self._reached, timeout)
            return True
        except TimeoutError:
            return False
        finally:
            self._target = None
            self._reached = None

    def _release(self) -> None:
        if self._reached is not None and not self._reached.done():
            self._reached.set_result(None)


class LoadClient:
    """One websocket: hello, resume, then receive until told to stop."""

    def __init__(self, spec: ClientSpec, recorder: Recorder, *, mode: str) -> None:
        self.spec = spec
        self.index = spec.index
        self.recorder = recorder
        self.mode = mode
        self.ws: Any = None
        self.reader: asyncio.Task[None] | None = None
        self.heartbeat: asyncio.Task[None] | None = None
        self.positions: dict[str, int] = {}
        self.seen: set[int] = set()
        self.pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.echo_waiters: dict[int, asyncio.Future[None]] = {}
        self.requests = 0
        self.closing = False
        self.open_ = False

    # --- connecting -------------------------------------------------------------------------
    async def open(self, *, timeout: float) -> int:
        """Connect, read ``hello``, resume from the known positions; return nanoseconds taken."""
        started = time.perf_counter_ns()
        self.closing = False
        headers = {"Authorization": f"Token {self.spec.token}"} if self.spec.token else {}
        options: dict[str, Any] = {
            "additional_headers": headers,
            "compression": None,  # browsers offer deflate, but daphne never accepts it
            "open_timeout": timeout,
            "ping_interval": None,  # daphne pings every 20 s; the client only answers
            "close_timeout": 2,
            "max_size": 2**22,
            "max_queue": 256,
            "user_agent_header": f"communis-loadtest websockets/{websockets.__version__}",
        }
        if _CONNECT_SUPPORTS_PROXY:
            options["proxy"] = None  # never route a loopback benchmark through $HTTP_PROXY
        self.ws = await connect(self.spec.url, **options)
        try:
            hello = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
            if hello.get("type") != "hello":
                code = (hello.get("error") or {}).get("code", hello.get("type"))
                raise ConnectionError(f"no hello: {code}")
            self.reader = asyncio.get_running_loop().create_task(self._read())
            self.open_ = True
            if self.mode == COMMUNIS:
                answer = await self.request("resume", timeout=timeout, positions=self.positions)
                if answer.get("type") != "ok":
                    raise ConnectionError(f"resume refused: {answer.get('error')}")
                for topic, seq in answer["data"].get("positions", {}).items():
                    self.positions[topic] = max(seq, self.positions.get(topic, 0))
                interval = hello.get("data", {}).get("limits", {}).get("heartbeat_interval", 25)
                self.heartbeat = asyncio.get_running_loop().create_task(
                    self._heartbeat(float(interval))
                )
        except BaseException:
            self.abort()
            raise
        return time.perf_counter_ns() - started

    async def request(self, frame_type: str, *, timeout: float, **fields: Any) -> dict[str, Any]:
        """Send a request frame and wait for its ``ok``/``error`` answer."""
        self.requests += 1
        req_id = f"c{self.index}-{self.requests}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[req_id] = future
        try:
            await self.ws.send(json.dumps({"type": frame_type, "req_id": req_id, **fields}))
            return await asyncio.wait_for(future, timeout)
        finally:
            self.pending.pop(req_id, None)

    async def send_bare(self, text: str, index: int, *, timeout: float) -> None:
        """Send to the bare relay and wait for our own copy (the bare app's only answer)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.echo_waiters[index] = future
        try:
            await self.ws.send(text)
            await asyncio.wait_for(future, timeout)
        finally:
            self.echo_waiters.pop(index, None)

    async def _heartbeat(self, interval: float) -> None:
        """Ping like a browser tab does, so the server's idle sweep leaves us alone."""
        while not self.closing:
            await asyncio.sleep(interval * (0.7 + 0.3 * random.random()))  # noqa: S311 - jitter
            with contextlib.suppress(Exception):
                await self.ws.send('{"type":"ping","req_id":"hb"}')

    # --- receiving --------------------------------------------------------------------------
    async def _read(self) -> None:
        ws = self.ws
        try:
            async for text in ws:
                if isinstance(text, str):
                    self.on_frame(text)
        except ConnectionClosed:
            pass
        except Exception as error:
            self.recorder.error("reader_failed", repr(error))
        finally:
            self.open_ = False
            if not self.closing:
                self.recorder.error("closed_by_server", f"client {self.index} code {ws.close_code}")
            for future in self.pending.values():
                if not future.done():
                    future.set_exception(ConnectionError("socket closed"))
            for waiter in self.echo_waiters.values():
                if not waiter.done():
                    waiter.set_exception(ConnectionError("socket closed"))

    def on_frame(self, text: str) -> None:
        """Handle one frame from the server (the client's hot path)."""
        now_ns = time.time_ns()
        if self.mode == BARE:
            self._on_bare(text, now_ns)
            return
        prefix = _EVENT_PREFIX.match(text)
        if prefix is not None:
            body = _BODY.search(text, prefix.end())
            message_id = _MESSAGE_ID.search(text, prefix.end())
            if body is not None and message_id is not None:
                self._on_message(
                    now_ns,
                    room=int(prefix.group(1)),
                    seq=int(prefix.group(2)),
                    message_id=int(message_id.group(1)),
                    body=body.groups(),
                )
                return
        self._on_json(text, now_ns)

    def _on_message(
        self, now_ns: int, *, room: int, seq: int, message_id: int, body: tuple[str, ...]
    ) -> None:
        run, _sender, index, sent_ns = body
        if run != self.recorder.run_id:
            self.recorder.foreign += 1
            self.positions[f"room.{room}"] = max(seq, self.positions.get(f"room.{room}", 0))
            return
        self.recorder.deliver(
            self, int(index), int(sent_ns), now_ns, room=room, seq=seq, message_id=message_id
        )

    def _on_json(self, text: str, now_ns: int) -> None:
        try:
            frame = json.loads(text)
        except ValueError:
            self.recorder.error("bad_frame", text[:100])
            return
        kind = frame.get("type")
        if kind in ("ok", "error"):
            future = self.pending.get(frame.get("req_id"))
            if future is not None and not future.done():
                future.set_result(frame)
            elif kind == "error":
                self.recorder.error(f"error:{frame.get('error', {}).get('code')}", text[:200])
            return
        if kind == "resync.required":
            self.recorder.error("resync_required", text[:200])
        room, seq = frame.get("room"), frame.get("seq")
        if kind == "message.created" and isinstance(seq, int):
            message = frame.get("data", {}).get("message", {})
            parts = str(message.get("body", "")).split(":")
            if len(parts) == 5 and parts[0] == "lt":
                self._on_message(
                    now_ns, room=room, seq=seq, message_id=message.get("id"), body=tuple(parts[1:])
                )
                return
        if isinstance(seq, int) and room is not None:
            topic = f"room.{room}"
            self.positions[topic] = max(seq, self.positions.get(topic, 0))

    def _on_bare(self, text: str, now_ns: int) -> None:
        if not text.startswith("lt:"):
            return
        parts = text.split(":")
        if len(parts) != 5 or parts[1] != self.recorder.run_id:
            self.recorder.foreign += 1
            return
        index = int(parts[3])
        self.recorder.deliver(self, index, int(parts[4]), now_ns)
        waiter = self.echo_waiters.get(index)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # --- closing ----------------------------------------------------------------------------
    def abort(self) -> None:
        """Drop the connection without a closing handshake, like a lost network."""
        self.closing = True
        self.open_ = False
        if self.heartbeat is not None:
            self.heartbeat.cancel()
        if self.ws is not None and self.ws.transport is not None:
            self.ws.transport.abort()

    async def close(self, *, timeout: float = 5) -> None:
        """Close cleanly (bounded by ``timeout``)."""
        self.closing = True
        if self.heartbeat is not None:
            self.heartbeat.cancel()
        if self.ws is not None:
            try:
                await asyncio.wait_for(self.ws.close(), timeout)
            except (TimeoutError, ConnectionClosed, OSError):
                self.abort()
        if self.reader is not None:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(self.reader, timeout)
        self.open_ = False
