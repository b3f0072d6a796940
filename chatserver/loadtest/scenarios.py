"""The scenarios: ``room``, ``broadcast`` and ``connect``, against Communis or the bare floor.

Each scenario opens its own clients, measures, closes them, and returns one result dictionary
(the JSON shape documented in docs/performance.md).  Every phase is bounded by ``timeout``
and the sending phase by ``duration``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import dataclass, field
from typing import Any

from .client import BARE, COMMUNIS, ClientSpec
from .fleet import FleetSet
from .report import (
    connect_summary,
    merge_counters,
    merge_last_receipts,
    merge_latencies,
    percentiles_ms,
)
from .servers import ServerGroup

# A client process above this share of a core during the measured phase is the bottleneck.
CLIENT_SATURATION = 0.85


@dataclass(frozen=True)
class ScenarioConfig:
    """Everything one scenario run needs to know (already validated and defaulted)."""

    scenario: str
    run_id: str
    clients: int
    senders: int
    messages: int
    rate: float  # messages per second over all senders; 0 = as fast as possible
    window: int
    duration: float
    timeout: float
    connect_concurrency: int
    client_processes: int
    client_cpus: set[int] | None = None
    drop: str = "abort"


@dataclass
class Target:
    """What the clients connect to: Communis (token per client) or the bare relay."""

    name: str
    servers: ServerGroup
    ws_urls: list[str]
    room_id: int | None = None
    tokens: dict[int, str] = field(default_factory=dict)  # user number (1-based) -> token

    @property
    def mode(self) -> str:
        return BARE if self.name == BARE else COMMUNIS

    def spec(self, index: int) -> ClientSpec:
        """Client ``index`` is person ``lt-<index + 1>`` on server ``index mod K``."""
        url = self.ws_urls[index % len(self.ws_urls)]
        return ClientSpec(index=index, url=url, token=self.tokens.get(index + 1))


class Measurement:
    """Server RSS, server and client CPU, and log position around a scenario's phases."""

    def __init__(self, target: Target, fleets: FleetSet) -> None:
        self.target = target
        self.fleets = fleets
        self.log_offsets = target.servers.log_offsets()
        # The machine may be shared: keep its load next to the figures it disturbed.
        self.load_at_start = os.getloadavg()
        self.rss_before: int | None = None
        self.rss_connected: int | None = None

    async def warm_up(self, cfg: ScenarioConfig) -> None:
        """Open and close one client so lazy imports and pools are not counted per socket."""
        spec = self.target.spec(0)
        phase = await self.fleets.local.call(
            "open", specs=[spec], concurrency=1, timeout=cfg.timeout
        )
        await self.fleets.local.close()
        if phase["failed"]:
            raise RuntimeError(f"warm-up connection failed: {phase['samples']}")
        await asyncio.sleep(0.2)
        self.rss_before = self.target.servers.rss_kb()

    def connected(self) -> None:
        self.rss_connected = self.target.servers.rss_kb()

    async def cpu_mark(self) -> tuple[float, float | None, list[float]]:
        clients = await self.fleets.each("cpu")
        return time.perf_counter(), self.target.servers.cpu_seconds(), clients

    def server_summary(self, connections: int, start: Any, end: Any) -> dict[str, Any]:
        per_connection = None
        if self.rss_before is not None and self.rss_connected is not None and connections:
            per_connection = round((self.rss_connected - self.rss_before) / connections, 1)
        wall = end[0] - start[0]
        cpu = end[1] - start[1] if start[1] is not None and end[1] is not None else None
        return {
            "processes": len(self.target.servers.processes),
            "pids": self.target.servers.pids,
            "spawned": self.target.servers.spawned,
            "rss_before_kb": self.rss_before,
            "rss_connected_kb": self.rss_connected,
            "rss_end_kb": self.target.servers.rss_kb(),
            "rss_per_connection_kb": per_connection,
            "cpu_seconds": None if cpu is None else round(cpu, 3),
            "cpu_utilisation": None if cpu is None or wall <= 0 else round(cpu / wall, 3),
            "log_errors": self.target.servers.log_errors(self.log_offsets),
        }

    def host_summary(self) -> dict[str, Any]:
        return {
            "load_average_start": [round(x, 2) for x in self.load_at_start],
            "load_average_end": [round(x, 2) for x in os.getloadavg()],
        }

    @staticmethod
    def client_summary(start: Any, end: Any, processes: int) -> dict[str, Any]:
        wall = end[0] - start[0]
        shares = [
            (b - a) / wall if wall > 0 else 0.0 for a, b in zip(start[2], end[2], strict=True)
        ]
        return {
            "processes": processes,
            "cpu_seconds": [round(b - a, 3) for a, b in zip(start[2], end[2], strict=True)],
            "cpu_utilisation_max": round(max(shares), 3) if shares else None,
            "saturated": bool(shares) and max(shares) >= CLIENT_SATURATION,
        }


