"""DESIGN.md's structural rules, checked by reading the source (``ast``), not by convention.

1. Only actions publish: ``publish_event_on_commit``, ``send_control_on_commit`` and
   ``hub.publish`` appear only in ``actions`` modules (and the publishing module itself).
2. The gateway never imports a feature app: each app plugs itself in through the registry.
3. REST and page views, websocket handlers and selectors never write domain models: writes go
   through actions.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APPS = ("chatserver", "rooms", "presence", "statusfeed", "moderation", "web")
FEATURE_APPS = frozenset({"rooms", "presence", "statusfeed", "moderation", "web"})
PUBLISHERS = frozenset({"publish_event_on_commit", "send_control_on_commit"})
# Model writes: instance saves and deletes, manager and queryset writes.
WRITE_METHODS = frozenset(
    {
        "save",
        "delete",
        "create",
        "bulk_create",
        "bulk_update",
        "get_or_create",
        "update_or_create",
        "update",
    }
)
# Receivers of ``.update(`` that are plainly not querysets (dicts, sets): only chains count.
QUERYSET_HINTS = frozenset(
    {"objects", "filter", "exclude", "all", "select_for_update", "select_related", "only"}
)
# Reviewed exceptions: (path, method) with the reason.
ALLOWED_WRITES = {
    # Issuing an API token is DRF's authentication plumbing, not a change to Communis data.
    ("chatserver/api.py", "get_or_create"),
}


def source_files() -> Iterator[Path]:
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def is_actions_module(path: Path) -> bool:
    """``<app>/actions.py`` or any module of an ``<app>/actions/`` package."""
    return path.name == "actions.py" or "actions" in path.relative_to(ROOT).parts[:-1]


def may_publish(path: Path) -> bool:
    rel = relative(path)
    return (
        is_actions_module(path)
        or rel == "chatserver/realtime/publish.py"
        # Seed data and tools run actions, the same path as any other change.
        or "/management/commands/" in rel
    )


def dotted(node: ast.AST) -> str:
    """``a.b.c`` for a chain of attribute accesses on a name, else the empty string."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return ""


def publishing_uses(tree: ast.Module) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in PUBLISHERS:
            found.append((node.lineno, node.id))
        elif isinstance(node, ast.Attribute) and node.attr in PUBLISHERS:
            found.append((node.lineno, node.attr))
        elif isinstance(node, ast.Attribute) and node.attr == "publish":
            owner = dotted(node.value)
            if owner == "hub" or owner.endswith(".hub"):
                found.append((node.lineno, f"{owner}.publish"))
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name in PUBLISHERS:
                    found.append((node.lineno, f"import of {alias.name}"))
    return found


def imported_top_level_packages(tree: ast.Module) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


def _receiver_is_queryset_chain(node: ast.AST) -> bool:
    while isinstance(node, ast.Attribute | ast.Call):
        if isinstance(node, ast.Call):
            node = node.func
            continue
        if node.attr in QUERYSET_HINTS:
            return True
        node = node.value
    return False


def model_writes(tree: ast.Module) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        method = node.func.attr
        if method not in WRITE_METHODS:
            continue
        if method == "update" and not _receiver_is_queryset_chain(node.func.value):
            continue
        found.append((node.lineno, method))
    return found


def is_thin_layer(path: Path) -> bool:
    """REST and page views, websocket handlers and selectors (as modules or packages)."""
    names = {"api", "views", "handlers", "selectors"}
    parts = path.relative_to(ROOT).parts
    return path.stem in names or any(part in names for part in parts[:-1])


# --- the checkers themselves work -------------------------------------------------------------
def test_the_checkers_find_what_they_look_for() -> None:
    sample = ast.parse(
        "from chatserver.realtime.publish import publish_event_on_commit\n"
        "from rooms.models import Room\n"
        "import presence.models\n"
        "hub.publish(event)\n"
        "realtime.hub.publish(event)\n"
        "publish.send_control_on_commit(1, {})\n"
        "Room.objects.create(name='x')\n"
        "Room.objects.filter(pk=1).update(name='y')\n"
        "room.save()\n"
        "room.memberships.get_or_create(user=u)\n"
        "options.update(extra)\n"
    )
    assert sorted(name for _line, name in publishing_uses(sample)) == [
        "hub.publish",
        "import of publish_event_on_commit",
        "realtime.hub.publish",
        "send_control_on_commit",
    ]
    assert {name for _line, name in imported_top_level_packages(sample)} >= {"rooms", "presence"}
    assert sorted(method for _line, method in model_writes(sample)) == [
        "create",
        "get_or_create",
        "save",
        "update",
    ]


# --- the rules --------------------------------------------------------------------------------
@pytest.mark.parametrize("path", list(source_files()), ids=relative)
def test_only_actions_publish_events(path: Path) -> None:
    if may_publish(path):
        return
    uses = publishing_uses(parse(path))
    assert not uses, f"{relative(path)} publishes outside actions.py (DESIGN §2): " + ", ".join(
        f"line {line}: {name}" for line, name in uses
    )


@pytest.mark.parametrize(
    "path", sorted((ROOT / "chatserver" / "realtime").rglob("*.py")), ids=relative
)
def test_the_gateway_never_imports_a_feature_app(path: Path) -> None:
    imports = [
        (line, package)
        for line, package in imported_top_level_packages(parse(path))
        if package in FEATURE_APPS
    ]
    assert not imports, (
        f"{relative(path)} imports a feature app (DESIGN §2: apps register with the gateway): "
        + ", ".join(f"line {line}: {package}" for line, package in imports)
    )


@pytest.mark.parametrize("path", [p for p in source_files() if is_thin_layer(p)], ids=relative)
def test_views_handlers_and_selectors_never_write_models(path: Path) -> None:
    rel = relative(path)
    writes = [
        (line, method)
        for line, method in model_writes(parse(path))
        if (rel, method) not in ALLOWED_WRITES
    ]
    assert not writes, (
        f"{rel} writes models itself; call an action instead (DESIGN §2): "
        + ", ".join(f"line {line}: .{method}(" for line, method in writes)
    )


def test_there_is_something_to_check() -> None:
    files = [relative(p) for p in source_files()]
    assert "rooms/handlers.py" in files and "rooms/api.py" in files
    assert any(is_actions_module(ROOT / f) for f in files)
