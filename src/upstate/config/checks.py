"""Rules that span fields or sections: uniqueness, references, cycles, either-or fields.

They run on whatever validated, so one broken monitor never hides a dangling reference
elsewhere; references count every monitor key written in the file (valid or not), so a
broken monitor does not make each reference to it an error too.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from upstate.config.fields import KEY_PATTERN
from upstate.config.maintenance import Maintenance
from upstate.config.monitors import (
    CompositeMonitor,
    HostMonitor,
    MonitorBase,
    Probed,
    PushMonitor,
    Scheduled,
)
from upstate.config.notifications import ChannelBase, Route
from upstate.config.pages import StatusPage
from upstate.config.probed import DnsMonitor, split_nameserver
from upstate.config.source import Path
from upstate.domain.conditions import Condition
from upstate.domain.conditions.model import Has, Length, Placeholder
from upstate.domain.durations import format_duration

HOST_METRICS = ("CPU", "MEMORY", "DISK")


@dataclass(frozen=True, slots=True)
class Finding:
    path: Path
    message: str
    at_key: bool = False
    text_index: int | None = None  # where in the string value (a condition) it is


@dataclass
class Parts:
    """The validated pieces of one file, each with its path."""

    monitors: list[tuple[Path, MonitorBase]] = field(default_factory=list)
    channels: list[tuple[Path, ChannelBase]] = field(default_factory=list)
    routes: list[tuple[Path, Route]] = field(default_factory=list)
    maintenance: list[tuple[Path, Maintenance]] = field(default_factory=list)
    pages: list[tuple[Path, StatusPage]] = field(default_factory=list)
    monitor_keys: set[str] = field(default_factory=set)  # every key written, valid or not
    channel_keys: set[str] = field(default_factory=set)


def unique(items: Any, path: Path, name: str, what: str) -> Iterator[Finding]:
    """Duplicate `name` values among the raw mappings of a list (e.g. monitor keys)."""
    if not isinstance(items, list):
        return
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        value = item.get(name) if isinstance(item, dict) else None
        if not isinstance(value, str):
            continue
        if value in seen:
            yield Finding(
                (*path, index, name), f"duplicate {what} {value} (also {path[-1]}[{seen[value]}])"
            )
        else:
            seen[value] = index


def written_keys(items: Any, name: str = "key") -> set[str]:
    if not isinstance(items, list):
        return set()
    return {
        item[name]
        for item in items
        if isinstance(item, dict)
        and isinstance(item.get(name), str)
        and KEY_PATTERN.fullmatch(item[name])
    }


def check_all(parts: Parts) -> Iterator[Finding]:
    for path, monitor in parts.monitors:
        yield from _monitor(path, monitor, parts.monitor_keys)
    yield from _cycles(parts.monitors)
    yield from _routes(parts)
    for path, window in parts.maintenance:
        yield from _maintenance(path, window, parts.monitor_keys)
    for path, page in parts.pages:
        yield from _page(path, page, parts.monitor_keys)


def _refs(path: Path, keys: Sequence[str], known: set[str], what: str) -> Iterator[Finding]:
    for index, key in enumerate(keys):
        if key not in known:
            near = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
            hint = f"; did you mean {near[0]}?" if near else ""
            yield Finding((*path, index), f"no {what} has the key {key}{hint}")
    for index, key in enumerate(keys):
        if key in keys[:index]:
            yield Finding((*path, index), f"{key} is listed twice")


def _monitor(path: Path, monitor: MonitorBase, known: set[str]) -> Iterator[Finding]:
    yield from _refs((*path, "depends_on"), monitor.depends_on, known, "monitor")
    if monitor.key in monitor.depends_on:
        yield Finding((*path, "depends_on"), "a monitor cannot depend on itself")
    if isinstance(monitor, Probed):
        if not monitor.regions:
            yield Finding((*path, "regions"), "needs at least one region, e.g. [local]")
        if len(set(monitor.regions)) != len(monitor.regions):
            yield Finding((*path, "regions"), "lists a region twice")
    if isinstance(monitor, CompositeMonitor):
        yield from _refs((*path, "monitors"), monitor.monitors, known, "monitor")
        if monitor.key in monitor.monitors:
            yield Finding((*path, "monitors"), "a composite cannot contain itself")
        if monitor.at_least is not None and not 1 <= monitor.at_least <= len(monitor.monitors):
            yield Finding(
                (*path, "at_least"), f"must be between 1 and {len(monitor.monitors)} (its monitors)"
            )
    if isinstance(monitor, Scheduled):
        yield from _metrics(path, monitor)
    if isinstance(monitor, PushMonitor):
        yield from _push(path, monitor)
    if isinstance(monitor, DnsMonitor) and monitor.nameserver and monitor.port:
        _, port = split_nameserver(monitor.nameserver)
        if port is not None and port != monitor.port:
            yield Finding((*path, "port"), f"conflicts with the nameserver's port {port}")


def _metrics(path: Path, monitor: Scheduled) -> Iterator[Finding]:
    """Host metrics ([CPU], [MEMORY], [DISK:/]) exist on host monitors only, and only they."""
    host = isinstance(monitor, HostMonitor)
    for field_name in ("conditions", "degraded_when"):
        for index, condition in enumerate(getattr(monitor, field_name)):
            for placeholder in _placeholders(condition):
                if (placeholder.name in HOST_METRICS) != host:
                    message = (
                        f"host monitors judge only {', '.join(f'[{m}]' for m in HOST_METRICS)}"
                        if host
                        else f"[{placeholder.name}] is a host metric: use a host monitor"
                    )
                    yield Finding(
                        (*path, field_name, index),
                        message,
                        text_index=max(condition.text.find(placeholder.text), 0),
                    )


def _placeholders(condition: Condition) -> Iterator[Placeholder]:
    for operand in (condition.left, condition.right):
        if isinstance(operand, Placeholder):
            yield operand
        elif isinstance(operand, Length | Has):
            yield operand.inner


def _push(path: Path, monitor: PushMonitor) -> Iterator[Finding]:
    if monitor.period is not None and monitor.schedule is not None:
        yield Finding((*path, "schedule"), "give period or schedule, not both")
    if monitor.period is None and monitor.schedule is None:
        yield Finding(path, "push monitors need a period (e.g. 1h) or a cron schedule")
    if monitor.timezone is not None and monitor.schedule is None:
        yield Finding((*path, "timezone"), "applies to a schedule only; this monitor has none")


def timeout_problem(monitor: MonitorBase) -> str | None:
    if isinstance(monitor, Probed) and monitor.timeout > monitor.interval:
        return (
            f"timeout {format_duration(monitor.timeout)} must not exceed "
            f"interval {format_duration(monitor.interval)}"
        )
    return None


def _cycles(monitors: Iterable[tuple[Path, MonitorBase]]) -> Iterator[Finding]:
    """A monitor that (through composites and depends_on) waits on itself, once per cycle."""
    edges: dict[str, list[str]] = {}
    where: dict[str, Path] = {}
    for path, monitor in monitors:
        targets = list(monitor.depends_on)
        if isinstance(monitor, CompositeMonitor):
            targets += list(monitor.monitors)
        edges.setdefault(monitor.key, []).extend(t for t in targets if t != monitor.key)
        where.setdefault(monitor.key, path)
    reported: set[frozenset[str]] = set()
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(key: str) -> Iterator[Finding]:
        state[key] = 1
        stack.append(key)
        for target in edges.get(key, []):
            if state.get(target) == 1:
                cycle = stack[stack.index(target) :]
                if frozenset(cycle) not in reported:
                    reported.add(frozenset(cycle))
                    chain = " -> ".join([*cycle, target])
                    yield Finding(where[target], f"circular dependency: {chain}")
            elif target in edges and state.get(target) is None:
                yield from visit(target)
        stack.pop()
        state[key] = 2

    for key in list(edges):
        if state.get(key) is None:
            yield from visit(key)


def _routes(parts: Parts) -> Iterator[Finding]:
    catch_all: int | None = None
    for path, route in parts.routes:
        yield from _refs((*path, "channels"), route.channels, parts.channel_keys, "channel")
        if route.match is not None:
            yield from _refs(
                (*path, "match", "monitors"), route.match.monitors, parts.monitor_keys, "monitor"
            )
        if catch_all is not None:
            yield Finding(
                path, f"unreachable: routes[{catch_all}] has no match, so it catches everything"
            )
        elif route.match is None or route.match == type(route.match)():
            catch_all = int(path[-1])


def _maintenance(path: Path, window: Maintenance, known: set[str]) -> Iterator[Finding]:
    yield from _refs((*path, "monitors"), window.monitors, known, "monitor")
    if window.schedule is not None:
        if window.start is not None or window.end is not None:
            yield Finding(path, "give a schedule or start/end, not both")
        if window.duration is None:
            yield Finding(path, "a recurring window needs a duration, e.g. 1h")
    elif window.start is None:
        yield Finding(path, "needs a cron schedule with a duration, or a start with an end")
    elif window.end is None and window.duration is None:
        yield Finding(path, "needs an end or a duration after its start")
    elif window.end is not None and window.duration is not None:
        yield Finding((*path, "duration"), "give end or duration, not both")
    elif window.end is not None and window.end <= window.start:
        yield Finding((*path, "end"), "must be after start")


def _page(path: Path, page: StatusPage, known: set[str]) -> Iterator[Finding]:
    if not page.all_components():
        yield Finding(path, "a status page needs components (directly or in groups)")
    names: set[str] = set()
    places = [((*path, "components", i), c) for i, c in enumerate(page.components)]
    places += [
        ((*path, "groups", g, "components", i), c)
        for g, group in enumerate(page.groups)
        for i, c in enumerate(group.components)
    ]
    for where, component in places:
        yield from _refs((*where, "monitors"), component.monitors, known, "monitor")
        if component.name in names:
            yield Finding(
                (*where, "name"), f"another component on this page is named {component.name}"
            )
        names.add(component.name)
    keys = [c.key for _, c in places if c.key]
    for where, component in places:
        if component.key and keys.count(component.key) > 1:
            yield Finding(
                (*where, "key"), f"another component on this page has the key {component.key}"
            )
    if page.access == "password" and page.password is None:
        yield Finding((*path, "password"), "access: password needs a password")
    if page.password is not None and page.access != "password":
        yield Finding((*path, "access"), "a password is set: say access: password")
