"""Oracle quarterly inspection: recorded-format v$/DBA_ rows -> typed rows -> findings.

Fixtures live in tests/fixtures/oracle/inspect (views, columns and assumptions in SOURCES.md):
a healthy and a troubled primary, a healthy standby, a lagging mounted standby and a standby
whose V$DATAGUARD_STATS answers nothing. Each test asserts what the inspection report relies
on: which object is named, at which severity, with which measured value.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hisops.engines.base import Finding, Severity
from hisops.engines.oracle import inspect as oi
from hisops.engines.oracle.sql import RowShapeError
from hisops.errors import PreconditionFailed

FIXTURES = Path(__file__).parent.parent / "fixtures" / "oracle" / "inspect"
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")
T = oi.Thresholds()
E, W = Severity.ERROR, Severity.WARNING


def rows(scenario: str) -> dict[str, list[list[Any]]]:
    """A fixture's rows as python-oracledb returns them: ISO text back to datetime."""
    data = json.loads((FIXTURES / f"{scenario}.json").read_text())
    return {name: [[datetime.fromisoformat(v) if isinstance(v, str) and ISO.match(v) else v
                    for v in row] for row in value]
            for name, value in data.items() if not name.startswith("_")}


def items(scenario: str, name: str) -> list[Any]:
    return [oi.CONVERTERS[name](r) for r in rows(scenario)[name]]


def snapshot(scenario: str, **kwargs: Any) -> oi.InspectionSnapshot:
    return oi.snapshot_from_rows(rows(scenario), **kwargs)


def brief(findings: list[Finding]) -> list[tuple[Severity, str, str]]:
    return [(f.severity, f.check, f.subject) for f in findings]


# --- the SQL contract --------------------------------------------------------------------------


def test_every_query_has_a_converter_and_binds() -> None:
    assert set(oi.INSPECTION_SQL) == set(oi.CONVERTERS) == set(oi.BINDS)


@pytest.mark.parametrize("name", sorted(oi.INSPECTION_SQL))
def test_sql_is_one_statement_using_only_its_binds(name: str) -> None:
    sql = oi.INSPECTION_SQL[name]
    assert sql == sql.strip()
    assert not sql.endswith(";")
    unquoted = re.sub(r"'[^']*'", "''", sql)
    assert ";" not in unquoted
    assert set(re.findall(r":(\w+)", unquoted)) == set(oi.BINDS[name])


def test_binds_defaults() -> None:
    assert oi.BINDS["alert_log"] == {"days": 7}
    assert oi.BINDS["rman_jobs"] == {"days": 7}
    assert oi.BINDS["top_sql"] == {"top": 10}
    assert "FETCH FIRST :top ROWS ONLY" in oi.TOP_SQL_SQL
    assert "oracle_maintained = 'N'" in oi.INVALID_OBJECTS_SQL


# --- converters --------------------------------------------------------------------------------


def test_tablespace_rows() -> None:
    ts = items("troubled_primary", "tablespaces")
    data = next(t for t in ts if t.name == "HIS_DATA")
    assert (data.contents, data.status, data.used_pct) == ("PERMANENT", "ONLINE", 97.12)
    assert data.used_bytes == 130351104 * 8192
    assert {t.contents for t in ts} == {"PERMANENT", "UNDO", "TEMPORARY"}


def test_fra_rows() -> None:
    [fra] = items("troubled_primary", "fra")
    assert (fra.name, fra.files, fra.net_used_pct) == ("+RECO", 5216, 93.0)
    assert fra.limit_bytes - fra.used_bytes == 22 * 2**30
    none = oi.fra_from_row([None, 0, 0, 0, 0, None])
    assert none.net_used_pct is None


def test_invalid_object_rows() -> None:
    assert items("troubled_primary", "invalid_objects")[0] == oi.InvalidObjects(
        "HIS_APP", "PACKAGE BODY", 3)


def test_alert_rows_and_codes() -> None:
    msgs = items("troubled_primary", "alert_log")
    assert msgs[0].at == datetime(2026, 3, 11, 2, 14, 7, 331000)
    assert msgs[0].level == 1
    assert msgs[2].codes == ["ORA-01578", "ORA-01110"]
    assert msgs[4].codes == ["ORA-03136"]  # ORA-3136 as the alert log prints it


