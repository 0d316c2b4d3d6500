"""A status page as a static copy: which files it has, its links made relative, and the
atomic swap that puts a new copy in place (`upstate export-static`).

The copy must outlive the service it describes, so it is a plain tree of files that any
static host or bucket serves: no server, no query strings. This module knows the shape
of that tree and how to write it; cli/export.py fetches every file through the real app
(services never import web), so each file is what the live page serves.

Decisions:

- **The tree** mirrors the page's routes as directories with an index.html:
  `index.html`, `rt/<window>/index.html` (the response-time tabs), `history/index.html`
  (this month) and `history/<YYYY-MM>/index.html` for every month from the first
  incident's to this one, `incidents/<id>/index.html`, `heatmap/index.html`,
  `api/v2/*.json` (the Statuspage endpoints), `api/status.json` (Upstate's page status),
  `badges/<monitor>/…` for every monitor of the page, `history.atom`, `history.rss` and
  `static/<version>/<name>`. On the page's own domain `/incidents/<id>` and
  `/api/v2/summary.json` keep answering.
- **Links**: only `href` and `src` attributes are rewritten, on tags found by the
  standard library's HTML parser (never inside scripts or comments), everything else
  stays byte for byte. A link to a file of the copy becomes relative to the document,
  so the copy works under any URL prefix; a same-site link to anything outside the
  copy loses its `href` (it could only 404). Fragments and links to other sites stay.
- **What cannot work statically**: forms (there is no server to post to) become a note;
  the live script loses `data-events`, so it polls the page itself instead of opening
  an event stream, and a copy re-exported with `--every` refreshes in open tabs.
- **The swap**: a copy is built in DIR/.tmp-<random> and its top-level entries are then
  moved into DIR: files with one rename each, directories exchanged atomically
  (Linux renameat2 RENAME_EXCHANGE; elsewhere two renames). No file is ever half
  written, DIR keeps its inode (bind mounts see the new copy), and entries in DIR that
  the copy does not produce (a CNAME, a .nojekyll) are never touched.
"""

from __future__ import annotations

import ctypes
import html
import logging
import os
import posixpath
import re
import secrets
import shutil
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from upstate.config.pages import StatusPage
from upstate.domain.incidents import Incident
from upstate.store import incidents as incident_store
from upstate.store.db import Db

logger = logging.getLogger(__name__)

# Every top-level name a copy may hold: only these are ever replaced or removed in DIR.
TOP_LEVEL = frozenset(
    {
        "index.html",
        "rt",
        "history",
        "incidents",
        "heatmap",
        "api",
        "badges",
        "static",
        "history.atom",
        "history.rss",
    }
)
SUBSCRIBE_NOTE = "Subscribing is unavailable while the status page is served from a static copy."
FORM_NOTE = "This form is unavailable while the status page is served from a static copy."
_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_STATIC = re.compile(r"/static/([A-Za-z0-9]{1,64})/([A-Za-z0-9][A-Za-z0-9._-]{0,127})")
_ORIGIN = "http://export.invalid"


class ExportError(Exception):
    """A copy could not be built; the previous one (if any) is still in place."""


def safe_segment(text: str) -> bool:
    """Whether `text` may be one path segment of the copy (no '..', no '/', no dotfile)."""
    return bool(_SEGMENT.fullmatch(text)) and ".." not in text


# --- what a page's copy holds ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExportPlan:
    """The data-dependent part of the tree: published incidents and the months to show."""

    incident_ids: tuple[str, ...]
    months: tuple[date, ...]  # oldest first, through this month


