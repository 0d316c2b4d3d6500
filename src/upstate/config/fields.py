"""The value types of the config language, each with the message a person needs to fix it.

Every type here is an `Annotated` alias usable as a pydantic field type. Validators raise
ValueError with a message that never repeats a secret: only non-secret fields echo input.
"""

from __future__ import annotations

import ipaddress
import re
import zoneinfo
from functools import partial
from typing import Annotated, Any, ClassVar
from urllib.parse import urlsplit

from croniter import croniter
from pydantic import AfterValidator, BeforeValidator, ConfigDict, PlainSerializer
from pydantic import BaseModel as _PydanticModel

from upstate.domain.durations import format_duration, parse_duration

KEY_PATTERN = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62})")
_MAX_SECONDS = 36500 * 86400.0  # 100 years: beyond this, datetime arithmetic overflows
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|kib|mib|gib)?", re.IGNORECASE)
_SIZE_UNITS = {
    None: 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
}
_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


class ConfigModel(_PydanticModel):
    """Base of every config model: frozen, unknown keys refused, numbers accepted as text."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        coerce_numbers_to_str=True,
        allow_inf_nan=False,
        populate_by_name=False,
    )
    what: ClassVar[str] = "this section"  # how error messages name this mapping


def _no_bool(value: Any) -> Any:
    """YAML's `true` is not the number 1 here."""
    if isinstance(value, bool):
        raise ValueError("expected a number, got true/false")
    return value


def _duration(value: Any, minimum: float = 0.0, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or value is None:
        raise ValueError("expected a duration such as 30s, 5m or 2h")
    if isinstance(value, int | float):
        raise ValueError(f"durations need a unit: write {value}s or {value}ms, not {value}")
    if not isinstance(value, str):
        raise ValueError("expected a duration such as 30s, 5m or 2h")
    seconds = parse_duration(value)
    if seconds == 0 and allow_zero:
        return 0.0
    if seconds < minimum or seconds == 0:
        least = format_duration(minimum) if minimum else "more than 0"
        raise ValueError(f"must be at least {least}, got {value}")
    if seconds > _MAX_SECONDS:
        raise ValueError(f"{value} is too long (at most 36500d)")
    return seconds


def _duration_text(seconds: float) -> str:
    """Seconds as the language spells them (60.0 -> '1m'), so a JSON dump validates again."""
    if float(seconds).is_integer():
        return format_duration(seconds)
    return f"{seconds * 1000:.6f}".rstrip("0").rstrip(".") + "ms"


def _size(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("expected a size such as 512KB or 1MiB")
    if isinstance(value, int):
        size = value
    elif isinstance(value, str) and (match := _SIZE.fullmatch(value.strip())):
        unit = match.group(2).lower() if match.group(2) else None
        size = int(float(match.group(1)) * _SIZE_UNITS[unit])
    else:
        raise ValueError(f"invalid size {value!r}: expected bytes or e.g. 512KB, 1MiB, 2MB")
    if size < 1:
        raise ValueError("must be at least 1 byte")
    if size > 1024**3:
        raise ValueError("must be at most 1GiB")
    return size


def _key(value: str) -> str:
    if not KEY_PATTERN.fullmatch(value):
        raise ValueError(
            f"invalid key {value!r}: use lowercase letters, digits and '-' "
            "(at most 63, not starting with '-'), e.g. api-eu"
        )
    return value


def _url(value: str) -> str:
    """An http(s) URL. The URL itself is never echoed: it may carry credentials."""
    if any(ch.isspace() for ch in value):
        raise ValueError("invalid URL: it contains whitespace")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ValueError(f"invalid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        shown = f"'{parts.scheme}'" if parts.scheme.isalnum() else "missing"
        raise ValueError(f"invalid URL: the scheme must be http or https (scheme is {shown})")
    if not parts.hostname:
        raise ValueError("invalid URL: it has no host")
    return value


def check_host(value: str) -> str:
    """A DNS name or an IP address (IPv6 may be bracketed); not a URL, no port."""
    value = value.strip()
    if "://" in value:
        raise ValueError(f"expected a host name or address, not a URL: {value!r}")
    bare = value[1:-1] if value.startswith("[") and value.endswith("]") else value
    try:
        ipaddress.ip_address(bare)
    except ValueError:
        pass
    else:
        return bare
    if ":" in value:
        raise ValueError(f"expected a host name or address without a port: {value!r}")
    name = value[:-1] if value.endswith(".") else value
    if not name or len(name) > 253 or not all(_HOST_LABEL.fullmatch(p) for p in name.split(".")):
        raise ValueError(f"invalid host name {value!r}")
    return value


def _cron(value: str) -> str:
    fields = value.split()
    if not value.startswith("@") and len(fields) != 5:
        raise ValueError(
            f"invalid cron expression {value!r}: expected 5 fields "
            "(minute hour day-of-month month day-of-week), e.g. '0 3 * * *'"
        )
    if not croniter.is_valid(value):
        raise ValueError(f"invalid cron expression {value!r}")
    return value


def _timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):  # "Europe" is a folder
        raise ValueError(
            f"unknown time zone {value!r}: use an IANA name such as Europe/Dublin or UTC"
        ) from None
    return value


def _port(value: int) -> int:
    if not 1 <= value <= 65535:
        raise ValueError(f"ports are 1..65535, got {value}")
    return value


def _fraction(value: float) -> float:
    if not 0 < value <= 1:
        raise ValueError(
            f"quorum is the fraction of regions that must agree, in (0, 1], e.g. 0.5; got {value}"
        )
    return value


def _at_least_one(value: int) -> int:
    if value < 1:
        raise ValueError(f"must be at least 1, got {value}")
    return value


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None
    return value


def _header_name(value: str) -> str:
    if not _HEADER_NAME.fullmatch(value):
        raise ValueError(f"invalid HTTP header name {value!r}")
    return value


def _non_empty(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


# In JSON mode durations are dumped as text ("1m30s"): the stored form of a monitor
# (services/monitors.py) is its JSON dump, and it must read back through these validators.
_AS_TEXT = PlainSerializer(_duration_text, return_type=str, when_used="json")
Duration = Annotated[float, BeforeValidator(_duration), _AS_TEXT]
Interval = Annotated[float, BeforeValidator(partial(_duration, minimum=1.0)), _AS_TEXT]
OptionalDuration = Annotated[float, BeforeValidator(partial(_duration, allow_zero=True)), _AS_TEXT]
Size = Annotated[int, BeforeValidator(_size)]
Key = Annotated[str, AfterValidator(_key)]
Url = Annotated[str, AfterValidator(_url)]
Host = Annotated[str, AfterValidator(check_host)]
Cron = Annotated[str, AfterValidator(_cron)]
TimeZone = Annotated[str, AfterValidator(_timezone)]
HeaderName = Annotated[str, AfterValidator(_header_name)]
Text = Annotated[str, AfterValidator(_non_empty)]
Int = Annotated[int, BeforeValidator(_no_bool)]
Float = Annotated[float, BeforeValidator(_no_bool)]
Count = Annotated[int, BeforeValidator(_no_bool), AfterValidator(_at_least_one)]
Port = Annotated[int, BeforeValidator(_no_bool), AfterValidator(_port)]
Fraction = Annotated[float, BeforeValidator(_no_bool), AfterValidator(_fraction)]
Regex = Annotated[str, AfterValidator(_regex)]
