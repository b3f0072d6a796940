"""Every change in the rooms app goes through here: ``check_*`` authorises and validates,
``do_*`` writes and publishes its events on commit.

Sequence numbers are handed out while holding a row lock on the room (``select_for_update``;
SQLite serialises writers with ``BEGIN IMMEDIATE``), so a room's log is gap-free and strictly
increasing, and publishing on commit happens in commit order within a process.
"""

from .direct import MAX_DIRECT_PARTICIPANTS, direct_key, do_open_direct
from .messages import (
    CLIENT_MSG_ID_PATTERN,
    SendResult,
    check_emoji,
    check_send_message,
    do_delete_message,
    do_edit_message,
    do_pin_message,
    do_send_message,
    do_toggle_reaction,
)
from .reading import (
    do_mark_notifications_read,
    do_mark_read,
    do_set_chat_preferences,
    do_signal_typing,
)
from .rooms import (
    check_room_fields,
    do_add_member,
    do_create_room,
    do_invite,
    do_join_room,
    do_leave_room,
    do_remove_member,
    do_respond_to_invitation,
    do_set_member_role,
    do_update_room,
)

__all__ = [
    "CLIENT_MSG_ID_PATTERN",
    "MAX_DIRECT_PARTICIPANTS",
    "SendResult",
    "check_emoji",
    "check_room_fields",
    "check_send_message",
    "direct_key",
    "do_add_member",
    "do_create_room",
    "do_delete_message",
    "do_edit_message",
    "do_invite",
    "do_join_room",
    "do_leave_room",
    "do_mark_notifications_read",
    "do_mark_read",
    "do_open_direct",
    "do_pin_message",
    "do_remove_member",
    "do_respond_to_invitation",
    "do_send_message",
    "do_set_chat_preferences",
    "do_set_member_role",
    "do_signal_typing",
    "do_toggle_reaction",
    "do_update_room",
]