def month_range(first: date, last: date) -> tuple[date, ...]:
    """Every first-of-month from `first`'s month through `last`'s."""
    months = []
    index, end = first.year * 12 + first.month - 1, last.year * 12 + last.month - 1
    while index <= end:
        months.append(date(index // 12, index % 12 + 1, 1))
        index += 1
    return tuple(months)


async def export_plan(session: Db, page: StatusPage, now: datetime) -> ExportPlan:
    """The page's published incidents (all of them) and the months from the first one's
    to this one (history's previous/next links then stay inside the copy)."""
    found: list[Incident] = []
    while True:
        batch = await incident_store.list_incidents(
            session,
            page=page.slug,
            include_drafts=False,
            limit=incident_store.MAX_LIST,
            offset=len(found),
        )
        found.extend(batch)
        if len(batch) < incident_store.MAX_LIST:
            break
    this_month = now.astimezone(UTC).date().replace(day=1)
    starts = [i.started_at.astimezone(UTC).date().replace(day=1) for i in found]
    first = min((m for m in starts if m <= this_month), default=this_month)
    ids = tuple(i.id for i in found if safe_segment(i.id))
    return ExportPlan(ids, month_range(first, this_month))


@dataclass
class SiteMap:
    """Live URL (path and query) -> file of the copy, for one page.

    `html` holds the documents to fetch and rewrite, `files` those to copy as they are;
    `aliases` are other URLs of an already listed file (`?rt=24h` is the page itself)."""

    slug: str
    html: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)

    def local(self, target: str) -> str | None:
        """The file of the copy for a live path (with its query), or None."""
        for table in (self.html, self.files, self.aliases):
            if target in table:
                return table[target]
        static = _STATIC.fullmatch(target)
        if static and safe_segment(static[2]):
            return f"static/{static[1]}/{static[2]}"
        return None


def site_map(
    page: StatusPage,
    plan: ExportPlan,
    *,
    v2_endpoints: Iterable[str],
    rt_windows: Iterable[str],
    badge_paths: Iterable[str],
) -> SiteMap:
    """Every route of `page` in the copy. `v2_endpoints` are the Statuspage file names
    (incidents/unresolved.json…), `rt_windows` the response-time tabs (the first is the
    page's default), `badge_paths` the badge files of one monitor (status.svg,
    uptime/7d.svg…); the caller takes them from the web layer, which defines them."""
    base = f"/s/{page.slug}"
    site = SiteMap(page.slug)
    site.html[base] = "index.html"
    if page.show_response_times:
        windows = list(rt_windows)
        for index, window in enumerate(windows):
            if index == 0:
                site.aliases[f"{base}?rt={window}"] = "index.html"
            elif safe_segment(window):
                site.html[f"{base}?rt={window}"] = f"rt/{window}/index.html"
    site.html[f"{base}/history"] = "history/index.html"
    for month in plan.months:
        site.html[f"{base}/history?month={month:%Y-%m}"] = f"history/{month:%Y-%m}/index.html"
    for incident_id in plan.incident_ids:
        site.html[f"{base}/incidents/{incident_id}"] = f"incidents/{incident_id}/index.html"
    site.html[f"{base}/heatmap"] = "heatmap/index.html"
    for name in v2_endpoints:
        site.files[f"{base}/api/v2/{name}"] = f"api/v2/{name}"
    site.files[f"/api/v1/pages/{page.slug}/status"] = "api/status.json"
    site.files[f"{base}/history.atom"] = "history.atom"
    site.files[f"{base}/history.rss"] = "history.rss"
    monitors = sorted({key for c in page.all_components() for key in c.monitors})
    paths = list(badge_paths)
    for key in monitors:
        if not safe_segment(key):
            logger.warning("export skips a badge slug=%s reason=unsafe monitor key", page.slug)
            continue
        for path in paths:
            site.files[f"/badge/{key}/{path}"] = f"badges/{key}/{path}"
    return site


# --- rewriting the HTML ---------------------------------------------------------------------


class _Tags(HTMLParser):
    """Start tags with their offsets and raw text, and where each form ends."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.text = text
        self.lines = [0, *(m.end() for m in re.finditer("\n", text))]
        self.tags: list[tuple[int, str, str]] = []  # (offset, tag, raw start tag)
        self.form_ends: list[int] = []

    def _offset(self) -> int:
        line, column = self.getpos()
        return self.lines[line - 1] + column

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raw = self.get_starttag_text()
        offset = self._offset()
        if raw and self.text.startswith(raw, offset):
            self.tags.append((offset, tag, raw))

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            offset = self._offset()
            close = self.text.find(">", offset)
            if close != -1:
                self.form_ends.append(close + 1)


_TAG_NAME = re.compile(r"<[^\s/>]+")
_ATTR = re.compile(r"""(\s+)([^\s"'>/=]+)(?:(\s*=\s*)("[^"]*"|'[^']*'|[^\s"'=<>`]+))?""")


def _value(raw: str) -> str:
    if raw[:1] in "\"'":
        raw = raw[1:-1]
    return html.unescape(raw)


def _attribute(tag_text: str, name: str) -> str | None:
    head = _TAG_NAME.match(tag_text)
    for match in _ATTR.finditer(tag_text, head.end() if head else 0):
        if match[2].lower() == name and match[4] is not None:
            return _value(match[4])
    return None


@dataclass(frozen=True, slots=True)
class Document:
    """One HTML document of the copy: its live URL and its file."""

    here: str  # the live path and query, e.g. /s/main/history?month=2026-03
    local: str  # e.g. history/2026-03/index.html


def _target(here: str, link: str) -> tuple[str, str] | None:
    """The live path (with query) and fragment a same-site link points at; None for a
    fragment-only link, another site, or another scheme (data:, mailto:…)."""
    link = link.strip()
    if not link or link.startswith("#"):
        return None
    parts = urlsplit(link)
    if parts.scheme or parts.netloc:
        return None
    joined = urlsplit(urljoin(_ORIGIN + here, link))
    target = joined.path + (f"?{joined.query}" if joined.query else "")
    return target, joined.fragment


def relative(local: str, start: str) -> str:
    """The relative URL of file `local` from the document at `start` (both in the copy)."""
    return posixpath.relpath(local, posixpath.dirname(start) or ".")


def rewrite_html(
    text: str, doc: Document, resolve: Callable[[str], str | None], linked: set[str]
) -> str:
    """`text` with same-site href/src made relative to `doc` (or removed when outside the
    copy), forms replaced by a note and the live script's `data-events` removed. Every
    live path linked to is added to `linked` (the caller fetches what it lacks)."""
    parser = _Tags(text)
    parser.feed(text)
    parser.close()
    out: list[str] = []
    position = 0
    form_ends = iter(sorted(parser.form_ends))
    for offset, tag, raw in parser.tags:
        if offset < position:
            continue  # inside a form already replaced
        out.append(text[position:offset])
        position = offset + len(raw)
        if tag == "form":
            end = next((e for e in form_ends if e > offset), None)
            if end is not None:
                action = _attribute(raw, "action") or ""
                note = SUBSCRIBE_NOTE if action.rstrip("/").endswith("/subscribe") else FORM_NOTE
                out.append(f'<p class="meta">{html.escape(note)}</p>')
                position = end
                continue
        out.append(_rewrite_tag(raw, doc, resolve, linked))
    out.append(text[position:])
    return "".join(out)


def _rewrite_tag(
    raw: str, doc: Document, resolve: Callable[[str], str | None], linked: set[str]
) -> str:
    head = _TAG_NAME.match(raw)
    start = head.end() if head else 0

    def replace(match: re.Match[str]) -> str:
        name = match[2].lower()
        if name == "data-events":
            return ""
        if name not in ("href", "src") or match[4] is None:
            return match[0]
        found = _target(doc.here, _value(match[4]))
        if found is None:
            return match[0]
        target, fragment = found
        local = resolve(target)
        if local is None:
            return ""  # a same-site link outside the copy could only 404
        linked.add(target)
        url = relative(local, doc.local) + (f"#{fragment}" if fragment else "")
        return f'{match[1]}{match[2]}="{html.escape(url, quote=True)}"'

    return raw[:start] + _ATTR.sub(replace, raw[start:])


# --- writing the copy -----------------------------------------------------------------------


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux renameat2 RENAME_EXCHANGE); False if unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    result = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return int(result) == 0


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def write_copy(out: Path, files: Mapping[str, bytes], *, exchange: bool = True) -> None:
    """Write `files` (copy path -> bytes) as the copy in `out`, replacing the previous one.

    Built in out/.tmp-<random> first: when writing fails, that is removed and `out`
    is left as it was. `exchange=False` forces the two-rename fallback (tests)."""
    for name in files:
        parts = name.split("/")
        if not all(safe_segment(p) for p in parts) or parts[0] not in TOP_LEVEL:
            raise ExportError(f"refusing to write {name!r}: not a path of a page's copy")
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob(".tmp-*"):
        _remove(stale)  # a build a crash left behind
    for stale in out.glob(".old-*"):
        _remove(stale)
    built = out / f".tmp-{secrets.token_hex(6)}"
    built.mkdir()
    try:
        for name, body in sorted(files.items()):
            path = built / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(body)
    except OSError as exc:
        _remove(built)
        raise ExportError(f"cannot write the copy in {out}: {exc.strerror or exc}") from None
    _swap_in(out, built, exchange=exchange)


def _swap_in(out: Path, built: Path, *, exchange: bool) -> None:
    old = out / f".old-{secrets.token_hex(6)}"
    old.mkdir()
    names = {p.name for p in built.iterdir()}
    for name in sorted(names):
        new, current = built / name, out / name
        if new.is_dir() and current.is_dir() and not current.is_symlink():
            if exchange and _exchange(new, current):
                continue  # the previous tree is now at `new`, removed with `built`
            current.rename(old / name)
        elif (current.exists() or current.is_symlink()) and (
            new.is_dir() or (current.is_dir() and not current.is_symlink())
        ):
            current.rename(old / name)  # a file and a directory do not replace each other
        os.replace(new, current)
    for name in sorted(TOP_LEVEL - names):  # e.g. rt/ once response times are hidden
        current = out / name
        if current.exists() or current.is_symlink():
            current.rename(old / name)
    _remove(old)
    _remove(built)
