"""Oracle patching: OPatch/datapatch output and patch views read into facts, and the
standby-first plan built from them, on recorded real formats.

Fixtures live in tests/fixtures/oracle (formats and their sources in SOURCES.md). The tests
assert what a patch night relies on: which RU a home runs, whether a conflict blocks the apply,
whether datapatch really succeeded, that the standby is patched before the primary and that
datapatch runs last, on the primary only, and that the plan refuses what must not run.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hisops.engines.base import Severity, ToolOutput
from hisops.engines.oracle.opatch import (
    REGISTRY_COLUMNS,
    ConflictKind,
    InstalledPatch,
    OPatchFailed,
    PrereqConflict,
    apply_lag_findings,
    dataguard_stat_from_row,
    opatch_version_findings,
    parse_datapatch,
    parse_lsinventory,
    parse_opatch_version,
    parse_prereq,
    sqlpatch_findings,
)
from hisops.engines.oracle.patch import (
    Action,
    DatabaseHome,
    Downtime,
    Estate,
    OraclePatchPlan,
    PatchTarget,
    PlanRefused,
    Role,
    Strategy,
    plan_patch,
    plan_rollback,
    validate_plan,
)
from hisops.engines.oracle.rman import UnreadableOutput
from hisops.engines.oracle.sql import RowShapeError
from hisops.errors import ParameterError, VerificationFailed

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "oracle"
OLD_HOME = "/u01/app/oracle/product/19.0.0/dbhome_1"
NEW_HOME = "/u01/app/oracle/product/19.21.0/dbhome_1"
TARGET = PatchTarget(35643107, "19.21.0.0.231017", "/u01/stage/35643107", "12.2.0.1.37")


def text(name: str) -> str:
    return (FIXTURES / name).read_text()


def stats(scenario: str) -> tuple[Any, ...]:
    rows = json.loads(text("dataguard_stats_rows.json"))[scenario]
    return tuple(dataguard_stat_from_row(r) for r in rows)


def registry(scenario: str) -> list[dict[str, Any]]:
    rows = json.loads(text("registry_sqlpatch_rows.json"))[scenario]
    return [r | {"ACTION_TIME": datetime.fromisoformat(r["ACTION_TIME"])} for r in rows]


def home(host: str, db: str, role: Role, /, *, inventory: str = "opatch_lsinventory_19_20.txt",
         lag: str = "in_sync", **overrides: Any) -> DatabaseHome:
    """One database of the estate, read from the fixtures; ``overrides`` replace fields."""
    return replace(DatabaseHome(
        host=host, db_unique_name=db, sid=db, role=role, oracle_home=OLD_HOME,
        inventory=parse_lsinventory(text(inventory)), opatch_version="12.2.0.1.40",
        prereq=parse_prereq(text("opatch_prereq_conflict_passed.txt")),
        dataguard_stats=stats(lag) if role is Role.PHYSICAL_STANDBY else ()), **overrides)


def estate(**kwargs: Any) -> Estate:
    primary = home("hisdb1", "HISPRD", Role.PRIMARY, **kwargs.pop("primary", {}))
    standby = home("hisdb2", "HISSTBY", Role.PHYSICAL_STANDBY, **kwargs.pop("standby", {}))
    return Estate(target=TARGET, homes=(primary, standby), **kwargs)


def out_of_place(**kwargs: Any) -> Estate:
    return estate(strategy=Strategy.OUT_OF_PLACE, new_home=NEW_HOME,
                  base_image="/u01/stage/LINUX.X64_193000_db_home.zip",
                  response_file="/u01/stage/hisops_db_install.rsp",
                  opatch_zip="/u01/stage/p6880880_190000_Linux-x86-64.zip", **kwargs)


def index(plan: OraclePatchPlan, host: str, action: Action) -> int:
    return next(i for i, s in enumerate(plan.steps) if (s.host, s.action) == (host, action))


# --- opatch lsinventory ------------------------------------------------------------------------


def test_lsinventory_reads_the_home_and_every_patch() -> None:
    inventory = parse_lsinventory(text("opatch_lsinventory_19_21.txt"))
    assert inventory.home == OLD_HOME
    assert inventory.central_inventory == "/u01/app/oraInventory"
    assert (inventory.opatch_version, inventory.oui_version) == ("12.2.0.1.40", "12.2.0.7.0")
    assert inventory.hostname == "hisdb2.his.example"
    assert [(p.name, p.version) for p in inventory.products] == [
        ("Oracle Database 19c", "19.0.0.0.0")]
    ru, ocw = inventory.patches
    assert (ru.patch_id, ru.unique_id) == (35643107, 25405995)
    assert ru.applied_at == datetime(2026, 3, 14, 2, 41, 17)
    assert ru.applied_zone == "CET"
    assert ru.description == "Database Release Update : 19.21.0.0.231017 (35643107)"
    assert ru.release_update == "19.21.0.0.231017"
    assert ru.bugs_fixed[:2] == (35643107, 8476681)
    assert ru.bugs_fixed[-1] == 35540134
    assert len(ru.bugs_fixed) == 27
    assert (ocw.patch_id, ocw.applied_zone, ocw.release_update) == (29585399, "CEST", None)
    assert ocw.applied_at == datetime(2019, 4, 18, 9, 21, 17)
    assert inventory.release_update == "19.21.0.0.231017"
    assert inventory.patch(29585399) == ocw
    assert inventory.patch(35320081) is None


def test_lsinventory_of_the_previous_release() -> None:
    inventory = parse_lsinventory(text("opatch_lsinventory_19_20.txt"))
    assert inventory.release_update == "19.20.0.0.230718"
    assert [p.patch_id for p in inventory.patches] == [35320081, 29585399]


def test_only_a_database_release_update_names_the_release() -> None:
    def patch(description: str) -> InstalledPatch:
        return InstalledPatch(1, datetime(2026, 1, 1), "CET", 2, description)

    assert patch("OJVM RELEASE UPDATE: 19.21.0.0.231017 (35648110)").release_update is None
    assert patch("DATAPUMP BUNDLE PATCH 19.21.0.0.0").release_update is None
    assert patch("Database Release Update Revision : 19.16.2.0.230117 (34850184)"
                 ).release_update == "19.16.2.0.230117"


def test_lsinventory_failure_raises_with_the_opatch_reason() -> None:
    with pytest.raises(OPatchFailed) as caught:
        parse_lsinventory(text("opatch_lsinventory_failed.txt"))
    assert caught.value.code == 73
    assert caught.value.reason == ("LsInventorySession failed: OracleHomeInventory gets null "
                                   "oracleHomeInfo")
    assert isinstance(caught.value, UnreadableOutput)
    assert isinstance(caught.value, VerificationFailed)


def test_lsinventory_refuses_other_or_damaged_text() -> None:
    good = text("opatch_lsinventory_19_21.txt")
    with pytest.raises(UnreadableOutput, match="not opatch lsinventory output"):
        parse_lsinventory(text("opatch_prereq_conflict_passed.txt"))
    with pytest.raises(UnreadableOutput, match="cut short"):
        parse_lsinventory(good.split("Patch  29585399")[0])
    with pytest.raises(UnreadableOutput, match="counts 1 product"):
        parse_lsinventory(good.replace("Interim patches (2) :", "Interim patches (3) :"))
    with pytest.raises(UnreadableOutput, match="without Unique Patch ID"):
        parse_lsinventory(good.replace("Unique Patch ID:  25405995\n", ""))


def test_lsinventory_of_a_home_without_interim_patches() -> None:
    head = text("opatch_lsinventory_19_21.txt").split("Interim patches")[0]
    inventory = parse_lsinventory(
        head + f'There are no Interim patches installed in this Oracle Home "{OLD_HOME}".\n\n'
        + "-" * 80 + "\n\nOPatch succeeded.\n")
    assert inventory.patches == ()
    assert inventory.release_update is None


# --- opatch prereq -----------------------------------------------------------------------------


def test_conflict_check_passed() -> None:
    result = parse_prereq(text("opatch_prereq_conflict_passed.txt"))
    assert (result.check, result.passed, result.blocking) == (
        "checkConflictAgainstOHWithDetail", True, False)
    assert result.home == OLD_HOME
    assert result.conflicts == ()


def test_failed_conflict_check_is_failed_although_opatch_succeeded() -> None:
    raw = text("opatch_prereq_conflict_failed.txt")
    assert raw.rstrip().endswith("OPatch succeeded.")
    result = parse_prereq(raw)
    assert (result.passed, result.blocking) == (False, True)
    assert result.message.startswith("ZOP-40: The patch(es) has conflicts")
    assert result.conflicts == (
        PrereqConflict(35643107, 34672698, ConflictKind.SUPERSET),
        PrereqConflict(35643107, 35166446, ConflictKind.CONFLICT, (
            "/u01/app/oracle/product/19.0.0/dbhome_2/lib/libserver19.a:/kcfis.o",
            "/u01/app/oracle/product/19.0.0/dbhome_2/lib/libserver19.a:/kcfis2.o")))
    assert result.merge_needed == (35166446, 35643107)
    assert result.rolled_back == (34672698, 35166446)


def test_superset_with_conflicting_overlays_is_read_once() -> None:
    result = parse_prereq(text("opatch_prereq_superset_failed.txt"))
    assert result.blocking
    assert result.message.startswith("ZOP-47")
    assert result.conflicts == (PrereqConflict(35643107, 35320081, ConflictKind.SUPERSET, (
        "overlay patches 35166446, 34672698 conflict with superset patch 35643107",)),)
    assert "The rebuilt patch should contain bug fix [35166446, 34672698]" in result.details


def test_a_superset_alone_does_not_block() -> None:
    raw = text("opatch_prereq_conflict_passed.txt").replace(
        "OPatch succeeded.", "Conflicts/Supersets for each patch are:\n\nPatch : 35643107\n\n"
        "        Bug Superset of 34672698\n        Super set bugs are:\n        34672698\n\n"
        "OPatch succeeded.")
    result = parse_prereq(raw)
    assert result.conflicts == (PrereqConflict(35643107, 34672698, ConflictKind.SUPERSET),)
    assert not result.blocking


def test_system_space_check() -> None:
    raw = text("opatch_prereq_space_passed.txt")
    assert parse_prereq(raw, "CheckSystemSpace").passed
    with pytest.raises(UnreadableOutput, match="expected prereq checkConflictAgainstOHWithDetail"):
        parse_prereq(raw)
    failed = parse_prereq(raw.replace('"checkSystemSpace" passed.', '"checkSystemSpace" failed.'
                                      "\n\nThe details are:\nRequired amount of space"
                                      "(6878.073MB) is not available."), "CheckSystemSpace")
    assert not failed.passed
    assert failed.details == ("Required amount of space(6878.073MB) is not available.",)


def test_prereq_that_could_not_run() -> None:
    with pytest.raises(OPatchFailed, match="opatch prereq failed with error code 73"):
        parse_prereq("PREREQ session\n\nUtilSession failed: Patch Location is not valid\n\n"
                     "OPatch failed with error code 73\n")
    with pytest.raises(UnreadableOutput, match="not opatch prereq output"):
        parse_prereq("OPatch succeeded.\n")


# --- opatch version ----------------------------------------------------------------------------


def test_opatch_version_from_opatch_and_from_version_txt() -> None:
    assert parse_opatch_version(text("opatch_version.txt")) == "12.2.0.1.40"
    assert parse_opatch_version("OPATCH_VERSION:12.2.0.1.47\n") == "12.2.0.1.47"
    with pytest.raises(UnreadableOutput):
        parse_opatch_version("OPatch Version: 12.2.0.1.40\n")  # cut short
    with pytest.raises(OPatchFailed):
        parse_opatch_version(text("opatch_version_failed.txt"))


@pytest.mark.parametrize(("found", "problem"), [
    ("12.2.0.1.40", None),
    ("12.2.0.1.37", None),
    ("12.2.0.1.36", "OPatch 12.2.0.1.36 is older than 12.2.0.1.37"),
    ("12.2.0.1.9", "OPatch 12.2.0.1.9 is older than 12.2.0.1.37"),  # numbers, not text
    ("13.9.4.2.8", "OPatch 13.9.4.2.8 is not of the 12.2.0.1.37 line"),
    ("11.2.0.3.44", "OPatch 11.2.0.3.44 is not of the 12.2.0.1.37 line"),
    ("12.2.0.1", "unreadable OPatch version"),
])
def test_opatch_version_against_the_readme_minimum(found: str, problem: str | None) -> None:
    findings = opatch_version_findings(found, "12.2.0.1.37", "hisdb1")
    if problem is None:
        assert findings == []
    else:
        [finding] = findings
        assert finding.problem.startswith(problem)
        assert (finding.subject, finding.severity) == ("hisdb1", Severity.ERROR)


# --- datapatch ---------------------------------------------------------------------------------


def test_datapatch_success() -> None:
    run = parse_datapatch(ToolOutput(text("datapatch_verbose_success.txt")))
    assert run.version == "19.21.0.0.0"
    assert run.invocation_log.endswith("sqlpatch_48213_2026_03_14_03_31_07/"
                                       "sqlpatch_invocation.log")
    [action] = run.actions
    assert (action.patch_id, action.action, action.status, action.pdb) == (
        35643107, "apply", "SUCCESS", "")
    assert action.logfile.endswith("35643107_apply_HISPRD_2026Mar14_03_31_29.log")
    assert (run.installed, run.completed) == (1, True)
    assert run.findings() == []


def test_datapatch_with_errors_names_the_patch_and_the_errors() -> None:
    run = parse_datapatch(ToolOutput(text("datapatch_verbose_errors.txt"), rc=1))
    [action] = run.actions
    assert action.status == "WITH ERRORS"
    assert not action.succeeded
    assert action.errors[1] == "- ORA-04021: timeout occurred while waiting to lock object"
    assert len(action.errors) == 4
    [finding] = run.findings()
    assert finding.subject == "patch 35643107 apply"
    assert finding.problem.startswith("WITH ERRORS; -> Error at line 98102")
    assert "MOS Note" not in finding.problem


def test_unfinished_datapatch_is_not_a_success() -> None:
    raw = text("datapatch_verbose_success.txt").split("Validating logfiles")[0]
    problems = [f.problem for f in parse_datapatch(ToolOutput(raw, rc=0)).findings()]
    assert problems == ["datapatch installed 1 patch(es) but 0 result(s) were read",
                        "no 'SQL Patching tool complete' line: datapatch did not finish"]


def test_datapatch_prereq_failure_and_cdb_results() -> None:
    head = text("datapatch_verbose_success.txt").split("Adding patches")[0]
    failed = parse_datapatch(ToolOutput(
        head + "Error: prereq checks failed!\n  patch 35166446: rollback script /u01/app/oracle/"
        "product/19.0.0/dbhome_1/sqlpatch/35166446/25199733/35166446_rollback.sql does not "
        "exist\nPrereq check failed, exiting without installing any patches.\n\n"
        "SQL Patching tool complete on Sat Mar 14 03:32:40 2026\n", rc=1))
    [finding] = failed.findings()
    assert "35166446_rollback.sql does not exist" in finding.problem
    cdb = parse_datapatch(ToolOutput(
        head + "Patch 35643107 apply (pdb PDB$SEED): SUCCESS\n"
        "Patch 35643107 apply (pdb EMRPDB): WITH ERRORS\n"
        "SQL Patching tool complete on Sat Mar 14 03:38:52 2026\n"))
    assert [(a.pdb, a.succeeded) for a in cdb.actions] == [("PDB$SEED", True), ("EMRPDB", False)]
    assert [f.subject for f in cdb.findings()] == ["patch 35643107 apply (pdb EMRPDB)"]
    with pytest.raises(UnreadableOutput, match="not datapatch output"):
        parse_datapatch(ToolOutput("ORA-01034: ORACLE not available\n", rc=1))


# --- DBA_REGISTRY_SQLPATCH and V$DATAGUARD_STATS -----------------------------------------------


def test_registry_shows_the_target_applied_after_a_failed_first_attempt() -> None:
    assert sqlpatch_findings(registry("after_apply"), patch_id=35643107,
                             version="19.21.0.0.231017") == []
    tuples = [tuple(r[c] for c in REGISTRY_COLUMNS) for r in registry("after_apply")]
    assert sqlpatch_findings(tuples, patch_id=35643107, version="19.21.0.0.231017") == []


def test_registry_newest_attempt_decides() -> None:
    [finding] = sqlpatch_findings(registry("failed_apply"), patch_id=35643107)
    assert finding.problem == ("newest entry is APPLY WITH ERRORS at 2026-03-14 03:31:29, "
                               "expected APPLY SUCCESS")
    [missing] = sqlpatch_findings(registry("failed_apply"), patch_id=36000000)
    assert "datapatch has not run" in missing.problem
    [wrong] = sqlpatch_findings(registry("after_apply"), patch_id=35643107,
                                version="19.22.0.0.240116")
    assert wrong.problem == "the SQL registry is at 19.21.0.0.0, expected 19.22.0.0.240116"


def test_registry_after_rollback() -> None:
    rows = registry("after_rollback")
    assert sqlpatch_findings(rows, patch_id=35643107, action="ROLLBACK",
                             version="19.20.0.0.230718") == []
    assert sqlpatch_findings(rows, patch_id=35643107) != []
    with pytest.raises(RowShapeError, match="ACTION_TIME"):
        sqlpatch_findings([rows[0] | {"ACTION_TIME": "2026-03-15"}], patch_id=35643107)


def test_lag_within_limit_passes() -> None:
    in_sync = stats("in_sync")
    assert in_sync[0].lag == timedelta(seconds=3)
    assert in_sync[0].datum_time == datetime(2026, 3, 14, 2, 20, 40)
    assert apply_lag_findings(in_sync, limit=timedelta(seconds=30)) == []


def test_lag_over_limit_unknown_or_stale_is_a_finding() -> None:
    limit = timedelta(seconds=30)
    [behind] = apply_lag_findings(stats("apply_behind"), limit=limit, subject="HISSTBY")
    assert (behind.subject, behind.problem) == (
        "HISSTBY", "apply lag +00 00:07:42 is over the limit of 0:00:30")
    [unknown] = apply_lag_findings(stats("apply_unknown"), limit=limit)
    assert unknown.problem.startswith("apply lag is empty")
    stale = apply_lag_findings(stats("stale_datum"), limit=limit)
    assert [f.problem.split(" is ")[0] for f in stale] == ["apply lag", "transport lag"]
    assert "0:22:29 before it was computed" in stale[0].problem
    assert len(apply_lag_findings([], limit=limit)) == 2
    with pytest.raises(RowShapeError, match="MM/DD/YYYY"):
        dataguard_stat_from_row(["apply lag", "+00 00:00:01", "", "2026-03-14 02:20:41", None])


# --- the plan ----------------------------------------------------------------------------------


def test_in_place_plan_patches_the_standby_first_and_runs_datapatch_last_on_the_primary() -> None:
    plan = plan_patch(estate())
    assert [(s.host, s.action.value) for s in plan.steps] == [
        ("hisdb1", "check_opatch_version"), ("hisdb1", "prereq_conflict"),
        ("hisdb1", "prereq_space"), ("hisdb2", "check_opatch_version"),
        ("hisdb2", "prereq_conflict"), ("hisdb2", "prereq_space"), ("hisdb2", "check_apply_lag"),
        ("hisdb2", "stop_apply"), ("hisdb2", "stop_database"), ("hisdb2", "apply_patch"),
        ("hisdb2", "verify_home"), ("hisdb2", "start_database"), ("hisdb2", "start_apply"),
        ("hisdb2", "wait_apply_lag"),
        ("hisdb1", "stop_database"), ("hisdb1", "apply_patch"), ("hisdb1", "verify_home"),
        ("hisdb1", "start_database"), ("hisdb1", "datapatch"), ("hisdb1", "verify_sqlpatch"),
        ("hisdb2", "wait_apply_lag")]
    [datapatch] = [s for s in plan.steps if s.action is Action.DATAPATCH]
    assert (datapatch.host, datapatch.database) == ("hisdb1", "HISPRD")
    assert datapatch.command == (f"env ORACLE_HOME={OLD_HOME} ORACLE_SID=HISPRD "
                                 f"{OLD_HOME}/OPatch/datapatch -verbose")
    assert [s.number for s in plan.steps] == list(range(1, len(plan.steps) + 1))


def test_in_place_commands_and_downtime() -> None:
    plan = plan_patch(estate())
    steps = {(s.host, s.action): s for s in plan.steps}
    apply = steps["hisdb2", Action.APPLY_PATCH]
    assert apply.command == (f"cd /u01/stage/35643107 && env ORACLE_HOME={OLD_HOME} "
                             f"{OLD_HOME}/OPatch/opatch apply -silent")
    assert (apply.changes_host, apply.downtime) == (True, Downtime.STANDBY)
    assert steps["hisdb2", Action.STOP_APPLY].command.endswith(
        "dgmgrl -silent / \"EDIT DATABASE HISSTBY SET STATE='APPLY-OFF';\"")
    assert steps["hisdb2", Action.START_DATABASE].command.endswith(
        "srvctl start database -db HISSTBY -startoption mount")
    assert steps["hisdb1", Action.STOP_DATABASE].downtime is Downtime.OUTAGE
    assert steps["hisdb1", Action.DATAPATCH].downtime is Downtime.ONLINE
    assert steps["hisdb1", Action.PREREQ_CONFLICT].command.endswith(
        "opatch prereq CheckConflictAgainstOHWithDetail -ph ./")
    for step in plan.steps:
        assert "password" not in step.command.lower()
        assert "@" not in step.command  # no connect string: OS authentication only
        if step.action.value.startswith(("check", "prereq", "verify_sqlpatch", "wait")):
            assert (step.changes_host, step.downtime) == (False, Downtime.NONE), step
    # lsinventory of a patched home runs inside its window: read-only, but it lengthens it
    verify = steps["hisdb1", Action.VERIFY_HOME]
    assert (verify.changes_host, verify.downtime) == (False, Downtime.OUTAGE)
    assert json.loads(json.dumps(plan.to_dict()))["steps"][9]["action"] == "apply_patch"


def test_without_broker_an_active_standby_opens_read_only() -> None:
    plan = plan_patch(estate(broker=False, standby={"open_read_only": True, "srvctl": False}))
    steps = {(s.host, s.action): s for s in plan.steps}
    assert "ALTER DATABASE RECOVER MANAGED STANDBY DATABASE CANCEL;" in steps[
        "hisdb2", Action.STOP_APPLY].command
    assert "STARTUP MOUNT\nALTER DATABASE OPEN READ ONLY;" in steps[
        "hisdb2", Action.START_DATABASE].command
    assert steps["hisdb2", Action.START_LISTENER].command.endswith("lsnrctl start LISTENER")


def test_out_of_place_plan_installs_the_new_home_and_switches_each_database() -> None:
    plan = plan_patch(out_of_place())
    actions = [s.action for s in plan.steps]
    assert Action.APPLY_PATCH not in actions
    assert Action.PREREQ_SPACE not in actions
    assert actions.count(Action.INSTALL_HOME) == 2
    switches = [s for s in plan.steps if s.action is Action.SWITCH_HOME]
    assert [s.host for s in switches] == ["hisdb2", "hisdb1"]
    assert switches[0].command == (f"env ORACLE_HOME={NEW_HOME} {NEW_HOME}/bin/srvctl modify "
                                   f"database -db HISSTBY -oraclehome {NEW_HOME}")
    install = next(s for s in plan.steps if s.action is Action.INSTALL_HOME)
    assert "./runInstaller -silent -applyRU /u01/stage/35643107" in install.command
    assert install.downtime is Downtime.NONE
    assert next(s for s in plan.steps if s.action is Action.ROOT_SCRIPT).run_as == "root"
    assert plan.steps[0].command == ("unzip -p /u01/stage/p6880880_190000_Linux-x86-64.zip "
                                     "OPatch/version.txt")
    assert index(plan, "hisdb2", Action.SWITCH_HOME) < index(plan, "hisdb1", Action.STOP_DATABASE)
    datapatch = plan.steps[index(plan, "hisdb1", Action.DATAPATCH)]
    assert datapatch.command.startswith(f"env ORACLE_HOME={NEW_HOME} ORACLE_SID=HISPRD")
    assert plan.steps[index(plan, "hisdb1", Action.START_DATABASE)].command.startswith(
        f"env ORACLE_HOME={NEW_HOME} ")


def test_out_of_place_without_clusterware_rewrites_oratab_as_root() -> None:
    plan = plan_patch(out_of_place(primary={"srvctl": False}))
    switch = plan.steps[index(plan, "hisdb1", Action.SWITCH_HOME)]
    assert switch.command == (f"sed -i.hisops.bak 's#^HISPRD:{OLD_HOME}:#HISPRD:{NEW_HOME}:#' "
                              "/etc/oratab")
    assert switch.run_as == "root"
    stop, start = (plan.steps[index(plan, "hisdb1", a)] for a in (
        Action.STOP_LISTENER, Action.START_LISTENER))
    assert stop.command.startswith(f"env ORACLE_HOME={OLD_HOME} {OLD_HOME}/bin/lsnrctl stop")
    assert start.command.startswith(f"env ORACLE_HOME={NEW_HOME} {NEW_HOME}/bin/lsnrctl start")
    with pytest.raises(ParameterError) as caught:
        plan_patch(replace(out_of_place(), new_home=None, opatch_zip=None))
    assert caught.value.field == "new_home, opatch_zip"


def test_a_home_already_at_the_target_is_skipped() -> None:
    plan = plan_patch(estate(standby={"inventory": "opatch_lsinventory_19_21.txt",
                                      "lag": "apply_behind"}))
    assert {s.host for s in plan.steps if s.action is not Action.WAIT_APPLY_LAG} == {"hisdb1"}
    assert plan.skipped == (f"hisdb2:HISSTBY ({OLD_HOME}) is already at 19.21.0.0.231017",)
    assert plan.steps[-1].host == "hisdb2"  # the SQL changes still have to reach it


@pytest.mark.parametrize(("kwargs", "problem"), [
    ({"primary": {"opatch_version": "12.2.0.1.33"}},
     "OPatch 12.2.0.1.33 is older than 12.2.0.1.37"),
    ({"standby": {"lag": "apply_behind"}}, "apply lag +00 00:07:42 is over the limit of 0:00:30"),
    ({"standby": {"lag": "apply_unknown"}}, "apply lag is empty"),
    ({"standby": {"lag": "stale_datum"}}, "the standby receives nothing from the primary"),
    ({"standby": {"dataguard_stats": ()}}, "no apply lag in v$dataguard_stats"),
])
def test_plan_refuses_before_anything_runs(kwargs: dict[str, Any], problem: str) -> None:
    with pytest.raises(PlanRefused, match="refusing to plan") as caught:
        plan_patch(estate(**kwargs))
    assert isinstance(caught.value, ParameterError)
    assert any(problem in f.problem for f in caught.value.findings)


def test_a_conflict_refuses_the_plan_and_names_it() -> None:
    conflict = parse_prereq(text("opatch_prereq_conflict_failed.txt"))
    with pytest.raises(PlanRefused) as caught:
        plan_patch(estate(primary={"prereq": replace(conflict, home=OLD_HOME)},
                          standby={"opatch_version": "12.2.0.1.20"}))
    problems = [f.problem for f in caught.value.findings]
    assert problems == ["prereq checkConflictAgainstOHWithDetail failed: superset with "
                        "34672698, conflict with 35166446",
                        "OPatch 12.2.0.1.20 is older than 12.2.0.1.37, the minimum in the "
                        "patch README"]
    with pytest.raises(PlanRefused, match="the conflict check ran on .*dbhome_2"):
        plan_patch(estate(primary={"prereq": parse_prereq(
            text("opatch_prereq_conflict_passed.txt").replace("dbhome_1", "dbhome_2"))}))


def test_datapatch_is_refused_while_a_home_outside_the_plan_is_unpatched() -> None:
    with pytest.raises(PlanRefused) as caught:
        plan_patch(estate(), hosts=["hisdb2"])
    assert [f.problem for f in caught.value.findings] == [
        "datapatch would run while this home is still at 19.20.0.0.230718: patch it first or "
        "plan with datapatch=False", "datapatch needs the primary in the plan"]
    standby_night = plan_patch(estate(), hosts=["hisdb2"], datapatch=False)
    assert {s.host for s in standby_night.steps} == {"hisdb2"}
    assert Action.DATAPATCH not in [s.action for s in standby_night.steps]


def test_plan_refuses_estates_that_cannot_go_standby_first() -> None:
    shared = estate(standby={"host": "hisdb1"})
    with pytest.raises(PlanRefused, match="serves a primary and a standby"):
        plan_patch(shared)
    with pytest.raises(PlanRefused, match="not Data Guard Standby-First Installable"):
        plan_patch(replace(estate(), target=replace(TARGET, standby_first=False)))
    with pytest.raises(PlanRefused, match="does not downgrade"):
        plan_patch(replace(estate(), target=replace(TARGET, release_update="19.19.0.0.230418")))
    with pytest.raises(ParameterError) as caught:
        plan_patch(estate(primary={"host": "hisdb1;reboot"}))
    assert caught.value.field == "homes[0].host"


def test_a_reordered_plan_is_refused() -> None:
    good = estate()
    plan = plan_patch(good)
    steps = list(plan.steps)
    datapatch = steps.pop(index(plan, "hisdb1", Action.DATAPATCH))
    early = replace(plan, steps=(datapatch, *steps))
    with pytest.raises(PlanRefused, match=r"datapatch before hisdb2:HISSTBY .* is patched"):
        validate_plan(early, good)
    on_standby = replace(plan, steps=tuple(
        replace(s, host="hisdb2", database="HISSTBY") if s.action is Action.DATAPATCH else s
        for s in plan.steps))
    with pytest.raises(PlanRefused, match="datapatch runs on the primary only"):
        validate_plan(on_standby, good)
    primary_first = replace(plan, steps=tuple(sorted(
        plan.steps, key=lambda s: (s.action is not Action.APPLY_PATCH, s.host != "hisdb1"))))
    with pytest.raises(PlanRefused, match="primary hisdb1:HISPRD .* is patched before standby"):
        validate_plan(primary_first, good)


def test_in_place_rollback_puts_the_primary_back_first_then_the_sql_then_the_standby() -> None:
    plan = plan_rollback(estate())
    rollback = [s for s in plan.steps if s.action is Action.ROLLBACK_PATCH]
    assert [s.host for s in rollback] == ["hisdb1", "hisdb2"]
    assert rollback[0].command == (f"env ORACLE_HOME={OLD_HOME} {OLD_HOME}/OPatch/opatch "
                                   "rollback -id 35643107 -silent")
    assert (index(plan, "hisdb1", Action.ROLLBACK_PATCH) < index(plan, "hisdb1", Action.DATAPATCH)
            < index(plan, "hisdb2", Action.STOP_APPLY))
    assert [s.host for s in plan.steps if s.action is Action.DATAPATCH] == ["hisdb1"]
    verify = plan.steps[index(plan, "hisdb1", Action.VERIFY_SQLPATCH)]
    assert verify.note == ("sqlpatch_findings(patch_id=35643107, action='ROLLBACK', "
                           "version='19.20.0.0.230718') must be empty")
    assert plan.steps[-1].action is Action.WAIT_APPLY_LAG


def test_out_of_place_rollback_switches_back_to_the_old_home() -> None:
    plan = plan_rollback(out_of_place())
    switches = [s for s in plan.steps if s.action is Action.SWITCH_HOME]
    assert [(s.host, s.command.rsplit(" ", 1)[-1]) for s in switches] == [
        ("hisdb1", OLD_HOME), ("hisdb2", OLD_HOME)]
    assert plan.steps[index(plan, "hisdb1", Action.STOP_DATABASE)].command.startswith(
        f"env ORACLE_HOME={NEW_HOME} ")
    assert plan.steps[index(plan, "hisdb1", Action.DATAPATCH)].command.startswith(
        f"env ORACLE_HOME={OLD_HOME} ORACLE_SID=HISPRD")
    assert Action.ROLLBACK_PATCH not in [s.action for s in plan.steps]
    reordered = replace(plan, steps=tuple(sorted(plan.steps, key=lambda s: s.host != "hisdb2")))
    with pytest.raises(PlanRefused, match="standby hisdb2:HISSTBY .* goes back before primary"):
        validate_plan(reordered, out_of_place())