def test_dataguard_rows_reuse_the_patch_converter() -> None:
    stats = items("lagging_standby", "dataguard")
    assert stats[0].name == "apply lag"
    assert stats[0].lag == timedelta(minutes=7, seconds=42)
    assert stats[1].datum_time == datetime(2026, 3, 16, 8, 0, 1)


def test_archive_gap_rman_session_blocking_top_sql_patch_rows() -> None:
    assert items("lagging_standby", "archive_gaps") == [oi.ArchiveGap(1, 1187, 1189)]
    job = items("troubled_primary", "rman_jobs")[0]
    assert (job.session_key, job.input_type, job.status, job.age_seconds) == (
        13098, "DB INCR", "FAILED", 24799.0)
    assert job.end_time == datetime(2026, 3, 16, 1, 6, 41)
    assert items("troubled_primary", "sessions") == [oi.SessionUsage(1338, 211, 1119, 1536,
                                                                     912, 1000)]
    blocked = items("troubled_primary", "blocking")[0]
    assert (blocked.sid, blocked.blocker_sid, blocked.blocker_sql_id) == (412, 287, None)
    top = items("healthy_primary", "top_sql")[1]
    assert (top.sql_id, top.executions, top.elapsed_s) == ("an05rsj1up1k5", 96, 1377.9)
    assert top.elapsed_per_exec_s == pytest.approx(14.353, abs=0.001)
    patch = items("troubled_primary", "patches")[-1]
    assert (patch.patch_id, patch.status, patch.target_version) == (
        35643107, "WITH ERRORS", "19.21.0.0.0")
    assert oi.database_state_from_row(["PHYSICAL STANDBY", "MOUNTED"]).dictionary_readable is False


@pytest.mark.parametrize(("name", "row", "reason"), [
    ("database_role", ["PRIMARY"], "expected 2 columns"),
    ("tablespaces", ["HIS_DATA", "PERMANENT", "ONLINE", 1, 2, "97.1"], "column 6 is not a number"),
    ("fra", ["+RECO", 1, 2, 3, 4], "expected 6 columns"),
    ("invalid_objects", ["HIS_APP", "VIEW", 1.5], "column 3 is not a whole number"),
    ("alert_log", ["2026-03-11 02:14:07", 1, "ORA-00600"], "column 1 is not a DATE"),
    ("dataguard", ["apply lag", "7 minutes", "", None, None], "INTERVAL"),
    ("archive_gaps", [1, None, 1189], "column 2 is not a number"),
    ("rman_jobs", [1, "DB FULL", "COMPLETED", datetime(2026, 3, 1), "x", 1, 2, 3, 4],
     "column 5 is not a DATE"),
    ("sessions", [1, 2, 3, 4, 5, True], "column 6 is not a number"),
    ("blocking", [412, 3391, "HIS_APP", None, "enq", "Application", 400, 287, None, None],
     "expected 11 columns"),
    ("top_sql", [42, 1, 2.0, 1.0, 3, 4], "column 1 is not text"),
    ("patches", [35643107, "APPLY", "SUCCESS", "2026-03-14", "RU", "19.21.0.0.0"],
     "column 4 is not a DATE"),
])
def test_converters_reject_rows_of_the_wrong_shape(name: str, row: list[Any], reason: str
                                                   ) -> None:
    with pytest.raises(RowShapeError, match=reason):
        oi.CONVERTERS[name](row)


# --- rules per area ----------------------------------------------------------------------------


def test_judge_tablespaces() -> None:
    assert oi.judge_tablespaces(items("healthy_primary", "tablespaces"), T) == []
    found = oi.judge_tablespaces(items("troubled_primary", "tablespaces"), T)
    assert brief(found) == [(E, "oracle.tablespace", "HIS_DATA"),
                            (W, "oracle.tablespace", "UNDOTBS1"),  # undo warns at most
                            (W, "oracle.tablespace", "HIS_INDEX")]  # READ ONLY one skipped
    assert found[0].problem == ("permanent tablespace HIS_DATA is 97.12% used "
                                "(994.5 GiB of 1024.0 GiB it can grow to)")


