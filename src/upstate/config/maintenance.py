"""Maintenance windows: recurring (cron `schedule` + `duration`) or one-off (`start`/`end`)."""

from __future__ import annotations

import zoneinfo
from datetime import datetime
from typing import ClassVar

from pydantic import Field, model_validator

from upstate.config.fields import ConfigModel, Cron, Duration, Key, Text, TimeZone


class Maintenance(ConfigModel):
    """Which form is given, and that it is whole, is checked by config.checks."""

    what: ClassVar[str] = "maintenance windows"
    title: Text
    description: str | None = None
    monitors: tuple[Key, ...] = Field(min_length=1)
    schedule: Cron | None = None
    duration: Duration | None = None
    start: datetime | None = None
    end: datetime | None = None
    timezone: TimeZone = "UTC"  # of the schedule, and of start/end written without an offset

    @model_validator(mode="after")
    def _aware(self) -> Maintenance:
        """Naive start/end are wall-clock times in `timezone`."""
        zone = zoneinfo.ZoneInfo(self.timezone)
        update = {
            name: value.replace(tzinfo=zone)
            for name, value in (("start", self.start), ("end", self.end))
            if value is not None and value.tzinfo is None
        }
        return self.model_copy(update=update) if update else self
