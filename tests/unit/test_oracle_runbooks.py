"""One runbook per job, the engine chosen from the inventory: the emergency restore and the
backup runbooks planned against the production example's Oracle and PostgreSQL hosts, and the
restore_plan guard's Oracle branch. Planning only: nothing here reaches a host."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from typing import Any

import pytest

from hisops.checks import CheckContext
from hisops.checks import restore_plan as check
from hisops.inventory import Inventory
from tests.conftest import ROOT

PROD = ROOT / "inventories" / "production.example"
HIS, EMR = "his-db-1.hospital.example", "emr-db-1.hospital.example"


def plan(runbook: str, *extra: str) -> dict[str, list[str]]:
    args = [str(ROOT / ".venv" / "bin" / "hisops"), "plan", runbook, "--offline", "--json",
            "-i", str(PROD)]
    for item in extra:
        args += ["-e", item]
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return {s["id"]: s["hosts"] for s in json.loads(done.stdout)["steps"]}


def restore_steps(host: str) -> dict[str, list[str]]:
    return plan("emergency-restore", f"host={host}", f"primary={host}",
                "repository=backup-1.hospital.example", "standbys=")


def test_emergency_restore_of_the_oracle_host_runs_the_rman_steps_only() -> None:
    steps = restore_steps(HIS)
    assert [s for s, hosts in steps.items() if hosts] == [
        "oracle_assess", "oracle_restore", "oracle_checks"]


def test_emergency_restore_of_a_postgresql_host_skips_the_oracle_steps() -> None:
    steps = restore_steps(EMR)
    # fence, prepare and standby resolve too; their `when` (new-host mode, standbys given)
    # skips them at run time, and the timeline shows them skipped
    assert {s for s, hosts in steps.items() if hosts} == {
        "fence", "stop", "prepare", "set_aside", "restore", "recover", "checks", "open",
        "standby", "post_checks"}
    assert steps["oracle_assess"] == steps["oracle_restore"] == steps["oracle_checks"] == []


def context(**args: Any) -> CheckContext:
    base = {"database": "his", "host": HIS, "repository": "backup-1.hospital.example",
            "target": "latest", "mode": "in-place"}
    return CheckContext(name="guard", hosts=(), inventory=Inventory(PROD), args=base | args,
                        journal=None, now=datetime(2026, 11, 27, 3, 0, tzinfo=UTC))


def test_restore_plan_for_oracle_reads_no_pgbackrest(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_ssh(*_: Any) -> str:
        raise AssertionError("the Oracle branch must not run pgbackrest info")

    monkeypatch.setattr(check, "_run", no_ssh)
    result = check.restore_plan(context(target="2026-11-27 03:10:00+00:00"))
    assert result.ok
    assert result.data["engine"] == "oracle"
    assert "until 2026-11-27 11:10:00 host time" in " ".join(result.notes)  # Asia/Shanghai


@pytest.mark.parametrize(("args", "problem"), [
    ({"mode": "new-host"}, "Data Guard failover"),
    ({"target": "xid:1234"}, "SCN"),
])
def test_restore_plan_for_oracle_refuses_what_rman_cannot_do(args: dict[str, Any],
                                                             problem: str) -> None:
    result = check.restore_plan(context(**args))
    assert not result.ok
    assert problem in " ".join(result.problems)


def test_a_time_target_needs_the_oracle_hosts_zone(tmp_path: Any) -> None:
    (tmp_path / "hosts.yml").write_text(
        "all:\n  children:\n    oracle:\n      hosts:\n        ora1: {}\n")
    ctx = CheckContext(name="guard", hosts=(), inventory=Inventory(tmp_path),
                       args={"database": "his", "host": "ora1", "repository": "ora1",
                             "target": "2026-11-27 03:10:00+00:00"},
                       journal=None, now=datetime(2026, 11, 27, 3, 0, tzinfo=UTC))
    result = check.restore_plan(ctx)
    assert any("time zone" in p for p in result.problems)


def test_backup_takes_rman_for_oracle_and_pgbackrest_for_postgresql() -> None:
    steps = plan("backup", "repository=backup-1.hospital.example", "database=db_primary")
    assert steps["configure"] == steps["backup"] == [EMR]
    assert steps["oracle_backup"] == [HIS]


def test_verify_backup_chooses_by_the_source_host() -> None:
    from hisops.inventory import template_context
    from hisops.runbook.expressions import truth

    inv = Inventory(PROD)
    context = {"params": {"source": HIS}, "inventory": template_context(inv)}
    assert truth("inventory.engine[params.source] == 'oracle'", context)
    context["params"]["source"] = EMR
    assert truth("inventory.engine[params.source] == 'postgresql'", context)
    context["params"]["source"] = "not-in-the-inventory"  # the PostgreSQL default, as db_engine
    assert truth("inventory.engine[params.source] == 'postgresql'", context)
    steps = plan("verify-backup", "scratch=verify-1.hospital.example",
                 "repository=backup-1.hospital.example", f"source={HIS}")
    assert steps["oracle_verify"] == [HIS]
    assert steps["oracle_duplicate"] == []  # verify-1 runs PostgreSQL: no Oracle scratch here


def test_restore_plan_for_oracle_counts_the_clock_from_the_incident() -> None:
    result = check.restore_plan(context(incident_at="2026-11-27 02:30:00+00:00"))
    assert result.ok
    assert result.data["clock"]["started_at"] == "2026-11-27T02:30:00+00:00"
    assert [d["name"] for d in result.data["clock"]["deadlines"]] == [
        "respond", "solution", "resolve"]
