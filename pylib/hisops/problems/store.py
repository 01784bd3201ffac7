"""The problem list in the journal: findings in, lifecycle changes, reads.

Every write reads the problem records, decides, then appends in one journal write
transaction **only if no problem record was written in between** (compare-and-append on the
last problem record's seq); otherwise it reads again and decides again. So two inspections
syncing at once, or an ``ack`` racing a sync, can neither allocate the same id nor open two
problems for one key nor act on a status that has changed: the journal's write lock
(``BEGIN IMMEDIATE`` on SQLite, the chain head row lock on PostgreSQL) serialises them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from hisops.errors import InputError, JournalError
from hisops.journal import Journal
from hisops.problems import model as m
from hisops.problems.model import Finding, ProblemError, ProblemState, fold_problems
from hisops.problems.workcalendar import WorkCalendar, load_calendar

log = logging.getLogger(__name__)

_ATTEMPTS = 20
T = TypeVar("T")
Item = tuple[str, str, dict[str, Any]]  # run id (problem id), kind, payload


@dataclass(frozen=True)
class SyncResult:
    """What one inspection's findings did to the problem list (problem ids)."""

    source: str
    opened: list[str] = field(default_factory=list)  # recurrences included
    updated: list[str] = field(default_factory=list)  # seen again (escalated/reopened too)
    escalated: list[str] = field(default_factory=list)
    reopened: list[str] = field(default_factory=list)
    to_confirm: list[str] = field(default_factory=list)
    recurrences: dict[str, str] = field(default_factory=dict)  # new id -> resolved id
    by_key: dict[str, str] = field(default_factory=dict)  # finding key -> problem id

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "opened": self.opened, "updated": self.updated,
                "escalated": self.escalated, "reopened": self.reopened,
                "to_confirm": self.to_confirm, "recurrences": self.recurrences,
                "by_key": self.by_key}


# --- reads -------------------------------------------------------------------------------


def _snapshot(journal: Journal) -> tuple[dict[str, ProblemState], int]:
    """The problems, and the seq of the last problem record (what a write compares with)."""
    records = journal.records(kinds=m.KINDS)
    return fold_problems(records), (records[-1].seq if records else 0)


def load_problems(journal: Journal) -> dict[str, ProblemState]:
    """Every problem ever opened, by id, in order of opening."""
    return _snapshot(journal)[0]


def get_problem(journal: Journal, problem_id: str) -> ProblemState:
    problem = load_problems(journal).get(problem_id.strip().upper())
    if problem is None:
        raise ProblemError(f"no problem {problem_id} in the journal (see: hisops problems list)",
                           problem=problem_id)
    return problem


# --- writes ------------------------------------------------------------------------------


def _append_if_unchanged(journal: Journal, last_seq: int, items: list[Item]) -> bool:
    """Append ``items`` in one transaction if the last problem record is still ``last_seq``."""
    return journal.append_if_latest(m.KINDS, last_seq, list(items))


def _write(journal: Journal,
           decide: Callable[[dict[str, ProblemState]], tuple[list[Item], T]]) -> T:
    """Decide on the current problems and append the decision's records atomically; decide
    again on what changed if another writer came first."""
    for attempt in range(_ATTEMPTS):
        problems, last_seq = _snapshot(journal)
        items, result = decide(problems)
        if not items or _append_if_unchanged(journal, last_seq, items):
            return result
        log.info("problem list changed while writing (attempt %d): reading it again",
                 attempt + 1)
    raise JournalError(f"journal {journal.location}: the problem list kept changing; "
                       "try again")


def current_operator(explicit: str | None = None) -> str:
    """Who makes the change: as the engine says (--operator, $HISOPS_OPERATOR, the login)."""
    # Imported here: the engine pulls in the runbook machinery, which a read never needs.
    from hisops.runbook.engine import current_operator as engine_operator

    return engine_operator(explicit)


def _aware(when: datetime | None, what: str) -> datetime:
    if when is None:
        return datetime.now(UTC)
    if when.tzinfo is None:
        raise InputError(f"{what} needs a time zone: {when.isoformat()}")
    return when.astimezone(UTC)


def sync_findings(
    journal: Journal, findings: Iterable[Finding | Mapping[str, Any]], *, source: str,
    observed_at: datetime, scope: Collection[str], operator: str | None = None,
    calendar: WorkCalendar | None = None,
) -> SyncResult:
    """Open, update, escalate, reopen or mark to_confirm problems from one inspection.

    ``scope`` is the hosts the inspection fully covered: only there does a missing finding
    mark its problem ``to_confirm``. Syncing the same ``source`` twice changes nothing more.
    """
    if not isinstance(source, str) or not source.strip():
        raise InputError("sync_findings: source must name the inspection")
    if isinstance(scope, str):
        raise InputError(f"sync_findings: scope must be a collection of hosts, not {scope!r}")
    at = _aware(observed_at, "observed_at")
    scope_set = {str(h) for h in scope}
    wanted: dict[str, Finding] = {}
    for item in findings:
        finding = Finding.of(item)
        if finding.key in wanted:
            raise InputError(f"sync_findings: finding key {finding.key!r} given twice")
        wanted[finding.key] = finding
    year = (calendar or load_calendar()).local(at).year
    who = current_operator(operator)

    def decide(problems: dict[str, ProblemState]) -> tuple[list[Item], SyncResult]:
        return _plan_sync(problems, wanted, source, at, year, scope_set, who)

    result: SyncResult = _write(journal, decide)
    log.info("inspection %s: %d opened, %d updated, %d escalated, %d reopened, %d to confirm",
             source, len(result.opened), len(result.updated), len(result.escalated),
             len(result.reopened), len(result.to_confirm))
    return result