def test_judge_fra() -> None:
    assert oi.judge_fra(items("healthy_primary", "fra"), T) == []
    [found] = oi.judge_fra(items("troubled_primary", "fra"), T)
    assert (found.severity, found.check, found.subject) == (E, "oracle.fra", "+RECO")
    assert "93% used net of reclaimable space (465.0 GiB of 500.0 GiB, 5216 files)" in (
        found.problem)
    at_warn = oi.fra_from_row(["+RECO", 100, 80, 0, 1, 80.0])
    assert brief(oi.judge_fra([at_warn], T)) == [(W, "oracle.fra", "+RECO")]
    assert oi.judge_fra([oi.fra_from_row([None, 0, 0, 0, 0, None])], T) == []


def test_judge_invalid_objects() -> None:
    assert oi.judge_invalid_objects([], T) == []
    found = oi.judge_invalid_objects(items("troubled_primary", "invalid_objects"), T)
    assert brief(found) == [(W, "oracle.invalid_objects", "HIS_APP PACKAGE BODY"),
                            (W, "oracle.invalid_objects", "HIS_APP VIEW"),
                            (W, "oracle.invalid_objects", "HIS_REPORT PROCEDURE")]
    assert found[0].problem == "3 invalid PACKAGE BODY object(s) in schema HIS_APP"
    lenient = oi.Thresholds(invalid_objects_max=2)
    assert len(oi.judge_invalid_objects(items("troubled_primary", "invalid_objects"),
                                        lenient)) == 1


def test_judge_alert_log() -> None:
    assert oi.judge_alert_log([], T) == []
    found = oi.judge_alert_log(items("troubled_primary", "alert_log"), T)
    assert brief(found) == [(E, "oracle.alert_log", "ORA-00600"),
                            (W, "oracle.alert_log", "ORA-01555"),
                            (E, "oracle.alert_log", "ORA-01578"),  # not its ORA-01110
                            (W, "oracle.alert_log", "ORA-03136")]
    assert found[0].problem.startswith(
        "ORA-00600 2 time(s) in the alert log from 2026-03-11 02:14:07 to 2026-03-13 09:02:11; "
        "last: Errors in file /u01/app/oracle/diag/rdbms/hisprd/HISPRD/trace/HISPRD_ora_30154"
        ".trc (incident=96188): ORA-00600: internal error code, arguments: [kdsgrp1]")
    assert "(file # 7, block # 139)" in found[2].problem
    archiver = oi.AlertMessage(datetime(2026, 3, 15), 1, "ORA-00257: Archiver error.")
    assert brief(oi.judge_alert_log([archiver], T)) == [(E, "oracle.alert_log", "ORA-00257")]
    crash = oi.AlertMessage(datetime(2026, 3, 15), 1, "ORA-07445: exception encountered")
    assert oi.judge_alert_log([crash], T)[0].severity is E


def test_judge_dataguard() -> None:
    assert oi.judge_dataguard(items("healthy_standby", "dataguard"), T) == []
    found = oi.judge_dataguard(items("lagging_standby", "dataguard"), T)
    assert brief(found) == [(E, "oracle.dataguard", "apply lag"),
                            (W, "oracle.dataguard", "transport lag")]
    assert found[0].problem == "apply lag is 462 s (+00 00:07:42), limit 300 s"
    assert found[1].problem == "transport lag is 45 s (+00 00:00:45), limit 30 s"
    empty = oi.judge_dataguard([], T)
    assert brief(empty) == [(E, "oracle.dataguard", "apply lag"),
                            (E, "oracle.dataguard", "transport lag")]
    assert empty[0].problem == "no apply lag row in v$dataguard_stats: the lag is unknown"


