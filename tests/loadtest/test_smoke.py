"""The load tool runs end to end against real daphne processes and reports what it promises.

Tiny runs only: these prove the tool works and counts right, not how fast anything is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command, load_command_class
from django.utils import translation

from tests.support import servers

pytestmark = pytest.mark.e2e

RESULT_FIELDS = {
    "scenario",
    "target",
    "clients",
    "connect",
    "sent",
    "deliveries",
    "latency_ms",
    "fanout_ms",
    "deliveries_per_second",
    "errors",
    "server",
    "client",
}
PERCENTILES = {"count", "p50", "p95", "p99", "max", "mean"}


def run_loadtest(tmp_path: Path, *args: str) -> dict[str, Any]:
    """Run ``manage.py loadtest`` as a subprocess on the test database; return its JSON."""
    output = tmp_path / "loadtest.json"
    env = dict(os.environ)
    env["DATABASE_URL"] = servers.test_database_url()
    env["COMMUNIS_VAR_DIR"] = str(tmp_path / "var")
    if settings.REDIS_URL:
        env["REDIS_URL"] = settings.REDIS_URL
    completed = subprocess.run(
        [sys.executable, "manage.py", "loadtest", *args, "--timeout", "20", "--json", str(output)],
        cwd=servers.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return json.loads(output.read_text())


def assert_exactly_once(result: dict[str, Any]) -> None:
    deliveries = result["deliveries"]
    assert deliveries["expected"] > 0
    assert deliveries["received"] == deliveries["expected"], result
    assert deliveries["lost"] == 0
    assert deliveries["duplicates"] == 0
    assert deliveries["out_of_order"] == 0
    assert deliveries["mismatched"] == 0
    assert deliveries["complete"] is True
    assert result["errors"]["count"] == 0, result["errors"]
    assert result["server"]["log_errors"]["count"] == 0, result["server"]["log_errors"]


def test_room_run_reports_every_figure_with_nothing_lost_or_duplicated(
    transactional_db: Any, tmp_path: Path
) -> None:
    document = run_loadtest(
        tmp_path, "room", "--spawn", "--clients", "5", "--senders", "2", "--messages", "5"
    )

    [result] = document["results"]
    assert set(result) >= RESULT_FIELDS
    assert result["target"] == "communis"
    assert result["sent"]["acknowledged"] == 5
    assert result["deliveries"]["expected"] == 25
    assert_exactly_once(result)
    assert set(result["latency_ms"]) == PERCENTILES
    assert result["latency_ms"]["count"] == 25
    assert result["fanout_ms"]["count"] == 5
    assert result["deliveries_per_second"] > 0
    assert result["connect"]["ok"] == 5
    assert result["server"]["rss_per_connection_kb"] is not None
    assert result["server"]["spawned"] is True
    assert document["stack"]["rate_limit_lifted"] is True


def test_broadcast_and_connect_runs_with_the_bare_baseline(
    transactional_db: Any, tmp_path: Path
) -> None:
    document = run_loadtest(
        tmp_path,
        "broadcast",
        "connect",
        "--spawn",
        "--baseline",
        "--clients",
        "5",
        "--messages",
        "2",
        "--interval",
        "0.1",
    )

    runs = {(r["scenario"], r["target"]): r for r in document["results"]}
    assert set(runs) == {
        ("broadcast", "communis"),
        ("broadcast", "bare"),
        ("connect", "communis"),
        ("connect", "bare"),
    }
    for result in runs.values():
        assert set(result) >= RESULT_FIELDS
        assert_exactly_once(result)
    # Two broadcasts to 5 clients; the connect witness makes 6 receivers.
    assert runs["broadcast", "communis"]["deliveries"]["expected"] == 10
    connect = runs["connect", "communis"]
    assert connect["dropped"] == 5
    assert connect["return"]["ok"] == 5
    assert connect["return"]["failed"] == 0
    # Two messages sent while everyone was away come back through resume, plus one probe.
    assert connect["sent"]["missed_while_away"] == 2
    assert connect["deliveries"]["expected"] == 3 * 6
    assert {r["scenario"] for r in document["ratios"]} == {"broadcast", "connect"}
    assert all(r["rss_per_connection"] is not None for r in document["ratios"])


def test_presence_scenario_says_it_is_not_available_yet() -> None:
    with translation.override("en"), pytest.raises(CommandError, match="not available yet"):
        call_command("loadtest", "presence")


def test_non_loopback_targets_are_refused_without_the_explicit_flag() -> None:
    with pytest.raises(CommandError, match="--allow-remote"):
        call_command("loadtest", "room", "--url", "http://192.0.2.10:8000")


def test_help_lists_every_scenario_and_the_bounds() -> None:
    command = load_command_class("chatserver", "loadtest")
    text = command.create_parser("manage.py", "loadtest").format_help()

    for needle in ("room", "broadcast", "connect", "presence", "--duration", "--timeout"):
        assert needle in text
