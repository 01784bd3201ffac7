"""The contract's deadlines for a problem, and whether each was met.

Each level (``hisops.severity``) gives up to three limits: respond, solution (a fix or a
workaround), resolve. They run from when the problem was found, or from its last escalation.
Hour limits are wall-clock; working-day limits use the service calendar (``workcalendar``).
A deadline is ``met`` or ``missed`` once done (acknowledged, solution noted, resolved), else
``due`` or ``overdue`` against now; ``superseded`` when an escalation restarted the clocks
before it fell due, ``none`` when the level has no such limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hisops.problems.model import Clock, ProblemState
from hisops.problems.workcalendar import WorkCalendar
from hisops.severity import LIMIT_NAMES, Limit, level

MET, MISSED, DUE, OVERDUE, SUPERSEDED, NONE = (
    "met", "missed", "due", "overdue", "superseded", "none")


@dataclass(frozen=True)
class Deadline:
    name: str  # respond | solution | resolve
    severity: int
    limit: Limit | None
    due: datetime | None
    done_at: datetime | None
    state: str  # met missed due overdue superseded none
    margin: timedelta | None  # met: early by; missed: late by; due: left; overdue: past by

    @property
    def counts(self) -> bool:
        """Whether it counts towards SLA compliance (met or missed, overdue included)."""
        return self.state in (MET, MISSED, OVERDUE)

    @property
    def kept(self) -> bool:
        return self.state == MET

    def describe(self, calendar: WorkCalendar | None = None) -> str:
        when = _short(self.due, calendar) if self.due else ""
        if self.state == NONE:
            return f"{self.name}: no limit"
        if self.state == MET:
            assert self.done_at is not None  # noqa: S101 - met implies done
            return f"{self.name} by {when}: met {_short(self.done_at, calendar)}"
        if self.state == MISSED:
            return f"{self.name} by {when}: missed by {human(self.margin)}"
        if self.state == OVERDUE:
            return f"{self.name} by {when}: overdue by {human(self.margin)}"
        if self.state == SUPERSEDED:
            return f"{self.name} by {when}: superseded by an escalation"
        return f"{self.name} by {when}: due in {human(self.margin)}"

    def brief(self, calendar: WorkCalendar | None = None) -> str:
        """For a table column: ``respond 11-26 20:30 overdue 1h 05m``."""
        when = f"{(calendar.local(self.due) if calendar else self.due):%m-%d %H:%M}" \
            if self.due else "-"
        words = {MET: "met", MISSED: f"missed by {human(self.margin)}",
                 OVERDUE: f"overdue {human(self.margin)}", DUE: f"due in {human(self.margin)}",
                 SUPERSEDED: "superseded", NONE: "no limit"}[self.state]
        return f"{self.name} {when} {words}"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "severity": self.severity,
                "limit": self.limit.text() if self.limit else None,
                "due": _iso(self.due), "done_at": _iso(self.done_at), "state": self.state,
                "margin_s": int(self.margin.total_seconds()) if self.margin is not None
                else None}


def due_at(start: datetime, limit: Limit, calendar: WorkCalendar) -> datetime:
    if limit.wall is not None:
        return start.astimezone(UTC) + limit.wall
    return calendar.add_working_days(start, limit.working_days)


def clock_deadlines(clock: Clock, calendar: WorkCalendar, now: datetime) -> list[Deadline]:
    lvl = level(clock.severity, clock.scale)
    out = []
    for name in LIMIT_NAMES:
        limit = lvl.limit(name)
        done = clock.done_at(name)
        if limit is None:
            out.append(Deadline(name, clock.severity, None, None, done, NONE, None))
            continue
        due = due_at(clock.started_at, limit, calendar)
        margin: timedelta | None
        if done is not None:
            state, margin = (MET, due - done) if done <= due else (MISSED, done - due)
        elif clock.ended_at is not None:
            state, margin = (MISSED, clock.ended_at - due) if due < clock.ended_at else (
                SUPERSEDED, None)
        elif now > due:
            state, margin = OVERDUE, now - due
        else:
            state, margin = DUE, due - now
        out.append(Deadline(name, clock.severity, limit, due, done, state, margin))
    return out


def deadlines(problem: ProblemState, calendar: WorkCalendar,
              now: datetime | None = None) -> list[Deadline]:
    """The deadlines of the problem's current level."""
    return clock_deadlines(problem.clock, calendar, now or datetime.now(UTC))


def all_deadlines(problem: ProblemState, calendar: WorkCalendar,
                  now: datetime | None = None) -> list[Deadline]:
    """Every level's deadlines, earlier levels' (before escalations) first."""
    now = now or datetime.now(UTC)
    return [d for clock in problem.clocks for d in clock_deadlines(clock, calendar, now)]


def next_deadline(problem: ProblemState, calendar: WorkCalendar,
                  now: datetime | None = None) -> Deadline | None:
    """The first deadline of the current level not yet done (None once resolved)."""
    if not problem.unresolved:
        return None
    for deadline in deadlines(problem, calendar, now):
        if deadline.state in (DUE, OVERDUE):
            return deadline
    return None


def is_overdue(problem: ProblemState, calendar: WorkCalendar,
               now: datetime | None = None) -> bool:
    return problem.unresolved and any(
        d.state == OVERDUE for d in deadlines(problem, calendar, now))


def human(span: timedelta | None) -> str:
    """A span as people say it: 45m, 3h 05m, 2d 4h."""
    if span is None:
        return "-"
    seconds = max(0, int(span.total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {mins:02d}m"
    return f"{mins}m"


def _short(when: datetime, calendar: WorkCalendar | None) -> str:
    local = calendar.local(when) if calendar else when
    return f"{local:%Y-%m-%d %H:%M}"


def _iso(when: datetime | None) -> str | None:
    return when.astimezone(UTC).isoformat() if when else None