async def _open_clients(
    cfg: ScenarioConfig, target: Target, fleets: FleetSet, specs: list[ClientSpec], *, local: int
) -> dict[str, Any]:
    parts = fleets.split(specs, local_first=local)
    started = time.perf_counter()
    concurrency = max(1, cfg.connect_concurrency // len(parts))
    phases = await fleets.each(
        "open",
        per_fleet=[{"specs": part} for part in parts],
        concurrency=concurrency,
        timeout=cfg.timeout,
    )
    return connect_summary(phases, seconds=time.perf_counter() - started)


async def _deliver(
    cfg: ScenarioConfig, fleets: FleetSet, acks: list[tuple[int, int, int | None, int | None]]
) -> tuple[list[dict[str, Any]], bool]:
    """Wait (bounded) until every connected client has every acknowledged message; report."""
    counts = await fleets.each("connected")
    waits = await fleets.each(
        "wait_unique",
        per_fleet=[{"target": len(acks) * count} for count in counts],
        timeout=cfg.timeout,
    )
    expected = [(index, message_id, seq) for index, _sent, message_id, seq in acks]
    return await fleets.each("report", expected=expected), all(w["reached"] for w in waits)


def _delivery_result(
    acks: list[tuple[int, int, int | None, int | None]],
    reports: list[dict[str, Any]],
    *,
    complete: bool,
) -> dict[str, Any]:
    latencies = merge_latencies(reports)
    last_receipt = merge_last_receipts(reports)
    fanout = [last_receipt[i] - sent for i, sent, _id, _seq in acks if i in last_receipt]
    unique = sum(r["unique"] for r in reports)
    receivers = sum(r["clients"] for r in reports)
    span_ns = (max(last_receipt.values()) - min(a[1] for a in acks)) if acks and last_receipt else 0
    return {
        "deliveries": {
            "expected": len(acks) * receivers,
            "received": unique,
            "lost": sum(r["lost"] for r in reports),
            "duplicates": sum(r["duplicates"] for r in reports),
            "out_of_order": sum(r["out_of_order"] for r in reports),
            "mismatched": sum(r["mismatched"] for r in reports),
            "unexpected": sum(r["unexpected"] for r in reports),
            "complete": complete,
        },
        "latency_ms": percentiles_ms(latencies),
        "fanout_ms": percentiles_ms(fanout),
        "deliveries_per_second": round(unique / (span_ns / 1e9), 1) if span_ns > 0 else None,
    }


def _errors(reports: list[dict[str, Any]], *extra: dict[str, int]) -> dict[str, Any]:
    by_kind = merge_counters([*(r["errors"] for r in reports), *extra])
    return {
        "count": sum(by_kind.values()),
        "by_kind": by_kind,
        "samples": [s for r in reports for s in r["error_samples"]][:10],
    }


async def run_messages(cfg: ScenarioConfig, target: Target) -> dict[str, Any]:
    """``room`` (S senders, M messages at a rate) and ``broadcast`` (one sender, spaced)."""
    fleets = FleetSet(
        mode=target.mode, run_id=cfg.run_id, processes=cfg.client_processes, cpus=cfg.client_cpus
    )
    try:
        measure = Measurement(target, fleets)
        await measure.warm_up(cfg)
        connect = await _open_clients(
            cfg, target, fleets, [target.spec(i) for i in range(cfg.clients)], local=cfg.senders
        )
        measure.connected()
        start = await measure.cpu_mark()
        plan = await fleets.local.send_plan(
            senders=list(range(cfg.senders)),
            room=target.room_id,
            count=cfg.messages,
            first_index=0,
            rate=cfg.rate,
            window=cfg.window,
            duration=cfg.duration,
            timeout=cfg.timeout,
        )
        reports, complete = await _deliver(cfg, fleets, plan["acks"])
        end = await measure.cpu_mark()
        sent_seconds = (plan["ended_ns"] - plan["started_ns"]) / 1e9
        return {
            "scenario": cfg.scenario,
            "target": target.name,
            "clients": cfg.clients,
            "senders": cfg.senders,
            "messages": cfg.messages,
            "rate": cfg.rate or "max",
            "window": cfg.window,
            "connect": connect,
            "sent": {
                "acknowledged": len(plan["acks"]),
                "not_sent": plan["not_sent"],
                "errors": plan["errors"],
                "samples": plan["samples"],
                "seconds": round(sent_seconds, 3),
                "messages_per_second": round(len(plan["acks"]) / sent_seconds, 1)
                if sent_seconds > 0
                else None,
            },
            **_delivery_result(plan["acks"], reports, complete=complete),
            "errors": _errors(reports, plan["errors"], connect["failures"]),
            "server": measure.server_summary(connect["ok"], start, end),
            "client": measure.client_summary(start, end, cfg.client_processes),
            "host": measure.host_summary(),
        }
    finally:
        await _close(fleets)


async def run_connect(cfg: ScenarioConfig, target: Target) -> dict[str, Any]:
    """A storm of ``clients`` handshakes and resumes; then all drop at once and come back.

    A witness client (person ``lt-<clients + 1>``) stays connected and sends ``messages``
    messages while the others are away (Communis only: the bare app has no log to replay), then
    one probe after they are back.  Every returning client must get all of them exactly once.
    """
    fleets = FleetSet(
        mode=target.mode, run_id=cfg.run_id, processes=cfg.client_processes, cpus=cfg.client_cpus
    )
    witness = cfg.clients
    try:
        measure = Measurement(target, fleets)
        await measure.warm_up(cfg)
        await fleets.local.open(specs=[target.spec(witness)], concurrency=1, timeout=cfg.timeout)
        start = await measure.cpu_mark()
        storm = await _open_clients(
            cfg, target, fleets, [target.spec(i) for i in range(cfg.clients)], local=0
        )
        await asyncio.sleep(0.5)  # let the server settle before reading its memory
        measure.connected()
        dropped = sum(await fleets.each("drop", keep=[witness], how=cfg.drop))
        missed_count = cfg.messages if target.mode == COMMUNIS else 0
        plan_args = {"senders": [witness], "room": target.room_id, "rate": 0.0, "window": 1}
        missed = await fleets.local.send_plan(
            **plan_args,
            count=missed_count,
            first_index=0,
            duration=cfg.duration,
            timeout=cfg.timeout,
        )
        started = time.perf_counter()
        phases = await fleets.each(
            "reopen",
            concurrency=max(1, cfg.connect_concurrency // len(fleets.fleets)),
            timeout=cfg.timeout,
        )
        back = connect_summary(phases, seconds=time.perf_counter() - started)
        await fleets.each("reset_latencies")
        probe = await fleets.local.send_plan(
            **plan_args,
            count=1,
            first_index=missed_count,
            duration=cfg.duration,
            timeout=cfg.timeout,
        )
        acks = missed["acks"] + probe["acks"]
        reports, complete = await _deliver(cfg, fleets, acks)
        end = await measure.cpu_mark()
        return {
            "scenario": cfg.scenario,
            "target": target.name,
            "clients": cfg.clients,
            "messages": missed_count + 1,
            "drop": cfg.drop,
            "connect": storm,
            "dropped": dropped,
            "return": back,
            "sent": {
                "acknowledged": len(acks),
                "missed_while_away": len(missed["acks"]),
                "errors": merge_counters([missed["errors"], probe["errors"]]),
            },
            # Replayed messages waited while their receivers were away: no rate to speak of.
            **_delivery_result(acks, reports, complete=complete),
            "deliveries_per_second": None,
            "errors": _errors(
                reports, missed["errors"], probe["errors"], storm["failures"], back["failures"]
            ),
            "server": measure.server_summary(storm["ok"], start, end),
            "client": measure.client_summary(start, end, cfg.client_processes),
            "host": measure.host_summary(),
        }
    finally:
        await _close(fleets)


async def _close(fleets: FleetSet) -> None:
    with contextlib.suppress(Exception):
        await fleets.each("close")
    fleets.stop()


SCENARIOS = {"room": run_messages, "broadcast": run_messages, "connect": run_connect}
