"""The problem list: findings in, lifecycle, contract deadlines, period summary, CLI.

Every test uses its own SQLite journal; times are fixed (Asia/Shanghai local times turned to
UTC) except where the CLI judges deadlines against the real clock.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from hisops import severity
from hisops.cli import main_group
from hisops.errors import InputError
from hisops.journal import Journal, open_journal
from hisops.problems import (
    Finding,
    ProblemError,
    acknowledge,
    add_note,
    all_deadlines,
    confirm,
    deadlines,
    get_problem,
    is_problem_id,
    load_calendar,
    load_problems,
    next_deadline,
    period_summary,
    problems_in_period,
    quarter_period,
    resolve,
    sync_findings,
    year_period,
)
from hisops.problems import store as store_module
from hisops.problems.workcalendar import WorkCalendar

SH = ZoneInfo("Asia/Shanghai")
HOSTS = {"his-db-1", "his-db-2"}
CAL = WorkCalendar()


def local(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    """A Shanghai wall-clock time, as UTC."""
    return datetime(y, mo, d, h, mi, tzinfo=SH).astimezone(UTC)


def lag(severity: int = 2, host: str = "his-db-2", value: int = 900) -> dict[str, Any]:
    return {"rule": "replication.lag", "host": host, "severity": severity,
            "title": f"standby lag {value} s", "title_zh": f"备库延迟 {value} 秒",
            "detail": f"replay lag {value} s", "recommendation": "check the standby",
            "value": {"lag_s": value}}


def disk(severity: int = 4, host: str = "his-db-1") -> dict[str, Any]:
    return {"rule": "disk.use", "host": host, "subject": "/data", "severity": severity,
            "title": "disk /data 85% full"}


@pytest.fixture(autouse=True)
def _no_calendar_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HISOPS_CALENDAR", raising=False)
    monkeypatch.setenv("HISOPS_OPERATOR", "tester")


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = open_journal(str(tmp_path / "j.sqlite3"))
    try:
        yield j
    finally:
        j.close()


def sync(journal: Journal, findings: list[dict[str, Any]], source: str, at: datetime,
         scope: set[str] | None = None) -> store_module.SyncResult:
    return sync_findings(journal, findings, source=source, observed_at=at,
                         scope=HOSTS if scope is None else scope, calendar=CAL)


def kinds(journal: Journal, pid: str) -> list[str]:
    return [r.kind for r in journal.records(pid)]


# --- findings in ---------------------------------------------------------------------------


def test_findings_open_problems_with_sequential_ids(journal: Journal) -> None:
    t0 = local(2026, 11, 26, 20)
    result = sync(journal, [lag(), disk()], "inspect-1", t0)
    assert result.opened == ["P-2026-0001", "P-2026-0002"]
    assert result.by_key == {"replication.lag|his-db-2|": "P-2026-0001",
                             "disk.use|his-db-1|/data": "P-2026-0002"}
    problem = get_problem(journal, "p-2026-0001")  # ids are case-insensitive
    assert (problem.status, problem.severity, problem.host) == ("open", 2, "his-db-2")
    assert problem.found_at == t0
    assert problem.source == "inspect-1"
    assert problem.opened_by == "tester"
    assert problem.value == {"lag_s": 900}
    assert kinds(journal, "P-2026-0001") == ["problem.opened"]
    # a new key later in the year takes the next number
    later = sync(journal, [lag(), disk(), lag(3, host="his-db-1")], "inspect-2",
                 t0 + timedelta(days=1))
    assert later.opened == ["P-2026-0003"]


def test_ids_restart_each_year_in_the_service_time_zone(journal: Journal) -> None:
    sync(journal, [lag()], "inspect-1", local(2026, 12, 31, 23))
    # 2027-01-01 01:00 in Shanghai is still 2026 in UTC: the service's year counts
    new_year = local(2027, 1, 1, 1)
    assert new_year.year == 2026
    result = sync(journal, [lag(), disk()], "inspect-2", new_year)
    assert result.opened == ["P-2027-0001"]
    result = sync(journal, [lag(), disk(), lag(host="his-db-1")], "inspect-3",
                  local(2027, 2, 1))
    assert result.opened == ["P-2027-0002"]
    assert all(is_problem_id(pid) for pid in load_problems(journal))


def test_seen_again_updates_and_same_source_is_idempotent(journal: Journal) -> None:
    t0 = local(2026, 11, 26, 20)
    sync(journal, [lag(value=900)], "inspect-1", t0)
    again = sync(journal, [lag(value=900)], "inspect-1", t0)
    assert again.opened == []
    assert again.updated == []
    assert kinds(journal, "P-2026-0001") == ["problem.opened"]
    result = sync(journal, [lag(value=1200)], "inspect-2", t0 + timedelta(days=90))
    assert result.updated == ["P-2026-0001"]
    assert result.opened == []
    problem = get_problem(journal, "P-2026-0001")
    assert problem.occurrences == 2
    assert problem.last_seen == t0 + timedelta(days=90)
    assert problem.last_source == "inspect-2"
    assert problem.value == {"lag_s": 1200}
    assert problem.detail == "replay lag 1200 s"
    assert problem.found_at == t0  # the clock still runs from when it was found


def test_worse_severity_escalates_and_restarts_the_clock(journal: Journal) -> None:
    t0 = local(2026, 11, 26, 10)  # a Thursday
    sync(journal, [lag(3)], "inspect-1", t0)
    acknowledge(journal, "P-2026-0001", owner="wang", at=t0 + timedelta(minutes=20))
    t1 = t0 + timedelta(hours=8)
    result = sync(journal, [lag(1)], "inspect-2", t1)
    assert result.escalated == ["P-2026-0001"]
    problem = get_problem(journal, "P-2026-0001")
    assert problem.severity == 1
    assert problem.status == "open"  # a response is owed again, at the new level
    assert problem.owner == "wang"
    assert kinds(journal, "P-2026-0001")[-2:] == ["problem.seen", "problem.escalated"]
    now = t1 + timedelta(minutes=10)
    current = {d.name: d for d in deadlines(problem, CAL, now)}
    assert current["respond"].due == t1
    assert current["respond"].state == "overdue"
    assert current["solution"].due == t1 + timedelta(hours=1)
    assert current["resolve"].due == t1 + timedelta(hours=6)
    # the level-3 solution (6 h) fell due before the escalation and was not given: missed,
    # and stays missed; its response was met; its resolution was superseded
    earlier = {d.name: d for d in all_deadlines(problem, CAL, now) if d.severity == 3}
    assert earlier["respond"].state == "met"
    assert earlier["solution"].state == "missed"
    assert earlier["resolve"].state == "superseded"


def test_better_severity_keeps_the_worse_level(journal: Journal) -> None:
    t0 = local(2026, 11, 26, 10)
    sync(journal, [lag(2)], "inspect-1", t0)
    result = sync(journal, [lag(4)], "inspect-2", t0 + timedelta(days=1))
    assert result.escalated == []
    problem = get_problem(journal, "P-2026-0001")
    assert problem.severity == 2
    assert problem.last_observed_severity == 4
    assert len(problem.clocks) == 1


def test_gone_in_scope_is_to_confirm_never_closed(journal: Journal) -> None:
    t0 = local(2026, 11, 26, 10)
    sync(journal, [lag(host="his-db-1"), lag(host="his-db-2")], "inspect-1", t0)
    # his-db-2 was unreachable: not in scope, so its problem must stay open
    result = sync(journal, [], "inspect-2", t0 + timedelta(days=90), scope={"his-db-1"})
    assert result.to_confirm == ["P-2026-0001"]
    one, two = get_problem(journal, "P-2026-0001"), get_problem(journal, "P-2026-0002")
    assert one.status == "to_confirm"
    assert one.resolved_at is None
    assert one.to_confirm_source == "inspect-2"
    assert "gone from inspection inspect-2; confirm to close" in \
        journal.records("P-2026-0001")[-1].payload["reason"]
    assert two.status == "open"
    # still gone next time: nothing more is journaled
    sync(journal, [], "inspect-3", t0 + timedelta(days=180), scope=HOSTS)
    assert kinds(journal, "P-2026-0001") == ["problem.opened", "problem.to_confirm"]
    assert get_problem(journal, "P-2026-0002").status == "to_confirm"


def test_to_confirm_seen_again_reopens(journal: Journal) -> None:
    t0 = local(2026, 11, 26, 10)
    sync(journal, [lag(3)], "inspect-1", t0)
    sync(journal, [], "inspect-2", t0 + timedelta(days=1))
    result = sync(journal, [lag(3)], "inspect-3", t0 + timedelta(days=2))
    assert result.reopened == ["P-2026-0001"]
    assert result.opened == []
    problem = get_problem(journal, "P-2026-0001")
    assert problem.status == "open"
    assert problem.to_confirm_since is None
    assert kinds(journal, "P-2026-0001") == [
        "problem.opened", "problem.to_confirm", "problem.reopened", "problem.seen"]


def test_resolved_key_seen_again_is_a_recurrence(journal: Journal) -> None:
    t0 = local(2026, 11, 26, 10)
    sync(journal, [lag()], "inspect-1", t0)
    resolve(journal, "P-2026-0001", note="restarted the apply process",
            at=t0 + timedelta(hours=2))
    result = sync(journal, [lag()], "inspect-2", t0 + timedelta(days=30))
    assert result.opened == ["P-2026-0002"]
    assert result.recurrences == {"P-2026-0002": "P-2026-0001"}
    old, new = get_problem(journal, "P-2026-0001"), get_problem(journal, "P-2026-0002")
    assert old.status == "resolved"
    assert old.recurred_as == ["P-2026-0002"]
    assert new.recurrence_of == "P-2026-0001"
    assert new.status == "open"


def test_bad_findings_are_refused(journal: Journal) -> None:
    t0 = local(2026, 11, 26, 10)
    with pytest.raises(InputError, match="severity"):
        sync(journal, [lag(5)], "inspect-1", t0)
    with pytest.raises(InputError, match="severity: must be the number"):
        sync(journal, [lag("2")], "inspect-1", t0)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="unknown finding field"):
        sync(journal, [{**lag(), "sev": 2}], "inspect-1", t0)
    with pytest.raises(InputError, match="given twice"):
        sync(journal, [lag(), lag()], "inspect-1", t0)
    with pytest.raises(InputError, match="time zone"):
        sync(journal, [lag()], "inspect-1", datetime(2026, 11, 26, 10))  # naive
    with pytest.raises(InputError, match="collection of hosts"):
        sync_findings(journal, [lag()], source="x", observed_at=t0, scope="his-db-1")
    with pytest.raises(InputError, match="value must be JSON"):
        Finding(rule="r", host="h", severity=1, title="t", value=object())
    assert load_problems(journal) == {}
    assert Finding(rule="r", host="h", severity=1, title="t", subject="s").key == "r|h|s"


def test_concurrent_write_is_detected_and_decided_again(journal: Journal, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    """Another process opens a problem between our read and our append: we must not reuse
    its id, nor act on the stale read."""
    other = open_journal(str(tmp_path / "j.sqlite3"))
    real_snapshot = store_module._snapshot
    calls = {"n": 0}

    def racing(j: Journal) -> Any:
        snap = real_snapshot(j)
        calls["n"] += 1
        if calls["n"] == 1:
            sync_findings(other, [disk()], source="inspect-other",
                          observed_at=local(2026, 11, 26, 9), scope=set(), calendar=CAL)
        return snap

    monkeypatch.setattr(store_module, "_snapshot", racing)
    try:
        result = sync(journal, [lag()], "inspect-1", local(2026, 11, 26, 10), scope=set())
    finally:
        other.close()
    assert calls["n"] >= 3  # the racing sync read once, ours twice
    assert result.opened == ["P-2026-0002"]
    assert sorted(load_problems(journal)) == ["P-2026-0001", "P-2026-0002"]
    assert journal.verify().ok


def test_parallel_syncs_open_one_problem_per_key(tmp_path: Path) -> None:
    path = str(tmp_path / "j.sqlite3")
    open_journal(path).close()
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            with open_journal(path) as j:
                findings = [lag(), disk(), lag(host=f"h{n}")]
                sync_findings(j, findings, source=f"inspect-{n}",
                              observed_at=local(2026, 11, 26, 10), scope=set(), calendar=CAL)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with open_journal(path) as j:
        problems = load_problems(j)
        keys = [p.key for p in problems.values()]
        assert len(keys) == len(set(keys)) == 8  # lag, disk, and one per worker
        assert sorted(problems) == [f"P-2026-{n:04d}" for n in range(1, 9)]
        assert j.verify().ok


# --- lifecycle -----------------------------------------------------------------------------


def test_lifecycle_ack_note_resolve(journal: Journal) -> None:
    t0 = local(2026, 11, 26, 10)
    sync(journal, [lag(3)], "inspect-1", t0)
    p = acknowledge(journal, "P-2026-0001", owner="wang", note="looking",
                    at=t0 + timedelta(minutes=30))
    assert (p.status, p.owner, p.clock.responded_at) == (
        "acknowledged", "wang", t0 + timedelta(minutes=30))
    p = add_note(journal, "P-2026-0001", "raised max_wal_senders", solution=True,
                 operator="li", at=t0 + timedelta(hours=2))
    assert p.clock.solution_at == t0 + timedelta(hours=2)
    p = resolve(journal, "P-2026-0001", note="standby caught up", at=t0 + timedelta(hours=5))
    assert p.status == "resolved"
    assert p.resolution == "standby caught up"
    assert [n["via"] for n in p.notes] == ["ack", "solution", "resolve"]
    assert [n["operator"] for n in p.notes] == ["tester", "li", "tester"]
    assert {d.name: d.state for d in deadlines(p, CAL)} == {
        "respond": "met", "solution": "met", "resolve": "met"}
    assert kinds(journal, "P-2026-0001") == [
        "problem.opened", "problem.acknowledged", "problem.noted", "problem.resolved"]
    assert all(r.payload["operator"] and r.payload["at"] for r in journal.records("P-2026-0001"))
    assert journal.verify().ok


def test_bad_transitions_are_refused(journal: Journal) -> None:
    t0 = local(2026, 11, 26, 10)
    sync(journal, [lag(), disk()], "inspect-1", t0)
    with pytest.raises(ProblemError, match="cannot confirm P-2026-0001: it is open"):
        confirm(journal, "P-2026-0001")
    with pytest.raises(ProblemError, match="no problem P-2026-0099"):
        acknowledge(journal, "P-2026-0099", owner="wang")
    with pytest.raises(InputError, match="resolve --note must not be empty"):
        resolve(journal, "P-2026-0001", note="  ")
    resolve(journal, "P-2026-0001", note="fixed")
    with pytest.raises(ProblemError, match="cannot resolve P-2026-0001: it is resolved"):
        resolve(journal, "P-2026-0001", note="again")
    with pytest.raises(ProblemError, match="cannot acknowledge"):
        acknowledge(journal, "P-2026-0001", owner="wang")
    # a plain note on a resolved problem is fine; a solution is not
    add_note(journal, "P-2026-0001", "customer informed")
    with pytest.raises(ProblemError):
        add_note(journal, "P-2026-0001", "workaround", solution=True)
    sync(journal, [], "inspect-2", t0 + timedelta(days=1))
    with pytest.raises(ProblemError, match="cannot acknowledge P-2026-0002: it is to_confirm"):
        acknowledge(journal, "P-2026-0002", owner="wang")
    p = confirm(journal, "P-2026-0002", note="cleaned /data", at=t0 + timedelta(days=2))
    assert p.status == "resolved"
    assert p.confirmed
    assert p.resolution == "cleaned /data"


# --- deadlines -----------------------------------------------------------------------------


@pytest.mark.parametrize(("level", "respond", "solution", "resolve_"), [
    (1, timedelta(0), timedelta(hours=1), timedelta(hours=6)),
    (2, timedelta(minutes=30), timedelta(hours=1), timedelta(hours=12)),
    (3, timedelta(hours=1), timedelta(hours=6), timedelta(hours=24)),
])
def test_hour_limits_are_wall_clock(journal: Journal, level: int, respond: timedelta,
                                    solution: timedelta, resolve_: timedelta) -> None:
    t0 = local(2026, 11, 29, 3)  # a Sunday, 3 a.m.: the clock runs anyway
    sync(journal, [lag(level)], "inspect-1", t0)
    due = {d.name: d.due for d in deadlines(get_problem(journal, "P-2026-0001"), CAL, t0)}
    assert due == {"respond": t0 + respond, "solution": t0 + solution,
                   "resolve": t0 + resolve_}


@pytest.mark.parametrize(("found", "calendar", "expected"), [
    # Thursday 10:00 + 3 h wall clock; solution 1 working day: Friday 10:00
    (local(2026, 11, 26, 10), CAL, local(2026, 11, 27, 10)),
    # Friday 16:00: 1.5 h on Friday, 8 h on Monday
    (local(2026, 11, 27, 16), CAL, local(2026, 11, 30, 16)),
    # Saturday 03:00: the whole of Monday
    (local(2026, 11, 28, 3), CAL, local(2026, 11, 30, 17, 30)),
    # Friday 16:00 with Monday a holiday: Tuesday
    (local(2026, 11, 27, 16), WorkCalendar(holidays=frozenset({date(2026, 11, 30)})),
     local(2026, 12, 1, 16)),
    # Friday 16:00 with Saturday worked instead (调休)
    (local(2026, 11, 27, 16), WorkCalendar(working_days=frozenset({date(2026, 11, 28)})),
     local(2026, 11, 28, 16)),
])
def test_level_4_solution_in_working_days(journal: Journal, found: datetime,
                                          calendar: WorkCalendar, expected: datetime) -> None:
    sync(journal, [disk(4)], "inspect-1", found)
    due = {d.name: d for d in deadlines(get_problem(journal, "P-2026-0001"), calendar, found)}
    assert due["respond"].due == found + timedelta(hours=3)
    assert due["solution"].due == expected
    assert due["resolve"].due is None
    assert due["resolve"].state == "none"


def test_application_levels_use_working_days(journal: Journal) -> None:
    found = local(2026, 11, 27, 16)  # Friday
    sync(journal, [{**disk(4), "scale": "application"}], "inspect-1", found)
    due = {d.name: d.due for d in deadlines(get_problem(journal, "P-2026-0001"), CAL, found)}
    assert due == {"respond": local(2026, 11, 30, 16), "solution": local(2026, 12, 1, 16),
                   "resolve": None}
    assert severity.level(3, "application").limit("respond") == severity.Limit(
        wall=timedelta(hours=4))


def test_deadline_states(journal: Journal) -> None:
    t0 = local(2026, 11, 26, 10)
    sync(journal, [lag(2), lag(2, host="his-db-1")], "inspect-1", t0)
    acknowledge(journal, "P-2026-0001", owner="wang", at=t0 + timedelta(minutes=10))
    acknowledge(journal, "P-2026-0002", owner="li", at=t0 + timedelta(minutes=45))
    now = t0 + timedelta(minutes=50)
    on_time = {d.name: d for d in deadlines(get_problem(journal, "P-2026-0001"), CAL, now)}
    late = {d.name: d for d in deadlines(get_problem(journal, "P-2026-0002"), CAL, now)}
    assert on_time["respond"].state == "met"
    assert on_time["respond"].done_at == t0 + timedelta(minutes=10)
    assert late["respond"].state == "missed"
    assert late["respond"].margin == timedelta(minutes=15)
    assert on_time["solution"].state == "due"
    assert on_time["solution"].margin == timedelta(
        minutes=10)
    assert "due in 10m" in on_time["solution"].describe(CAL)
    later = t0 + timedelta(hours=3)
    upcoming = next_deadline(get_problem(journal, "P-2026-0001"), CAL, later)
    assert upcoming is not None
    assert upcoming.name == "solution"
    assert upcoming.state == "overdue"
    assert "overdue by 2h 00m" in upcoming.describe(CAL)


def test_level_helpers_keep_their_api() -> None:
    assert severity.level(2) is severity.LEVELS[2]
    assert severity.LEVELS[4].solution_within == timedelta(days=1)
    assert severity.LEVELS[4].limit("solution") == severity.Limit(working_days=1)
    assert severity.LEVELS[1].limit("respond") == severity.Limit(wall=timedelta(0))
    assert severity.LEVELS[4].limit("resolve") is None
    assert severity.LEVELS[1].limit("respond").text() == "at once"  # type: ignore[union-attr]
    for bad in (0, 5, True, "x", None):
        with pytest.raises(ValueError, match="severity must be"):
            severity.level(bad)  # type: ignore[arg-type]


# --- the calendar --------------------------------------------------------------------------


def test_calendar_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "calendar.yml"
    path.write_text("timezone: Asia/Shanghai\nhours: '09:00-18:00'\n"
                    "weekdays: [mon, tue, wed, thu, fri]\n"
                    "holidays: ['2026-10-01..2026-10-07']\nworking_days: ['2026-09-27']\n")
    monkeypatch.setenv("HISOPS_CALENDAR", str(path))
    cal = load_calendar()
    assert (cal.start, cal.end) == (time(9), time(18))
    assert not cal.is_working_day(date(2026, 10, 5))
    assert cal.is_working_day(date(2026, 9, 27))
    # Wednesday 30 September 17:00: 1 h that day, then the holiday week, then Thursday 8 Oct
    assert cal.add_working_days(local(2026, 9, 30, 17), 1) == local(2026, 10, 8, 17)


@pytest.mark.parametrize(("text", "message"), [
    ("timezone: Asia/Shanghai\nholyday: []\n", r"calendar.yml:2: holyday: unknown key"),
    ("hours: 8-5\n", "hours must be HH:MM-HH:MM"),
    ("hours: '17:30-08:00'\n", "must end after they start"),
    ("weekdays: [mon, funday]\n", r"weekdays.1: not a weekday"),
    ("holidays: ['2026-13-01']\n", r"holidays.0: not a date"),
    ("timezone: Mars/Olympus\n", "unknown time zone"),
])
def test_calendar_file_errors_name_file_and_line(tmp_path: Path, text: str,
                                                 message: str) -> None:
    path = tmp_path / "calendar.yml"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        load_calendar(path)


# --- the period summary --------------------------------------------------------------------


def test_period_summary(journal: Journal) -> None:
    q4 = quarter_period("2026Q4", CAL)
    assert q4 == (local(2026, 10, 1), local(2027, 1, 1))
    assert year_period(2026, CAL) == (local(2026, 1, 1), local(2027, 1, 1))
    # Q3: a level-3 problem left open into Q4
    sync(journal, [lag(3, host="his-db-1")], "inspect-q3", local(2026, 9, 15, 10))
    acknowledge(journal, "P-2026-0001", owner="wang", at=local(2026, 9, 15, 10, 30))
    # Q4: a level-2 problem, response met, resolved late (deadline 12 h)
    t = local(2026, 11, 26, 10)
    sync(journal, [lag(3, host="his-db-1"), lag(2)], "inspect-q4", t)
    acknowledge(journal, "P-2026-0002", owner="li", at=t + timedelta(minutes=20))
    resolve(journal, "P-2026-0002", note="rebuilt the standby", at=t + timedelta(hours=13))
    # Q4: a level-4 problem, untouched
    sync(journal, [lag(3, host="his-db-1"), disk(4)], "inspect-q4b", t + timedelta(days=1))
    now = t + timedelta(days=5)  # Tuesday 1 December
    problems = problems_in_period(journal, *q4)
    assert [p.id for p in problems] == ["P-2026-0002", "P-2026-0001", "P-2026-0003"]
    summary = period_summary(problems, *q4, calendar=CAL, now=now)
    lv = summary.levels
    assert (lv[2].opened, lv[2].resolved, lv[2].still_open) == (1, 1, 0)
    assert (lv[3].opened, lv[3].still_open) == (0, 1)  # opened in Q3
    assert (lv[4].opened, lv[4].still_open) == (1, 1)
    # level 2: respond met; solution (1 h) and resolve (12 h) met only at resolution: missed
    assert (lv[2].deadlines_met, lv[2].deadlines_missed) == (1, 2)
    assert lv[2].by_deadline["respond"] == {"met": 1, "missed": 0, "pending": 0}
    # level 3's deadlines fell due in Q3: not counted in Q4
    assert (lv[3].deadlines_met, lv[3].deadlines_missed) == (0, 0)
    # level 4: respond (3 h) overdue -> missed; solution (1 working day) overdue -> missed
    assert (lv[4].deadlines_met, lv[4].deadlines_missed) == (0, 2)
    assert summary.total.opened == 2
    assert summary.total.compliance == pytest.approx(1 / 5)
    # on Sunday the level-4 solution (due Monday 10:00) is still pending, not missed
    sunday = period_summary(problems, *q4, calendar=CAL, now=t + timedelta(days=3))
    assert (sunday.levels[4].deadlines_missed, sunday.levels[4].deadlines_pending) == (1, 1)
    q3 = period_summary(problems_in_period(journal, *quarter_period("2026Q3", CAL)),
                        *quarter_period("2026Q3", CAL), calendar=CAL, now=now)
    assert q3.levels[3].opened == 1
    assert q3.levels[3].still_open == 1
    assert q3.levels[3].deadlines_met == 1  # the response; solution and resolution missed
    assert q3.levels[3].deadlines_missed == 2
    assert json.loads(json.dumps(summary.to_dict()))["total"]["opened"] == 2
    with pytest.raises(InputError):
        quarter_period("2026Q5")


# --- the command line ----------------------------------------------------------------------


@dataclass(frozen=True)
class CliJournal:
    """A journal with three problems found against the real clock (the CLI judges deadlines
    against now): P-Y-0001 lag on his-db-2 and P-Y-0003 lag on his-db-1 (open), P-Y-0002
    disk (to_confirm). ``P-Y-`` in arguments and expectations stands for this year's prefix."""

    path: str
    prefix: str

    def ids(self, text: str) -> str:
        return text.replace("P-Y-", self.prefix)


