"""The incident clock an emergency restore runs against: the contract's level-1 deadlines
(:data:`hisops.severity.LEVELS`), how much time is left now, and whether the plan's ETA
meets each.

An emergency restore is a level-1 event by definition (database down or data lost), so the
clock defaults to level 1; its limits are wall-clock, which is what this module counts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hisops.errors import InputError
from hisops.severity import LEVELS, LIMIT_NAMES, Level, LimitName

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Deadline:
    name: LimitName
    due: datetime
    left: timedelta  # from now; negative once passed
    # respond is judged at the plan's start (now: showing the plan is the response);
    # solution and resolve at its estimated end. None when there is no ETA to judge by.
    met_by_plan: bool | None


@dataclass(frozen=True)
class IncidentClock:
    level: Level
    started_at: datetime
    now: datetime
    eta: timedelta | None
    deadlines: tuple[Deadline, ...]

    @property
    def plan_end(self) -> datetime | None:
        return self.now + self.eta if self.eta is not None else None

    @property
    def spare(self) -> timedelta | None:
        """Time between the plan's estimated end and the resolve deadline (negative: late)."""
        resolve = self.deadline("resolve")
        end = self.plan_end
        if resolve is None or end is None:
            return None
        return resolve.due - end

    @property
    def elapsed(self) -> timedelta:
        return self.now - self.started_at

    def deadline(self, name: LimitName) -> Deadline | None:
        return next((d for d in self.deadlines if d.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types (times ISO 8601 in UTC): what a restore plan journals."""
        def iso(when: datetime | None) -> str | None:
            return when.astimezone(UTC).isoformat() if when is not None else None

        return {"level": self.level.number, "started_at": iso(self.started_at),
                "now": iso(self.now),
                "eta_s": self.eta.total_seconds() if self.eta is not None else None,
                "plan_end": iso(self.plan_end),
                "spare_s": self.spare.total_seconds() if self.spare is not None else None,
                "deadlines": [{"name": d.name, "due": iso(d.due),
                               "left_s": d.left.total_seconds(),
                               "met_by_plan": d.met_by_plan} for d in self.deadlines]}


def incident_clock(started_at: datetime, now: datetime, eta_s: float | None,
                   level: Level | None = None) -> IncidentClock:
    """The clock of an incident that began at STARTED_AT, seen at NOW, with a plan that
    needs ETA_S seconds (None: no measured ETA, deadlines are shown but not judged)."""
    lvl = level or LEVELS[1]
    for name, value in (("incident-at", started_at), ("now", now)):
        if value.tzinfo is None:
            raise InputError(f"{name} needs a UTC offset", field=name)
    if started_at > now:
        raise InputError(f"the incident cannot start in the future ({started_at.isoformat()} "
                         f"is after now, {now.isoformat()})", field="incident-at")
    if eta_s is not None and eta_s < 0:
        raise ValueError(f"an ETA cannot be negative: {eta_s}")
    eta = timedelta(seconds=eta_s) if eta_s is not None else None
    end = now + eta if eta is not None else None
    deadlines = []
    for name in LIMIT_NAMES:
        limit = lvl.limit(name)
        if limit is None or limit.wall is None:
            # working-day limits belong to the problem list's calendar, not to a restore
            continue
        due = started_at + limit.wall
        milestone = now if name == "respond" else end
        met = None if milestone is None else milestone <= due
        deadlines.append(Deadline(name, due, due - now, met))
    return IncidentClock(lvl, started_at, now, eta, tuple(deadlines))


def render_clock(clock: IncidentClock) -> str:
    """A few lines for the plan: the incident's age, each deadline, and the spare time."""
    tz = clock.started_at.tzinfo
    lines = [f"Incident clock ({clock.level.name()}): started {_at(clock.started_at)}, "
             f"{span(clock.elapsed)} ago"]
    end = clock.plan_end
    lines.append(f"  plan ETA: {span(clock.eta)}, ends about {_at(end.astimezone(tz))}"
                 if clock.eta is not None and end is not None else
                 "  plan ETA: unknown (no measured restore): solution and resolve not judged")
    for d in clock.deadlines:
        limit = clock.level.limit(d.name)
        within = limit.text() if limit else ""
        left = f"{span(d.left)} left" if d.left >= timedelta(0) else (
            f"passed {span(-d.left)} ago")
        if d.name == "respond":  # judged at the plan's start: the response is late or not
            verdict = {True: "on time", False: "LATE", None: "not judged"}[d.met_by_plan]
        else:
            verdict = {True: "plan meets it", False: "PLAN MISSES IT", None: "not judged"}[
                d.met_by_plan]
        lines.append(f"  {d.name:<8} ({within}) due {_at(d.due.astimezone(tz))}: {left}; "
                     f"{verdict}")
    spare = clock.spare
    if spare is not None:
        lines.append(f"  time the plan leaves before resolve: {span(spare)}" if spare >=
                     timedelta(0) else
                     f"  the plan ends {span(-spare)} AFTER the resolve deadline")
    return "\n".join(lines)


def span(value: timedelta | None) -> str:
    """``2 h 05 min``, ``7 min``, ``40 s``: minutes matter on this clock, seconds rarely."""
    if value is None:
        return "-"
    total = int(value.total_seconds())
    sign, total = ("-", -total) if total < 0 else ("", total)
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{sign}{hours} h {minutes:02d} min"
    if minutes:
        return f"{sign}{minutes} min"
    return f"{sign}{seconds} s"


def _at(when: datetime) -> str:
    return f"{when:%Y-%m-%d %H:%M %Z}".strip()
