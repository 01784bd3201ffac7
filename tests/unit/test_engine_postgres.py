"""hisops.engines.postgres against recorded pgBackRest 2.45 / pg_amcheck 15 output."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hisops.engines import postgres
from hisops.engines.base import BackupKind, Severity, ToolOutput

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "postgres"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


INFO = fixture("pgbackrest_info.json")


def listing(*files: str, times: dict[str, float] | None = None) -> str:
    return json.dumps({".": {"type": "path"}, **{
        f: {"type": "file", "size": 100, "time": (times or {}).get(f, 1795671826)}
        for f in files}})


# --- catalogue -----------------------------------------------------------------------------------


def test_backup_sets_read_the_catalogue() -> None:
    sets = postgres.PostgresEngine().backup_sets(ToolOutput(INFO))
    assert [s.kind for s in sets] == [BackupKind.FULL] * len(sets)
    newest = sets[-1]
    assert newest.label.endswith("F")
    assert newest.database_bytes > newest.stored_bytes > 0
    assert newest.start_position.startswith("00000001")


def test_pick_backup_latest_carries_marker_quiet_flag_and_archive_id() -> None:
    chosen = postgres.pick_backup(INFO, "latest")
    raw = json.loads(INFO)[0]["backup"][-1]
    assert chosen["label"] == raw["label"]
    assert chosen["marker"] == raw["annotation"]["hisops-marker"]
    assert chosen["quiet"] is (raw["annotation"].get("hisops-quiet") == "yes")
    assert chosen["archive_id"] == "15-1"


def test_pick_backup_by_label_and_by_point_in_time() -> None:
    backups = json.loads(INFO)[0]["backup"]
    first = backups[0]
    assert postgres.pick_backup(INFO, first["label"])["label"] == first["label"]
    just_after_first = first["timestamp"]["stop"] + 1
    when = datetime.fromtimestamp(just_after_first, tz=UTC).isoformat()
    assert postgres.pick_backup(INFO, "latest", when)["label"] == first["label"]


def test_pick_backup_names_what_exists_when_nothing_matches() -> None:
    with pytest.raises(ValueError, match="no backup labelled '20000101-000000F'"):
        postgres.pick_backup(INFO, "20000101-000000F")
    with pytest.raises(ValueError, match="no backup finished at or before"):
        postgres.pick_backup(INFO, "latest", "2001-01-01T00:00:00+00:00")


# --- repository ----------------------------------------------------------------------------------


def test_a_clean_verify_has_no_findings() -> None:
    out = ToolOutput(fixture("pgbackrest_verify_ok.txt"))
    assert postgres.PostgresEngine().repository_findings(out) == []


def test_verify_exits_zero_on_a_bad_file_yet_the_file_is_named() -> None:
    out = ToolOutput(fixture("pgbackrest_verify_checksum.txt"), rc=0)
    (finding,) = postgres.PostgresEngine().repository_findings(out)
    assert finding.subject == "20261126-054432F/pg_data/base/5/2838.lz4"
    assert "invalid checksum" in finding.problem


def test_a_failing_verify_without_a_report_is_still_a_finding() -> None:
    out = ToolOutput("", "ERROR: [055]: unable to load info file", rc=55)
    (finding,) = postgres.PostgresEngine().repository_findings(out)
    assert "unable to load info file" in finding.problem


def test_wal_range_crosses_a_log_file_boundary() -> None:
    assert postgres.wal_range("0000000100000000000000FE", "000000010000000100000001") == [
        "0000000100000000000000FE", "0000000100000000000000FF",
        "000000010000000100000000", "000000010000000100000001"]
    with pytest.raises(ValueError, match="not WAL segment names"):
        postgres.wal_range("x", "y")


BACKUP: dict[str, Any] = {"label": "20261126-054432F", "archive_id": "15-1",
                          "start_position": "00000001000000000000000A",
                          "stop_position": "00000001000000000000000B"}


def test_a_missing_wal_segment_the_backup_needs_is_named() -> None:
    archive = listing("15-1/0000000100000000/00000001000000000000000A-abc.lz4",
                      "15-1/0000000100000000/00000001000000000000000A.00000028.backup")
    (finding,) = postgres.wal_findings(archive, BACKUP)
    assert finding.subject == "00000001000000000000000B"
    assert "missing from the archive" in finding.problem


def test_segments_of_another_archive_id_do_not_count() -> None:
    archive = listing("14-1/0000000100000000/00000001000000000000000A-abc.lz4",
                      "14-1/0000000100000000/00000001000000000000000B-abc.lz4")
    assert len(postgres.wal_findings(archive, BACKUP)) == 2


def test_each_missing_manifest_is_named() -> None:
    assert postgres.manifest_findings(listing("backup.manifest", "backup.manifest.copy"),
                                      "L") == []
    (finding,) = postgres.manifest_findings(listing("backup.manifest.copy"), "L")
    assert finding.subject == "L/backup.manifest"


def test_rpo_is_the_age_of_the_newest_archived_segment() -> None:
    archive = listing("15-1/0000000100000000/00000001000000000000000A-a.lz4",
                      "15-1/0000000100000000/00000001000000000000000B-b.lz4",
                      "15-1/0000000100000000/00000001000000000000000B.00000028.backup",
                      times={"15-1/0000000100000000/00000001000000000000000A-a.lz4": 100.0,
                             "15-1/0000000100000000/00000001000000000000000B-b.lz4": 160.0,
                             "15-1/0000000100000000/00000001000000000000000B.00000028.backup":
                                 999.0})
    assert postgres.rpo_seconds(archive, 200.0) == 40.0
    assert postgres.rpo_seconds(listing(), 200.0) is None


# --- the restored copy ---------------------------------------------------------------------------


def test_pg_amcheck_corruption_is_named_per_relation() -> None:
    out = ToolOutput(fixture("pg_amcheck_corrupt.txt"), rc=2)
    findings = postgres.PostgresEngine().integrity_findings(out)
    assert [f.subject for f in findings] == ['btree index "postgres.public.t_pkey"',
                                             'heap table "postgres.public.t", block 0, offset 3']
    assert "invalid line pointer" in findings[0].problem
    assert "xmin 1094795585" in findings[1].problem


def test_pg_amcheck_that_could_not_run_is_a_finding() -> None:
    out = ToolOutput("", "pg_amcheck: error: connection to server failed", rc=1)
    (finding,) = postgres.PostgresEngine().integrity_findings(out)
    assert "exited 1" in finding.problem


TABLES = {"his.patients": {"rows": 100, "fingerprint": "123"},
          "his.orders": {"rows": 1000, "fingerprint": "456"}}


def test_a_quiet_backup_must_match_exactly() -> None:
    marker = json.dumps(TABLES)
    same = json.dumps(TABLES)
    assert postgres.content_findings(marker, same, marker="m", quiet=True, tolerance=0.1) == []
    changed = json.dumps({**TABLES, "his.orders": {"rows": 1000, "fingerprint": "457"}})
    (finding,) = postgres.content_findings(marker, changed, marker="m", quiet=True,
                                           tolerance=0.1)
    assert finding.subject == "his.orders"
    assert "content differs" in finding.problem


def test_a_busy_backup_allows_counts_within_tolerance() -> None:
    marker = json.dumps(TABLES)
    grown = json.dumps({"his.patients": {"rows": 105, "fingerprint": "x"},
                        "his.orders": {"rows": 1200, "fingerprint": "y"}})
    (finding,) = postgres.content_findings(marker, grown, marker="m", quiet=False,
                                           tolerance=0.1)
    assert finding.subject == "his.orders"
    assert "1200 rows, expected about 1000" in finding.problem


def test_a_missing_marker_row_or_table_is_named() -> None:
    (missing,) = postgres.content_findings("", "{}", marker="hisops-x", quiet=True,
                                           tolerance=0.1)
    assert "marker row hisops-x is missing" in missing.problem
    lost = json.dumps({"his.patients": TABLES["his.patients"]})
    (gone,) = postgres.content_findings(json.dumps(TABLES), lost, marker="m", quiet=False,
                                        tolerance=0.1)
    assert gone.subject == "his.orders"


def test_smoke_queries_need_their_rows() -> None:
    queries = [{"name": "today", "sql": "...", "min_rows": 5}, {"name": "broken", "sql": "..."}]
    results = [{"rc": 0, "stdout": "3"},
               {"rc": 1, "stderr": 'ERROR:  relation "x" does not exist'}]
    today, broken = postgres.smoke_findings(queries, results)
    assert "3 rows, expected at least 5" in today.problem
    assert 'relation "x" does not exist' in broken.problem


# --- verdict -------------------------------------------------------------------------------------


def _result(start: str, end: str, **extra: Any) -> dict[str, Any]:
    return {"start": f"2026-11-26 06:00:{start}", "end": f"2026-11-26 06:00:{end}", "rc": 0,
            "stdout": "", "stderr": "", **extra}


def _raw(**over: Any) -> dict[str, Any]:
    backup = {**postgres.pick_backup(INFO, "latest")}
    archive_id = backup["archive_id"]
    segs = postgres.wal_range(backup["start_position"], backup["stop_position"])
    raw: dict[str, Any] = {
        "stanza": "his", "scratch_host": "verify-1", "source_host": "his-db-1",
        "backup": backup, "tolerance": "0.10",
        "repo_check": _result("00.000000", "00.500000",
                              stdout=fixture("pgbackrest_verify_ok.txt")),
        "backup_listing": {"stdout": listing("backup.manifest", "backup.manifest.copy")},
        "archive_listing": {"stdout": listing(
            *[f"{archive_id}/0000000100000000/{s}-x.lz4" for s in segs],
            times={f"{archive_id}/0000000100000000/{segs[-1]}-x.lz4": 1000.0})},
        "restore": _result("01.000000", "05.000000"),
        "start": _result("05.500000", "06.000000"),
        "recovery": _result("07.000000", "07.500000", stdout="f"),
        "amcheck": _result("08.000000", "09.000000"),
        "marker": _result("09.000000", "09.100000", stdout=json.dumps(TABLES)),
        "tables": _result("09.100000", "10.000000", stdout=json.dumps(TABLES)),
        "smoke": [], "smoke_queries": [], "now_epoch": "1030.0",
    }
    raw.update(over)
    return raw


def test_a_clean_drill_passes_with_phase_times_rto_and_rpo() -> None:
    evidence = postgres.drill_evidence(_raw())
    assert evidence["passed"] is True
    assert evidence["restore_s"] == 4.0
    assert evidence["recovery_s"] == 2.0
    assert evidence["checks_s"] == 2.5  # verify 0.5 + amcheck through fingerprints 2.0
    assert evidence["rto_s"] == 8.5
    assert evidence["rpo_s"] == 30.0
    assert evidence["restore_mbps"] == round(evidence["backup"]["database_bytes"] / 4e6, 1)
    assert set(evidence["checks"].values()) == {"passed"}


def test_the_evidence_names_the_settings_carried_from_the_source_and_their_caps() -> None:
    carry = {"settings": {"shared_buffers": "1024MB", "wal_level": "logical"},
             "capped": {"shared_buffers": {"from": "16GB", "to": "1024MB",
                                           "limit_bytes": 1 << 30, "fraction": 0.25}},
             "excluded": ["port", "ssl"], "memory_bytes": 4 << 30}
    evidence = postgres.drill_evidence(_raw(carry=carry))
    assert evidence["passed"] is True
    assert evidence["configuration"] == {
        "carried": carry["settings"], "capped": carry["capped"],
        "not_carried": ["port", "ssl"], "memory_bytes": 4 << 30}
    # a plain drill (nothing carried) has no configuration section
    assert "configuration" not in postgres.drill_evidence(_raw(carry={}))


def test_a_point_in_time_drill_compares_counts_not_exact_content() -> None:
    later = json.dumps({"his.patients": {"rows": 101, "fingerprint": "999"},
                        "his.orders": {"rows": 1000, "fingerprint": "456"}})
    exact = postgres.drill_evidence(_raw(tables=_result("09.1", "10.0", stdout=later)))
    assert exact["passed"] is False
    in_time = postgres.drill_evidence(_raw(tables=_result("09.1", "10.0", stdout=later),
                                           target_time="2026-11-26 06:00:00+00"))
    assert in_time["passed"] is True


def test_a_failed_restore_is_evidence_naming_the_phase_and_skips_copy_checks() -> None:
    raw = _raw(amcheck={}, marker={}, tables={}, start={}, recovery={},
               failure=["restore", "out of disk on the scratch host (0 KiB left): ERROR: [064]"])
    evidence = postgres.drill_evidence(raw)
    assert evidence["passed"] is False
    assert evidence["checks"]["restore"] == "failed"
    assert "content" not in evidence["checks"]
    assert any(f["line"].startswith("[restore]") and "out of disk" in f["line"]
               for f in evidence["findings"])


def test_findings_of_other_backups_in_the_repository_do_not_fail_this_drill() -> None:
    other = fixture("pgbackrest_verify_checksum.txt").replace("20261126-054432F",
                                                              "20200101-000000F")
    raw = _raw(repo_check=_result("00.000000", "00.500000", stdout=other))
    assert postgres.drill_evidence(raw)["passed"] is True


# --- failure reasons, limits, estimates ----------------------------------------------------------


def test_a_full_disk_is_named_from_the_free_space_left() -> None:
    failed = {"rc": 64, "stderr": "ERROR: [064]: raised from local-2 protocol: unable to write "
                                  "'/srv/drill/his/data/base/5/2602'"}
    assert postgres.failure_reason(failed, "", 4096).startswith(
        "out of disk on the scratch host (4 KiB left): ERROR: [064]")
    assert postgres.failure_reason(failed, "", 10**9).startswith("ERROR: [064]")


def test_a_server_that_would_not_start_is_explained_by_its_log() -> None:
    log = ("LOG:  restored log file\nFATAL:  recovery aborted because of insufficient parameter "
           "settings\nDETAIL:  max_connections = 20 is a lower setting than on the primary "
           "server, where its value was 40.\n")
    reason = postgres.failure_reason({"rc": 1, "stdout": "stopped waiting"}, log)
    assert reason.startswith("FATAL: recovery aborted")
    assert "max_connections = 20" in reason


CONTROLDATA = """\
pg_control version number:            1300
max_connections setting:              40
max_worker_processes setting:         8
max_wal_senders setting:              10
max_prepared_xacts setting:           0
max_locks_per_xact setting:           64
"""


def test_control_limits_are_read_and_all_required() -> None:
    assert postgres.control_limits(CONTROLDATA) == {
        "max_connections": 40, "max_worker_processes": 8, "max_wal_senders": 10,
        "max_prepared_transactions": 0, "max_locks_per_transaction": 64}
    with pytest.raises(ValueError, match="max_wal_senders"):
        postgres.control_limits(CONTROLDATA.replace("max_wal_senders", "x"))


def test_restore_eta_uses_the_mean_of_earlier_drills() -> None:
    assert "ETA 10 s at 10.0 MB/s (mean of the last 2" in postgres.restore_eta([8.0, 12.0],
                                                                            100_000_000)
    assert "no earlier drill" in postgres.restore_eta([], 100_000_000)


def test_a_bpchar_index_flag_from_before_15_20_is_a_warning_to_reindex_not_corruption() -> None:
    # recorded on the lab: pg_amcheck of PostgreSQL 15.20 on a character(18) unique index
    # built under 15.18 (exit 2)
    out = ToolOutput(fixture("pg_amcheck_bpchar_dedup_15_20.txt"), rc=2)
    (finding,) = postgres.PostgresEngine().integrity_findings(out)
    assert finding.severity is Severity.WARNING
    assert finding.subject == 'btree index "his.his.patients_id_number_key"'
    assert "REINDEX" in finding.problem


def test_the_flag_beside_real_corruption_stays_an_error() -> None:
    text = ('btree index "his.his.t_key":\n'
            '    ERROR:  index "t_key" metapage incorrectly indicates that deduplication is safe\n'
            'heap table "his.his.t", block 0, offset 3:\n'
            '    xmin 1094795585 equals or exceeds next valid transaction ID 0:727\n'
            'btree index "his.his.u_key":\n'
            '    ERROR:  invalid line pointer storage in index "u_key"\n')
    findings = postgres.PostgresEngine().integrity_findings(ToolOutput(text, rc=2))
    assert [f.severity for f in findings] == [Severity.WARNING, Severity.ERROR, Severity.ERROR]
