"""Fuzz the inbound side of the gateway: no frame a client can send crashes it.

The schema check alone must accept a frame exactly when it matches, and refuse everything else
with ``InvalidInput``; through the whole ASGI stack every frame gets one ``ok`` or ``error``
answer, the socket stays open, every byte sent back is valid UTF-8, and a ``ping`` still works.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatserver.errors import InvalidInput
from chatserver.realtime import registry
from chatserver.realtime.schema import (
    ENVELOPE_FIELDS,
    Field,
    FrameSchema,
    validate_frame,
    validate_req_id,
)
from rooms import actions

from .conftest import Socket, open_socket

FRAME_TYPES = sorted(registry.handlers)
FIELD_NAMES = sorted({name for entry in registry.handlers.values() for name in entry.schema.fields})

# Mostly ordinary text, now and then a lone surrogate (JSON can escape one; it is not text).
characters = st.characters() | st.characters(categories=["Cs"])
json_text = st.text(characters, max_size=24)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-2, max_value=2**53 + 2)
    | st.floats(allow_nan=False, allow_infinity=False)
    | json_text
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(json_text, children, max_size=4)
    ),
    max_leaves=12,
)
# Frames shaped like real ones (a known type, known field names, any values), so the fuzzer
# gets past the type check and into the schemas and handlers, plus a stray field now and then.
plausible_frames = st.builds(
    lambda frame_type, fields, extra: {"type": frame_type, **fields, **extra},
    st.sampled_from(FRAME_TYPES),
    st.dictionaries(st.sampled_from(["req_id", *FIELD_NAMES]), json_values, max_size=5),
    st.dictionaries(json_text, json_values, max_size=1),
)
any_frame_value = plausible_frames | json_values | st.dictionaries(json_text, json_values)


def _is_kind(value: Any, kind: type) -> bool:
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


@settings(max_examples=200, deadline=None)
@given(frame=st.dictionaries(json_text, json_values) | plausible_frames, data=st.data())
def test_schema_validation_accepts_exactly_matching_frames(
    frame: dict[str, Any], data: st.DataObject
) -> None:
    frame_type = data.draw(st.sampled_from(FRAME_TYPES))
    schema = registry.handlers[frame_type].schema
    try:
        result = validate_frame(frame, schema)
    except InvalidInput as error:
        assert error.code == "invalid"
        assert isinstance(error.as_dict()["message"], str)
        return
    assert result is frame
    assert set(frame) - ENVELOPE_FIELDS <= set(schema.fields)
    for name, spec in schema.fields.items():
        if name not in frame:
            assert not spec.required
            continue
        value = frame[name]
        assert _is_kind(value, spec.kind)
        if spec.max_length is not None:
            assert len(value) <= spec.max_length
        if spec.min_value is not None:
            assert value >= spec.min_value
        if spec.max_value is not None:
            assert value <= spec.max_value
        if spec.item_kind is not None:
            items = value.values() if isinstance(value, dict) else value
            assert all(_is_kind(item, spec.item_kind) for item in items)


def test_an_over_long_key_names_its_field() -> None:
    schema = FrameSchema({"positions": Field(dict, required=False, item_kind=int)})
    with pytest.raises(InvalidInput) as error:
        validate_frame({"type": "resume", "positions": {"x" * 101: 1}}, schema)
    assert error.value.extra == {"field": "positions"}


@settings(max_examples=200, deadline=None)
@given(req_id=json_values)
def test_req_id_validation_returns_a_plain_id_or_refuses(req_id: Any) -> None:
    try:
        result = validate_req_id(req_id)
    except InvalidInput:
        return
    assert result is req_id
    assert (
        result is None
        or (isinstance(result, str) and len(result) <= 64)
        or (isinstance(result, int) and not isinstance(result, bool))
    )


# --- through the whole stack ------------------------------------------------------------------
@pytest.fixture
def fuzz_rooms(make_user: Callable[..., Any], transactional_db: Any) -> dict[str, Any]:
    """A person with a public room of their own and a private room they are not in."""
    person, stranger = make_user(), make_user()
    mine = actions.do_create_room(person, name="Mine")
    hidden = actions.do_create_room(stranger, name="Hidden", visibility="private")
    return {"person": person, "room_ids": [mine.pk, hidden.pk]}


@pytest.fixture
async def fuzz_socket(
    fuzz_rooms: dict[str, Any], settings: Any
) -> AsyncIterator[tuple[Socket, list[int]]]:
    # Fuzzing is about input handling: lift the rate limit so it never masks a code path.
    settings.COMMUNIS = {**settings.COMMUNIS, "SEND_RATE": 100_000, "SEND_BURST": 100_000}
    socket = await open_socket(fuzz_rooms["person"], resume={})
    yield socket, fuzz_rooms["room_ids"]
    await socket.close()


def field_values(name: str, spec: Field, room_ids: list[int]) -> st.SearchStrategy[Any]:
    """Values that mostly fit the field, aimed at rooms that exist, with misfits now and then."""
    if name == "room":
        fitting: st.SearchStrategy[Any] = st.sampled_from(room_ids)
    elif spec.kind is int:
        fitting = st.integers(min_value=spec.min_value, max_value=spec.max_value)
    elif name == "client_msg_id":
        fitting = st.from_regex(r"[A-Za-z0-9._:-]{1,64}", fullmatch=True)
    elif spec.kind is str:
        fitting = json_text
    elif spec.kind is dict:
        topics = st.sampled_from([f"room.{room_id}" for room_id in room_ids]) | json_text
        fitting = st.dictionaries(topics, st.integers(), max_size=3)
    else:
        fitting = json_values
    return st.integers(0, 9).flatmap(lambda roll: json_values if roll == 0 else fitting)


@st.composite
def schema_frames(draw: st.DrawFn, room_ids: list[int]) -> dict[str, Any]:
    """A frame of a registered type whose fields mostly match its schema."""
    frame_type = draw(st.sampled_from(FRAME_TYPES))
    plain_ids = st.integers(0, 10**6) | st.text(max_size=10)
    req_ids = st.integers(0, 9).flatmap(lambda roll: json_scalars if roll == 0 else plain_ids)
    frame: dict[str, Any] = {"type": frame_type, "req_id": draw(req_ids)}
    for name, spec in registry.handlers[frame_type].schema.fields.items():
        if spec.required or draw(st.booleans()):
            frame[name] = draw(field_values(name, spec, room_ids))
    if draw(st.integers(0, 9)) == 0:
        frame.update(draw(st.dictionaries(json_text, json_values, max_size=1)))
    return frame


def encode_frame(value: Any, ensure_ascii: bool) -> str:
    """JSON text as a client would send it; real websocket text is always valid UTF-8."""
    text = json.dumps(value, ensure_ascii=ensure_ascii)
    try:
        text.encode()
    except UnicodeEncodeError:
        text = json.dumps(value)  # escape the surrogates instead, as JSON allows
    return text


@pytest.mark.django_db(transaction=True)
@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_every_frame_gets_one_answer_and_the_socket_survives(
    fuzz_socket: tuple[Socket, list[int]], data: st.DataObject
) -> None:
    socket, room_ids = fuzz_socket
    kind = data.draw(st.sampled_from(["text", "json", "schema"]))
    if kind == "text":
        text = data.draw(st.text(max_size=300))
    else:
        value = data.draw(schema_frames(room_ids) if kind == "schema" else any_frame_value)
        text = encode_frame(value, ensure_ascii=data.draw(st.booleans()))

    before = len(socket.texts)
    await socket.send_raw(text)
    answer = await socket.answer()
    assert answer["type"] in ("ok", "error")
    if answer["type"] == "error":
        assert isinstance(answer["error"]["code"], str) and answer["error"]["code"]
        assert isinstance(answer["error"]["message"], str)
        assert answer["error"]["code"] != "server_error", answer
    for sent in socket.texts[before:]:
        sent.encode()  # raises if the server produced text a websocket cannot carry
    socket.events.clear()
    assert (await socket.ok("ping")) == {"pong": True}
    socket.events.clear()
