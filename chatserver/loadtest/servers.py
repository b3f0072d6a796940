"""The servers under test: spawn daphne, find them, read their memory, CPU time and logs."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings

COMMUNIS_APP = "chatserver.asgi:application"
BARE_APP = "chatserver.loadtest.bare_asgi:application"
# Twisted listens with a backlog of 50 unless told otherwise: a storm of a thousand handshakes
# overflows it and the kernel drops SYNs, which clients retry only after a second.
LISTEN_BACKLOG = 4096
# Spawned servers must not throttle the benchmark's senders (the product default is 10/s).
UNTHROTTLED_ENV = {"COMMUNIS_SEND_RATE": "1000000", "COMMUNIS_SEND_BURST": "1000000"}
LOG_ERROR_PATTERN = re.compile(
    r"Traceback \(most recent call last\)|Unhandled error|\bERROR\b|\bCRITICAL\b|"
    r"MaxConnectionsError|Too many open files"
)
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class TargetError(Exception):
    """The servers could not be started or reached."""


def raise_open_file_limit() -> tuple[int, int]:
    """Raise this process's RLIMIT_NOFILE soft limit to the hard limit; return (soft, hard)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1_048_576)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def is_loopback_url(url: str) -> bool:
    """Return whether ``url`` points at this machine (127.0.0.0/8, ::1 or a name for them)."""
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    addresses = {info[4][0] for info in infos}
    return bool(addresses) and all(ipaddress.ip_address(a).is_loopback for a in addresses)


def websocket_url(http_url: str, path: str = "/ws/") -> str:
    """Turn ``http://host:port`` into ``ws://host:port/ws/``."""
    parts = urlsplit(http_url)
    scheme = "wss" if parts.scheme in ("https", "wss") else "ws"
    return f"{scheme}://{parts.netloc}{path}"


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def read_rss_kb(pid: int) -> int | None:
    """Resident memory of ``pid`` in KiB (VmRSS), or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"^VmRSS:\s+(\d+) kB", text, re.M)
    return int(match.group(1)) if match else None


def read_cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of ``pid`` so far, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may contain spaces; the fields after its closing ')' are fixed.
    fields = text.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


@dataclass
class ServerProcess:
    """One daphne process: spawned by the tool, or an existing one it was told about."""

    url: str
    pid: int | None = None
    log_path: Path | None = None
    popen: subprocess.Popen[bytes] | None = None


@dataclass
class ServerGroup:
    """The processes behind one target (Communis or the bare floor)."""

    label: str
    processes: list[ServerProcess] = field(default_factory=list)
    spawned: bool = False

    @property
    def urls(self) -> list[str]:
        return [p.url for p in self.processes]

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes if p.pid]

    def rss_kb(self) -> int | None:
        """Sum of the processes' RSS, or None when a pid is unknown."""
        if not self.pids:
            return None
        values = [read_rss_kb(pid) for pid in self.pids]
        return None if None in values else sum(values)  # type: ignore[arg-type]

    def cpu_seconds(self) -> float | None:
        if not self.pids:
            return None
        values = [read_cpu_seconds(pid) for pid in self.pids]
        return None if None in values else sum(values)  # type: ignore[arg-type]

    def log_offsets(self) -> list[int]:
        """Current size of each log, so a scenario only scans what it caused."""
        return [_size(p.log_path) for p in self.processes]

    def log_errors(self, offsets: list[int] | None = None) -> dict[str, object]:
        """Count error lines written to the logs after ``offsets``; keep a few samples."""
        logs = [p.log_path for p in self.processes if p.log_path]
        if not logs:
            return {"scanned": False, "count": None, "samples": []}
        count, samples = 0, []
        for index, process in enumerate(self.processes):
            if process.log_path is None or not process.log_path.exists():
                continue
            start = offsets[index] if offsets else 0
            with process.log_path.open("rb") as log:
                log.seek(start)
                text = log.read().decode(errors="replace")
            for line in text.splitlines():
                if LOG_ERROR_PATTERN.search(line):
                    count += 1
                    if len(samples) < 5:
                        samples.append(line[:300])
        return {"scanned": True, "count": count, "samples": samples, "logs": [str(p) for p in logs]}

    def alive(self) -> bool:
        return all(p.popen is None or p.popen.poll() is None for p in self.processes)

    def stop(self) -> None:
        """Stop the processes this tool started (never ones it was only told about)."""
        for process in self.processes:
            if process.popen is not None and process.popen.poll() is None:
                process.popen.send_signal(signal.SIGTERM)
        for process in self.processes:
            if process.popen is None:
                continue
            try:
                process.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.popen.kill()
                process.popen.wait(timeout=10)


def _size(path: Path | None) -> int:
    try:
        return path.stat().st_size if path else 0
    except OSError:
        return 0


def external_group(
    urls: list[str], *, pids: list[int], logs: list[str], label: str = "communis"
) -> ServerGroup:
    """Describe servers someone else started (``--url``, ``--server-pid``, ``--server-log``)."""
    processes = [ServerProcess(url=url) for url in urls]
    # Pids and logs describe the whole group; hang them on the first entries in order.
    for index, pid in enumerate(pids):
        if index >= len(processes):
            processes.append(ServerProcess(url=urls[0]))
        processes[index].pid = pid
    for index, log in enumerate(logs):
        if index >= len(processes):
            processes.append(ServerProcess(url=urls[0]))
        processes[index].log_path = Path(log)
    return ServerGroup(label=label, processes=processes, spawned=False)


def spawn_group(
    *,
    label: str,
    app: str,
    count: int,
    cpus: str | None,
    extra_env: dict[str, str],
    log_dir: Path,
    ready_timeout: float = 60,
) -> ServerGroup:
    """Start ``count`` daphne processes serving ``app`` on free loopback ports."""
    log_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(extra_env)
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("DJANGO_SETTINGS_MODULE", "chatserver.settings")
    group = ServerGroup(label=label, spawned=True)
    try:
        for _ in range(count):
            group.processes.append(_spawn_one(app=app, cpus=cpus, env=env, log_dir=log_dir))
        deadline = time.monotonic() + ready_timeout
        for process in group.processes:
            _wait_ready(process, deadline)
    except BaseException:
        group.stop()
        raise
    return group


def _spawn_one(*, app: str, cpus: str | None, env: dict[str, str], log_dir: Path) -> ServerProcess:
    port = free_port()
    endpoint = f"tcp:port={port}:interface=127.0.0.1:backlog={LISTEN_BACKLOG}"
    command = [sys.executable, "-m", "daphne", "-e", endpoint, app]
    if cpus:
        taskset = shutil.which("taskset")
        if taskset is None:
            raise TargetError("taskset is not installed (util-linux); drop --server-cpu")
        command = [taskset, "-c", cpus, *command]
    log_path = log_dir / f"daphne-{port}.log"
    log = log_path.open("wb")
    popen = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        command, cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    log.close()
    return ServerProcess(
        url=f"http://127.0.0.1:{port}", pid=popen.pid, log_path=log_path, popen=popen
    )


def _wait_ready(process: ServerProcess, deadline: float) -> None:
    while time.monotonic() < deadline:
        if process.popen is not None and process.popen.poll() is not None:
            tail = process.log_path.read_text(errors="replace")[-3000:] if process.log_path else ""
            raise TargetError(f"daphne exited early:\n{tail}")
        try:
            with urllib.request.urlopen(f"{process.url}/healthz", timeout=2) as response:  # noqa: S310 - loopback URL we built
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise TargetError(f"daphne at {process.url} did not become ready in time")
