"""The Oracle patch role's planning glue and the patch-oracle runbook, without a server.

The role reads each home, asks ``hisops_oracle_patch_steps`` for its host's steps and judges
each step's output with ``hisops_oracle_patch_judge``; the readings here are the real-format
fixtures of tests/fixtures/oracle (SOURCES.md). What is not covered: the commands running
against Oracle software (no Oracle server or home exists on these machines).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ansible.errors import AnsibleFilterError

from hisops.engines.oracle.patch import Role
from hisops.engines.oracle.patch_facts import (
    dataguard_stats,
    home_from_readings,
    home_vars,
    read_commands,
    registry_rows,
    target_from,
)
from hisops.engines.oracle.rman import UnreadableOutput
from hisops.engines.oracle.sqlplus import query_script, rows
from hisops.errors import ParameterError
from hisops.inventory import Inventory
from tests.conftest import ROOT
from tests.role_plugins import filter_plugin

FIXTURES = ROOT / "tests" / "fixtures" / "oracle"
F = filter_plugin("oracle_patch", "hisops_oracle_patch")
HOME = "/u01/app/oracle/product/19.0.0/dbhome_1"
PARAMS = {"patch_id": 35643107, "release_update": "19.21.0.0.231017",
          "patch_dir": "/u01/stage/35643107", "opatch_minimum": "12.2.0.1.37",
          "strategy": "in_place", "max_apply_lag_s": 30}


def text(name: str) -> str:
    return (FIXTURES / name).read_text()


def readings(*, inventory: str = "opatch_lsinventory_19_20.txt", standby: bool = False,
             lag: str = "in_sync") -> dict[str, str]:
    out = {"opatch_version": text("opatch_version.txt"), "lsinventory": text(inventory),
           "prereq": text("opatch_prereq_conflict_passed.txt")}
    if standby:
        out["dataguard_stats"] = text(f"sqlplus_csv_dataguard_stats_{lag}.txt")
    return out


def hostvars(*, primary_inventory: str = "opatch_lsinventory_19_20.txt",
             standby_inventory: str = "opatch_lsinventory_19_20.txt",
             lag: str = "in_sync") -> dict[str, dict[str, Any]]:
    return {
        "his-db-1": {"oracle_home": HOME, "oracle_sid": "HISPRD", "group_names": ["db_primary"],
                     F.READINGS: readings(inventory=primary_inventory)},
        "his-db-2": {"oracle_home": HOME, "oracle_sid": "HISSTBY",
                     "group_names": ["db_standby"],
                     F.READINGS: readings(inventory=standby_inventory, standby=True, lag=lag)},
    }


HOSTS = ["his-db-2", "his-db-1"]


def actions(steps: list[dict[str, Any]]) -> list[str]:
    return [s["action"] for s in steps]


# --- SQL*Plus CSV ------------------------------------------------------------------------------


def test_query_script_prints_csv_and_exits() -> None:
    script = query_script("SELECT 1 FROM dual;")
    assert "SET MARKUP CSV ON QUOTE ON" in script
    assert script.rstrip().endswith("SELECT 1 FROM dual;\nEXIT")
    assert script.count(";\n") >= 3  # the NLS settings and the query, one statement each


def test_csv_rows_read_quoted_values_and_empty_answer() -> None:
    got = rows(text("sqlplus_csv_dataguard_stats_in_sync.txt"),
               ("NAME", "VALUE", "UNIT", "TIME_COMPUTED", "DATUM_TIME"))
    assert [r["NAME"] for r in got] == ["apply lag", "transport lag"]
    assert got[0]["VALUE"] == "+00 00:00:03"
    assert rows("\n\n", ("A",)) == []


def test_csv_rows_refuse_errors_other_headings_and_broken_lines() -> None:
    with pytest.raises(UnreadableOutput, match="ORA-01034"):
        rows(text("sqlplus_csv_error_not_available.txt"), ("NAME",))
    with pytest.raises(UnreadableOutput, match="another heading"):
        rows('"A","B"\n"1","2"\n', ("A", "C"))
    with pytest.raises(UnreadableOutput, match="line 3"):
        rows('"A","B"\n"1","2"\n"3"\n', ("A", "B"))


def test_registry_rows_are_typed_as_the_driver_returns_them() -> None:
    got = registry_rows(text("sqlplus_csv_registry_sqlpatch_after_apply.txt"))
    assert got[0]["PATCH_ID"] == 29517242
    assert got[-1]["ACTION_TIME"].year == 2026
    stats = dataguard_stats(text("sqlplus_csv_dataguard_stats_apply_behind.txt"))
    assert stats[0].name == "apply lag"
    assert stats[0].lag is not None
    assert stats[0].lag.total_seconds() == 462


# --- inventory to home -------------------------------------------------------------------------


def test_home_vars_role_from_the_groups_or_declared() -> None:
    assert home_vars("h", {"oracle_home": HOME, "oracle_sid": "X"}, ["db_standby"]).role \
        is Role.PHYSICAL_STANDBY
    assert home_vars("h", {"oracle_home": HOME, "oracle_sid": "X"}, ["db_replica"]).role \
        is Role.PRIMARY
    declared = home_vars("h", {"oracle_home": HOME, "oracle_sid": "X",
                               "oracle_dg_role": "physical_standby"}, [])
    assert declared.role is Role.PHYSICAL_STANDBY
    assert declared.db_unique_name == "X"


@pytest.mark.parametrize(("hv", "field"), [
    ({"oracle_sid": "X"}, "oracle_home"),
    ({"oracle_home": HOME, "oracle_sid": "X", "oracle_dg_role": "logical"}, "oracle_dg_role"),
])
def test_home_vars_name_what_is_wrong(hv: dict[str, Any], field: str) -> None:
    with pytest.raises(ParameterError) as caught:
        home_vars("h", hv, [])
    assert caught.value.field == field


def test_read_commands_ask_a_standby_for_its_lag_only() -> None:
    target = target_from(PARAMS)
    standby = read_commands(home_vars("s", {"oracle_home": HOME, "oracle_sid": "S"},
                                      ["db_standby"]), target)
    primary = read_commands(home_vars("p", {"oracle_home": HOME, "oracle_sid": "P"}, []), target)
    assert set(standby) - set(primary) == {"dataguard_stats"}
    assert "cd /u01/stage/35643107 && " in primary["prereq"]
    assert "password" not in " ".join(standby.values()).lower()


def test_a_home_is_never_built_without_its_readings() -> None:
    home = home_vars("s", {"oracle_home": HOME, "oracle_sid": "S"}, ["db_standby"])
    with pytest.raises(ParameterError, match="dataguard_stats"):
        home_from_readings(home, readings())
    built = home_from_readings(home, readings(standby=True))
    assert built.inventory.release_update is not None
    assert built.opatch_version == "12.2.0.1.40"  # the fixture's banner, not version.txt


def test_target_needs_every_patch_field() -> None:
    with pytest.raises(ParameterError) as caught:
        target_from({**PARAMS, "patch_dir": ""})
    assert caught.value.field == "patch_dir"
    with pytest.raises(ParameterError):
        target_from({**PARAMS, "patch_id": "RU19"})


# --- the role's phases ------------------------------------------------------------------------


def test_prereq_phase_runs_checks_only() -> None:
    for host in HOSTS:
        steps = F.steps(hostvars(), HOSTS, PARAMS, "prereq", host)
        assert steps
        assert all(not s["changes_host"] for s in steps)
    assert "check_apply_lag" in actions(F.steps(hostvars(), HOSTS, PARAMS, "prereq", "his-db-2"))


def test_binaries_phase_of_a_standby_stops_apply_patches_and_waits_for_the_lag() -> None:
    got = actions(F.steps(hostvars(), ["his-db-2"], PARAMS, "binaries", "his-db-2"))
    assert got.index("stop_apply") < got.index("stop_database") < got.index("apply_patch") \
        < got.index("start_database") < got.index("start_apply") < got.index("wait_apply_lag")
    assert "datapatch" not in got


def test_binaries_phase_refuses_a_lagging_standby_before_any_command() -> None:
    with pytest.raises(AnsibleFilterError, match="apply lag"):
        F.steps(hostvars(lag="apply_behind"), ["his-db-2"], PARAMS, "binaries", "his-db-2")


def test_datapatch_is_refused_while_a_home_is_unpatched() -> None:
    with pytest.raises(AnsibleFilterError, match="his-db-2"):
        F.steps(hostvars(primary_inventory="opatch_lsinventory_19_21.txt"), HOSTS, PARAMS,
                "datapatch", "his-db-1")


def test_datapatch_phase_runs_on_the_primary_only_then_the_standby_waits() -> None:
    patched = hostvars(primary_inventory="opatch_lsinventory_19_21.txt",
                       standby_inventory="opatch_lsinventory_19_21.txt")
    primary = F.steps(patched, HOSTS, PARAMS, "datapatch", "his-db-1")
    standby = F.steps(patched, HOSTS, PARAMS, "datapatch", "his-db-2")
    assert actions(primary) == ["datapatch", "verify_sqlpatch"]
    assert actions(standby) == ["wait_apply_lag"]
    assert primary[0]["number"] < standby[0]["number"]


def test_rollback_undoes_the_patch_only_when_it_reached_the_home() -> None:
    installed = F.rollback_steps(hostvars(), "his-db-2", PARAMS,
                                 text("opatch_lsinventory_19_21.txt"))
    absent = F.rollback_steps(hostvars(), "his-db-2", PARAMS,
                              text("opatch_lsinventory_19_20.txt"))
    assert "rollback_patch" in actions(installed)
    assert actions(installed)[-2:] == ["start_apply", "wait_apply_lag"]
    assert actions(absent) == ["start_database", "start_apply"]


# --- judging outputs ---------------------------------------------------------------------------


def step(action: str) -> dict[str, Any]:
    return {"host": "his-db-1", "number": 7, "action": action}


def ok(stdout: str, rc: int = 0) -> dict[str, Any]:
    return {"stdout": stdout, "stderr": "", "rc": rc}


@pytest.mark.parametrize(("action", "fixture", "params", "problem"), [
    ("check_opatch_version", "opatch_version.txt", {}, None),
    ("check_opatch_version", "opatch_version.txt", {"opatch_minimum": "12.2.0.1.48"},
     "12.2.0.1.48"),
    ("prereq_conflict", "opatch_prereq_conflict_passed.txt", {}, None),
    ("prereq_conflict", "opatch_prereq_conflict_failed.txt", {}, "ZOP-40"),
    ("wait_apply_lag", "sqlplus_csv_dataguard_stats_in_sync.txt", {}, None),
    ("wait_apply_lag", "sqlplus_csv_dataguard_stats_apply_behind.txt", {}, "over the limit"),
    ("verify_sqlpatch", "sqlplus_csv_registry_sqlpatch_after_apply.txt", {}, None),
    ("verify_sqlpatch", "sqlplus_csv_registry_sqlpatch_with_errors.txt", {}, "WITH ERRORS"),
    ("verify_home", "opatch_lsinventory_19_21.txt", {}, None),
    ("verify_home", "opatch_lsinventory_19_20.txt", {}, "lacks patch 35643107"),
    ("verify_home", "opatch_lsinventory_19_21.txt", {"operation": "rollback"}, "still has"),
    ("datapatch", "datapatch_verbose_success.txt", {}, None),
    ("datapatch", "datapatch_verbose_errors.txt", {}, "WITH ERRORS"),
    ("check_apply_lag", "sqlplus_csv_error_not_available.txt", {}, "ORA-01034"),
])
def test_judge(action: str, fixture: str, params: dict[str, Any], problem: str | None) -> None:
    got = F.judge(step(action), ok(text(fixture)), PARAMS | params)
    if problem is None:
        assert got == []
    else:
        assert len(got) >= 1
        assert problem in " ".join(got)
        assert got[0].startswith(f"his-db-1 step 7 {action}")


def test_judge_names_a_failed_command_by_its_exit_status() -> None:
    got = F.judge(step("stop_database"), {"stdout": "", "stderr": "PRCC-1016: already stopped",
                                          "rc": 2}, PARAMS)
    assert got == ["his-db-1 step 7 stop_database: exit status 2: PRCC-1016: already stopped"]


# --- inventory engine groups and the runbook --------------------------------------------------


def test_engine_groups_split_the_production_example() -> None:
    inv = Inventory(ROOT / "inventories" / "production.example")
    assert inv.hosts("db_primary:&engine_oracle") == ["his-db-1.hospital.example"]
    assert inv.hosts("db_primary:&engine_postgresql") == ["emr-db-1.hospital.example"]
    assert inv.engine("his-gg-1.hospital.example") == "oracle"


def test_a_declared_engine_wins_over_the_groups(tmp_path: Path) -> None:
    (tmp_path / "hosts.yml").write_text(
        "all:\n  children:\n    db_primary:\n      hosts:\n"
        "        a:\n          hisops_engine: oracle\n        b: {}\n")
    inv = Inventory(tmp_path)
    assert inv.hosts("db_primary:&engine_oracle") == ["a"]
    assert inv.hosts("db_primary:!engine_oracle") == ["b"]


def test_plan_patch_oracle_is_standby_first_with_datapatch_last() -> None:
    done = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "hisops"), "plan", "patch-oracle", "--offline", "--json",
         "-i", str(ROOT / "inventories" / "production.example"), "-e", "patch_id=35643107",
         "-e", "release_update=19.21.0.0.231017", "-e", "patch_dir=/u01/stage/35643107",
         "-e", "opatch_minimum=12.2.0.1.37"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    steps = {s["id"]: s for s in json.loads(done.stdout)["steps"]}
    order = [s["id"] for s in json.loads(done.stdout)["steps"]]
    assert order.index("standbys") < order.index("replicas") < order.index("primary") \
        < order.index("datapatch")
    assert order[-1] == "datapatch"
    assert steps["standbys"]["hosts"] == ["his-db-2.hospital.example"]
    assert steps["primary"]["hosts"] == ["his-db-1.hospital.example"]
