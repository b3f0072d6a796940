"""The gateway: the one websocket consumer every browser tab and device connects to.

It is a routing shell.  It authenticates, validates frames against the registered schemas,
dispatches them to the owning app's handler, answers ``ok``/``error`` by ``req_id``, and keeps
each socket's ordered streams exactly-once and in order:

* every ordered topic (``room.<id>``) has a cursor, the last sequence number this socket
  delivered; an event at ``cursor + 1`` is sent at once, an older one is a duplicate and
  dropped, a newer one is held while the gap is repaired from the database log;
* on connect, streams wait (events are held) until the client says where it was with
  ``resume`` — or, after a short grace period, start from the latest position.

Hub events take a short path to the socket when the server is daphne: the frame is framed once
per event (autobahn's prepared messages) and written straight to the websocket protocol, and
the bytes waiting in its transport bound a slow reader (``SEND_BUFFER_*``, ``SEND_QUEUE_LIMIT``):
past the soft bound ephemeral events are dropped, past the hard bound the socket is closed with
4429 and the client resumes from the database.  Under any other server the ASGI ``send`` is used
and the bound does not apply (see docs/performance.md, "Slow clients").
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from chatserver.errors import CommunisError, InvalidInput, Unauthenticated

from . import registry
from .envelope import PROTOCOL_VERSION, Event, encode, reply_error, reply_ok
from .hub import hub
from .ratelimit import frame_buckets
from .schema import validate_frame, validate_req_id

logger = logging.getLogger("communis.gateway")

CLOSE_UNAUTHENTICATED = 4401
CLOSE_IDLE = 4408
# "You fell too far behind": the server stopped buffering for this socket; resume from the log.
CLOSE_SLOW = 4429
RESUME_GRACE_SECONDS = 5.0
# Frames that keep a connection alive without spending the sender's rate budget.
UNMETERED_TYPES = frozenset({"ping", "resume"})


class Gateway(AsyncWebsocketConsumer):
    """One socket of one person; multiplexes every feature."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        self.user = user
        self.user_id = getattr(user, "pk", None) or 0
        self.last_frame_at = time.monotonic()
        self.cursors: dict[str, int | None] = {}
        self.pending: dict[str, dict[int, Event]] = {}
        self.repairing: set[str] = set()
        self.topics: set[str] = set()
        self.closed = False
        self.background: set[asyncio.Task[None]] = set()
        # Latest sequence per stream read at connect, after the hub subscription started: lets
        # ``resume`` start or confirm those streams without another trip to the database.
        self.stream_heads: dict[str, int] = {}
        self.writer = DirectWriter.find(self.base_send)
        await self.accept()
        if user is None or not user.is_authenticated or not user.is_active:
            await self.send_frame(reply_error(None, Unauthenticated().as_dict()))
            await self.close(code=CLOSE_UNAUTHENTICATED)
            self.closed = True
            return
        self.language = self._language()
        await hub.start()
        hub.register(self)
        await self.subscribe_topic(f"user.{self.user_id}")
        if self.channel_layer is not None:
            await self.channel_layer.group_add(f"user.{self.user_id}", self.channel_name)
        for hook in registry.connect_hooks:
            await hook(self)
        await self.send_frame(self._hello())
        asyncio.get_running_loop().call_later(RESUME_GRACE_SECONDS, self._start_waiting_streams)

    async def disconnect(self, code: int) -> None:
        self.closed = True
        if not getattr(self, "user_id", 0):
            return
        await hub.forget(self, self.topics)
        self.topics.clear()
        if self.channel_layer is not None:
            with contextlib.suppress(Exception):
                await self.channel_layer.group_discard(f"user.{self.user_id}", self.channel_name)
        for hook in registry.disconnect_hooks:
            try:
                await hook(self)
            except Exception:
                logger.exception("a disconnect hook failed")

    # --- inbound frames ---------------------------------------------------------------------
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        self.last_frame_at = time.monotonic()
        if self.closed:
            return
        with translation.override(self.language):
            await self._handle_text(text_data, bytes_data)

    async def _handle_text(self, text_data: str | None, bytes_data: bytes | None) -> None:
        limits = settings.COMMUNIS
        if text_data is None:
            await self.send_error(None, InvalidInput(_("Send JSON text frames, not binary.")))
            return
        if len(text_data.encode()) > limits["MAX_FRAME_BYTES"]:
            error = CommunisError(
                _("The frame is too large (at most %(max)s bytes).")
                % {"max": limits["MAX_FRAME_BYTES"]}
            )
            error.code = "frame_too_large"
            await self.send_error(None, error)
            return
        try:
            frame = json.loads(text_data)
        except (ValueError, RecursionError):
            error = InvalidInput(_("The frame is not valid JSON."))
            error.code = "invalid_json"
            await self.send_error(None, error)
            return
        if "\\u" in text_data and not _is_plain_text(frame):
            await self.send_error(None, InvalidInput())
            return
        await self._dispatch_frame(frame)

    async def _dispatch_frame(self, frame: Any) -> None:
        if not isinstance(frame, dict):
            await self.send_error(None, InvalidInput(_("A frame must be a JSON object.")))
            return
        req_id = frame.get("req_id")
        try:
            req_id = validate_req_id(req_id)
            frame_type = frame.get("type")
            entry = registry.handlers.get(frame_type) if isinstance(frame_type, str) else None
            if entry is None:
                error = InvalidInput(_("Unknown frame type."))
                error.code = "unknown_type"
                raise error
            if frame_type not in UNMETERED_TYPES:
                limits = settings.COMMUNIS
                frame_buckets.take(
                    self.user_id, rate=limits["SEND_RATE"], burst=limits["SEND_BURST"]
                )
            validate_frame(frame, entry.schema)
            result = await entry.handler(self, frame)
        except CommunisError as error:
            await self.send_error(req_id, error)
            return
        except Exception:
            logger.exception("handler for %r failed", frame.get("type"))
            error = CommunisError(_("Something went wrong on the server. Try again."))
            error.code = "server_error"
            await self.send_error(req_id, error)
            return
        await self.send_frame(reply_ok(req_id, result))

    async def send_error(self, req_id: Any, error: CommunisError) -> None:
        """Answer a request (or an unreadable frame) with an ``error`` frame."""
        await self.send_frame(
            reply_error(req_id if _is_plain_id(req_id) else None, error.as_dict())
        )

    async def send_frame(self, text: str) -> None:
        """Write one already-encoded frame to this socket."""
        if not self.closed:
            await self.base_send({"type": "websocket.send", "text": text})

    # --- subscriptions (used by app hooks and handlers) -------------------------------------
    async def subscribe_topic(self, topic: str) -> None:
        """Receive unordered events of ``topic`` (personal, global)."""
        if topic not in self.topics:
            self.topics.add(topic)
            await hub.subscribe(topic, self)

    async def subscribe_stream(self, topic: str, *, after_seq: int | None = None) -> None:
        """Receive the ordered stream ``topic``.

        With ``after_seq``, replay from there at once; without it, hold events until the
        client's ``resume`` (or the grace period) says where to start.
        """
        if topic in self.cursors:
            cursor = self.cursors[topic]
            if after_seq is not None:
                # A running stream goes on from what this socket delivered: restarting it at
                # ``after_seq`` would repeat events (joining a watched room) or skip those still
                # in flight (a repeated subscribe).  Replays on request are ``resume``'s job.
                await self.catch_up(topic, after_seq if cursor is None else cursor)
            return
        self.cursors[topic] = None
        await self.subscribe_topic(topic)
        if after_seq is not None:
            await self.catch_up(topic, after_seq)

    async def unsubscribe(self, topic: str) -> None:
        """Stop receiving ``topic`` on this socket, at once."""
        self.cursors.pop(topic, None)
        self.pending.pop(topic, None)
        self.stream_heads.pop(topic, None)
        if topic in self.topics:
            self.topics.discard(topic)
            await hub.unsubscribe(topic, self)

    # --- ordered delivery -------------------------------------------------------------------
    async def receive_event(self, event: Event) -> None:
        """Deliver one event from the hub (the hot path: keep it cheap)."""
        if event.seq is None:
            if not self.closed:
                await self._write_event(event, ephemeral=True)
            return
        topic = event.topic
        if topic not in self.cursors:
            return
        cursor = self.cursors[topic]
        if cursor is None or topic in self.repairing:
            self._hold(event)
            return
        if event.seq <= cursor:
            return
        if event.seq != cursor + 1:
            self._hold(event)
            self._schedule_repair(topic)
            return
        await self._emit(event)
        if self.pending.get(topic):
            await self._flush_pending(topic)

    async def _emit(self, event: Event) -> None:
        self.cursors[event.topic] = event.seq
        if not self.closed:
            await self._write_event(event, ephemeral=False)
        if self.user_id in event.revoke_user_ids:
            await self.unsubscribe(event.topic)

    async def _write_event(self, event: Event, *, ephemeral: bool) -> None:
        """Write a hub event, unless this socket's reader has fallen too far behind."""
        writer = self.writer
        if writer is None:
            await self.base_send(event.message)
            return
        if writer.closing:
            return
        pressure = writer.pressure()
        if pressure is Pressure.OK or (pressure is Pressure.SOFT and not ephemeral):
            writer.send_event(event)
        elif pressure is Pressure.HARD and not writer.closing:
            # The ordered streams are in the database: closing costs the client one resume,
            # buffering for a reader that does not read costs the server without bound.
            writer.closing = True
            logger.info("closing a slow socket of user %s (%s)", self.user_id, writer.describe())
            self._spawn(self.close_for(CLOSE_SLOW))

    def _hold(self, event: Event) -> None:
        held = self.pending.setdefault(event.topic, {})
        if len(held) >= 2 * settings.COMMUNIS["REPLAY_LIMIT"]:
            held.clear()  # the database has them all: repair will read them from there
        held[event.seq] = event  # type: ignore[index]

    async def _flush_pending(self, topic: str) -> None:
        held = self.pending.get(topic)
        while held and topic in self.cursors and topic not in self.repairing:
            cursor = self.cursors[topic]
            if cursor is None:
                return
            for seq in [s for s in held if s <= cursor]:
                del held[seq]
            event = held.pop(cursor + 1, None)
            if event is None:
                if held:
                    self._schedule_repair(topic)
                return
            await self._emit(event)

    def _schedule_repair(self, topic: str) -> None:
        delay = settings.COMMUNIS["GAP_REPAIR_DELAY"]
        loop = asyncio.get_running_loop()
        loop.call_later(delay, lambda: self._spawn(self._repair_if_still_gapped(topic)))

    def _spawn(self, coroutine: Any) -> None:
        """Run a background step, keeping a reference so it is not garbage-collected."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def _repair_if_still_gapped(self, topic: str) -> None:
        if self.pending.get(topic) and not self.closed:
            await self.catch_up(topic, self.cursors.get(topic))

    async def catch_up(self, topic: str, after_seq: int | None) -> None:
        """Replay ``topic`` from the database log after ``after_seq`` (None: latest)."""
        if topic not in self.cursors or topic in self.repairing or self.closed:
            return
        head = self.stream_heads.pop(topic, None)
        if head is not None and (after_seq is None or after_seq == head):
            # Read at connect after the subscription began: anything newer is held in
            # ``pending``, so the stream can start here without reading the log again.
            self.cursors[topic] = head
            await self._flush_pending(topic)
            return
        prefix, _sep, key = topic.partition(".")
        reader = registry.streams[prefix]
        self.repairing.add(topic)
        try:
            log = await reader(self.user, key, after_seq, settings.COMMUNIS["REPLAY_LIMIT"])
            if log is None:
                await self.unsubscribe(topic)
                return
            if after_seq is None:
                self.cursors[topic] = log.latest_seq
            elif log.too_far_behind:
                self.cursors[topic] = log.latest_seq
                await self.send_frame(_resync_frame(topic, after_seq, log.latest_seq))
            else:
                # A position past the log's end (a restored database, a bogus client) must not
                # make the socket drop the events that will fill that range.
                self.cursors[topic] = min(after_seq, log.latest_seq)
                for seq, frame in log.frames:
                    if seq > self.cursors[topic]:
                        self.cursors[topic] = seq
                        await self.send_frame(frame)
        finally:
            self.repairing.discard(topic)
        await self._flush_pending(topic)

    def _start_waiting_streams(self) -> None:
        """Start streams the client never resumed from the latest position."""
        waiting = [t for t, c in self.cursors.items() if c is None and t not in self.repairing]
        if waiting and not self.closed:
            for topic in waiting:
                self._spawn(self.catch_up(topic, None))

    # --- control messages through the channel layer -----------------------------------------
    async def control_close(self, message: dict[str, Any]) -> None:
        """Close this socket (sign-out, deactivation): the person must authenticate again."""
        await self.close_for(message.get("code", CLOSE_UNAUTHENTICATED))

    async def control_subscribe(self, message: dict[str, Any]) -> None:
        """Start a stream the person just gained access to, from ``after_seq``."""
        await self.subscribe_stream(message["topic"], after_seq=message.get("after_seq"))

    async def control_unsubscribe(self, message: dict[str, Any]) -> None:
        """Stop a stream the person lost access to."""
        await self.unsubscribe(message["topic"])

    async def close_for(self, code: int) -> None:
        """Close this socket with ``code`` and forget its subscriptions."""
        if self.closed:
            return
        self.closed = True
        await hub.forget(self, self.topics)
        self.topics.clear()
        await self.close(code=code)
        if code == CLOSE_SLOW and self.writer is not None:
            # The close frame waits behind the unread bytes; a reader that never reads would
            # keep them alive until the close handshake times out.  Free them now.
            self.writer.abort_later(2.0)

    # --- helpers ----------------------------------------------------------------------------
    def _language(self) -> str:
        """Pick the person's UI language from the handshake cookie / Accept-Language."""
        from django.utils.translation import get_supported_language_variant
        from django.utils.translation.trans_real import parse_accept_lang_header

        cookies = self.scope.get("cookies", {})
        candidates = [cookies.get(settings.LANGUAGE_COOKIE_NAME, "")]
        for name, value in self.scope.get("headers", []):
            if name == b"accept-language":
                header = value.decode("latin1")[:200]
                candidates += [lang for lang, _q in parse_accept_lang_header(header)]
        for candidate in candidates:
            with contextlib.suppress(LookupError):
                if candidate:
                    return get_supported_language_variant(candidate)
        return settings.LANGUAGE_CODE

    def _hello(self) -> str:
        limits = settings.COMMUNIS
        return encode(
            {
                "type": "hello",
                "v": PROTOCOL_VERSION,
                "data": {
                    "user": {"id": self.user_id, "username": self.user.get_username()},
                    "streams": sorted(self.cursors),
                    "limits": {
                        "max_frame_bytes": limits["MAX_FRAME_BYTES"],
                        "max_message_length": limits["MAX_MESSAGE_LENGTH"],
                        "heartbeat_interval": limits["HEARTBEAT_INTERVAL"],
                        "idle_timeout": limits["IDLE_TIMEOUT"],
                        "replay_limit": limits["REPLAY_LIMIT"],
                    },
                },
            }
        )