def test_judge_dataguard_unknown_and_stale_values() -> None:
    unit = "day(2) to second(0) interval"
    stats = [oi.CONVERTERS["dataguard"](r) for r in [
        ["apply lag", None, unit, "03/16/2026 08:00:02", None],
        ["transport lag", "+00 00:00:00", unit, "03/16/2026 08:00:02", "03/16/2026 07:41:10"]]]
    found = oi.judge_dataguard(stats, T)
    assert brief(found) == [(E, "oracle.dataguard", "apply lag"),
                            (E, "oracle.dataguard", "transport lag")]
    assert "the lag is unknown" in found[0].problem
    assert found[1].problem == ("transport lag is computed from data received 1132 s before "
                                "2026-03-16 08:00:02: the standby receives nothing")
    no_datum = [oi.CONVERTERS["dataguard"](r) for r in [
        ["apply lag", "+00 00:00:01", unit, "03/16/2026 08:00:02", None],
        ["transport lag", "+00 00:00:00", unit, "03/16/2026 08:00:02", "03/16/2026 08:00:01"]]]
    assert "unknown age" in oi.judge_dataguard(no_datum, T)[0].problem


def test_judge_archive_gaps() -> None:
    assert oi.judge_archive_gaps([], T) == []
    [found] = oi.judge_archive_gaps(items("lagging_standby", "archive_gaps"), T)
    assert (found.severity, found.check, found.subject) == (E, "oracle.archive_gap", "thread 1")
    assert found.problem == ("archive gap on thread 1: sequences 1187 to 1189 (3 logs) "
                             "missing, recovery is blocked")


def test_judge_rman() -> None:
    assert oi.judge_rman(items("healthy_primary", "rman_jobs"), T) == []
    found = oi.judge_rman(items("troubled_primary", "rman_jobs"), T)
    assert brief(found) == [(E, "oracle.rman", "job 13098"), (W, "oracle.rman", "job 13090"),
                            (E, "oracle.rman", "job 13082"),
                            (E, "oracle.rman", "database backup")]
    assert found[0].problem == "DB INCR job 13098 started 2026-03-16 01:05:00 ended FAILED"
    assert found[3].problem == ("newest COMPLETED DB FULL/DB INCR job ended 53.1 h ago, "
                                "limit 26 h")
    [none] = oi.judge_rman([], T)
    assert none.problem.startswith("no COMPLETED DB FULL/DB INCR job in the RMAN history")
    assert oi.judge_rman([], T, backups_expected=False) == []
    weekly = oi.Thresholds(backup_max_age=timedelta(days=8))
    assert len(oi.judge_rman(items("troubled_primary", "rman_jobs"), weekly)) == 3
    with_errors = items("troubled_primary", "rman_jobs")[0]
    assert oi.judge_rman([oi.RmanJob(**{**with_errors.__dict__,
                                        "status": "COMPLETED WITH ERRORS"})],
                         T, backups_expected=False)[0].severity is E


def test_judge_sessions() -> None:
    assert oi.judge_sessions(items("healthy_primary", "sessions"), T) == []
    found = oi.judge_sessions(items("troubled_primary", "sessions"), T)
    assert brief(found) == [(W, "oracle.sessions", "sessions"),
                            (W, "oracle.sessions", "processes")]
    assert found[0].problem == ("1338 sessions of the limit 1536 (87.1%; 211 active, "
                                "1119 inactive sessions)")
    assert found[1].problem.startswith("912 processes of the limit 1000 (91.2%;")


def test_judge_blocking() -> None:
    assert oi.judge_blocking([], T) == []
    found = oi.judge_blocking(items("troubled_primary", "blocking"), T)
    assert brief(found) == [(E, "oracle.blocking", "sid 412"), (W, "oracle.blocking", "sid 518")]
    assert found[0].problem == (
        "sid 412 serial 3391 (HIS_APP, sql_id 9babjv8yq8ru3) has waited 400 s on enq: TX - "
        "row lock contention (Application), blocked by sid 287 serial 1044 (HIS_BATCH, "
        "sql_id -)")
    assert found[1].problem.endswith("blocked by sid 412 serial 3391 (HIS_APP, sql_id "
                                     "9babjv8yq8ru3); head of the chain sid 287")
    remote = oi.blocked_session_from_row(
        [91, 7, None, None, "enq: TX - row lock contention", "Application", 61, 15, None,
         None, None])
    assert oi.judge_blocking([remote], T)[0].problem.endswith(
        "blocked by sid 15 on another instance")