def cli(journal: CliJournal, *args: str) -> Any:
    return CliRunner().invoke(main_group,
                              ["--journal", journal.path, "problems",
                               *(journal.ids(a) for a in args)],
                              env={"HISOPS_OPERATOR": "operator-x"})


def ids_of(journal: CliJournal, data: list[dict[str, Any]]) -> list[str]:
    return [p["id"].replace(journal.prefix, "P-Y-") for p in data]


@pytest.fixture
def cli_journal(tmp_path: Path) -> CliJournal:
    path = str(tmp_path / "cli.sqlite3")
    found = datetime.now(UTC) - timedelta(hours=2)
    with open_journal(path) as j:
        sync_findings(j, [lag(2), disk(4), lag(3, host="his-db-1")], source="inspect-1",
                      observed_at=found, scope=HOSTS, calendar=CAL)
        sync_findings(j, [lag(2), lag(3, host="his-db-1")], source="inspect-2",
                      observed_at=found + timedelta(minutes=119), scope={"his-db-1"},
                      calendar=CAL)
    return CliJournal(path, f"P-{CAL.local(found).year}-")


def listed(journal: CliJournal, *args: str) -> list[str]:
    """The ids ``list --json ARGS`` prints, with the year as ``P-Y-``."""
    result = cli(journal, "list", "--json", *args)
    assert result.exit_code == 0, result.output
    return ids_of(journal, json.loads(result.output))


