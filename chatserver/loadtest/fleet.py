"""Many clients at once: in this process, or spread over worker processes.

One Python process comfortably drives a few thousand idle sockets, but receiving tens of
thousands of frames a second takes a core of its own.  ``--client-processes P`` splits the
receivers over ``P`` processes (the first is this one, which also holds the senders); each runs
a ``LocalFleet`` on its own event loop and answers commands over a pipe.  Every command and every
wait is bounded by a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from typing import Any

from .client import BARE, COMMUNIS, ClientSpec, LoadClient, Recorder, message_body

# Slack on top of a command's own timeout before the pipe is declared dead.
PIPE_SLACK = 30.0


class LocalFleet:
    """Clients on this process's event loop, sharing one recorder."""

    def __init__(self, *, mode: str, run_id: str) -> None:
        self.mode = mode
        self.run_id = run_id
        self.recorder = Recorder(run_id)
        self.clients: dict[int, LoadClient] = {}

    async def call(self, name: str, **kwargs: Any) -> Any:
        """Run one fleet command by name (the same interface as ``RemoteFleet``)."""
        return await getattr(self, name)(**kwargs)

    # --- connections ------------------------------------------------------------------------
    async def open(
        self, *, specs: list[ClientSpec], concurrency: int, timeout: float
    ) -> dict[str, Any]:
        """Open a client per spec, at most ``concurrency`` handshakes at a time."""
        clients = [LoadClient(spec, self.recorder, mode=self.mode) for spec in specs]
        stats = await self._open_all(clients, concurrency=concurrency, timeout=timeout)
        for client in clients:
            if client.open_:
                self.clients[client.index] = client
        return stats

    async def reopen(self, *, concurrency: int, timeout: float) -> dict[str, Any]:
        """Reconnect every dropped client; each resumes from the positions it had seen."""
        dropped = [c for c in self.clients.values() if not c.open_]
        return await self._open_all(dropped, concurrency=concurrency, timeout=timeout)

    async def _open_all(
        self, clients: list[LoadClient], *, concurrency: int, timeout: float
    ) -> dict[str, Any]:
        gate = asyncio.Semaphore(max(1, concurrency))
        latencies: list[int] = []
        failures: Counter[str] = Counter()
        samples: list[str] = []

        async def open_one(client: LoadClient) -> None:
            async with gate:
                try:
                    latencies.append(await client.open(timeout=timeout))
                except Exception as error:
                    kind = type(error).__name__
                    failures[kind] += 1
                    if len(samples) < 5:
                        samples.append(f"{kind}: {error}"[:300])

        started = time.perf_counter()
        tasks = [asyncio.ensure_future(open_one(client)) for client in clients]
        if tasks:
            _done, not_done = await asyncio.wait(tasks, timeout=timeout * 2 + 5)
            for task in not_done:
                task.cancel()
                failures["phase_timeout"] += 1
        return {
            "ok": len(latencies),
            "failed": sum(failures.values()),
            "failures": dict(failures),
            "samples": samples,
            "latencies_ns": latencies,
            "seconds": time.perf_counter() - started,
        }

    async def drop(self, *, keep: list[int], how: str) -> int:
        """Cut every client except ``keep`` at once: ``abort`` (lost network) or ``close``."""
        kept = set(keep)
        victims = [c for i, c in self.clients.items() if i not in kept and c.open_]
        if how == "abort":
            for client in victims:
                client.abort()
        else:
            await asyncio.gather(*(c.close(timeout=5) for c in victims))
        # Let the readers notice, so the next open does not race their clean-up.
        await asyncio.sleep(0.05)
        return len(victims)

    async def close(self, *, timeout: float = 10) -> None:
        """Close every client (bounded)."""
        clients = list(self.clients.values())
        self.clients.clear()
        if clients:
            await asyncio.wait(
                [asyncio.ensure_future(c.close(timeout=timeout)) for c in clients],
                timeout=timeout + 5,
            )

    # --- measuring --------------------------------------------------------------------------
    async def connected(self) -> int:
        return sum(1 for c in self.clients.values() if c.open_)

    async def cpu(self) -> float:
        return time.process_time()

    async def reset_latencies(self) -> None:
        self.recorder.reset_latencies()

    async def wait_unique(self, *, target: int, timeout: float) -> dict[str, Any]:
        reached = await self.recorder.wait_unique(target, timeout)
        return {"reached": reached, "unique": self.recorder.unique}

    async def report(self, *, expected: list[tuple[int, int | None, int | None]]) -> dict[str, Any]:
        """What this fleet's clients got, checked against the acknowledged messages."""
        recorder = self.recorder
        keys = {index for index, _id, _seq in expected}
        lost = sum(len(keys - c.seen) for c in self.clients.values())
        unexpected = sum(len(c.seen - keys) for c in self.clients.values())
        mismatched = recorder.mismatched + sum(
            1
            for index, message_id, seq in expected
            if index in recorder.identity and recorder.identity[index] != (message_id, seq)
        )
        return {
            "clients": len(self.clients),
            "unique": recorder.unique,
            "lost": lost,
            "unexpected": unexpected,
            "duplicates": recorder.duplicates,
            "out_of_order": recorder.out_of_order,
            "mismatched": mismatched,
            "foreign": recorder.foreign,
            "errors": dict(recorder.errors),
            "error_samples": list(recorder.error_samples),
            "latencies_ns": recorder.latencies_ns.tobytes(),
            "last_receipt_ns": dict(recorder.last_receipt_ns),
        }

    # --- sending (senders always live in the first, local fleet) -----------------------------
    async def send_plan(
        self,
        *,
        senders: list[int],
        room: int | None,
        count: int,
        first_index: int,
        rate: float,
        window: int,
        duration: float,
        timeout: float,
    ) -> dict[str, Any]:
        """Send ``count`` messages round-robin from ``senders``, at ``rate``/s (0: flat out).

        Each sender keeps at most ``window`` sends unanswered.  Sending stops at ``duration``
        seconds; each send waits at most ``timeout`` for its answer.
        """
        loop = asyncio.get_running_loop()
        acks: list[tuple[int, int, int | None, int | None]] = []
        errors: Counter[str] = Counter()
        samples: list[str] = []
        started = loop.time()
        stop_at = started + duration
        not_sent = 0

        async def one(client: LoadClient, index: int) -> None:
            try:
                ack = await self._send_one(client, index, room=room, timeout=timeout)
            except Exception as error:
                errors[type(error).__name__] += 1
                if len(samples) < 5:
                    samples.append(f"{type(error).__name__}: {error}"[:300])
                return
            if isinstance(ack, str):
                errors[ack] += 1
            else:
                acks.append(ack)

        async def run_sender(position: int, client: LoadClient) -> None:
            nonlocal not_sent
            window_gate = asyncio.Semaphore(max(1, window))
            in_flight: set[asyncio.Task[None]] = set()
            indexes = range(first_index + position, first_index + count, len(senders))
            for sent, index in enumerate(indexes):
                if rate > 0:
                    await asyncio.sleep(
                        max(0.0, started + (index - first_index) / rate - loop.time())
                    )
                if loop.time() >= stop_at or not client.open_:
                    not_sent += len(indexes) - sent
                    break
                await window_gate.acquire()  # released by each send's bounded completion
                task = loop.create_task(one(client, index))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
                task.add_done_callback(lambda _task: window_gate.release())
            if in_flight:
                await asyncio.wait(in_flight, timeout=timeout + 5)

        wall_started = time.time_ns()
        clients = [self.clients[s] for s in senders if s in self.clients]
        await asyncio.gather(*(run_sender(p, c) for p, c in enumerate(clients)))
        return {
            "acks": acks,
            "errors": dict(errors),
            "samples": samples,
            "not_sent": not_sent + (count if not clients else 0),
            "started_ns": wall_started,
            "ended_ns": time.time_ns(),
        }

    async def _send_one(
        self, client: LoadClient, index: int, *, room: int | None, timeout: float
    ) -> tuple[int, int, int | None, int | None] | str:
        """Send message ``index``; return (index, sent_ns, id, seq) or an error code."""
        sent_ns = time.time_ns()
        body = message_body(self.run_id, client.index, index, sent_ns)
        if self.mode == BARE:
            await client.send_bare(body, index, timeout=timeout)
            return (index, sent_ns, None, None)
        # A rate-limited send is retried with the same key and body, as a real client would,
        # until its timeout is spent.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        for _attempt in range(1000):
            answer = await client.request(
                "message.send",
                timeout=max(0.1, deadline - loop.time()),
                room=room,
                body=body,
                client_msg_id=f"lt-{self.run_id}-{index}",
            )
            if answer["type"] == "ok":
                message = answer["data"]["message"]
                return (index, sent_ns, message["id"], message["seq"])
            error = answer.get("error", {})
            pause = float(error.get("retry_after", 1))
            if error.get("code") != "rate_limited" or loop.time() + pause >= deadline:
                break
            await asyncio.sleep(pause)
        return f"error:{error.get('code')}"


