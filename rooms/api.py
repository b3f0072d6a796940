"""REST views of the rooms app: one class per operation, input and output serializers, thin."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle, ScopedRateThrottle
from rest_framework.views import APIView

from chatserver.api import UserOutput, user_summary
from chatserver.errors import InvalidInput, NotFound

from . import actions, events, selectors


# --- serializers ------------------------------------------------------------------------------
class RoomOutput(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    name = serializers.CharField()
    topic = serializers.CharField()
    visibility = serializers.CharField()
    archived = serializers.BooleanField()
    last_seq = serializers.IntegerField()
    is_member = serializers.BooleanField()
    member_count = serializers.IntegerField()
    unread = serializers.IntegerField()


class RoomCreateInput(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    topic = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")
    visibility = serializers.CharField(max_length=20, required=False, default="public")


class ReactionOutput(serializers.Serializer):
    emoji = serializers.CharField()
    count = serializers.IntegerField()
    users = serializers.ListField(child=serializers.IntegerField())


class RoomUpdateInput(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    topic = serializers.CharField(max_length=1000, required=False, allow_blank=True)
    archived = serializers.BooleanField(required=False)


class MessageOutput(serializers.Serializer):
    id = serializers.IntegerField()
    room = serializers.IntegerField()
    seq = serializers.IntegerField()
    author = UserOutput()
    client_msg_id = serializers.CharField()
    body = serializers.CharField()
    html = serializers.CharField()
    created_at = serializers.DateTimeField()
    edited_at = serializers.DateTimeField(allow_null=True)
    deleted = serializers.BooleanField()
    thread_root = serializers.IntegerField(allow_null=True)
    reply_count = serializers.IntegerField()
    last_reply_at = serializers.DateTimeField(allow_null=True)
    pinned = serializers.BooleanField()
    mentions = serializers.ListField()
    reactions = ReactionOutput(many=True)


class MessagePageOutput(serializers.Serializer):
    messages = MessageOutput(many=True)
    latest_seq = serializers.IntegerField()
    has_more = serializers.BooleanField()


class MessageCreateInput(serializers.Serializer):
    body = serializers.CharField(trim_whitespace=False, max_length=100_000)
    client_msg_id = serializers.CharField(max_length=200)
    thread = serializers.IntegerField(min_value=1, required=False, allow_null=True)


class MemberOutput(serializers.Serializer):
    user = UserOutput()
    role = serializers.CharField()


class MemberAddInput(serializers.Serializer):
    user_id = serializers.IntegerField(min_value=1)


class ReadInput(serializers.Serializer):
    seq = serializers.IntegerField(min_value=0)


def _room_row(room: object, unread: int) -> dict[str, object]:
    return {
        **events.room_payload(room),  # type: ignore[arg-type]
        "is_member": room.is_member,  # type: ignore[attr-defined]
        "member_count": room.member_count,  # type: ignore[attr-defined]
        "unread": unread,
    }


# Query cursors and ids are bounded like the websocket's: a larger one overflows the database's
# 64-bit integers, and past 4,300 digits int() itself refuses.
MAX_QUERY_INT = 2**53


def _optional_seq(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    # isdigit() alone accepts "²" and other Unicode digits that int() then refuses.
    valid = raw.isascii() and raw.isdigit() and len(raw) <= len(str(MAX_QUERY_INT))
    if not valid or int(raw) > MAX_QUERY_INT:
        raise InvalidInput(
            _("“%(name)s” must be an integer from 0 to 2⁵³.") % {"name": name},
            extra={"field": name},
        )
    return int(raw)


# --- views ------------------------------------------------------------------------------------
class RoomListCreateApi(APIView):
    @extend_schema(responses=RoomOutput(many=True))
    def get(self, request: Request) -> Response:
        """List the rooms you can see: public ones and private ones you belong to."""
        rooms = list(selectors.rooms_for_user(request.user))
        unread = selectors.unread_counts(request.user, [r.pk for r in rooms if r.is_member])
        return Response([_room_row(room, unread.get(room.pk, 0)) for room in rooms])

    @extend_schema(request=RoomCreateInput, responses={201: RoomOutput})
    def post(self, request: Request) -> Response:
        """Create a room; you become its owner."""
        data = RoomCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        room = actions.do_create_room(request.user, **data.validated_data)
        room = selectors.rooms_for_user(request.user).get(pk=room.pk)
        return Response(_room_row(room, 0), status=status.HTTP_201_CREATED)


class RoomDetailApi(APIView):
    @extend_schema(responses=RoomOutput)
    def get(self, request: Request, room_id: int) -> Response:
        access = selectors.access_room(request.user, room_id)
        room = selectors.rooms_for_user(request.user, include_archived=True, kind=None).get(
            pk=access.room.pk
        )
        unread = selectors.unread_counts(request.user, [room.pk]).get(room.pk, 0)
        return Response(_room_row(room, unread))

    @extend_schema(request=RoomUpdateInput, responses=RoomOutput)
    def patch(self, request: Request, room_id: int) -> Response:
        """Rename, set the topic, archive or unarchive (owners and admins)."""
        data = RoomUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        actions.do_update_room(request.user, room_id=room_id, **data.validated_data)
        return self.get(request, room_id)


class RoomJoinApi(APIView):
    @extend_schema(request=None, responses=MemberOutput)
    def post(self, request: Request, room_id: int) -> Response:
        membership = actions.do_join_room(request.user, room_id=room_id)
        return Response({"user": user_summary(request.user), "role": membership.role})


class RoomLeaveApi(APIView):
    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request, room_id: int) -> Response:
        actions.do_leave_room(request.user, room_id=room_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RoomMembersApi(APIView):
    @extend_schema(responses=MemberOutput(many=True))
    def get(self, request: Request, room_id: int) -> Response:
        access = selectors.access_room(request.user, room_id)
        return Response(
            [
                {"user": user_summary(m.user), "role": m.role}
                for m in selectors.room_members(access.room)
            ]
        )

    @extend_schema(request=MemberAddInput, responses={201: MemberOutput})
    def post(self, request: Request, room_id: int) -> Response:
        data = MemberAddInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = get_user_model().objects.filter(pk=data.validated_data["user_id"]).first()
        if user is None:
            raise NotFound()
        membership = actions.do_add_member(request.user, room_id=room_id, user=user)
        return Response(
            {"user": user_summary(user), "role": membership.role}, status=status.HTTP_201_CREATED
        )


class RoomMemberRemoveApi(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request: Request, room_id: int, user_id: int) -> Response:
        actions.do_remove_member(request.user, room_id=room_id, user_id=user_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MessageListCreateApi(APIView):
    throttle_scope = "send"

    def get_throttles(self) -> list[BaseThrottle]:
        """Meter sends per person; reading history is not metered."""
        return [ScopedRateThrottle()] if self.request.method == "POST" else []

    @extend_schema(
        parameters=[
            OpenApiParameter("before", int, description="Messages with seq below this"),
            OpenApiParameter("after", int, description="Messages with seq above this"),
            OpenApiParameter("limit", int, description="Page size (at most 100)"),
            OpenApiParameter("thread", int, description="Only the replies of this thread root"),
            OpenApiParameter(
                "include_replies", bool, description="Also thread replies (resync after a gap)"
            ),
        ],
        responses=MessagePageOutput,
    )
    def get(self, request: Request, room_id: int) -> Response:
        """Page through history by sequence: newest before ``before``, or oldest after ``after``."""
        access = selectors.access_room(request.user, room_id)
        before, after = _optional_seq(request, "before"), _optional_seq(request, "after")
        if before is not None and after is not None:
            raise InvalidInput("Give “before” or “after”, not both.")
        page_max = settings.COMMUNIS["HISTORY_PAGE_MAX"]
        limit = min(_optional_seq(request, "limit") or 50, page_max) or 1
        page = selectors.message_history(
            access.room,
            before=before,
            after=after,
            limit=limit + 1,
            thread=_optional_seq(request, "thread"),
            include_replies=request.query_params.get("include_replies") in {"1", "true"},
        )
        has_more = len(page) > limit
        page = page[:limit] if after is not None else page[-limit:]
        reactions = selectors.reaction_summaries(page)
        return Response(
            {
                "messages": [
                    events.message_payload(m, reactions=reactions.get(m.pk, [])) for m in page
                ],
                "latest_seq": access.room.last_seq,
                "has_more": has_more,
            }
        )

    @extend_schema(request=MessageCreateInput, responses={201: MessageOutput, 200: MessageOutput})
    def post(self, request: Request, room_id: int) -> Response:
        """Send a message; a retry with the same ``client_msg_id`` returns the original (200)."""
        data = MessageCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        result = actions.do_send_message(request.user, room_id=room_id, **data.validated_data)
        code = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        return Response(events.message_payload(result.message), status=code)


class RoomReadApi(APIView):
    @extend_schema(request=ReadInput, responses=ReadInput)
    def post(self, request: Request, room_id: int) -> Response:
        """Mark the room read up to ``seq``."""
        data = ReadInput(data=request.data)
        data.is_valid(raise_exception=True)
        seq = actions.do_mark_read(request.user, room_id=room_id, seq=data.validated_data["seq"])
        return Response({"seq": seq})