def test_cli_list(cli_journal: CliJournal) -> None:
    result = cli(cli_journal, "list")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:4] == ["id", "sev", "status", "host"]
    assert [line.split()[0] for line in lines[1:4]] == [
        cli_journal.ids(pid) for pid in ("P-Y-0001", "P-Y-0003", "P-Y-0002")
    ]  # severity, then found
    assert " respond " in lines[1]
    assert " overdue " in lines[1]
    data = json.loads(cli(cli_journal, "list", "--json").output)
    assert [p["status"] for p in data] == ["open", "open", "to_confirm"]
    assert data[0]["next_deadline"]["state"] == "overdue"
    assert listed(cli_journal, "--severity", "3") == ["P-Y-0003"]
    assert listed(cli_journal, "--host", "his-db-1") == ["P-Y-0003", "P-Y-0002"]
    assert listed(cli_journal, "--status", "to_confirm") == ["P-Y-0002"]
    # level 2 and 3 found 2 h ago with no response are overdue; the level-4 one (3 h) is not
    assert listed(cli_journal, "--overdue") == ["P-Y-0001", "P-Y-0003"]
    assert cli(cli_journal, "list", "--severity", "5").exit_code == 2


def test_cli_lifecycle(cli_journal: CliJournal) -> None:
    result = cli(cli_journal, "ack", "P-Y-0001", "--owner", "wang", "--note", "on it")
    assert result.exit_code == 0, result.output
    assert cli_journal.ids("acknowledged P-Y-0001 (acknowledged); next: solution by") in \
        result.output
    assert cli(cli_journal, "note", "P-Y-0001", "failed over the apply",
               "--solution").exit_code == 0
    result = cli(cli_journal, "resolve", "P-Y-0001", "--note", "standby rebuilt")
    assert result.exit_code == 0, result.output
    result = cli(cli_journal, "confirm", "P-Y-0002", "--note", "cleaned up")
    assert result.exit_code == 0
    assert cli_journal.ids("confirmed P-Y-0002 (resolved)") in result.output
    shown = json.loads(cli(cli_journal, "show", "P-Y-0001", "--json").output)
    assert shown["status"] == "resolved"
    assert shown["owner"] == "wang"
    assert [n["text"] for n in shown["notes"]] == ["on it", "failed over the apply",
                                                   "standby rebuilt"]
    assert [e["kind"] for e in shown["timeline"]] == [
        "problem.opened", "problem.seen", "problem.acknowledged", "problem.noted",
        "problem.resolved"]
    assert shown["timeline"][2]["payload"]["operator"] == "operator-x"
    text = cli(cli_journal, "show", cli_journal.ids("P-Y-0001").lower()).output
    assert "resolved" in text
    assert "standby rebuilt" in text
    assert "timeline:" in text
    assert listed(cli_journal) == ["P-Y-0003"]
    assert len(json.loads(cli(cli_journal, "list", "--status", "all", "--json").output)) == 3