class RemoteFleet:
    """A ``LocalFleet`` in a worker process, driven over a pipe."""

    def __init__(self, *, mode: str, run_id: str, cpus: set[int] | None) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=_worker_main, args=(child, mode, run_id, cpus), daemon=True
        )
        self.process.start()
        child.close()
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fleet-pipe")

    async def call(self, name: str, **kwargs: Any) -> Any:
        timeout = float(kwargs.get("timeout", 30)) * 2 + float(kwargs.get("duration", 0))
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self._roundtrip, name, kwargs, timeout)

    def _roundtrip(self, name: str, kwargs: dict[str, Any], timeout: float) -> Any:
        self.conn.send((name, kwargs))
        if not self.conn.poll(timeout + PIPE_SLACK):
            raise TimeoutError(f"client worker {self.process.pid} did not answer {name!r}")
        status, value = self.conn.recv()
        if status != "ok":
            raise RuntimeError(f"client worker {self.process.pid} failed in {name!r}: {value}")
        return value

    def stop(self) -> None:
        """Stop the worker (it closes its sockets first), bounded."""
        with contextlib.suppress(Exception):
            self._roundtrip("stop", {}, 15)
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout=5)
        self.executor.shutdown(wait=False)
        self.conn.close()


def _worker_main(conn: Connection, mode: str, run_id: str, cpus: set[int] | None) -> None:
    """Entry point of a client worker process."""
    from .servers import raise_open_file_limit

    raise_open_file_limit()
    if cpus:
        os.sched_setaffinity(0, cpus)
    asyncio.run(_serve(conn, LocalFleet(mode=mode, run_id=run_id)))


