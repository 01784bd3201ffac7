"""The restore drill's free-space preflight: the backup plus the WAL recovery brings into
pg_wal (hisops.engines.postgres.restore_space, on recorded and pgBackRest 2.45-shaped
``info --output=json``), and how a drill refused by it is recorded (drill_evidence)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from ansible.errors import AnsibleFilterError

from hisops.engines import postgres
from tests.role_plugins import filter_plugin

F = filter_plugin("pg_restore_verify", "hisops_drill")
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SEG = 16 << 20


def info(name: str) -> str:
    return (FIXTURES / "pgbackrest" / name).read_text()


LAB = info("info_lab_timeline.json")  # recorded on the lab: full 0x06 on tl 1, full 0x10 on tl 3
CHAIN = info("info_chain.json")  # first full 0x02..0x03, archive to 0x2A
UPGRADED = info("info_upgraded.json")  # a full on database 2 (archive 16-2, to 0x09)
RECORDED = (FIXTURES / "postgres" / "pgbackrest_info.json").read_text()


# --- what is counted -----------------------------------------------------------------------------


def test_an_immediate_recovery_counts_the_backups_own_wal_and_the_two_recovery_adds() -> None:
    space = postgres.restore_space(LAB, "20261127-000852F")
    # start = stop = 0x10: one segment restored, one copied to the new timeline, one preallocated
    assert space["wal_segments"] == 3
    assert space["wal_bytes"] == 3 * SEG
    assert space["backup_bytes"] == 39980155
    assert space["need_bytes"] == round((39980155 + 3 * SEG) * 1.1)
    assert space["wal_capped"] is False
    assert space["summary"] == "the restore needs 99.3 MB (backup 40.0 MB + WAL 50.3 MB, x 1.1)"


def test_a_backup_spanning_segments_counts_each_of_them() -> None:
    space = postgres.restore_space(CHAIN, "20261120-010000F")  # 0x02..0x03
    assert space["wal_segments"] == 2 + 2


def test_a_point_in_time_counts_up_to_the_archives_newest_segment() -> None:
    space = postgres.restore_space(CHAIN, "20261120-010000F",
                                   target_time="2026-11-25 00:00:00+00")
    assert space["wal_segments"] == (0x2A - 0x02 + 1) + 2


def test_the_wal_a_point_in_time_recovery_crosses_timelines_for_is_counted() -> None:
    """The lab's case: a 40 MB database whose recovery restores WAL across two switchovers.
    The database size alone (x 1.1 = 43.6 MB) let a 160 MB scratch disk through; recovery then
    ran out of disk. Counting the WAL refuses it."""
    space = postgres.restore_space(LAB, "20261126-235905F", target_time="2026-11-27 01:00:00+00")
    assert space["wal_segments"] == (0x11 - 0x06 + 1) + 2  # tl 1's 0x06 to tl 3's 0x11
    assert space["need_bytes"] > 160_000_000
    assert 39677185 * 1.1 < 160_000_000  # what the old estimate asked for


def test_only_the_archive_of_the_backups_own_database_counts() -> None:
    space = postgres.restore_space(UPGRADED, "20261125-030000F",
                                   target_time="2026-11-26 00:00:00+00")
    assert space["wal_segments"] == (0x09 - 0x03 + 1) + 2  # 16-2's max, not 15-1's 0x2A


@pytest.mark.parametrize(("max_wal_size", "segments"), [
    ("256MB", 256 // 16 + 2), ("512", 512 // 16 + 2), ("'1GB'", 0x2A - 0x02 + 1 + 2),
    ("", 0x2A - 0x02 + 1 + 2), (None, 0x2A - 0x02 + 1 + 2)])
def test_pg_wal_is_capped_at_the_scratch_instances_max_wal_size(
        max_wal_size: Any, segments: int) -> None:
    """PostgreSQL recycles restored segments at restartpoints: pg_wal holds at most about
    max_wal_size (a bare number is MB, its unit; empty is PostgreSQL's 1GB, 64 segments)."""
    space = postgres.restore_space(CHAIN, "20261120-010000F", target_time="2026-11-25 00:00+00",
                                   max_wal_size=max_wal_size)
    assert space["wal_segments"] == segments
    assert space["wal_capped"] is (segments < 0x2A - 0x02 + 1 + 2)


@pytest.mark.parametrize(("text", "expected"), [
    ("1GB", 1 << 30), ("2048MB", 2 << 30), ("64", 64 << 20), ("'80MB'", 80 << 20),
    ("512kB", 512 << 10), ("", None), (None, None), ("lots", None)])
def test_size_settings_are_read_in_postgresqls_units(text: Any, expected: int | None) -> None:
    assert postgres.setting_bytes(text) == expected


def test_a_long_recovery_is_capped_by_the_default_max_wal_size() -> None:
    wide = json.loads(CHAIN)
    wide[0]["archive"][0]["max"] = "000000010000000200000000"  # 2 x 256 segments further
    space = postgres.restore_space(json.dumps(wide), "20261120-010000F",
                                   target_time="2026-11-26 00:00:00+00")
    assert space["wal_segments"] == 64 + 2
    assert space["wal_capped"] is True


def test_the_segment_size_comes_from_the_backups_lsn_and_defaults_to_16_mib() -> None:
    (stanza,) = json.loads(RECORDED)
    newest = stanza["backup"][-1]  # lsn 0/A000028 in segment ...0A: 16 MiB
    assert postgres.wal_segment_bytes(newest) == SEG
    big = {**newest, "archive": {"start": "000000010000000000000002",
                                 "stop": "000000010000000000000003"}}
    assert postgres.wal_segment_bytes(big) == 64 << 20  # 0xA000028 // 64 MiB == 2
    assert postgres.wal_segment_bytes({**newest, "lsn": None}) == SEG
    stanza["backup"][-1] = big
    space = postgres.restore_space(json.dumps([stanza]), newest["label"])
    assert space["wal_segment_bytes"] == 64 << 20
    assert space["wal_bytes"] == (2 + 2) * (64 << 20)


def test_a_margin_of_zero_needs_nothing() -> None:
    space = postgres.restore_space(LAB, "20261127-000852F", margin=0)
    assert space["need_bytes"] == 0
    assert space["summary"].endswith("x 0)")


def test_an_unknown_backup_is_an_error_naming_it() -> None:
    with pytest.raises(ValueError, match="backup 20200101-000000F is not in the catalogue"):
        postgres.restore_space(LAB, "20200101-000000F")
    with pytest.raises(AnsibleFilterError, match="cannot estimate the restore's space"):
        F.restore_space(LAB, "20200101-000000F")


def test_the_role_filter_takes_ansibles_strings() -> None:
    """The role hands the margin and the carried max_wal_size as strings (or '' when none)."""
    space = F.restore_space(CHAIN, "20261120-010000F", "2026-11-25 00:00+00", "1.5",
                                      "256MB")
    assert space["wal_segments"] == 18
    assert space["need_bytes"] == round((52428800000 + 18 * SEG) * 1.5)
    assert F.restore_space(LAB, "20261127-000852F", "", "1.1", "")["wal_segments"] == 3


# --- a drill refused at preflight ----------------------------------------------------------------


def _refused_raw(phase: str, **over: Any) -> dict[str, Any]:
    backup = postgres.pick_backup(LAB, "latest")
    segs = postgres.wal_range(backup["start_position"], backup["stop_position"])
    raw: dict[str, Any] = {
        "stanza": "his", "scratch_host": "verify-1", "source_host": "his-db-1",
        "backup": backup, "tolerance": "0.10", "repo_check": {"rc": 0, "stdout": ""},
        "backup_listing": {"stdout": json.dumps({
            "backup.manifest": {"type": "file"}, "backup.manifest.copy": {"type": "file"}})},
        "archive_listing": {"stdout": json.dumps({
            f"15-1/0000000300000000/{s}-x.lz4": {"type": "file", "time": 1.0} for s in segs})},
        "restore": {}, "start": {}, "recovery": {}, "amcheck": {}, "marker": {}, "tables": {},
        "smoke": [], "smoke_queries": [],
        "failure": [phase, "scratch host verify-1 is out of disk: the restore needs 99.3 MB "
                           "(backup 40.0 MB + WAL 50.3 MB, x 1.1), /x has 8.0 MB free"],
    }
    raw.update(over)
    return raw


def test_a_drill_refused_at_preflight_records_the_restore_as_never_started() -> None:
    evidence = postgres.drill_evidence(_refused_raw("preflight"))
    assert evidence["passed"] is False
    assert evidence["checks"] == {"repository": "passed", "wal": "passed",
                                  "preflight": "failed", "restore": "skipped"}
    assert evidence["refused"] == "preflight"
    (finding,) = evidence["findings"]
    assert finding["line"].startswith("[preflight]")
    assert "+ WAL 50.3 MB" in finding["line"]


def test_a_restore_that_failed_is_still_recorded_failed_and_not_refused() -> None:
    failed = postgres.drill_evidence(_refused_raw("restore", restore={"rc": 1, "stdout": ""}))
    assert failed["checks"]["restore"] == "failed"
    assert "refused" not in failed
    # a registered restore result that then fails in recovery: the restore itself passed
    recovery = postgres.drill_evidence(_refused_raw(
        "recovery", restore={"rc": 0, "stdout": ""}, start={"rc": 0}))
    assert recovery["checks"]["recovery"] == "failed"
    assert "restore" not in recovery["checks"]
    assert "refused" not in recovery
