"""Oracle baseline checks: the snapshot parsers on recorded-format query answers, and the
verdicts, expected/actual texts and fix SQL for each item kind.

Fixtures live in tests/fixtures/oracle/baseline (formats and their sources in its README.md):
Oracle 19c rows composed in the views' real column layout, not captured from a server.
"""

from __future__ import annotations

import copy
import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from hisops.baselines.loader import load_baseline
from hisops.baselines.model import OracleAudit, OracleParameter, OracleProfile
from hisops.engines.oracle import baseline as oracle_baseline
from hisops.engines.oracle import baseline_sql as oracle_baseline_sql
from hisops.engines.oracle.baseline import OracleResult, evaluate, number
from hisops.engines.oracle.baseline_sql import Snapshot, snapshot
from hisops.engines.oracle.sql import RowShapeError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "oracle" / "baseline"
SHIPPED = Path(__file__).resolve().parents[2] / "baselines" / "oracle-his-production.yml"


def answers(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def snap(name: str) -> Snapshot:
    data = answers(name)
    return snapshot(data["parameters"], data["profiles"], data["audit"])


@pytest.fixture(scope="module")
def healthy() -> Snapshot:
    return snap("his_prd_healthy")


@pytest.fixture(scope="module")
def drifted() -> Snapshot:
    return snap("his_prd_drifted")


def changed(base: Snapshot, name: str, **state: Any) -> Snapshot:
    """A copy of ``base`` with parameter ``name``'s state fields replaced."""
    copied = copy.deepcopy(base)
    copied["parameters"][name].update(state)  # type: ignore[typeddict-item]
    return copied


def param(name: str, **expect: Any) -> OracleParameter:
    return OracleParameter(kind="oracle_parameter", id="t", title="t", severity=3, name=name,
                           **expect)


def prof(profile: str, resource: str, **expect: Any) -> OracleProfile:
    return OracleProfile(kind="oracle_profile", id="t", title="t", severity=3, profile=profile,
                         resource=resource, **expect)


def audit(policy: str, enabled: bool = True) -> OracleAudit:
    return OracleAudit(kind="oracle_audit", id="t", title="t", severity=2, policy=policy,
                       enabled=enabled)


# --- SQL ---------------------------------------------------------------------------------------


def select_width(sql: str) -> int:
    """Columns of the outermost select list: top-level commas between SELECT and FROM."""
    head = sql.split("SELECT", 1)[1].split("\n  FROM", 1)[0]
    depth, commas = 0, 0
    for char in head:
        depth += {"(": 1, ")": -1}.get(char, 0)
        commas += char == "," and depth == 0
    return commas + 1


@pytest.mark.parametrize(("name", "width"), [("parameters", 9), ("profiles", 4), ("audit", 7)])
def test_sql_select_lists_match_the_parsers(name: str, width: int) -> None:
    assert select_width(oracle_baseline_sql.ALL_SQL[name]) == width
    assert all(len(row) == width for row in answers("his_prd_healthy")[name])


def test_parameters_sql_prefers_this_instances_spfile_entry() -> None:
    sql = oracle_baseline.PARAMETERS_SQL
    assert "SYS_CONTEXT('USERENV', 'INSTANCE_NAME')" in sql
    assert "isspecified = 'TRUE'" in sql
    assert "CASE WHEN sid = '*' THEN 2 ELSE 1 END" in sql  # the SID's own entry wins
    assert ":" not in sql.replace("::", "")  # no binds needed, no user data in the text


# --- parsing -----------------------------------------------------------------------------------


def test_parameters_parse(healthy: Snapshot) -> None:
    params = healthy["parameters"]
    assert len(params) == len(answers("his_prd_healthy")["parameters"])
    assert params["sga_target"] == {
        "value": "25769803776", "display": "24G", "spfile": "25769803776",
        "spfile_display": "24G", "spfile_sid": "*", "isdefault": False, "modified": False,
        "modifiable": "IMMEDIATE"}
    assert params["audit_sys_operations"]["spfile"] is None
    assert params["audit_sys_operations"]["isdefault"] is True
    assert params["open_cursors"]["modified"] is True
    assert params["recyclebin"]["modifiable"] == "DEFERRED"
    assert (params["control_files"]["spfile"] or "").count(", ") == 1  # two values, one row each
    assert oracle_baseline_sql.spfile_in_use(healthy)


@pytest.mark.parametrize("row", [
    ["open_cursors", "300", "300", "FALSE", "FALSE", "IMMEDIATE", None, None],
    ["open_cursors", "300", "300", "FALSE", "FALSE", "SOMETIMES", None, None, None],
    ["open_cursors", "300", "300", "YES", "FALSE", "IMMEDIATE", None, None, None],
    [None, "300", "300", "FALSE", "FALSE", "IMMEDIATE", None, None, None],
])
def test_parameter_rows_of_another_shape_are_refused(row: list[Any]) -> None:
    with pytest.raises(RowShapeError):
        oracle_baseline.parse_parameters([row])


def test_profiles_resolve_default(healthy: Snapshot, drifted: Snapshot) -> None:
    assert healthy["profiles"]["HIS_APP"]["FAILED_LOGIN_ATTEMPTS"] == "10"
    assert drifted["profiles"]["HIS_APP"]["FAILED_LOGIN_ATTEMPTS"] == "UNLIMITED"
    assert "FAILED_LOGIN_ATTEMPTS" in healthy["inherited"]["HIS_APP"]
    assert healthy["profiles"]["HIS_APP"]["PASSWORD_LIFE_TIME"] == "UNLIMITED"
    assert "PASSWORD_LIFE_TIME" not in healthy["inherited"]["HIS_APP"]
    assert healthy["profiles"]["ORA_STIG_PROFILE"]["PRIVATE_SGA"] == "UNLIMITED"
    assert healthy["profiles"]["DEFAULT"]["PASSWORD_VERIFY_FUNCTION"] == \
        "ORA12C_STRONG_VERIFY_FUNCTION"
    assert "DEFAULT" not in healthy["inherited"]
    assert drifted["profiles"]["DEFAULT"]["PASSWORD_LOCK_TIME"] == ".0416"


def test_profile_null_limit_and_missing_default_profile() -> None:
    limits, inherited = oracle_baseline.parse_profiles([
        ["HIS_APP", "PASSWORD_VERIFY_FUNCTION", "PASSWORD", None],
        ["HIS_APP", "FAILED_LOGIN_ATTEMPTS", "PASSWORD", "DEFAULT"]])
    assert limits["HIS_APP"] == {"PASSWORD_VERIFY_FUNCTION": "NULL",
                                 "FAILED_LOGIN_ATTEMPTS": "DEFAULT"}  # nothing to inherit
    assert inherited == {"HIS_APP": ["FAILED_LOGIN_ATTEMPTS"]}


def test_audit_parse(healthy: Snapshot, drifted: Snapshot) -> None:
    policies = healthy["audit"]["policies"]
    assert healthy["audit"]["unified"] is False  # mixed mode, the 19c default
    assert policies["ORA_LOGON_FAILURES"]["all_users"] is True
    assert policies["ORA_LOGON_FAILURES"]["entries"] == [
        {"option": "BY USER", "entity": "ALL USERS", "entity_type": "USER", "success": False,
         "failure": True}]
    assert policies["ORA_CIS_RECOMMENDATIONS"] == {"enabled": False, "all_users": False,
                                                   "entries": []}
    assert policies["HIS_PATIENT_EXPORT"]["enabled"] is True
    assert policies["HIS_PATIENT_EXPORT"]["all_users"] is False
    assert len(drifted["audit"]["policies"]["ORA_ACCOUNT_MGMT"]["entries"]) == 2


def test_audit_answer_without_policies_or_option_row() -> None:
    assert oracle_baseline.parse_audit([["TRUE"] + [None] * 6]) == {"unified": True,
                                                                   "policies": {}}
    with pytest.raises(RowShapeError):
        oracle_baseline.parse_audit([])


def test_collect_runs_the_three_queries_and_parses(healthy: Snapshot) -> None:
    data = answers("his_prd_healthy")
    by_sql = {oracle_baseline.PARAMETERS_SQL: data["parameters"],
              oracle_baseline.PROFILES_SQL: data["profiles"],
              oracle_baseline.AUDIT_POLICIES_SQL: data["audit"]}
    ran: list[str] = []

    class Cursor:
        def __enter__(self) -> Cursor:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

        def execute(self, sql: str) -> None:
            ran.append(sql)

        def fetchall(self) -> list[tuple[Any, ...]]:
            return [tuple(r) for r in by_sql[ran[-1]]]

    class Connection:
        def cursor(self) -> Cursor:
            return Cursor()

    assert oracle_baseline.collect(Connection()) == healthy  # type: ignore[arg-type]
    assert ran == list(oracle_baseline.ALL_SQL.values())


# --- values ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "value"), [
    ("4G", 4294967296), ("4294967296", 4294967296), ("256K", 262144), ("24g", 24 * 1024**3),
    ("1T", 1024**4), (".0416", Fraction("0.0416")), ("1/24", Fraction(1, 24)),
    ("1/1440", Fraction(1, 1440)), (300, 300), ("UNLIMITED", float("inf")),
    ("unlimited", float("inf")), ("TRUE", None), ("NULL", None), (True, None), ("1/0", None),
    ("DB,EXTENDED", None), ("4X", None),
])
def test_number(text: object, value: object) -> None:
    assert number(text) == value


