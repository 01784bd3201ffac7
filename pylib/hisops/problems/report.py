"""The problem list over a service period: what the quarterly and annual reports count.

For a period [start, end): problems **opened** (found in it), **resolved** (closed in it),
**still open** at its end (or now, for the current period), and the contract's deadlines
that **fell due** in it: met, missed (late, or overdue and not done) or still pending. Each is
counted under the level that applied: opened under the level found, resolved and still open
under the level at that moment, a deadline under its own level (an escalation starts new ones
and does not erase a deadline missed before it).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from hisops.errors import InputError
from hisops.journal import Journal
from hisops.problems.deadlines import DUE, MET, MISSED, OVERDUE, clock_deadlines
from hisops.problems.model import ProblemState
from hisops.problems.store import load_problems
from hisops.problems.workcalendar import WorkCalendar, load_calendar
from hisops.severity import LEVELS, LIMIT_NAMES

_QUARTER = re.compile(r"(\d{4})-?Q([1-4])", re.IGNORECASE)


@dataclass
class LevelCounts:
    severity: int  # 0 in the totals
    opened: int = 0
    resolved: int = 0
    still_open: int = 0
    deadlines_met: int = 0
    deadlines_missed: int = 0
    deadlines_pending: int = 0
    by_deadline: dict[str, dict[str, int]] = field(
        default_factory=lambda: {n: {"met": 0, "missed": 0, "pending": 0} for n in LIMIT_NAMES})

    @property
    def compliance(self) -> float | None:
        """Share of the deadlines that fell due and were met; None when none fell due."""
        judged = self.deadlines_met + self.deadlines_missed
        return self.deadlines_met / judged if judged else None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "compliance": self.compliance}


@dataclass
class PeriodSummary:
    start: datetime
    end: datetime
    as_of: datetime  # min(end, now): what "still open" and "overdue" are judged against
    levels: dict[int, LevelCounts]
    total: LevelCounts
    problems: list[str]  # ids of the problems alive in the period

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(),
                "as_of": self.as_of.isoformat(),
                "levels": {str(n): c.to_dict() for n, c in self.levels.items()},
                "total": self.total.to_dict(), "problems": self.problems}


def _check_period(start: datetime, end: datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise InputError("a period's start and end need a time zone")
    if end <= start:
        raise InputError(f"a period must end after it starts: {start} .. {end}")


def problems_in_period(journal: Journal, start: datetime, end: datetime) -> list[ProblemState]:
    """Problems alive at some moment of [start, end): found before its end, not resolved
    before its start; by severity, then when found."""
    _check_period(start, end)
    alive = [p for p in load_problems(journal).values()
             if p.found_at < end and (p.resolved_at is None or p.resolved_at >= start)]
    return sorted(alive, key=lambda p: (p.severity, p.found_at, p.id))


def severity_at(problem: ProblemState, when: datetime) -> int:
    """The level that applied at ``when`` (the level found if earlier)."""
    current = problem.clocks[0].severity
    for clock in problem.clocks:
        if clock.started_at <= when:
            current = clock.severity
    return current


def period_summary(problems: list[ProblemState], start: datetime, end: datetime, *,
                   calendar: WorkCalendar | None = None,
                   now: datetime | None = None) -> PeriodSummary:
    """Per level: opened, resolved, still open, and SLA compliance of deadlines due in it."""
    _check_period(start, end)
    calendar = calendar or load_calendar()
    as_of = min(end, now or datetime.now(UTC))
    levels = {n: LevelCounts(n) for n in sorted(LEVELS)}
    total = LevelCounts(0)
    for problem in problems:
        if start <= problem.found_at < end:
            _bump(levels, total, problem.clocks[0].severity, "opened")
        if problem.resolved_at is not None and start <= problem.resolved_at < end:
            _bump(levels, total, severity_at(problem, problem.resolved_at), "resolved")
        if problem.found_at < as_of and (problem.resolved_at is None
                                         or problem.resolved_at >= as_of):
            _bump(levels, total, severity_at(problem, as_of), "still_open")
        for clock in problem.clocks:
            for deadline in clock_deadlines(clock, calendar, as_of):
                if deadline.due is None or not start <= deadline.due < end:
                    continue
                if deadline.state == MET:
                    outcome = "met"
                elif deadline.state in (MISSED, OVERDUE):
                    outcome = "missed"
                elif deadline.state == DUE:
                    outcome = "pending"
                else:
                    continue
                for counts in (levels[clock.severity], total):
                    setattr(counts, f"deadlines_{outcome}",
                            getattr(counts, f"deadlines_{outcome}") + 1)
                    counts.by_deadline[deadline.name][outcome] += 1
    return PeriodSummary(start, end, as_of, levels, total, [p.id for p in problems])


def _bump(levels: dict[int, LevelCounts], total: LevelCounts, severity: int,
          name: str) -> None:
    for counts in (levels[severity], total):
        setattr(counts, name, getattr(counts, name) + 1)


def quarter_period(quarter: str, calendar: WorkCalendar | None = None
                   ) -> tuple[datetime, datetime]:
    """[start, end) of a quarter such as ``2026Q4``, in the service calendar's time zone."""
    match = _QUARTER.fullmatch(quarter.strip())
    if not match:
        raise InputError(f"a quarter is written like 2026Q4, not {quarter!r}")
    year, number = int(match.group(1)), int(match.group(2))
    return _local_bounds(date(year, 3 * number - 2, 1),
                         date(year + (number == 4), 1 if number == 4 else 3 * number + 1, 1),
                         calendar)


def year_period(year: int, calendar: WorkCalendar | None = None) -> tuple[datetime, datetime]:
    """[start, end) of a calendar year in the service calendar's time zone."""
    return _local_bounds(date(year, 1, 1), date(year + 1, 1, 1), calendar)


def _local_bounds(first: date, after: date, calendar: WorkCalendar | None
                  ) -> tuple[datetime, datetime]:
    tz = (calendar or load_calendar()).tz
    return (datetime.combine(first, time(0), tzinfo=tz).astimezone(UTC),
            datetime.combine(after, time(0), tzinfo=tz).astimezone(UTC))
