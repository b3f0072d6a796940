"""Summarise a py-spy profile of a server (``loadtest --py-spy DIR`` writes them).

``python -m chatserver.loadtest.profile DIR/room-communis-<pid>.txt`` prints where the samples
went, grouped into the parts of the send and fan-out path (first matching rule wins, so each
sample counts once), then the heaviest functions by inclusive and by self samples.

py-spy samples every thread that is running Python (idle threads are left out), so the shares
are of "busy" samples across the event loop thread and the database thread together.  Both
need the GIL, so in a process that is CPU-bound their sum is what limits throughput.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

WORKER_THREAD = "concurrent/futures/thread.py"
# (label, substrings any of which marks a sample), most specific first.
CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    ("db thread: closing connections (close_old_connections)", ("close_old_connections",)),
    ("db thread: opening connections", ("ensure_connection", "get_new_connection")),
    ("db thread: message.send idempotency pre-check", ("_original_send",)),
    ("db thread: message.send transaction", ("do_send_message",)),
    (
        "db thread: handshake and resume queries",
        ("_user_for_token", "member_room_ids", "read_room_log"),
    ),
    ("db thread: other", (WORKER_THREAD,)),
    ("loop: hub fan-out (Hub.dispatch → socket writes)", ("Hub.dispatch",)),
    ("loop: inbound frames (Gateway.receive, handlers)", ("Gateway.receive", "_dispatch_frame")),
    ("loop: Twisted socket I/O (reads, deferred writes)", ("_readOrWrite",)),
    ("loop: polling (epoll)", ("select (selectors.py",)),
    ("loop: other", ("",)),
]


def load(path: Path) -> list[tuple[list[str], int]]:
    """Read py-spy's raw (collapsed) format: ``frame;frame;… count`` per line."""
    samples = []
    for line in path.read_text().splitlines():
        stack, _sep, count = line.rpartition(" ")
        if stack and count.isdigit():
            samples.append((stack.split(";"), int(count)))
    return samples


def categorise(samples: list[tuple[list[str], int]]) -> Counter[str]:
    shares: Counter[str] = Counter()
    for frames, count in samples:
        joined = ";".join(frames)
        for label, needles in CATEGORIES:
            if any(needle in joined for needle in needles):
                shares[label] += count
                break
    return shares


def summarise(path: Path, *, top: int = 25) -> str:
    """Return a plain-text summary of one profile."""
    samples = load(path)
    total = sum(count for _frames, count in samples) or 1
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for frames, count in samples:
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    lines = [f"{path.name}: {total} samples", "", "Where the samples went:"]
    for label, count in categorise(samples).most_common():
        lines.append(f"  {count / total:6.1%}  {label}")
    lines += ["", "Heaviest functions (inclusive):"]
    skip = ("threading.py", "runpy", "daphne/cli.py", "daphne/__main__", "asyncioreactor.py:257")
    shown = 0
    for frame, count in inclusive.most_common():
        if shown >= top:
            break
        if not any(s in frame for s in skip):
            lines.append(f"  {count / total:6.1%}  {frame}")
            shown += 1
    lines += ["", "Heaviest functions (self):"]
    for frame, count in own.most_common(top):
        lines.append(f"  {count / total:6.1%}  {frame}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m chatserver.loadtest.profile PROFILE.txt [...]", file=sys.stderr)
        return 2
    for name in argv:
        print(summarise(Path(name)))
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
