"""Problems, findings and the journal records a problem's state is folded from.

A problem is never stored as a row: every change is a ``problem.*`` record in the hash-chained
journal under the problem's id as run id (``P-2026-0001``), and its state is folded from those
records, as a run's is. So a verified chain vouches for the whole problem list and its history.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from hisops.errors import InputError
from hisops.journal.records import Record
from hisops.severity import SCALES, level

log = logging.getLogger(__name__)

# Record kinds; every payload also has ``at`` (ISO UTC, when it happened) and ``operator``.
OPENED = "problem.opened"  # id, key, rule, host, subject, severity, scale, title, title_zh,
#                            detail, detail_zh, recommendation, value, source, recurrence_of
SEEN = "problem.seen"  # source, severity (as observed), detail, value, title, title_zh,
#                        recommendation
ESCALATED = "problem.escalated"  # source, from, to: deadlines of the new level run from ``at``
TO_CONFIRM = "problem.to_confirm"  # source, reason: gone from an inspection that covered its host
REOPENED = "problem.reopened"  # source: a to_confirm problem seen again
ACKNOWLEDGED = "problem.acknowledged"  # owner, note: the first response
NOTED = "problem.noted"  # text, solution (true: a fix or workaround was given)
RESOLVED = "problem.resolved"  # note, confirmed (true: closed by ``confirm`` from to_confirm)
KINDS = (OPENED, SEEN, ESCALATED, TO_CONFIRM, REOPENED, ACKNOWLEDGED, NOTED, RESOLVED)

OPEN, ACK, TO_CONFIRM_STATUS, RESOLVED_STATUS = "open", "acknowledged", "to_confirm", "resolved"
STATUSES = (OPEN, ACK, TO_CONFIRM_STATUS, RESOLVED_STATUS)
UNRESOLVED = frozenset({OPEN, ACK, TO_CONFIRM_STATUS})

ID_PREFIX = "P-"
ID_PATTERN = re.compile(r"P-(\d{4})-(\d{4,})")


def problem_id(year: int, number: int) -> str:
    return f"{ID_PREFIX}{year:04d}-{number:04d}"


def is_problem_id(run_id: str) -> bool:
    """True for a problem's run id: ``hisops runs`` can leave these out."""
    return ID_PATTERN.fullmatch(run_id) is not None


class ProblemError(InputError):
    """A problem that does not exist, or a change its status does not allow (exit 2)."""

    def __init__(self, message: str, *, problem: str | None = None,
                 status: str | None = None) -> None:
        self.problem, self.status = problem, status
        super().__init__(message)


