"""Pydantic's errors, said the way a person fixing a YAML file needs them.

Each error becomes a ConfigIssue: file:line:column from the source map, a field path such
as `monitors[key=api].interval` (list items named by their key or slug where they have a
valid one, else by 0-based index), and a message. Messages describe the wrong *kind* of
value (text, a number, a list…) but never repeat the value itself, so no secret can leak.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from upstate.config.fields import KEY_PATTERN
from upstate.config.models import MONITOR_MODELS
from upstate.config.source import Document, Path, Position
from upstate.domain.conditions import ConditionSyntaxError
from upstate.errors import ConfigIssue

LABELLED: dict[Path, str] = {
    ("monitors",): "key",
    ("notifications", "channels"): "key",
    ("status_pages",): "slug",
}

# Spellings from other tools (Gatus, Uptime Kuma, docker-compose) and what they are here.
HINTS: dict[str, str] = {
    "ip_version": "ip_family",
    "insecure": "tls_verify",
    "verify": "tls_verify",
    "verify_tls": "tls_verify",
    "retries": "failure_threshold",
    "type": "kind",
    "id": "key",
    "hostname": "host",
    "query_type": "record",
    "query_name": "name",
    "dns_resolver": "nameserver",
    "cron": "schedule",
    "alerts": "notifications",
    "endpoints": "monitors",
}


class Reporter:
    """Collects issues for one file, positioned through its source map."""

    def __init__(self, filename: str, document: Document) -> None:
        self.filename = filename
        self.document = document
        self.issues: list[ConfigIssue] = []

    def add(
        self,
        path: Path,
        message: str,
        *,
        at_key: bool = False,
        position: Position | None = None,
    ) -> None:
        if self.document.is_poisoned(path):
            return  # its value could not be read; that was reported already
        where = position or self.document.position(path, at_key=at_key)
        field = format_path(path, self.document.data)
        self.issues.append(ConfigIssue(self.filename, where.line, where.column, field, message))

    def unknown_key(
        self, path: Path, allowed: Iterable[str], what: str, elsewhere: str = ""
    ) -> None:
        allowed = list(allowed)
        message = f"not a field of {what}" if elsewhere else "unknown key"
        suggestion = suggest(str(path[-1]), allowed)
        if suggestion:
            message += f"; did you mean {suggestion}?"
        elif elsewhere:
            message += f" (it is a field of {elsewhere})"
        elif allowed:
            message += f" in {what} (expected one of: {', '.join(sorted(allowed))})"
        self.add(path, message, at_key=True)

    def validation_error(self, exc: ValidationError, model: type[BaseModel], prefix: Path) -> None:
        """Every error, less the echoes of another one.

        A misspelt key (`user` for `username`) also makes the real one missing, and a bad
        item in a list that must not be empty also makes the list "empty": one issue each.
        """
        errors = exc.errors()
        misspelt = set()
        for error in errors:
            if error["type"] == "extra_forbidden" and error["loc"]:
                parent = model_at(model, tuple(error["loc"][:-1]))
                meant = suggest(str(error["loc"][-1]), field_names(parent) if parent else [])
                misspelt.add((*error["loc"][:-1], meant))
        for error in errors:
            loc = tuple(error["loc"])
            if error["type"] == "missing" and loc in misspelt:
                continue
            if error["type"] == "too_short" and any(
                len(other["loc"]) > len(loc) and tuple(other["loc"][: len(loc)]) == loc
                for other in errors
            ):
                continue
            self.pydantic_error(error, model, prefix)

    def pydantic_error(self, error: ErrorDetails, model: type[BaseModel], prefix: Path) -> None:
        loc = tuple(error["loc"])
        at_key = bool(loc) and loc[-1] == "[key]"
        loc = tuple(part for part in loc if part != "[key]")
        path = prefix + loc
        kind = error["type"]
        if kind == "extra_forbidden":
            parent = model_at(model, loc[:-1])
            allowed = field_names(parent) if parent else []
            what = getattr(parent, "what", "this section")
            self.unknown_key(path, allowed, what, elsewhere=other_kinds(parent, str(path[-1])))
            return
        if kind == "missing":
            parent = model_at(model, loc[:-1])
            what = getattr(parent, "what", "")
            self.add(path, f"is required for {what}" if what else "is required")
            return
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, ConditionSyntaxError):
            text = string_at(self.document.data, path)
            position = (
                self.document.text_position(path, text, cause.column - 1)
                if text is not None
                else None
            )
            what = "value" if "extract" in path else "condition"
            self.add(path, f"invalid {what}: {cause.message}", position=position)
            return
        self.add(path, describe(error), at_key=at_key)


def suggest(key: str, allowed: list[str]) -> str | None:
    """The field `key` was probably meant to be, if any."""
    hint = HINTS.get(key)
    if hint in allowed:
        return hint
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    return close[0] if close else None


def describe(error: ErrorDetails) -> str:
    """One pydantic error as a sentence, without the offending value."""
    kind, ctx = error["type"], error.get("ctx") or {}
    got = _what_is(error.get("input"))
    if kind in ("value_error", "assertion_error"):
        return str(ctx.get("error", error["msg"]))
    if kind == "string_type":
        return f"expected text, got {got}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"expected a whole number, got {got}"
    if kind in ("float_type", "float_parsing"):
        return f"expected a number, got {got}"
    if kind == "finite_number":
        return "expected a finite number"
    if kind in ("bool_type", "bool_parsing"):
        return f"expected true or false, got {got}"
    if kind in ("list_type", "tuple_type", "set_type"):
        return f"expected a list, got {got}"
    if kind in ("dict_type", "model_type", "model_attributes_type", "mapping_type"):
        return f"expected a mapping (key: value lines), got {got}"
    if kind in ("literal_error", "enum"):
        expected = str(ctx.get("expected", "")).replace("'", "")
        return f"must be one of: {expected}"
    if kind in ("too_short", "string_too_short"):
        least = ctx.get("min_length", 1)
        return "must not be empty" if least == 1 else f"needs at least {least} items"
    if kind in ("greater_than_equal", "greater_than"):
        return f"must be at least {ctx.get('ge', ctx.get('gt'))}"
    if kind in ("less_than_equal", "less_than"):
        return f"must be at most {ctx.get('le', ctx.get('lt'))}"
    if kind == "string_pattern_mismatch":
        return "invalid name: use letters, digits and _, not starting with a digit"
    if kind.startswith(("datetime", "date")):
        return "expected a date and time such as 2025-05-01T02:00:00Z or 2025-05-01 02:00"
    return str(error["msg"])


def _what_is(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


def string_at(data: Any, path: Path) -> str | None:
    node = data
    for part in path:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    return node if isinstance(node, str) else None


def format_path(path: Path, data: Any) -> str:
    """("monitors", 2, "interval") -> "monitors[key=api].interval"."""
    out = ""
    node = data
    for depth, part in enumerate(path):
        if isinstance(part, int):
            out += f"[{_label(path[:depth], node, part)}]"
        else:
            out += f".{part}" if out else part
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            node = None
    return out


def _label(parent: Path, node: Any, index: int) -> str:
    field = LABELLED.get(parent)
    if field and isinstance(node, list) and 0 <= index < len(node):
        item = node[index]
        value = item.get(field) if isinstance(item, dict) else None
        if isinstance(value, str) and KEY_PATTERN.fullmatch(value):
            return f"{field}={value}"
    return str(index)


def field_names(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def model_at(model: type[BaseModel], loc: Path) -> type[BaseModel] | None:
    """The config model that validates the mapping at `loc` inside `model`, if any."""
    found: Any = model
    for part in loc:
        found = _descend(found, part)
        if found is None:
            return None
    return _first_model(found)


def _descend(tp: Any, part: str | int) -> Any:
    for candidate in _members(tp):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            for name, info in candidate.model_fields.items():
                if part in (info.alias, name) and info.alias in (None, part):
                    return info.annotation
            continue
        origin, args = typing.get_origin(candidate), typing.get_args(candidate)
        if origin in (tuple, list) and isinstance(part, int) and args:
            return args[0]
        if origin is dict and isinstance(part, str) and len(args) == 2:
            return args[1]
    return None


def _members(tp: Any) -> list[Any]:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _members(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(tp) for m in _members(arg)]
    return [tp]


def _first_model(tp: Any) -> type[BaseModel] | None:
    for candidate in _members(tp):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def other_kinds(model: type[BaseModel] | None, key: str) -> str:
    """For `url` on a tcp monitor: "http, statuspage monitors" — where `key` does belong."""
    if model is None or model not in MONITOR_MODELS.values():
        return ""
    owners = [str(kind) for kind, other in MONITOR_MODELS.items() if key in field_names(other)]
    return f"{', '.join(owners)} monitors" if owners else ""
