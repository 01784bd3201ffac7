"""Quarterly and annual service reports: counts from a synthetic journal, the period's bounds,
recommendations, JSON, HTML (zh/en, escaped) and the CLI.

Record times are set by pinning the journal's clock (``hisops.journal.base.utc_now``); problem
times come from the problems API's ``at=`` / ``observed_at=``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

import hisops.journal.base as journal_base
from hisops.cli import main_group
from hisops.journal import Journal, open_journal
from hisops.problems import acknowledge, add_note, resolve, sync_findings
from hisops.problems.workcalendar import WorkCalendar
from hisops.servicereport import collect_annual, collect_quarter, render_html, to_json
from hisops.servicereport.collect import current_quarter

SH = ZoneInfo("Asia/Shanghai")
CAL = WorkCalendar()
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
EVIL = "<script>alert('x')</script>"


def local(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    """A Shanghai wall-clock time, as UTC."""
    return datetime(y, mo, d, h, mi, tzinfo=SH).astimezone(UTC)


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = open_journal(str(tmp_path / "j.sqlite3"))
    yield j
    j.close()


@pytest.fixture
def at(monkeypatch: pytest.MonkeyPatch) -> Callable[[datetime], None]:
    """Pin the time the journal stamps on the records appended next."""
    def pin(when: datetime) -> None:
        monkeypatch.setattr(journal_base, "utc_now",
                            lambda: when.astimezone(UTC).isoformat(timespec="microseconds"))
    return pin


def finding(host: str, severity: int, title: str = "standby lag") -> dict[str, Any]:
    return {"rule": "replication.lag", "host": host, "severity": severity, "title": title,
            "title_zh": title + "（中文）"}


def open_problem(journal: Journal, host: str, severity: int, when: datetime,
                 title: str = "standby lag") -> str:
    result = sync_findings(journal, [finding(host, severity, title)], source=f"inspect-{host}",
                           observed_at=when, scope={host}, calendar=CAL)
    return next(iter(result.by_key.values()))


def inspection(journal: Journal, run_id: str, started: datetime, *, partial: bool = False,
               host: str = "his-db-1") -> None:
    journal.append(run_id, "inspection.run", {
        "kind": "inspection", "run_id": run_id, "inventory": "inv.yml", "limit": None,
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": started.isoformat(timespec="seconds"), "duration_s": 12.5,
        "partial": partial, "unreachable": ["his-db-9"] if partial else [],
        "summary": {"hosts": 2, "findings": 3, "by_severity": {"1": 0, "2": 1, "3": 2, "4": 0},
                    "score": 82, "worst_level": 2,
                    "coverage": {"primaries": 1, "copies": 2, "copies_read": 1,
                                 "copies_replicating": 1, "os_only": []}},
        "hosts": [{"host": host, "groups": ["db_primary"], "role": "primary", "error": None,
                   "findings": [], "score": 82},
                  {"host": "his-db-2", "groups": ["db_standby"], "role": "standby",
                   "error": None, "findings": [], "score": 90}]})


def run(journal: Journal, run_id: str, runbook: str, status: str,
        evidence: list[tuple[str, str, dict[str, Any]]] = (),  # type: ignore[assignment]
        *, check: bool = False, params: dict[str, Any] | None = None) -> None:
    journal.append(run_id, "run.started", {
        "runbook": runbook, "runbook_path": f"runbooks/{runbook}.yml", "operator": "wang",
        "params": params or {}, "inventory": "inv.yml", "limit": None, "check": check,
        "pid": 1, "machine": "ops"})
    for kind, subject, ev in evidence:
        journal.append(run_id, "evidence.recorded",
                       {"step": "s", "type": kind, "subject": subject, "evidence": ev})
    journal.append(run_id, "run.finished", {"status": status, "rc": 0 if status ==
                                            "succeeded" else 1, "detail": ""})


PATCH = {"host": "his-db-1", "role": "primary", "strategy": "switchover",
         "from_version": "15.6", "to_version": "15.8", "passed": True, "rolled_back": False,
         "failure": "", "write_outage_s": 3.2}
BACKUP = {"engine": "postgresql", "database": "his", "host": "his-db-1", "label": "20260805F",
          "kind": "full", "finished_at": "2026-08-05T01:00:00+00:00",
          "database_bytes": 3 * 1024**3, "stored_bytes": 1024**3}


def drill(database: str, passed: bool) -> dict[str, Any]:
    return {"engine": "postgresql", "database": database, "passed": passed,
            "backup": {"label": "20260805F", "finished_at": "2026-08-05T01:00:00+00:00"},
            "restore_s": 100.0, "recovery_s": 20.0, "checks_s": 5.0, "rpo_s": 60.0,
            "scratch_host": "scratch-1",
            "findings": [] if passed else [{"check": "rows", "problem": "table empty",
                                            "severity": "error"}]}


@pytest.fixture
def q3(journal: Journal, at: Callable[[datetime], None]) -> Journal:
    """2026Q3 with everything in it, and records before and after that must not count."""
    # Q2: excluded everywhere
    at(local(2026, 5, 5, 9))
    inspection(journal, "inspect-q2", local(2026, 5, 5, 9))
    run(journal, "run-q2", "backup", "succeeded", [("backup", "his", BACKUP)])
    old = open_problem(journal, "his-db-4", 3, local(2026, 5, 5, 9))
    resolve(journal, old, note="fixed", at=local(2026, 5, 5, 12))
    # Q3
    at(local(2026, 8, 3, 9))
    inspection(journal, "inspect-q3", local(2026, 8, 3, 9), partial=True)
    run(journal, "run-patch", "patch-postgres", "succeeded", [("patch", "his-db-1", PATCH)])
    run(journal, "run-backup", "backup", "succeeded", [("backup", "his", BACKUP)])
    run(journal, "run-drill-ok", "verify-backup", "succeeded",
        [("restore_drill", "his", drill("his", True))])
    run(journal, "run-drill-bad", "verify-backup", "failed",
        [("restore_drill", "emr", drill("emr", False))])
    run(journal, "run-apply", "apply-baseline", "succeeded",
        [("baseline", "his-db-1", {"changed": ["setting a", "setting b"]})],
        params={"baseline": "pg15-his"})
    run(journal, "run-dry", "patch-postgres", "succeeded", [("patch", "his-db-1", PATCH)],
        check=True)
    journal.append("bl-1", "baseline.check", {
        "kind": "baseline", "run_id": "bl-1", "started_at": local(2026, 8, 4, 9).isoformat(),
        "baseline": {"name": "pg15-his"},
        "summary": {"hosts": 2, "unreadable": 0, "drift": 3, "error": 0, "failed": True}})
    # met: level 3, everything in time
    met = open_problem(journal, "his-db-1", 3, local(2026, 8, 3, 10))
    acknowledge(journal, met, owner="wang", at=local(2026, 8, 3, 10, 30))
    add_note(journal, met, "workaround", solution=True, at=local(2026, 8, 3, 12))
    resolve(journal, met, note="fixed", at=local(2026, 8, 3, 15))
    # missed: level 2 acknowledged after 2 h (respond 30 min), resolved after 3 h (solution 1 h)
    late = open_problem(journal, "his-db-2", 2, local(2026, 8, 10, 10))
    acknowledge(journal, late, owner="li", at=local(2026, 8, 10, 12))
    resolve(journal, late, note="fixed", at=local(2026, 8, 10, 13))
    # still open: level 2 found on the quarter's last evening; resolve falls due in Q4
    open_problem(journal, "his-db-3", 2, local(2026, 9, 30, 20), title=EVIL)
    # Q4: excluded from Q3
    at(local(2026, 10, 12, 9))
    inspection(journal, "inspect-q4", local(2026, 10, 12, 9))
    run(journal, "run-q4", "verify-backup", "succeeded",
        [("restore_drill", "his", drill("his", True))])
    return journal


def test_quarter_counts_are_exact_and_bounded(q3: Journal) -> None:
    r = collect_quarter(q3, "2026Q3", calendar=CAL, now=NOW)
    assert r["period"]["label"] == "2026Q3"
    assert r["period"]["start"] == "2026-07-01T00:00:00+08:00"
    assert r["period"]["end"] == "2026-10-01T00:00:00+08:00"
    assert r["verification"]["ok"] is True
    assert r["verification"]["records"] == len(q3.records())
    assert [i["run_id"] for i in r["inspections"]["held"]] == ["inspect-q3"]
    held = r["inspections"]["held"][0]
    assert (held["hosts"], held["score"], held["partial"]) == (2, 82, True)
    assert held["by_severity"] == {"1": 0, "2": 1, "3": 2, "4": 0}
    assert (held["copies_read"], held["copies"]) == (1, 2)  # the ADG/OGG copies inspected
    p = r["problems"]
    assert (p["total"]["opened"], p["total"]["resolved"], p["total"]["still_open"]) == (3, 2, 1)
    assert p["levels"]["2"]["opened"] == 2
    assert p["levels"]["3"]["resolved"] == 1
    # met: 3 of the level-3 problem + the late one's resolve; missed: its respond and
    # solution + the open one's respond and solution (overdue); its resolve is due in Q4
    assert (p["total"]["deadlines_met"], p["total"]["deadlines_missed"]) == (4, 4)
    assert p["total"]["compliance"] == 0.5
    assert len(p["missed"]) == 4
    assert sorted({m["deadline"] for m in p["missed"]}) == ["respond", "solution"]
    [still] = p["still_open"]
    assert still["severity"] == 2
    assert still["title"] == EVIL
    assert still["overdue"]
    assert [d["state"] for d in still["deadlines"]] == ["overdue", "overdue", "due"]
    runs = r["runs"]
    assert runs["count"] == 5  # the check-mode run and Q2/Q4 runs do not count
    assert runs["by_runbook"] == {"apply-baseline": {"succeeded": 1},
                                  "backup": {"succeeded": 1},
                                  "patch-postgres": {"succeeded": 1},
                                  "verify-backup": {"failed": 1, "succeeded": 1}}
    [patch] = r["patches"]
    assert (patch["host"], patch["from_version"], patch["to_version"],
            patch["write_outage_s"]) == ("his-db-1", "15.6", "15.8", 3.2)
    assert [b["label"] for b in r["backups"]] == ["20260805F"]
    assert [(d["database"], d["passed"], d["rto_s"]) for d in r["drills"]] == [
        ("his", True, 125.0), ("emr", False, 125.0)]
    assert r["drills"][1]["finding"] == "[rows] table empty"
    assert [c["baseline"] for c in r["baseline_checks"]] == ["pg15-his"]
    [apply] = r["baseline_applies"]
    assert (apply["baseline"], apply["status"], apply["hosts_changed"]) == (
        "pg15-his", "succeeded", {"his-db-1": 2})
    rules = {rec["rule"]: rec for rec in r["recommendations"]}
    assert set(rules) == {"partial_inspection", "missed_deadlines", "no_passed_drill",
                          "open_severe", "failed_runs"}
    assert "emr" in rules["no_passed_drill"]["fact"]
    assert "his-db-9" in rules["partial_inspection"]["fact"]


def test_quarter_without_inspection_says_so_and_recommends_one(q3: Journal) -> None:
    r = collect_quarter(q3, "2026Q1", calendar=CAL, now=NOW)
    assert r["inspections"] == {"count": 0, "held": []}
    [rec] = [x for x in r["recommendations"] if x["rule"] == "no_inspection"]
    assert "2026Q1" in rec["fact"]
    assert "2026Q1" in rec["text_zh"]
    assert "本期未进行巡检" in render_html(r, "zh")
    assert "No inspection was held" in render_html(r, "en")


def test_future_quarter_recommends_nothing_about_inspections(q3: Journal) -> None:
    r = collect_quarter(q3, "2027Q2", calendar=CAL, now=NOW)
    assert not r["period"]["started"]
    assert not [x for x in r["recommendations"] if x["rule"] == "no_inspection"]


def test_recurring_problem_recommends_root_cause(journal: Journal) -> None:
    first = open_problem(journal, "his-db-1", 3, local(2026, 8, 3, 10))
    resolve(journal, first, note="fixed", at=local(2026, 8, 3, 11))
    again = open_problem(journal, "his-db-1", 3, local(2026, 8, 20, 10))
    r = collect_quarter(journal, "2026Q3", calendar=CAL, now=NOW)
    assert r["problems"]["recurring"][0]["id"] == again
    [rec] = [x for x in r["recommendations"] if x["rule"] == "recurring"]
    assert first in rec["fact"]


def test_annual_is_the_sum_of_its_quarters(q3: Journal) -> None:
    year = collect_annual(q3, 2026, calendar=CAL, now=NOW)
    rows = year["quarters"]
    assert [q["period"] for q in rows] == ["2026Q1", "2026Q2", "2026Q3", "2026Q4"]
    total = year["problems"]["total"]
    for key, value in (("inspections", year["inspections"]["count"]),
                       ("opened", total["opened"]), ("resolved", total["resolved"]),
                       ("deadlines_met", total["deadlines_met"]),
                       ("deadlines_missed", total["deadlines_missed"]),
                       ("runs", year["runs"]["count"]), ("patches", len(year["patches"])),
                       ("backups", len(year["backups"])),
                       ("baseline_checks", len(year["baseline_checks"])),
                       ("baseline_applies", len(year["baseline_applies"]))):
        assert sum(q[key] for q in rows) == value, key
    assert [q["inspections"] for q in rows] == [0, 1, 1, 1]
    assert year["inspections"]["count"] == 3
    assert sum(q["drills_passed"] + q["drills_failed"] for q in rows) == len(year["drills"])
    assert [x["fact"] for x in year["recommendations"] if x["rule"] == "no_inspection"] == [
        "no inspection was held in 2026Q1; the contract asks for one each quarter"]


def test_json_round_trip(q3: Journal) -> None:
    r = collect_annual(q3, 2026, calendar=CAL, now=NOW)
    assert json.loads(to_json(r)) == r


@pytest.mark.parametrize(("lang", "labels"), [
    ("zh", ["数据库运维季度服务报告", "巡检", "期末仍未解决的问题", "恢复演练", "建议",
            "补丁升级"]),
    ("en", ["Quarterly database service report", "Inspections", "Missed deadlines",
            "Restore drills", "Recommendations", "15.6 → 15.8"]),
])
def test_html_labels_and_escaping(q3: Journal, lang: str, labels: list[str]) -> None:
    page = render_html(collect_quarter(q3, "2026Q3", calendar=CAL, now=NOW), lang)
    for label in labels:
        assert label in page
    assert "<script" not in page
    assert "&lt;script&gt;" in page
    assert "src=" not in page
    assert "href=" not in page
    assert "@page" in page


def test_html_rejects_an_unknown_language(q3: Journal) -> None:
    with pytest.raises(ValueError, match="language"):
        render_html(collect_quarter(q3, "2026Q3", calendar=CAL, now=NOW), "fr")


def test_current_quarter_uses_the_service_zone() -> None:
    # 31 Dec 2026 20:00 UTC is 1 Jan 2027 04:00 in Shanghai
    assert current_quarter(CAL, datetime(2026, 12, 31, 20, tzinfo=UTC)) == "2027Q1"


def test_cli_quarterly_and_annual(q3: Journal, tmp_path: Path) -> None:
    runner = CliRunner()
    base = ["--journal", q3.location, "report"]
    result = runner.invoke(main_group, [*base, "quarterly", "--quarter", "2026Q3"])
    assert result.exit_code == 0, result.output
    assert "2026Q3" in result.output
    assert "建议" in result.output
    result = runner.invoke(main_group, [*base, "quarterly", "--quarter", "2026Q3",
                                        "--json", "-"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["problems"]["total"]["opened"] == 3
    html, out = tmp_path / "out" / "y.html", tmp_path / "y.json"
    result = runner.invoke(main_group, [*base, "annual", "--year", "2026", "--lang", "en",
                                        "--html", str(html), "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "Annual database service report" in html.read_text(encoding="utf-8")
    assert len(json.loads(out.read_text(encoding="utf-8"))["quarters"]) == 4
    result = runner.invoke(main_group, [*base, "quarterly"])
    assert result.exit_code == 0, result.output


def test_cli_bad_quarter_is_one_line_and_exit_2(q3: Journal) -> None:
    result = CliRunner().invoke(main_group, ["--journal", q3.location, "report", "quarterly",
                                             "--quarter", "2026Q5"])
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "2026Q5" in result.stderr
