"""The load tool's client counts deliveries right: what it calls zero lost means zero lost.

No server here: real envelopes, built the way the rooms actions build them, are fed to a client.
"""

from __future__ import annotations

import time

import pytest
from django.contrib.auth import get_user_model

from chatserver.loadtest import client as client_module
from chatserver.loadtest.client import COMMUNIS, ClientSpec, LoadClient, message_body
from chatserver.loadtest.fleet import LocalFleet
from chatserver.loadtest.report import percentiles_ms
from chatserver.realtime.envelope import build_event
from rooms import events
from rooms.models import Message

RUN = "abc123"


def message_frame(*, index: int, seq: int, message_id: int, room: int = 9, sent_ns: int) -> str:
    """The frame a ``message.created`` event carries, built with the product's own helpers."""
    author = get_user_model()(pk=3, username="lt-3", first_name="Load", last_name="Test 3")
    message = Message(
        pk=message_id,
        room_id=room,
        seq=seq,
        author=author,
        client_msg_id=f"lt-{RUN}-{index}",
        body=message_body(RUN, 2, index, sent_ns),
        body_html="<p>lt</p>",
        render_version=1,
    )
    event = build_event(
        topic=f"room.{room}",
        type=events.MESSAGE_CREATED,
        data={"message": events.message_payload(message)},
        room_id=room,
        seq=seq,
    )
    return event.frame


@pytest.fixture
def fleet() -> LocalFleet:
    fleet = LocalFleet(mode=COMMUNIS, run_id=RUN)
    client = LoadClient(
        ClientSpec(index=0, url="ws://127.0.0.1:1/ws/"), fleet.recorder, mode=COMMUNIS
    )
    fleet.clients[0] = client
    return fleet


def test_real_message_events_take_the_fast_path(
    fleet: LocalFleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_json(self: LoadClient, text: str, now_ns: int) -> None:
        raise AssertionError("fell back to the JSON parser: the envelope layout changed")

    monkeypatch.setattr(LoadClient, "_on_json", no_json)
    fleet.clients[0].on_frame(message_frame(index=0, seq=5, message_id=70, sent_ns=time.time_ns()))

    assert fleet.recorder.unique == 1
    assert fleet.recorder.identity[0] == (70, 5)
    assert fleet.clients[0].positions == {"room.9": 5}


def test_the_json_fallback_counts_the_same_as_the_fast_path(
    fleet: LocalFleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_module, "_EVENT_PREFIX", client_module.re.compile("(?!)"))
    fleet.clients[0].on_frame(message_frame(index=0, seq=5, message_id=70, sent_ns=time.time_ns()))

    assert fleet.recorder.unique == 1
    assert fleet.recorder.identity[0] == (70, 5)


async def test_duplicates_reordering_and_losses_are_all_counted(fleet: LocalFleet) -> None:
    client = fleet.clients[0]
    now = time.time_ns()
    client.on_frame(message_frame(index=0, seq=5, message_id=70, sent_ns=now))
    client.on_frame(message_frame(index=0, seq=5, message_id=70, sent_ns=now))  # duplicate
    client.on_frame(message_frame(index=2, seq=7, message_id=72, sent_ns=now))
    client.on_frame(message_frame(index=1, seq=6, message_id=71, sent_ns=now))  # late
    # Index 3 was acknowledged to its sender with id 73, seq 8, but never arrived.
    expected = [(0, 70, 5), (1, 71, 6), (2, 72, 7), (3, 73, 8)]

    report = await fleet.report(expected=expected)

    assert report["unique"] == 3
    assert report["duplicates"] == 1
    assert report["out_of_order"] == 1
    assert report["lost"] == 1
    assert report["mismatched"] == 0


async def test_a_message_arriving_with_another_id_than_acknowledged_is_flagged(
    fleet: LocalFleet,
) -> None:
    fleet.clients[0].on_frame(message_frame(index=0, seq=5, message_id=70, sent_ns=time.time_ns()))

    report = await fleet.report(expected=[(0, 99, 5)])

    assert report["mismatched"] == 1


def test_messages_of_other_runs_are_ignored(fleet: LocalFleet) -> None:
    frame = message_frame(index=0, seq=5, message_id=70, sent_ns=time.time_ns())
    fleet.clients[0].on_frame(frame.replace(f"lt:{RUN}:", "lt:zzz999:"))

    assert fleet.recorder.unique == 0
    assert fleet.recorder.foreign == 1
    assert fleet.clients[0].positions == {"room.9": 5}  # still a position to resume from


def test_percentiles_use_the_nearest_rank() -> None:
    figures = percentiles_ms([i * 1_000_000 for i in range(1, 101)])

    assert figures == {
        "count": 100,
        "p50": 50.0,
        "p95": 95.0,
        "p99": 99.0,
        "max": 100.0,
        "mean": 50.5,
    }
    assert percentiles_ms([])["p99"] is None
