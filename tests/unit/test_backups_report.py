"""``hisops backups``: what a person or a monitoring job learns from the journal's evidence."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from rich.console import Console

from hisops.cli import main_group
from hisops.journal import Record, open_journal
from hisops.journal import records as rk
from hisops.reports.backups import (
    backup_overview,
    human_age,
    human_duration,
)
from hisops.reports.backups_console import print_backups
from hisops.runbook.durations import parse_duration

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
WEEK = 7 * 86400.0
DAY = timedelta(days=1)


class Log:
    """Evidence records in journal order, with timestamps chosen by the test."""

    def __init__(self) -> None:
        self.records: list[Record] = []

    def add(self, run_id: str, kind: str, payload: dict[str, Any], ts: datetime) -> None:
        self.records.append(Record(seq=len(self.records) + 1, ts=ts.isoformat(), run_id=run_id,
                                   kind=kind, payload=payload, prev_hash="", hash=""))

    def backup(self, label: str, finished: datetime, *, database: str = "his",
               run_id: str = "") -> None:
        evidence = {"engine": "postgresql", "database": database, "host": "his-db-1",
                    "repository": "backup-1", "label": label, "kind": "full", "prior": None,
                    "started_at": int(finished.timestamp()) - 4,
                    "finished_at": int(finished.timestamp()), "database_bytes": 39898229,
                    "stored_bytes": 9253463, "quiet": True, "tables": 7}
        self.add(run_id or f"backup-{label}", rk.EVIDENCE,
                 {"step": "backup", "type": "backup", "subject": "his-db-1",
                  "evidence": evidence}, finished + timedelta(seconds=2))

    def drill(self, label: str, backup_finished: datetime, at: datetime, *,
              passed: bool = True, database: str = "his", restore_s: float = 20.0,
              findings: list[dict[str, str]] | None = None, run_id: str = "") -> None:
        evidence = {
            "engine": "postgresql", "database": database, "source_host": "his-db-1",
            "scratch_host": "scratch-1",
            "backup": {"label": label, "kind": "full",
                       "started_at": (backup_finished - timedelta(seconds=4)).isoformat(),
                       "finished_at": backup_finished.isoformat(),
                       "database_bytes": 40_000_000, "stored_bytes": 9_000_000},
            "restore_s": restore_s, "recovery_s": 95.0, "checks_s": 10.0,
            "rto_s": restore_s + 105.0, "rpo_s": 42.5, "passed": passed,
            "findings": findings or [], "checks": {"amcheck": "passed" if passed else "failed"}}
        self.add(run_id or f"verify-{at:%d%H%M}", rk.EVIDENCE,
                 {"step": "drill", "type": "restore_drill", "subject": database,
                  "evidence": evidence}, at)


def overview(log: Log, stale_after_s: float = WEEK, **kw: Any) -> dict[str, Any]:
    return {st.database: st for st in backup_overview(log.records, now=NOW,
                                                      stale_after_s=stale_after_s, **kw)}


def test_backup_with_a_recent_passed_drill_is_not_stale() -> None:
    log = Log()
    finished = NOW - timedelta(hours=5)
    log.backup("20261201-065956F", finished)
    log.drill("20261201-065956F", finished, NOW - timedelta(hours=4))
    st = overview(log)["his"]
    assert st.problems == []
    assert not st.stale
    assert st.engine == "postgresql"
    assert st.last_backup.label == "20261201-065956F"
    assert st.last_backup.finished_at == finished
    assert st.last_backup.host == "his-db-1"
    assert st.last_verified.rto_s == 125.0
    assert st.last_verified.rpo_s == 42.5
    assert st.last_verified.scratch_host == "scratch-1"
    assert st.last_verified.drilled_at == NOW - timedelta(hours=4)
    assert st.last_drill_failed is None


def test_verified_restore_older_than_the_limit_is_stale() -> None:
    log = Log()
    finished = NOW - timedelta(days=9, hours=1)
    log.backup("20261122-110000F", finished)
    log.drill("20261122-110000F", finished, NOW - timedelta(days=9))
    st = overview(log, stale_after_s=30 * 86400)["his"]
    assert not st.stale  # within a 30-day limit
    st = overview(log)["his"]
    assert st.stale
    assert "last verified restore is 9 d old (limit 7 d)" in st.problems
    assert "last backup 20261122-110000F is 9 d old (limit 7 d)" in st.problems


def test_failed_newest_drill_is_reported_and_stale() -> None:
    log = Log()
    older = NOW - 3 * DAY
    log.backup("20261128-120000F", older)
    log.drill("20261128-120000F", older, older + timedelta(hours=1))
    newest = NOW - timedelta(hours=6)
    log.backup("20261201-060000F", newest)
    log.drill("20261201-060000F", newest, NOW - timedelta(hours=5), passed=False,
              findings=[{"check": "wal", "subject": "", "problem": "archive gap",
                         "severity": "warning"},
                        {"check": "amcheck", "subject": "public.orders",
                         "problem": "btree index corrupt", "severity": "error"}])
    st = overview(log)["his"]
    assert st.stale
    failed = st.last_drill_failed
    assert failed is not None
    assert failed.label == "20261201-060000F"
    assert failed.finding == "[amcheck] public.orders: btree index corrupt"
    assert any("failed: [amcheck] public.orders: btree index corrupt" in p
               for p in st.problems)
    # the older passed drill still counts as the last verified restore
    assert st.last_verified.label == "20261128-120000F"


def test_a_passed_drill_after_a_failed_one_clears_the_failure() -> None:
    log = Log()
    finished = NOW - timedelta(hours=6)
    log.backup("20261201-060000F", finished)
    log.drill("20261201-060000F", finished, NOW - timedelta(hours=5), passed=False)
    log.drill("20261201-060000F", finished, NOW - timedelta(hours=4))
    st = overview(log)["his"]
    assert st.last_drill_failed is None
    assert st.problems == []


def test_backup_newer_than_the_verified_restore_is_flagged_after_a_grace() -> None:
    log = Log()
    old = NOW - 5 * DAY
    log.backup("20261126-120000F", old)
    log.drill("20261126-120000F", old, old + timedelta(hours=1))
    newer = NOW - 3 * DAY
    log.backup("20261128-120000F", newer)
    st = overview(log)["his"]
    assert st.stale
    assert st.problems == ["last backup 20261128-120000F is 3 d old and newer than the last "
                           "verified restore (of 20261126-120000F); it has never been restored"]
    # within the grace (the verify run usually follows the backup) it is not flagged
    assert not overview(log, unverified_grace_s=4 * 86400)["his"].stale


def test_no_drill_means_no_verified_restore() -> None:
    log = Log()
    log.backup("20261201-060000F", NOW - timedelta(hours=6))
    st = overview(log)["his"]
    assert st.stale
    assert st.last_verified is None
    assert st.problems == ["no verified restore (run the verify-backup runbook)"]


def test_database_asked_for_without_evidence_is_stale() -> None:
    log = Log()
    log.backup("20261201-060000F", NOW - timedelta(hours=6), database="his")
    statuses = overview(log, databases=["lab"])
    assert list(statuses) == ["lab"]
    assert statuses["lab"].problems[0] == "no backup recorded"


def test_databases_are_sorted_and_evidence_of_check_runs_ignored() -> None:
    log = Log()
    for name in ("zeta", "alpha"):
        log.backup("L1", NOW - DAY, database=name)
    log.add("check-run", rk.RUN_STARTED, {"runbook": "backup", "check": True}, NOW)
    log.backup("L-check", NOW, database="alpha", run_id="check-run")
    statuses = backup_overview(log.records, now=NOW, stale_after_s=WEEK)
    assert [s.database for s in statuses] == ["alpha", "zeta"]
    assert statuses[0].last_backup.label == "L1"


def test_json_shape() -> None:
    log = Log()
    finished = NOW - timedelta(hours=5)
    log.backup("20261201-065956F", finished)
    log.drill("20261201-065956F", finished, NOW - timedelta(hours=4))
    data = json.loads(json.dumps(overview(log)["his"].to_dict()))
    assert data["database"] == "his"
    assert data["stale"] is False
    assert data["problems"] == []
    assert data["last_backup"]["finished_at"] == finished.isoformat()
    assert data["last_backup"]["age_s"] == 5 * 3600
    assert data["last_backup"]["database_bytes"] == 39898229
    assert data["last_verified"]["rto_s"] == 125.0
    assert data["last_verified"]["drilled_at"] == (NOW - timedelta(hours=4)).isoformat()
    assert data["last_drill_failed"] is None


def test_human_texts() -> None:
    assert human_age(3 * 3600) == "3 h"
    assert human_age(2 * 86400) == "2 d"
    assert human_age(36 * 3600) == "36 h"
    assert human_duration(125) == "2 min 5 s"
    assert human_duration(3780) == "1 h 3 min"
    assert human_duration(4.25) == "4.2 s"
    assert parse_duration("7d") == 7 * 86400
    assert parse_duration("36h") == 36 * 3600


def test_console_table_shows_rto_and_problems() -> None:
    log = Log()
    finished = NOW - timedelta(hours=5)
    log.backup("20261201-065956F", finished)
    log.drill("20261201-065956F", finished, NOW - timedelta(hours=4))
    log.backup("L1", NOW - DAY, database="lab")
    buf = io.StringIO()
    print_backups(backup_overview(log.records, now=NOW, stale_after_s=WEEK),
                  Console(file=buf, width=200, highlight=False))
    out = buf.getvalue()
    assert "2 min 5 s" in out
    assert "20261201-065956F (full), 5 h ago" in out
    assert "lab: no verified restore" in out
    assert "1 of 2 databases stale" in out


def _journal_with(tmp_path: Path, *, backup_age: timedelta) -> str:
    """A real journal: it stamps each record itself, so the drill happened just now."""
    path = str(tmp_path / "j.sqlite3")
    now = datetime.now(UTC)
    log = Log()
    log.backup("20261126-054432F", now - backup_age)
    log.drill("20261126-054432F", now - backup_age, now)
    journal = open_journal(path)
    try:
        for rec in log.records:
            journal.append(rec.run_id, rec.kind, rec.payload)
    finally:
        journal.close()
    return path


def test_cli_json_and_exit_codes(tmp_path: Path) -> None:
    runner = CliRunner()
    path = _journal_with(tmp_path, backup_age=timedelta(days=2))
    env = {"HISOPS_JOURNAL": path, "HISOPS_BACKUP_STALE_AFTER": None}
    result = runner.invoke(main_group, ["backups", "--json", "--fail-on-stale"], env=env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["stale"] is False
    assert [d["database"] for d in data["databases"]] == ["his"]
    assert data["databases"][0]["last_verified"]["label"] == "20261126-054432F"

    result = runner.invoke(main_group, ["backups", "--stale-after", "36h", "--fail-on-stale"],
                           env=env, terminal_width=200)
    assert result.exit_code == 1, result.output
    assert "last backup 20261126-054432F is 2 d old (limit 36 h)" in result.output
    # without --fail-on-stale a stale report is still a successful command
    result = runner.invoke(main_group, ["backups", "--stale-after", "36h"], env=env)
    assert result.exit_code == 0, result.output
    # the environment sets the default limit
    result = runner.invoke(main_group, ["backups", "--fail-on-stale"],
                           env={**env, "HISOPS_BACKUP_STALE_AFTER": "1d"})
    assert result.exit_code == 1, result.output


@pytest.mark.parametrize(("args", "code"), [
    (["--database", "nosuch", "--fail-on-stale"], 1),
    (["--database", "his", "--fail-on-stale"], 0),
    (["--stale-after", "a week"], 2),
])
def test_cli_database_filter_and_bad_input(tmp_path: Path, args: list[str], code: int) -> None:
    path = _journal_with(tmp_path, backup_age=timedelta(hours=3))
    result = CliRunner().invoke(main_group, ["backups", *args],
                                env={"HISOPS_JOURNAL": path, "HISOPS_BACKUP_STALE_AFTER": None})
    assert result.exit_code == code, result.output


def test_cli_empty_journal_fails_monitoring(tmp_path: Path) -> None:
    result = CliRunner().invoke(main_group, ["backups", "--fail-on-stale"],
                                env={"HISOPS_JOURNAL": str(tmp_path / "empty.sqlite3")})
    assert result.exit_code == 1
    assert "no backups or restore drills recorded" in result.output


def test_an_oracle_preview_proves_nothing_but_a_validate_does() -> None:
    log = Log()
    finished = NOW - timedelta(hours=5)
    log.backup("HIS_L0_20261201", finished)
    log.drill("HIS_L0_20261201", finished, NOW - timedelta(hours=4))
    log.records[-1].payload["evidence"]["mode"] = "preview"
    assert overview(log)["his"].last_verified is None  # a listing of what would be read
    log.drill("HIS_L0_20261201", finished, NOW - timedelta(hours=3))
    log.records[-1].payload["evidence"]["mode"] = "validate"
    assert overview(log)["his"].last_verified is not None  # every piece was read
