"""Gather a service period's facts from the journal into one plain dict (the report's data).

A quarter or a year of the service calendar: inspections held, the problem list's counts and
SLA compliance, runbooks run (patches, backups, restore drills, baseline applies), baseline
checks, and recommendations derived from those facts (small explicit rules, at the end of
this module, each naming the fact that triggered it). Pure reads of the journal: nothing here
prints. Times in the dict are ISO-8601, local to the service calendar's zone except
``generated_at`` and ``period.as_of`` (UTC).
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from hisops.journal import Journal, Record
from hisops.journal.records import EVIDENCE, RUN_FINISHED, RUN_STARTED
from hisops.problems import (
    ProblemState,
    WorkCalendar,
    load_calendar,
    period_summary,
    problems_in_period,
    quarter_period,
    year_period,
)
from hisops.problems.deadlines import DUE, MET, MISSED, NONE, OVERDUE, clock_deadlines
from hisops.problems.report import severity_at

log = logging.getLogger(__name__)

INSPECTION_KIND = "inspection.run"
BASELINE_CHECK_KIND = "baseline.check"
APPLY_BASELINE = "apply-baseline"
PATCH_RUNBOOKS = frozenset({"patch-postgres"})
REPORT_VERSION = 1


def current_quarter(calendar: WorkCalendar | None = None, now: datetime | None = None) -> str:
    """``2026Q4``: the quarter ``now`` falls in, in the service calendar's zone."""
    local = (calendar or load_calendar()).local(now or datetime.now(UTC))
    return f"{local.year}Q{(local.month - 1) // 3 + 1}"


def current_year(calendar: WorkCalendar | None = None, now: datetime | None = None) -> int:
    return (calendar or load_calendar()).local(now or datetime.now(UTC)).year


def collect_quarter(journal: Journal, quarter: str, *, calendar: WorkCalendar | None = None,
                    now: datetime | None = None) -> dict[str, Any]:
    """The quarterly service report's data for ``quarter`` (``2026Q4``)."""
    calendar = calendar or load_calendar()
    start, end = quarter_period(quarter, calendar)
    label = current_quarter(calendar, start)
    facts = _Facts.read(journal)
    report = _period(journal, facts, "quarter", label, start, end, calendar, now)
    report["verification"] = _verification(journal)
    report["recommendations"] = recommendations(report)
    return report


def collect_annual(journal: Journal, year: int, *, calendar: WorkCalendar | None = None,
                   now: datetime | None = None) -> dict[str, Any]:
    """The annual report's data: the year's totals and one row per quarter."""
    calendar = calendar or load_calendar()
    start, end = year_period(year, calendar)
    facts = _Facts.read(journal)
    report = _period(journal, facts, "year", str(year), start, end, calendar, now)
    quarters = []
    for number in (1, 2, 3, 4):
        q_start, q_end = quarter_period(f"{year}Q{number}", calendar)
        quarter = _period(journal, facts, "quarter", f"{year}Q{number}", q_start, q_end,
                          calendar, now)
        quarters.append(quarter_row(quarter))
    report["quarters"] = quarters
    report["verification"] = _verification(journal)
    report["recommendations"] = recommendations(report)
    return report


def quarter_row(report: dict[str, Any]) -> dict[str, Any]:
    """One quarter's line of the annual report."""
    total = report["problems"]["total"]
    runs = report["runs"]
    return {"period": report["period"]["label"], "started": report["period"]["started"],
            "inspections": report["inspections"]["count"],
            "opened": total["opened"], "resolved": total["resolved"],
            "still_open": total["still_open"], "deadlines_met": total["deadlines_met"],
            "deadlines_missed": total["deadlines_missed"],
            "compliance": total["compliance"], "runs": runs["count"],
            "runs_failed": runs["failed"], "patches": len(report["patches"]),
            "backups": len(report["backups"]),
            "drills_passed": sum(1 for d in report["drills"] if d["passed"]),
            "drills_failed": sum(1 for d in report["drills"] if not d["passed"]),
            "baseline_checks": len(report["baseline_checks"]),
            "baseline_applies": len(report["baseline_applies"])}


# --- reading the journal once --------------------------------------------------------------


