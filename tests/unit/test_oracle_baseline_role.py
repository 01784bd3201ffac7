"""oracle_baseline: which fix statements the role runs (filter plugin), how it judges SQL*Plus,
what it reports as waiting for a restart, and what ``hisops baseline apply`` hands it.

The statements under test are the ones hisops.engines.oracle.baseline really writes, judged on
the recorded-format snapshots of tests/fixtures/oracle/baseline; no SQL*Plus runs here.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from hisops.baselines import oracle_check
from hisops.baselines.apply import _left_over, oracle_desired_state
from hisops.baselines.check import _row
from hisops.baselines.loader import load_baseline
from hisops.engines.oracle.baseline import evaluate
from hisops.engines.oracle.baseline_sql import Snapshot, snapshot
from tests.conftest import ROOT
from tests.role_plugins import filter_plugin
from tests.unit.test_oracle_baseline import audit, param, prof

F = filter_plugin("oracle_baseline", "hisops_oracle_baseline")
FIXTURES = ROOT / "tests" / "fixtures" / "oracle" / "baseline"
SHIPPED = ROOT / "baselines" / "oracle-his-production.yml"


def snap(name: str) -> Snapshot:
    data = json.loads((FIXTURES / f"{name}.json").read_text())
    return snapshot(data["parameters"], data["profiles"], data["audit"])


@pytest.fixture(scope="module")
def healthy() -> Snapshot:
    return snap("his_prd_healthy")


@pytest.fixture(scope="module")
def drifted() -> Snapshot:
    return snap("his_prd_drifted")


# --- the statements --------------------------------------------------------------------------


def generated_fixes(healthy: Snapshot, drifted: Snapshot) -> list[str]:
    """Every form of fix baseline.py writes: the shipped baseline on the drifted database (all
    needs, manual included), and the special cases its own tests build."""
    fixes = [evaluate(item, drifted).fix for item in load_baseline(SHIPPED).baseline.items]
    hidden = copy.deepcopy(healthy)
    hidden["parameters"]["_trace_files_public"] = {
        "value": "TRUE", "display": "TRUE", "spfile": "TRUE", "spfile_display": "TRUE",
        "spfile_sid": "*", "isdefault": False, "modified": False, "modifiable": "FALSE"}
    rac = copy.deepcopy(drifted)
    rac["parameters"]["open_cursors"]["spfile_sid"] = "HISPRD1"
    pfile = copy.deepcopy(drifted)
    for state in pfile["parameters"].values():
        state["spfile"] = state["spfile_display"] = state["spfile_sid"] = None
    pfile["parameters"]["spfile"]["value"] = pfile["parameters"]["spfile"]["display"] = None
    fixes += [
        evaluate(param("_trace_files_public", value=False), hidden).fix,
        evaluate(param("log_archive_dest_1", value="LOCATION=/u01/arch VALID_FOR="
                       "(ALL_LOGFILES,ALL_ROLES)"), healthy).fix,
        evaluate(param("fal_server", value="it's; here"), healthy).fix,
        evaluate(param("recyclebin", value="ON"), drifted).fix,
        evaluate(param("open_cursors", min=500), rac).fix,
        evaluate(param("open_cursors", min=500), pfile).fix,
        evaluate(prof("HIS_APP", "FAILED_LOGIN_ATTEMPTS", max=5), healthy).fix,
        evaluate(prof("DEFAULT", "PASSWORD_GRACE_TIME", value="1/24"), drifted).fix,
        evaluate(prof("DEFAULT", "PASSWORD_VERIFY_FUNCTION",
                      one_of=["ORA12C_STRONG_VERIFY_FUNCTION"]), drifted).fix,
        evaluate(audit("ORA_CIS_RECOMMENDATIONS"), healthy).fix,
        evaluate(audit("ORA_ACCOUNT_MGMT"), drifted).fix,
        evaluate(audit("HIS_PATIENT_EXPORT", enabled=False), healthy).fix,
    ]
    return [line for fix in fixes for line in fix.splitlines() if line.strip()]


def test_every_fix_form_hisops_writes_is_accepted(healthy: Snapshot, drifted: Snapshot) -> None:
    lines = generated_fixes(healthy, drifted)
    kinds = {F.statement(line)["kind"] for line in lines}
    assert kinds == {"parameter", "profile", "audit", "noaudit"}
    expected = {
        "ALTER SYSTEM SET \"_trace_files_public\"=FALSE SCOPE=SPFILE SID='*';",
        "ALTER SYSTEM SET recyclebin=ON DEFERRED SCOPE=BOTH SID='*';",
        "ALTER SYSTEM SET open_cursors=500 SCOPE=BOTH SID='HISPRD1';",
        "ALTER SYSTEM SET open_cursors=500 SCOPE=MEMORY SID='*';",
        "ALTER SYSTEM SET fal_server='it''s; here' SCOPE=BOTH SID='*';",
        "ALTER PROFILE DEFAULT LIMIT PASSWORD_VERIFY_FUNCTION ORA12C_STRONG_VERIFY_FUNCTION;",
        "AUDIT POLICY ORA_LOGON_FAILURES WHENEVER NOT SUCCESSFUL;",
        "NOAUDIT POLICY ORA_ACCOUNT_MGMT BY HISADM, SYSTEM;",
        "NOAUDIT POLICY HIS_PATIENT_EXPORT BY USERS WITH GRANTED ROLES HIS_REPORTING;",
        "NOAUDIT POLICY ORA_SECURECONFIG;",
    }
    assert expected <= set(lines), "the generator's forms changed: update the filter's forms"
    assert "ALTER PROFILE DEFAULT LIMIT PASSWORD_GRACE_TIME 1/24;" in lines


def test_a_statement_is_named_by_kind_target_and_scope() -> None:
    assert F.statement("ALTER SYSTEM SET \"_trace_files_public\"=FALSE SCOPE=SPFILE SID='*';") \
        == {"kind": "parameter", "target": "_trace_files_public", "scope": "SPFILE"}
    assert F.statement("ALTER PROFILE DEFAULT LIMIT PASSWORD_LIFE_TIME 180;") == {
        "kind": "profile", "target": "DEFAULT LIMIT PASSWORD_LIFE_TIME", "scope": ""}
    assert F.statement("  AUDIT POLICY ORA_LOGON_FAILURES WHENEVER NOT SUCCESSFUL;\n")["target"] \
        == "ORA_LOGON_FAILURES"
    assert F.statement('NOAUDIT POLICY HIS_X BY "odd""user", HISADM;')["kind"] == "noaudit"


@pytest.mark.parametrize("sql", [
    "DROP USER hisapp CASCADE;",
    "GRANT DBA TO hisapp;",
    "ALTER SYSTEM KILL SESSION '12,345';",
    "ALTER SYSTEM SET open_cursors=500 SCOPE=BOTH SID='*'",  # no terminator
    "ALTER SYSTEM SET open_cursors=500 SCOPE=BOTH SID='*'; DROP TABLE his.patient;",
    "ALTER SYSTEM SET log_archive_dest_1='a'; DROP TABLE x; --' SCOPE=BOTH SID='*';",
    "ALTER SYSTEM SET open_cursors=500 SCOPE=BOTH SID='*';\nDROP TABLE his.patient;",
    "ALTER SYSTEM SET open_cursors=500;",  # no scope: not a form hisops writes
    "alter system set open_cursors=500 scope=both sid='*';",
    "ALTER PROFILE DEFAULT LIMIT PASSWORD_LIFE_TIME 180; GRANT DBA TO x;",
    "AUDIT POLICY ORA_LOGON_FAILURES; NOAUDIT POLICY ORA_SECURECONFIG;",
    "AUDIT SELECT ON his.patient;",
    "NOAUDIT POLICY X BY hisadm;",  # lower case: hisops would quote it
    "ALTER SYSTEM SET fal_server='x" + "y" * 2500 + "' SCOPE=BOTH SID='*';",
    "",
])
def test_anything_else_is_refused_naming_it(sql: str) -> None:
    with pytest.raises(AnsibleFilterError, match="oracle_baseline: refusing") as raised:
        F.statement(sql)
    assert sql.strip()[:40] in raised.value.message


def test_the_plan_carries_script_feedback_and_refuses_the_whole_list() -> None:
    entries = [{"item": "ora-open-cursors", "sql": "ALTER SYSTEM SET open_cursors=500 "
                "SCOPE=BOTH SID='*';", "needs": "none"},
               {"item": "ora-audit-trail", "sql": "ALTER SYSTEM SET audit_trail=DB "
                "SCOPE=SPFILE SID='*';", "needs": "restart"},
               {"item": "ora-dg", "sql": "NOAUDIT POLICY ORA_SECURECONFIG;"}]
    plan = F.plan(entries)
    assert [(p["kind"], p["target"], p["needs"], p["feedback"]) for p in plan] == [
        ("parameter", "open_cursors", "none", "System altered."),
        ("parameter", "audit_trail", "restart", "System altered."),
        ("noaudit", "ORA_SECURECONFIG", "none", "Noaudit succeeded.")]
    assert plan[0]["script"] == ("WHENEVER OSERROR EXIT FAILURE\n"
                                 "WHENEVER SQLERROR EXIT SQL.SQLCODE\n"
                                 "SET ECHO OFF FEEDBACK ON\n"
                                 "SET DEFINE OFF\n"
                                 "ALTER SYSTEM SET open_cursors=500 SCOPE=BOTH SID='*';\n"
                                 "EXIT\n")
    assert F.plan([]) == []
    bad = [*entries, {"item": "ora-evil", "sql": "DROP USER hisapp CASCADE;"}]
    with pytest.raises(AnsibleFilterError, match="^oracle_baseline: ora-evil: refusing "
                       "'DROP USER hisapp CASCADE;'"):
        F.plan(bad)


@pytest.mark.parametrize(("entries", "message"), [
    ([{"item": "a", "sql": "ALTER SYSTEM SET open_cursors=500 SCOPE=MEMORY SID='*';",
       "needs": "manual"}], "a: refusing .* it needs 'manual'"),
    ([{"item": "b", "sql": "ALTER SYSTEM SET processes=2000 SCOPE=BOTH SID='*';",
       "needs": "restart"}], "b: refusing .* SCOPE=SPFILE"),
    ([{"item": "c", "sql": "AUDIT POLICY X;", "needs": "restart"}], "c: refusing"),
    ([{"sql": "AUDIT POLICY X;"}], "needs an item and its sql"),
    ([{"item": "d", "sql": ""}], "needs an item and its sql"),
    ("AUDIT POLICY X;", "must be a list"),
])
def test_plan_refuses_entries_it_must_not_run(entries: Any, message: str) -> None:
    with pytest.raises(AnsibleFilterError, match=message):
        F.plan(entries)


# --- what SQL*Plus answered ------------------------------------------------------------------


def run(rc: int, stdout: str, stderr: str = "", **extra: Any) -> dict[str, Any]:
    return {"rc": rc, "stdout": stdout, "stderr": stderr, "changed": rc == 0, **extra}


@pytest.mark.parametrize(("result", "error"), [
    (run(0, "\nSystem altered.\n"), ""),
    (run(0, "Profile altered."), "no 'System altered.'"),
    (run(2, "ALTER SYSTEM SET processes=99999 SCOPE=SPFILE SID='*'\n*\nERROR at line 1:\n"
         "ORA-02097: parameter cannot be modified because specified value is invalid\n"
         "ORA-00068: invalid value 99999 for parameter processes, must be between 6 and 20000"),
     "sqlplus exited with 2: ORA-02097: parameter cannot be modified because specified value "
     "is invalid; ORA-00068"),
    # SQL.SQLCODE modulo 256: ORA-01792 exits 0; the error line still fails it
    (run(0, "ERROR at line 1:\nORA-01792: maximum number of columns in a table or view is "
         "1000"), "sqlplus exited with 0: ORA-01792"),
    (run(1, "ERROR:\nORA-01031: insufficient privileges\n\n"), "ORA-01031: insufficient"),
    (run(0, "SP2-0734: unknown command beginning \"ALTR SYSTE...\" - rest of line ignored."),
     "SP2-0734"),
    (run(2, "", msg="[Errno 2] No such file or directory: b'/u01/bin/sqlplus'"),
     "No such file or directory"),
    ({"skipped": True, "changed": False, "msg": "Command would have run if not in check mode",
      "rc": 0}, ""),
])
def test_a_statement_is_done_only_when_sqlplus_confirms_it(result: dict[str, Any],
                                                          error: str) -> None:
    said = F.statement_error(result, "System altered.")
    if error:
        assert error in said
    else:
        assert said == ""


def _plan_entry(sql: str, needs: str = "none", item: str = "i") -> dict[str, Any]:
    entry: dict[str, Any] = F.plan([{"item": item, "sql": sql, "needs": needs}])[0]
    return entry


AUDIT_TRAIL = _plan_entry("ALTER SYSTEM SET audit_trail=DB,EXTENDED SCOPE=SPFILE SID='*';",
                          "restart", "ora-audit-trail")
REMOTE_LOGIN = _plan_entry("ALTER SYSTEM SET remote_login_passwordfile=EXCLUSIVE "
                           "SCOPE=SPFILE SID='*';", "none", "ora-remote-login")
CURSORS = _plan_entry("ALTER SYSTEM SET open_cursors=500 SCOPE=BOTH SID='*';", "none",
                      "ora-open-cursors")
LIFE = _plan_entry("ALTER PROFILE DEFAULT LIMIT PASSWORD_LIFE_TIME 180;", "none", "ora-life")


def test_restart_pending_names_the_static_parameters_written_to_the_spfile() -> None:
    processes = _plan_entry("ALTER SYSTEM SET processes=2000 SCOPE=SPFILE SID='*';", "restart")
    assert F.restart_pending([AUDIT_TRAIL, REMOTE_LOGIN, CURSORS, LIFE, processes,
                              AUDIT_TRAIL]) == ["audit_trail", "processes"]
    # the spfile corrected under a live value that is already right waits for nothing
    assert F.restart_pending([REMOTE_LOGIN, CURSORS, LIFE]) == []


def test_outcome_reports_changes_failures_and_the_restart() -> None:
    registered = {"results": [
        {**run(0, "System altered."), "item": AUDIT_TRAIL},
        {**run(0, "System altered."), "item": CURSORS},
        {**run(1, "ORA-02095: specified initialization parameter cannot be modified"),
         "item": REMOTE_LOGIN},
        {**run(0, "Profile altered."), "item": LIFE},
    ]}
    out = F.outcome(registered, False)
    assert out["changed"] == [
        "parameter audit_trail: ALTER SYSTEM SET audit_trail=DB,EXTENDED SCOPE=SPFILE SID='*';",
        "parameter open_cursors: ALTER SYSTEM SET open_cursors=500 SCOPE=BOTH SID='*';",
        "profile DEFAULT LIMIT PASSWORD_LIFE_TIME: ALTER PROFILE DEFAULT LIMIT "
        "PASSWORD_LIFE_TIME 180;"]
    assert out["failed"] == ["ora-remote-login: ALTER SYSTEM SET remote_login_passwordfile="
                             "EXCLUSIVE SCOPE=SPFILE SID='*';: sqlplus exited with 1: ORA-02095:"
                             " specified initialization parameter cannot be modified"]
    assert (out["restart_pending"], out["restart_pending_for"]) == (True, ["audit_trail"])
    assert out["warnings"][0].startswith("restart pending for audit_trail: written to the "
                                         "spfile")
    assert out["warnings"][1].startswith("Oracle refused ora-remote-login: ")


def test_outcome_in_check_mode_is_what_a_real_run_would_change() -> None:
    skipped = {"skipped": True, "changed": False, "rc": 0,
               "msg": "Command would have run if not in check mode"}
    registered = {"results": [{**skipped, "item": AUDIT_TRAIL}, {**skipped, "item": CURSORS}]}
    would = F.outcome(registered, True)
    assert len(would["changed"]) == 2
    assert (would["failed"], would["restart_pending"]) == ([], True)
    assert F.outcome(registered, False)["changed"] == []
    empty = F.outcome({"results": []}, False)
    assert (empty["changed"], empty["restart_pending"], empty["warnings"]) == ([], False, [])


# --- the role's contract ---------------------------------------------------------------------


def _role_contract(role: str) -> tuple[dict[str, Any], dict[str, Any]]:
    folder = ROOT / "roles" / role
    defaults = yaml.safe_load((folder / "defaults" / "main.yml").read_text()) or {}
    specs = yaml.safe_load((folder / "meta" / "argument_specs.yml").read_text())
    return defaults, specs["argument_specs"]["main"]["options"]


def check_argument_specs(role: str) -> None:
    defaults, options = _role_contract(role)
    assert set(defaults) == set(options), "every default documented, every option defaulted"
    for name, value in defaults.items():
        if isinstance(value, str) and "{{" in value:
            assert "default" not in options[name], f"{name}: computed, no literal default"
        else:
            assert options[name].get("default") == value, name


def test_argument_specs_cover_every_default() -> None:
    check_argument_specs("oracle_baseline")


def test_the_role_runs_sqlplus_as_the_oracle_user_without_a_password() -> None:
    tasks = yaml.safe_load((ROOT / "roles/oracle_baseline/tasks/main.yml").read_text())
    run_task, = [t for t in tasks if "ansible.builtin.command" in t]
    assert run_task["ansible.builtin.command"]["argv"][1:] == ["-s", "-L", "/ as sysdba"]
    assert run_task["become_user"] == "{{ oracle_baseline_os_user }}"
    assert yaml.safe_load((ROOT / "roles/oracle_baseline/defaults/main.yml").read_text())[
        "oracle_baseline_os_user"] == "{{ oracle_os_user | default('oracle') }}"
    text = "".join(p.read_text() for p in (ROOT / "roles/oracle_baseline").rglob("*.yml"))
    assert "password" not in text.lower().replace("no password", "")


def test_the_playbook_sends_oracle_entries_to_oracle_baseline_only() -> None:
    play, = yaml.safe_load((ROOT / "playbooks/apply_baseline.yml").read_text())
    by_role = {r["role"]: r for r in play["roles"]}
    assert by_role["pg_baseline"]["when"] == \
        "hisops_baseline_desired is mapping and 'oracle' not in hisops_baseline_desired"
    assert by_role["oracle_baseline"]["when"] == \
        "hisops_baseline_desired is mapping and 'oracle' in hisops_baseline_desired"
    assert by_role["oracle_baseline"]["vars"] == {"oracle_baseline_statements": (
        "{{ hisops_baseline_desired.oracle.statements | default([], true) }}")}


# --- what hisops baseline apply hands the role -----------------------------------------------


def check_report(drifted: Snapshot, host_vars: dict[str, Any] | None = None) -> dict[str, Any]:
    """A check result in run_check's shape: the shipped baseline judged on the drifted
    database, one host, rows as check._row writes them."""
    items = load_baseline(SHIPPED).baseline.items
    rows = [_row(item, oracle_check.judge(item, drifted, host_vars or {})) for item in items]
    return {"run_id": "bl-1", "baseline": {"engine": "oracle"}, "hosts": [
        {"host": "his-db-2", "groups": ["oracle"], "error": None, "results": rows},
        {"host": "his-gg-1", "groups": ["oracle"], "error": "no oracle_dsn in the inventory "
         "for this host", "results": []}]}


def test_apply_gives_an_oracle_host_the_fix_sql_of_what_it_may_run(drifted: Snapshot) -> None:
    report = check_report(drifted)
    fixing = oracle_desired_state(report)
    assert list(fixing) == ["his-db-2"]
    state = fixing["his-db-2"]
    assert set(state) == {"oracle", "items"}
    assert set(state["items"]) == {
        "ora-audit-trail", "ora-audit-logon-failures", "ora-remote-login-passwordfile",
        "ora-default-failed-login-attempts", "ora-default-password-life-time",
        "ora-default-password-lock-time", "ora-db-block-checksum", "ora-archive-lag-target",
        "ora-standby-file-management", "ora-dg-broker-start", "ora-log-archive-dest-state-2",
        "ora-pga-aggregate-limit", "ora-open-cursors"}
    statements = state["oracle"]["statements"]
    assert {"item": "ora-default-password-life-time", "needs": "none",
            "sql": "ALTER PROFILE DEFAULT LIMIT PASSWORD_LIFE_TIME 180;"} in statements
    trail, = [s for s in statements if s["item"] == "ora-audit-trail"]
    assert trail["needs"] == "restart"
    assert "SCOPE=SPFILE" in trail["sql"]
    # each statement the role gets passes its own check, and restart_pending names audit_trail
    plan = F.plan(statements)
    assert len(plan) == len(statements) == len(state["items"])
    assert F.restart_pending(plan) == ["audit_trail"]
    # manual fixes, and a restart that no SQL helps, stay left over (printed for a DBA)
    left = {(r["host"], r["item"]) for r in _left_over(report, fixing)}
    assert left == {("his-db-2", "ora-audit-secureconfig"),
                    ("his-db-2", "ora-default-password-verify-function"),
                    ("his-db-2", "ora-sga-target"), ("his-db-2", "ora-processes"),
                    ("his-gg-1", "-")}


def test_a_fix_of_several_statements_becomes_one_statement_each() -> None:
    row = {"item": "ora-no-export-audit", "status": "drift", "fix_mode": "auto", "needs": "none",
           "fix": "NOAUDIT POLICY HIS_X;\nNOAUDIT POLICY HIS_X BY HISADM;\n", "severity": 2}
    ok = {**row, "item": "ora-fine", "status": "ok", "fix": ""}
    report = {"hosts": [{"host": "his-db-1", "error": None, "results": [row, ok]}]}
    assert oracle_desired_state(report) == {"his-db-1": {
        "items": ["ora-no-export-audit"],
        "oracle": {"statements": [
            {"item": "ora-no-export-audit", "sql": "NOAUDIT POLICY HIS_X;", "needs": "none"},
            {"item": "ora-no-export-audit", "sql": "NOAUDIT POLICY HIS_X BY HISADM;",
             "needs": "none"}]}}}


def test_nothing_runnable_means_no_host_to_fix(healthy: Snapshot) -> None:
    assert oracle_desired_state(check_report(healthy)) == {}
    manual = {"item": "m", "status": "drift", "fix_mode": "manual", "needs": "manual",
              "fix": "ALTER SYSTEM SET sga_target=8G SCOPE=SPFILE SID='*';", "severity": 2}
    auto_but_manual_needs = {**manual, "item": "n", "fix_mode": "auto"}
    report = {"hosts": [{"host": "h", "error": None,
                         "results": [manual, auto_but_manual_needs]}]}
    assert oracle_desired_state(report) == {}


def test_the_desired_file_is_plain_json(drifted: Snapshot, tmp_path: Path) -> None:
    from hisops.baselines.desired import write_desired

    fixing = oracle_desired_state(check_report(drifted))
    path = write_desired(fixing)
    assert json.loads(path.read_text()) == fixing
