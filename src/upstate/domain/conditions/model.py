"""The parsed shape of a condition: frozen, picklable, comparable values built once at load.

Each node keeps the text it was parsed from, so results can be shown the way people wrote
them. Compiled regexes ride along (compare=False) so evaluation never compiles anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum


class ConditionSyntaxError(ValueError):
    """A condition or value that cannot be parsed, positioned at the offending character."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(f"column {column}: {message}")
        self.message = message
        self.column = column  # 1-based

    def __reduce__(self) -> tuple[type[ConditionSyntaxError], tuple[str, int]]:
        return (type(self), (self.message, self.column))


class ValueType(StrEnum):
    """What a placeholder resolves to; decides which literals may stand beside it."""

    NUMBER = "number"
    DURATION = "duration"  # milliseconds; literals like 500ms, 48h, 7d are accepted
    BOOL = "bool"
    TEXT = "text"


# Every placeholder the language knows, by canonical (upper-case) name.
PLACEHOLDERS: dict[str, ValueType] = {
    "STATUS": ValueType.NUMBER,
    "RESPONSE_TIME": ValueType.DURATION,
    "BODY": ValueType.TEXT,
    "HEADER": ValueType.TEXT,
    "IP": ValueType.TEXT,
    "CONNECTED": ValueType.BOOL,
    "CERTIFICATE_EXPIRATION": ValueType.DURATION,
    "DNS_RCODE": ValueType.TEXT,
    "PACKET_LOSS": ValueType.NUMBER,
    "DNS_TIME": ValueType.DURATION,
    "CONNECT_TIME": ValueType.DURATION,
    "TLS_TIME": ValueType.DURATION,
    "TTFB": ValueType.DURATION,
    "CPU": ValueType.NUMBER,
    "MEMORY": ValueType.NUMBER,
    "DISK": ValueType.NUMBER,
}
WITH_ARGUMENT = frozenset({"HEADER", "DISK"})  # written [HEADER:Name], [DISK:/path]


class Operator(StrEnum):
    EQ = "=="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    CONTAINS = "contains"
    NOT_CONTAINS = "not contains"
    MATCHES = "matches"


ORDERING = frozenset({Operator.LT, Operator.LE, Operator.GT, Operator.GE})
EQUALITY = frozenset({Operator.EQ, Operator.NE})

PathStep = str | int  # a key, or an index into a list


@dataclass(frozen=True, slots=True)
class Placeholder:
    """`[STATUS]`, `[HEADER:Name]`, `[BODY].data[0].id`, ..."""

    text: str
    name: str  # canonical, upper-case, a key of PLACEHOLDERS
    arg: str = ""  # the header name (lower-cased) or the disk path
    path: tuple[PathStep, ...] = ()  # JSON path, only after [BODY]

    @property
    def type(self) -> ValueType:
        return PLACEHOLDERS[self.name]


@dataclass(frozen=True, slots=True)
class Length:
    """`len(placeholder)`: items of a list or object, characters of anything else."""

    text: str
    inner: Placeholder


@dataclass(frozen=True, slots=True)
class Has:
    """`has(placeholder)`: whether the value is there at all."""

    text: str
    inner: Placeholder


@dataclass(frozen=True, slots=True)
class Literal:
    """A value written in the condition. `number` is set when it is one (durations in ms)."""

    text: str  # as written, quotes included
    value: str  # unquoted
    number: int | float | None = None


@dataclass(frozen=True, slots=True)
class Pattern:
    """`pat(glob)`: `*` any run, `?` one character, `[abc]` a class; whole-value match."""

    text: str
    glob: str
    regex: re.Pattern[str] = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class AnyOf:
    """`any(a, b, c)`: equal to one of the options."""

    text: str
    options: tuple[Literal, ...]


@dataclass(frozen=True, slots=True)
class Regex:
    """The right side of `matches`: a Python regular expression, searched."""

    text: str
    source: str
    regex: re.Pattern[str] = field(compare=False, repr=False)


Expression = Placeholder | Length | Has
Operand = Placeholder | Length | Has | Literal | Pattern | AnyOf | Regex


# Placeholders whose value a target repeats check after check (a status code, an rcode,
# an address, connected or not), one type each, so a value can key a memo.
MEMOIZED = frozenset({"STATUS", "CONNECTED", "DNS_RCODE", "IP"})
MEMO_SIZE = 64  # values remembered per condition; beyond that, judged every time


@dataclass(frozen=True, slots=True)
class Condition:
    """`LEFT OP RIGHT`. When one side is a MEMOIZED placeholder and the other a value
    written in the condition, the result depends on that placeholder's value alone:
    `key` is then that placeholder, and `memo` keeps the results by value (filled by
    evaluate._judge), so a monitor's everyday `[STATUS] < 400` is judged once per status
    code it sees instead of once per check. Neither takes part in equality."""

    text: str  # exactly as written in the config
    left: Operand
    op: Operator
    right: Operand
    key: Placeholder | None = field(default=None, init=False, compare=False, repr=False)
    memo: dict[object, ConditionResult] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", _memo_key(self.left, self.right))

    def __str__(self) -> str:
        return self.text


def _memo_key(left: Operand, right: Operand) -> Placeholder | None:
    for placeholder, other in ((left, right), (right, left)):
        if (
            type(placeholder) is Placeholder
            and placeholder.name in MEMOIZED
            and not placeholder.path
            and isinstance(other, Literal | Pattern | AnyOf | Regex)
        ):
            return placeholder
    return None


@dataclass(frozen=True, slots=True)
class ConditionResult:
    """One condition judged against one observation.

    `value` is what was seen (the first placeholder's value, rendered for people, or
    `missing`); `display` is the Gatus-like line, e.g. `[STATUS] (503) == 200`.
    """

    expr: str
    value: str
    ok: bool
    display: str = ""

    def __str__(self) -> str:
        return self.display or f"{self.expr} ({self.value})"