class _Facts:
    """The journal records a report reads, fetched once for a year and its four quarters."""

    def __init__(self, records: list[Record]) -> None:
        self.started: dict[str, Record] = {}
        self.finished: dict[str, Record] = {}
        self.evidence: list[Record] = []
        self.inspections: list[Record] = []
        self.baseline_checks: list[Record] = []
        for rec in records:
            if rec.kind == RUN_STARTED:
                self.started.setdefault(rec.run_id, rec)
            elif rec.kind == RUN_FINISHED:
                self.finished[rec.run_id] = rec  # the last one: a resumed run finishes again
            elif rec.kind == EVIDENCE and isinstance(rec.payload.get("evidence"), dict):
                self.evidence.append(rec)
            elif rec.kind == INSPECTION_KIND:
                self.inspections.append(rec)
            elif rec.kind == BASELINE_CHECK_KIND:
                self.baseline_checks.append(rec)
        self.check_runs = {run_id for run_id, rec in self.started.items()
                           if rec.payload.get("check") is True}

    @classmethod
    def read(cls, journal: Journal) -> _Facts:
        return cls(journal.records(kinds=[RUN_STARTED, RUN_FINISHED, EVIDENCE,
                                          INSPECTION_KIND, BASELINE_CHECK_KIND]))


def _period(journal: Journal, facts: _Facts, kind: str, label: str, start: datetime,
            end: datetime, calendar: WorkCalendar, now: datetime | None) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    as_of = min(end, now)

    def inside(when: datetime | None) -> bool:
        return when is not None and start <= when < end

    runs = [rec for run_id, rec in facts.started.items()
            if run_id not in facts.check_runs and inside(_when(rec.ts))]
    evidence = [rec for rec in facts.evidence
                if rec.run_id not in facts.check_runs and inside(_when(rec.ts))]
    return {
        "report_version": REPORT_VERSION,
        "kind": kind,
        "period": {"label": label, "kind": kind, "timezone": calendar.timezone,
                   "start": calendar.local(start).isoformat(),
                   "end": calendar.local(end).isoformat(),
                   "last_day": (calendar.local(end) - timedelta(days=1)).date().isoformat(),
                   "as_of": as_of.astimezone(UTC).isoformat(),
                   "started": start <= now, "complete": end <= now},
        "generated_at": now.astimezone(UTC).isoformat(timespec="seconds"),
        "inspections": _inspections([r for r in facts.inspections
                                     if inside(_started_at(r))], calendar),
        "problems": _problems(journal, start, end, calendar, now),
        "runs": _runs(runs, facts),
        "patches": [_patch(r, calendar) for r in evidence if r.payload.get("type") == "patch"],
        "backups": [_backup(r, calendar) for r in evidence if r.payload.get("type") == "backup"],
        "drills": [_drill(r, calendar) for r in evidence
                   if r.payload.get("type") == "restore_drill"],
        "databases": _known_databases(facts, end),
        "baseline_checks": [_baseline_check(r, calendar) for r in facts.baseline_checks
                            if inside(_started_at(r))],
        "baseline_applies": [_baseline_apply(r, facts, calendar) for r in runs
                             if r.payload.get("runbook") == APPLY_BASELINE],
    }


def _verification(journal: Journal) -> dict[str, Any]:
    chain = journal.verify()
    return {"ok": chain.ok, "records": chain.records, "problems": list(chain.problems)}


# --- inspections and baseline checks --------------------------------------------------------


def _inspections(records: list[Record], calendar: WorkCalendar) -> dict[str, Any]:
    held = []
    for rec in sorted(records, key=lambda r: (_started_at(r) or _epoch(), r.seq)):
        p = rec.payload
        summary = _obj(p.get("summary"))
        by_severity = summary.get("by_severity") or {}
        hosts = [h for h in p.get("hosts") or [] if isinstance(h, dict)]
        held.append({
            "run_id": str(p.get("run_id") or rec.run_id),
            "started_at": _local(_started_at(rec), calendar),
            "hosts": int(summary.get("hosts") or len(hosts)),
            "host_names": [str(h.get("host", "")) for h in hosts],
            "roles": sorted({str(h["role"]) for h in hosts if h.get("role")}),
            "score": summary.get("score"),
            "findings": int(summary.get("findings") or 0),
            "by_severity": {str(n): int(by_severity.get(str(n), 0) or 0) for n in (1, 2, 3, 4)},
            "worst_level": summary.get("worst_level"),
            "partial": bool(p.get("partial")),
            "unreachable": [str(h) for h in p.get("unreachable") or []],
            # the contract's "HIS database and its ADG/OGG copies": copies read / expected
            "copies": _obj(summary.get("coverage")).get("copies"),
            "copies_read": _obj(summary.get("coverage")).get("copies_read"),
        })
    return {"count": len(held), "held": held}


