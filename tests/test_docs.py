"""The documents describe the code: every frame, event, error code, path and setting is there.

Each test collects one kind of thing from the running code or the source — frame types
registered with the gateway, event types in the apps' ``events`` modules, error codes assigned
anywhere, REST paths, limits, environment variables — and fails, naming the document to update,
if the documentation does not mention one of them.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest
from django.apps import apps
from django.conf import settings
from django.urls import URLPattern, URLResolver

from chatserver import errors
from chatserver.realtime import registry

ROOT = Path(__file__).resolve().parent.parent
PROTOCOL = ROOT / "docs" / "protocol.md"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
README = ROOT / "README.md"

# Frames the gateway itself writes, outside any app's events module.
GATEWAY_FRAME_TYPES = ("hello", "ok", "error", "resync.required")
EVENT_TYPE_VALUE = re.compile(r"^[a-z][a-z_]*(\.[a-z][a-z_]*)+$")
ERROR_CODE_ASSIGNMENT = re.compile(r"""\bcode\s*=\s*["']([a-z][a-z_]*)["']""")
ENV_READ = re.compile(
    r"""(?:env_(?:bool|int|list)|os\.environ\.get)\(\s*["']([A-Z][A-Z0-9_]*)["']"""
)
# Folders whose Python is not part of the product's protocol surface.
SKIPPED_SOURCE_PARTS = {"migrations", "loadtest", "__pycache__"}


@pytest.fixture(scope="module")
def protocol() -> str:
    """Return docs/protocol.md."""
    return PROTOCOL.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def readme() -> str:
    """Return README.md."""
    return README.read_text(encoding="utf-8")


def _project_apps() -> list[str]:
    """Names of the installed apps that live in this repository."""
    return [
        config.name
        for config in apps.get_app_configs()
        if Path(config.path).resolve().is_relative_to(ROOT)
    ]


def _events_modules() -> Iterator[ModuleType]:
    """Yield each project app's ``events`` module, where it has one."""
    for app in _project_apps():
        try:
            yield importlib.import_module(f"{app}.events")
        except ModuleNotFoundError as error:
            if error.name != f"{app}.events":
                raise


def _event_types() -> dict[str, str]:
    """Every event type constant in an app's ``events`` module, mapped to where it is."""
    found = {}
    for module in _events_modules():
        for name, value in vars(module).items():
            if name.isupper() and isinstance(value, str) and EVENT_TYPE_VALUE.match(value):
                found[value] = f"{module.__name__}.{name}"
    return found


def _source_files() -> Iterator[Path]:
    """Yield the product's Python files (not migrations, not the load tool)."""
    for app in _project_apps():
        folder = ROOT / app.replace(".", "/")
        for path in sorted(folder.rglob("*.py")):
            if not SKIPPED_SOURCE_PARTS.intersection(path.relative_to(ROOT).parts):
                yield path


def _error_codes() -> dict[str, str]:
    """Every error code assigned in the source (``code = "…"``), plus DRF's mapped codes."""
    found = {code: "chatserver.errors._DRF_CODES" for code in errors._DRF_CODES.values()}
    for path in _source_files():
        text = path.read_text(encoding="utf-8")
        for match in ERROR_CODE_ASSIGNMENT.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.setdefault(match.group(1), f"{path.relative_to(ROOT)}:{line}")
    return found


def _walk(patterns: list[object], prefix: str) -> Iterator[str]:
    """Yield the full route of every URL pattern under ``prefix``."""
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern)


def _doc_path(route: str) -> str:
    """Write ``rooms/<int:room_id>/`` the way the documents do: ``rooms/<room_id>/``."""
    return re.sub(r"<(?:\w+:)?(\w+)>", r"<\1>", route)


def _rest_paths() -> list[str]:
    """Every REST path under /api/ (chatserver.api_urls and the app URL modules it includes)."""
    api_urls = importlib.import_module("chatserver.api_urls")
    paths = {_doc_path(route) for route in _walk(api_urls.urlpatterns, "/api/")}
    rooms_urls = importlib.import_module("rooms.urls")
    paths |= {_doc_path(route) for route in _walk(rooms_urls.urlpatterns, "/api/")}
    return sorted(paths | {"/api/schema/", "/api/docs/", "/healthz"})


def _missing(items: dict[str, str] | list[str], present: Callable[[str], bool]) -> list[str]:
    """Return the items ``present`` rejects, each with where it comes from."""
    where = items if isinstance(items, dict) else dict.fromkeys(items, "")
    return [
        f"{item} ({origin})" if origin else item
        for item, origin in where.items()
        if not present(item)
    ]


def test_every_registered_frame_type_has_its_own_section(protocol: str) -> None:
    frame_types = sorted(registry.handlers)
    assert frame_types, "no frame types registered: did the apps' ready() run?"
    missing = _missing(frame_types, lambda t: f"### `{t}`" in protocol)
    assert not missing, f"docs/protocol.md needs a '### `<type>`' section for: {missing}"


def test_every_event_type_is_in_the_events_table(protocol: str) -> None:
    event_types = _event_types()
    assert "message.created" in event_types, "rooms.events was not found"
    missing = _missing(event_types, lambda t: f"| `{t}` |" in protocol)
    assert not missing, f"docs/protocol.md's events table needs a row for: {missing}"


def test_gateway_frames_are_documented(protocol: str) -> None:
    missing = _missing(list(GATEWAY_FRAME_TYPES), lambda t: f"`{t}`" in protocol)
    assert not missing, f"docs/protocol.md does not mention: {missing}"


def test_every_error_code_is_in_the_errors_table(protocol: str) -> None:
    codes = _error_codes()
    assert {"invalid", "not_found", "server_error"} <= set(codes), (
        "the source scan found too few codes"
    )
    missing = _missing(codes, lambda code: f"| `{code}` |" in protocol)
    assert not missing, f"docs/protocol.md's error table needs a row for: {missing}"


def test_every_rest_path_is_documented(protocol: str) -> None:
    paths = _rest_paths()
    assert "/api/rooms/<room_id>/messages/" in paths
    missing = _missing(paths, lambda path: f"`{path}`" in protocol)
    assert not missing, f"docs/protocol.md's REST section needs: {missing}"


def test_every_limit_setting_is_in_the_limits_table(protocol: str) -> None:
    missing = _missing(sorted(settings.COMMUNIS), lambda key: f"| `{key}` |" in protocol)
    assert not missing, f"docs/protocol.md's limits table needs a row for: {missing}"


def test_every_environment_variable_is_in_the_readme(readme: str) -> None:
    names = set(ENV_READ.findall((ROOT / "chatserver" / "settings.py").read_text()))
    names.discard("COMMUNIS_TEST_DB_SUFFIX")  # a test-run setting, documented under Development
    assert {"DATABASE_URL", "REDIS_URL", "COMMUNIS_MAX_FRAME_BYTES"} <= names
    missing = _missing(sorted(names), lambda name: f"`{name}`" in readme)
    assert not missing, f"README.md's Operations section needs: {missing}"


def test_readme_gives_the_two_commands_and_links_the_docs(readme: str) -> None:
    for needle in ("make run", "make test", "COMMUNIS_TEST_DB_SUFFIX"):
        assert needle in readme, f"README.md does not mention {needle!r}"
    for document in (PROTOCOL, ARCHITECTURE):
        assert document.exists(), f"{document.relative_to(ROOT)} is missing"
        assert str(document.relative_to(ROOT)) in readme, f"README.md does not link {document}"