def _is_plain_text(frame: Any) -> bool:
    """Whether every string in a parsed frame is text we can store and send back.

    JSON escapes can smuggle in what is not: a lone surrogate ("\\ud800") cannot be encoded
    for an answer that echoes it (the socket would die on the UnicodeEncodeError), and NUL
    ("\\u0000") is refused by PostgreSQL.  Iterative: the frame may be nested as deep as the
    JSON parser allowed.
    """
    stack = [frame]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value)
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, str):
            if "\x00" in value:
                return False
            try:
                value.encode()
            except UnicodeEncodeError:
                return False
    return True


def _is_plain_id(value: Any) -> bool:
    return (isinstance(value, str) and len(value) <= 64) or (
        isinstance(value, int) and not isinstance(value, bool)
    )


def _resync_frame(topic: str, after_seq: int, latest_seq: int) -> str:
    prefix, _sep, key = topic.partition(".")
    return encode(
        {
            "v": PROTOCOL_VERSION,
            "type": "resync.required",
            "id": None,
            "room": int(key) if prefix == "room" and key.isdigit() else None,
            "seq": None,
            "ts": None,
            "data": {"topic": topic, "after_seq": after_seq, "latest_seq": latest_seq},
        }
    )


class Pressure:
    """How far behind a socket's reader is (see ``DirectWriter.pressure``)."""

    OK = "ok"
    SOFT = "soft"  # drop ephemeral events
    HARD = "hard"  # close the socket: it resumes from the database


