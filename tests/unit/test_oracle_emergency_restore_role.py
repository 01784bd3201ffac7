"""The oracle_emergency_restore role: its filters on real-format RMAN, DGMGRL and SQL*Plus
output (tests/fixtures/oracle), its input contract and its tasks' hygiene.

What is asserted is what the role publishes and fails with: the evidence a restore leaves in
the journal, the message the engineer reads when RMAN stops, and when a failover is offered.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from hisops.engines.oracle.failover import failover_commands
from hisops.engines.oracle.recovery import rman_restore_script
from hisops.engines.oracle.rman import RMAN_ENVIRONMENT
from hisops.recovery.chain import RecoveryTarget
from tests.conftest import ROOT
from tests.role_plugins import filter_plugin

F = filter_plugin("oracle_emergency_restore", "hisops_oracle_restore")
ROLE = ROOT / "roles" / "oracle_emergency_restore"
FIXTURES = ROOT / "tests" / "fixtures" / "oracle"
PIECE_1 = "/u03/backup/HISPRD/HISPRD_lvl0_1f3k2a9d_1_1.bkp"
PIECE_2 = "/u03/backup/HISPRD/HISPRD_lvl0_1g3k2aih_1_1.bkp"
UNTIL = "until 2026-03-10 05:44:00 host time (exclusive), 2026-03-10T04:44:00+00:00"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def csv(columns: list[str], rows: list[list[Any]]) -> str:
    """SQL*Plus output with SET MARKUP CSV ON QUOTE ON (NULL printed empty)."""
    def cell(value: Any) -> str:
        return "" if value is None else '"' + str(value).replace('"', '""') + '"'
    return "\n".join([",".join(f'"{c}"' for c in columns),
                      *(",".join(cell(v) for v in row) for row in rows)]) + "\n"


def lag(scenario: str) -> dict[str, Any]:
    rows = json.loads(fixture("dataguard_stats_rows.json"))[scenario]
    return {"rc": 0, "stdout": csv(["NAME", "VALUE", "UNIT", "TIME_COMPUTED", "DATUM_TIME"],
                                   rows)}


def dgmgrl(name: str, rc: int = 0) -> dict[str, Any]:
    return {"rc": rc, "stdout": fixture(name), "stderr": ""}


# --- restore: the script and its environment ---------------------------------------------------


def test_restore_plan_is_the_engine_script_for_the_host_clock() -> None:
    plan = F.restore_plan("2026-03-10 04:44:00+00:00", "Europe/Berlin")
    from zoneinfo import ZoneInfo

    expected = rman_restore_script(RecoveryTarget("time", "2026-03-10 04:44:00+00:00"),
                                   host_tz=ZoneInfo("Europe/Berlin"), channels=2)
    assert plan == {"script": expected, "target": UNTIL, "complete": False}
    assert "SET UNTIL TIME \"TO_DATE('2026-03-10 05:44:00'" in plan["script"]


def test_restore_plan_latest_restore_point_and_scn() -> None:
    latest = F.restore_plan("latest", "", 0, 3)
    assert latest["complete"] is True
    assert latest["script"].rstrip().endswith("ALTER DATABASE OPEN;")
    assert latest["script"].count("ALLOCATE CHANNEL") == 3
    point = F.restore_plan("name:before_batch")
    assert point["target"] == "restore point BEFORE_BATCH (inclusive)"
    assert "SET TO RESTORE POINT BEFORE_BATCH;" in point["script"]
    scn = F.restore_plan("latest", "", 48571380)
    assert scn["target"] == "until SCN 48571380 (exclusive)"
    assert "SET UNTIL SCN 48571380;" in scn["script"]


@pytest.mark.parametrize(("target", "tz", "scn", "message"), [
    ("2026-03-10 04:44:00+00:00", "", 0, "a time target needs the database host's time zone"),
    ("2026-03-10 04:44:00", "Europe/Berlin", 0, "has no UTC offset"),
    ("xid:784", "Europe/Berlin", 0, "Oracle cannot stop recovery at a transaction id"),
    ("2026-03-10 04:44:00+00:00", "Europe/Berlin", 42, "give either a target"),
    ("latest", "Mars/Olympus", 0, "is not an IANA time zone"),
    ("yesterday", "", 0, "is not a recovery target"),
    ("2026-10-25 00:30:00+00:00", "Europe/Berlin", 0, "occurs twice on the host"),
])
def test_restore_plan_refuses_what_rman_cannot_do(target: str, tz: str, scn: int,
                                                   message: str) -> None:
    with pytest.raises(AnsibleFilterError, match=message):
        F.restore_plan(target, tz, scn)


def test_environment_is_the_parsers_nls_and_the_instance() -> None:
    env = F.rman_environment("/u01/app/oracle/product/19.0.0/dbhome_1", "HISPRD")
    assert env == {**RMAN_ENVIRONMENT, "ORACLE_HOME": "/u01/app/oracle/product/19.0.0/dbhome_1",
                   "ORACLE_SID": "HISPRD"}
    with pytest.raises(AnsibleFilterError, match="oracle_home and oracle_sid must be set"):
        F.rman_environment("", "HISPRD")


def test_restore_steps_refuse_a_target_before_anything_changes() -> None:
    steps = F.restore_steps("latest", "his-db-1")
    assert [s.split(":")[0] for s in steps] == [
        "fence", "set-aside", "restore", "recover", "open", "integrity-checks",
        "open-to-clients", "post-checks", "timeline-report"]
    with pytest.raises(AnsibleFilterError, match="cannot plan the Oracle restore"):
        F.restore_steps("xid:784", "his-db-1")


# --- restore: the log --------------------------------------------------------------------------


def test_successful_restore_evidence() -> None:
    out = F.restore_outcome(fixture("restore_recover_until_time_success.txt"), 0, "/x/r.log")
    assert out["failure"] == ""
    assert out["evidence"] == {
        "pieces": [{"handle": PIECE_1, "tag": "HIS_L0_WEEKLY"},
                   {"handle": PIECE_2, "tag": "HIS_L0_WEEKLY"}],
        "datafiles": 6,
        "logs_applied": [{"thread": 1, "sequence": 1234}, {"thread": 1, "sequence": 1235}],
        "last_applied": {"1": 1235},
        "restore_started": "2026-03-10 06:02:58",
        "restore_elapsed_s": 245.0,
        "recover_elapsed_s": 28.0,
        "media_recovery_elapsed_s": 12.0,
        "open_attempted": True, "resetlogs": True, "opened": True,
        "failures": [], "errors": []}
    json.dumps(out)  # set_stats needs plain data


def test_missing_archived_log_names_kind_code_log_and_next_step() -> None:
    out = F.restore_outcome(fixture("restore_recover_missing_archivelog.txt"), 1, "/x/r.log")
    ev = out["evidence"]
    assert ev["failures"] == ["missing_archived_log"]
    assert (ev["opened"], ev["open_attempted"]) == (False, False)
    assert ev["pieces"] == [{"handle": PIECE_1, "tag": "HIS_L0_WEEKLY"}]
    assert ev["logs_applied"] == [{"thread": 1, "sequence": 1234}]
    assert (ev["restore_elapsed_s"], ev["recover_elapsed_s"]) == (316.0, None)
    assert out["failure"] == (
        "the RMAN restore failed, instance left mounted (not open) [archived log thread 1 "
        "sequence 1235]: missing_archived_log (RMAN-06054): bring the archived log back into "
        "the archive destination (another copy, tape), CATALOG it and run the restore step "
        "again, or restore to a time before that log (log /x/r.log)")


def test_no_backup_for_the_target_names_the_datafiles() -> None:
    out = F.restore_outcome(fixture("restore_no_backup_for_until.txt"), 1, "/x/r.log")
    ev = out["evidence"]
    assert ev["failures"] == ["missing_backup"]
    assert (ev["pieces"], ev["datafiles"], ev["logs_applied"]) == ([], 0, [])
    assert ev["restore_elapsed_s"] is None
    assert len(ev["errors"]) == 6
    assert out["failure"] == (
        "the RMAN restore failed, instance left mounted (not open) [datafile 10; datafile 9; "
        "datafile 7; datafile 4; datafile 3; datafile 1]: missing_backup (RMAN-06023): no "
        "backup reaches the target: give a later target (after a level 0 backup), or CATALOG "
        "START WITH the missing backups' directory and run the restore step again "
        "(log /x/r.log)")
    # a step's detail is cut at 400 characters: the next step fits, host and task included
    assert out["failure"].index(" (log /x/r.log)") + len(
        "his-db-prod-ora-01: failed: task 'Fail on the RMAN restore' failed: ") < 400


_STACK = ("RMAN-00571: ===========================================================\n"
          "RMAN-00569: =============== ERROR MESSAGE STACK FOLLOWS ===============\n"
          "RMAN-00571: ===========================================================\n")


@pytest.mark.parametrize(("stack", "kind", "code"), [
    ("RMAN-03002: failure of restore command at 03/10/2026 06:02:59\n"
     "ORA-19870: error while restoring backup piece /u03/backup/HISPRD/x.bkp\n"
     "ORA-19599: block number 793607 is corrupt in backup piece /u03/backup/HISPRD/x.bkp\n",
     "corrupt_piece", "ORA-19870, ORA-19599"),
    ("RMAN-03002: failure of sql statement command at 03/10/2026 06:09:00\n"
     "ORA-01194: file 1 needs more recovery to be consistent\n", "not_consistent", "ORA-01194"),
    ("RMAN-03002: failure of set command at 03/10/2026 06:02:59\n"
     "RMAN-20207: UNTIL TIME or RECOVERY WINDOW is before RESETLOGS time\n",
     "target_before_backup", "RMAN-20207"),
    ("RMAN-03002: failure of restore command at 03/10/2026 06:02:59\n"
     "ORA-27040: file create error, unable to create file\n", "other", "ORA-27040"),
])
def test_every_failure_kind_has_its_code_and_next_step(stack: str, kind: str,
                                                        code: str) -> None:
    text = "Starting restore at 2026-03-10 06:02:58\n" + _STACK + stack
    out = F.restore_outcome(text, 1, "")
    assert out["evidence"]["failures"] == [kind]
    assert out["failure"].startswith("the RMAN restore failed")
    assert f"{kind} ({code}): {F.NEXT_STEP[F.RestoreFailure(kind)]}" in out["failure"]
    # a step's detail is cut at 400 characters: what to do must fit, host and task included
    assert len("his-db-prod-ora-01: failed: task 'Fail on the RMAN restore' failed: "
               + out["failure"]) < 400


def test_a_log_that_stops_before_the_open_is_a_failure_not_a_success() -> None:
    text = fixture("restore_recover_until_time_success.txt").split("RMAN> ALTER DATABASE")[0]
    out = F.restore_outcome(text, 0, "/x/r.log")
    assert out["evidence"]["opened"] is False
    assert out["failure"] == (
        "the RMAN restore did not open the database (log /x/r.log): rman exited 0, open "
        "attempted False, opened False: read the log and check v$database before going on")
    # an opened database with rman exiting non-zero is not taken for a success either
    opened = F.restore_outcome(fixture("restore_recover_until_time_success.txt"), 1, "")
    assert "rman exited 1" in opened["failure"]


def test_an_unreadable_log_is_a_failure() -> None:
    out = F.restore_outcome("", 127, "/x/r.log")
    assert out["evidence"] == {"opened": False, "failures": ["unreadable"],
                               "errors": ["no RMAN restore, recover or error in the output: "
                                          "'(no output)'"]}
    assert out["failure"].startswith("the RMAN log cannot be read (log /x/r.log): ")
    assert "rman exited 127" in out["failure"]


def test_marker_of_the_same_run_skips_another_runs_restore_is_set_aside() -> None:
    marker = json.dumps({"target": UNTIL, "incident": "run-1", "log": "/x/r.log",
                         "opened_at": "2026-03-10T05:08:00Z"})
    same = F.restore_marker(marker, UNTIL, "run-1")
    assert same == {"skip": True, "earlier": False, "message": (
        f"the database was already restored to {UNTIL} and opened at 2026-03-10T05:08:00Z "
        "(log /x/r.log): nothing to do again")}
    other_target = F.restore_marker(marker, "latest (complete recovery: all archived and "
                                    "online redo)", "run-1")
    assert (other_target["skip"], other_target["earlier"]) == (False, True)
    assert "keeps that record aside" in other_target["message"]
    other_run = F.restore_marker(marker, UNTIL, "run-2")
    assert (other_run["skip"], other_run["earlier"]) == (False, True)
    assert "incident run-1" in other_run["message"]
    assert F.restore_marker("{not json", UNTIL)["earlier"] is False
    assert F.restore_marker("[1]", UNTIL) == {"skip": False, "earlier": False,
                                              "message": "the restore marker holds no "
                                                         "restore record"}


# --- checks ------------------------------------------------------------------------------------


def _database(open_mode: str = "READ WRITE", role: str = "PRIMARY") -> dict[str, Any]:
    return {"rc": 0, "stdout": csv(["OPEN_MODE", "DATABASE_ROLE"], [[open_mode, role]])}


def _count(n: int, name: str = "", min_rows: int = 1) -> dict[str, Any]:
    result: dict[str, Any] = {"rc": 0, "stdout": csv(["N"], [[n]])}
    if name:
        result["item"] = {"name": name, "sql": "SELECT 1 FROM dual", "min_rows": min_rows}
    return result


def test_checks_pass_on_an_open_primary_without_corruption() -> None:
    out = F.checks([_count(12, "visits"), _count(3, "patients", 3)], _database(), _count(0))
    assert out == {"open_mode": "READ WRITE", "database_role": "PRIMARY", "corrupt_blocks": 0,
                   "smoke": ["visits: 12", "patients: 3"], "failures": []}


def test_checks_report_every_failure() -> None:
    broken = {"rc": 1, "stdout": "ORA-00942: table or view does not exist\n",
              "item": {"name": "patients", "sql": "SELECT 1 FROM his.patients"}}
    out = F.checks([_count(0, "visits"), broken], _database("MOUNTED", "PHYSICAL STANDBY"),
                   _count(2))
    assert out["smoke"] == ["visits: 0", "patients: failed"]
    assert out["failures"] == [
        "the database is MOUNTED, not READ WRITE",
        "the database role is PHYSICAL STANDBY, not PRIMARY",
        "v$database_block_corruption lists 2 corrupt block range(s): run VALIDATE CHECK "
        "LOGICAL DATABASE and repair before clients return",
        "smoke query visits returned 0 rows, expected at least 1",
        "smoke query patients failed: sqlplus reported ORA-00942: 'table or view does not "
        "exist'"]


def test_checks_that_cannot_be_read_are_failures() -> None:
    out = F.checks([], {"rc": 1, "stdout": "ORA-01034: ORACLE not available\n"},
                   {"rc": 0, "stdout": ""})
    assert (out["open_mode"], out["corrupt_blocks"]) == (None, None)
    assert out["failures"] == [
        "v$database cannot be read: sqlplus reported ORA-01034: 'ORACLE not available'",
        "v$database_block_corruption cannot be read: expected one row, got 0 (sqlplus "
        "exited 0)"]


def test_smoke_query_is_counted_and_queries_are_the_roles_own() -> None:
    script = F.count_script("SELECT patient_id FROM his.patients;")
    assert "SELECT COUNT(*) AS n FROM (\nSELECT patient_id FROM his.patients\n);" in script
    assert script.startswith("WHENEVER SQLERROR EXIT FAILURE\nSET MARKUP CSV ON QUOTE ON\n")
    assert script.endswith("EXIT\n")
    with pytest.raises(AnsibleFilterError, match="has no SQL"):
        F.count_script(" ; ")
    assert "FROM v$database;" in F.named_script("database")
    assert "FROM v$database_block_corruption;" in F.named_script("corruption")
    assert "FROM v$dataguard_stats" in F.named_script("dataguard_stats")
    with pytest.raises(AnsibleFilterError, match="no query named 'x'"):
        F.named_script("x")


# --- assess ------------------------------------------------------------------------------------


def test_assess_offers_failover_for_latest_with_a_healthy_standby() -> None:
    out = F.assess(dgmgrl("dgmgrl_show_configuration_success.txt"), lag("in_sync"), "latest")
    assert (out["path"], out["standby"], out["status"]) == ("failover", "HISSTBY", "SUCCESS")
    assert (out["apply_lag_s"], out["transport_lag_s"]) == (3.0, 0.0)
    assert out["expected_data_loss_s"] == 0.0
    assert out["failover_reasons"] == [
        "HISSTBY is an enabled physical standby with apply lag 3 s (applied before it opens "
        "as primary)",
        "expected data loss: the 0 s of redo it has not received (transport lag)",
        "the broker shows no error on HISPRD: if it is reachable, a SWITCHOVER loses nothing"]
    assert [m["name"] for m in out["members"]] == ["HISPRD", "HISSTBY"]
    json.dumps(out)


def test_assess_with_the_primary_down_still_offers_the_warned_standby() -> None:
    out = F.assess(dgmgrl("dgmgrl_show_configuration_error.txt"), lag("apply_behind"),
                   "latest")
    assert (out["path"], out["status"]) == ("failover", "ERROR")
    assert out["members"][0]["messages"] == ["ORA-1034: ORACLE not available"]
    assert out["failover_reasons"] == [
        "HISSTBY is an enabled physical standby with apply lag 462 s (applied before it "
        "opens as primary)",
        "expected data loss: the 1 s of redo it has not received (transport lag)",
        "broker warnings on HISSTBY: ORA-16857: member disconnected from redo source for "
        "longer than specified threshold"]


def test_assess_never_offers_failover_for_a_point_in_time() -> None:
    out = F.assess(dgmgrl("dgmgrl_show_configuration_success.txt"), lag("in_sync"),
                   "2026-03-10 04:44:00+00:00")
    assert out["path"] == "restore"
    assert out["failover_reasons"][0].startswith("the target is a point in time: a failover "
                                                 "cannot go back")
    assert F.assess(dgmgrl("dgmgrl_show_configuration_success.txt"), lag("in_sync"),
                    "latest", 48571380)["path"] == "restore"


def test_assess_restores_when_the_lag_is_unknown() -> None:
    unknown = F.assess(dgmgrl("dgmgrl_show_configuration_success.txt"), lag("apply_unknown"),
                       "latest")
    assert (unknown["path"], unknown["apply_lag_s"]) == ("restore", None)
    skipped = F.assess(dgmgrl("dgmgrl_show_configuration_success.txt"), {"skipped": True},
                       "latest")
    assert skipped["path"] == "restore"
    assert skipped["failover_reasons"] == [
        "the standby's apply lag is unknown: how long the failover takes and what it holds "
        "cannot be judged",
        "the standby's lag was not read (no standby host given)"]
    bad = F.assess(dgmgrl("dgmgrl_show_configuration_success.txt"),
                   {"rc": 1, "stdout": "ORA-01034: ORACLE not available\n"}, "latest")
    assert bad["path"] == "restore"
    assert bad["failover_reasons"][-1] == ("the standby's lag cannot be read: sqlplus "
                                           "reported ORA-01034: 'ORACLE not available'")


def test_assess_without_broker_or_readable_configuration_restores() -> None:
    off = F.assess({"skipped": True}, {"skipped": True}, "latest", 0, "", False)
    assert (off["path"], off["broker"], off["configuration"]) == ("restore", False, None)
    assert off["failover_reasons"] == ["no Data Guard broker configuration (oracle_dg_broker "
                                       "is false): the restore is the only path"]
    down = F.assess({"rc": 1, "stdout": "ORA-01034: ORACLE not available\n"}, None, "latest")
    assert down["path"] == "restore"
    assert down["failover_reasons"] == [
        "the broker's configuration cannot be read (no 'Configuration -' in the DGMGRL "
        "output: 'ORA-01034: ORACLE not available'; dgmgrl exited 1): a failover cannot be "
        "judged"]


def test_assess_for_a_named_standby_that_is_not_one() -> None:
    out = F.assess(dgmgrl("dgmgrl_show_configuration_success.txt"), lag("in_sync"), "latest",
                   0, "HISPRD")
    assert out["path"] == "restore"
    assert "HISPRD is not a physical standby in configuration his_dg" in out["failover_reasons"]


# --- failover ----------------------------------------------------------------------------------


def test_failover_script_is_the_engine_commands() -> None:
    assert F.failover_script("HISSTBY") == "\n".join(
        [*failover_commands("HISSTBY"), "EXIT;"]) + "\n"
    assert "FAILOVER TO HISSTBY IMMEDIATE;" in F.failover_script("HISSTBY", True)
    with pytest.raises(AnsibleFilterError, match="is not a DB_UNIQUE_NAME"):
        F.failover_script("HIS STBY; SHUTDOWN")


def test_failover_success_evidence() -> None:
    out = F.failover_outcome(dgmgrl("dgmgrl_failover_success.txt"), "HISSTBY")
    assert out["failure"] == ""
    assert out["evidence"] == {
        "started": True, "succeeded": True, "new_primary": "HISSTBY", "errors": [],
        "members_after": [
            {"name": "HISSTBY", "role": "primary", "disabled": False,
             "messages": ["ORA-16857: member disconnected from redo source for longer than "
                          "specified threshold"]},
            {"name": "HISPRD", "role": "physical standby", "disabled": True,
             "messages": ["ORA-16661: the standby database needs to be reinstated"]}],
        "status_after": "WARNING"}


def test_failed_failover_fails_clearly() -> None:
    out = F.failover_outcome(dgmgrl("dgmgrl_failover_failed.txt", 1), "HISSTBY")
    assert out["evidence"] == {"started": True, "succeeded": False, "new_primary": None,
                               "errors": ["ORA-16600: not connected to target standby "
                                          "database for failover"],
                               "members_after": [], "status_after": None}
    assert out["failure"] == (
        "the failover to HISSTBY failed: ORA-16600: not connected to target standby database "
        "for failover (the failover started). Run SHOW CONFIGURATION; a complete failover "
        "that fails may be retried as FAILOVER TO HISSTBY IMMEDIATE (loses the redo not yet "
        "applied), or restore instead")


def test_failover_to_another_member_or_unknown_outcome_fails() -> None:
    other = F.failover_outcome(dgmgrl("dgmgrl_failover_success.txt"), "HISSTB2")
    assert other["failure"].startswith("the failover to HISSTB2 failed: no error printed")
    unknown = F.failover_outcome({"rc": 255, "stdout": "DGMGRL> FAILOVER TO HISSTBY;\n"},
                                 "HISSTBY")
    assert unknown["failure"] == (
        "the failover's outcome is unknown (no failover outcome in the DGMGRL output: "
        "'(no output)'; dgmgrl exited 255): run SHOW CONFIGURATION on HISSTBY before "
        "anything else")


def test_dg_primary_makes_the_failover_idempotent() -> None:
    assert F.dg_primary(dgmgrl("dgmgrl_show_configuration_success.txt")) == "HISPRD"
    assert F.dg_primary(dgmgrl("dgmgrl_failover_success.txt")) == "HISSTBY"
    assert F.dg_primary({"stdout": "ORA-01034: ORACLE not available"}) == ""


# --- the role's contract and hygiene -----------------------------------------------------------


def _specs() -> dict[str, Any]:
    data = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())
    return dict(data["argument_specs"]["main"]["options"])


def test_argument_specs_cover_every_default_with_the_same_value() -> None:
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    specs = _specs()
    assert sorted(specs) == sorted(defaults)
    for name, value in defaults.items():
        assert specs[name].get("default") == value, name
        assert specs[name].get("description"), name


def test_phase_choices_are_the_phase_task_files() -> None:
    choices = _specs()["oracle_emergency_restore_phase"]["choices"]
    assert choices == ["assess", "restore", "checks", "failover"]
    tasks = {p.stem for p in (ROLE / "tasks").glob("*.yml")}
    assert tasks == {*choices, "main", "evidence"}
    main = yaml.safe_load((ROLE / "tasks" / "main.yml").read_text())
    assert str(choices) in main[0]["ansible.builtin.assert"]["that"]


def _password_lines(text: str) -> list[str]:
    """Lines that are not comments and mention a password."""
    return [line for line in text.splitlines()
            if not line.lstrip().startswith("#") and "password" in line.lower()]


def test_no_task_file_mentions_a_password_outside_a_comment() -> None:
    files = [*ROLE.glob("tasks/*.yml"), *ROLE.glob("vars/*.yml"), *ROLE.glob("defaults/*.yml"),
             ROOT / "playbooks" / "oracle_emergency_restore.yml"]
    assert len(files) >= 8
    for path in files:
        assert _password_lines(path.read_text()) == [], path.name


def test_playbook_is_one_play_on_all_hosts_running_the_role() -> None:
    plays = yaml.safe_load((ROOT / "playbooks" / "oracle_emergency_restore.yml").read_text())
    assert len(plays) == 1
    assert (plays[0]["hosts"], plays[0]["gather_facts"]) == ("all", False)
    assert plays[0]["roles"] == [{"role": "oracle_emergency_restore"}]


def test_every_task_runs_as_the_oracle_os_user() -> None:
    main = yaml.safe_load((ROLE / "tasks" / "main.yml").read_text())
    apply = main[-1]["ansible.builtin.include_tasks"]["apply"]
    assert apply == {"become": True, "become_user": "{{ oracle_emergency_restore_os_user }}"}
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    assert defaults["oracle_emergency_restore_os_user"] == (
        "{{ oracle_os_user | default('oracle') }}")


def test_rman_runs_with_os_authentication_and_the_filters_environment() -> None:
    text = (ROLE / "tasks" / "restore.yml").read_text()
    tasks = yaml.safe_load(text)
    block = next(t for t in tasks if "block" in t)["block"]
    rman = next(t for t in block if t["name"].startswith("Run the restore"))
    argv = rman["ansible.builtin.command"]["argv"]
    assert argv[:3] == ["{{ oracle_emergency_restore_home }}/bin/rman", "target", "/"]
    assert rman["environment"] == "{{ __oracle_emergency_restore_env }}"
    assert "hisops_oracle_environment" in (ROLE / "vars" / "main.yml").read_text()


def test_the_password_check_catches_one_in_code() -> None:
    sample = "- name: x\n  # no password here\n  command: sqlplus user/Password1\n"
    assert _password_lines(sample) == ["  command: sqlplus user/Password1"]
