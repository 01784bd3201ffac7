"""Oracle emergency restore: the RMAN point-in-time restore script, its transcript read back,
the Data Guard failover alternative and the choice between them, on real output formats.

Fixtures live in tests/fixtures/oracle (formats and their sources in SOURCES.md). The tests
assert what the engineer acts on at 3 a.m.: where recovery stops, why a restore failed, whether
the database opened, whether a failover happened and when failing over is refused.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from hisops.engines.oracle.failover import (
    DgConfiguration,
    choose_path,
    failover_commands,
    failover_steps,
    parse_failover_output,
    parse_show_configuration,
    reinstate_commands,
)
from hisops.engines.oracle.recovery import (
    RestoreFailure,
    oracle_restore_steps,
    oracle_until,
    parse_restore_log,
    rman_restore_script,
)
from hisops.engines.oracle.rman import UnreadableOutput
from hisops.errors import ParameterError
from hisops.recovery.chain import RecoveryTarget

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "oracle"
BERLIN = ZoneInfo("Europe/Berlin")
LATEST = RecoveryTarget("latest")


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def run_block(script: str) -> list[str]:
    lines = script.splitlines()
    start, end = lines.index("RUN {"), lines.index("}")
    return [line.strip() for line in lines[start + 1:end]]


# --- the script --------------------------------------------------------------------------------


def test_time_target_becomes_host_local_until_time_before_restore() -> None:
    # 04:44 UTC is 05:44 in Berlin in March (CET, +01:00): RMAN reads the host's clock
    target = RecoveryTarget("time", "2026-03-10T04:44:00+00:00")
    script = rman_restore_script(target, host_tz=BERLIN)
    body = run_block(script)
    assert body[0] == ("SET UNTIL TIME \"TO_DATE('2026-03-10 05:44:00','YYYY-MM-DD "
                       "HH24:MI:SS')\";")
    assert body[1:] == ["ALLOCATE CHANNEL c1 DEVICE TYPE DISK;",
                        "ALLOCATE CHANNEL c2 DEVICE TYPE DISK;",
                        "RESTORE DATABASE;", "RECOVER DATABASE;"]
    lines = script.splitlines()
    assert lines.index("STARTUP FORCE MOUNT;") < lines.index("RUN {")
    assert lines[-1] == "ALTER DATABASE OPEN RESETLOGS;"
    assert "password" not in script.lower().replace("holds no password", "")


def test_time_target_uses_the_summer_offset_and_drops_fractions() -> None:
    # July: CEST, +02:00; a fraction of a second is dropped (the limit is exclusive: earlier)
    target = RecoveryTarget("time", "2026-07-01T10:15:30.900+00:00")
    until = oracle_until(target, host_tz=BERLIN)
    assert "TO_DATE('2026-07-01 12:15:30'" in until.command
    assert not until.complete


def test_time_target_needs_the_host_zone() -> None:
    with pytest.raises(ParameterError) as caught:
        rman_restore_script(RecoveryTarget("time", "2026-03-10T04:44:00+00:00"))
    assert caught.value.field == "host_tz"


def test_time_in_the_repeated_dst_hour_is_refused() -> None:
    # 2026-10-25 00:30 UTC is 02:30 CEST; 01:30 UTC is 02:30 CET: one wall time, two instants
    with pytest.raises(ParameterError, match="occurs twice") as caught:
        oracle_until(RecoveryTarget("time", "2026-10-25T00:30:00+00:00"), host_tz=BERLIN)
    assert caught.value.field == "target"
    # an hour later the wall time is unique again
    later = oracle_until(RecoveryTarget("time", "2026-10-25T02:30:00+00:00"), host_tz=BERLIN)
    assert "2026-10-25 03:30:00" in later.command


def test_fixed_offset_zone_is_accepted() -> None:
    until = oracle_until(RecoveryTarget("time", "2026-03-10T05:44:00+08:00"),
                         host_tz=timezone(timedelta(hours=8)))
    assert "TO_DATE('2026-03-10 05:44:00'" in until.command


def test_latest_is_complete_recovery_and_plain_open() -> None:
    script = rman_restore_script(LATEST, channels=1)
    assert run_block(script) == ["ALLOCATE CHANNEL c1 DEVICE TYPE DISK;", "RESTORE DATABASE;",
                                 "RECOVER DATABASE;"]
    assert "UNTIL" not in script
    assert script.splitlines()[-1] == "ALTER DATABASE OPEN;"
    assert "RESETLOGS" not in script


def test_restore_point_target() -> None:
    script = rman_restore_script(RecoveryTarget("name", "before_his_upgrade"))
    assert run_block(script)[0] == "SET TO RESTORE POINT BEFORE_HIS_UPGRADE;"
    assert script.splitlines()[-1] == "ALTER DATABASE OPEN RESETLOGS;"


def test_scn_keyword_instead_of_a_target() -> None:
    script = rman_restore_script(None, scn=48571400)
    assert run_block(script)[0] == "SET UNTIL SCN 48571400;"
    assert script.splitlines()[-1] == "ALTER DATABASE OPEN RESETLOGS;"


@pytest.mark.parametrize(("target", "scn", "field"), [
    (None, None, "target"),  # neither
    (LATEST, 100, "target"),  # both
    (None, 0, "scn"),
    (None, -5, "scn"),
    (None, True, "scn"),
])
def test_target_or_scn_exactly_one(target: RecoveryTarget | None, scn: int | None,
                                   field: str) -> None:
    with pytest.raises(ParameterError) as caught:
        rman_restore_script(target, scn=scn)
    assert caught.value.field == field


def test_xid_target_is_refused_with_the_scn_hint() -> None:
    with pytest.raises(ParameterError, match="scn=") as caught:
        rman_restore_script(RecoveryTarget("xid", "771234"))
    assert caught.value.field == "target"


@pytest.mark.parametrize("name", [
    "x'; DROP", "rp;SHUTDOWN", "rp\nRESTORE", 'rp"', "1rp", "rp name", "r" * 129,
])
def test_restore_point_injection_is_refused(name: str) -> None:
    with pytest.raises(ParameterError) as caught:
        rman_restore_script(RecoveryTarget("name", name))
    assert caught.value.field == "target"


@pytest.mark.parametrize("channels", [0, 17, True])
def test_channel_count_is_bounded(channels: int) -> None:
    with pytest.raises(ParameterError) as caught:
        rman_restore_script(LATEST, channels=channels)
    assert caught.value.field == "channels"


# --- the transcript ----------------------------------------------------------------------------


_HEAD = """\
RMAN> RUN {
2>   SET UNTIL SCN 48571400;
3>   RESTORE DATABASE;
4>   RECOVER DATABASE;
5> }
executing command: SET until clause

