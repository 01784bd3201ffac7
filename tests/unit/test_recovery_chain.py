"""Choosing the backup set, chain and WAL range of an emergency restore from
``pgbackrest info --output=json`` (fixtures: tests/fixtures/pgbackrest/README.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from hisops.errors import ExitStatus, InputError
from hisops.recovery import (
    InfoFormatError,
    NoBackupForTarget,
    RecoveryTarget,
    StanzaInfo,
    disk_needed,
    parse_info,
    segment_position,
    select_backup,
    stanza_info,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
F1, D1, I1 = ("20261120-010000F", "20261120-010000F_20261122-010000D",
              "20261120-010000F_20261123-010000I")
F2, I2 = "20261124-010000F", "20261124-010000F_20261125-010000I"
CST = timezone(timedelta(hours=8))  # the hospital's wall clock


def info(name: str) -> StanzaInfo:
    return stanza_info((FIXTURES / "pgbackrest" / name).read_text(), "his")


def at(text: str) -> RecoveryTarget:
    return RecoveryTarget("time", text)


def labels(selection_chain: tuple[object, ...]) -> list[str]:
    return [b.label for b in selection_chain]  # type: ignore[attr-defined]


# --- parsing -------------------------------------------------------------------------------------


def test_parses_the_lab_recording_of_pgbackrest_2_45() -> None:
    recorded = (FIXTURES / "postgres" / "pgbackrest_info.json").read_text()
    [his] = parse_info(recorded)
    assert his.name == "his"
    assert [b.label for b in his.backups] == ["20261126-054342F", "20261126-054432F"]
    first = his.backups[0]
    assert first.type == "full"
    assert first.references == ()
    assert first.prior is None
    assert first.size == 39898237
    assert first.repo_size == 9252647
    assert first.archive_start == first.archive_stop == "000000010000000000000007"
    assert first.lsn_start == "0/7000028"
    assert first.stopped_at == datetime.fromtimestamp(1795671826, tz=UTC)
    assert his.archive_for(first) is not None
    assert his.archive_for(first).max == "00000001000000000000000A"  # type: ignore[union-attr]


def test_parses_diff_and_incr_references() -> None:
    his = info("info_chain.json")
    assert [(b.label, b.type) for b in his.backups] == [
        (F1, "full"), (D1, "diff"), (I1, "incr"), (F2, "full"), (I2, "incr")]
    incr = his.backup(I1)
    assert incr is not None
    assert incr.references == (F1, D1)
    assert incr.prior == D1
    assert incr.delta < incr.size  # an incr copies little but restores the whole cluster


def test_not_json_or_not_a_catalogue_is_an_input_error() -> None:
    with pytest.raises(InfoFormatError, match="did not print JSON"):
        parse_info("ERROR: [056]: unable to find primary cluster")
    with pytest.raises(InfoFormatError, match=r"backup\[0\]"):
        parse_info('[{"name":"his","backup":[{"label":"x","type":"full"}],"archive":[]}]')
    with pytest.raises(InfoFormatError, match="unknown backup type 'snapshot'"):
        parse_info('[{"name":"his","backup":[{"label":"x","type":"snapshot","timestamp":'
                   '{"start":1,"stop":2},"info":{"size":1}}],"archive":[]}]')


def test_unknown_stanza_names_those_present() -> None:
    text = (FIXTURES / "pgbackrest" / "info_chain.json").read_text()
    with pytest.raises(InfoFormatError, match=r"'emr'.*stanzas: his"):
        stanza_info(text, "emr")


# --- selection by time ---------------------------------------------------------------------------


def test_time_between_incr_and_next_full_restores_full_diff_incr_chain() -> None:
    sel = select_backup(info("info_chain.json"), at("2026-11-23 18:00:00+08:00"))
    assert sel.backup.label == I1
    assert labels(sel.chain) == [F1, D1, I1]
    assert sel.wal.start == "000000010000000000000012"
    assert sel.wal.archive_max == "00000001000000000000002A"


def test_a_backup_still_running_at_the_target_time_cannot_be_used() -> None:
    # F2 started 01:00 UTC and stopped 01:44:30 UTC: 01:30 UTC falls inside it
    sel = select_backup(info("info_chain.json"), at("2026-11-24 09:30:00+08:00"))
    assert sel.backup.label == I1


def test_time_equal_to_a_backup_end_selects_that_backup() -> None:
    sel = select_backup(info("info_chain.json"), at("2026-11-24T01:44:30+00:00"))
    assert sel.backup.label == F2
    assert labels(sel.chain) == [F2]


def test_time_after_the_diff_restores_full_and_diff_only() -> None:
    sel = select_backup(info("info_chain.json"), at("2026-11-22 12:00:00+00:00"))
    assert labels(sel.chain) == [F1, D1]


def test_time_before_newest_backup_is_flagged_with_the_set_to_use() -> None:
    sel = select_backup(info("info_chain.json"), at("2026-11-23 18:00:00+08:00"))
    assert sel.ok  # an instruction for the restore, not a reason it fails
    [caveat] = [c for c in sel.caveats if "--set=" in c]
    assert I2 in caveat
    assert f"--set={I1}" in caveat


def test_time_before_every_backup_is_refused() -> None:
    with pytest.raises(NoBackupForTarget, match=f"before the end of the oldest backup {F1}") as err:
        select_backup(info("info_chain.json"), at("2026-11-20 09:30:00+08:00"))
    assert err.value.exit_status == ExitStatus.REFUSED


def test_time_without_offset_is_refused_before_anything_runs() -> None:
    with pytest.raises(InputError, match="no UTC offset"):
        at("2026-11-23 18:00:00")
    with pytest.raises(InputError, match="not an ISO 8601"):
        at("yesterday evening")


# --- latest --------------------------------------------------------------------------------------


def test_latest_restores_newest_backup_and_replays_to_the_archive_end() -> None:
    sel = select_backup(info("info_chain.json"), RecoveryTarget("latest"))
    assert sel.backup.label == I2
    assert labels(sel.chain) == [F2, I2]
    assert sel.ok
    assert sel.problems == ()
    assert (sel.wal.start, sel.wal.consistent_at, sel.wal.archive_max) == (
        "000000010000000000000022", "000000010000000000000022", "00000001000000000000002A")
    assert sel.wal.segments == 0x2A - 0x22 + 1


def test_no_backup_at_all_is_refused_with_pgbackrest_status() -> None:
    with pytest.raises(NoBackupForTarget, match="no valid backups"):
        select_backup(info("info_no_backups.json"), RecoveryTarget("latest"))


def test_after_stanza_upgrade_wal_comes_from_the_backup_database_id() -> None:
    his = info("info_upgraded.json")
    latest = select_backup(his, RecoveryTarget("latest"))
    assert latest.backup.database_id == 2
    assert (latest.wal.archive_id, latest.wal.archive_max) == ("16-2", "000000010000000000000009")
    assert latest.ok
    before = select_backup(his, at("2026-11-24 12:00:00+00:00"))
    assert before.backup.label == F2
    assert (before.wal.archive_id, before.wal.archive_max) == ("15-1", "00000001000000000000002A")


# --- archive gaps and broken chains --------------------------------------------------------------


def test_archive_max_older_than_backup_stop_is_an_archive_gap() -> None:
    sel = select_backup(info("info_archive_gap.json"), RecoveryTarget("latest"))
    assert sel.backup.label == I2
    assert any("archive gap" in p and "00000001000000000000001F" in p
               and "000000010000000000000022" in p for p in sel.problems)


def test_archive_gap_does_not_touch_an_older_backup_the_archive_covers() -> None:
    sel = select_backup(info("info_archive_gap.json"), at("2026-11-24 12:00:00+00:00"))
    assert sel.backup.label == F2
    assert not any("archive gap" in p for p in sel.problems)


def test_expired_reference_breaks_the_chain() -> None:
    raw = json.loads((FIXTURES / "pgbackrest" / "info_chain.json").read_text())
    raw[0]["backup"] = [b for b in raw[0]["backup"] if b["label"] != D1]
    his = stanza_info(json.dumps(raw), "his")
    sel = select_backup(his, at("2026-11-23 12:00:00+00:00"))
    assert sel.backup.label == I1
    assert labels(sel.chain) == [F1, I1]
    assert any(D1 in p and "no longer" in p for p in sel.problems)


def test_no_wal_archived_for_the_database_is_a_problem() -> None:
    raw = json.loads((FIXTURES / "pgbackrest" / "info_chain.json").read_text())
    raw[0]["archive"] = []
    sel = select_backup(stanza_info(json.dumps(raw), "his"), RecoveryTarget("latest"))
    assert any("no WAL archived" in p for p in sel.problems)


def test_timeline_does_not_outrank_wal_position() -> None:
    # from pgBackRest's own info test: a promoted standby's timeline 2 at segment 3
    assert segment_position("000000020000000000000003") > segment_position(
        "000000010000000000000002")
    assert segment_position("000000020000000000000003") < segment_position(
        "000000010000000000000005")
    with pytest.raises(ValueError, match="not a WAL segment"):
        segment_position("0/3000028")


# --- named restore points and transaction ids ----------------------------------------------------


def test_name_without_hint_takes_newest_backup_with_a_caveat() -> None:
    sel = select_backup(info("info_chain.json"), RecoveryTarget("name", "before-his-upgrade"))
    assert sel.backup.label == I2
    [caveat] = sel.caveats
    assert "'before-his-upgrade' must lie after" in caveat
    assert I2 in caveat


def test_xid_with_hint_takes_newest_backup_before_the_hint() -> None:
    hint = datetime(2026, 11, 24, 8, 0, tzinfo=CST)  # 00:00 UTC, before F2 ended
    sel = select_backup(info("info_chain.json"), RecoveryTarget("xid", "9912345", hint))
    assert sel.backup.label == I1
    assert labels(sel.chain) == [F1, D1, I1]
    assert any(I1 in c and "xid" in c for c in sel.caveats)


def test_hint_before_every_backup_is_refused() -> None:
    hint = datetime(2026, 11, 19, tzinfo=UTC)
    with pytest.raises(NoBackupForTarget, match="oldest backup"):
        select_backup(info("info_chain.json"), RecoveryTarget("name", "p1", hint))


def test_bad_targets_are_input_errors() -> None:
    with pytest.raises(InputError, match="a transaction id is a number"):
        RecoveryTarget("xid", "abc")
    with pytest.raises(InputError, match="needs a value"):
        RecoveryTarget("name", " ")
    with pytest.raises(InputError, match="must be one of"):
        RecoveryTarget("lsn", "0/3000028")  # type: ignore[arg-type]


# --- disk ----------------------------------------------------------------------------------------


def test_disk_needed_is_size_plus_ten_percent_or_max_wal_size() -> None:
    his = info("info_chain.json")
    f2 = his.backup(F2)
    assert f2 is not None
    assert disk_needed(f2) == 52747980800 + 5274798080
    sel = select_backup(his, RecoveryTarget("latest"))
    assert sel.disk_bytes == 52806701056 + 5280670105  # the incr restores the whole cluster
    small = parse_info((FIXTURES / "postgres" / "pgbackrest_info.json").read_text())[0]
    assert disk_needed(small.backups[0]) == 39898237 + (1 << 30)


# --- a recorded catalogue ---------------------------------------------------------------------

def test_recorded_lab_catalogue_across_two_timeline_switches() -> None:
    """pgBackRest's real output after switchovers: the WAL range spans timelines 1 to 3 and is
    counted by position, and a time target on timeline 1 picks the old backup with --set."""
    stanza = info("info_lab_timeline.json")
    latest = select_backup(stanza, RecoveryTarget("latest"))
    assert latest.ok
    assert latest.backup.label == "20261127-000852F"
    assert (latest.wal.start, latest.wal.archive_max) == (
        "000000030000000000000010", "000000030000000000000011")
    assert latest.wal.segments == 2
    assert latest.disk_bytes == 39_980_155 + (1 << 30)  # a small cluster: the 1 GiB margin
    early = select_backup(stanza, at("2026-11-27 00:00:00+00:00"))
    assert early.ok
    assert early.backup.label == "20261126-235905F"
    assert any("--set=20261126-235905F" in c for c in early.caveats)
