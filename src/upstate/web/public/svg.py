"""Server-drawn pictures of a status page: day bars, the response-time chart, the heatmap.

Everything here is rendered on the server so a page reads fully without JavaScript; the
page script (static/status.js) only adds richer tooltips and keyboard movement.

Why the markup is this terse: the page budget is 60 KB for 20 components of 90 days
(1,800 bars), about 30 bytes a bar. So:

- **Day bars are HTML, not SVG** (`<i>` in a flex row): no coordinates to write, they
  stretch to any width, and CSS hides the oldest 60 on a phone. A day with nothing to
  say (all up, no incident) is a bare `<i></i>`; its date follows from its position
  (the row carries the last day in `data-end`). Every other day carries its details in
  a `title` (a native tooltip without JavaScript, read by the script for its own).
- **The row is the focusable element** (one tab stop, not 90): its accessible label
  summarises the 90 days and names every day with downtime or incidents; with the
  script, arrow keys move across the days and a live region reads each one.
- **The chart** is one SVG polyline per series with integer coordinates.

Colour of a day, by its downtime: no data grey (`n`), none green (no class), up to an
hour amber (`a`), more red (`r`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta

from markupsafe import Markup, escape

from upstate.services.pages import ComponentView, DayView, ResponsePoint

Gettext = Callable[[str], str]

SMALL_DOWNTIME_S = 3600.0  # up to an hour down: amber; more: red
HEATMAP_DAYS = 30


def _months(_: Gettext) -> tuple[str, ...]:
    return (
        _("Jan"),
        _("Feb"),
        _("Mar"),
        _("Apr"),
        _("May"),
        _("Jun"),
        _("Jul"),
        _("Aug"),
        _("Sep"),
        _("Oct"),
        _("Nov"),
        _("Dec"),
    )


def format_day(day: date, _: Gettext) -> str:
    """'14 Mar 2026' (day month year reads right in English and French alike)."""
    return f"{day.day} {_months(_)[day.month - 1]} {day.year}"


def format_downtime(seconds: float, _: Gettext) -> str:
    """Whole minutes for people: '13 min', '2 h 5 min', '< 1 min'."""
    if seconds <= 0:
        return _("no downtime")
    minutes = round(seconds / 60)
    if minutes < 1:
        return _("< 1 min down")
    hours, minutes = divmod(minutes, 60)
    text = f"{hours} h {minutes} min" if hours else f"{minutes} min"
    return _("%(duration)s down") % {"duration": text}


def format_pct(value: float | None) -> str:
    """Two decimals, never rounding a little downtime up to 100%."""
    if value is None:
        return "-"
    if value >= 100:
        return "100%"
    return f"{min(value, 99.99):.2f}%"


def day_class(day: DayView) -> str:
    if day.uptime_pct is None and day.downtime_s <= 0:
        return "n"
    if day.downtime_s <= 0:
        return ""
    return "a" if day.downtime_s <= SMALL_DOWNTIME_S else "r"


def day_text(day: DayView, _: Gettext) -> str:
    """What a day's tooltip and screen-reader label say."""
    parts = [format_day(day.date, _)]
    if day.uptime_pct is None and day.downtime_s <= 0:
        parts.append(_("no data"))
    else:
        parts.append(_("%(pct)s uptime") % {"pct": format_pct(day.uptime_pct)})
        parts.append(format_downtime(day.downtime_s, _))
    parts.extend(incident.title for incident in day.incidents)
    return " · ".join(parts)


def _quiet(day: DayView) -> bool:
    """A day whose tooltip the script can write from its position and colour alone."""
    return day.downtime_s <= 0 and not day.incidents


def bars(component: ComponentView, _: Gettext) -> Markup:
    """The row of day bars of one component (oldest first), focusable as one widget."""
    days = component.days
    cells = []
    noted = []
    for day in days:
        css = day_class(day)
        attrs = f" class={css}" if css else ""
        if not _quiet(day):
            text = day_text(day, _)
            attrs += f' title="{escape(text)}"'
            noted.append(text)
        cells.append(f"<i{attrs}></i>")
    summary = _("%(name)s: %(pct)s uptime over the last %(days)d days") % {
        "name": component.name,
        "pct": format_pct(component.uptime_pct),
        "days": len(days),
    }
    if noted:
        summary += ". " + ". ".join(noted)
    end = days[-1].date.isoformat() if days else ""
    return Markup(  # noqa: S704 - every value inside went through escape()
        f'<div class="bars" tabindex="0" role="img" data-end="{end}" '
        f'aria-label="{escape(summary)}">{"".join(cells)}</div>'
    )


