"""Figures out of raw samples, and the two ways a run is shown: a table and JSON."""

from __future__ import annotations

import json
import math
from array import array
from collections.abc import Iterable
from pathlib import Path
from typing import Any

REPORT_VERSION = 1


def percentiles_ms(values_ns: Iterable[int] | array) -> dict[str, float | int | None]:
    """Count, p50/p95/p99, max and mean of nanosecond samples, in milliseconds (nearest rank)."""
    ordered = sorted(values_ns)
    if not ordered:
        return {"count": 0, "p50": None, "p95": None, "p99": None, "max": None, "mean": None}

    def rank(fraction: float) -> float:
        return round(ordered[max(0, math.ceil(fraction * len(ordered)) - 1)] / 1e6, 3)

    return {
        "count": len(ordered),
        "p50": rank(0.50),
        "p95": rank(0.95),
        "p99": rank(0.99),
        "max": round(ordered[-1] / 1e6, 3),
        "mean": round(sum(ordered) / len(ordered) / 1e6, 3),
    }


def merge_latencies(reports: list[dict[str, Any]]) -> array:
    merged = array("q")
    for report in reports:
        merged.frombytes(report["latencies_ns"])
    return merged


def merge_last_receipts(reports: list[dict[str, Any]]) -> dict[int, int]:
    merged: dict[int, int] = {}
    for report in reports:
        for index, at in report["last_receipt_ns"].items():
            if at > merged.get(index, 0):
                merged[index] = at
    return merged


def merge_counters(items: Iterable[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for item in items:
        for key, value in item.items():
            total[key] = total.get(key, 0) + value
    return total


def connect_summary(phases: list[dict[str, Any]], *, seconds: float) -> dict[str, Any]:
    """Merge the per-fleet results of one connection phase."""
    latencies = [ns for phase in phases for ns in phase["latencies_ns"]]
    return {
        "ok": sum(p["ok"] for p in phases),
        "failed": sum(p["failed"] for p in phases),
        "failures": merge_counters(p["failures"] for p in phases),
        "samples": [s for p in phases for s in p["samples"]][:5],
        "seconds": round(seconds, 3),
        "handshake_ms": percentiles_ms(latencies),
    }


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, 3)


def compare(communis: dict[str, Any], bare: dict[str, Any]) -> dict[str, Any]:
    """Communis divided by the bare floor, for the figures both runs have."""
    return {
        "scenario": communis["scenario"],
        "deliveries_per_second": ratio(
            communis.get("deliveries_per_second"), bare.get("deliveries_per_second")
        ),
        "latency_p50": ratio(communis["latency_ms"]["p50"], bare["latency_ms"]["p50"]),
        "latency_p99": ratio(communis["latency_ms"]["p99"], bare["latency_ms"]["p99"]),
        "fanout_max": ratio(communis["fanout_ms"]["max"], bare["fanout_ms"]["max"]),
        "rss_per_connection": ratio(
            communis["server"]["rss_per_connection_kb"], bare["server"]["rss_per_connection_kb"]
        ),
        "connect_seconds": ratio(communis["connect"]["seconds"], bare["connect"]["seconds"]),
        "return_seconds": ratio(
            (communis.get("return") or {}).get("seconds"), (bare.get("return") or {}).get("seconds")
        ),
    }


def write_json(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n")


# --- the table --------------------------------------------------------------------------------
COLUMNS = [
    ("scenario", "scenario", 9),
    ("target", "target", 8),
    ("clients", "clients", 7),
    ("msgs", "messages", 6),
    ("deliv/s", "deliveries_per_second", 8),
    ("p50 ms", ("latency_ms", "p50"), 7),
    ("p95 ms", ("latency_ms", "p95"), 7),
    ("p99 ms", ("latency_ms", "p99"), 7),
    ("max ms", ("latency_ms", "max"), 7),
    ("fan-out max", ("fanout_ms", "max"), 11),
    ("lost", ("deliveries", "lost"), 5),
    ("dup", ("deliveries", "duplicates"), 4),
    ("errors", ("errors", "count"), 6),
    ("RSS/conn KB", ("server", "rss_per_connection_kb"), 11),
]


def _pick(result: dict[str, Any], key: str | tuple[str, str]) -> Any:
    if isinstance(key, tuple):
        return (result.get(key[0]) or {}).get(key[1])
    return result.get(key)


def _cell(value: Any, width: int) -> str:
    if value is None:
        text = "-"
    elif isinstance(value, float):
        text = (
            f"{value:.0f}"
            if abs(value) >= 1000
            else f"{value:.3g}"
            if value < 10
            else f"{value:.1f}"
        )
    else:
        text = str(value)
    return text.rjust(width)


def render_table(document: dict[str, Any]) -> str:
    """The human-readable summary of a whole run."""
    lines = [
        f"Communis load test {document['run_id']} · {document['started_at']} · "
        f"{document['host']['cpus']} CPUs · layer {document['stack']['layer']} · "
        f"database {document['stack']['database']}",
        "  ".join(title.rjust(width) for title, _key, width in COLUMNS),
    ]
    for result in document["results"]:
        lines.append("  ".join(_cell(_pick(result, key), w) for _t, key, w in COLUMNS))
    for result in document["results"]:
        lines.extend(_notes(result))
    for comparison in document.get("ratios", []):
        lines.append(
            f"{comparison['scenario']}: Communis / bare floor — deliveries/s "
            f"{_times(comparison['deliveries_per_second'])}, p99 latency "
            f"{_times(comparison['latency_p99'])}, fan-out max {_times(comparison['fanout_max'])}, "
            f"RSS/connection {_times(comparison['rss_per_connection'])}, connect time "
            f"{_times(comparison['connect_seconds'])}"
        )
    return "\n".join(lines)


def _times(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _notes(result: dict[str, Any]) -> list[str]:
    name = f"{result['scenario']}/{result['target']}"
    connect = result["connect"]
    notes = [
        f"{name}: {connect['ok']} connected in {connect['seconds']} s "
        f"({connect['failed']} failed, handshake p99 {connect['handshake_ms']['p99']} ms); "
        f"server CPU {_percent(result['server'].get('cpu_utilisation'))}, "
        f"client CPU {_percent(result['client'].get('cpu_utilisation_max'))}, "
        f"host load {result['host']['load_average_start'][0]}"
        + (" — CLIENT-BOUND, use --client-processes" if result["client"].get("saturated") else "")
    ]
    if "return" in result:
        back = result["return"]
        log_errors = result["server"]["log_errors"]["count"]
        notes.append(
            f"{name}: {result['dropped']} dropped at once, {back['ok']} back in "
            f"{back['seconds']} s ({back['failed']} failed); server log errors {log_errors}"
        )
    errors = result["errors"]
    if errors["count"]:
        notes.append(f"{name}: errors {errors['by_kind']}")
    return notes


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f} %"
