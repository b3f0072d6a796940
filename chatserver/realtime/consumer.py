"""The gateway: the one websocket consumer every browser tab and device connects to.

It is a routing shell.  It authenticates, validates frames against the registered schemas,
dispatches them to the owning app's handler, answers ``ok``/``error`` by ``req_id``, and keeps
each socket's ordered streams exactly-once and in order:

* every ordered topic (``room.<id>``) has a cursor, the last sequence number this socket
  delivered; an event at ``cursor + 1`` is sent at once, an older one is a duplicate and
  dropped, a newer one is held while the gap is repaired from the database log;
* on connect, streams wait (events are held) until the client says where it was with
  ``resume`` — or, after a short grace period, start from the latest position.
"""

from __future__ import annotations

import asyncio
import contextlib
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
        if topic in self.topics:
            self.topics.discard(topic)
            await hub.unsubscribe(topic, self)

    # --- ordered delivery -------------------------------------------------------------------
    async def receive_event(self, event: Event) -> None:
        """Deliver one event from the hub (the hot path: keep it cheap)."""
        if event.seq is None:
            if not self.closed:
                await self.base_send(event.message)
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
            await self.base_send(event.message)
        if self.user_id in event.revoke_user_ids:
            await self.unsubscribe(event.topic)

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