async def _serve(conn: Connection, fleet: LocalFleet) -> None:
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=1) as executor:
        # Bounded: the parent always ends with "stop", and a dead parent closes the pipe.
        while True:
            try:
                name, kwargs = await loop.run_in_executor(executor, conn.recv)
            except (EOFError, OSError):
                await fleet.close()
                return
            if name == "stop":
                await fleet.close()
                conn.send(("ok", None))
                return
            try:
                conn.send(("ok", await fleet.call(name, **kwargs)))
            except Exception as error:
                conn.send(("error", repr(error)))


class FleetSet:
    """The fleets of one scenario run; the first is local and holds the senders."""

    def __init__(self, *, mode: str, run_id: str, processes: int, cpus: set[int] | None) -> None:
        self.mode = mode
        self.local = LocalFleet(mode=mode, run_id=run_id)
        self.remotes = [
            RemoteFleet(mode=mode, run_id=run_id, cpus=cpus) for _ in range(max(0, processes - 1))
        ]

    @property
    def fleets(self) -> list[LocalFleet | RemoteFleet]:
        return [self.local, *self.remotes]

    def split(self, specs: list[ClientSpec], *, local_first: int = 0) -> list[list[ClientSpec]]:
        """Give the first ``local_first`` specs to the local fleet, the rest round-robin."""
        parts: list[list[ClientSpec]] = [[] for _ in self.fleets]
        parts[0].extend(specs[:local_first])
        for position, spec in enumerate(specs[local_first:]):
            parts[position % len(parts)].append(spec)
        return parts

    async def each(
        self, name: str, per_fleet: list[dict[str, Any]] | None = None, **kw: Any
    ) -> list[Any]:
        """Run one command on every fleet at once; ``per_fleet`` adds per-fleet arguments."""
        calls = [
            fleet.call(name, **kw, **(per_fleet[i] if per_fleet else {}))
            for i, fleet in enumerate(self.fleets)
        ]
        return await asyncio.gather(*calls)

    def stop(self) -> None:
        for remote in self.remotes:
            remote.stop()


__all__ = ["BARE", "COMMUNIS", "FleetSet", "LocalFleet", "RemoteFleet"]
