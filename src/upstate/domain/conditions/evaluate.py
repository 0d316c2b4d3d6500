"""Judging parsed conditions against one observation: pure, cheap, never raising.

A value that is not there (no body JSON, no such key, no certificate) fails every
comparison, `!=` and `not contains` included, and is shown as `missing`.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from upstate.domain.conditions.facts import Facts
from upstate.domain.conditions.model import (
    MEMO_SIZE,
    AnyOf,
    Condition,
    ConditionResult,
    Expression,
    Has,
    Length,
    Literal,
    Operand,
    Operator,
    Pattern,
    Placeholder,
    Regex,
)
from upstate.domain.conditions.values import MISSING, as_text, number_of, shown, to_number
from upstate.domain.observation import Observation

Extracted = str | int | float | bool | None


def evaluate(
    conditions: Sequence[Condition],
    observation: Observation,
    now: datetime,
    metrics: Mapping[str, float] | None = None,
) -> tuple[ConditionResult, ...]:
    """Each condition's result, in order. `metrics` feeds [CPU], [MEMORY] and [DISK:/path]."""
    return Evaluator(observation, now, metrics).evaluate(conditions)


def extract_values(
    exprs: Mapping[str, Expression],
    observation: Observation,
    now: datetime,
    metrics: Mapping[str, float] | None = None,
) -> dict[str, Extracted]:
    """The named values to record with a check (e.g. build: "1.2.3"); None where missing."""
    return Evaluator(observation, now, metrics).extract(exprs)


class Evaluator:
    """Judges any number of conditions and values against one observation.

    The body is decoded and parsed at most once however many conditions read it, so
    a caller with several sets (conditions, degraded_when, extract) should share one.
    """

    __slots__ = ("_facts",)

    def __init__(
        self, observation: Observation, now: datetime, metrics: Mapping[str, float] | None = None
    ) -> None:
        self._facts = Facts(observation, now, metrics)

    def evaluate(self, conditions: Sequence[Condition]) -> tuple[ConditionResult, ...]:
        facts = self._facts
        return tuple([_judge(condition, facts) for condition in conditions])

    def extract(self, exprs: Mapping[str, Expression]) -> dict[str, Extracted]:
        facts = self._facts
        return {name: _plain(expression, facts) for name, expression in exprs.items()}


def _plain(expression: Expression, facts: Facts) -> Extracted:
    value = facts.value(expression)
    if value is MISSING:
        return None
    if isinstance(value, float) and isinstance(expression, Placeholder) and not expression.path:
        return round(value, 3)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return as_text(value)


_VALUES = (Placeholder, Length, Has)
_FUNCTIONS = (Pattern, AnyOf)


def _side(operand: Operand, facts: Facts) -> tuple[object, str]:
    """(value, text) of one side; functions such as pat() have no value of their own."""
    if type(operand) is Placeholder:
        value = facts.resolve(operand)
        return value, facts.text(operand, value)
    if type(operand) is Literal:
        return operand.value, operand.value
    if isinstance(operand, Length | Has):
        value = facts.value(operand)
        return value, facts.expression_text(operand, value)
    return None, operand.text


def _judge(condition: Condition, facts: Facts) -> ConditionResult:
    key = condition.key
    if key is None:
        return _judged(condition, facts)
    value = facts.resolve(key)
    memo = condition.memo
    result = memo.get(value)
    if result is None:
        result = _judged(condition, facts)
        if len(memo) < MEMO_SIZE:
            memo[value] = result
    return result


def _judged(condition: Condition, facts: Facts) -> ConditionResult:
    left, right = condition.left, condition.right
    left_value, left_text = _side(left, facts)
    right_value, right_text = _side(right, facts)
    if left_value is MISSING or right_value is MISSING:
        ok = False
    else:
        ok = _OPERATIONS[condition.op](left, left_value, left_text, right, right_value, right_text)
    seen: str | None = None
    left_shown, right_shown = left.text, right.text
    if isinstance(left, _VALUES):
        seen = shown(left_text)
        left_shown = f"{left.text} ({seen})"
    if isinstance(right, _VALUES):
        right_seen = shown(right_text)
        seen = right_seen if seen is None else seen
        right_shown = f"{right.text} ({right_seen})"
    display = f"{left_shown} {condition.op} {right_shown}"
    return ConditionResult(condition.text, seen or "", ok, display)