@dataclass(frozen=True)
class Finding:
    """What an inspection found: one rule, on one host, about one subject.

    ``key`` is the identity that ties inspections together (default ``rule|host|subject``):
    the same key next quarter updates the same problem.
    """

    rule: str
    host: str
    severity: int
    title: str
    subject: str = ""
    title_zh: str = ""
    detail: str = ""
    detail_zh: str = ""
    recommendation: str = ""
    recommendation_zh: str = ""
    value: Any = None
    scale: str = "database"
    key: str = ""

    def __post_init__(self) -> None:
        for name in ("rule", "host", "title"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name).strip():
                raise InputError("a finding needs a non-empty string", field=name)
        for name in ("subject", "title_zh", "detail", "detail_zh", "recommendation",
                     "recommendation_zh", "key", "scale"):
            if not isinstance(getattr(self, name), str):
                raise InputError("must be a string", field=name)
        if self.scale not in SCALES:
            raise InputError(f"scale must be one of {', '.join(SCALES)}", field="scale")
        if not isinstance(self.severity, int) or isinstance(self.severity, bool):
            raise InputError(f"must be the number 1, 2, 3 or 4, not {self.severity!r}",
                             field="severity")
        try:
            level(self.severity, self.scale)
        except ValueError as exc:
            raise InputError(str(exc), field="severity") from None
        try:
            json.dumps(self.value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InputError(f"value must be JSON: {exc}", field="value") from None
        if not self.key:
            object.__setattr__(self, "key", f"{self.rule}|{self.host}|{self.subject}")

    @classmethod
    def of(cls, item: Finding | Mapping[str, Any]) -> Finding:
        """A Finding from itself or from a dict; an unknown key is an error, not ignored."""
        if isinstance(item, Finding):
            return item
        if not isinstance(item, Mapping):
            raise InputError(f"a finding is a Finding or a dict, not {type(item).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(str(k) for k in item if k not in known)
        if unknown:
            raise InputError(f"unknown finding field(s): {', '.join(unknown)}")
        try:
            return cls(**item)
        except TypeError as exc:
            raise InputError(f"finding: {exc}") from None

    def observation(self) -> dict[str, Any]:
        """What a sync journals about this finding each time it is seen."""
        return {"severity": self.severity, "title": self.title, "title_zh": self.title_zh,
                "detail": self.detail, "detail_zh": self.detail_zh,
                "recommendation": self.recommendation,
                "recommendation_zh": self.recommendation_zh, "value": self.value}


@dataclass
class Clock:
    """One level's deadlines: from finding (or escalation) to response, solution, resolution.

    An escalation ends a clock and starts another at the new level; the old clock stays, so
    a deadline missed before the escalation is still counted as missed.
    """

    severity: int
    scale: str
    started_at: datetime
    responded_at: datetime | None = None
    solution_at: datetime | None = None
    resolved_at: datetime | None = None
    ended_at: datetime | None = None  # superseded by an escalation at this moment

    def done_at(self, which: str) -> datetime | None:
        return {"respond": self.responded_at, "solution": self.solution_at,
                "resolve": self.resolved_at}[which]


@dataclass
class ProblemState:
    id: str
    key: str = ""
    rule: str = ""
    host: str = ""
    subject: str = ""
    scale: str = "database"
    severity: int = 4
    title: str = ""
    title_zh: str = ""
    detail: str = ""
    detail_zh: str = ""
    recommendation: str = ""
    recommendation_zh: str = ""
    value: Any = None
    status: str = OPEN
    found_at: datetime = datetime.min.replace(tzinfo=UTC)
    source: str = ""  # the inspection that found it
    opened_by: str = ""
    last_seen: datetime = datetime.min.replace(tzinfo=UTC)
    last_source: str = ""
    occurrences: int = 0
    last_observed_severity: int = 4
    owner: str = ""
    acknowledged_at: datetime | None = None  # the first acknowledgement, whatever the level
    to_confirm_since: datetime | None = None
    to_confirm_source: str = ""
    resolved_at: datetime | None = None
    resolved_by: str = ""
    resolution: str = ""
    confirmed: bool = False
    recurrence_of: str | None = None
    recurred_as: list[str] = field(default_factory=list)
    clocks: list[Clock] = field(default_factory=list)
    escalations: list[dict[str, Any]] = field(default_factory=list)
    notes: list[dict[str, Any]] = field(default_factory=list)  # text, at, operator, via
    timeline: list[Record] = field(default_factory=list)

    @property
    def clock(self) -> Clock:
        return self.clocks[-1]

    @property
    def unresolved(self) -> bool:
        return self.status in UNRESOLVED

    def title_in(self, lang: str = "en") -> str:
        return self.title_zh if lang == "zh" and self.title_zh else self.title


def parse_time(text: Any) -> datetime:
    when = datetime.fromisoformat(str(text))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def fold_problems(records: Iterable[Record]) -> dict[str, ProblemState]:
    """Every problem's state from its records, in order of opening."""
    problems: dict[str, ProblemState] = {}
    for rec in records:
        if rec.kind not in KINDS or not is_problem_id(rec.run_id):
            continue
        state = problems.get(rec.run_id)
        if rec.kind == OPENED:
            state = problems[rec.run_id] = ProblemState(id=rec.run_id)
        elif state is None:
            log.warning("journal record %d: %s for unknown problem %s", rec.seq, rec.kind,
                        rec.run_id)
            continue
        state.timeline.append(rec)
        _apply(state, rec)
        if rec.kind == OPENED and state.recurrence_of in problems:
            problems[state.recurrence_of].recurred_as.append(state.id)
    return problems


def _apply(state: ProblemState, rec: Record) -> None:  # noqa: C901 - a branch per kind
    p = rec.payload
    at = parse_time(p.get("at") or rec.ts)
    if rec.kind == OPENED:
        for name in ("key", "rule", "host", "subject", "scale", "title", "title_zh",
                     "detail", "detail_zh", "recommendation", "recommendation_zh", "value",
                     "source", "recurrence_of"):
            setattr(state, name, p.get(name, getattr(state, name)))
        state.severity = state.last_observed_severity = int(p["severity"])
        state.found_at = state.last_seen = at
        state.last_source = state.source
        state.opened_by = p.get("operator", "")
        state.occurrences = 1
        state.clocks.append(Clock(state.severity, state.scale, at))
    elif rec.kind == SEEN:
        for name in ("title", "title_zh", "detail", "detail_zh", "recommendation",
                     "recommendation_zh", "value"):
            if name in p:
                setattr(state, name, p[name])
        state.last_observed_severity = int(p.get("severity", state.severity))
        state.last_seen, state.last_source = at, p.get("source", "")
        state.occurrences += 1
    elif rec.kind == ESCALATED:
        state.clock.ended_at = at
        state.severity = int(p["to"])
        state.clocks.append(Clock(state.severity, state.scale, at))
        state.escalations.append({"at": at, "from": p.get("from"), "to": state.severity,
                                  "source": p.get("source", "")})
        if state.status == ACK:  # a response is owed again, at the new level
            state.status = OPEN
    elif rec.kind == TO_CONFIRM:
        state.status = TO_CONFIRM_STATUS
        state.to_confirm_since, state.to_confirm_source = at, p.get("source", "")
    elif rec.kind == REOPENED:
        state.status = OPEN
        state.to_confirm_since, state.to_confirm_source = None, ""
    elif rec.kind == ACKNOWLEDGED:
        state.status = ACK
        state.owner = p.get("owner", state.owner)
        state.acknowledged_at = state.acknowledged_at or at
        state.clock.responded_at = state.clock.responded_at or at
        _note(state, p.get("note", ""), at, p, "ack")
    elif rec.kind == NOTED:
        _note(state, p.get("text", ""), at, p, "solution" if p.get("solution") else "note")
        if p.get("solution"):
            state.clock.solution_at = state.clock.solution_at or at
    elif rec.kind == RESOLVED:
        state.status = RESOLVED_STATUS
        state.resolved_at, state.resolved_by = at, p.get("operator", "")
        state.resolution, state.confirmed = p.get("note", ""), bool(p.get("confirmed"))
        state.to_confirm_since, state.to_confirm_source = None, ""
        clock = state.clock
        # Resolving answers whatever was still owed: a response and a solution too.
        clock.responded_at = clock.responded_at or at
        clock.solution_at = clock.solution_at or at
        clock.resolved_at = at
        _note(state, state.resolution, at, p, "confirm" if state.confirmed else "resolve")


def _note(state: ProblemState, text: str, at: datetime, payload: Mapping[str, Any],
          via: str) -> None:
    if text:
        state.notes.append({"at": at, "operator": payload.get("operator", ""), "text": text,
                            "via": via})
