"""The problem list: findings become problems with the contract's deadlines, kept in the journal.

Inspection calls :func:`sync_findings`; people move a problem along with :func:`acknowledge`,
:func:`add_note`, :func:`resolve` and :func:`confirm` (``hisops problems``); the service
reports read :func:`problems_in_period` and :func:`period_summary`. See docs/problems.md.
"""

from __future__ import annotations

from hisops.problems.deadlines import (
    Deadline,
    all_deadlines,
    deadlines,
    is_overdue,
    next_deadline,
)
from hisops.problems.model import (
    KINDS,
    STATUSES,
    Finding,
    ProblemError,
    ProblemState,
    fold_problems,
    is_problem_id,
)
from hisops.problems.report import (
    LevelCounts,
    PeriodSummary,
    period_summary,
    problems_in_period,
    quarter_period,
    year_period,
)
from hisops.problems.store import (
    SyncResult,
    acknowledge,
    add_note,
    confirm,
    get_problem,
    load_problems,
    resolve,
    sync_findings,
)
from hisops.problems.views import problem_dict
from hisops.problems.workcalendar import WorkCalendar, load_calendar

__all__ = [
    "KINDS",
    "STATUSES",
    "Deadline",
    "Finding",
    "LevelCounts",
    "PeriodSummary",
    "ProblemError",
    "ProblemState",
    "SyncResult",
    "WorkCalendar",
    "acknowledge",
    "add_note",
    "all_deadlines",
    "confirm",
    "deadlines",
    "fold_problems",
    "get_problem",
    "is_overdue",
    "is_problem_id",
    "load_calendar",
    "load_problems",
    "next_deadline",
    "period_summary",
    "problem_dict",
    "problems_in_period",
    "quarter_period",
    "resolve",
    "sync_findings",
    "year_period",
]