def _eq(
    left: Operand, left_value: object, left_text: str,
    right: Operand, right_value: object, right_text: str,
) -> bool:  # fmt: skip
    if isinstance(right, _FUNCTIONS):
        return _matches(right, left, left_value, left_text)
    if isinstance(left, _FUNCTIONS):
        return _matches(left, right, right_value, right_text)
    return _equal(
        left_value, left_text, _eq_number(left, left_value),
        right_value, right_text, _eq_number(right, right_value),
    )  # fmt: skip


def _ne(
    left: Operand, left_value: object, left_text: str,
    right: Operand, right_value: object, right_text: str,
) -> bool:  # fmt: skip
    return not _eq(left, left_value, left_text, right, right_value, right_text)


def _contains_op(
    left: Operand, left_value: object, left_text: str,
    right: Operand, right_value: object, right_text: str,
) -> bool:  # fmt: skip
    return _contains(left_value, left_text, right, right_value, right_text)


def _not_contains(
    left: Operand, left_value: object, left_text: str,
    right: Operand, right_value: object, right_text: str,
) -> bool:  # fmt: skip
    return not _contains(left_value, left_text, right, right_value, right_text)


def _matches_op(
    left: Operand, left_value: object, left_text: str,
    right: Operand, right_value: object, right_text: str,
) -> bool:  # fmt: skip
    return type(right) is Regex and right.regex.search(left_text) is not None


def _ordering(
    compare: Callable[[int | float, int | float], bool],
) -> Callable[[Operand, object, str, Operand, object, str], bool]:
    def operation(
        left: Operand, left_value: object, left_text: str,
        right: Operand, right_value: object, right_text: str,
    ) -> bool:  # fmt: skip
        left_number, right_number = _number(left, left_value), _number(right, right_value)
        if left_number is None or right_number is None:
            return False
        return compare(left_number, right_number)

    return operation


_OPERATIONS: dict[Operator, Callable[[Operand, object, str, Operand, object, str], bool]] = {
    Operator.EQ: _eq,
    Operator.NE: _ne,
    Operator.LT: _ordering(operator.lt),
    Operator.LE: _ordering(operator.le),
    Operator.GT: _ordering(operator.gt),
    Operator.GE: _ordering(operator.ge),
    Operator.CONTAINS: _contains_op,
    Operator.NOT_CONTAINS: _not_contains,
    Operator.MATCHES: _matches_op,
}


def _number(operand: Operand, value: object) -> int | float | None:
    """A side as a number for <, <=, >, >=: any number written in text counts."""
    if type(operand) is Literal:
        return operand.number
    return number_of(value)


def _eq_number(operand: Operand, value: object) -> int | float | None:
    """A side as a number for ==: text counts only when it is a whole number.

    So `[BODY].version == 1.10` compares text with text and "1.1" stays unequal, while
    `[STATUS] == 200`, a JSON 200 or "200" all compare as numbers.
    """
    if type(operand) is Literal:
        return operand.number
    return _whole_or_number(value)


def _whole_or_number(value: object) -> int | float | None:
    if isinstance(value, str):
        number = to_number(value)
        return number if isinstance(number, int) else None
    return number_of(value)


def _equal(
    left: object, left_text: str, left_number: int | float | None,
    right: object, right_text: str, right_number: int | float | None,
) -> bool:  # fmt: skip
    if left_number is not None and right_number is not None:
        return left_number == right_number
    if isinstance(left, bool) or isinstance(right, bool):
        return left_text.lower() == right_text.lower()
    return left_text == right_text


def _matches(function: Pattern | AnyOf, operand: Operand, value: object, text: str) -> bool:
    if isinstance(function, Pattern):
        return function.regex.match(text) is not None
    number = _eq_number(operand, value)
    return any(
        _equal(value, text, number, option.value, option.value, option.number)
        for option in function.options
    )


def _contains(
    left: object, left_text: str, right: Operand, right_value: object, right_text: str
) -> bool:
    """Substring of text; element of a JSON list; key of a JSON object."""
    if isinstance(left, list):
        right_number = _eq_number(right, right_value)
        return any(
            _equal(
                item, as_text(item), _whole_or_number(item), right_value, right_text, right_number
            )
            for item in left
        )
    if isinstance(left, dict):
        return right_text in left
    return right_text in left_text
