from __future__ import annotations

from django.urls import path

from . import api

urlpatterns = [
    path("rooms/", api.RoomListCreateApi.as_view(), name="room-list"),
    path("rooms/<int:room_id>/", api.RoomDetailApi.as_view(), name="room-detail"),
    path("rooms/<int:room_id>/join/", api.RoomJoinApi.as_view(), name="room-join"),
    path("rooms/<int:room_id>/leave/", api.RoomLeaveApi.as_view(), name="room-leave"),
    path("rooms/<int:room_id>/members/", api.RoomMembersApi.as_view(), name="room-members"),
    path(
        "rooms/<int:room_id>/members/<int:user_id>/",
        api.RoomMemberRemoveApi.as_view(),
        name="room-member-remove",
    ),
    path("rooms/<int:room_id>/messages/", api.MessageListCreateApi.as_view(), name="room-messages"),
    path("rooms/<int:room_id>/read/", api.RoomReadApi.as_view(), name="room-read"),
]
