"""Durations as people write them: 500ms, 30s, 5m, 2h, 14d, 1w (and compounds like 1h30m)."""

from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+")


def parse_duration(text: str) -> float:
    """Seconds in `text`; raises ValueError with a message a person can act on."""
    cleaned = text.strip().lower()
    if not _WHOLE.fullmatch(cleaned):
        raise ValueError(
            f"invalid duration {text!r}: expected a number and a unit, e.g. 500ms, 30s, 5m, 2h, 14d"
        )
    return sum(float(number) * _UNITS[unit] for number, unit in _PART.findall(cleaned))


def format_duration(seconds: float) -> str:
    """The shortest exact spelling: 90 -> '1m30s', 0.5 -> '500ms'."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    rest = round(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            count, rest = divmod(rest, size)
            parts.append(f"{count}{unit}")
    return "".join(parts)
