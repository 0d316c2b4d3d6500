"""Status pages: groups of components, each backed by monitors or set by hand."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BeforeValidator, Field, SecretStr

from upstate.config.fields import ConfigModel, Host, Key, Text, Url

_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
LANGUAGES = ("en", "fr")  # the gettext catalogs shipped (web/locale/)


def _colour(value: str) -> str:
    if not _COLOUR.fullmatch(value):
        raise ValueError(f"invalid colour {value!r}: expected #rrggbb, e.g. #2563eb")
    return value.lower()


def _language(value: str) -> str:
    if value not in LANGUAGES:
        raise ValueError(f"unknown language {value!r}: expected one of {', '.join(LANGUAGES)}")
    return value


Colour = Annotated[str, AfterValidator(_colour)]
Language = Annotated[str, AfterValidator(_language)]


def _auto_incidents(value: Any) -> Any:
    """`auto_incidents: false` reads as off."""
    return "off" if value is False else value


class Component(ConfigModel):
    """Monitors empty: the status is set by hand (e.g. from an incident)."""

    what: ClassVar[str] = "components"
    name: Text
    key: Key | None = None  # its code within the page; else made from the name
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
    # Look: the page's own title, logo and accent colour; light, dark or the visitor's.
    logo: Url | None = None
    accent: Colour = "#2563eb"
    theme: Literal["light", "dark", "auto"] = "auto"
    # None: the visitor's Accept-Language among the catalogs shipped, else English.
    language: Language | None = None
    # Who may read it: everyone; whoever knows `password`; or signed-in users only
    # (the API token). Private pages have no badges, feeds or Statuspage JSON for others.
    access: Literal["public", "password", "signed_in"] = "public"
    password: SecretStr | None = None
    show_response_times: bool = True

    def all_components(self) -> tuple[Component, ...]:
        return self.components + tuple(c for g in self.groups for c in g.components)

    def placed_components(self) -> tuple[PlacedComponent, ...]:
        """Every component with its code and group, in page order (ungrouped first).

        A code is `<slug>.<key>`, the key being the component's `key` or else made from
        its name ("API Gateway" -> "api-gateway", a second one "api-gateway-2"): unique
        across every page, stable while the name stays, and the `id` the Statuspage API
        shows. Incidents name components by code.
        """
        seen: set[str] = set()
        placed = []
        entries = [(None, c) for c in self.components] + [
            (g.name, c) for g in self.groups for c in g.components
        ]
        for group, component in entries:
            local = component.key or slugify(component.name)
            candidate, n = local, 1
            while candidate in seen:
                n += 1
                candidate = f"{local}-{n}"
            seen.add(candidate)
            placed.append(PlacedComponent(f"{self.slug}.{candidate}", group, component))
        return tuple(placed)


@dataclass(frozen=True, slots=True)
class PlacedComponent:
    code: str  # "<page slug>.<component key>"
    group: str | None  # the group's name, None above the groups
    component: Component


def slugify(text: str) -> str:
    """Lowercase ASCII letters, digits and '-', for codes made from names."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:63].rstrip("-") or "component"
