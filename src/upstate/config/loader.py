"""Load a monitors-as-code file: YAML -> positioned tree -> validated UpstateConfig.

Every problem in the file is collected before anything is raised: each section, and each
monitor, channel, window and page, is validated on its own, then the rules that span them
run on whatever validated. The result is one ConfigError carrying every issue, sorted by
position, or a config with `defaults` merged into each monitor.
"""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Mapping
from pathlib import Path as FilePath
from typing import Any, TypeVar, cast

from pydantic import BaseModel, ValidationError

from upstate.config.checks import Parts, check_all, timeout_problem, unique, written_keys
from upstate.config.issues import Reporter, field_names, format_path, string_at, suggest
from upstate.config.maintenance import Maintenance
from upstate.config.models import (
    MONITOR_MODELS,
    Board,
    Defaults,
    Monitor,
    Retention,
    UpstateConfig,
)
from upstate.config.monitors import MonitorBase, Probed
from upstate.config.notifications import CHANNEL_MODELS, ChannelBase, Notifications
from upstate.config.pages import StatusPage
from upstate.config.source import Document, Path, parse
from upstate.domain.durations import format_duration
from upstate.errors import ConfigError, ConfigIssue

logger = logging.getLogger(__name__)

_M = TypeVar("_M", bound=BaseModel)
_SECTIONS = ("monitors", "notifications", "maintenance", "status_pages", "board", "retention")


def load_config(path: str | FilePath, env: Mapping[str, str] | None = None) -> UpstateConfig:
    """The validated config in `path`; ConfigError with every issue otherwise.

    `${VAR}` reads `env`, or the process environment when it is not given.
    """
    text, issues = _read(path)
    if issues:
        raise ConfigError(issues)
    return load_config_text(text, str(path), os.environ if env is None else env)


def load_config_text(
    text: str, filename: str = "<config>", env: Mapping[str, str] | None = None
) -> UpstateConfig:
    config, issues = _load(text, filename, os.environ if env is None else env)
    if config is None:
        raise ConfigError(issues)
    logger.debug("config loaded file=%s monitors=%d", filename, len(config.monitors))
    return config


def validate_file(path: str | FilePath, env: Mapping[str, str] | None = None) -> list[ConfigIssue]:
    """Every issue in the file, in file order; empty when it is valid."""
    text, issues = _read(path)
    if issues:
        return issues
    return _load(text, str(path), os.environ if env is None else env)[1]


def _read(path: str | FilePath) -> tuple[str, list[ConfigIssue]]:
    try:
        data = FilePath(path).read_bytes()
    except OSError as exc:
        return "", [ConfigIssue(str(path), None, None, "", f"cannot read: {exc.strerror}")]
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        return "", [ConfigIssue(str(path), line, column, "", "not UTF-8 text")]


def _load(
    text: str, filename: str, env: Mapping[str, str]
) -> tuple[UpstateConfig | None, list[ConfigIssue]]:
    document, source_issues = parse(text, env)
    if document is None:
        issue = source_issues[0]
        position = issue.position
        return None, [ConfigIssue(filename, position.line, position.column, "", issue.message)]
    report = Reporter(filename, document)
    for found in source_issues:
        report.issues.append(
            ConfigIssue(
                filename,
                found.position.line,
                found.position.column,
                _field(found.path, document),
                found.message,
            )
        )
    config = _Loader(document, report).run()
    issues = sorted(set(report.issues), key=_order)
    return (config if not issues else None), issues


def _field(path: Path, document: Document) -> str:
    return format_path(path, document.data)


def _order(issue: ConfigIssue) -> tuple[int, int, str, str]:
    return (issue.line or 0, issue.column or 0, issue.field, issue.message)


