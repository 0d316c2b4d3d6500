"""Monitor models: what every monitor has, and what each kind adds.

Each kind is its own model with `extra="forbid"`, so a field of another kind (`url` on a
tcp monitor) is an error naming the kind. The loader picks the model from `kind` itself
(MONITOR_MODELS) instead of a pydantic union, which keeps error locations free of tags.
Conditions are parsed here, once, when the file is loaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainSerializer,
    PlainValidator,
    SecretStr,
    model_validator,
)

from upstate.config.fields import (
    ConfigModel,
    Count,
    Cron,
    Duration,
    Fraction,
    Int,
    Interval,
    Key,
    OptionalDuration,
    Text,
    TimeZone,
    Url,
)
from upstate.domain.check import CheckDefinition
from upstate.domain.conditions import Condition, Expression, parse_condition, parse_value
from upstate.domain.enums import MonitorKind
from upstate.domain.specs import DEFAULT_TIMEOUT_S, ProbeSpec
from upstate.errors import UsageError


def _condition(value: Any) -> Condition:
    if not isinstance(value, str):
        raise ValueError('expected a condition as text, e.g. "[STATUS] == 200"')
    return parse_condition(value)


def _value(value: Any) -> Expression:
    if not isinstance(value, str):
        raise ValueError('expected a value as text, e.g. "[BODY].build"')
    return parse_value(value)


def _listed(value: Any) -> Any:
    """A single condition written without brackets is still a list of one."""
    return [value] if isinstance(value, str) else value


def _token(value: SecretStr) -> SecretStr:
    if len(value.get_secret_value()) < 16:
        raise ValueError("a ping token needs at least 16 characters, so it cannot be guessed")
    return value


ConditionField = Annotated[Condition, PlainValidator(_condition), PlainSerializer(str)]
ValueField = Annotated[Expression, PlainValidator(_value), PlainSerializer(lambda v: v.text)]
Conditions = Annotated[tuple[ConditionField, ...], BeforeValidator(_listed)]
PingToken = Annotated[SecretStr, AfterValidator(_token)]
ExtractName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class MonitorBase(ConfigModel):
    """Fields every kind shares: identity, presentation and flap damping."""

    what: ClassVar[str] = "monitors"
    kind: MonitorKind
    key: Key
    name: Text
    description: str | None = None
    paused: bool = False
    critical: bool = False  # its outage makes the overall status `down`
    tags: tuple[Text, ...] = ()
    depends_on: tuple[Key, ...] = ()  # while one of these is down, alerts are suppressed
    unit: str | None = None  # the systemd unit the board shows beside it
    role: Text | None = None  # what it is to the operator, shown on the board
    is_self: bool = Field(default=False, alias="self")  # Upstate itself: trivially up
    extra_url: Url | None = None  # best-effort extra card on the board
    flap_changes: Count = 5  # this many status changes within flap_window is flapping
    flap_window: Duration = 1800.0

    @model_validator(mode="before")
    @classmethod
    def _name_defaults_to_key(cls, data: Any) -> Any:
        name = cls.model_fields["name"].alias or "name"
        if isinstance(data, Mapping) and name not in data:
            key = data.get("key")
            # Without a key, that error is reported; a second one about name would be noise.
            return {**data, name: key if isinstance(key, str) and key else "?"}
        return data

    def probe_spec(self) -> ProbeSpec | None:
        """What a probe is asked to do; None for kinds that are not probed (push, host…)."""
        return None

    def check_definition(self) -> CheckDefinition:
        raise UsageError(f"{self.kind} monitors are not probed, so they have no check")


class Scheduled(MonitorBase):
    """Monitors judged every `interval`, with consecutive-round thresholds against flapping."""

    interval: Interval = 60.0
    failure_threshold: Count = 2  # consecutive failed rounds before `down`
    success_threshold: Count = 1  # consecutive good rounds before `up` again
    conditions: Conditions = ()  # all must hold, else `down`
    degraded_when: Conditions = ()  # any holds (and conditions pass): `degraded`


class Probed(Scheduled):
    """Monitors run by a probe, from one or more regions."""

    timeout: Duration = DEFAULT_TIMEOUT_S
    regions: tuple[Key, ...] = ("local",)
    quorum: Fraction = 0.5  # down when at least this fraction of fresh regions say down
    extract: dict[ExtractName, ValueField] = Field(default_factory=dict)

    def probe_spec(self) -> ProbeSpec:
        raise NotImplementedError

    def check_definition(self) -> CheckDefinition:
        return CheckDefinition(
            key=self.key,
            name=self.name,
            spec=self.probe_spec(),
            conditions=self.conditions,
            degraded_when=self.degraded_when,
            extract=tuple(self.extract.items()),
        )


class PushMonitor(MonitorBase):
    """A heartbeat: the job calls /ping/<token>; silence beyond period (or schedule) + grace."""

    what: ClassVar[str] = "push monitors"
    kind: Literal[MonitorKind.PUSH] = MonitorKind.PUSH
    period: Interval | None = None  # expected at least this often; or a cron `schedule`
    schedule: Cron | None = None
    timezone: TimeZone | None = None  # of the schedule; UTC when not given
    grace: OptionalDuration  # how late a ping may be before the monitor is down
    token: PingToken | None = None  # the /ping/<token> secret; generated when absent


class HostMonitor(Scheduled):
    """Metrics pushed by `upstate agent <agent>`, judged by conditions like `[CPU] < 90`."""

    what: ClassVar[str] = "host monitors"
    kind: Literal[MonitorKind.HOST] = MonitorKind.HOST
    agent: Key
    units: tuple[Text, ...] = ()  # systemd units watched on that host


class CompositeMonitor(MonitorBase):
    """The worst of other monitors, or up while at least `at_least` of them are up."""

    what: ClassVar[str] = "composite monitors"
    kind: Literal[MonitorKind.COMPOSITE] = MonitorKind.COMPOSITE
    monitors: tuple[Key, ...] = Field(min_length=1)
    at_least: Int | None = None
