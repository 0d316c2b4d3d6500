"""Conditions: Gatus-compatible checks on what a probe saw, parsed once, judged purely.

A condition is `LEFT OPERATOR RIGHT`, e.g. `[STATUS] == 200`, `[BODY].data[0].id == 7`,
`[CERTIFICATE_EXPIRATION] > 7d`. Conditions written for Gatus work as they are.

Placeholders (names are case-insensitive)
    [STATUS]                  HTTP status code
    [RESPONSE_TIME]           the whole probe, ms (for icmp: the average round trip)
    [DNS_TIME] [CONNECT_TIME] [TLS_TIME] [TTFB]   one phase, ms
    [BODY]                    the body as UTF-8 text (bad bytes replaced), trimmed; the
                              answers joined by ", " for DNS; the banner for TCP
    [BODY].a.b[0] [BODY][0] [BODY]["key with spaces"]   a value inside a JSON body
                              (a negative index counts from the end)
    [HEADER:Name]             a response header, name case-insensitive
    [IP]                      the address connected to
    [CONNECTED]               true / false
    [CERTIFICATE_EXPIRATION]  time left until the certificate's not_after, ms (negative
                              once expired); shown as a duration, e.g. 29d23h
    [DNS_RCODE]               NOERROR, NXDOMAIN, SERVFAIL, ...
    [PACKET_LOSS]             ICMP loss, percent
    [CPU] [MEMORY] [DISK:/path]   host metrics, percent used, from the `metrics` mapping
                              given to evaluate() under the keys "cpu", "memory" and
                              "disk:/path" (see facts.metric_key)

Operators: == != < <= > >= contains, not contains, matches.
Functions: len(placeholder), has(placeholder), pat(glob), any(a, b, c).

API: parse_condition(text) and parse_value(text) (for `extract:`) run once at load and
raise ConditionSyntaxError(message, column). evaluate(conditions, observation, now,
metrics) gives one ConditionResult per condition; str(result) reads like Gatus,
`[STATUS] (503) == 200`. An Evaluator shares one decoded body between several sets.

Semantics
- Numbers compare as numbers when both sides are numbers, else as text. For < <= > >=
  any number in text counts; for == text counts as a number only when it is a whole
  number, so `[BODY].version == 1.10` stays a text comparison ("1.1" is not equal).
- Beside a time placeholder ([RESPONSE_TIME], the phases, [CERTIFICATE_EXPIRATION]),
  a literal may be a duration (500ms, 1s, 48h, 7d, 1h30m) or plain milliseconds, as in
  Gatus. Beside [BODY] or a header, a duration counts as milliseconds with < <= > >=
  only; beside [STATUS] and other plain numbers it is refused.
- true / false compare case-insensitively with booleans ([CONNECTED], has(), JSON).
- `contains`: substring of the text; for a JSON list, equal to one of its items; for a
  JSON object, one of its keys. `not contains` is its negation.
- `matches`: Python `re.search` on the text, so anchor with ^ and $ for a whole match;
  the regex is the rest of the line (or a double-quoted string) and never a placeholder.
- `pat(glob)`: the whole text matches the glob (`*`, `?`, `[abc]`), only with == and !=.
  `any(a, b)`: equal to one of the values, only with == and !=. Either side may hold them.
- len(): items of a JSON list or object, characters of text; len([BODY]) counts the
  top-level JSON list/object when the body is one. has(): the value is there (a JSON
  path exists; text is not empty).
- A value that is not there (no JSON body, no such key, no certificate, no status)
  fails every comparison, != included, and is shown as `missing`.
- On the right a literal runs to the end of the line; double quotes around all of it
  keep edge spaces or a leading `[`/`name(` as text ("[ok]"), with \\" and \\\\ escapes
  (quotes elsewhere are plain characters). On the left a literal is one word.
- A JSON key written after `.` stops at `. [ ] ( ) " , = ! < >` or a space; write other
  keys as `["a key"]`.
- Checked at load: unknown placeholders or functions, a missing operator, unbalanced
  brackets, parentheses or quotes, bad JSON paths and regexes, and literals that cannot
  match their placeholder ([STATUS] == OK, [CONNECTED] == yes, [RESPONSE_TIME] < fast).
"""

from __future__ import annotations

from upstate.domain.conditions.evaluate import Evaluator, Extracted, evaluate, extract_values
from upstate.domain.conditions.facts import metric_key
from upstate.domain.conditions.model import (
    PLACEHOLDERS,
    Condition,
    ConditionResult,
    ConditionSyntaxError,
    Expression,
    Operator,
)
from upstate.domain.conditions.parser import parse_condition, parse_value

__all__ = [
    "PLACEHOLDERS",
    "Condition",
    "ConditionResult",
    "ConditionSyntaxError",
    "Evaluator",
    "Expression",
    "Extracted",
    "Operator",
    "evaluate",
    "extract_values",
    "metric_key",
    "parse_condition",
    "parse_value",
]
