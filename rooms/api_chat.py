"""REST views for direct conversations, message changes, reactions, pins, receipts,
invitations, notifications, people and chat preferences."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chatserver.api import UserOutput, user_summary
from chatserver.errors import NotFound

from . import actions, events, selectors
from .api import MessageOutput


class DirectOutput(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    participants = UserOutput(many=True)
    last_seq = serializers.IntegerField()
    unread = serializers.IntegerField()
    latest_message = MessageOutput(allow_null=True)


class DirectCreateInput(serializers.Serializer):
    user_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), min_length=1, max_length=100
    )


def _direct_row(room: object, unread: int) -> dict[str, object]:
    latest = room.latest_message  # type: ignore[attr-defined]
    return {
        **events.room_payload(room, participants=room.participants),  # type: ignore[arg-type,attr-defined]
        "unread": unread,
        "latest_message": events.message_payload(latest) if latest else None,
    }


def _person(user_id: int) -> object:
    person = get_user_model().objects.filter(pk=user_id).first()
    if person is None:
        raise NotFound()
    return person


class DirectListCreateApi(APIView):
    @extend_schema(responses=DirectOutput(many=True))
    def get(self, request: Request) -> Response:
        """Your direct conversations, most recent first, with the latest message and unread."""
        rooms = selectors.direct_conversations(request.user)
        unread = selectors.unread_counts(request.user, [r.pk for r in rooms])
        return Response([_direct_row(r, unread.get(r.pk, 0)) for r in rooms])

    @extend_schema(request=DirectCreateInput, responses={200: DirectOutput, 201: DirectOutput})
    def post(self, request: Request) -> Response:
        """Open the conversation with these people (up to 19 others); the same set, the same one."""
        data = DirectCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        room, created = actions.do_open_direct(
            request.user, user_ids=data.validated_data["user_ids"]
        )
        room = next(r for r in selectors.direct_conversations(request.user) if r.pk == room.pk)
        unread = selectors.unread_counts(request.user, [room.pk]).get(room.pk, 0)
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(_direct_row(room, unread), status=code)


class MessageEditInput(serializers.Serializer):
    body = serializers.CharField(trim_whitespace=False, max_length=100_000)


class MessageDetailApi(APIView):
    @extend_schema(request=MessageEditInput, responses=MessageOutput)
    def patch(self, request: Request, message_id: int) -> Response:
        """Edit your own message."""
        data = MessageEditInput(data=request.data)
        data.is_valid(raise_exception=True)
        message = actions.do_edit_message(
            request.user, message_id=message_id, **data.validated_data
        )
        return Response(events.message_payload(message, reactions=events.reaction_summary(message)))

    @extend_schema(responses={204: None})
    def delete(self, request: Request, message_id: int) -> Response:
        """Delete a message (yours, or any as the room's owner or admin); a tombstone remains."""
        actions.do_delete_message(request.user, message_id=message_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ReactionInput(serializers.Serializer):
    emoji = serializers.CharField(max_length=64, trim_whitespace=False)


class ReactionToggleOutput(serializers.Serializer):
    added = serializers.BooleanField()


class ReactionToggleApi(APIView):
    @extend_schema(request=ReactionInput, responses=ReactionToggleOutput)
    def post(self, request: Request, message_id: int) -> Response:
        """Add your reaction with this emoji, or remove it if it is there."""
        data = ReactionInput(data=request.data)
        data.is_valid(raise_exception=True)
        added = actions.do_toggle_reaction(
            request.user, message_id=message_id, emoji=data.validated_data["emoji"]
        )
        return Response({"added": added})


class PinInput(serializers.Serializer):
    pinned = serializers.BooleanField()


class MessagePinApi(APIView):
    @extend_schema(request=PinInput, responses=PinInput)
    def post(self, request: Request, message_id: int) -> Response:
        """Pin or unpin a message (owners and admins)."""
        data = PinInput(data=request.data)
        data.is_valid(raise_exception=True)
        message = actions.do_pin_message(
            request.user, message_id=message_id, pinned=data.validated_data["pinned"]
        )
        return Response({"pinned": message.pinned_at is not None})


class RoomPinsApi(APIView):
    @extend_schema(responses=MessageOutput(many=True))
    def get(self, request: Request, room_id: int) -> Response:
        access = selectors.access_room(request.user, room_id)
        return Response([events.message_payload(m) for m in selectors.pinned_messages(access.room)])


class ReceiptOutput(serializers.Serializer):
    user = UserOutput()
    seq = serializers.IntegerField()


class RoomReceiptsApi(APIView):
    @extend_schema(responses=ReceiptOutput(many=True))
    def get(self, request: Request, room_id: int) -> Response:
        """Members' read positions ("seen by"); empty for rooms of more than 50 members."""
        access = selectors.access_room(request.user, room_id)
        receipts = selectors.read_receipts(access.room) or []
        return Response([{"user": user_summary(m.user), "seq": m.last_read_seq} for m in receipts])


class RoleInput(serializers.Serializer):
    role = serializers.CharField(max_length=20)


class MemberRoleApi(APIView):
    @extend_schema(request=RoleInput, responses=RoleInput)
    def post(self, request: Request, room_id: int, user_id: int) -> Response:
        """Make a member owner, admin or member (owners only)."""
        data = RoleInput(data=request.data)
        data.is_valid(raise_exception=True)
        membership = actions.do_set_member_role(
            request.user, room_id=room_id, user_id=user_id, role=data.validated_data["role"]
        )
        return Response({"role": membership.role})


class InvitationOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    inviter = UserOutput()
    invitee = UserOutput()


class InviteInput(serializers.Serializer):
    user_id = serializers.IntegerField(min_value=1)


class RoomInvitationsApi(APIView):
    @extend_schema(request=InviteInput, responses={201: InvitationOutput})
    def post(self, request: Request, room_id: int) -> Response:
        """Invite someone; they join when they accept."""
        data = InviteInput(data=request.data)
        data.is_valid(raise_exception=True)
        invitee = _person(data.validated_data["user_id"])
        invitation = actions.do_invite(request.user, room_id=room_id, invitee=invitee)
        return Response(events.invitation_payload(invitation), status=status.HTTP_201_CREATED)


class InvitationListApi(APIView):
    @extend_schema(responses=InvitationOutput(many=True))
    def get(self, request: Request) -> Response:
        """Invitations waiting for your answer."""
        rows = selectors.pending_invitations(request.user)
        return Response([events.invitation_payload(i) for i in rows])


class InvitationRespondApi(APIView):
    accept = True

    @extend_schema(request=None, responses=InvitationOutput)
    def post(self, request: Request, invitation_id: int) -> Response:
        invitation = actions.do_respond_to_invitation(
            request.user, invitation_id=invitation_id, accept=self.accept
        )
        return Response(events.invitation_payload(invitation))


class NotificationOutput(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    room = serializers.IntegerField()
    message = MessageOutput()
    created_at = serializers.DateTimeField()
    read = serializers.BooleanField()


class NotificationListApi(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("unread", bool, description="Only unread ones")],
        responses=NotificationOutput(many=True),
    )
    def get(self, request: Request) -> Response:
        """Mentions & replies (and direct messages), newest first."""
        unread_only = request.query_params.get("unread") in {"1", "true"}
        rows = selectors.notifications_for_user(request.user, unread_only=unread_only)
        return Response([events.notification_payload(n) for n in rows])


class NotificationReadInput(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, max_length=500
    )


class NotificationReadApi(APIView):
    @extend_schema(request=NotificationReadInput, responses=NotificationReadInput)
    def post(self, request: Request) -> Response:
        """Mark these (or, without ``ids``, all) notifications read, in every tab."""
        data = NotificationReadInput(data=request.data)
        data.is_valid(raise_exception=True)
        ids = actions.do_mark_notifications_read(request.user, ids=data.validated_data.get("ids"))
        return Response({"ids": ids})


class PeopleQueryInput(serializers.Serializer):
    # A CharField refuses NUL (PostgreSQL text cannot hold it) and lone surrogates.
    q = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False)


class PeopleApi(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("q", str, description="Start of a name or username")],
        responses=UserOutput(many=True),
    )
    def get(self, request: Request) -> Response:
        """Find colleagues (for @mentions and new direct messages)."""
        data = PeopleQueryInput(data={"q": (request.query_params.get("q") or "")[:100]})
        data.is_valid(raise_exception=True)
        people = selectors.search_people(data.validated_data["q"])
        return Response([user_summary(p) for p in people])


class PreferencesInput(serializers.Serializer):
    share_read_receipts = serializers.BooleanField()


class ChatPreferencesApi(APIView):
    @extend_schema(responses=PreferencesInput)
    def get(self, request: Request) -> Response:
        from .actions.reading import shares_read_receipts

        return Response({"share_read_receipts": shares_read_receipts(request.user)})

    @extend_schema(request=PreferencesInput, responses=PreferencesInput)
    def put(self, request: Request) -> Response:
        """Choose whether others see when you have read their messages."""
        data = PreferencesInput(data=request.data)
        data.is_valid(raise_exception=True)
        prefs = actions.do_set_chat_preferences(request.user, **data.validated_data)
        return Response({"share_read_receipts": prefs.share_read_receipts})
