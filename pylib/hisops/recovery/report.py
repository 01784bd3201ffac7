"""The timeline report of an emergency restore: what happened, against the incident clock.

Built from the run's journal only (:class:`hisops.journal.state.RunState`): the plan the
``restore_plan`` guard journaled (incident start, ETA, deadlines), each step's start and end,
and what each step published (``hisops_restore`` in its data: where recovery stopped, the
timeline, the copies kept, the replication found afterwards). Nothing is re-read from a host,
so the report of a run at 3 a.m. can be printed, and trusted, the next morning.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hisops.journal.state import NO_HOSTS, RunState
from hisops.recovery.clock import incident_clock, span
from hisops.recovery.eta import data_loss_window

PLAN_CHECK = "restore_plan"


@dataclass(frozen=True)
class StepTime:
    id: str
    status: str
    started: datetime | None
    ended: datetime | None
    note: str = ""  # why a step was skipped on resume (journaled with the operator's name)

    def duration(self) -> timedelta | None:
        if self.started is None or self.ended is None:
            return None
        return self.ended - self.started


@dataclass(frozen=True)
class DeadlineResult:
    name: str
    due: datetime
    met: bool | None  # None: the run has not finished, so it is not judged yet
    margin: timedelta | None  # due - finish (negative: missed by)


@dataclass(frozen=True)
class RestoreReport:
    run_id: str
    runbook: str
    status: str
    drill: bool
    incident_at: datetime
    finished_at: datetime | None
    steps: tuple[StepTime, ...]
    deadlines: tuple[DeadlineResult, ...]
    eta_s: float | None
    target: str
    backup: str | None
    timeline: int | None
    last_transaction_at: datetime | None
    stopped_at: datetime | None
    stop: str  # how replay stopped, in words ("" when the log said nothing)
    data_loss: timedelta | None
    remaining: tuple[str, ...]

    @property
    def elapsed(self) -> timedelta | None:
        return None if self.finished_at is None else self.finished_at - self.incident_at

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "runbook": self.runbook, "status": self.status,
            "drill": self.drill, "incident_at": _iso(self.incident_at),
            "finished_at": _iso(self.finished_at),
            "elapsed_s": _secs(self.elapsed), "eta_s": self.eta_s,
            "steps": [{"id": s.id, "status": s.status, "started_at": _iso(s.started),
                       "ended_at": _iso(s.ended),
                       "started_after_s": _secs(_since(self.incident_at, s.started)),
                       "ended_after_s": _secs(_since(self.incident_at, s.ended)),
                       "duration_s": _secs(s.duration()), "note": s.note}
                      for s in self.steps],
            "deadlines": [{"name": d.name, "due": _iso(d.due), "met": d.met,
                           "margin_s": _secs(d.margin)} for d in self.deadlines],
            "target": self.target, "backup": self.backup, "timeline": self.timeline,
            "last_transaction_at": _iso(self.last_transaction_at),
            "stopped_at": _iso(self.stopped_at), "data_loss_s": _secs(self.data_loss),
            "remaining": list(self.remaining),
        }

    def render(self) -> str:
        head = "EMERGENCY RESTORE DRILL" if self.drill else "EMERGENCY RESTORE"
        lines = [f"{head}: timeline of run {self.run_id} ({self.status})",
                 f"Incident started {_utc(self.incident_at)} (level 1 clock)"]
        lines.append(f"  {'step':<12} {'start':>10} {'end':>10} {'took':>10}  status")
        for s in self.steps:
            lines.append(f"  {s.id:<12} {_plus(self.incident_at, s.started):>10} "
                         f"{_plus(self.incident_at, s.ended):>10} {span(s.duration()):>10}  "
                         f"{s.status}" + (f" on resume by {s.note}" if s.note else ""))
        if self.elapsed is not None:
            eta = f" (plan ETA {span(timedelta(seconds=self.eta_s))})" if self.eta_s else ""
            lines.append(f"Finished {_utc(self.finished_at)}: {span(self.elapsed)} after the "
                         f"incident started{eta}")
        for d in self.deadlines:
            if d.met is None:
                verdict = "not judged (the run has not finished)"
            elif d.met:
                verdict = f"met, {span(d.margin)} to spare"
            else:
                verdict = f"MISSED by {span(-d.margin) if d.margin is not None else '?'}"
            lines.append(f"  {d.name:<8} due {_utc(d.due)}: {verdict}")
        lines.append(f"Recovery target: {self.target}"
                     + (f", backup {self.backup}" if self.backup else "")
                     + (f", opened on timeline {self.timeline}" if self.timeline else ""))
        if self.last_transaction_at is not None:
            lines.append(f"Last transaction kept: {_utc(self.last_transaction_at)}"
                         + (f"; {self.stop}" if self.stop else ""))
        if self.data_loss is not None:
            lines.append(f"Data loss window (RPO achieved): {span(self.data_loss)}, from the "
                         "last transaction kept to the incident")
        else:
            lines.append("Data loss window: unknown (recovery logged no transaction time)")
        if self.remaining:
            lines.append("Remaining to do:")
            lines.extend(f"  - {item}" for item in self.remaining)
        return "\n".join(lines)


def build_report(state: RunState) -> RestoreReport:
    """The report of STATE, an emergency-restore run (finished, failed or still running)."""
    plan = _plan(state)
    published = _published(state)
    started = _time(state.started_at) or datetime.now(UTC)
    incident = _time(_get(plan, "clock", "started_at")) or started
    skipped_by = {r.get("step"): f"{r.get('operator', '?')}: {r.get('reason', '')}"
                  for r in state.resolutions if r.get("action") == "skip"}
    # a step that matched no host belongs to the other engine (the Oracle steps of a PostgreSQL
    # restore, and back): not part of this procedure's timeline
    steps = tuple(StepTime(s.id, s.status, _time(s.started_at), _time(s.ended_at),
                           skipped_by.get(s.id, ""))
                  for s in sorted(state.steps.values(), key=lambda s: s.index)
                  if not (s.status == "skipped" and s.detail == NO_HOSTS))
    finished = _time(state.ended_at) if state.status == "succeeded" else None
    clock = incident_clock(incident, max(incident, finished or incident), None)
    # respond is met when the procedure started (showing the plan and starting it is the
    # response); solution and resolve when the database was back and checked
    deadlines = tuple(
        DeadlineResult(d.name, d.due, None if at is None else at <= d.due,
                       None if at is None else d.due - at)
        for d in clock.deadlines
        for at in [started if d.name == "respond" else finished])
    recover = published.get("recover", {})
    last = _time(recover.get("last_transaction_at"))
    params = state.params
    return RestoreReport(
        run_id=state.run_id, runbook=state.runbook, status=state.status or "running",
        drill=str(params.get("drill")).lower() == "true", incident_at=incident,
        finished_at=finished, steps=steps, deadlines=deadlines,
        eta_s=_num(_get(plan, "eta", "seconds")),
        target=str(_get(plan, "target", "described") or params.get("target") or "latest"),
        backup=published.get("restore", {}).get("backup") or _get(plan, "backup", "label"),
        timeline=_int(published.get("open", {}).get("timeline")
                      or recover.get("timeline")),
        last_transaction_at=last, stopped_at=_time(recover.get("stopped_at")),
        stop=_stop_words(recover),
        data_loss=data_loss_window(incident, last) if last is not None else None,
        remaining=tuple(_remaining(state, published)))


def _stop_words(recover: dict[str, Any]) -> str:
    """How replay stopped, as PostgreSQL logged it."""
    when = _time(recover.get("stopped_at"))
    how, xid = recover.get("stopped_how"), recover.get("stopped_xid")
    if recover.get("restore_point"):
        return f"replay stopped at restore point {recover['restore_point']} ({_utc(when)})"
    if when is None or not isinstance(how, str):
        return ""
    kept = "kept" if how.startswith("after") else "not kept"
    return f"replay stopped {how} of transaction {xid} at {_utc(when)} ({kept})"


def _remaining(state: RunState, published: dict[str, dict[str, Any]]) -> list[str]:
    out: list[str] = []
    if state.status != "succeeded":
        unfinished = [s.id for s in sorted(state.steps.values(), key=lambda s: s.index)
                      if not s.finished_ok]
        where = f" (stopped in {unfinished[0]})" if unfinished else ""
        out.append(f"finish the procedure{where}: hisops resume {state.run_id}")
    kept = [*published.get("set_aside", {}).get("kept", [])]
    standby_kept = published.get("standby", {}).get("kept_at")
    if standby_kept:
        kept.append(f"{published['standby'].get('host', 'standby')}:{standby_kept}")
    host = published.get("set_aside", {}).get("host", "")
    for path in kept:
        shown = path if ":" in path else f"{host}:{path}"
        out.append(f"damaged copy kept at {shown}: look for transactions after the target, "
                   "then remove it to free its space")
    for warning in published.get("checks", {}).get("warnings", []):
        out.append(f"{warning}")
    params = state.params
    if params.get("mode") == "new-host" and state.status == "succeeded":
        host, primary = params.get("host", "?"), params.get("primary", "?")
        out.append(f"point the applications (and any monitoring) at {host}: it is the "
                   "primary now")
        out.append(f"{primary} is fenced (stopped, its data untouched): rebuild it as a "
                   f"standby of {host}, or retire it")
    post = published.get("post_checks", {})
    if state.status == "succeeded" and not post.get("replication"):
        out.append("no standby streams from the restored primary: build one (until then "
                   "there is no failover target)")
    logical = [s for s in post.get("slots", []) if s.get("type") == "logical"]
    if post.get("publications") and not logical:
        pubs = ", ".join(str(p) for p in post["publications"])
        out.append(f"publication(s) {pubs} have no logical slot on the restored primary (slots "
                   "are not in a backup): re-instantiate the logical replicas that subscribe "
                   "to them")
    if state.status == "succeeded":
        out.append("take a full backup on the new timeline (hisops run backup) and verify it "
                   "(hisops run verify-backup)")
    return out


def _plan(state: RunState) -> dict[str, Any]:
    for guard in reversed(state.guards):
        if guard.get("check") == PLAN_CHECK and isinstance(guard.get("data"), dict):
            return dict(guard["data"])
    return {}


def _published(state: RunState) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for step in state.steps.values():
        data = step.data.get("hisops_restore") if isinstance(step.data, dict) else None
        if isinstance(data, dict):
            out.update({k: v for k, v in data.items() if isinstance(v, dict)})
    return out


def _get(data: dict[str, Any], *keys: str) -> Any:
    value: Any = data
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text[-3:-2] in "+-" and text[-2:].isdigit() and ":" not in text[-6:]:
        text += ":00"  # PostgreSQL's log writes +00, Python 3.11 wants +00:00
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else None


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _since(start: datetime, when: datetime | None) -> timedelta | None:
    return None if when is None else when - start


def _secs(value: timedelta | None) -> float | None:
    return None if value is None else round(value.total_seconds(), 1)


def _plus(start: datetime, when: datetime | None) -> str:
    if when is None:
        return "-"
    delta = when - start
    sign = "-" if delta < timedelta(0) else "+"
    total = int(abs(delta).total_seconds())
    hours, rest = divmod(total, 3600)
    return f"{sign}{hours}:{rest // 60:02d}:{rest % 60:02d}"


def _utc(when: datetime | None) -> str:
    return "-" if when is None else when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.astimezone(UTC).isoformat()