Starting restore at 2026-03-10 06:02:58
"""
_BANNER = """\
RMAN-00571: ===========================================================
RMAN-00569: =============== ERROR MESSAGE STACK FOLLOWS ===============
RMAN-00571: ===========================================================
"""


def test_successful_point_in_time_restore_log() -> None:
    result = parse_restore_log(fixture("restore_recover_until_time_success.txt"))
    assert result.ok
    assert result.restore_started == datetime(2026, 3, 10, 6, 2, 58)
    assert result.restore_finished == datetime(2026, 3, 10, 6, 7, 3)
    assert result.recover_started == datetime(2026, 3, 10, 6, 7, 3)
    assert result.recover_finished == datetime(2026, 3, 10, 6, 7, 31)
    assert sorted(result.datafiles) == [1, 3, 4, 7, 9, 10]
    assert result.datafiles[9] == "+DATA/HISPRD/DATAFILE/his_data.270.1098766201"
    # two channels interleave: each piece is matched to its own channel's "restored" line
    assert [(p.handle.rsplit("/", 1)[1], p.tag) for p in result.pieces] == [
        ("HISPRD_lvl0_1f3k2a9d_1_1.bkp", "HIS_L0_WEEKLY"),
        ("HISPRD_lvl0_1g3k2aih_1_1.bkp", "HIS_L0_WEEKLY")]
    # "already on disk" lines are not applications; "archived log file name=" lines are
    assert result.logs_applied == ((1, 1234), (1, 1235))
    assert result.last_applied == {1: 1235}
    assert result.media_recovery_elapsed == timedelta(seconds=12)
    assert (result.open_attempted, result.resetlogs, result.opened) == (True, True, True)
    assert result.failures == ()


def test_pieces_pair_with_their_own_channel_and_deleted_logs_are_not_applied() -> None:
    text = (_HEAD + "channel c2: piece handle=/u03/b/p2.bkp tag=HIS_L0_WEEKLY\n"
            "channel c1: piece handle=/u03/b/p1.bkp tag=HIS_L0_WEEKLY\n"
            "channel c2: restored backup piece 1\n"  # c1's piece never finished
            "archived log file name=/u04/arch/HISPRD/1_1236_1098765432.arc thread=1 "
            "sequence=1236\n"
            "channel default: deleting archived log(s)\n"
            "archived log file name=/u04/arch/HISPRD/1_1236_1098765432.arc RECID=40 "
            "STAMP=1089497155\n")
    result = parse_restore_log(text)
    assert [p.handle for p in result.pieces] == ["/u03/b/p2.bkp"]
    assert result.logs_applied == ((1, 1236),)


def test_error_after_open_echo_then_a_later_statement_is_not_opened() -> None:
    text = (fixture("restore_recover_until_time_success.txt").split("RMAN> ALTER")[0]
            + "RMAN> ALTER DATABASE OPEN RESETLOGS;\n" + _BANNER
            + "RMAN-03002: failure of sql statement command at 03/10/2026 06:07:40\n"
              "ORA-01152: file 1 was not restored from a sufficiently old backup\n"
              "Statement processed\n")
    assert not parse_restore_log(text).opened


def test_missing_archived_log_during_recover() -> None:
    result = parse_restore_log(fixture("restore_recover_missing_archivelog.txt"))
    assert not result.ok
    assert result.restore_finished is not None
    assert result.recover_started is not None
    assert result.recover_finished is None
    assert result.logs_applied == ((1, 1234),)
    assert result.failures == (RestoreFailure.MISSING_ARCHIVED_LOG,)
    assert [f.subject for f in result.findings] == ["archived log thread 1 sequence 1235"]
    assert not result.open_attempted
    assert not result.opened


def test_no_backup_reaches_the_until_time() -> None:
    result = parse_restore_log(fixture("restore_no_backup_for_until.txt"))
    assert result.failures == (RestoreFailure.MISSING_BACKUP,)
    assert result.restore_finished is None
    assert result.datafiles == {}
    assert {f.subject for f in result.findings} == {
        "datafile 1", "datafile 3", "datafile 4", "datafile 7", "datafile 9", "datafile 10"}


def test_corrupt_piece_is_classified_even_when_rman_failed_over() -> None:
    result = parse_restore_log(fixture("restore_validate_corrupt_piece.txt"))
    assert result.failures == (RestoreFailure.CORRUPT_PIECE,)
    assert not result.ok


def test_unreadable_piece_then_missing_backup_are_both_reported() -> None:
    result = parse_restore_log(fixture("restore_validate_missing_piece.txt"))
    assert result.failures == (RestoreFailure.CORRUPT_PIECE, RestoreFailure.MISSING_BACKUP)


def test_missing_archived_log_backup_is_not_a_missing_datafile_backup() -> None:
    # RMAN-06026 ("some targets not found") with RMAN-06025 under it: the log is what is missing
    result = parse_restore_log(fixture("restore_archivelog_missing_sequence.txt"))
    assert result.failures == (RestoreFailure.MISSING_ARCHIVED_LOG,)


def test_open_resetlogs_refused_needs_more_recovery() -> None:
    text = (fixture("restore_recover_until_time_success.txt").split("RMAN> ALTER")[0]
            + "RMAN> ALTER DATABASE OPEN RESETLOGS;\n\n" + _BANNER
            + "RMAN-03002: failure of sql statement command at 03/10/2026 06:07:40\n"
              "ORA-01194: file 1 needs more recovery to be consistent\n"
              "ORA-01110: data file 1: '+DATA/HISPRD/DATAFILE/system.257.1098765001'\n")
    result = parse_restore_log(text)
    assert result.open_attempted
    assert result.resetlogs
    assert not result.opened
    assert result.failures == (RestoreFailure.NOT_CONSISTENT,)
    assert not result.ok


def test_recover_warning_before_resetlogs_is_not_consistent() -> None:
    text = (_HEAD + "Finished restore at 2026-03-10 06:05:00\n\n"
            "Starting recover at 2026-03-10 06:05:00\n\nstarting media recovery\n\n"
            "unable to find archived log\narchived log thread=1 sequence=1235\n"
            "Oracle Error:\n"
            "ORA-01547: warning: RECOVER succeeded but OPEN RESETLOGS would get error below\n"
            "ORA-01152: file 1 was not restored from a sufficiently old backup\n"
            "ORA-01110: data file 1: '+DATA/HISPRD/DATAFILE/system.257.1098765001'\n")
    assert parse_restore_log(text).failures == (RestoreFailure.NOT_CONSISTENT,)


@pytest.mark.parametrize("error", [
    "RMAN-20207: UNTIL TIME or RECOVERY WINDOW is before RESETLOGS time",
    "RMAN-06556: datafile 1 must be restored from backup older than SCN 48571400",
])
def test_target_before_backup_or_resetlogs(error: str) -> None:
    text = (_HEAD + _BANNER
            + f"RMAN-03002: failure of restore command at 03/10/2026 06:02:59\n{error}\n")
    result = parse_restore_log(text)
    assert result.failures == (RestoreFailure.TARGET_BEFORE_BACKUP,)
    assert result.restore_finished is None


def test_some_targets_not_found_alone_is_a_missing_backup() -> None:
    text = (_HEAD + _BANNER + "RMAN-03002: failure of restore command at 03/10/2026 06:02:59\n"
            "RMAN-06026: some targets not found - aborting restore\n")
    assert parse_restore_log(text).failures == (RestoreFailure.MISSING_BACKUP,)


def test_restore_spans_from_first_start_to_last_finish() -> None:
    result = parse_restore_log(fixture("restore_validate_clean.txt"))  # two RESTORE commands
    assert result.restore_started == datetime(2026, 3, 10, 6, 20, 11)
    assert result.restore_finished == datetime(2026, 3, 10, 6, 26, 21)


def test_unclassified_error_is_other_not_success() -> None:
    text = (_HEAD + _BANNER + "RMAN-03002: failure of restore command at 03/10/2026 06:02:59\n"
            "ORA-01034: ORACLE not available\n")
    result = parse_restore_log(text)
    assert result.failures == (RestoreFailure.OTHER,)
    assert not result.ok


def test_transcript_cut_before_recover_finished_is_not_ok() -> None:
    text = fixture("restore_recover_until_time_success.txt").split("media recovery complete")[0]
    result = parse_restore_log(text)
    assert result.findings == ()
    assert result.recover_finished is None
    assert not result.ok


@pytest.mark.parametrize("text", ["", "   \n\n", "Recovery Manager complete.\n",
                                  "some other program's output\n"])
def test_unreadable_restore_log(text: str) -> None:
    with pytest.raises(UnreadableOutput):
        parse_restore_log(text)


def test_unknown_date_format_is_unreadable() -> None:
    with pytest.raises(UnreadableOutput, match="NLS_DATE_FORMAT"):
        parse_restore_log("Starting restore at 10.03.2026 06:02\n")


# --- the steps ---------------------------------------------------------------------------------


def test_in_place_steps_for_a_time_target() -> None:
    target = RecoveryTarget("time", "2026-03-10T04:44:00+00:00")
    steps = oracle_restore_steps(target, "in-place", host="hisdb1",
                                 standby_hosts=("hisdb2",), host_tz=BERLIN)
    assert [s.id for s in steps] == [
        "fence", "set-aside", "restore", "recover", "open", "integrity-checks",
        "open-to-clients", "standbys", "post-checks", "timeline-report"]
    by_id = {s.id: s for s in steps}
    assert "2026-03-10 05:44:00" in by_id["restore"].description
    assert "OPEN RESETLOGS" in by_id["open"].description
    assert by_id["standbys"].host == "hisdb2"
    assert "RESETLOGS_CHANGE# - 2" in by_id["standbys"].description
    assert "never move" in by_id["set-aside"].description
    assert all(s.host == "hisdb1" for s in steps if s.id != "standbys")


def test_latest_steps_open_without_resetlogs_and_no_standby_step_without_standbys() -> None:
    steps = oracle_restore_steps(LATEST, "in-place", host="hisdb1")
    by_id = {s.id: s for s in steps}
    assert "RESETLOGS" not in by_id["open"].description.replace("no RESETLOGS", "")
    assert "standbys" not in by_id


@pytest.mark.parametrize(("mode", "kwargs", "field"), [
    ("new-host", {"host": "hisdb9"}, "mode"),
    ("sideways", {"host": "hisdb1"}, "mode"),
    ("in-place", {"host": " "}, "host"),
    ("in-place", {"host": "hisdb2", "standby_hosts": ("hisdb2",)}, "host"),
])
def test_steps_refuse_what_is_not_planned(mode: str, kwargs: dict[str, object],
                                          field: str) -> None:
    with pytest.raises(ParameterError) as caught:
        oracle_restore_steps(LATEST, mode, **kwargs)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_steps_refuse_an_xid_target_before_anything() -> None:
    with pytest.raises(ParameterError):
        oracle_restore_steps(RecoveryTarget("xid", "42"), "in-place", host="hisdb1")


# --- Data Guard --------------------------------------------------------------------------------


def test_failover_commands() -> None:
    assert failover_commands("HISSTBY") == [
        "SHOW CONFIGURATION;", "VALIDATE DATABASE HISSTBY;", "FAILOVER TO HISSTBY;",
        "SHOW CONFIGURATION;"]
    assert failover_commands("HISSTBY", immediate=True)[2] == "FAILOVER TO HISSTBY IMMEDIATE;"
    assert reinstate_commands("HISPRD")[0] == "REINSTATE DATABASE HISPRD;"


@pytest.mark.parametrize("name", ["HIS'STBY", "HISSTBY;SHUTDOWN", "HIS\nSTBY", "", "1HIS",
                                  "H" * 31])
def test_failover_commands_refuse_injection(name: str) -> None:
    with pytest.raises(ParameterError) as caught:
        failover_commands(name)
    assert caught.value.field == "standby"


def test_show_configuration_success() -> None:
    config = parse_show_configuration(fixture("dgmgrl_show_configuration_success.txt"))
    assert config.name == "his_dg"
    assert config.protection_mode == "MaxPerformance"
    assert [(m.name, m.role, m.disabled) for m in config.members] == [
        ("HISPRD", "primary", False), ("HISSTBY", "physical standby", False)]
    assert config.fast_start_failover == "disabled"
    assert (config.status, config.status_age_s) == ("SUCCESS", 41)
    assert all(not m.messages for m in config.members)


def test_show_configuration_error_keeps_messages_with_their_member() -> None:
    config = parse_show_configuration(fixture("dgmgrl_show_configuration_error.txt"))
    assert config.status == "ERROR"
    primary, standby = config.member("HISPRD"), config.member("hisstby")
    assert primary is not None
    assert standby is not None
    assert [(m.severity, m.code) for m in primary.messages] == [("error", "ORA-1034")]
    assert [(m.severity, m.code) for m in standby.messages] == [("warning", "ORA-16857")]


def test_show_configuration_after_failover_reads_the_last_one() -> None:
    config = parse_show_configuration(fixture("dgmgrl_failover_success.txt"))
    assert config.primary is not None
    assert config.primary.name == "HISSTBY"
    old = config.member("HISPRD")
    assert old is not None
    assert old.disabled
    assert [(m.severity, m.code) for m in old.messages] == [("", "ORA-16661")]
    assert config.status == "WARNING"


def test_show_configuration_11g_layout_and_fsfo_target() -> None:
    text = ("Configuration - his_dg\n\n  Protection Mode: MaxAvailability\n  Databases:\n"
            "    HISPRD  - Primary database\n    HISSTBY - (*) Physical standby database\n\n"
            "Fast-Start Failover: ENABLED\n\nConfiguration Status:\nSUCCESS\n")
    config = parse_show_configuration(text)
    standby = config.member("HISSTBY")
    assert standby is not None
    assert standby.fast_start_target
    assert config.fast_start_failover == "enabled"
    assert config.status_age_s is None


@pytest.mark.parametrize("text", [
    "",
    "ORA-16525: The Oracle Data Guard broker is not yet available.\n",
    "Configuration - his_dg\n\n  Members:\n  HISPRD - Primary database\n",  # cut short
    ("Configuration - his_dg\n  Members:\n  HISPRD - Primary database\n"
     "Fast-Start Failover:  Disabled\n\nConfiguration Status:\nMAYBE\n"),
    ("Configuration - his_dg\n  Members:\n  HISPRD - Primary database\n"
     "    HISSTBY - Quantum standby database\n\nConfiguration Status:\nSUCCESS\n"),
])
def test_show_configuration_unreadable(text: str) -> None:
    with pytest.raises(UnreadableOutput):
        parse_show_configuration(text)


def test_failover_output_success_ignores_the_configuration_shown_after() -> None:
    result = parse_failover_output(fixture("dgmgrl_failover_success.txt"))
    assert result.started
    assert result.succeeded
    assert result.new_primary == "HISSTBY"
    assert result.errors == ()  # the ORA-16661 below belongs to SHOW CONFIGURATION


def test_failover_output_failed() -> None:
    result = parse_failover_output(fixture("dgmgrl_failover_failed.txt"))
    assert result.started
    assert not result.succeeded
    assert result.new_primary is None
    assert result.errors == (("ORA-16600", "not connected to target standby database for "
                                           "failover"),)


def test_failover_failed_line_without_error_is_a_failure() -> None:
    result = parse_failover_output("Performing failover NOW, please wait...\n\nFailed.\n"
                                   "Unable to failover\n")
    assert not result.succeeded
    assert result.errors == ()


def test_failover_error_without_failed_line_is_a_failure() -> None:
    result = parse_failover_output('Performing failover NOW, please wait...\n'
                                   'Error: ORA-16625: cannot reach member "HISSTBY"\n')
    assert not result.succeeded
    assert result.errors[0][0] == "ORA-16625"


@pytest.mark.parametrize("text", ["", "Performing failover NOW, please wait...\n",
                                  "DGMGRL> FAILOVER TO HISSTBY;\n"])
def test_failover_without_outcome_is_unreadable(text: str) -> None:
    with pytest.raises(UnreadableOutput):
        parse_failover_output(text)


# --- the choice --------------------------------------------------------------------------------


@pytest.fixture
def broken_primary() -> DgConfiguration:
    return parse_show_configuration(fixture("dgmgrl_show_configuration_error.txt"))


def test_failover_chosen_for_latest_with_known_lag(broken_primary: DgConfiguration) -> None:
    decision = choose_path(broken_primary, 4.0, LATEST, transport_lag_s=7.0)
    assert decision.path == "failover"
    assert decision.standby == "HISSTBY"
    assert decision.expected_data_loss_s == 7.0
    text = " ".join(decision.failover_reasons)
    assert "7 s" in text
    assert "ORA-16857" in text  # the standby's warning is shown, not hidden
    assert "SWITCHOVER" not in text  # the primary has an error: it is really down


def test_failover_refused_for_a_time_target(broken_primary: DgConfiguration) -> None:
    target = RecoveryTarget("time", "2026-03-10T04:44:00+00:00")
    decision = choose_path(broken_primary, 0.0, target, transport_lag_s=0.0)
    assert decision.path == "restore"
    assert decision.expected_data_loss_s is None
    assert any("dropped table" in r for r in decision.failover_reasons)


@pytest.mark.parametrize("target", [RecoveryTarget("name", "before_upgrade")])
def test_failover_refused_for_restore_point_and_scn(broken_primary: DgConfiguration,
                                                    target: RecoveryTarget) -> None:
    assert choose_path(broken_primary, 0.0, target).path == "restore"
    assert choose_path(broken_primary, 0.0, LATEST, scn=48571400).path == "restore"


def test_failover_refused_when_apply_lag_unknown(broken_primary: DgConfiguration) -> None:
    decision = choose_path(broken_primary, None, LATEST, transport_lag_s=1.0)
    assert decision.path == "restore"
    assert any("apply lag is unknown" in r for r in decision.failover_reasons)


def test_failover_refused_to_a_disabled_or_missing_standby() -> None:
    after = parse_show_configuration(fixture("dgmgrl_failover_success.txt"))
    decision = choose_path(after, 0.0, LATEST)
    assert decision.path == "restore"  # HISPRD waits for REINSTATE: not a failover target
    assert any("disabled" in r for r in decision.failover_reasons)
    assert any("ORA-16661" in r for r in decision.failover_reasons)
    no_standby = replace(after, members=after.members[:1])
    assert choose_path(no_standby, 0.0, LATEST).path == "restore"
    assert choose_path(after, 0.0, LATEST, standby="HISSTBY").path == "restore"  # primary


def test_failover_with_unknown_transport_lag_says_loss_unknown() -> None:
    config = parse_show_configuration(fixture("dgmgrl_show_configuration_success.txt"))
    decision = choose_path(config, 2.0, LATEST)
    assert decision.path == "failover"
    assert decision.expected_data_loss_s is None
    assert any("data loss unknown" in r for r in decision.failover_reasons)
    # a healthy-looking primary: the engineer is told a switchover would lose nothing
    assert any("SWITCHOVER" in r for r in decision.failover_reasons)


def test_several_standbys_need_a_name(broken_primary: DgConfiguration) -> None:
    second = replace(broken_primary.members[1], name="HISSTBY2", messages=())
    config = replace(broken_primary, members=(*broken_primary.members, second))
    assert choose_path(config, 1.0, LATEST).path == "restore"
    decision = choose_path(config, 1.0, LATEST, standby="HISSTBY2")
    assert (decision.path, decision.standby) == ("failover", "HISSTBY2")


def test_failover_steps() -> None:
    steps = failover_steps("HISSTBY", "HISPRD", standby_host="hisdb2", primary_host="hisdb1")
    assert [s.id for s in steps] == ["fence", "validate", "failover", "integrity-checks",
                                     "repoint-clients", "reinstate", "post-checks"]
    assert steps[0].host == "hisdb1"
    assert "FAILOVER TO HISSTBY;" in steps[2].description
    with pytest.raises(ParameterError):
        failover_steps("HISSTBY", "HIS PRD", standby_host="hisdb2", primary_host="hisdb1")


def test_times_in_results_are_naive_host_local() -> None:
    # RMAN prints host-local times without a zone; the parser must not invent one
    result = parse_restore_log(fixture("restore_recover_until_time_success.txt"))
    assert result.restore_started is not None
    assert result.restore_started.tzinfo is None
    assert datetime(2026, 3, 10, 5, 2, 58, tzinfo=UTC) == result.restore_started.replace(
        tzinfo=BERLIN).astimezone(UTC)