# --- parameters --------------------------------------------------------------------------------


def test_keywords_compare_without_case(healthy: Snapshot) -> None:
    lower = changed(healthy, "resource_limit", value="true", display="true")
    assert evaluate(param("resource_limit", value=True), lower).status == "ok"
    assert evaluate(param("resource_limit", value="TRUE"), lower).status == "ok"
    assert evaluate(param("resource_limit", value="FALSE"), lower).status == "drift"
    spaced = changed(healthy, "audit_trail", value="DB, EXTENDED", display="DB, EXTENDED",
                     spfile="DB, EXTENDED", spfile_display="DB, EXTENDED")
    assert evaluate(param("audit_trail", one_of=["db,extended"]), spaced).status == "ok"
    assert evaluate(param("audit_trail", value="DB"), spaced).status == "drift"


def test_sizes_compare_with_suffixes(healthy: Snapshot) -> None:
    assert evaluate(param("sga_target", value="24G"), healthy).status == "ok"
    assert evaluate(param("sga_target", value=25769803776), healthy).status == "ok"
    assert evaluate(param("sga_target", min="24576M"), healthy).status == "ok"
    result = evaluate(param("sga_target", min="32G"), healthy)
    assert result == OracleResult("drift", ">= 32G", "24G", "none",
                                  "ALTER SYSTEM SET sga_target=32G SCOPE=BOTH SID='*';", "")
    assert evaluate(param("sga_target", max="16G"), healthy).fix == \
        "ALTER SYSTEM SET sga_target=16G SCOPE=BOTH SID='*';"


