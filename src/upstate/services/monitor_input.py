"""A monitor written to the API: validated in the config file's language, errors said alike.

The body of POST /api/v1/monitors is one monitor as it would be written under
`monitors:` in upstate.yaml (durations as text, conditions as strings), validated by the
same models. Errors become ConfigIssues without a line: `field` is the dotted path in
the body (`conditions[1]`) and `column` the 1-based character inside a condition's text.
Rules that span monitors (references, cycles) run against the monitors in the store.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from upstate.config.checks import Parts, check_all, timeout_problem
from upstate.config.issues import describe, field_names, format_path, model_at, other_kinds, suggest
from upstate.config.models import MONITOR_MODELS
from upstate.config.monitors import CompositeMonitor, MonitorBase
from upstate.domain.conditions import ConditionSyntaxError
from upstate.domain.enums import MonitorKind
from upstate.errors import ConfigError, ConfigIssue

SOURCE = "request body"


def issue(field: str, message: str, column: int | None = None) -> ConfigIssue:
    return ConfigIssue(SOURCE, None, column, field, message)


def validate_monitor(body: Mapping[str, Any]) -> MonitorBase:
    """The monitor in `body`, validated by its kind's model; ConfigError otherwise."""
    kinds = ", ".join(str(kind) for kind in MONITOR_MODELS)
    kind = body.get("kind")
    if kind is None:
        raise ConfigError([issue("kind", f"is required: one of {kinds}")])
    known = _kind(kind)
    model = MONITOR_MODELS.get(known) if known is not None else None
    if model is None:
        near = difflib.get_close_matches(str(kind), [str(k) for k in MONITOR_MODELS], n=1)
        hint = f"; did you mean {near[0]}?" if near else f" (expected one of: {kinds})"
        raise ConfigError([issue("kind", f"unknown monitor kind {kind!r}{hint}")])
    try:
        monitor = model.model_validate(dict(body))
    except ValidationError as exc:
        raise ConfigError(issues_of(exc, model, body)) from None
    problem = timeout_problem(monitor)
    if problem:
        raise ConfigError([issue("timeout", problem)])
    return monitor


def _kind(value: Any) -> MonitorKind | None:
    try:
        return MonitorKind(value) if isinstance(value, str) else None
    except ValueError:
        return None


def issues_of(exc: ValidationError, model: type[BaseModel], body: Any) -> list[ConfigIssue]:
    """Pydantic's errors as a person fixing the body needs them, never echoing a value.

    As the file loader does, a misspelt key is reported once (not also as a missing field).
    """
    errors = exc.errors()
    misspelt = set()
    for error in errors:
        if error["type"] == "extra_forbidden" and error["loc"]:
            parent = model_at(model, tuple(error["loc"][:-1]))
            meant = suggest(str(error["loc"][-1]), field_names(parent) if parent else [])
            misspelt.add((*error["loc"][:-1], meant))
    found: list[ConfigIssue] = []
    for error in errors:
        loc = tuple(part for part in error["loc"] if part != "[key]")
        if error["type"] == "missing" and loc in misspelt:
            continue
        field = format_path(loc, body)
        kind = error["type"]
        if kind == "extra_forbidden":
            found.append(issue(field, _unknown_key(model, loc)))
        elif kind == "missing":
            parent = model_at(model, loc[:-1])
            what = getattr(parent, "what", "")
            found.append(issue(field, f"is required for {what}" if what else "is required"))
        elif isinstance(cause := (error.get("ctx") or {}).get("error"), ConditionSyntaxError):
            what = "value" if "extract" in loc else "condition"
            found.append(issue(field, f"invalid {what}: {cause.message}", cause.column))
        else:
            found.append(issue(field, describe(error)))
    return found


def _unknown_key(model: type[BaseModel], loc: tuple[str | int, ...]) -> str:
    parent = model_at(model, loc[:-1])
    allowed = field_names(parent) if parent else []
    suggestion = suggest(str(loc[-1]), allowed)
    if suggestion:
        return f"unknown key; did you mean {suggestion}?"
    elsewhere = other_kinds(parent, str(loc[-1]))
    if elsewhere:
        what = getattr(parent, "what", "this monitor")
        return f"not a field of {what} (it is a field of {elsewhere})"
    return f"unknown key (expected one of: {', '.join(sorted(allowed))})"


def check_references(monitor: MonitorBase, edges: Mapping[str, Sequence[str]]) -> None:
    """The rules that span monitors, for `monitor` among the stored ones.

    `edges` maps every stored key to the keys it waits on (depends_on, and a composite's
    monitors); the monitor's own entry, if any, is replaced by what it says now.
    """
    parts = Parts(monitors=[((), monitor)], monitor_keys={*edges, monitor.key})
    found = []
    for finding in check_all(parts):
        column = finding.text_index + 1 if finding.text_index is not None else None
        found.append(issue(format_path(finding.path, None), finding.message, column))
    cycle = _cycle(monitor, edges)
    if cycle:
        field = "monitors" if isinstance(monitor, CompositeMonitor) else "depends_on"
        found.append(issue(field, f"circular dependency: {' -> '.join(cycle)}"))
    if found:
        raise ConfigError(found)


def waits_on(monitor: MonitorBase) -> tuple[str, ...]:
    children = monitor.monitors if isinstance(monitor, CompositeMonitor) else ()
    return (*monitor.depends_on, *children)


def _cycle(monitor: MonitorBase, edges: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A path from the monitor back to itself, if its new references close one."""
    graph = {**edges, monitor.key: waits_on(monitor)}
    start = monitor.key
    seen: set[str] = set()
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    while stack:
        key, path = stack.pop()
        for target in graph.get(key, ()):
            if target == start:
                return [*path, start]
            if target not in seen:
                seen.add(target)
                stack.append((target, [*path, target]))
    return None


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch: mappings merge, null removes a key, anything else replaces."""
    if not isinstance(patch, Mapping):
        return patch
    merged = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


def keep_masked(merged: Any, shown: Any, plain: Any) -> Any:
    """Where a patch sends back a masked value as it was shown, keep the stored value.

    So a client may GET a monitor, change one field and send the whole object back
    without erasing its password with `**********`.
    """
    if merged == shown and shown != plain:
        return plain
    if isinstance(merged, dict) and isinstance(shown, dict) and isinstance(plain, dict):
        return {
            key: keep_masked(value, shown[key], plain[key])
            if key in shown and key in plain
            else value
            for key, value in merged.items()
        }
    if (
        isinstance(merged, list)
        and isinstance(shown, list)
        and isinstance(plain, list)
        and len(merged) == len(shown) == len(plain)
    ):
        return [keep_masked(m, s, p) for m, s, p in zip(merged, shown, plain, strict=True)]
    return merged
