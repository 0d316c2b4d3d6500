"""The statuspage probe: read a third-party status page's summary.json (Statuspage v2 shape).

The fetch is the http probe's; this module narrows the page to the components the
monitor cares about (glob filters) and reads the page indicator and unresolved
incidents. Anything that is not a well-formed summary is `invalid_response`, with
a message that points at the offending part, and so is a filter that matches
nothing: a typo in a component name must not read as "all operational".

Matching: a filter is an fnmatch glob, case-insensitive, tried on a component's
name, on its "Group / Name", and on the names of the groups it sits in (so a
group's name selects all of its members). A group with members is a container,
not a component; a group without members counts as a component itself.
`StatuspageFacts.status` is the worst kept component (maintenance ranks below any
unplanned trouble, as in domain/check.py).

The Observation is the http probe's (timing, ip, status code, certificate) with
kind `statuspage`, target `spec.url`, and the body cut to a KEPT_BODY sample
(`body_truncated` then says so) — the whole document is parsed, not stored.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from upstate.domain.enums import ComponentStatus, ErrorKind
from upstate.domain.observation import (
    Observation,
    ProbeError,
    StatuspageFacts,
    UpstreamComponent,
    UpstreamIncident,
)
from upstate.domain.specs import HttpSpec, StatuspageSpec
from upstate.probes import http
from upstate.probes.base import ProbeContext

SUMMARY_PATH = "/api/v2/summary.json"
KEPT_BODY = 64 * 1024  # the sample of the document kept in the Observation
_MAX_DEPTH = 8  # groups inside groups; Statuspage has one level, a cycle has infinitely many
_SLASH = re.compile(r"\s*/\s*")
_RESOLVED = frozenset({"resolved", "postmortem", "completed"})

# Worst last. Maintenance is planned, so any unplanned trouble outranks it.
_SEVERITY = {
    ComponentStatus.OPERATIONAL: 0,
    ComponentStatus.UNDER_MAINTENANCE: 1,
    ComponentStatus.DEGRADED_PERFORMANCE: 2,
    ComponentStatus.PARTIAL_OUTAGE: 3,
    ComponentStatus.MAJOR_OUTAGE: 4,
}
_STATUSES = {status.value: status for status in ComponentStatus}


class InvalidSummary(ValueError):
    """The document is not a usable summary.json; the message says where and why."""


def summary_url(url: str) -> str:
    """`<url>/api/v2/summary.json`, or `url` itself when it already names a .json document."""
    parts = urlsplit(url)
    if parts.path.endswith(".json"):
        return url
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + SUMMARY_PATH))


async def run(spec: StatuspageSpec, ctx: ProbeContext) -> Observation:
    url = summary_url(spec.url)
    fetched = await http.run(
        HttpSpec(
            url=url,
            tls_verify=spec.tls_verify,
            ca_file=spec.ca_file,
            timeout_s=spec.timeout_s,
            max_body=spec.max_body,
            headers=(("Accept", "application/json"),),
        ),
        ctx,
    )
    facts: StatuspageFacts | None = None
    error = fetched.error
    if error is None:
        try:
            facts = parse_summary(_document(fetched, spec.max_body), spec.components)
        except InvalidSummary as exc:
            error = ProbeError(ErrorKind.INVALID_RESPONSE, str(exc))
    body = fetched.body
    return replace(
        fetched,
        kind=spec.kind,
        target=spec.url,
        error=error,
        statuspage=facts,
        body=body[:KEPT_BODY],
        body_truncated=fetched.body_truncated or len(body) > KEPT_BODY,
    )


def _document(fetched: Observation, max_body: int) -> object:
    """The decoded JSON of a complete 2xx answer."""
    code = fetched.status_code
    if code is None or not 200 <= code < 300:
        raise InvalidSummary(f"summary.json: HTTP {code}, expected 2xx")
    if fetched.body_truncated:
        raise InvalidSummary(f"summary.json: larger than max_body ({max_body} bytes)")
    try:
        return json.loads(fetched.body)
    except UnicodeDecodeError as exc:
        raise InvalidSummary(f"summary.json: not UTF-8 text ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise InvalidSummary(
            f"summary.json: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None


@dataclass(frozen=True, slots=True)
class _Entry:
    index: int
    id: str | None
    name: str
    status: ComponentStatus
    group_id: str | None
    members: tuple[str, ...]  # a group's member ids, as the group lists them


def parse_summary(data: object, filters: Sequence[str] = ()) -> StatuspageFacts:
    """The facts of a summary.json document, narrowed by `filters` (empty: every component).

    Raises InvalidSummary for a document of the wrong shape, or when a filter
    matches no component.
    """
    if not isinstance(data, dict):
        raise InvalidSummary(f"summary.json: expected an object, got {_kind(data)}")
    indicator, description = _page_status(data)
    raw_components = data.get("components")
    if not isinstance(raw_components, list):
        raise InvalidSummary(
            f"summary.json: 'components' is {_kind(raw_components)}, expected a list"
        )
    entries = [_entry(index, raw) for index, raw in enumerate(raw_components)]
    kept = _select(entries, filters)
    worst = max((c.status for c in kept), key=_SEVERITY.__getitem__, default=None)
    return StatuspageFacts(
        indicator=indicator,
        description=description,
        components=kept,
        incidents=_incidents(data.get("incidents")),
        status=worst or ComponentStatus.OPERATIONAL,
    )


def _page_status(data: dict[str, Any]) -> tuple[str, str]:
    status = data.get("status")
    if not isinstance(status, dict):
        raise InvalidSummary(f"summary.json: 'status' is {_kind(status)}, expected an object")
    indicator = status.get("indicator")
    if not isinstance(indicator, str) or not indicator:
        raise InvalidSummary("summary.json: status has no indicator")
    description = status.get("description")
    if description is not None and not isinstance(description, str):
        raise InvalidSummary(f"summary.json: status description is {_kind(description)}")
    return indicator, description or ""


def _entry(index: int, raw: object) -> _Entry:
    if not isinstance(raw, dict):
        raise InvalidSummary(f"summary.json: component {index} is {_kind(raw)}, not an object")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InvalidSummary(f"summary.json: component {index} has no name")
    where = f"component {index} ({name!r})"
    status = raw.get("status")
    if status is None:
        raise InvalidSummary(f"summary.json: {where} has no status")
    if not isinstance(status, str) or status not in _STATUSES:
        raise InvalidSummary(f"summary.json: {where} has an unknown status {status!r}")
    members = raw.get("components") if raw.get("group") is True else None
    return _Entry(
        index=index,
        id=_optional_id(raw.get("id")),
        name=name.strip(),
        status=_STATUSES[status],
        group_id=_optional_id(raw.get("group_id")),
        members=tuple(str(m) for m in members) if isinstance(members, list) else (),
    )


def _optional_id(value: object) -> str | None:
    if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
        return str(value)
    return None


def _select(entries: list[_Entry], filters: Sequence[str]) -> tuple[UpstreamComponent, ...]:
    """The components (not group containers) that the filters pick, in page order."""
    tree = _Tree(entries)
    patterns = [
        (f, re.compile(fnmatch.translate(_spaced(f.strip().lower())))) for f in filters if f.strip()
    ]
    matched: set[str] = set()
    kept: list[UpstreamComponent] = []
    for entry in entries:
        if entry.id is not None and entry.id in tree.containers:
            continue  # its members speak for it
        path = [*(group.name for group in tree.groups_of(entry)), entry.name]
        if patterns:
            # The names it answers to: its own, its full path, and its groups' (and paths).
            names = {_spaced(entry.name.lower())}
            names.update(_spaced(" / ".join(path[: i + 1]).lower()) for i in range(len(path)))
            names.update(_spaced(name.lower()) for name in path)
            hits = [f for f, p in patterns if any(p.match(n) for n in names)]
            if not hits:
                continue
            matched.update(hits)
        kept.append(UpstreamComponent(" / ".join(path), entry.status))
    missing = [f for f, _ in patterns if f not in matched]
    if missing:
        raise InvalidSummary(
            f"summary.json: no component matches {', '.join(map(repr, missing))}"
            f" (the page has: {tree.names_hint()})"
        )
    return tuple(kept)


def _spaced(name: str) -> str:
    """ "Group/Name", "Group / Name" and "Group  /Name" all read as "Group / Name"."""
    return _SLASH.sub(" / ", name) if "/" in name else name


class _Tree:
    """Who sits in which group. A member is known by its group_id or by its group's list."""

    def __init__(self, entries: list[_Entry]) -> None:
        self.entries = entries
        self.by_id = {entry.id: entry for entry in entries if entry.id is not None}
        self.parent: dict[str, str] = {}
        for entry in entries:
            for member in entry.members:
                if entry.id is not None and member in self.by_id:
                    self.parent.setdefault(member, entry.id)
        for entry in entries:
            if entry.id is not None and entry.group_id in self.by_id:
                self.parent[entry.id] = entry.group_id
        self.containers = set(self.parent.values())

    def groups_of(self, entry: _Entry) -> list[_Entry]:
        """The groups an entry sits in, outermost first; unknown ids and cycles end the walk."""
        lineage: list[_Entry] = []
        seen = {entry.id}
        current = entry.id
        while current is not None and len(lineage) < _MAX_DEPTH:
            group_id = self.parent.get(current)
            if group_id is None or group_id in seen:
                break
            seen.add(group_id)
            lineage.append(self.by_id[group_id])
            current = group_id
        lineage.reverse()
        return lineage

    def names_hint(self, limit: int = 12) -> str:
        """A few of the page's names, so a typo in a filter is quick to fix."""
        names = [
            " / ".join([*(g.name for g in self.groups_of(entry)), entry.name])
            for entry in self.entries[:limit]
        ]
        if not names:
            return "no components"
        extra = len(self.entries) - limit
        return ", ".join(names) + (f", and {extra} more" if extra > 0 else "")


def _incidents(raw: object) -> tuple[UpstreamIncident, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise InvalidSummary(f"summary.json: 'incidents' is {_kind(raw)}, expected a list")
    out: list[UpstreamIncident] = []
    for index, incident in enumerate(raw):
        if not isinstance(incident, dict):
            raise InvalidSummary(f"summary.json: incident {index} is {_kind(incident)}")
        fields: dict[str, str] = {}
        for key in ("name", "status", "impact"):
            value = incident.get(key)
            if not isinstance(value, str):
                raise InvalidSummary(f"summary.json: incident {index} has no {key}")
            fields[key] = value
        if fields["status"] not in _RESOLVED:
            out.append(UpstreamIncident(fields["name"], fields["status"], fields["impact"]))
    return tuple(out)


def _kind(value: object) -> str:
    """A JSON reader's word for a value's type, for messages."""
    if value is None:
        return "missing (or null)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