@pytest.mark.parametrize(("args", "message"), [
    (["show", "P-Y-0042"], "no problem P-Y-0042"),
    (["ack", "nonsense", "--owner", "wang"], "no problem nonsense"),
    (["ack", "P-Y-0001", "--owner", " "], "owner must not be empty"),
    (["confirm", "P-Y-0001"], "cannot confirm P-Y-0001: it is open"),
    (["resolve", "P-Y-0001"], "Missing option '--note'"),
    (["note", "P-Y-0002", "x", "--solution"], None),  # to_confirm: a solution is fine
])
def test_cli_errors_exit_2_in_one_line(cli_journal: CliJournal, args: list[str],
                                       message: str | None) -> None:
    result = cli(cli_journal, *args)
    if message is None:
        assert result.exit_code == 0, result.output
        return
    assert result.exit_code == 2, result.output
    assert cli_journal.ids(message) in result.output
    if "Missing" not in message:
        assert result.output.startswith("hisops: error: ")
        assert len(result.output.strip().splitlines()) == 1


def test_cli_resolving_twice_exits_2(cli_journal: CliJournal) -> None:
    assert cli(cli_journal, "resolve", "P-Y-0003", "--note", "vacuumed").exit_code == 0
    result = cli(cli_journal, "resolve", "P-Y-0003", "--note", "again")
    assert result.exit_code == 2
    assert cli_journal.ids("cannot resolve P-Y-0003: it is resolved") in result.output


def test_cli_calendar_option(cli_journal: CliJournal, tmp_path: Path) -> None:
    bad = tmp_path / "cal.yml"
    bad.write_text("hours: never\n")
    result = CliRunner().invoke(main_group, ["--journal", cli_journal.path, "problems",
                                             "--calendar", str(bad), "list"])
    assert result.exit_code == 2
    assert "cal.yml:1: hours" in result.output
