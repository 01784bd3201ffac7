"""A problem as plain data (``--json``, and for the reports that embed the problem list)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hisops.problems.deadlines import all_deadlines, deadlines, is_overdue, next_deadline
from hisops.problems.model import ProblemState
from hisops.problems.workcalendar import WorkCalendar


def _iso(when: datetime | None) -> str | None:
    return when.astimezone(UTC).isoformat() if when else None


def problem_dict(problem: ProblemState, calendar: WorkCalendar, now: datetime | None = None,
                 *, timeline: bool = False) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    upcoming = next_deadline(problem, calendar, now)
    out: dict[str, Any] = {
        "id": problem.id, "key": problem.key, "rule": problem.rule, "host": problem.host,
        "subject": problem.subject, "scale": problem.scale, "severity": problem.severity,
        "status": problem.status, "title": problem.title, "title_zh": problem.title_zh,
        "detail": problem.detail, "detail_zh": problem.detail_zh,
        "recommendation": problem.recommendation,
        "recommendation_zh": problem.recommendation_zh, "value": problem.value,
        "found_at": _iso(problem.found_at), "source": problem.source,
        "opened_by": problem.opened_by, "last_seen": _iso(problem.last_seen),
        "last_source": problem.last_source, "occurrences": problem.occurrences,
        "last_observed_severity": problem.last_observed_severity, "owner": problem.owner,
        "acknowledged_at": _iso(problem.acknowledged_at),
        "responded_at": _iso(problem.clock.responded_at),
        "solution_at": _iso(problem.clock.solution_at),
        "to_confirm_since": _iso(problem.to_confirm_since),
        "to_confirm_source": problem.to_confirm_source,
        "resolved_at": _iso(problem.resolved_at), "resolved_by": problem.resolved_by,
        "resolution": problem.resolution, "confirmed": problem.confirmed,
        "recurrence_of": problem.recurrence_of, "recurred_as": list(problem.recurred_as),
        "clock_started_at": _iso(problem.clock.started_at),
        "deadlines": [d.to_dict() for d in deadlines(problem, calendar, now)],
        "next_deadline": upcoming.to_dict() if upcoming else None,
        "overdue": is_overdue(problem, calendar, now),
        "escalations": [{**e, "at": _iso(e["at"])} for e in problem.escalations],
        "notes": [{**n, "at": _iso(n["at"])} for n in problem.notes],
    }
    if timeline:
        out["all_deadlines"] = [d.to_dict() for d in all_deadlines(problem, calendar, now)]
        out["timeline"] = [{"seq": r.seq, "ts": r.ts, "kind": r.kind, "payload": r.payload,
                            "hash": r.hash} for r in problem.timeline]
    return out