class DirectWriter:
    """Write hub events straight to daphne's websocket protocol, and watch its send buffer.

    daphne hands each application ``send = partial(server.handle_reply, protocol)`` (Channels'
    session wrapper keeps it as ``real_send``).  Through that protocol the hub skips, for every
    socket and event, the session wrapper, ``handle_reply``'s checks, the UTF-8 encode and the
    websocket framing: autobahn frames a server message once (``prepareMessage``; server frames
    are not masked) and each socket writes the same bytes.  The same protocol's Twisted
    transport knows how many bytes wait for a slow reader, which ASGI does not expose.
    """

    __slots__ = ("closing", "frames_waiting", "protocol", "transport")

    # One event is written to many sockets in a row by the hub: frame it once.
    _prepared_event: Event | None = None
    _prepared: Any = None

    def __init__(self, protocol: Any) -> None:
        self.protocol = protocol
        self.transport = protocol.transport
        self.frames_waiting = 0
        self.closing = False  # a 4429 close is under way: write nothing more

    @classmethod
    def find(cls, send: Any) -> DirectWriter | None:
        """Reach daphne's protocol behind an ASGI ``send``, or None under another server."""
        for _depth in range(4):
            if isinstance(send, functools.partial):
                for arg in send.args:
                    if cls._usable(arg):
                        return cls(arg)
                return None
            send = getattr(getattr(send, "__self__", None), "real_send", None)
            if send is None:
                return None
        return None

    @staticmethod
    def _usable(protocol: Any) -> bool:
        transport = getattr(protocol, "transport", None)
        return (
            hasattr(protocol, "sendPreparedMessage")
            and hasattr(transport, "socket")
            and hasattr(protocol, "factory")
            and getattr(protocol, "_perMessageCompress", None) is None
            and all(hasattr(transport, a) for a in ("dataBuffer", "offset", "_tempDataLen"))
        )

    def buffered_bytes(self) -> int:
        """Bytes written to this socket that the network has not taken yet."""
        transport = self.transport
        return len(transport.dataBuffer) - transport.offset + transport._tempDataLen

    def pressure(self) -> str:
        """Classify the backlog; counts frames written since the buffer was last empty."""
        waiting = self.buffered_bytes()
        if waiting == 0:
            self.frames_waiting = 0
            return Pressure.OK
        self.frames_waiting += 1
        limits = settings.COMMUNIS
        if (
            waiting > limits["SEND_BUFFER_LIMIT_BYTES"]
            or self.frames_waiting > limits["SEND_QUEUE_LIMIT"]
        ):
            return Pressure.HARD
        if waiting > limits["SEND_BUFFER_SOFT_BYTES"]:
            return Pressure.SOFT
        return Pressure.OK

    def send_event(self, event: Event) -> None:
        """Write ``event``'s frame, framed once for every socket that gets it."""
        protocol = self.protocol
        if protocol.state != protocol.STATE_OPEN:
            return
        cls = DirectWriter
        if cls._prepared_event is not event:
            cls._prepared = protocol.factory.prepareMessage(event.frame.encode())
            cls._prepared_event = event
        prepared = cls._prepared
        if protocol.send_queue or self.buffered_bytes():
            protocol.sendPreparedMessage(prepared)
            return
        # Nothing is waiting: hand the bytes to the kernel now.  Twisted would register the
        # socket for writing, write it a loop turn later and unregister it (two epoll_ctl
        # calls and a callback per socket and event); only what the kernel does not take
        # goes through the transport, which then keeps the order.
        data = prepared.payloadHybi
        try:
            sent = self.transport.socket.send(data)
        except OSError:
            sent = 0  # EAGAIN, or a dead socket the transport's own write will notice
        if sent < len(data):
            self.transport.write(data[sent:])

    def abort_later(self, delay: float) -> None:
        """Drop the TCP connection after ``delay`` s unless it closed by then."""
        transport = self.transport

        def abort() -> None:
            if not getattr(transport, "disconnected", True):
                with contextlib.suppress(Exception):
                    transport.abortConnection()

        asyncio.get_running_loop().call_later(delay, abort)

    def describe(self) -> str:
        return f"{self.buffered_bytes()} bytes, {self.frames_waiting} frames waiting"