def _baseline_check(rec: Record, calendar: WorkCalendar) -> dict[str, Any]:
    p = rec.payload
    summary = _obj(p.get("summary"))
    baseline = _obj(p.get("baseline"))
    return {"run_id": str(p.get("run_id") or rec.run_id),
            "started_at": _local(_started_at(rec), calendar),
            "baseline": str(baseline.get("name") or ""),
            "hosts": int(summary.get("hosts") or 0), "drift": int(summary.get("drift") or 0),
            "error": int(summary.get("error") or 0),
            "unreadable": int(summary.get("unreadable") or 0),
            "failed": bool(summary.get("failed"))}


# --- runbook runs and their evidence --------------------------------------------------------


def _status(run_id: str, facts: _Facts) -> str:
    finished = facts.finished.get(run_id)
    return str(finished.payload.get("status") or "unknown") if finished else "unfinished"


def _runs(started: list[Record], facts: _Facts) -> dict[str, Any]:
    by_runbook: dict[str, Counter[str]] = {}
    statuses: Counter[str] = Counter()
    for rec in started:
        status = _status(rec.run_id, facts)
        by_runbook.setdefault(str(rec.payload.get("runbook") or "?"), Counter())[status] += 1
        statuses[status] += 1
    return {"count": len(started), "succeeded": statuses["succeeded"],
            "failed": statuses["failed"], "by_status": dict(sorted(statuses.items())),
            "by_runbook": {name: dict(sorted(counts.items()))
                           for name, counts in sorted(by_runbook.items())}}


def _patch(rec: Record, calendar: WorkCalendar) -> dict[str, Any]:
    ev: dict[str, Any] = rec.payload["evidence"]
    return {"run_id": rec.run_id, "at": _local(_when(rec.ts), calendar),
            "host": str(ev.get("host") or rec.payload.get("subject") or ""),
            "role": str(ev.get("role") or ""), "strategy": str(ev.get("strategy") or ""),
            "from_version": str(ev.get("from_version") or ""),
            "to_version": str(ev.get("to_version") or ""),
            "passed": ev.get("passed") is True, "rolled_back": ev.get("rolled_back") is True,
            "write_outage_s": _num(ev.get("write_outage_s")),
            "failure": str(ev.get("failure") or "")}


def _backup(rec: Record, calendar: WorkCalendar) -> dict[str, Any]:
    ev: dict[str, Any] = rec.payload["evidence"]
    return {"run_id": rec.run_id, "at": _local(_when(rec.ts), calendar),
            "database": _database(rec), "host": str(ev.get("host") or ""),
            "label": str(ev.get("label") or ""), "kind": str(ev.get("kind") or ""),
            "finished_at": _local(_when(ev.get("finished_at")), calendar),
            "database_bytes": _num(ev.get("database_bytes")),
            "stored_bytes": _num(ev.get("stored_bytes"))}


def _drill(rec: Record, calendar: WorkCalendar) -> dict[str, Any]:
    ev: dict[str, Any] = rec.payload["evidence"]
    backup = _obj(ev.get("backup"))
    parts = [_num(ev.get(k)) for k in ("restore_s", "recovery_s", "checks_s")]
    rto = _num(ev.get("rto_s"))
    if rto is None and all(p is not None for p in parts):
        rto = sum(p or 0.0 for p in parts)
    findings = [f for f in ev.get("findings") or [] if isinstance(f, dict)]
    errors = [f for f in findings if f.get("severity", "error") == "error"]
    first = (errors or findings or [{}])[0]
    return {"run_id": rec.run_id, "at": _local(_when(rec.ts), calendar),
            "database": _database(rec), "passed": ev.get("passed") is True,
            "label": str(backup.get("label") or ""), "rto_s": rto,
            "rpo_s": _num(ev.get("rpo_s")), "scratch_host": str(ev.get("scratch_host") or ""),
            "finding": "" if not first or ev.get("passed") is True else
            f"[{first.get('check', '?')}] {first.get('problem', '')}".strip()}


def _baseline_apply(rec: Record, facts: _Facts, calendar: WorkCalendar) -> dict[str, Any]:
    changed = {str(e.payload.get("subject") or ""): len(e.payload["evidence"].get("changed")
                                                       or [])
               for e in facts.evidence
               if e.run_id == rec.run_id and e.payload.get("type") == "baseline"}
    params = _obj(rec.payload.get("params"))
    return {"run_id": rec.run_id, "at": _local(_when(rec.ts), calendar),
            "operator": str(rec.payload.get("operator") or ""),
            "baseline": str(params.get("baseline") or ""),
            "status": _status(rec.run_id, facts), "hosts_changed": changed}


