"""What each placeholder means for one observation, worked out lazily and at most once.

One Facts lives for one evaluate() call: the body is decoded and parsed as JSON only
if some condition asks, and only once however many conditions ask.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from upstate.domain.conditions.model import Expression, Length, PathStep, Placeholder
from upstate.domain.conditions.values import (
    MISSING,
    MISSING_TEXT,
    as_text,
    measure_text,
    signed_duration_text,
)
from upstate.domain.observation import Observation

# Placeholders whose values are measured floats (ms or percent), shown to one decimal.
_MEASURED = frozenset(
    {
        "RESPONSE_TIME",
        "DNS_TIME",
        "CONNECT_TIME",
        "TLS_TIME",
        "TTFB",
        "PACKET_LOSS",
        "CPU",
        "MEMORY",
        "DISK",
    }
)


def metric_key(placeholder: Placeholder) -> str:
    """The key a host metric is looked up by: `cpu`, `memory`, `disk:/var`."""
    if placeholder.name == "DISK":
        return f"disk:{placeholder.arg}"
    return placeholder.name.lower()


class Facts:
    __slots__ = ("_json", "_json_done", "_text", "metrics", "now", "observation")

    def __init__(
        self, observation: Observation, now: datetime, metrics: Mapping[str, float] | None
    ) -> None:
        self.observation = observation
        self.now = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
        self.metrics = metrics
        self._text: str | None = None
        self._json: object = None
        self._json_done = False

    # ---- the body -------------------------------------------------------------------

    def body_text(self) -> str:
        """The body as text, trimmed as Gatus does; DNS answers joined by ', '."""
        if self._text is None:
            dns = self.observation.dns
            if dns is not None:
                self._text = ", ".join(dns.answers)
            else:
                self._text = self.observation.body.decode("utf-8-sig", errors="replace").strip()
        return self._text

    def body_json(self) -> object:
        if not self._json_done:
            self._json_done = True
            text = self.body_text()
            try:
                self._json = json.loads(text) if text else MISSING
            except (ValueError, RecursionError):
                self._json = MISSING
        return self._json

    # ---- placeholders ---------------------------------------------------------------

    def resolve(self, placeholder: Placeholder) -> object:
        """The value behind a placeholder, or MISSING."""
        return _RESOLVERS[placeholder.name](self, placeholder)

    def text(self, placeholder: Placeholder, value: object) -> str:
        """A resolved value as text, the way people read that placeholder."""
        if value is MISSING:
            return MISSING_TEXT
        if placeholder.name == "CERTIFICATE_EXPIRATION" and isinstance(value, float):
            return signed_duration_text(value)
        if placeholder.name in _MEASURED and isinstance(value, float):
            return measure_text(value)
        return as_text(value)

    def length(self, placeholder: Placeholder) -> object:
        value = self.resolve(placeholder)
        if value is MISSING:
            return MISSING
        if placeholder.name == "BODY" and not placeholder.path:
            document = self.body_json()
            if isinstance(document, list | dict):
                return len(document)
        if isinstance(value, str | list | dict):
            return len(value)
        return len(self.text(placeholder, value))

    def has(self, placeholder: Placeholder) -> bool:
        value = self.resolve(placeholder)
        if value is MISSING:
            return False
        if isinstance(value, str) and not placeholder.path:
            return value != ""
        return True

    def value(self, expression: Expression) -> object:
        if isinstance(expression, Placeholder):
            return self.resolve(expression)
        if isinstance(expression, Length):
            return self.length(expression.inner)
        return self.has(expression.inner)

    def expression_text(self, expression: Expression, value: object) -> str:
        if isinstance(expression, Placeholder):
            return self.text(expression, value)
        return MISSING_TEXT if value is MISSING else as_text(value)


def _walk(document: object, path: tuple[PathStep, ...]) -> object:
    node = document
    for step in path:
        if isinstance(step, int):
            if not isinstance(node, list) or not -len(node) <= step < len(node):
                return MISSING
            node = node[step]
        elif isinstance(node, dict):
            if step not in node:
                return MISSING
            node = node[step]
        elif isinstance(node, list) and step.isdigit() and len(step) <= 18:
            index = int(step)
            if index >= len(node):
                return MISSING
            node = node[index]
        else:
            return MISSING
    return node


def _body(facts: Facts, placeholder: Placeholder) -> object:
    if not placeholder.path:
        return facts.body_text()
    document = facts.body_json()
    return MISSING if document is MISSING else _walk(document, placeholder.path)


def _certificate_expiration(facts: Facts, _: Placeholder) -> object:
    cert = facts.observation.cert
    if cert is None:
        return MISSING
    not_after = cert.not_after
    if not_after.tzinfo is None:
        not_after = not_after.replace(tzinfo=UTC)
    return (not_after - facts.now).total_seconds() * 1000.0


def _metric(facts: Facts, placeholder: Placeholder) -> object:
    if facts.metrics is None:
        return MISSING
    value = facts.metrics.get(metric_key(placeholder))
    return MISSING if value is None else float(value)


def _present(value: object) -> object:
    return MISSING if value is None or value == "" else value


def _or_missing(value: object) -> object:
    return MISSING if value is None else value


def _phase(name: str) -> Callable[[Facts, Placeholder], object]:
    def resolve(facts: Facts, _: Placeholder) -> object:
        return _present(getattr(facts.observation.phases, name))

    return resolve


def _dns_rcode(facts: Facts, _: Placeholder) -> object:
    dns = facts.observation.dns
    return MISSING if dns is None else _present(dns.rcode)


def _packet_loss(facts: Facts, _: Placeholder) -> object:
    icmp = facts.observation.icmp
    return MISSING if icmp is None else float(icmp.packet_loss)


def _response_time(facts: Facts, _: Placeholder) -> object:
    """Milliseconds; for a ping the average round trip (as Gatus does), not the whole probe."""
    icmp = facts.observation.icmp
    if icmp is not None:
        return MISSING if icmp.rtt_avg is None else float(icmp.rtt_avg)
    return float(facts.observation.duration_ms)


_RESOLVERS: dict[str, Callable[[Facts, Placeholder], object]] = {
    "STATUS": lambda facts, _: _present(facts.observation.status_code),
    "RESPONSE_TIME": _response_time,
    "BODY": _body,
    "HEADER": lambda facts, p: _or_missing(facts.observation.header(p.arg)),
    "IP": lambda facts, _: _present(facts.observation.ip),
    "CONNECTED": lambda facts, _: facts.observation.connected,
    "CERTIFICATE_EXPIRATION": _certificate_expiration,
    "DNS_RCODE": _dns_rcode,
    "PACKET_LOSS": _packet_loss,
    "DNS_TIME": _phase("dns"),
    "CONNECT_TIME": _phase("connect"),
    "TLS_TIME": _phase("tls"),
    "TTFB": _phase("ttfb"),
    "CPU": _metric,
    "MEMORY": _metric,
    "DISK": _metric,
}
