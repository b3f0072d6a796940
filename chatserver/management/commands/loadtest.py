"""``manage.py loadtest``: drive a Communis server with real websocket clients and report.

See docs/performance.md for the scenarios, the exact commands behind the published figures and
how to raise open-file limits.  Benchmarks are not tests: this reports, it never asserts.
"""

from __future__ import annotations

import asyncio
import os
import platform
import secrets
import shutil
import signal
import subprocess
import sys
from argparse import ArgumentParser
from dataclasses import replace
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connections
from django.utils import timezone
from django.utils.translation import gettext as _

from chatserver.loadtest import population as population_module
from chatserver.loadtest.report import REPORT_VERSION, compare, render_table, write_json
from chatserver.loadtest.scenarios import SCENARIOS, ScenarioConfig, Target
from chatserver.loadtest.servers import (
    BARE_APP,
    COMMUNIS_APP,
    UNTHROTTLED_ENV,
    ServerGroup,
    TargetError,
    external_group,
    is_loopback_url,
    raise_open_file_limit,
    spawn_group,
    websocket_url,
)

# Per-scenario defaults: the sizes of the performance budget (docs/performance.md).
DEFAULTS: dict[str, dict[str, Any]] = {
    "room": {"clients": 200, "senders": 10, "messages": 400, "rate": 20.0, "window": 8},
    "broadcast": {"clients": 1000, "senders": 1, "messages": 5, "rate": 1.0, "window": 1},
    "connect": {"clients": 1000, "senders": 1, "messages": 3, "rate": 0.0, "window": 1},
}
LIMITS = {
    "clients": (1, 20_000),
    "messages": (0, 1_000_000),
    "duration": (1, 3600),
    "timeout": (1, 600),
    "processes": (1, 32),
    "client_processes": (1, 16),
}
# Sockets the tool needs beyond one per client: pipes, log files, the database, Redis.
SPARE_FILES = 200


