"""Status pages: groups of components, each backed by monitors or set by hand."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Field

from upstate.config.fields import ConfigModel, Host, Key, Text


def _auto_incidents(value: Any) -> Any:
    """`auto_incidents: false` reads as off."""
    return "off" if value is False else value


class Component(ConfigModel):
    """Monitors empty: the status is set by hand (e.g. from an incident)."""

    what: ClassVar[str] = "components"
    name: Text
    description: str | None = None
    monitors: tuple[Key, ...] = ()


class Group(ConfigModel):
    what: ClassVar[str] = "groups"
    name: Text
    description: str | None = None
    components: tuple[Component, ...] = Field(min_length=1)


class StatusPage(ConfigModel):
    """Served at /s/<slug>, or at `domain` when one is set."""

    what: ClassVar[str] = "status pages"
    slug: Key
    title: Text
    domain: Host | None = None
    description: str | None = None
    groups: tuple[Group, ...] = ()
    components: tuple[Component, ...] = ()  # shown above the groups, ungrouped
    # off: incidents by hand only; draft: opened unpublished for review; publish: shown at once
    auto_incidents: Annotated[
        Literal["off", "draft", "publish"], BeforeValidator(_auto_incidents)
    ] = "off"

    def all_components(self) -> tuple[Component, ...]:
        return self.components + tuple(c for g in self.groups for c in g.components)
