"""Composite monitors: one status from the statuses of other monitors.

A composite is not probed; the engine calls `composite_status` whenever one of its
children changes and feeds the answer to the evaluator. Two modes:

- **Worst of** (no `at_least`): DOWN if a child is down, else MAINTENANCE if a child is in
  maintenance, else DEGRADED if a child is degraded, else UP. Maintenance ranks above
  degraded because planned work explains whatever else looks slow, and below down because
  it explains nothing elsewhere: an unplanned outage of another child still shows.
- **At least N** (redundancy: "2 of 3 web servers"): UP while at least N children are up;
  the others may be down, as a composite of replicas is there to tolerate that (each
  child still shows and alerts on its own, and the reason names it). DEGRADED while N are
  up or degraded. Short of N: MAINTENANCE if the children in maintenance would make up
  the difference, else UNKNOWN if the children without a verdict could, else DOWN.

Children without a verdict — UNKNOWN (no result yet, or stale) and PAUSED (not watched) —
are left out: they neither hold a composite up nor bring it down. When every child is left
out, the composite is UNKNOWN. As with expiry in `status.py`, missing evidence never
starts an outage.

UP, DEGRADED and DOWN are verdicts for `next_status`; MAINTENANCE is for
`set_maintenance`, and UNKNOWN means there is nothing to judge yet.
"""

from __future__ import annotations

from collections.abc import Mapping

from upstate.domain.enums import Status

# How children are listed in a reason, worst first.
_LISTED = (
    (Status.DOWN, "down"),
    (Status.MAINTENANCE, "in maintenance"),
    (Status.DEGRADED, "degraded"),
    (Status.UNKNOWN, "unknown"),
    (Status.PAUSED, "paused"),
)


def composite_status(
    children: Mapping[str, Status], at_least: int | None = None
) -> tuple[Status, str]:
    """The composite's status and a reason that names its children.

    `children` maps each child's key to its visible status, in the composite's order.
    Reasons read "db down; 1 of 2 up, need 2" or "cache degraded". Raises ValueError for
    an `at_least` below 1.
    """
    if at_least is not None and at_least < 1:
        raise ValueError(f"at_least must be at least 1, not {at_least}")
    groups: dict[Status, list[str]] = {status: [] for status in Status}
    for key, status in children.items():
        groups[Status(status)].append(key)
    up, degraded = len(groups[Status.UP]), len(groups[Status.DEGRADED])
    down, maintenance = len(groups[Status.DOWN]), len(groups[Status.MAINTENANCE])
    silent = len(groups[Status.UNKNOWN]) + len(groups[Status.PAUSED])
    listed = "; ".join(
        f"{', '.join(groups[status])} {label}" for status, label in _LISTED if groups[status]
    )

    if at_least is None:
        if down:
            return Status.DOWN, listed
        if maintenance:
            return Status.MAINTENANCE, listed
        if degraded:
            return Status.DEGRADED, listed
        if up:
            summary = f"all {up} up" if not silent else f"{up} up"
            return Status.UP, f"{summary}; {listed}" if listed else summary
        return Status.UNKNOWN, listed or "no monitors"

    serving = up + degraded
    if up >= at_least:
        status = Status.UP
    elif serving >= at_least:
        status = Status.DEGRADED
    elif serving + maintenance >= at_least:
        status = Status.MAINTENANCE
    elif serving + maintenance + silent >= at_least:
        status = Status.UNKNOWN
    else:
        status = Status.DOWN
    counts = f"{up} of {len(children)} up"
    if degraded:
        counts += f", {degraded} degraded"
    counts += f", need {at_least}"
    return status, f"{listed}; {counts}" if listed else counts
