"""RMAN backup transcripts -> BackupLog and Findings, on recorded real formats.

Fixtures: tests/fixtures/oracle/rman_backup_*.txt and rman_crosscheck_delete_obsolete.txt
(formats and sources in tests/fixtures/oracle/SOURCES.md). Each test asserts what the nightly
backup check relies on: which pieces exist, whether the run finished, and what went wrong.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from hisops.engines.base import Severity
from hisops.engines.oracle.rman import UnreadableOutput
from hisops.engines.oracle.rman_log import CHECK_BACKUP, BackupLog, parse_backup_log

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "oracle"


def load(name: str, rc: int = 0) -> BackupLog:
    return parse_backup_log((FIXTURES / name).read_text(), rc)


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text()


# --- success -----------------------------------------------------------------------------------


def test_level0_plus_archivelog_reads_every_piece_with_channel_content_and_level() -> None:
    log = load("rman_backup_level0_success.txt")
    assert [(p.handle.rsplit("/", 1)[1], p.channel, p.content, p.level) for p in log.pieces] == [
        ("7k3c1q06_1_1", "ORA_DISK_1", "archivelog", None),
        ("7l3c1q06_1_1", "ORA_DISK_2", "archivelog", None),
        ("7n3c1q0p_1_1", "ORA_DISK_2", "datafile", 0),
        ("7m3c1q0p_1_1", "ORA_DISK_1", "datafile", 0),
        ("7o3c1r1m_1_1", "ORA_DISK_1", "archivelog", None),
    ]
    # each piece carries the elapsed time of its own set, matched by channel
    assert log.pieces[2].set_elapsed == timedelta(minutes=9, seconds=27)
    assert log.pieces[3].set_elapsed == timedelta(minutes=17, seconds=15)
    assert log.tags == ("TAG20261127T010004", "TAG20261127T010025", "TAG20261127T011741")
    assert log.channels == ("ORA_DISK_1", "ORA_DISK_2")


def test_level0_times_autobackup_and_deletion() -> None:
    log = load("rman_backup_level0_success.txt")
    assert log.started == datetime(2026, 11, 27, 1, 0, 4)
    assert log.finished == datetime(2026, 11, 27, 1, 17, 43)
    assert log.elapsed == timedelta(minutes=17, seconds=39)
    assert (log.backups_started, log.backups_finished) == (3, 3)
    assert log.autobackup_piece == "/u05/backup/HISPRD/autobackup/c-3871295524-20261127-00"
    assert log.deleted == 3  # "Deleted 2 objects" for the pieces + "Deleted 1 objects" for a log
    assert log.expired == ()
    assert log.errors == ()
    assert log.complete
    assert log.findings() == []


def test_level1_with_controlfile_backup_and_two_autobackups() -> None:
    log = load("rman_backup_level1_success.txt")
    assert [(p.content, p.level) for p in log.pieces] == [
        ("archivelog", None), ("datafile", 1), ("archivelog", None), ("controlfile", None)]
    assert log.pieces[3].tag == "TAG20261128T010245"
    # the last autobackup is the one that describes the finished run
    assert log.autobackup_piece == ("/u05/fra/HISPRD/autobackup/2026_11_28/"
                                    "o1_mf_s_1218330167_mn6b7r5d_.bkp")
    assert log.deleted == 0  # "no obsolete backups found"
    assert log.elapsed == timedelta(minutes=2, seconds=44)
    assert log.findings() == []


def test_to_dict_is_json_safe_and_complete() -> None:
    data = load("rman_backup_level0_success.txt").to_dict()
    again = json.loads(json.dumps(data))
    assert again["started"] == "2026-11-27T01:00:04"
    assert again["elapsed_s"] == 1059
    assert again["pieces"][3] == {"handle": "/u05/backup/HISPRD/7m3c1q0p_1_1",
                                  "tag": "TAG20261127T010025", "channel": "ORA_DISK_1",
                                  "content": "datafile", "level": 0, "set_elapsed_s": 1035}
    assert again["deleted"] == 3
    assert again["errors"] == []
    assert set(again) >= {"pieces", "tags", "started", "finished", "elapsed_s",
                          "autobackup_piece", "expired", "deleted", "errors"}


def test_to_dict_carries_errors() -> None:
    data = json.loads(json.dumps(load("rman_backup_archivelog_missing.txt", rc=1).to_dict()))
    assert data["errors"][0]["code"] == "RMAN-06059"
    assert data["errors"][0]["warning"] is False
    assert data["finished"] is None
    assert data["elapsed_s"] is None


# --- crosscheck and delete ---------------------------------------------------------------------


def test_crosscheck_expired_pieces_and_logs_are_warnings() -> None:
    log = load("rman_crosscheck_delete_obsolete.txt")
    assert log.expired == ("/u05/backup/HISPRD/6q3bv2h4_1_1",
                           "/u05/backup/HISPRD/autobackup/c-3871295524-20261123-00",
                           "/u04/arch/HISPRD/1_4419_1098765432.arc")
    assert log.crosschecked == 8
    assert log.deleted == 3
    findings = log.findings()
    assert [(f.subject, f.severity) for f in findings] == [
        (name, Severity.WARNING) for name in log.expired]
    assert all(f.check == CHECK_BACKUP and "EXPIRED" in f.problem for f in findings)


def test_old_style_archive_log_crosscheck_line_is_read() -> None:
    text = fixture_text("rman_backup_level1_success.txt").replace(
        "RMAN> EXIT;",
        "RMAN> CROSSCHECK ARCHIVELOG ALL;\n\nvalidation failed for archived log\n"
        "archive log filename=/u04/arch/HISPRD/1_100_987654321.dbf recid=55 stamp=987600000\n"
        "Crosschecked 1 objects\n\nRMAN> EXIT;")
    log = parse_backup_log(text, 0)
    assert log.expired == ("/u04/arch/HISPRD/1_100_987654321.dbf",)
    assert log.crosschecked == 1


def test_delete_expired_count_adds_to_deleted() -> None:
    text = fixture_text("rman_crosscheck_delete_obsolete.txt").replace(
        "RMAN> DELETE NOPROMPT OBSOLETE;",
        "RMAN> DELETE NOPROMPT EXPIRED BACKUP;\n\nusing channel ORA_DISK_1\n"
        "deleted backup piece\n"
        "backup piece handle=/u05/backup/HISPRD/6q3bv2h4_1_1 RECID=2271 STAMP=1217898532\n"
        "Deleted 2 EXPIRED objects\n\nRMAN> DELETE NOPROMPT OBSOLETE;")
    assert parse_backup_log(text, 0).deleted == 5


# --- failures ----------------------------------------------------------------------------------


def test_fra_full_reports_ora_19809_per_failed_channel_and_the_unfinished_backup() -> None:
    log = load("rman_backup_fra_full.txt", rc=1)
    assert [e.code for e in log.errors] == ["ORA-19809", "ORA-19809"]
    assert log.errors[0].codes == ("RMAN-03009", "ORA-19809", "ORA-19804")
    assert "ORA_DISK_2 channel" in log.errors[0].lines[0]
    assert "ORA_DISK_1 channel" in log.errors[1].lines[0]
    assert (log.backups_started, log.backups_finished) == (2, 1)
    assert log.elapsed is None  # a run with an unfinished backup has no duration
    assert log.autobackup_piece is None
    assert [p.content for p in log.pieces] == ["archivelog"]
    findings = log.findings()
    assert all(f.severity is Severity.ERROR for f in findings)
    assert [f.subject for f in findings] == ["ORA-19809", "ORA-19809", ""]
    assert "fast recovery area is full" in findings[0].problem
    assert "ORA-19804: cannot reclaim 1073741824 bytes" in findings[0].problem
    assert findings[2].problem == "1 of 2 backup command(s) started but did not finish"


def test_channel_failure_repeated_in_the_final_stack_is_reported_once() -> None:
    stack = ("RMAN-03009: failure of backup command on ORA_DISK_1 channel at {t}\n"
             "ORA-19809: limit exceeded for recovery files\n"
             "ORA-19804: cannot reclaim 1073741824 bytes disk space from 214748364800 limit\n")
    text = ("Starting backup at 2026-11-29 01:00:20\nusing channel ORA_DISK_1\n"
            + stack.format(t="11/29/2026 01:04:12")
            + "continuing other job steps, job failed will not be re-run\n"
            "RMAN-00571: ===========================================================\n"
            "RMAN-00569: =============== ERROR MESSAGE STACK FOLLOWS ===============\n"
            "RMAN-00571: ===========================================================\n"
            + stack.format(t="11/29/2026 01:04:13") + "\nRecovery Manager complete.\n")
    log = parse_backup_log(text, 1)
    assert len(log.errors) == 1
    assert log.errors[0].lines[0].endswith("01:04:12")


def test_missing_archived_log_is_rman_06059_and_no_finished_backup() -> None:
    log = load("rman_backup_archivelog_missing.txt", rc=1)
    assert [e.code for e in log.errors] == ["RMAN-06059"]
    assert log.errors[0].codes == ("RMAN-03002", "RMAN-06059", "ORA-19625", "ORA-27037")
    assert log.errors[0].lines[-1] == "Linux-x86_64 Error: 2: No such file or directory"
    assert log.pieces == ()
    assert log.started == datetime(2026, 11, 30, 1, 0, 4)
    assert log.finished is None
    findings = log.findings()
    assert [f.subject for f in findings] == ["RMAN-06059", ""]
    assert "take a new level 0" in findings[0].problem
    assert "1_4420_1098765432.arc" in findings[0].problem
    assert findings[1].problem.startswith("no 'Finished backup at'")


def test_ora_27040_file_create_error_names_the_cause() -> None:
    text = ("Starting backup at 2026-11-27 01:00:04\nusing channel ORA_DISK_1\n"
            "channel ORA_DISK_1: starting full datafile backup set\n"
            "RMAN-00571: ===========================================================\n"
            "RMAN-00569: =============== ERROR MESSAGE STACK FOLLOWS ===============\n"
            "RMAN-00571: ===========================================================\n"
            "RMAN-03009: failure of backup command on ORA_DISK_1 channel at 11/27/2026 01:00:05\n"
            "ORA-19504: failed to create file \"/u05/backup/HISPRD/7k3c1q06_1_1\"\n"
            "ORA-27040: file create error, unable to create file\n"
            "Linux-x86_64 Error: 13: Permission denied\n"
            "Additional information: 1\n\nRecovery Manager complete.\n")
    log = parse_backup_log(text, 1)
    assert [e.code for e in log.errors] == ["ORA-19504"]
    assert log.errors[0].codes == ("RMAN-03009", "ORA-19504", "ORA-27040")
    problem = log.findings()[0].problem
    assert problem.startswith("RMAN could not create the backup file")
    assert "Permission denied" in problem


def test_rman_warning_is_a_warning_not_an_error() -> None:
    text = fixture_text("rman_backup_level0_success.txt").replace(
        "Finished backup at 2026-11-27 01:17:43",
        "channel ORA_DISK_1: deleting archived log(s)\n"
        "RMAN-08120: warning: archived log not deleted, not yet applied by standby\n"
        "archived log file name=/u04/arch/HISPRD/1_4414_1098765432.arc thread=1 sequence=4414\n"
        "Finished backup at 2026-11-27 01:17:43")
    log = parse_backup_log(text, 0)
    assert [(e.code, e.warning) for e in log.errors] == [("RMAN-08120", True)]
    findings = log.findings()
    assert [(f.subject, f.severity) for f in findings] == [("RMAN-08120", Severity.WARNING)]


def test_nonzero_exit_without_an_error_stack_is_a_finding() -> None:
    log = load("rman_backup_level0_success.txt", rc=3)
    findings = log.findings()
    assert [f.problem for f in findings] == [
        "rman exited with status 3 but printed no RMAN-/ORA- error"]


def test_cut_off_session_is_a_finding() -> None:
    text = fixture_text("rman_backup_level0_success.txt").split("RMAN> DELETE")[0]
    log = parse_backup_log(text, 0)
    assert not log.complete
    assert [f.problem for f in log.findings()] == [
        "the log does not end with 'Recovery Manager complete.': the rman session was cut off"]


def test_a_backup_that_started_but_never_finished_is_a_finding() -> None:
    text = fixture_text("rman_backup_level0_success.txt").replace(
        "Finished backup at 2026-11-27 01:17:40\n", "")
    log = parse_backup_log(text, 0)
    assert (log.backups_started, log.backups_finished) == (3, 2)
    assert [f.problem for f in log.findings()] == [
        "1 of 3 backup command(s) started but did not finish"]


def test_default_date_format_is_read_without_elapsed() -> None:
    text = ("Starting backup at 27-NOV-26\nusing channel ORA_DISK_1\n"
            "channel ORA_DISK_1: starting full datafile backup set\n"
            "channel ORA_DISK_1: specifying datafile(s) in backup set\n"
            "input datafile file number=00001 name=/u02/oradata/HISPRD/system01.dbf\n"
            "channel ORA_DISK_1: starting piece 1 at 27-NOV-26\n"
            "channel ORA_DISK_1: finished piece 1 at 27-NOV-26\n"
            "piece handle=/u05/backup/HISPRD/01abc_1_1 tag=TAG20261127T010004 comment=NONE\n"
            "channel ORA_DISK_1: backup set complete, elapsed time: 00:00:35\n"
            "Finished backup at 27-NOV-26\n\nRecovery Manager complete.\n")
    log = parse_backup_log(text, 0)
    assert log.started == datetime(2026, 11, 27)
    assert log.elapsed is None  # DD-MON-YY has no time of day
    assert log.pieces[0].content == "datafile"
    assert log.pieces[0].level is None
    assert log.findings() == []


# --- unreadable --------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "bash: rman: command not found\n",
                                  "connected to target database: HISPRD (DBID=3871295524)\n"])
def test_output_without_rman_work_is_unreadable(text: str) -> None:
    with pytest.raises(UnreadableOutput, match="no RMAN backup"):
        parse_backup_log(text, 127)


def test_unknown_date_format_is_unreadable() -> None:
    with pytest.raises(UnreadableOutput, match="unknown RMAN date format"):
        parse_backup_log("Starting backup at 27.11.2026 01:00\n", 0)


def test_garbled_piece_line_is_unreadable() -> None:
    text = fixture_text("rman_backup_level1_success.txt").replace(
        "comment=NONE\nchannel ORA_DISK_1: backup set complete, elapsed time: 00:02:28",
        "\nchannel ORA_DISK_1: backup set complete, elapsed time: 00:02:28")
    with pytest.raises(UnreadableOutput, match="piece handle"):
        parse_backup_log(text, 0)


def test_untagged_piece_outside_autobackup_is_unreadable() -> None:
    with pytest.raises(UnreadableOutput, match="without a tag"):
        parse_backup_log("Starting backup at 2026-11-27 01:00:04\n"
                         "piece handle=/u05/backup/HISPRD/x_1_1 comment=NONE\n", 0)