def test_range_fix_moves_to_the_crossed_bound(healthy: Snapshot) -> None:
    item = param("archive_lag_target", min=900, max=1800)
    assert evaluate(item, healthy).status == "ok"
    low = evaluate(item, changed(healthy, "archive_lag_target", value="0", display="0",
                                 spfile=None, spfile_display=None, spfile_sid=None))
    high = evaluate(item, changed(healthy, "archive_lag_target", value="3600", display="3600",
                                  spfile="3600", spfile_display="3600"))
    assert (low.status, low.expected) == ("drift", ">= 900 and <= 1800")
    assert low.fix == "ALTER SYSTEM SET archive_lag_target=900 SCOPE=BOTH SID='*';"
    assert high.fix == "ALTER SYSTEM SET archive_lag_target=1800 SCOPE=BOTH SID='*';"


def test_static_parameter_needs_a_restart(drifted: Snapshot) -> None:
    result = evaluate(param("audit_trail", one_of=["DB", "DB,EXTENDED"]), drifted)
    assert (result.status, result.needs, result.actual) == ("drift", "restart", "NONE")
    assert result.expected == "one of DB, DB,EXTENDED"
    assert result.fix == "ALTER SYSTEM SET audit_trail=DB SCOPE=SPFILE SID='*';"
    assert "next restart" in result.detail


