"""``hisops baseline apply``: check, hand the drift to the ``apply-baseline`` runbook, re-check.

The fix runs through the runbook engine like any change: guards, host locks, the journal,
protected-environment confirmation, resume after an interruption. Only the hosts with
something to fix are touched, and each gets exact values (``desired.py``), so a second apply
finds nothing to do and starts no run at all.

An Oracle host is given the fix SQL the check wrote for each drifting item
(:func:`oracle_desired_state`), which the ``oracle_baseline`` role runs through
``sqlplus / as sysdba``; what needs a person, or only a restart, stays "left over" and printed.
"""

from __future__ import annotations

from typing import Any

from hisops.baselines.check import run_check
from hisops.baselines.desired import desired_state, write_desired
from hisops.baselines.loader import load_baseline
from hisops.errors import ExitStatus
from hisops.inventory import Inventory
from hisops.journal import Journal
from hisops.journal.records import EVIDENCE

# what an Oracle fix needs for the role to run it: nothing more, or a restart hisops reports
# (the role never restarts Oracle); "manual" fixes are printed for a DBA, never run
ORACLE_RUNNABLE = ("none", "restart")


def oracle_desired_state(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """host -> ``{"oracle": {"statements": [{item, sql, needs}]}, "items": [...]}``; hosts with
    work only.

    One statement per line of a drifting item's ``fix`` (a NOAUDIT fix may hold several), for
    items whose fix needs nothing more or a restart and has SQL. A restart-only drift without
    SQL (the spfile already holds the value) and every manual fix are left over.
    """
    out: dict[str, dict[str, Any]] = {}
    for host in report["hosts"]:
        statements: list[dict[str, str]] = []
        items: list[str] = []
        for row in host["results"]:
            fix = str(row.get("fix") or "")
            if (row["status"] != "drift" or row.get("fix_mode") != "auto"
                    or row.get("needs") not in ORACLE_RUNNABLE or not fix.strip()):
                continue
            items.append(row["item"])
            statements += [{"item": row["item"], "sql": line.strip(), "needs": row["needs"]}
                           for line in fix.splitlines() if line.strip()]
        if items:
            out[host["host"]] = {"oracle": {"statements": statements}, "items": items}
    return out


def _left_over(report: dict[str, Any], fixing: dict[str, Any]) -> list[dict[str, Any]]:
    """Drifts apply will not fix (manual, n/a, a standby's roles): said, never hidden."""
    rows = []
    for host in report["hosts"]:
        planned = set(fixing.get(host["host"], {}).get("items", []))
        for row in host["results"]:
            if row["status"] == "drift" and row["item"] not in planned:
                rows.append({"host": host["host"], **row})
        if host.get("error"):
            rows.append({"host": host["host"], "item": "-", "status": "error",
                         "detail": host["error"], "severity": 1, "title": "host not read"})
    return rows


def apply_baseline(name: str, inventory: Inventory, *, limit: str | None, check: bool,
                   allow_restart: bool, journal: Journal, operator: str | None, yes: bool,
                   confirm: str | None, quiet: bool = False) -> dict[str, Any]:
    from hisops.baselines import console
    from hisops.cli import _confirm
    from hisops.reports.console import ConsoleReporter
    from hisops.runbook.engine import Engine
    from hisops.runbook.reporter import NullReporter
    from hisops.runbook.session import prepare

    loaded = load_baseline(name)
    before = run_check(loaded, inventory, limit=limit, journal=journal)
    oracle = loaded.baseline.engine == "oracle"
    fixing = oracle_desired_state(before) if oracle else desired_state(before)
    left = _left_over(before, fixing)
    result: dict[str, Any] = {"baseline": loaded.name, "check_before": before["run_id"],
                              "hosts": sorted(fixing), "run_id": None, "check": check,
                              "left_over": left, "changes": {}, "check_after": None}
    if not quiet:
        console.print_fix_plan(before, fixing, left)
        if oracle and left:
            console.print_note("Oracle: what apply does not fix needs a DBA (the SQL above) or "
                               "a restart of the instance, which hisops never does")
        if oracle and allow_restart and fixing:
            console.print_note("Oracle: --allow-restart has no effect; a parameter written to "
                               "the spfile is reported as restart pending")
    if not fixing:
        result["exit_code"] = 0
        return result
    path = write_desired(fixing)
    standbys = [h["host"] for h in before["hosts"] if h["host"] in fixing
                and h.get("role") == "standby"]
    prepared = prepare("apply-baseline", inventory.source, given={
        "desired_file": str(path), "baseline": loaded.name, "hosts": ":".join(fixing),
        "standbys": ":".join(standbys),
        "others": ":".join(h for h in fixing if h not in standbys),
        "allow_restart": str(allow_restart).lower()})
    _confirm(prepared.plan, prepared.inventory, yes, confirm, check)
    engine = Engine(journal, reporter=NullReporter() if quiet else ConsoleReporter(),
                    operator=operator)
    outcome = engine.start(prepared.plan, prepared.inventory, prepared.secrets, check=check)
    result["run_id"] = outcome.run_id
    result["status"] = outcome.status
    result["changes"] = {r.payload["subject"]: r.payload["evidence"]
                         for r in journal.records(outcome.run_id, kinds=[EVIDENCE])
                         if r.payload.get("type") == "baseline"}
    if outcome.exit_status != ExitStatus.SUCCESS:
        result["exit_code"] = int(outcome.exit_status)
        result["detail"] = outcome.detail
        if not quiet:
            console.print_apply_failed(outcome.run_id, outcome.detail)
        return result
    if not check:
        after = run_check(loaded, inventory, limit=limit, journal=journal)
        result["check_after"] = after["run_id"]
        result["left_over"] = _left_over(after, {})
    if not quiet:
        console.print_apply_done(result)
    result["exit_code"] = 0
    return result
