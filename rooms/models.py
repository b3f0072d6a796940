"""Rooms, memberships, messages and each room's ordered event log."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Room(models.Model):
    class Visibility(models.TextChoices):
        PUBLIC = "public", _("Public")
        PRIVATE = "private", _("Private")

    name = models.CharField(_("name"), max_length=80)
    topic = models.CharField(_("topic"), max_length=250, blank=True)
    visibility = models.CharField(
        _("visibility"), max_length=10, choices=Visibility.choices, default=Visibility.PUBLIC
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # The last sequence number handed out in this room's log; bumped under a row lock.
    last_seq = models.PositiveBigIntegerField(default=0)
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("room")
        verbose_name_plural = _("rooms")

    def __str__(self) -> str:
        return self.name

    @property
    def topic_name(self) -> str:
        """The hub topic this room's events travel on."""
        return f"room.{self.pk}"


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", _("Owner")
        ADMIN = "admin", _("Admin")
        MEMBER = "member", _("Member")

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="room_memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    joined_at = models.DateTimeField(auto_now_add=True)
    last_read_seq = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["room", "user"], name="unique_room_membership")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.room_id} ({self.role})"


class RoomEvent(models.Model):
    """The room's log: every event with a sequence number, as the exact frame clients got.

    Resume and gap repair replay these rows, so a reconnecting client sees exactly what a
    connected one saw, in the same order, without re-rendering anything.
    """

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveBigIntegerField()
    type = models.CharField(max_length=40)
    frame = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["room", "seq"], name="unique_room_event_seq")
        ]
        ordering = ["room", "seq"]

    def __str__(self) -> str:
        return f"{self.room_id}:{self.seq} {self.type}"


class Message(models.Model):
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="messages")
    seq = models.PositiveBigIntegerField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="messages"
    )
    # The sender's idempotency key: a retry with the same key returns this message.
    client_msg_id = models.CharField(max_length=64)
    body = models.TextField()
    body_html = models.TextField()
    render_version = models.PositiveSmallIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    edited_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["room", "seq"], name="unique_message_seq"),
            models.UniqueConstraint(
                fields=["author", "client_msg_id"], name="unique_message_client_id"
            ),
        ]
        ordering = ["room", "seq"]

    def __str__(self) -> str:
        return f"{self.room_id}:{self.seq} by {self.author_id}"