def test_pending_restart_is_told_apart(drifted: Snapshot) -> None:
    result = evaluate(param("processes", min=1000), drifted)
    assert (result.status, result.needs, result.fix) == ("drift", "restart", "")
    assert result.actual == "800"
    assert result.detail == "the spfile already holds 2000: takes effect at the next restart"


def test_dynamic_parameter_already_right_in_the_spfile(drifted: Snapshot) -> None:
    stale = changed(drifted, "open_cursors", spfile="1000", spfile_display="1000")
    result = evaluate(param("open_cursors", min=500), stale)
    assert (result.status, result.needs) == ("drift", "none")
    assert result.fix == "ALTER SYSTEM SET open_cursors=1000 SCOPE=BOTH SID='*';"


def test_spfile_that_would_undo_a_right_value_is_drift(drifted: Snapshot) -> None:
    result = evaluate(param("remote_login_passwordfile", value="EXCLUSIVE"), drifted)
    assert (result.status, result.needs, result.actual) == ("drift", "none", "EXCLUSIVE")
    assert result.fix == \
        "ALTER SYSTEM SET remote_login_passwordfile=EXCLUSIVE SCOPE=SPFILE SID='*';"
    assert "spfile holds NONE" in result.detail


def test_memory_only_change_is_drift(drifted: Snapshot, healthy: Snapshot) -> None:
    result = evaluate(param("dg_broker_start", value=True), drifted)
    assert (result.status, result.needs) == ("drift", "none")
    assert result.fix == "ALTER SYSTEM SET dg_broker_start=TRUE SCOPE=SPFILE SID='*';"
    assert "SCOPE=MEMORY" in result.detail
    # a default value never set anywhere is fine
    assert evaluate(param("resource_limit", value=True), healthy).status == "ok"


def test_deferred_parameter_fix_says_deferred(drifted: Snapshot) -> None:
    result = evaluate(param("recyclebin", value="ON"), drifted)
    assert result.fix == "ALTER SYSTEM SET recyclebin=ON DEFERRED SCOPE=BOTH SID='*';"
    assert result.needs == "none"
    assert "sessions already connected keep the old one" in result.detail


def test_instance_started_from_a_pfile(drifted: Snapshot) -> None:
    pfile = copy.deepcopy(drifted)
    for state in pfile["parameters"].values():
        state["spfile"] = state["spfile_display"] = state["spfile_sid"] = None
    pfile["parameters"]["spfile"]["value"] = pfile["parameters"]["spfile"]["display"] = None
    assert not oracle_baseline_sql.spfile_in_use(pfile)
    dynamic = evaluate(param("open_cursors", min=500), pfile)
    assert (dynamic.status, dynamic.needs) == ("drift", "manual")
    assert dynamic.fix == "ALTER SYSTEM SET open_cursors=500 SCOPE=MEMORY SID='*';"
    assert "ORA-32001" in dynamic.detail
    static = evaluate(param("audit_trail", value="DB"), pfile)
    assert (static.needs, static.fix) == ("manual", "")
    assert static.detail.endswith("and restart")
    assert evaluate(param("dg_broker_start", value=True), pfile).status == "ok"


def test_rac_instance_specific_spfile_entry_is_targeted(drifted: Snapshot) -> None:
    rac = changed(drifted, "open_cursors", spfile_sid="HISPRD1")
    assert evaluate(param("open_cursors", min=500), rac).fix == \
        "ALTER SYSTEM SET open_cursors=500 SCOPE=BOTH SID='HISPRD1';"