def test_judge_top_sql() -> None:
    assert oi.judge_top_sql(items("troubled_primary", "top_sql"), T) == []  # listed only
    strict = oi.Thresholds(top_sql_elapsed_per_exec_warn_s=10.0)
    found = oi.judge_top_sql(items("troubled_primary", "top_sql"), strict)
    assert brief(found) == [(W, "oracle.top_sql", "an05rsj1up1k5")]
    assert found[0].problem.startswith("sql_id an05rsj1up1k5 takes 14.4 s per execution "
                                       "(96 executions, 1377.9 s elapsed")


def test_judge_patches() -> None:
    assert oi.judge_patches(items("healthy_primary", "patches"), T) == []
    [found] = oi.judge_patches(items("troubled_primary", "patches"), T)
    assert (found.severity, found.check, found.subject) == (E, "oracle.patches",
                                                            "patch 35643107")
    assert found.problem == ("patch 35643107 (Database Release Update : 19.21.0.0.231017 "
                             "(35643107)): newest datapatch action APPLY ended WITH ERRORS at "
                             "2026-03-14 03:31:29")


def test_thresholds_refuse_warn_above_critical() -> None:
    with pytest.raises(ValueError, match="tablespace: the warning threshold 96 is above"):
        oi.Thresholds(tablespace_warn_pct=96)
    with pytest.raises(ValueError, match="apply_lag"):
        oi.Thresholds(apply_lag_warn=timedelta(minutes=10))


# --- snapshots and judge_all -------------------------------------------------------------------


def test_healthy_primary_has_no_findings() -> None:
    snap = snapshot("healthy_primary")
    assert snap.role is oi.Role.PRIMARY
    assert snap.backups_expected is True
    assert snap.skipped == ()
    assert oi.judge_all(snap) == []


def test_troubled_primary_findings() -> None:
    assert brief(oi.judge_all(snapshot("troubled_primary"), T)) == [
        (E, "oracle.tablespace", "HIS_DATA"), (W, "oracle.tablespace", "UNDOTBS1"),
        (W, "oracle.tablespace", "HIS_INDEX"),
        (E, "oracle.fra", "+RECO"),
        (W, "oracle.invalid_objects", "HIS_APP PACKAGE BODY"),
        (W, "oracle.invalid_objects", "HIS_APP VIEW"),
        (W, "oracle.invalid_objects", "HIS_REPORT PROCEDURE"),
        (E, "oracle.alert_log", "ORA-00600"), (W, "oracle.alert_log", "ORA-01555"),
        (E, "oracle.alert_log", "ORA-01578"), (W, "oracle.alert_log", "ORA-03136"),
        (E, "oracle.rman", "job 13098"), (W, "oracle.rman", "job 13090"),
        (E, "oracle.rman", "job 13082"), (E, "oracle.rman", "database backup"),
        (W, "oracle.sessions", "sessions"), (W, "oracle.sessions", "processes"),
        (E, "oracle.blocking", "sid 412"), (W, "oracle.blocking", "sid 518"),
        (E, "oracle.patches", "patch 35643107"),
    ]


def test_primary_does_not_judge_dataguard_rows() -> None:
    data = rows("healthy_primary")
    data["dataguard"] = []  # a primary answers none; an empty answer here is no finding
    snap = oi.snapshot_from_rows(data)
    assert snap.dataguard == ()
    assert oi.judge_all(snap) == []


def test_healthy_standby_has_no_findings() -> None:
    snap = snapshot("healthy_standby")
    assert snap.role is oi.Role.PHYSICAL_STANDBY
    assert snap.backups_expected is False  # backups run on the primary
    assert oi.judge_all(snap) == []
    expecting = snapshot("healthy_standby", backups_expected=True)
    assert brief(oi.judge_all(expecting)) == [(E, "oracle.rman", "database backup")]


