"""What the web layer may ask of the monitoring engine (scheduler/engine.py implements it).

The web layer never imports the scheduler: cli.py builds the engine and hands it to
create_app() as a MonitoringEngine. In one process that is the engine itself; a web
replica without checkers would get one that forwards through the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from upstate.services.checks import CheckResult
from upstate.store.pings import PingKind  # /ping/<token>[/start|/fail|/<exit status>]


@dataclass(frozen=True, slots=True)
class PingSignal:
    kind: PingKind
    at: datetime
    exit_status: int | None = None
    body: str | None = None  # at most 10 KB, cut by the caller
    remote_addr: str | None = None


__all__ = ["EngineHealth", "MonitoringEngine", "PingKind", "PingSignal"]


@dataclass(frozen=True, slots=True)
class EngineHealth:
    running: bool  # the scheduler loop is alive
    database_ok: bool  # the last write reached the database
    buffered_results: int  # results waiting to be written
    dropped_results: int  # results lost because the buffer was full (since start)
    last_error: str | None = None  # the last database error, for /readyz


class MonitoringEngine(Protocol):
    async def check_now(self, key: str) -> CheckResult:
        """Probe the monitor at once, outside its schedule; its result is recorded as usual.

        Raises upstate.errors.NotFound for an unknown key, UsageError for a kind that is
        not probed (push, host, composite).
        """
        ...

    async def ping(self, token: str, signal: PingSignal) -> bool:
        """A push monitor checked in; False when no monitor has this token."""
        ...

    def reload(self) -> None:
        """Monitors changed in the database (API edit, config sync): pick them up soon."""
        ...

    def health(self) -> EngineHealth: ...
