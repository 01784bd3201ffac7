"""Oracle engine: RMAN text and v$ rows -> BackupSets and Findings, on recorded real formats.

Fixtures live in tests/fixtures/oracle (formats and their sources in SOURCES.md). Each test
asserts what a drill relies on: which backup is restorable, what is broken and where.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from hisops.engines.base import BackupKind, BackupSet, Severity, ToolOutput, select_backup
from hisops.engines.oracle.rman import (
    CHECK_REPOSITORY,
    CHECK_VALIDATE,
    CHECK_WAL,
    OracleEngine,
    UnreadableOutput,
    corruption_findings,
    rman_duplicate_script,
    rman_preview_script,
    rman_validate_script,
)
from hisops.engines.oracle.sql import (
    RowShapeError,
    archive_lag_from_row,
    backup_job_from_row,
    block_corruption_from_row,
    dataguard_lag_from_row,
    parse_interval,
    rpo_seconds,
)
from hisops.errors import ParameterError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "oracle"
ENGINE = OracleEngine()


def out(name: str, rc: int = 0) -> ToolOutput:
    return ToolOutput(stdout=(FIXTURES / name).read_text(), rc=rc)


def by_label(sets: list[BackupSet]) -> dict[str, BackupSet]:
    return {s.label: s for s in sets}


def test_engine_satisfies_protocol_name() -> None:
    assert ENGINE.name == "oracle"


# --- LIST BACKUP SUMMARY -----------------------------------------------------------------------


def test_summary_groups_sets_of_one_backup_command_by_tag() -> None:
    sets = ENGINE.backup_sets(out("list_backup_of_database_summary.txt"))
    assert [s.label for s in sets] == [
        "HIS_L0_WEEKLY", "TAG20260308T015410", "TAG20260309T010500", "TAG20260309T011519",
        "TAG20260310T010500", "TAG20260310T011536", "PRE_UPGRADE_FULL"]
    level0 = by_label(sets)["HIS_L0_WEEKLY"]
    assert level0.kind is BackupKind.FULL
    # three RMAN sets (keys 412-414): the backup ends when the last one completes
    assert level0.finished_at == datetime(2026, 3, 8, 1, 53, 2, tzinfo=UTC)


def test_summary_kinds_prior_and_expired() -> None:
    sets = by_label(ENGINE.backup_sets(out("list_backup_of_database_summary.txt")))
    assert sets["TAG20260308T015410"].kind is BackupKind.ARCHIVELOG
    incr = sets["TAG20260309T010500"]
    assert incr.kind is BackupKind.INCREMENTAL
    assert incr.prior == "HIS_L0_WEEKLY"
    assert not incr.error
    # key 430 is X (expired): its whole backup cannot be restored
    assert sets["TAG20260310T010500"].error
    assert sets["PRE_UPGRADE_FULL"].kind is BackupKind.FULL
    assert sets["PRE_UPGRADE_FULL"].prior is None


def test_select_backup_skips_the_expired_incremental() -> None:
    sets = ENGINE.backup_sets(out("list_backup_of_database_summary.txt"))
    assert select_backup(sets, "2026-03-10T02:00:00").label == "TAG20260309T010500"
    assert select_backup(sets, "latest").label == "PRE_UPGRADE_FULL"


def test_summary_host_time_zone_is_converted_to_utc() -> None:
    engine = OracleEngine(host_tz=ZoneInfo("Europe/Paris"))
    sets = by_label(engine.backup_sets(out("list_backup_of_database_summary.txt")))
    assert sets["PRE_UPGRADE_FULL"].finished_at == datetime(2026, 3, 10, 3, 30, 26, tzinfo=UTC)


def test_default_date_format_finishes_at_end_of_day_and_starts_at_tag_time() -> None:
    sets = by_label(ENGINE.backup_sets(out("list_backup_summary_default_date.txt")))
    first = sets["TAG20260302T220012"]
    assert first.started_at == datetime(2026, 3, 2, 22, 0, 12, tzinfo=UTC)
    assert first.finished_at == datetime(2026, 3, 2, 23, 59, 59, tzinfo=UTC)
    assert sets["TAG20260304T220011"].error  # status U: unavailable
    # a point in time during 3 March cannot use the backup finished "some time" that day
    assert select_backup(list(sets.values()), "2026-03-03T23:00:00").label == first.label


def test_reused_tag_gets_the_first_key_so_labels_stay_unique() -> None:
    text = (FIXTURES / "list_backup_summary_default_date.txt").read_text()
    text = text.replace("TAG20260303T220009", "NIGHTLY").replace("TAG20260302T220012", "NIGHTLY")
    labels = [s.label for s in ENGINE.backup_sets(ToolOutput(text))]
    assert labels == ["NIGHTLY@88", "TAG20260302T224501", "NIGHTLY@90", "TAG20260304T220011"]


def test_unknown_date_format_is_refused_not_guessed() -> None:
    text = (FIXTURES / "list_backup_summary_default_date.txt").read_text()
    with pytest.raises(UnreadableOutput, match="NLS_DATE_FORMAT"):
        ENGINE.backup_sets(ToolOutput(text.replace("03-MAR-26", "26-3月 -26")))
    with pytest.raises(UnreadableOutput, match="unknown RMAN date format"):
        ENGINE.backup_sets(ToolOutput(text.replace("03-MAR-26", "2026-03-03")))


def test_empty_repository_and_failed_listing() -> None:
    assert ENGINE.backup_sets(ToolOutput(
        "specification does not match any backup in the repository\n")) == []
    with pytest.raises(UnreadableOutput, match="status 1"):
        ENGINE.backup_sets(ToolOutput(
            (FIXTURES / "list_backup_not_connected.txt").read_text(), rc=1))
    with pytest.raises(UnreadableOutput, match="no LIST BACKUP table"):
        ENGINE.backup_sets(ToolOutput("Recovery Manager complete.\n"))


# --- LIST BACKUP (verbose) ---------------------------------------------------------------------


def test_verbose_listing_classifies_each_set_after_reading_it() -> None:
    sets = ENGINE.backup_sets(out("list_backup_verbose.txt"))
    kinds = {s.label: s.kind for s in sets}
    assert kinds == {
        "HIS_L0_WEEKLY": BackupKind.FULL,
        "TAG20260308T015202": BackupKind.ARCHIVELOG,
        "TAG20260308T015207": BackupKind.CONTROLFILE,
        "TAG20260309T011150": BackupKind.INCREMENTAL,
        "TAG20260310T011158": BackupKind.INCREMENTAL,
    }


def test_verbose_listing_sizes_scns_elapsed_and_piece_status() -> None:
    sets = by_label(ENGINE.backup_sets(out("list_backup_verbose.txt")))
    level0 = sets["HIS_L0_WEEKLY"]
    assert level0.started_at == datetime(2026, 3, 8, 1, 38, 4, tzinfo=UTC)  # 01:42:17 - 4:13
    assert level0.stored_bytes == int(1.26 * 2**30) + int(3.84 * 2**30)
    assert (level0.start_position, level0.stop_position) == ("48211907", "48212230")
    logs = sets["TAG20260308T015202"]
    assert (logs.start_position, logs.stop_position) == ("48190022", "48212511")
    assert sets["TAG20260309T011150"].error  # its piece is EXPIRED
    assert sets["TAG20260310T011158"].prior == "HIS_L0_WEEKLY"
    # the control file autobackup is never what a drill restores
    assert select_backup(list(sets.values()), "latest").label == "TAG20260310T011158"


# --- RESTORE ... VALIDATE / PREVIEW ------------------------------------------------------------


@pytest.mark.parametrize("name", ["restore_validate_clean.txt", "restore_preview.txt"])
def test_clean_restore_logs_have_no_findings(name: str) -> None:
    assert ENGINE.repository_findings(out(name)) == []


def test_missing_piece_names_the_piece_and_each_datafile() -> None:
    findings = ENGINE.repository_findings(out("restore_validate_missing_piece.txt", rc=1))
    subjects = [f.subject for f in findings]
    assert subjects == ["/u03/backup/HISPRD/HISPRD_lvl0_1g3k2aih_1_1.bkp",
                        "datafile 12", "datafile 10", "datafile 9"]
    piece = findings[0]
    assert piece.check == CHECK_REPOSITORY
    assert "ORA-27037: unable to obtain file status" in piece.problem
    assert "No such file or directory" in piece.problem
    assert "Additional information" not in piece.problem
    assert "RMAN-06026: some targets not found" in findings[1].problem
    assert all(f.severity is Severity.ERROR for f in findings)


def test_corrupt_piece_is_an_error_even_after_failover() -> None:
    findings = ENGINE.repository_findings(out("restore_validate_corrupt_piece.txt"))
    assert len(findings) == 1
    assert findings[0].subject == "/u03/backup/HISPRD/HISPRD_lvl0_1f3k2a9d_1_1.bkp"
    assert "ORA-19599: block number 793607 is corrupt" in findings[0].problem


def test_missing_archived_log_sequences_are_wal_findings() -> None:
    findings = ENGINE.repository_findings(out("restore_archivelog_missing_sequence.txt", rc=1))
    assert [(f.check, f.subject) for f in findings] == [
        (CHECK_WAL, "archived log thread 1 sequence 1190"),
        (CHECK_WAL, "archived log thread 1 sequence 1189")]
    # each finding quotes its own log and the shared context, not the other missing log
    assert "sequence 1190" in findings[0].problem
    assert "sequence 1189" not in findings[0].problem
    assert "RMAN-03002: failure of restore command" in findings[0].problem


def test_unknown_archived_log_during_duplicate() -> None:
    findings = ENGINE.repository_findings(out("duplicate_unknown_archivelog.txt", rc=1))
    assert [f.subject for f in findings] == ["archived log thread 1 sequence 1203"]
    assert "RMAN-05501: aborting duplication" in findings[0].problem


def test_nonzero_rc_without_a_known_error_is_one_finding_with_the_last_error_line() -> None:
    log = ("Starting restore at 2026-03-10 06:20:11\n"
           "ksh: rman: permission denied\nsomething else\n")
    findings = ENGINE.repository_findings(ToolOutput(log, rc=127))
    assert len(findings) == 1
    assert findings[0].severity is Severity.ERROR
    assert findings[0].problem == "rman exited with status 127: ksh: rman: permission denied"


def test_unrecognised_error_code_still_becomes_a_finding() -> None:
    log = ("RMAN-03002: failure of restore command at 03/10/2026\n"
           "ORA-19563: header validation failed for file\n")
    [finding] = ENGINE.repository_findings(ToolOutput(log, rc=1))
    assert finding.subject == ""
    assert "ORA-19563" in finding.problem


def test_truncated_log_without_a_finished_line_is_not_a_pass() -> None:
    text = (FIXTURES / "restore_validate_clean.txt").read_text()
    text = text.split("channel ORA_DISK_1: restored")[0]
    assert [f.severity for f in ENGINE.repository_findings(ToolOutput(text))] == [Severity.ERROR]
    assert ENGINE.repository_findings(ToolOutput("")) != []


# --- VALIDATE DATABASE -------------------------------------------------------------------------


def test_clean_validate_has_no_findings() -> None:
    assert ENGINE.integrity_findings(out("validate_database_clean.txt")) == []


def test_corrupt_validate_names_each_datafile_with_counts() -> None:
    findings = ENGINE.integrity_findings(out("validate_database_corrupt.txt"))
    assert [f.subject for f in findings] == [
        "datafile 7 (/u02/oradata/HISDRILL/users01.dbf)",
        "datafile 12 (/u02/oradata/HISDRILL/EMRPDB/emr_data01.dbf)"]
    failed = findings[1].problem
    assert failed.startswith("VALIDATE status FAILED; 3 block(s) failing (Data 2, Index 1)")
    assert "HISDRILL_ora_31877.trc" in failed
    assert "4 block(s) marked corrupt" in findings[0].problem
    assert {f.check for f in findings} == {CHECK_VALIDATE}


def test_marked_corrupt_count_alone_is_an_error() -> None:
    text = (FIXTURES / "validate_database_clean.txt").read_text().replace(
        "3    OK     0              20113", "3    OK     2              20113")
    [finding] = ENGINE.integrity_findings(ToolOutput(text))
    assert finding.subject == "datafile 3 (/u02/oradata/HISDRILL/sysaux01.dbf)"
    assert "2 block(s) marked corrupt" in finding.problem


def test_failed_control_file_is_a_finding() -> None:
    text = (FIXTURES / "validate_database_clean.txt").read_text().replace(
        "Control File OK     0", "Control File FAILED 3")
    [finding] = ENGINE.integrity_findings(ToolOutput(text))
    assert finding.subject == "control file"


def test_validate_that_checked_nothing_fails() -> None:
    [finding] = ENGINE.integrity_findings(ToolOutput("Finished validate at 2026-03-10\n"))
    assert "no datafile was validated" in finding.problem
    [finding] = ENGINE.integrity_findings(ToolOutput("out of memory\n", rc=3))
    assert finding.problem == "rman exited with status 3: out of memory"


# --- v$ rows -----------------------------------------------------------------------------------


def rows(view: str) -> list[list[Any]]:
    data = json.loads((FIXTURES / "vdollar_rows.json").read_text())[view]
    return [[datetime.fromisoformat(v) if isinstance(v, str) and v[:2] == "20" and "T" in v
             else v for v in row] for row in data]


def test_corruption_rows_become_findings() -> None:
    findings = corruption_findings(rows("v$database_block_corruption"))
    assert [f.subject for f in findings] == ["datafile 12", "datafile 12", "datafile 7"]
    assert findings[2].problem == ("4 block(s) corrupt from block 139 (NOLOGGING, change "
                                   "7251895) in v$database_block_corruption")
    assert ENGINE.corruption_findings([]) == []


def test_backup_job_rows() -> None:
    jobs = [backup_job_from_row(r) for r in rows("v$rman_backup_job_details")]
    assert [j.succeeded for j in jobs] == [True, False, False, False]
    assert jobs[0].input_bytes == 41872916480
    assert jobs[3].end_time is None
    assert jobs[3].elapsed_seconds is None


def test_archive_lag_rows_and_rpo_is_the_worst_thread() -> None:
    lags = [archive_lag_from_row(r) for r in rows("v$archived_log")]
    assert rpo_seconds(lags) == 3564.0
    assert rpo_seconds([]) is None


def test_dataguard_rows_and_intervals() -> None:
    lags = [dataguard_lag_from_row(r) for r in rows("v$dataguard_stats")]
    assert lags[0].lag == timedelta(seconds=5)
    assert parse_interval("+01 02:03:04.5") == timedelta(days=1, hours=2, minutes=3, seconds=4.5)
    assert parse_interval(None) is None
    with pytest.raises(RowShapeError):
        dataguard_lag_from_row(["apply lag", "5 seconds", "", ""])


def test_converters_reject_rows_of_the_wrong_shape() -> None:
    with pytest.raises(RowShapeError, match="expected 5 columns"):
        block_corruption_from_row([1, 2, 3])
    with pytest.raises(RowShapeError, match="not a DATE"):
        archive_lag_from_row([1, 10, "2026-03-10", 4])


# --- RMAN scripts ------------------------------------------------------------------------------


def test_validate_script() -> None:
    script = rman_validate_script(until="2026-03-10 06:00:00", archivelog_from_scn=48211871)
    assert "SET UNTIL TIME \"TO_DATE('2026-03-10 06:00:00','YYYY-MM-DD HH24:MI:SS')\";" in script
    assert "RESTORE DATABASE VALIDATE CHECK LOGICAL;" in script
    assert "RESTORE ARCHIVELOG FROM SCN 48211871 VALIDATE;" in script
    assert "rman target /" in script


def test_preview_script_with_scn() -> None:
    script = rman_preview_script(until="scn 48571420", summary=True)
    assert "SET UNTIL SCN 48571420;" in script
    assert "RESTORE DATABASE PREVIEW SUMMARY;" in script


def test_duplicate_script() -> None:
    script = rman_duplicate_script("hisprd", "hisdrill", "2026-03-10T06:00:00",
                                   backup_location="/u03/backup/HISPRD")
    assert "DUPLICATE DATABASE HISPRD TO HISDRILL" in script
    assert "BACKUP LOCATION '/u03/backup/HISPRD'" in script
    assert "NOFILENAMECHECK;" in script
    assert script.count("ALLOCATE AUXILIARY CHANNEL") == 2
    assert "rman auxiliary /" in script
    assert "password" not in script.lower().replace("holds no password", "")


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"target_db": "HISPRD", "scratch_sid": "hisprd"}, "scratch_sid"),
    ({"target_db": "HIS;DROP", "scratch_sid": "X"}, "target_db"),
    ({"backup_location": "/tmp/x' NOFILENAMECHECK"}, "backup_location"),
    ({"until": "2026-03-10T06:00:00+01:00"}, "until"),
    ({"until": "yesterday"}, "until"),
])
def test_duplicate_script_refuses_bad_input(kwargs: dict[str, str], field: str) -> None:
    args: dict[str, Any] = {"target_db": "HISPRD", "scratch_sid": "HISDRILL", "until": None,
                            "backup_location": "/u03/backup"} | kwargs
    with pytest.raises(ParameterError) as caught:
        rman_duplicate_script(args.pop("target_db"), args.pop("scratch_sid"), args.pop("until"),
                              **args)
    assert caught.value.field == field