def test_hidden_parameter_and_string_values_are_quoted(healthy: Snapshot) -> None:
    hidden = copy.deepcopy(healthy)
    hidden["parameters"]["_trace_files_public"] = {
        "value": "TRUE", "display": "TRUE", "spfile": "TRUE", "spfile_display": "TRUE",
        "spfile_sid": "*", "isdefault": False, "modified": False, "modifiable": "FALSE"}
    assert evaluate(param("_trace_files_public", value=False), hidden).fix == \
        "ALTER SYSTEM SET \"_trace_files_public\"=FALSE SCOPE=SPFILE SID='*';"
    dest = evaluate(param("log_archive_dest_1", value="LOCATION=/u01/arch"), healthy)
    assert dest.fix == \
        "ALTER SYSTEM SET log_archive_dest_1='LOCATION=/u01/arch' SCOPE=BOTH SID='*';"
    quote = evaluate(param("fal_server", value="it's"), healthy)
    assert "fal_server='it''s'" in quote.fix


def test_contains_is_a_substring_and_cannot_be_fixed_automatically(healthy: Snapshot) -> None:
    assert evaluate(param("log_archive_config", contains="DG_CONFIG=(hisprd"),
                    healthy).status == "ok"
    result = evaluate(param("log_archive_dest_2", contains="SYNC AFFIRM"), healthy)
    assert (result.status, result.needs, result.fix) == ("drift", "manual", "")
    assert result.expected == "contains SYNC AFFIRM"


def test_missing_or_unreadable_parameter_is_an_error(healthy: Snapshot) -> None:
    missing = evaluate(param("sec_max_failed_login_attemps", max=3), healthy)
    assert missing.status == "error"
    assert "no parameter 'sec_max_failed_login_attemps'" in missing.detail
    words = evaluate(param("audit_trail", min=1), healthy)
    assert words.status == "error"
    assert "'DB' is not a number" in words.detail
    assert evaluate(param("open_cursors", min="lots"), healthy).status == "error"


def test_manual_item_keeps_the_sql_and_says_who_fixes(drifted: Snapshot) -> None:
    item = param("sga_target", min="8G", fix="manual", remediation="size it for the host")
    result = evaluate(item, drifted)
    assert (result.status, result.needs) == ("drift", "manual")
    assert result.fix == "ALTER SYSTEM SET sga_target=8G SCOPE=BOTH SID='*';"
    assert "size it for the host" in result.detail


def test_computed_expectations(healthy: Snapshot) -> None:
    item = param("sga_target", min="{{ (facts.memory_mb * 0.25) | int }}M")
    assert evaluate(item, healthy, facts={"memory_mb": 65536}).status == "ok"  # 16G
    big = evaluate(item, healthy, facts={"memory_mb": 131072})
    assert (big.status, big.expected) == ("drift", ">= 32768M")
    assert evaluate(item, healthy).status == "error"  # no facts at hand


# --- profiles ----------------------------------------------------------------------------------


def test_profile_max_with_unlimited_is_drift(drifted: Snapshot, healthy: Snapshot) -> None:
    item = prof("DEFAULT", "FAILED_LOGIN_ATTEMPTS", max=10)
    assert evaluate(item, healthy) == OracleResult("ok", "<= 10", "10")
    assert evaluate(item, drifted) == OracleResult(
        "drift", "<= 10", "UNLIMITED", "none",
        "ALTER PROFILE DEFAULT LIMIT FAILED_LOGIN_ATTEMPTS 10;", "")


def test_profile_fractional_days(drifted: Snapshot) -> None:
    result = evaluate(prof("DEFAULT", "PASSWORD_LOCK_TIME", min=1), drifted)
    assert (result.status, result.actual) == ("drift", ".0416")
    assert result.fix == "ALTER PROFILE DEFAULT LIMIT PASSWORD_LOCK_TIME 1;"
    assert evaluate(prof("DEFAULT", "PASSWORD_LOCK_TIME", value="1/24"), drifted).status == "ok"
    assert evaluate(prof("DEFAULT", "PASSWORD_LOCK_TIME", max="1/24"), drifted).status == "ok"
    assert evaluate(prof("DEFAULT", "PASSWORD_LOCK_TIME", value="1/12"),
                    drifted).fix == "ALTER PROFILE DEFAULT LIMIT PASSWORD_LOCK_TIME 1/12;"


