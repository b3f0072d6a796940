from __future__ import annotations

from django.contrib import admin

from .models import Membership, Message, Room


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]
    # Read-only: a membership change must go through rooms.actions, which logs the event and
    # cuts the person's live streams; an admin edit would do neither.
    can_delete = False
    readonly_fields = ["user", "role", "joined_at", "last_read_seq"]

    def has_add_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ["name", "visibility", "last_seq", "archived_at"]
    search_fields = ["name", "topic"]
    inlines = [MembershipInline]
    # Changes go through actions (they publish events); the admin only reads.
    readonly_fields = ["last_seq", "created_by", "created_at"]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["room", "seq", "author", "created_at"]
    list_filter = ["room"]
    search_fields = ["body"]
    readonly_fields = [f.name for f in Message._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False