def _known_databases(facts: _Facts, end: datetime) -> list[str]:
    """Databases with backup or drill evidence before the period's end: those the service
    is expected to prove restorable."""
    return sorted({_database(r) for r in facts.evidence
                   if r.run_id not in facts.check_runs
                   and r.payload.get("type") in ("backup", "restore_drill")
                   and (_when(r.ts) or end) < end} - {""})


def _database(rec: Record) -> str:
    ev: dict[str, Any] = rec.payload["evidence"]
    return str(ev.get("database") or rec.payload.get("subject") or "")


# --- problems ---------------------------------------------------------------------------------


def _problems(journal: Journal, start: datetime, end: datetime, calendar: WorkCalendar,
              now: datetime) -> dict[str, Any]:
    alive = problems_in_period(journal, start, end)
    summary = period_summary(alive, start, end, calendar=calendar, now=now)
    as_of = summary.as_of
    data = summary.to_dict()
    still_open = [_open_problem(p, as_of, calendar) for p in alive
                  if p.found_at < as_of and (p.resolved_at is None or p.resolved_at >= as_of)]
    missed = [_missed(p, d, calendar) for p in alive for clock in p.clocks
              for d in clock_deadlines(clock, calendar, as_of)
              if d.due is not None and start <= d.due < end and d.state in (MISSED, OVERDUE)]
    return {"levels": data["levels"], "total": data["total"], "ids": data["problems"],
            "still_open": sorted(still_open, key=lambda r: (r["severity"], r["found_at"])),
            "missed": sorted(missed, key=lambda r: r["due"]),
            "recurring": [{"id": p.id, "recurrence_of": p.recurrence_of, "host": p.host,
                           "title": p.title, "title_zh": p.title_zh or p.title}
                          for p in alive if p.recurrence_of]}


def _open_problem(p: ProblemState, as_of: datetime, calendar: WorkCalendar) -> dict[str, Any]:
    level = severity_at(p, as_of)
    clock = ([c for c in p.clocks if c.started_at <= as_of] or p.clocks[:1])[-1]
    states = []
    for d in clock_deadlines(clock, calendar, as_of):
        if d.state == NONE or d.due is None:
            continue
        # judged as at the period's end: something done later was not done yet then
        state = d.state
        if d.done_at is not None and d.done_at > as_of:
            state = OVERDUE if d.due < as_of else DUE
        states.append({"name": d.name, "due": _local(d.due, calendar), "state": state})
    return {"id": p.id, "severity": level, "host": p.host, "title": p.title,
            "title_zh": p.title_zh or p.title, "found_at": _local(p.found_at, calendar),
            "owner": p.owner, "recurrence_of": p.recurrence_of, "deadlines": states,
            "overdue": any(s["state"] in (OVERDUE, MISSED) for s in states),
            "met_all": all(s["state"] == MET for s in states)}


def _missed(p: ProblemState, d: Any, calendar: WorkCalendar) -> dict[str, Any]:
    return {"id": p.id, "severity": d.severity, "host": p.host, "title": p.title,
            "title_zh": p.title_zh or p.title, "deadline": d.name,
            "due": _local(d.due, calendar), "done_at": _local(d.done_at, calendar),
            "state": d.state,
            "late_s": int(d.margin.total_seconds()) if d.margin is not None else None}


# --- small helpers ----------------------------------------------------------------------------


def _started_at(rec: Record) -> datetime | None:
    return _when(rec.payload.get("started_at")) or _when(rec.ts)


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        log.warning("unreadable time %r in the journal; ignored", value)
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _epoch() -> datetime:
    return datetime.min.replace(tzinfo=UTC)


def _local(when: datetime | None, calendar: WorkCalendar) -> str | None:
    return calendar.local(when).isoformat(timespec="seconds") if when else None


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


# --- recommendations --------------------------------------------------------------------------
# Each rule reads the collected facts and, when it applies, says what to do and which fact
# made it say so, in both languages. Keep them few, explicit and derived from facts only.


