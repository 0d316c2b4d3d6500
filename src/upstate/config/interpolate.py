"""`${VAR}` and `${VAR:-default}` in config values, read from an environment mapping.

The grammar is deliberately small, so a reader of a config file can predict the result:

- `${NAME}`            the variable's value; an unset variable is an error, never "".
- `${NAME:-default}`   the default when NAME is unset or empty; the default is literal text
                       up to the first `}` (no nesting).
- `$$`                 a literal `$`.
- `$NAME` (bare)       an error: it is almost always a shell habit that would otherwise pass
                       through silently as text. Any other `$` (`$5`, `^a$`, `$.x`) is literal.

Errors carry the offset of the offending `$` so the loader can point at the exact column.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class InterpolationError(ValueError):
    """A `${…}` that cannot be resolved; `offset` is the 0-based index of its `$`."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """`text` with every `${…}` replaced from `env` and `$$` unescaped."""
    if "$" not in text:
        return text
    out: list[str] = []
    i = 0
    while i < len(text):
        dollar = text.find("$", i)
        if dollar < 0:
            out.append(text[i:])
            break
        out.append(text[i:dollar])
        after = text[dollar + 1 : dollar + 2]
        if after == "$":
            out.append("$")
            i = dollar + 2
        elif after == "{":
            value, i = _expand(text, dollar, env)
            out.append(value)
        elif _NAME.match(text, dollar + 1):
            name = _NAME.match(text, dollar + 1)
            assert name is not None
            raise InterpolationError(
                f"bare ${name.group()} is not interpolated: write ${{{name.group()}}}, "
                "or $$ for a literal $",
                dollar,
            )
        else:
            out.append("$")
            i = dollar + 1
    return "".join(out)


def _expand(text: str, dollar: int, env: Mapping[str, str]) -> tuple[str, int]:
    """Resolve the `${…}` starting at `dollar`; return its value and the index after `}`."""
    close = text.find("}", dollar + 2)
    if close < 0:
        raise InterpolationError("unterminated ${: add the closing }, or write $$ for a $", dollar)
    body = text[dollar + 2 : close]
    name, sep, default = body.partition(":-")
    if not _NAME.fullmatch(name):
        raise InterpolationError(
            f"invalid variable reference ${{{body}}}: expected ${{NAME}} or ${{NAME:-default}}",
            dollar,
        )
    value = env.get(name)
    if sep:
        return (value if value else default), close + 1
    if value is None:
        raise InterpolationError(
            f"environment variable {name} is not set (give a default with ${{{name}:-…}})",
            dollar,
        )
    return value, close + 1


def escape(text: str) -> str:
    """The config spelling of a literal string: interpolate(escape(s), env) == s."""
    return text.replace("$", "$$")