def test_profile_min_treats_unlimited_as_infinite(healthy: Snapshot) -> None:
    assert evaluate(prof("ORA_STIG_PROFILE", "PASSWORD_LOCK_TIME", min=1),
                    healthy).status == "ok"
    assert evaluate(prof("ORA_STIG_PROFILE", "PASSWORD_LOCK_TIME", max=1),
                    healthy).status == "drift"


def test_inherited_limit_is_judged_and_fixed_on_the_profile(healthy: Snapshot) -> None:
    result = evaluate(prof("HIS_APP", "FAILED_LOGIN_ATTEMPTS", max=5), healthy)
    assert result.status == "drift"
    assert result.actual == "10 (DEFAULT: from profile DEFAULT)"
    assert result.fix == "ALTER PROFILE HIS_APP LIMIT FAILED_LOGIN_ATTEMPTS 5;"
    assert "inherited from the DEFAULT profile" in result.detail
    assert evaluate(prof("HIS_APP", "FAILED_LOGIN_ATTEMPTS", max=10), healthy).status == "ok"


def test_verify_function(drifted: Snapshot, healthy: Snapshot) -> None:
    item = prof("DEFAULT", "PASSWORD_VERIFY_FUNCTION",
                one_of=["ORA12C_STRONG_VERIFY_FUNCTION", "ORA12C_VERIFY_FUNCTION"])
    assert evaluate(item, healthy).status == "ok"
    result = evaluate(item, drifted)
    assert (result.status, result.actual) == ("drift", "NULL")
    assert result.fix == \
        "ALTER PROFILE DEFAULT LIMIT PASSWORD_VERIFY_FUNCTION ORA12C_STRONG_VERIFY_FUNCTION;"
    assert "utlpwdmg.sql" in result.detail


def test_missing_profile_resource_or_default_is_an_error(healthy: Snapshot) -> None:
    assert "no profile HIS_REPORT" in evaluate(
        prof("HIS_REPORT", "FAILED_LOGIN_ATTEMPTS", max=10), healthy).detail
    assert "no resource PASSWORD_LIFETIME" in evaluate(
        prof("DEFAULT", "PASSWORD_LIFETIME", max=10), healthy).detail
    orphan = snapshot([], [["HIS_APP", "FAILED_LOGIN_ATTEMPTS", "PASSWORD", "DEFAULT"]],
                      [["FALSE"] + [None] * 6])
    result = evaluate(prof("HIS_APP", "FAILED_LOGIN_ATTEMPTS", max=10), orphan)
    assert (result.status, result.actual) == ("error", "DEFAULT")


# --- unified audit -----------------------------------------------------------------------------


def test_audit_policy_enabled_for_all(healthy: Snapshot, drifted: Snapshot) -> None:
    ok = evaluate(audit("ORA_LOGON_FAILURES"), healthy)
    assert (ok.status, ok.expected) == ("ok", "enabled for all users")
    assert ok.actual == "BY USER ALL USERS (success NO, failure YES)"
    assert "mixed-mode" in ok.detail
    off = evaluate(audit("ORA_LOGON_FAILURES"), drifted)
    assert (off.status, off.needs, off.actual) == ("drift", "none", "not enabled")
    assert off.fix == "AUDIT POLICY ORA_LOGON_FAILURES WHENEVER NOT SUCCESSFUL;"
    assert evaluate(audit("ORA_CIS_RECOMMENDATIONS"), healthy).fix == \
        "AUDIT POLICY ORA_CIS_RECOMMENDATIONS;"


def test_audit_policy_enabled_for_some_is_drift_for_a_person(drifted: Snapshot) -> None:
    except_user = evaluate(audit("ORA_SECURECONFIG"), drifted)
    assert (except_user.status, except_user.needs) == ("drift", "manual")
    assert except_user.actual == "EXCEPT USER HISAPP (success YES, failure YES)"
    assert except_user.fix == "NOAUDIT POLICY ORA_SECURECONFIG;\nAUDIT POLICY ORA_SECURECONFIG;"
    by_user = evaluate(audit("ORA_ACCOUNT_MGMT"), drifted)
    assert by_user.fix == ("NOAUDIT POLICY ORA_ACCOUNT_MGMT BY HISADM, SYSTEM;\n"
                           "AUDIT POLICY ORA_ACCOUNT_MGMT;")