class _Loader:
    def __init__(self, document: Document, report: Reporter) -> None:
        self.document = document
        self.report = report
        self.parts = Parts()

    def run(self) -> UpstateConfig | None:
        root = self.document.data
        if root is None:
            self.report.add((), "the file is empty: expected monitors: and other sections")
            return None
        if not isinstance(root, dict):
            self.report.add((), "expected a mapping at the top (monitors:, notifications:, …)")
            return None
        allowed = field_names(UpstateConfig)
        for key in root:
            if key not in allowed and not key.startswith("x-"):  # x-…: room for &anchors
                self.report.unknown_key((key,), allowed, UpstateConfig.what)
        defaults, default_values = self.defaults(root.get("defaults"))
        monitors = self.monitors(root.get("monitors"), default_values)
        notifications = self.notifications(root.get("notifications"))
        maintenance = self.items("maintenance", root.get("maintenance"), Maintenance)
        pages = self.items("status_pages", root.get("status_pages"), StatusPage)
        board = self.section("board", root.get("board"), Board)
        retention = self.section("retention", root.get("retention"), Retention)
        self.parts.maintenance = [(p, m) for p, m in maintenance]
        self.parts.pages = [(p, s) for p, s in pages]
        self.cross_checks(root)
        if self.report.issues:
            return None
        return UpstateConfig.model_construct(
            defaults=defaults or Defaults(),
            monitors=tuple(cast(Monitor, m) for _, m in monitors),
            notifications=notifications or Notifications(),
            maintenance=tuple(m for _, m in maintenance),
            status_pages=tuple(s for _, s in pages),
            board=board or Board(),
            retention=retention or Retention(),
        )

    def validate(
        self, model: type[_M], data: Any, path: Path, context: dict[str, Any] | None = None
    ) -> _M | None:
        try:
            return model.model_validate(data, context=context)
        except ValidationError as exc:
            self.report.validation_error(exc, model, path)
            return None

    def section(self, name: str, data: Any, model: type[_M]) -> _M | None:
        return self.validate(model, {} if data is None else data, (name,))

    def items(self, name: str, data: Any, model: type[_M]) -> list[tuple[Path, _M]]:
        if data is None:
            return []
        if not isinstance(data, list):
            self.report.add((name,), "expected a list (lines starting with -)")
            return []
        found: list[tuple[Path, _M]] = []
        for index, item in enumerate(data):
            valid = self.validate(model, item, (name, index))
            if valid is not None:
                found.append(((name, index), valid))
        return found

    def defaults(self, data: Any) -> tuple[Defaults | None, dict[str, Any]]:
        """The defaults, and the raw values of those that are valid (to merge)."""
        if data is None:
            return Defaults(), {}
        try:
            defaults = Defaults.model_validate(data)
        except ValidationError as exc:
            self.report.validation_error(exc, Defaults, ("defaults",))
            if not isinstance(data, dict):
                return None, {}
            bad = {error["loc"][0] for error in exc.errors() if error["loc"]}
            return None, {k: v for k, v in data.items() if k not in bad}
        if defaults.timeout and defaults.interval and defaults.timeout > defaults.interval:
            self.report.add(
                ("defaults", "timeout"),
                f"timeout {format_duration(defaults.timeout)} must not exceed "
                f"interval {format_duration(defaults.interval)}",
            )
        return defaults, dict(data)

    def monitors(self, data: Any, default_values: dict[str, Any]) -> list[tuple[Path, MonitorBase]]:
        if data is None:
            return []
        if not isinstance(data, list):
            self.report.add(("monitors",), "expected a list of monitors (lines starting with -)")
            return []
        found = []
        for index, item in enumerate(data):
            path: Path = ("monitors", index)
            model = self.kind_model(path, item, MONITOR_MODELS, "monitor")
            if model is None:
                continue
            merged, inherited = self.merge(path, item, model, default_values)
            monitor = self.validate(model, merged, path)
            if monitor is None:
                continue
            problem = timeout_problem(monitor)
            if problem and "timeout" in inherited and isinstance(monitor, Probed):
                monitor = monitor.model_copy(update={"timeout": monitor.interval})
            elif problem:
                self.report.add((*path, "timeout"), problem)
            found.append((path, monitor))
        self.parts.monitors = found
        return found

    def merge(
        self, path: Path, item: dict[str, Any], model: type[BaseModel], values: dict[str, Any]
    ) -> tuple[dict[str, Any], set[str]]:
        """`item` with the defaults its kind has and it does not set itself."""
        names = set(field_names(model))
        inherited = {k for k in values if k in names and k not in item}
        for key in inherited:  # errors about an inherited value point at `defaults:`
            self.document.aliases[(*path, key)] = ("defaults", key)
        return {**item, **{k: values[k] for k in inherited}}, inherited

    def kind_model(
        self, path: Path, item: Any, models: Mapping[Any, type[_M]], noun: str
    ) -> type[_M] | None:
        if not isinstance(item, dict):
            self.report.add(path, f"expected a {noun} (a mapping with key:, kind:, …)")
            return None
        kinds = ", ".join(str(k) for k in models)
        kind = item.get("kind")
        if kind is None:
            spelt = next((k for k in item if suggest(k, ["kind"])), None)
            if spelt is not None:  # `type: http`: "did you mean kind?" says it all
                self.report.unknown_key((*path, spelt), ["kind"], f"{noun}s")
                return None
            self.report.add((*path, "kind"), f"is required: one of {kinds}")
            return None
        model = models.get(kind) if isinstance(kind, str) else None
        if model is None:
            near = difflib.get_close_matches(str(kind), [str(k) for k in models], n=1)
            hint = f"; did you mean {near[0]}?" if near else f" (expected one of: {kinds})"
            self.report.add((*path, "kind"), f"unknown {noun} kind {kind!r}{hint}")
        return model

    def notifications(self, data: Any) -> Notifications | None:
        if data is None:
            return Notifications()
        if not isinstance(data, dict):
            return self.validate(Notifications, data, ("notifications",))
        rest = {k: v for k, v in data.items() if k != "channels"}
        notifications = self.validate(Notifications, rest, ("notifications",))
        channels: list[ChannelBase] = []
        raw = data.get("channels")
        path: Path = ("notifications", "channels")
        if raw is not None and not isinstance(raw, list):
            self.report.add(path, "expected a list of channels (lines starting with -)")
        for index, item in enumerate(raw if isinstance(raw, list) else []):
            model = self.kind_model((*path, index), item, CHANNEL_MODELS, "channel")
            channel = self.validate(model, item, (*path, index)) if model else None
            if channel is not None:
                channels.append(channel)
        self.parts.channel_keys = written_keys(raw)
        if notifications is None:
            return None
        self.parts.routes = [
            (("notifications", "routes", i), route) for i, route in enumerate(notifications.routes)
        ]
        return notifications.model_copy(update={"channels": tuple(channels)})

    def cross_checks(self, root: dict[str, Any]) -> None:
        monitors, pages = root.get("monitors"), root.get("status_pages")
        channels = (
            (root.get("notifications") or {}) if isinstance(root.get("notifications"), dict) else {}
        )
        self.parts.monitor_keys = written_keys(monitors)
        findings = [
            *unique(monitors, ("monitors",), "key", "monitor key"),
            *unique(channels.get("channels"), ("notifications", "channels"), "key", "channel key"),
            *unique(pages, ("status_pages",), "slug", "status page slug"),
            *unique(pages, ("status_pages",), "domain", "status page domain"),
            *check_all(self.parts),
        ]
        for finding in findings:
            position = None
            if finding.text_index is not None:
                text = string_at(self.document.data, finding.path)
                if text is not None:
                    position = self.document.text_position(finding.path, text, finding.text_index)
            self.report.add(finding.path, finding.message, at_key=finding.at_key, position=position)
