"""Messages: send (with threads and mentions), edit, delete, pin, react."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from chatserver.api import user_summary
from chatserver.errors import Conflict, Forbidden, InvalidInput, NotFound
from chatserver.rendering import RENDER_VERSION, ContentTooLong, is_blank, render_markdown

from .. import events, permissions
from ..models import Membership, Message, MessageRevision, Reaction, Room
from ..selectors import access_room
from .log import append_to_log, scrub_message_frames
from .notify import mention_ids, notify_for_message

CLIENT_MSG_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
MAX_EMOJI_CODEPOINTS = 16


@dataclass(frozen=True, slots=True)
class SendResult:
    message: Message
    created: bool  # False: a retry of an earlier send, answered with the original


def render_body(body: str) -> str:
    """Validate a message body and return its sanitised HTML (rendered once, here)."""
    if is_blank(body):
        raise InvalidInput(_("A message cannot be empty."), extra={"field": "body"})
    try:
        return render_markdown(body, max_length=settings.COMMUNIS["MAX_MESSAGE_LENGTH"])
    except ContentTooLong as error:
        raise InvalidInput(
            _("The message is too long (at most %(max)s characters).")
            % {"max": settings.COMMUNIS["MAX_MESSAGE_LENGTH"]},
            extra={"field": "body"},
        ) from error


def check_send_message(*, body: str, client_msg_id: str) -> str:
    """Validate a message and its idempotency key; return the sanitised HTML."""
    if not CLIENT_MSG_ID_PATTERN.match(client_msg_id or ""):
        raise InvalidInput(
            _("client_msg_id must be 1 to 64 letters, digits or . _ : -"),
            extra={"field": "client_msg_id"},
        )
    return render_body(body)


def _same_thread(original: Message, thread: int | None) -> bool:
    """Whether ``thread`` names the thread ``original`` was stored in."""
    if original.thread_root_id == thread:
        return True
    # A reply to a reply was stored in its root's thread: a retry names the reply again.
    return (
        thread is not None
        and original.thread_root_id is not None
        and Message.objects.filter(pk=thread, thread_root_id=original.thread_root_id).exists()
    )


def _original_send(
    author: Any, *, room_id: int, body: str, client_msg_id: str, thread: int | None
) -> SendResult | None:
    """Return the message an earlier send with this key created, or raise if it differs."""
    original = (
        Message.objects.filter(author=author, client_msg_id=client_msg_id)
        .select_related("author")
        .first()
    )
    if original is None:
        return None
    if original.room_id != room_id or original.body != body or not _same_thread(original, thread):
        raise Conflict(
            _("This client_msg_id was already used for a different message."),
            extra={"message_id": original.pk},
        )
    return SendResult(message=original, created=False)


def _thread_root(room: Room, thread: int | None) -> Message | None:
    if thread is None:
        return None
    root = Message.objects.filter(pk=thread).first()
    if root is None or root.room_id != room.pk:
        raise InvalidInput(
            _("You can only reply to a message in the same conversation."),
            extra={"field": "thread"},
        )
    if root.thread_root_id is not None:
        root = root.thread_root  # a reply to a reply joins the same thread
    if root.deleted_at is not None and root.reply_count == 0:
        raise InvalidInput(_("That message was deleted."), extra={"field": "thread"})
    return root


def _create_message(
    author: Any, room: Room, *, body: str, html: str, client_msg_id: str, thread: int | None
) -> Message:
    """Write the message, its log event, thread summary and notifications (room locked)."""
    root = _thread_root(room, thread)
    mentions, everyone = mention_ids(body, room)
    message = Message.objects.create(
        room=room,
        seq=room.last_seq + 1,
        author=author,
        client_msg_id=client_msg_id,
        body=body,
        body_html=html,
        render_version=RENDER_VERSION,
        thread_root=root,
        mentions=mentions,
    )
    data: dict[str, Any] = {"message": events.message_payload(message)}
    if root is not None:
        Message.objects.filter(pk=root.pk).update(
            reply_count=F("reply_count") + 1, last_reply_at=message.created_at
        )
        root.refresh_from_db(fields=["reply_count", "last_reply_at"])
        data["thread"] = {
            "root": root.pk,
            "reply_count": root.reply_count,
            "last_reply_at": root.last_reply_at,
        }
    append_to_log(room, type=events.MESSAGE_CREATED, data=data, message=message)
    notify_for_message(message, room, everyone=everyone)
    return message


def do_send_message(
    author: Any, *, room_id: int, body: str, client_msg_id: str, thread: int | None = None
) -> SendResult:
    """Store a message and publish it on commit; a retried send returns the original.

    Retries are rare, so there is no look-up before the write: the unique key
    ``(author, client_msg_id)`` refuses the second row, and only then is the original read.
    A retry that is refused for another reason (the room was archived or left since) is
    answered with the original too, as it was accepted once.
    """
    html = check_send_message(body=body, client_msg_id=client_msg_id)
    key = {"room_id": room_id, "body": body, "client_msg_id": client_msg_id, "thread": thread}
    try:
        with transaction.atomic():
            access = access_room(author, room_id, lock=True)
            if not permissions.can_post(access.room, access.membership):
                if access.membership is None:
                    raise Forbidden(_("Join the room to post in it."))
                raise Forbidden(_("This room is archived."))
            message = _create_message(
                author,
                access.room,
                body=body,
                html=html,
                client_msg_id=client_msg_id,
                thread=thread,
            )
    except (IntegrityError, Forbidden, NotFound):
        original = _original_send(author, **key)
        if original is None:
            raise
        return original
    return SendResult(message=message, created=True)


def _locked_message(user: Any, message_id: int) -> tuple[Message, Room, Membership | None]:
    """Return a message the person may see, its room (locked) and their membership of it.

    Call inside ``transaction.atomic``.
    """
    message = Message.objects.filter(pk=message_id).select_related("author").first()
    if message is None:
        raise NotFound()
    access = access_room(user, message.room_id, lock=True)  # NotFound when the room is not theirs
    return message, access.room, access.membership


def do_edit_message(user: Any, *, message_id: int, body: str) -> Message:
    """Change the text of your own message; the previous text is kept for moderators."""
    html = render_body(body)
    with transaction.atomic():
        message, room, membership = _locked_message(user, message_id)
        if message.author_id != user.pk:
            raise Forbidden(_("You can only edit your own messages."))
        if message.deleted_at is not None:
            raise InvalidInput(_("That message was deleted."))
        if not permissions.can_post(room, membership):
            raise Forbidden(_("You can no longer post in this room."))
        if body == message.body:
            return message
        MessageRevision.objects.create(
            message=message, body=message.body, body_html=message.body_html, replaced_by=user
        )
        message.body, message.body_html = body, html
        message.render_version = RENDER_VERSION
        message.edited_at = timezone.now()
        message.save(update_fields=["body", "body_html", "render_version", "edited_at"])
        payload = events.message_payload(message, reactions=events.reaction_summary(message))
        append_to_log(room, type=events.MESSAGE_EDITED, data={"message": payload}, message=message)
        return message


def do_delete_message(user: Any, *, message_id: int) -> Message:
    """Delete a message (its author, or the room's owners and admins), leaving a tombstone."""
    with transaction.atomic():
        message, room, membership = _locked_message(user, message_id)
        is_author = message.author_id == user.pk
        if not is_author and not permissions.can_administer(room, membership):
            raise Forbidden(_("You can only delete your own messages."))
        if message.deleted_at is not None:
            return message
        MessageRevision.objects.create(
            message=message, body=message.body, body_html=message.body_html, replaced_by=user
        )
        message.deleted_at = timezone.now()
        message.pinned_at = None
        message.save(update_fields=["deleted_at", "pinned_at"])
        Reaction.objects.filter(message=message).delete()
        tombstone = events.message_payload(message)
        scrub_message_frames(message, tombstone)
        append_to_log(
            room, type=events.MESSAGE_DELETED, data={"message": tombstone}, message=message
        )
        return message


def do_pin_message(user: Any, *, message_id: int, pinned: bool) -> Message:
    """Pin or unpin a message; owners and admins only."""
    with transaction.atomic():
        message, room, membership = _locked_message(user, message_id)
        if not permissions.can_pin(room, membership):
            if room.archived_at is not None:
                raise Forbidden(_("This room is archived."))
            raise Forbidden(_("Only the room's owners and admins can pin messages."))
        if message.deleted_at is not None:
            raise InvalidInput(_("That message was deleted."))
        if pinned == (message.pinned_at is not None):
            return message
        message.pinned_at = timezone.now() if pinned else None
        message.pinned_by = user if pinned else None
        message.save(update_fields=["pinned_at", "pinned_by"])
        append_to_log(
            room,
            type=events.MESSAGE_PINNED if pinned else events.MESSAGE_UNPINNED,
            data={"message_id": message.pk, "by": user_summary(user)},
            message=message,
        )
        return message


def _is_regional_indicator(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF


def _is_emoji_element(part: str) -> bool:
    """One pictograph with its optional variation selector, skin tone or tag sequence."""
    base, rest = part[:1], part[1:]
    if not base or unicodedata.category(base) != "So" or _is_regional_indicator(base):
        return False
    rest = rest.removeprefix("\ufe0f").removeprefix("\ufe0e")
    if rest and 0x1F3FB <= ord(rest[0]) <= 0x1F3FF:  # skin tone
        rest = rest[1:]
    # Tag sequences: 🏴 + tag letters + cancel tag, the flags of regions such as Scotland.
    if rest.endswith("\U000e007f") and all(0xE0020 <= ord(c) <= 0xE007E for c in rest[:-1]):
        rest = ""
    return rest == ""


def check_emoji(emoji: str) -> str:
    """Return ``emoji`` if it is one emoji (sequences and skin tones included), else raise.

    One emoji is a keycap (1️⃣), a flag (two regional indicators), or pictographs joined by
    zero-width joiners (👨‍👩‍👧), each with an optional variation selector and skin tone.
    "👍👍" is two emoji, and text is none.
    """
    emoji = unicodedata.normalize("NFC", emoji or "")
    valid = 0 < len(emoji) <= MAX_EMOJI_CODEPOINTS and (
        re.fullmatch(r"[0-9#*]\ufe0f?\u20e3", emoji) is not None
        or (len(emoji) == 2 and all(_is_regional_indicator(c) for c in emoji))
        or all(_is_emoji_element(part) for part in emoji.split("\u200d"))
    )
    if not valid:
        raise InvalidInput(_("A reaction must be a single emoji."), extra={"field": "emoji"})
    return emoji


def do_toggle_reaction(user: Any, *, message_id: int, emoji: str) -> bool:
    """Add the person's reaction, or remove it if it is there; return True when added."""
    emoji = check_emoji(emoji)
    with transaction.atomic():
        message, room, membership = _locked_message(user, message_id)
        if not permissions.can_post(room, membership):
            raise Forbidden(_("Join the room to react in it."))
        if message.deleted_at is not None:
            raise InvalidInput(_("That message was deleted."))
        deleted, _count = Reaction.objects.filter(message=message, user=user, emoji=emoji).delete()
        added = not deleted
        if added:
            Reaction.objects.create(message=message, user=user, emoji=emoji)
        append_to_log(
            room,
            type=events.REACTION_ADDED if added else events.REACTION_REMOVED,
            data={
                "message_id": message.pk,
                "emoji": emoji,
                "user": user_summary(user),
                "reactions": events.reaction_summary(message),
            },
            message=message,
        )
        return added
