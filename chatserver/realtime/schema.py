"""Validation of client frames against a closed schema: no extra fields, no wrong types."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _

from chatserver.errors import InvalidInput

ENVELOPE_FIELDS = frozenset({"type", "req_id"})


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a frame: its JSON type and bounds."""

    kind: type
    required: bool = True
    max_length: int | None = None  # strings: characters; lists and dicts: items
    min_value: int | None = None
    max_value: int | None = None
    item_kind: type | None = None  # lists: item type; dicts: value type (keys are strings)


@dataclass(frozen=True, slots=True)
class FrameSchema:
    fields: dict[str, Field] = field(default_factory=dict)


def _type_name(kind: type) -> str:
    return {str: "string", int: "integer", bool: "boolean", dict: "object", list: "array"}.get(
        kind, kind.__name__
    )


def _is_kind(value: Any, kind: type) -> bool:
    # bool is an int in Python but not in JSON: refuse true where a number is expected.
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def _check_scalar(name: str, value: Any, spec: Field, kind: type) -> None:
    if not _is_kind(value, kind):
        raise InvalidInput(
            _("Field “%(field)s” must be of type %(kind)s.")
            % {"field": name, "kind": _type_name(kind)},
            extra={"field": name},
        )
    if kind is int:
        too_small = spec.min_value is not None and value < spec.min_value
        too_big = spec.max_value is not None and value > spec.max_value
        if too_small or too_big:
            raise InvalidInput(
                _("Field “%(field)s” is out of range.") % {"field": name}, extra={"field": name}
            )


def _check_field(name: str, value: Any, spec: Field) -> None:
    _check_scalar(name, value, spec, spec.kind)
    if (
        spec.max_length is not None
        and isinstance(value, str | list | dict)
        and len(value) > spec.max_length
    ):
        raise InvalidInput(
            _("Field “%(field)s” is too long (at most %(max)s).")
            % {"field": name, "max": spec.max_length},
            extra={"field": name},
        )
    if spec.item_kind is not None:
        items = value.values() if isinstance(value, dict) else value
        for item in items:
            _check_scalar(name, item, Field(kind=spec.item_kind), spec.item_kind)
        if isinstance(value, dict) and not all(len(k) <= 100 for k in value):
            raise InvalidInput(
                _("Field “%(field)s” has an over-long key.") % {"field": name},
                extra={"field": name},
            )


def validate_frame(frame: dict[str, Any], schema: FrameSchema) -> dict[str, Any]:
    """Return ``frame`` if it matches ``schema`` exactly, else raise ``InvalidInput``."""
    unknown = set(frame) - ENVELOPE_FIELDS - set(schema.fields)
    if unknown:
        raise InvalidInput(
            _("Unknown field(s): %(fields)s.") % {"fields": ", ".join(sorted(unknown))},
            extra={"field": sorted(unknown)[0]},
        )
    for name, spec in schema.fields.items():
        if name not in frame:
            if spec.required:
                raise InvalidInput(
                    _("Field “%(field)s” is required.") % {"field": name}, extra={"field": name}
                )
            continue
        _check_field(name, frame[name], spec)
    return frame


def validate_req_id(req_id: Any) -> Any:
    """Return a usable ``req_id`` or raise: strings up to 64 characters or integers."""
    if req_id is None:
        return None
    if isinstance(req_id, bool) or not isinstance(req_id, str | int):
        raise InvalidInput(_("“req_id” must be a string or an integer."))
    if isinstance(req_id, str) and len(req_id) > 64:
        raise InvalidInput(_("“req_id” is too long (at most 64 characters)."))
    return req_id
