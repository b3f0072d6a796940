"""Bad frames get a clear error and leave the socket usable; floods are rate limited."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.servers import DaphneServer

from .conftest import answer_to, connect, make_room, send_frame

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]
MAX_FRAME_BYTES = 65536
UNWATCHED_ROOM = 2**40  # no such room: unsubscribing from it changes nothing


@pytest.fixture
def owner_and_room(transactional_db: Any, make_user: Callable[..., Any]) -> tuple[Any, Any]:
    owner = make_user()
    return owner, make_room(owner, [])


def frame(**fields: Any) -> str:
    return json.dumps(fields)


async def test_each_bad_frame_gets_its_error_and_the_socket_stays_usable(
    daphne_server: DaphneServer, owner_and_room: tuple[Any, Any]
) -> None:
    owner, room = owner_and_room
    good_send = send_frame(room.pk, "hi", "m-1")

    def send_with(req_id: str, **overrides: Any) -> str:
        return frame(type="message.send", req_id=req_id, **{**good_send, **overrides})

    # (what is wrong, the frame, the error code, the field the error names)
    cases: list[tuple[str, str, str, str | None]] = [
        (
            "over the size limit",
            frame(type="ping", req_id="big", pad="x" * MAX_FRAME_BYTES),
            "frame_too_large",
            None,
        ),
        ("not JSON", '{"type": "ping", "req_id": ', "invalid_json", None),
        ("unknown type", frame(type="room.explode", req_id="u"), "unknown_type", None),
        (
            "missing field",
            frame(type="message.send", req_id="m", room=room.pk, client_msg_id="x"),
            "invalid",
            "body",
        ),
        ("room as string", send_with("s", room=str(room.pk)), "invalid", "room"),
        ("body as int", send_with("b", body=5), "invalid", "body"),
        ("bool for int", send_with("t", room=True), "invalid", "room"),
        ("extra field", frame(type="ping", req_id="e", sneaky=1), "invalid", "sneaky"),
        ("extra field on a send", send_with("x", html="<b>hi</b>"), "invalid", "html"),
    ]
    socket = await connect(daphne_server, owner)
    for name, text, code, field in cases:
        answer = await answer_to(socket, text)
        assert answer["type"] == "error", (name, answer)
        assert answer["error"]["code"] == code, (name, answer)
        assert answer["error"]["message"], name
        if field is not None:
            assert answer["error"]["field"] == field, (name, answer)
        # A frame that could be read is answered by its req_id; an unreadable one with null.
        readable = code not in {"frame_too_large", "invalid_json"}
        assert answer["req_id"] == (json.loads(text)["req_id"] if readable else None), name
        # Still usable after each one.
        pong = await socket.request("ping")
        assert pong["type"] == "ok", (name, pong)

    # Nothing above was stored; a valid send still works.
    sent = await socket.request("message.send", **good_send)
    assert sent["type"] == "ok", sent
    assert sent["data"]["message"]["seq"] == room.last_seq + 1
    await socket.close()


async def test_a_flood_is_rate_limited_with_a_retry_time_after_which_sends_work(
    daphne_factory: Callable[..., DaphneServer], owner_and_room: tuple[Any, Any]
) -> None:
    server = daphne_factory(extra_env={"COMMUNIS_SEND_RATE": "5", "COMMUNIS_SEND_BURST": "10"})
    owner, room = owner_and_room
    socket = await connect(server, owner)
    # Every frame but ping and resume is metered.  The flood uses one that costs the server no
    # database work, so the burst is spent faster than the tokens come back however slow the
    # machine: with sends, a loaded database could pace the flood below the rate by itself.
    for n in range(30):  # all at once: no waiting for answers
        await socket.send_raw(frame(type="room.unsubscribe", req_id=f"f{n}", room=UNWATCHED_ROOM))
    answers: dict[str, dict[str, Any]] = {}
    while len(answers) < 30:
        received = await socket.recv()
        if received.get("type") in ("ok", "error") and "v" not in received:
            answers[received["req_id"]] = received
    limited = [a for a in answers.values() if a["type"] == "error"]
    assert limited, "30 frames at once passed a burst of 10"
    assert {a["error"]["code"] for a in limited} == {"rate_limited"}
    assert sum(a["type"] == "ok" for a in answers.values()) >= 10  # the burst went through
    for answer in limited:
        retry_after = answer["error"]["retry_after"]
        assert isinstance(retry_after, int | float) and not isinstance(retry_after, bool)
        assert 0 < retry_after <= 1 / 5 + 0.02

    # Waiting as told is enough: ask once more (maybe refused again), wait, then it works.
    answer = await socket.request("message.send", **send_frame(room.pk, "after", "after-1"))
    if answer["type"] == "error":
        assert answer["error"]["code"] == "rate_limited", answer
        await asyncio.sleep(answer["error"]["retry_after"])
        answer = await socket.request("message.send", **send_frame(room.pk, "after", "after-1"))
    assert answer["type"] == "ok", answer
    # Pings are never metered: a throttled client can still keep its socket alive.
    for _ in range(15):
        assert (await socket.request("ping"))["type"] == "ok"
    await socket.close()