def test_audit_policy_that_must_be_off(healthy: Snapshot) -> None:
    assert evaluate(audit("ORA_CIS_RECOMMENDATIONS", enabled=False), healthy).status == "ok"
    result = evaluate(audit("HIS_PATIENT_EXPORT", enabled=False), healthy)
    assert (result.status, result.expected) == ("drift", "not enabled")
    assert result.fix == \
        "NOAUDIT POLICY HIS_PATIENT_EXPORT BY USERS WITH GRANTED ROLES HIS_REPORTING;"
    assert evaluate(audit("ORA_SECURECONFIG", enabled=False), healthy).fix == \
        "NOAUDIT POLICY ORA_SECURECONFIG;"


def test_unknown_audit_policy_is_an_error(healthy: Snapshot) -> None:
    result = evaluate(audit("ORA_LOGON_FAILURE"), healthy)
    assert result.status == "error"
    assert "no policy ORA_LOGON_FAILURE" in result.detail


# --- the shipped baseline ----------------------------------------------------------------------


def verdicts(snapshot_: Snapshot) -> dict[str, OracleResult]:
    items = load_baseline(SHIPPED).baseline.items
    return {item.id: evaluate(item, snapshot_) for item in items
            if isinstance(item, OracleParameter | OracleProfile | OracleAudit)}


def test_shipped_baseline_holds_on_the_healthy_database(healthy: Snapshot) -> None:
    results = verdicts(healthy)
    assert len(results) == len(load_baseline(SHIPPED).baseline.items) == 20
    assert {k: r for k, r in results.items() if r.status != "ok"} == {}


def test_shipped_baseline_on_the_drifted_database(drifted: Snapshot) -> None:
    results = verdicts(drifted)
    assert {k: (r.status, r.needs) for k, r in results.items()} == {
        "ora-audit-sys-operations": ("ok", "none"),
        "ora-audit-trail": ("drift", "restart"),
        "ora-audit-logon-failures": ("drift", "none"),
        "ora-audit-secureconfig": ("drift", "manual"),
        "ora-remote-login-passwordfile": ("drift", "none"),  # the spfile would undo it
        "ora-resource-limit": ("ok", "none"),
        "ora-default-failed-login-attempts": ("drift", "none"),
        "ora-default-password-life-time": ("drift", "none"),
        "ora-default-password-lock-time": ("drift", "none"),
        "ora-default-password-verify-function": ("drift", "manual"),
        "ora-db-block-checksum": ("drift", "none"),
        "ora-db-block-checking": ("ok", "none"),
        "ora-archive-lag-target": ("drift", "none"),
        "ora-standby-file-management": ("drift", "none"),
        "ora-dg-broker-start": ("drift", "none"),  # in memory only
        "ora-log-archive-dest-state-2": ("drift", "none"),
        "ora-sga-target": ("drift", "manual"),
        "ora-pga-aggregate-limit": ("drift", "none"),
        "ora-open-cursors": ("drift", "none"),
        "ora-processes": ("drift", "restart"),  # the spfile holds 2000 already
    }
    assert results["ora-pga-aggregate-limit"].fix == \
        "ALTER SYSTEM SET pga_aggregate_limit=2G SCOPE=BOTH SID='*';"
    assert results["ora-db-block-checksum"].fix == \
        "ALTER SYSTEM SET db_block_checksum=TYPICAL SCOPE=BOTH SID='*';"
    assert results["ora-log-archive-dest-state-2"].fix == \
        "ALTER SYSTEM SET log_archive_dest_state_2=ENABLE SCOPE=BOTH SID='*';"
    assert results["ora-default-password-life-time"].fix == \
        "ALTER PROFILE DEFAULT LIMIT PASSWORD_LIFE_TIME 180;"
    assert results["ora-processes"].detail.startswith("the spfile already holds 2000")
    assert results["ora-sga-target"].actual == "0"
