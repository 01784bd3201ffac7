"""Guards: read-only preconditions checked before any change. A failed guard refuses the run
(exit 3) and nothing on any host has been touched, unless the operator waived that guard by
the name the runbook gave it (``waiver:``, with a journaled reason)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hisops.checks import CheckContext, CheckResult, get_check
from hisops.errors import InputError, PreconditionFailed
from hisops.inventory import Inventory
from hisops.journal import Journal
from hisops.journal import records as rk
from hisops.runbook.expressions import ExpressionError, truth
from hisops.runbook.planner import Plan, PlannedGuard

log = logging.getLogger(__name__)

Append = Callable[[str, dict[str, Any]], None]
Note = Callable[[str], None]


@dataclass(frozen=True)
class GuardPreview:
    """What a check guard would say if the run started now (``hisops plan``)."""

    name: str
    check: str
    ok: bool
    problems: tuple[str, ...]
    notes: tuple[str, ...]
    columns: tuple[str, ...]
    rows: tuple[dict[str, Any], ...]
    waiver: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "check": self.check, "ok": self.ok,
                "problems": list(self.problems), "notes": list(self.notes),
                "columns": list(self.columns), "rows": [dict(r) for r in self.rows],
                "waiver": self.waiver}


def _ssh_guard(guard: PlannedGuard, inventory: Inventory) -> str:
    """Empty string when the guard holds on every host, else why not."""
    # imported here: `hisops plan` previews check guards through this module and should not
    # pay for loading paramiko and Fabric
    from hisops.executors import ssh as ssh_exec
    from hisops.runbook.actions import judge

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


def _assert_guard(guard: PlannedGuard, context: Mapping[str, Any]) -> str:
    for condition in guard.that:
        try:
            if not truth(condition, context):
                return guard.message or f"not true: {condition}"
        except ExpressionError as exc:
            return f"{condition}: {exc}"
    return ""


def run_check(guard: PlannedGuard, inventory: Inventory, journal: Journal | None,
              now: datetime) -> CheckResult:
    """Call the guard's check; whatever goes wrong inside it becomes a problem, not a trace."""
    name = guard.check or "?"
    try:
        spec = get_check(name)
        result = spec.func(CheckContext(name=guard.name, hosts=guard.hosts, inventory=inventory,
                                        args=dict(guard.args), journal=journal, now=now))
    except Exception as exc:  # a check is code outside the engine: contain its failures
        log.debug("check %s of guard %r raised", name, guard.name, exc_info=True)
        text = " ".join(str(exc).split()) or type(exc).__name__
        return CheckResult(problems=(f"check {name} failed: {text}",))
    if not isinstance(result, CheckResult):
        return CheckResult(problems=(f"check {name} failed: it returned "
                                     f"{type(result).__name__}, not a CheckResult",))
    return result


def check_waivers(plan: Plan, waivers: Mapping[str, str] | None) -> None:
    """Refuse a waiver that no guard of the plan accepts, or one given without a reason: an
    operator who believes a refusal is waived must not find out after the fact."""
    waivable = sorted({g.waiver for g in plan.guards if g.waiver})
    for name, reason in (waivers or {}).items():
        if name not in waivable:
            accepted = ", ".join(waivable) if waivable else "none"
            raise InputError(f"waiver '{name}' matches no guard of runbook {plan.name} "
                             f"(waivers it accepts: {accepted})")
        if not reason.strip():
            raise InputError(f"waiver '{name}' needs a reason (it is journaled)")


def check_guards(plan: Plan, inventory: Inventory, append: Append, *,
                 journal: Journal | None = None, waivers: Mapping[str, str] | None = None,
                 now: datetime | None = None, note: Note | None = None) -> None:
    """Check every guard in order; raise PreconditionFailed at the first failing guard that
    is not waived. Each result is journaled through ``append``; ``note`` receives check notes
    and a line for each waived failure."""
    context = {"params": plan.params, "steps": {}, "run": {}}
    waivers = waivers or {}
    for guard in plan.guards:
        payload: dict[str, Any] = {"guard": guard.name}
        if guard.kind == "ssh":
            problem = _ssh_guard(guard, inventory)
        elif guard.kind == "check":
            result = run_check(guard, inventory, journal, now or datetime.now(UTC))
            problem = "; ".join(result.problems)
            payload.update(check=guard.check, problems=list(result.problems),
                           notes=list(result.notes), data=_jsonable(result.data))
            for text in result.notes:
                _say(note, f"{guard.name}: {text}")
        else:
            problem = _assert_guard(guard, context)
        payload.update(ok=not problem, detail=problem)
        waiver = guard.waiver
        waived = bool(problem) and waiver is not None and waiver in waivers
        if waived and waiver is not None:
            reason = waivers[waiver]
            payload.update(waived=True, waiver=waiver, reason=reason)
            _say(note, f"WARNING: guard '{guard.name}' waived ({waiver}): {reason} "
                       f"[it failed: {problem}]")
        append(rk.GUARD_RESULT, payload)
        if problem and not waived:
            raise PreconditionFailed(guard.name, problem)


def preview_guards(plan: Plan, inventory: Inventory, *, journal: Journal | None,
                   now: datetime | None = None) -> list[GuardPreview]:
    """Evaluate the plan's check guards only (read-only, nothing journaled), for a preview."""
    when = now or datetime.now(UTC)
    out = []
    for guard in plan.guards:
        if guard.kind != "check":
            continue
        result = run_check(guard, inventory, journal, when)
        out.append(GuardPreview(name=guard.name, check=guard.check or "", ok=result.ok,
                                problems=tuple(result.problems), notes=tuple(result.notes),
                                columns=tuple(result.columns), rows=tuple(result.rows),
                                waiver=guard.waiver))
    return out


def _say(note: Note | None, text: str) -> None:
    if note is not None:
        note(text)


def _jsonable(data: Mapping[str, Any]) -> Any:
    """A check's data as plain JSON (datetimes and the like as text): the journal takes no
    other values, and a check must not be able to break the run's record."""
    try:
        return json.loads(json.dumps(dict(data), default=str, allow_nan=False))
    except (TypeError, ValueError) as exc:
        return {"unrecordable": f"{type(exc).__name__}: {exc}"}
