"""How values are read as numbers and written for people, in one place.

Conditions compare numbers when both sides are numbers, text otherwise; both the
parser (for literals) and the evaluator (for what a probe saw) go through here so
`200`, `200.0` and a JSON `200` all mean the same thing.
"""

from __future__ import annotations

import json
import re
from typing import Final

from upstate.domain.durations import format_duration, parse_duration


class _Missing:
    """A placeholder with nothing behind it: no body JSON, no such key, no certificate."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()
MISSING_TEXT = "missing"
MAX_SHOWN = 100  # characters of a value shown to people; bodies can be a megabyte

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_INTEGER = re.compile(r"[+-]?\d{1,4000}")  # Python refuses to parse much longer integers


def to_number(text: str) -> int | float | None:
    """The number written in `text` (decimal, optional exponent), or None.

    Deliberately narrower than float(): `nan`, `inf` and `1_000` are text here.
    """
    if not _NUMBER.fullmatch(text):
        return None
    if _INTEGER.fullmatch(text):
        return int(text)
    return float(text)


def duration_ms(text: str) -> float | None:
    """Milliseconds in a duration literal such as 500ms, 48h or 7d, or None."""
    try:
        return parse_duration(text) * 1000.0
    except ValueError:
        return None


def number_of(value: object) -> int | float | None:
    """A resolved value as a number, if it is one. Booleans are not numbers."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        return to_number(value)
    return None


def as_text(value: object) -> str:
    """A JSON-ish value as text: strings as they are, the rest as compact JSON."""
    if isinstance(value, str):
        return value
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return repr(value)


def measure_text(value: float) -> str:
    """A measured quantity (ms, percent) to one decimal: 412.0 -> '412', 33.33 -> '33.3'."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def signed_duration_text(ms: float) -> str:
    """Milliseconds as a duration, negative when already past: '29d23h', '-2h5m'."""
    seconds = ms / 1000.0
    if seconds < 0:
        return "-" + format_duration(-seconds)
    return format_duration(seconds)


_ONE_LINE = str.maketrans({"\n": "\\n", "\r": "\\r", "\t": "\\t"})


def shown(text: str) -> str:
    """Text on one line, cut to a length that fits in a log line or a status page."""
    flat = text.translate(_ONE_LINE)
    if len(flat) <= MAX_SHOWN:
        return flat
    return flat[:MAX_SHOWN] + "…"