def recommendations(report: dict[str, Any]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for rule in _RULES:
        out.extend(rule(report))
    return out


def _rec(rule: str, text: str, text_zh: str, fact: str, fact_zh: str) -> dict[str, str]:
    return {"rule": rule, "text": text, "text_zh": text_zh, "fact": fact, "fact_zh": fact_zh}


def _no_inspection(report: dict[str, Any]) -> list[dict[str, str]]:
    rows = report.get("quarters") or [{"period": report["period"]["label"],
                                       "started": report["period"]["started"],
                                       "inspections": report["inspections"]["count"]}]
    return [_rec("no_inspection",
                 f"Schedule the quarterly inspection of {row['period']} (hisops inspect), "
                 "including the ADG/OGG disaster-recovery copies.",
                 f"安排 {row['period']} 的季度巡检（hisops inspect），包括 ADG/OGG 容灾库。",
                 f"no inspection was held in {row['period']}; the contract asks for one "
                 "each quarter",
                 f"{row['period']} 未进行巡检；合同要求每季度巡检一次")
            for row in rows if row["started"] and not row["inspections"]]


def _partial_inspection(report: dict[str, Any]) -> list[dict[str, str]]:
    hosts = sorted({h for i in report["inspections"]["held"] if i["partial"]
                    for h in i["unreachable"]})
    if not hosts:
        return []
    names = ", ".join(hosts)
    return [_rec("partial_inspection",
                 f"Inspect again the hosts an inspection could not reach: {names}.",
                 f"对巡检时无法访问的主机重新巡检：{names}。",
                 f"unreachable during an inspection: {names}",
                 f"巡检时无法访问：{names}")]


def _missed_deadlines(report: dict[str, Any]) -> list[dict[str, str]]:
    total = report["problems"]["total"]
    if not total["deadlines_missed"]:
        return []
    per = ", ".join(f"L{n}: {c['deadlines_missed']}"
                    for n, c in report["problems"]["levels"].items() if c["deadlines_missed"])
    return [_rec("missed_deadlines",
                 "Review on-call staffing and the escalation path: contract deadlines were "
                 "missed.",
                 "检查值班人员配置与升级流程：存在未按合同时限处理的问题。",
                 f"{total['deadlines_missed']} deadline(s) missed ({per})",
                 f"{total['deadlines_missed']} 个时限未满足（{per}）")]


def _no_passed_drill(report: dict[str, Any]) -> list[dict[str, str]]:
    if not report["period"]["started"]:
        return []
    proved = {d["database"] for d in report["drills"] if d["passed"]}
    failed = {d["database"] for d in report["drills"] if not d["passed"]}
    out = []
    for name in report["databases"]:
        if name in proved:
            continue
        why = "only failed restore drills" if name in failed else "no restore drill"
        why_zh = "恢复演练均未通过" if name in failed else "未进行恢复演练"
        out.append(_rec("no_passed_drill",
                        f"Run the verify-backup runbook for {name} to prove its backups "
                        "restore.",
                        f"对 {name} 运行 verify-backup 恢复演练，验证备份可恢复。",
                        f"{name}: {why} in {report['period']['label']}",
                        f"{name}：{report['period']['label']} {why_zh}"))
    return out


def _recurring(report: dict[str, Any]) -> list[dict[str, str]]:
    rows = report["problems"]["recurring"]
    if not rows:
        return []
    ids = ", ".join(f"{r['id']} ({r['recurrence_of']})" for r in rows)
    return [_rec("recurring",
                 "Carry out a root-cause analysis of the recurring problems.",
                 "对反复出现的问题进行根因分析。",
                 f"problems that recurred: {ids}", f"复发的问题：{ids}")]


def _open_severe(report: dict[str, Any]) -> list[dict[str, str]]:
    rows = [r for r in report["problems"]["still_open"] if r["severity"] <= 2]
    if not rows:
        return []
    ids = ", ".join(f"{r['id']} (L{r['severity']})" for r in rows)
    return [_rec("open_severe",
                 "Escalate the level-1/2 problems still open to the project manager and the "
                 "hospital.",
                 "将仍未解决的一级/二级问题上报项目经理与院方。",
                 f"level-1/2 problems open at the end: {ids}",
                 f"期末仍未解决的一级/二级问题：{ids}")]


def _failed_runs(report: dict[str, Any]) -> list[dict[str, str]]:
    failed = report["runs"]["failed"] + sum(1 for p in report["patches"] if not p["passed"])
    if not failed:
        return []
    return [_rec("failed_runs",
                 "Review the failed runbook runs and patches (hisops show RUN_ID) and plan "
                 "them again.",
                 "复核失败的运维手册执行与补丁（hisops show RUN_ID），重新安排。",
                 f"{report['runs']['failed']} run(s) failed, "
                 f"{sum(1 for p in report['patches'] if not p['passed'])} patch(es) not passed",
                 f"{report['runs']['failed']} 次执行失败，"
                 f"{sum(1 for p in report['patches'] if not p['passed'])} 个补丁未成功")]


_RULES = (_no_inspection, _partial_inspection, _missed_deadlines, _no_passed_drill,
          _recurring, _open_severe, _failed_runs)