def _plan_sync(problems: dict[str, ProblemState], wanted: dict[str, Finding], source: str,
               at: datetime, year: int, scope: set[str], who: str
               ) -> tuple[list[Item], SyncResult]:
    result = SyncResult(source=source)
    items: list[Item] = []
    stamp = {"at": at.isoformat(), "operator": who, "source": source}
    current: dict[str, ProblemState] = {}  # key -> its unresolved problem
    last_resolved: dict[str, ProblemState] = {}
    for each in problems.values():
        (current if each.unresolved else last_resolved)[each.key] = each
    numbers = [int(match.group(2)) for pid in problems
               if (match := m.ID_PATTERN.fullmatch(pid)) and int(match.group(1)) == year]
    next_number = max(numbers, default=0) + 1
    for key, finding in wanted.items():
        problem = current.get(key)
        if problem is None:
            pid = m.problem_id(year, next_number)
            next_number += 1
            previous = last_resolved.get(key)
            items.append((pid, m.OPENED, {
                **stamp, "id": pid, "key": key, "rule": finding.rule, "host": finding.host,
                "subject": finding.subject, "scale": finding.scale,
                "recurrence_of": previous.id if previous else None,
                **finding.observation()}))
            result.opened.append(pid)
            if previous:
                result.recurrences[pid] = previous.id
            result.by_key[key] = pid
            continue
        result.by_key[key] = problem.id
        if problem.last_source == source:
            continue  # this inspection was synced already
        if problem.status == m.TO_CONFIRM_STATUS:
            items.append((problem.id, m.REOPENED, dict(stamp)))
            result.reopened.append(problem.id)
        items.append((problem.id, m.SEEN, {**stamp, **finding.observation()}))
        result.updated.append(problem.id)
        if finding.severity < problem.severity:
            items.append((problem.id, m.ESCALATED,
                          {**stamp, "from": problem.severity, "to": finding.severity}))
            result.escalated.append(problem.id)
    for key, active in current.items():
        if (key in wanted or active.host not in scope
                or active.status == m.TO_CONFIRM_STATUS):
            continue
        items.append((active.id, m.TO_CONFIRM, {
            **stamp, "reason": f"gone from inspection {source}; confirm to close"}))
        result.to_confirm.append(active.id)
    return items, result


def _change(journal: Journal, problem_id: str, kind: str, payload: dict[str, Any],
            allowed: Collection[str], action: str, hint: str = "") -> ProblemState:
    pid = problem_id.strip().upper()

    def decide(problems: dict[str, ProblemState]) -> tuple[list[Item], None]:
        problem = problems.get(pid)
        if problem is None:
            raise ProblemError(f"no problem {problem_id} in the journal "
                               "(see: hisops problems list)", problem=problem_id)
        if problem.status not in allowed:
            raise ProblemError(f"cannot {action} {pid}: it is {problem.status}{hint}",
                               problem=pid, status=problem.status)
        return [(pid, kind, payload)], None

    _write(journal, decide)
    return get_problem(journal, pid)


def _stamp(operator: str | None, at: datetime | None) -> dict[str, Any]:
    return {"at": _aware(at, "at").isoformat(), "operator": current_operator(operator)}


def _text(value: str | None, what: str) -> str:
    text = (value or "").strip()
    if not text:
        raise InputError(f"{what} must not be empty")
    return text


def acknowledge(journal: Journal, problem_id: str, *, owner: str, note: str = "",
                operator: str | None = None, at: datetime | None = None) -> ProblemState:
    """The first response: someone owns it now (again on an acknowledged one: a new owner)."""
    return _change(journal, problem_id, m.ACKNOWLEDGED,
                   {**_stamp(operator, at), "owner": _text(owner, "owner"),
                    "note": (note or "").strip()},
                   (m.OPEN, m.ACK), "acknowledge",
                   " (to_confirm: confirm it, or wait for the next inspection)")


def add_note(journal: Journal, problem_id: str, text: str, *, solution: bool = False,
             operator: str | None = None, at: datetime | None = None) -> ProblemState:
    """A note; ``solution=True`` records that a fix or workaround was given (its deadline)."""
    return _change(journal, problem_id, m.NOTED,
                   {**_stamp(operator, at), "text": _text(text, "note"),
                    "solution": bool(solution)},
                   m.UNRESOLVED if solution else m.STATUSES, "note a solution on")


def resolve(journal: Journal, problem_id: str, *, note: str, operator: str | None = None,
            at: datetime | None = None) -> ProblemState:
    """Close it, saying what was done."""
    return _change(journal, problem_id, m.RESOLVED,
                   {**_stamp(operator, at), "note": _text(note, "resolve --note"),
                    "confirmed": False},
                   m.UNRESOLVED, "resolve")


def confirm(journal: Journal, problem_id: str, *, note: str = "", operator: str | None = None,
            at: datetime | None = None) -> ProblemState:
    """Close a problem an inspection no longer saw: a person agrees it is gone."""
    return _change(journal, problem_id, m.RESOLVED,
                   {**_stamp(operator, at), "confirmed": True,
                    "note": (note or "").strip() or "confirmed gone"},
                   (m.TO_CONFIRM_STATUS,), "confirm",
                   " (only a problem an inspection no longer saw can be confirmed; "
                   "resolve it with a note instead)")
