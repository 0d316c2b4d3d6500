"""Expected failures, each carrying its HTTP meaning.

UpstateError (500)
├── ConfigError (422)      a config file or value is invalid; carries every issue found
├── UsageError (400)       a command line or request asks for something malformed
├── NotFound (404)
├── Conflict (409)         e.g. editing a monitor that the config file owns
└── Unauthorized (401)
"""

from __future__ import annotations

from dataclasses import dataclass


class UpstateError(Exception):
    http_status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem in a config file, positioned for a person to find it."""

    file: str
    line: int | None  # 1-based
    column: int | None  # 1-based
    field: str  # dotted path, e.g. monitors[2].interval
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class ConfigError(UpstateError):
    http_status = 422

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(issue) for issue in issues))


class UsageError(UpstateError):
    http_status = 400


class NotFound(UpstateError):
    http_status = 404


class Conflict(UpstateError):
    http_status = 409


class Unauthorized(UpstateError):
    http_status = 401