# --- response-time chart ---------------------------------------------------------------------

_W, _H = 400, 130  # viewBox; scales to the container's width
_LEFT, _BOTTOM, _TOP = 52, 20, 8


def _nice_ceiling(value: float) -> float:
    """The axis top: 1, 2 or 5 times a power of ten, at least `value`."""
    if value <= 0:
        return 100.0
    magnitude = 10.0 ** len(str(int(value)))
    for step in (0.1, 0.2, 0.5, 1.0):
        if value <= magnitude * step:
            return magnitude * step
    return magnitude


def _clock(at: datetime, span: timedelta, _: Gettext) -> str:
    if span <= timedelta(days=1):
        return at.strftime("%H:%M")
    return f"{at.day} {_months(_)[at.month - 1]}"


def response_chart(
    points: Sequence[ResponsePoint],
    since: datetime,
    until: datetime,
    title: str,
    _: Gettext,
) -> Markup:
    """A line chart of average response time (ms) over [since, until], with its axes."""
    span = until - since
    values = [p.avg_ms for p in points if p.avg_ms is not None]
    top = _nice_ceiling(max(values, default=0.0))
    plot_w, plot_h = _W - _LEFT - 4, _H - _BOTTOM - _TOP
    total = span.total_seconds() or 1.0

    def x(at: datetime) -> int:
        return round(_LEFT + plot_w * (at - since).total_seconds() / total)

    def y(ms: float) -> int:
        return round(_TOP + plot_h * (1 - min(ms, top) / top))

    lines: list[list[str]] = []
    current: list[str] = []
    for point in points:
        if point.avg_ms is None:  # a gap in the data breaks the line
            if current:
                lines.append(current)
            current = []
            continue
        current.append(f"{x(point.at)},{y(point.avg_ms)}")
    if current:
        lines.append(current)
    paths = "".join(
        f'<polyline points="{" ".join(line)}"/>'
        if len(line) > 1
        else f'<circle cx="{line[0].split(",")[0]}" cy="{line[0].split(",")[1]}" r="2"/>'
        for line in lines
    )
    grid = "".join(
        f'<line x1="{_LEFT}" x2="{_W - 4}" y1="{y(top * f)}" y2="{y(top * f)}"/>'
        f'<text x="{_LEFT - 6}" y="{y(top * f) + 4}" text-anchor="end">{round(top * f)} ms</text>'
        for f in (0, 0.5, 1)
    )
    ticks = "".join(
        f'<text x="{x(since + span * f)}" y="{_H - 4}" text-anchor="{anchor}">'
        f"{escape(_clock(since + span * f, span, _))}</text>"
        for f, anchor in ((0, "start"), (0.5, "middle"), (1, "end"))
    )
    if values:
        label = _("%(title)s: average %(avg)d ms, highest %(max)d ms") % {
            "title": title,
            "avg": round(sum(values) / len(values)),
            "max": round(max(values)),
        }
    else:
        label = _("%(title)s: no data") % {"title": title}
    return Markup(  # noqa: S704 - every value inside went through escape()
        f'<svg class="chart" viewBox="0 0 {_W} {_H}" role="img" aria-label="{escape(label)}">'
        f'<g class="grid">{grid}</g><g class="ax">{ticks}</g><g class="ln">{paths}</g></svg>'
    )


# --- heatmap -------------------------------------------------------------------------------


def heatmap(components: Sequence[ComponentView], _: Gettext) -> Markup:
    """Components by the last 30 days as a table of shaded cells (a table reads well to a
    screen reader: row = component, column = day), each cell with its day's details."""
    if not components:
        return Markup("")
    days = [d.date for d in components[0].days[-HEATMAP_DAYS:]]
    head = "".join(
        f'<th scope="col"><abbr title="{escape(format_day(d, _))}">{d.day}</abbr></th>'
        for d in days
    )
    rows = []
    for component in components:
        cells = []
        for day in component.days[-HEATMAP_DAYS:]:
            css = day_class(day) or "o"
            text = escape(day_text(day, _))
            cells.append(f'<td class="{css}" title="{text}"><span class="sr">{text}</span></td>')
        rows.append(f'<tr><th scope="row">{escape(component.name)}</th>{"".join(cells)}</tr>')
    caption = _("Daily downtime of every component over the last %(days)d days") % {
        "days": len(days)
    }
    return Markup(  # noqa: S704 - every value inside went through escape()
        f'<div class="heat-wrap" tabindex="0" role="region" aria-label="{escape(caption)}">'
        f'<table class="heat"><caption class="sr">{escape(caption)}</caption>'
        f"<thead><tr><td></td>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )
