"""How `upstate check` talks to a person: a timing waterfall, the verdict, a table."""

from __future__ import annotations

from collections.abc import Sequence

from upstate.services.checks import CheckResult

_STATUS_COLOURS = {"up": "32", "degraded": "33", "down": "31"}
_PHASES = (
    ("dns", "DNS lookup"),
    ("connect", "TCP connect"),
    ("tls", "TLS handshake"),
    ("ttfb", "Server processing"),
    ("transfer", "Content transfer"),
)


class Painter:
    def __init__(self, colour: bool) -> None:
        self.colour = colour

    def __call__(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.colour else text

    def status(self, status: str) -> str:
        return self(status.upper(), _STATUS_COLOURS.get(status, "0"))


def _fmt_ms(value: float) -> str:
    return f"{value:.1f}ms" if value < 1000 else f"{value / 1000:.2f}s"


def waterfall(result: CheckResult) -> list[str]:
    """The phases side by side, each with its own time and the running total under it."""
    phases = result.observation.phases
    shown = [(label, getattr(phases, name)) for name, label in _PHASES]
    shown = [(label, value) for label, value in shown if value is not None]
    if not shown:
        return []
    widths = [max(len(label), 9) + 2 for label, _ in shown]
    head = " ".join(label.center(width) for (label, _), width in zip(shown, widths, strict=True))
    cells = "|".join(
        _fmt_ms(value).center(width) for (_, value), width in zip(shown, widths, strict=True)
    )
    running, marks = 0.0, []
    for (_, value), width in zip(shown, widths, strict=True):
        running += value
        marks.append(_fmt_ms(running).rjust(width))
    return [f"  {head}", f" [{cells}]", f"  {' '.join(marks)}"]


def render_one(result: CheckResult, paint: Painter) -> str:
    obs, verdict = result.observation, result.verdict
    lines = []
    headline = f"{obs.kind} {obs.target}"
    if obs.ip:
        headline += f"  ({obs.ip})"
    lines.append(paint(headline, "1"))
    facts = []
    if obs.status_code is not None:
        facts.append(f"HTTP {obs.status_code}")
    for hop in obs.redirects:
        facts.append(f"→ {hop}")
    if obs.body_truncated:
        facts.append("body truncated at max_body")
    if obs.dns is not None:
        facts.append(f"{obs.dns.rcode} {obs.dns.record} @{obs.dns.nameserver}")
        facts.extend(f"  {answer}" for answer in obs.dns.answers)
    if obs.icmp is not None:
        icmp = obs.icmp
        facts.append(f"{icmp.received}/{icmp.sent} replies, {icmp.packet_loss:g}% loss")
        if icmp.rtt_avg is not None:
            facts.append(
                f"rtt min/avg/max {icmp.rtt_min:.2f}/{icmp.rtt_avg:.2f}/{icmp.rtt_max:.2f} ms"
            )
    if obs.cert is not None:
        cert = obs.cert
        facts.append(
            f"certificate {cert.subject} by {cert.issuer}, expires {cert.not_after:%Y-%m-%d}"
        )
    if obs.statuspage is not None:
        page = obs.statuspage
        facts.append(f"{page.description} ({page.indicator})")
        facts.extend(f"  {c.name}: {c.status}" for c in page.components)
    lines.extend(f"  {fact}" for fact in facts)
    lines.extend(waterfall(result))
    lines.append(f"  total {_fmt_ms(obs.duration_ms)}")
    if obs.error is not None:
        reason = f" ({obs.error.reason})" if obs.error.reason else ""
        lines.append("  " + paint(f"error {obs.error.kind}{reason}: {obs.error.message}", "31"))
    for condition in verdict.conditions:
        mark = paint("✓", "32") if condition.ok else paint("✗", "31")
        lines.append(f"  {mark} {condition}")
    for condition in verdict.degraded:
        mark = paint("!", "33") if condition.ok else paint("·", "2")
        lines.append(f"  {mark} degraded when {condition}")
    for name, value in verdict.extracted.items():
        lines.append(f"  {name} = {value}")
    lines.append(f"  {paint.status(str(verdict.status))}  {verdict.reason}".rstrip())
    return "\n".join(lines)


def render_table(rows: Sequence[tuple[str, str, str, str, str, str]], paint: Painter) -> str:
    """Rows of (key, kind, status, time, code, detail); status is painted after padding."""
    header = ("KEY", "KIND", "STATUS", "TIME", "CODE", "DETAIL")
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(5)]
    out = []
    for index, row in enumerate((header, *rows)):
        cells = [row[i].ljust(widths[i]) for i in range(5)]
        if index:
            code = _STATUS_COLOURS.get(row[2], "0")
            cells[2] = paint(row[2].upper().ljust(widths[2]), code)
        out.append("  ".join([*cells, row[5]]).rstrip())
    return "\n".join(out)
