"""Conditions from text, once, at load: every mistake is reported with its column.

A hand-written scanner rather than Gatus's split-on-" == ": it lets the right side
hold any text, gives positioned errors, and catches at load what Gatus only finds
when a check runs (unknown placeholders, `[STATUS] == OK`, a broken regex).
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from dataclasses import replace

from upstate.domain.conditions.model import (
    EQUALITY,
    ORDERING,
    PLACEHOLDERS,
    WITH_ARGUMENT,
    AnyOf,
    Condition,
    ConditionSyntaxError,
    Expression,
    Has,
    Length,
    Literal,
    Operand,
    Operator,
    PathStep,
    Pattern,
    Placeholder,
    Regex,
    ValueType,
)
from upstate.domain.conditions.values import duration_ms, to_number

_OPERATORS_HELP = "==, !=, <, <=, >, >=, contains, not contains, matches"
_FUNCTION = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\(")
_WORD_OPERATOR = re.compile(r"(not\s+contains|contains|matches)(?=\s|\Z)", re.IGNORECASE)
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_INDEX = re.compile(r"-?\d+")
_KEY_STOP = frozenset('.[]() \t\r\n"=!<>,')
_LEFT_LITERAL_STOP = frozenset(" \t\r\n=!<>")
_ESCAPES = {"n": "\n", "t": "\t"}
_REGEX_FAILURES = (re.error, OverflowError, RecursionError, ValueError)


def parse_condition(text: str) -> Condition:
    """`[STATUS] == 200` and friends; raises ConditionSyntaxError with a 1-based column."""
    scan = _Scanner(text)
    scan.skip_space()
    if scan.at_end():
        raise scan.error("empty condition: expected e.g. [STATUS] == 200", 0)
    left_at = scan.pos
    left = scan.operand(right_side=False)
    scan.skip_space()
    op = scan.operator(left)
    scan.skip_space()
    if scan.at_end():
        raise scan.error(f"missing value after {op}", scan.end)
    right_at = scan.pos
    right: Operand = scan.regex() if op is Operator.MATCHES else scan.operand(right_side=True)
    scan.skip_space()
    if not scan.at_end():
        raise scan.error(f"unexpected {scan.token()!r} after {right.text}", scan.pos)
    return _checked(scan, Condition(text, left, op, right), left_at, right_at)


def parse_value(text: str) -> Expression:
    """A placeholder (or len()/has() of one) whose value is recorded, e.g. `[BODY].build`."""
    scan = _Scanner(text)
    scan.skip_space()
    start = scan.pos
    node: Operand | None = None
    if scan.at_placeholder():
        node = scan.placeholder()
    elif (match := _FUNCTION.match(text, start)) and match.group(1).lower() in ("len", "has"):
        node = scan.function(match, right_side=False)
    if not isinstance(node, Placeholder | Length | Has):
        raise scan.error(
            "expected a placeholder such as [BODY].version or [HEADER:X-Version]", start
        )
    scan.skip_space()
    if not scan.at_end():
        raise scan.error(f"unexpected {scan.token()!r} after {node.text}", scan.pos)
    return node


class _Scanner:
    """A cursor over one condition's text; every error it raises carries a valid column."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.end = len(text)

    def error(self, message: str, pos: int) -> ConditionSyntaxError:
        return ConditionSyntaxError(message, min(max(pos, 0), self.end) + 1)

    def never_closed(self, char: str, at: int) -> str:
        kind = "brackets" if char == "[" else "parentheses"
        return f"unbalanced {kind}: {char!r} at column {at + 1} is never closed"

    def at_end(self) -> bool:
        return self.pos >= self.end

    def skip_space(self) -> None:
        while self.pos < self.end and self.text[self.pos].isspace():
            self.pos += 1

    def token(self) -> str:
        """The word at the cursor, for messages."""
        stop = self.pos + 1
        while stop < self.end and stop - self.pos < 20 and not self.text[stop].isspace():
            stop += 1
        return self.text[self.pos : stop]

    def at_placeholder(self) -> bool:
        """`[` then a letter: `[STATUS]` is a placeholder, `[]` or `[1,2]` are text."""
        at = self.pos
        return (
            at + 1 < self.end
            and self.text[at] == "["
            and (self.text[at + 1].isalpha() or self.text[at + 1] == "_")
        )

    def operator(self, left: Operand) -> Operator:
        at = self.pos
        if self.at_end():
            raise self.error(f"missing operator after {left.text}: expected {_OPERATORS_HELP}", at)
        pair = self.text[at : at + 2]
        if pair in ("==", "!=", "<=", ">="):
            self.pos += 2
            return Operator(pair)
        char = self.text[at]
        if char in "<>":
            self.pos += 1
            return Operator(char)
        if char == "=":
            raise self.error("'=' is not an operator: write ==", at)
        if match := _WORD_OPERATOR.match(self.text, at):
            self.pos = match.end()
            word = match.group(1).lower()
            return Operator.NOT_CONTAINS if word.startswith("not") else Operator(word)
        if char in ")]":
            kind = "parentheses" if char == ")" else "brackets"
            raise self.error(f"unbalanced {kind}: unexpected {char!r}", at)
        raise self.error(
            f"expected an operator ({_OPERATORS_HELP}) after {left.text}, found {self.token()!r}",
            at,
        )

    # ---- operands -------------------------------------------------------------------

    def operand(self, *, right_side: bool) -> Operand:
        start = self.pos
        if self.at_placeholder():
            return self.placeholder()
        if right_side:
            if match := _FUNCTION.match(self.text, start):
                return self.function(match, right_side=True)
            written, value, _ = self.rest()
            if written.startswith("="):
                raise self.error("unexpected '=': the operator is already given", start)
            return Literal(written, value)
        if self.text[start] == '"':
            value, self.pos = self.quoted(start)
            return Literal(self.text[start : self.pos], value)
        if match := _FUNCTION.match(self.text, start):
            return self.function(match, right_side=False)
        stop = start
        while stop < self.end and self.text[stop] not in _LEFT_LITERAL_STOP:
            stop += 1
        if stop == start:
            raise self.error(
                f"missing value before {self.token()!r}: expected e.g. [STATUS] == 200", start
            )
        self.pos = stop
        value = self.text[start:stop]
        return Literal(value, value)

    def quoted(self, start: int) -> tuple[str, int]:
        """A double-quoted string at `start`: its value and the index after the closing quote."""
        out: list[str] = []
        at = start + 1
        while at < self.end:
            char = self.text[at]
            if char == "\\" and at + 1 < self.end:
                following = self.text[at + 1]
                out.append(_ESCAPES.get(following, following))
                at += 2
                continue
            if char == '"':
                return "".join(out), at + 1
            out.append(char)
            at += 1
        raise self.error(
            f"unterminated string: the quote at column {start + 1} is never closed", start
        )

    def rest(self) -> tuple[str, str, bool]:
        """The rest of the text as a value: (as written, value, whether it was quoted).

        Quotes count only around the whole rest, so `"a" or "b"` stays as written.
        """
        start = self.pos
        written = self.text[start:].rstrip()
        self.pos = start + len(written)
        if len(written) >= 2 and written[0] == '"' and written[-1] == '"':
            value = self.unquoted_whole(start, self.pos, written)
            return written, value, value is not written
        return written, written, False

    def regex(self) -> Regex:
        start = self.pos
        written, source, was_quoted = self.rest()
        offset = start + 1 if was_quoted else start
        try:
            compiled = re.compile(source)
        except re.error as exc:
            raise self.error(
                f"bad regular expression: {exc.msg}", offset + (exc.pos or 0)
            ) from None
        except _REGEX_FAILURES as exc:
            raise self.error(f"bad regular expression: {exc}", offset) from None
        return Regex(written, source, compiled)

    def placeholder(self) -> Placeholder:
        start = self.pos
        close = self.text.find("]", start + 1)
        if close < 0:
            raise self.error(self.never_closed("[", start), start)
        inside = self.text[start + 1 : close]
        written_name, colon, arg = inside.partition(":")
        name = written_name.upper()
        if name not in PLACEHOLDERS:
            raise self.error(_unknown_placeholder(inside, name), start)
        arg_at = start + 1 + len(written_name) + 1
        if name in WITH_ARGUMENT:
            arg = arg.strip()
            if not colon or not arg:
                example = "[HEADER:Content-Type]" if name == "HEADER" else "[DISK:/]"
                raise self.error(f"[{written_name}] needs an argument, e.g. {example}", arg_at)
            if name == "HEADER":
                if not _HEADER_NAME.fullmatch(arg):
                    raise self.error(f"invalid header name {arg!r}", arg_at)
                arg = arg.lower()
        elif colon:
            raise self.error(f"[{written_name}] takes no argument", arg_at - 1)
        self.pos = close + 1
        path: tuple[PathStep, ...] = ()
        if not self.at_end() and self.text[self.pos] in ".[":
            if name != "BODY":
                raise self.error(f"only [BODY] takes a JSON path, not [{written_name}]", self.pos)
            path = self.json_path()
        return Placeholder(self.text[start : self.pos], name, arg, path)

    def json_path(self) -> tuple[PathStep, ...]:
        """`.key`, `[0]` and `["key with spaces"]` steps, as many as follow."""
        steps: list[PathStep] = []
        while not self.at_end() and self.text[self.pos] in ".[":
            if self.text[self.pos] == ".":
                self.pos += 1
                key_at = self.pos
                while not self.at_end() and self.text[self.pos] not in _KEY_STOP:
                    self.pos += 1
                if self.pos == key_at:
                    raise self.error("bad JSON path: expected a key after '.'", key_at)
                steps.append(self.text[key_at : self.pos])
                continue
            open_at = self.pos
            self.pos += 1
            if not self.at_end() and self.text[self.pos] == '"':
                key, self.pos = self.quoted(self.pos)
                steps.append(key)
            elif match := _INDEX.match(self.text, self.pos):
                if len(match.group()) > 18:
                    raise self.error("bad JSON path: index too large", self.pos)
                steps.append(int(match.group()))
                self.pos = match.end()
            else:
                raise self.error(
                    'bad JSON path: expected an index like [0] or a key like ["a b"]', self.pos
                )
            if self.at_end():
                raise self.error(self.never_closed("[", open_at), open_at)
            if self.text[self.pos] != "]":
                raise self.error(
                    f"bad JSON path: expected ']' to close '[' at column {open_at + 1}", self.pos
                )
            self.pos += 1
        return tuple(steps)

    def function(self, match: re.Match[str], *, right_side: bool) -> Operand:
        start = match.start()
        name = match.group(1).lower()
        open_at = match.end() - 1
        if name in ("len", "has"):
            return self.wrapped(start, open_at, name)
        if name not in ("pat", "any"):
            raise self.error(
                f"unknown function {match.group(1)}(): known are len(), has(), pat(), any()"
                " (quote the value to compare with text)",
                start,
            )
        close = self.closing(open_at, right_side=right_side)
        self.pos = close + 1
        text = self.text[start : self.pos]
        if name == "pat":
            glob = self.text[open_at + 1 : close]
            if len(glob) >= 2 and glob.startswith('"') and glob.endswith('"'):
                glob = self.unquoted_whole(open_at + 1, close, glob)
            if not glob:
                raise self.error("pat() needs a pattern, e.g. pat(*ok*)", open_at + 1)
            try:
                compiled = re.compile(fnmatch.translate(glob))
            except _REGEX_FAILURES as exc:
                raise self.error(f"bad pattern: {exc}", open_at + 1) from None
            return Pattern(text, glob, compiled)
        return AnyOf(text, self.options(open_at + 1, close))

    def unquoted_whole(self, start: int, stop: int, raw: str) -> str:
        """The value of a string quoted from `start` to `stop`; `raw` if it is not one."""
        try:
            value, after = self.quoted(start)
        except ConditionSyntaxError:
            return raw
        return value if after == stop else raw

    def wrapped(self, start: int, open_at: int, name: str) -> Length | Has:
        self.pos = open_at + 1
        self.skip_space()
        if self.at_end():
            raise self.error(self.never_closed("(", open_at), open_at)
        if not self.at_placeholder():
            raise self.error(f"{name}() takes a placeholder, e.g. {name}([BODY].items)", self.pos)
        inner = self.placeholder()
        self.skip_space()
        if self.at_end():
            raise self.error(self.never_closed("(", open_at), open_at)
        if self.text[self.pos] != ")":
            if ")" not in self.text[self.pos :]:
                raise self.error(self.never_closed("(", open_at), open_at)
            raise self.error(
                f"{name}() takes one placeholder; unexpected {self.token()!r}", self.pos
            )
        self.pos += 1
        text = self.text[start : self.pos]
        return Length(text, inner) if name == "len" else Has(text, inner)

    def closing(self, open_at: int, *, right_side: bool) -> int:
        """Where the `(` at `open_at` closes.

        On the right side the call runs to the last `)` of the text, as in Gatus, so
        `pat(*:)*)` works; on the left, parentheses are counted.
        """
        if right_side:
            last = len(self.text.rstrip()) - 1
            if last > open_at and self.text[last] == ")":
                return last
        else:
            depth = 0
            for at in range(open_at, self.end):
                if self.text[at] == "(":
                    depth += 1
                elif self.text[at] == ")":
                    depth -= 1
                    if depth == 0:
                        return at
        raise self.error(self.never_closed("(", open_at), open_at)

    def options(self, start: int, stop: int) -> tuple[Literal, ...]:
        """The comma-separated values of any(), each bare or double-quoted."""
        options: list[Literal] = []
        at = start
        while True:
            while at < stop and self.text[at].isspace():
                at += 1
            option_at = at
            if at < stop and self.text[at] == '"':
                value, at = self.quoted(at)
                if at > stop:
                    raise self.error("unterminated string in any()", option_at)
                written = self.text[option_at:at]
                while at < stop and self.text[at].isspace():
                    at += 1
                if at < stop and self.text[at] != ",":
                    raise self.error(f"expected ',' in any(), found {self.text[at]!r}", at)
            else:
                comma = self.text.find(",", at, stop)
                piece_end = stop if comma < 0 else comma
                written = value = self.text[at:piece_end].rstrip()
                at = piece_end
                if not value:
                    raise self.error("empty value in any()", option_at)
            options.append(Literal(written, value))
            if at >= stop:
                return tuple(options)
            at += 1  # the comma


def _unknown_placeholder(inside: str, name: str) -> str:
    written = inside if len(inside) <= 40 else inside[:40] + "…"
    if name == "DOMAIN_EXPIRATION":
        return "[DOMAIN_EXPIRATION] is not supported (Upstate does no WHOIS lookups)"
    close = difflib.get_close_matches(name, PLACEHOLDERS, n=1)
    hint = f" (did you mean [{close[0]}]?)" if close else ""
    return f"unknown placeholder [{written}]{hint}"


# ---- the whole condition ------------------------------------------------------------


def _value_type(operand: Operand) -> ValueType | None:
    if isinstance(operand, Placeholder):
        return operand.type
    if isinstance(operand, Length):
        return ValueType.NUMBER
    if isinstance(operand, Has):
        return ValueType.BOOL
    return None


def _checked(scan: _Scanner, condition: Condition, left_at: int, right_at: int) -> Condition:
    """Refuse what can never work, and settle what each literal means beside its placeholder."""
    left, op, right = condition.left, condition.op, condition.right
    sides = ((left, left_at, _value_type(left)), (right, right_at, _value_type(right)))
    if all(value_type is None for _, _, value_type in sides):
        raise scan.error("a condition needs a placeholder such as [STATUS] or [BODY]", left_at)
    for side, at, value_type in sides:
        if isinstance(side, Pattern | AnyOf) and op not in EQUALITY:
            raise scan.error(f"{side.text.partition('(')[0]}() works only with == and !=", at)
        if value_type is ValueType.BOOL and op in ORDERING:
            raise scan.error(f"{side.text} is true or false; {op} needs numbers", at)
    (_, _, left_type), (_, _, right_type) = sides
    settle = _Settler(scan, op)
    if left_type is None and right_type is not None:
        left = settle.operand(left, left_at, right_type, right)
    if right_type is None and left_type is not None:
        right = settle.operand(right, right_at, left_type, left)
    return replace(condition, left=left, right=right)


class _Settler:
    """Gives each literal its number (durations in ms beside time placeholders), or refuses it."""

    def __init__(self, scan: _Scanner, op: Operator) -> None:
        self.scan = scan
        self.op = op

    def operand(self, operand: Operand, at: int, other: ValueType, beside: Operand) -> Operand:
        if isinstance(operand, Literal):
            return self.literal(operand, at, other, beside)
        if isinstance(operand, AnyOf):
            options = []
            cursor = at
            for option in operand.options:
                cursor = self.scan.text.find(option.text, cursor)
                options.append(self.literal(option, cursor, other, beside))
                cursor += len(option.text)
            return replace(operand, options=tuple(options))
        return operand

    def literal(self, literal: Literal, at: int, other: ValueType, beside: Operand) -> Literal:
        op, value = self.op, literal.value
        number = to_number(value)
        if number is not None:
            return replace(literal, number=number)
        if other is ValueType.BOOL and op in EQUALITY:
            if value.lower() not in ("true", "false"):
                raise self.scan.error(f"{beside.text} is true or false, not {value!r}", at)
            return replace(literal, value=value.lower())
        durations = other is ValueType.DURATION or (op in ORDERING and other is ValueType.TEXT)
        if durations and (ms := duration_ms(value)) is not None:
            return replace(literal, number=ms)
        if op in ORDERING:
            wanted = "a number" if other is ValueType.NUMBER else "a number or a duration like 48h"
            raise self.scan.error(f"{op} needs {wanted}, not {value!r}", at)
        if op in EQUALITY and other is ValueType.NUMBER:
            raise self.scan.error(f"{beside.text} is a number, not {value!r}", at)
        if op in EQUALITY and other is ValueType.DURATION:
            raise self.scan.error(
                f"{beside.text} is a time in ms: expected a number or a duration like 500ms,"
                f" not {value!r}",
                at,
            )
        return literal