def test_lagging_mounted_standby() -> None:
    snap = snapshot("lagging_standby", role=oi.Role.PHYSICAL_STANDBY)
    assert snap.skipped == ("tablespaces", "invalid_objects", "patches")
    assert snap.tablespaces == ()
    assert brief(oi.judge_all(snap)) == [(E, "oracle.dataguard", "apply lag"),
                                         (W, "oracle.dataguard", "transport lag"),
                                         (E, "oracle.archive_gap", "thread 1")]


def test_standby_with_empty_dataguard_stats_is_a_finding() -> None:
    found = oi.judge_all(snapshot("standby_no_dg_stats"))
    assert brief(found) == [(E, "oracle.dataguard", "apply lag"),
                            (E, "oracle.dataguard", "transport lag")]


def test_snapshot_refuses_a_wrong_or_unknown_role_and_missing_rows() -> None:
    with pytest.raises(PreconditionFailed, match="expected a primary database, V\\$DATABASE "
                                                 "says PHYSICAL STANDBY"):
        snapshot("healthy_standby", role=oi.Role.PRIMARY)
    data = rows("healthy_primary")
    data["database_role"] = [["SNAPSHOT STANDBY", "READ WRITE"]]
    with pytest.raises(PreconditionFailed, match="SNAPSHOT STANDBY is not inspected"):
        oi.snapshot_from_rows(data)
    del data["database_role"]
    with pytest.raises(RowShapeError, match="expected one row, got 0"):
        oi.snapshot_from_rows(data)
    data = rows("healthy_primary")
    del data["fra"]
    with pytest.raises(RowShapeError, match="fra: no rows given"):
        oi.snapshot_from_rows(data)


def test_areas_to_read() -> None:
    primary = oi.areas_to_read(oi.DatabaseState("PRIMARY", "READ WRITE"))
    assert "dataguard" not in primary
    assert "archive_gaps" not in primary
    assert "patches" in primary
    mounted = oi.areas_to_read(oi.DatabaseState("PHYSICAL STANDBY", "MOUNTED"))
    assert mounted == ["fra", "alert_log", "dataguard", "archive_gaps", "rman_jobs",
                       "sessions", "blocking", "top_sql"]


# --- collect on a fake connection ---------------------------------------------------------------


class FakeCursor:
    def __init__(self, conn: FakeConnection) -> None:
        self.conn = conn
        self.name = ""

    def __enter__(self) -> FakeCursor:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def execute(self, sql: str, binds: dict[str, int]) -> None:
        [self.name] = [n for n, s in oi.INSPECTION_SQL.items() if s == sql]
        self.conn.calls.append((self.name, binds))

    def fetchall(self) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self.conn.data[self.name]]


class FakeConnection:
    def __init__(self, data: dict[str, list[list[Any]]]) -> None:
        self.data = data
        self.calls: list[tuple[str, dict[str, int]]] = []

    def cursor(self) -> FakeCursor:
        return FakeCursor(self)


def test_collect_runs_what_the_database_answers_with_the_binds() -> None:
    conn = FakeConnection(rows("troubled_primary"))
    snap = oi.collect(conn, days=30, top=5)  # type: ignore[arg-type]
    assert [name for name, _ in conn.calls] == [
        "database_role", "tablespaces", "fra", "invalid_objects", "alert_log", "rman_jobs",
        "sessions", "blocking", "top_sql", "patches"]
    binds = dict(conn.calls)
    assert binds["alert_log"] == {"days": 30}
    assert binds["rman_jobs"] == {"days": 30}
    assert binds["top_sql"] == {"top": 5}
    assert binds["fra"] == {}
    assert oi.judge_all(snap) == oi.judge_all(snapshot("troubled_primary"))


def test_collect_on_a_mounted_standby_skips_the_dictionary() -> None:
    conn = FakeConnection(rows("lagging_standby"))
    snap = oi.collect(conn, role=oi.Role.PHYSICAL_STANDBY)  # type: ignore[arg-type]
    called = [name for name, _ in conn.calls]
    assert "tablespaces" not in called
    assert "patches" not in called
    assert "archive_gaps" in called
    assert snap.archive_gaps == (oi.ArchiveGap(1, 1187, 1189),)
