"""Guards: read-only preconditions checked before any change. A failed guard refuses the run
(exit 3) and nothing on any host has been touched."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hisops.errors import PreconditionFailed
from hisops.executors import ssh as ssh_exec
from hisops.inventory import Inventory
from hisops.journal import records as rk
from hisops.runbook.actions import judge
from hisops.runbook.expressions import ExpressionError, truth
from hisops.runbook.planner import Plan, PlannedGuard

Append = Callable[[str, dict[str, Any]], None]


def _ssh_guard(guard: PlannedGuard, inventory: Inventory) -> str:
    """Empty string when the guard holds on every host, else why not."""
    if not guard.hosts:
        return "no hosts match"
    conns = [ssh_exec.connection_for(h, inventory.host_vars(h)) for h in guard.hosts]
    results = ssh_exec.run_command(conns, guard.command or "true",
                                   timeout_s=guard.timeout_s)
    problems = []
    for host in guard.hosts:
        judged = judge(results[host], guard.expect, read_only=True)
        if not judged.status.is_success:
            problems.append(f"{host}: {judged.detail or judged.status.value}")
    return "; ".join(problems)


def check_guards(plan: Plan, inventory: Inventory, append: Append) -> None:
    context = {"params": plan.params, "steps": {}, "run": {}}
    for guard in plan.guards:
        if guard.kind == "ssh":
            problem = _ssh_guard(guard, inventory)
        else:
            problem = ""
            for condition in guard.that:
                try:
                    if not truth(condition, context):
                        problem = guard.message or f"not true: {condition}"
                        break
                except ExpressionError as exc:
                    problem = f"{condition}: {exc}"
                    break
        append(rk.GUARD_RESULT, {"guard": guard.name, "ok": not problem, "detail": problem})
        if problem:
            raise PreconditionFailed(guard.name, problem)