class Command(BaseCommand):
    help = _("Load-test Communis with real websocket clients (see docs/performance.md).")

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "scenarios", nargs="+", choices=["room", "broadcast", "connect", "presence"]
        )
        target = parser.add_argument_group("target")
        target.add_argument(
            "--url", action="append", default=[], help="A running server (repeat for several)."
        )
        target.add_argument("--spawn", action="store_true", help="Start daphne processes.")
        target.add_argument("--processes", type=int, default=1, help="Daphne processes to spawn.")
        target.add_argument("--server-cpu", help="taskset CPU list for spawned servers.")
        target.add_argument("--client-cpu", help="CPU list for the tool's client processes.")
        target.add_argument("--server-pid", type=int, action="append", default=[])
        target.add_argument("--server-log", action="append", default=[])
        target.add_argument("--allow-remote", action="store_true")
        target.add_argument(
            "--keep-rate-limit",
            action="store_true",
            help="Spawn servers with the configured send rate limit instead of lifting it.",
        )
        load = parser.add_argument_group("load")
        load.add_argument("--clients", type=int)
        load.add_argument("--senders", type=int)
        load.add_argument("--messages", type=int)
        load.add_argument("--rate", help="Messages per second over all senders, or 'max'.")
        load.add_argument("--interval", type=float, help="Seconds between broadcasts.")
        load.add_argument("--window", type=int, help="Unanswered sends allowed per sender.")
        load.add_argument("--connect-concurrency", type=int, help="Handshakes in flight at once.")
        load.add_argument("--client-processes", type=int, default=1)
        load.add_argument("--drop", choices=["abort", "close"], default="abort")
        bounds = parser.add_argument_group("bounds")
        bounds.add_argument("--duration", type=float, default=60.0, help="Cap on sending, s.")
        bounds.add_argument("--timeout", type=float, default=30.0, help="Cap on each wait, s.")
        output = parser.add_argument_group("output")
        output.add_argument("--baseline", action="store_true", help="Also measure the bare floor.")
        output.add_argument("--json", type=Path, help="Write the full results here.")
        output.add_argument("--py-spy", type=Path, help="Profile spawned servers into this folder.")

    def handle(self, *args: Any, **options: Any) -> None:
        scenarios: list[str] = list(dict.fromkeys(options["scenarios"]))
        if "presence" in scenarios:
            raise CommandError(
                _(
                    "The presence scenario is not available yet: it arrives with the presence "
                    "feature. Use room, broadcast or connect."
                )
            )
        self._check_options(options)
        soft, hard = raise_open_file_limit()
        client_cpus = _parse_cpus(options["client_cpu"])
        if client_cpus:
            os.sched_setaffinity(0, client_cpus)  # the first client process is this one
        configs = {name: self._config(name, options, client_cpus) for name in scenarios}
        self._check_open_files(configs, soft)
        run_id = configs[scenarios[0]].run_id
        population = population_module.prepare(
            people=max(c.clients for c in configs.values()) + 1,
            rooms={name: c.clients + 1 for name, c in configs.items()},
            progress=lambda line: self.stdout.write(line),
        )
        connections.close_all()  # the scenarios run on event loops; the ORM is done with
        results: list[dict[str, Any]] = []
        ratios: list[dict[str, Any]] = []
        started_at = timezone.now().isoformat(timespec="seconds")
        for name in scenarios:
            config = configs[name]
            communis = self._run(config, "communis", options, population)
            results.append(communis)
            if options["baseline"]:
                bare = self._run(config, "bare", options, population)
                results.append(bare)
                ratios.append(compare(communis, bare))
        document = {
            "tool": "communis-loadtest",
            "version": REPORT_VERSION,
            "run_id": run_id,
            "started_at": started_at,
            "command": " ".join(["manage.py", "loadtest", *sys.argv[2:]]),
            "host": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "open_files": {"soft": soft, "hard": hard},
            },
            "stack": _stack(options),
            "results": results,
            "ratios": ratios,
        }
        self.stdout.write(render_table(document))
        if options["json"]:
            write_json(options["json"], document)
            self.stdout.write(f"JSON written to {options['json']}")

    # --- options ----------------------------------------------------------------------------
    def _check_options(self, options: dict[str, Any]) -> None:
        for key, (low, high) in LIMITS.items():
            value = options.get(key)
            if value is not None and not low <= value <= high:
                raise CommandError(
                    _("--%(name)s must be between %(low)s and %(high)s.")
                    % {"name": key.replace("_", "-"), "low": low, "high": high}
                )
        if options["spawn"] and options["url"]:
            raise CommandError(_("Give either --spawn or --url, not both."))
        if options["processes"] > 1 and not options["spawn"]:
            raise CommandError(_("--processes needs --spawn."))
        if options["processes"] > 1 and not settings.REDIS_URL:
            raise CommandError(
                _("Several server processes need REDIS_URL: without it events stay in one process.")
            )
        for url in options["url"] or ["http://127.0.0.1:8000"]:
            if not options["allow_remote"] and not is_loopback_url(url):
                raise CommandError(
                    _(
                        "%(url)s is not a loopback address. Load tests target this machine unless "
                        "you pass --allow-remote (and own the server you are about to load)."
                    )
                    % {"url": url}
                )
        if options["py_spy"] and not _py_spy():
            raise CommandError(_("--py-spy needs py-spy: pip install py-spy"))

    def _config(
        self, scenario: str, options: dict[str, Any], client_cpus: set[int] | None
    ) -> ScenarioConfig:
        defaults = DEFAULTS[scenario]
        clients = options["clients"] or defaults["clients"]
        senders = 1 if scenario != "room" else (options["senders"] or defaults["senders"])
        if senders > clients:
            raise CommandError(_("--senders cannot exceed --clients."))
        rate = defaults["rate"]
        if scenario == "broadcast" and options["interval"]:
            rate = 1 / options["interval"]
        if options["rate"] is not None:
            rate = _parse_rate(options["rate"])
        concurrency = options["connect_concurrency"] or (clients if scenario == "connect" else 200)
        messages = options["messages"] if options["messages"] is not None else defaults["messages"]
        return ScenarioConfig(
            scenario=scenario,
            run_id=secrets.token_hex(4),
            clients=clients,
            senders=senders,
            messages=messages,
            rate=rate,
            window=options["window"] or defaults["window"],
            duration=options["duration"],
            timeout=options["timeout"],
            connect_concurrency=concurrency,
            client_processes=options["client_processes"],
            client_cpus=client_cpus,
            drop=options["drop"],
        )

    def _check_open_files(self, configs: dict[str, ScenarioConfig], soft: int) -> None:
        most = max(c.clients for c in configs.values())
        needed = most // max(1, min(c.client_processes for c in configs.values())) + SPARE_FILES
        if soft < needed:
            raise CommandError(
                _(
                    "This run needs about %(needed)s open files per process but the limit is "
                    "%(soft)s. Raise it (ulimit -n, or LimitNOFILE= in systemd) and try again; "
                    "see docs/performance.md."
                )
                % {"needed": needed, "soft": soft}
            )

    # --- running ----------------------------------------------------------------------------
    def _run(
        self,
        config: ScenarioConfig,
        target_name: str,
        options: dict[str, Any],
        population: population_module.Population,
    ) -> dict[str, Any]:
        self.stdout.write(f"{config.scenario} → {target_name}: {config.clients} clients …")
        group = self._servers(config, target_name, options)
        profilers = self._start_profilers(config, target_name, group, options)
        try:
            target = self._target(config, target_name, group, population)
            # Each target gets its own run id so its messages never count for another.
            config = replace(config, run_id=f"{config.run_id}{target_name[0]}")
            return asyncio.run(SCENARIOS[config.scenario](config, target))
        except TargetError as error:
            raise CommandError(str(error)) from error
        finally:
            _stop_profilers(profilers)
            if group.spawned:
                group.stop()

    def _servers(
        self, config: ScenarioConfig, target_name: str, options: dict[str, Any]
    ) -> ServerGroup:
        log_dir = Path(settings.VAR_DIR) / "loadtest" / config.run_id
        if target_name == "bare":
            return spawn_group(
                label="bare",
                app=BARE_APP,
                count=options["processes"],
                cpus=options["server_cpu"],
                extra_env={},
                log_dir=log_dir / "bare",
            )
        if options["spawn"]:
            return spawn_group(
                label="communis",
                app=COMMUNIS_APP,
                count=options["processes"],
                cpus=options["server_cpu"],
                extra_env={} if options["keep_rate_limit"] else UNTHROTTLED_ENV,
                log_dir=log_dir / "communis",
            )
        urls = options["url"] or ["http://127.0.0.1:8000"]
        return external_group(urls, pids=options["server_pid"], logs=options["server_log"])

    @staticmethod
    def _target(
        config: ScenarioConfig,
        target_name: str,
        group: ServerGroup,
        population: population_module.Population,
    ) -> Target:
        if target_name == "bare":
            path = f"/ws/{population_module.room_name(config.scenario)}/"
            return Target(
                name="bare", servers=group, ws_urls=[websocket_url(u, path) for u in group.urls]
            )
        return Target(
            name="communis",
            servers=group,
            ws_urls=[websocket_url(u) for u in group.urls],
            room_id=population.rooms[config.scenario],
            tokens=population.tokens,
        )

    def _start_profilers(
        self, config: ScenarioConfig, target_name: str, group: ServerGroup, options: dict[str, Any]
    ) -> list[subprocess.Popen[bytes]]:
        folder = options["py_spy"]
        if not folder or not group.spawned:
            return []
        folder.mkdir(parents=True, exist_ok=True)
        profilers = []
        for pid in group.pids:
            output = folder / f"{config.scenario}-{target_name}-{pid}.txt"
            command = [_py_spy() or "py-spy", "record", "--pid", str(pid), "--rate", "200"]
            command += ["--format", "raw", "--output", str(output)]
            profilers.append(
                subprocess.Popen(  # noqa: S603 - fixed arguments
                    command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
            )
            self.stdout.write(f"profiling server {pid} into {output}")
        return profilers


def _stop_profilers(profilers: list[subprocess.Popen[bytes]]) -> None:
    """Ask py-spy to write its samples (SIGINT), bounded."""
    for profiler in profilers:
        if profiler.poll() is None:
            profiler.send_signal(signal.SIGINT)
    for profiler in profilers:
        try:
            profiler.wait(timeout=30)
        except subprocess.TimeoutExpired:
            profiler.kill()
            profiler.wait(timeout=10)


def _py_spy() -> str | None:
    """py-spy from PATH or from this virtualenv (``pip install py-spy``)."""
    beside = Path(sys.executable).parent / "py-spy"
    return shutil.which("py-spy") or (str(beside) if beside.exists() else None)


def _parse_rate(text: str) -> float:
    if text.strip().lower() in {"max", "0"}:
        return 0.0
    try:
        rate = float(text)
    except ValueError:
        raise CommandError(_("--rate must be a number of messages per second or 'max'.")) from None
    if not 0 < rate <= 100_000:
        raise CommandError(_("--rate must be between 0 and 100000 messages per second."))
    return rate


def _parse_cpus(text: str | None) -> set[int] | None:
    """Parse a taskset-style CPU list such as ``1`` or ``0,2-3``."""
    if not text:
        return None
    cpus: set[int] = set()
    try:
        for part in text.split(","):
            low, _sep, high = part.partition("-")
            cpus.update(range(int(low), int(high or low) + 1))
    except ValueError:
        raise CommandError(_("--client-cpu must look like 1 or 0,2-3.")) from None
    return cpus


def _stack(options: dict[str, Any]) -> dict[str, Any]:
    return {
        "layer": settings.CHANNEL_LAYERS["default"]["BACKEND"].rsplit(".", 1)[-1],
        "hub_bus": "redis" if settings.REDIS_URL else "in-process",
        "database": settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1],
        "conn_max_age": settings.DATABASES["default"].get("CONN_MAX_AGE"),
        "spawned": bool(options["spawn"]),
        "processes": options["processes"] if options["spawn"] else len(options["url"] or [1]),
        "server_cpu": options["server_cpu"],
        "client_cpu": options["client_cpu"],
        "rate_limit_lifted": bool(options["spawn"]) and not options["keep_rate_limit"],
    }
