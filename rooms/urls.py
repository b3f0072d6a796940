from __future__ import annotations

from django.urls import path

from . import api, api_chat

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
    path("rooms/<int:room_id>/pins/", api_chat.RoomPinsApi.as_view(), name="room-pins"),
    path("rooms/<int:room_id>/receipts/", api_chat.RoomReceiptsApi.as_view(), name="room-receipts"),
    path(
        "rooms/<int:room_id>/invitations/",
        api_chat.RoomInvitationsApi.as_view(),
        name="room-invitations",
    ),
    path(
        "rooms/<int:room_id>/members/<int:user_id>/role/",
        api_chat.MemberRoleApi.as_view(),
        name="room-member-role",
    ),
    path("direct/", api_chat.DirectListCreateApi.as_view(), name="direct-list"),
    path("messages/<int:message_id>/", api_chat.MessageDetailApi.as_view(), name="message-detail"),
    path(
        "messages/<int:message_id>/reactions/",
        api_chat.ReactionToggleApi.as_view(),
        name="message-reactions",
    ),
    path("messages/<int:message_id>/pin/", api_chat.MessagePinApi.as_view(), name="message-pin"),
    path("invitations/", api_chat.InvitationListApi.as_view(), name="invitation-list"),
    path(
        "invitations/<int:invitation_id>/accept/",
        api_chat.InvitationRespondApi.as_view(accept=True),
        name="invitation-accept",
    ),
    path(
        "invitations/<int:invitation_id>/decline/",
        api_chat.InvitationRespondApi.as_view(accept=False),
        name="invitation-decline",
    ),
    path("notifications/", api_chat.NotificationListApi.as_view(), name="notification-list"),
    path("notifications/read/", api_chat.NotificationReadApi.as_view(), name="notification-read"),
    path("people/", api_chat.PeopleApi.as_view(), name="people"),
    path("me/preferences/", api_chat.ChatPreferencesApi.as_view(), name="chat-preferences"),
]
