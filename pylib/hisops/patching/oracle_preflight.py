"""``oracle_patch_preflight``: the standby-first plan of an Oracle Release Update, from the homes.

The guard of the patch-oracle runbook and the table ``hisops plan patch-oracle`` shows. It reads
every home over SSH, as the oracle OS user and read-only (``opatch version``, ``opatch
lsinventory``, the conflict check against the staged patch, a standby's ``V$DATAGUARD_STATS``),
and hands the readings to :func:`hisops.engines.oracle.patch.plan_patch`, the planner the
``oracle_patch`` role runs. The table is that plan, step by step: standbys first, the primary
after them, ``datapatch`` on the primary last, each with its downtime class. It refuses, before
anything changes, when a home cannot be read or the planner refuses: OPatch below the README's
minimum, a blocking conflict, a standby lagging or of unknown lag, a patch not Standby-First
Installable, a home newer than the target.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from hisops.checks import BadArgument, CheckContext, CheckResult, CheckSpec
from hisops.engines.oracle.patch import PlanRefused, plan_patch
from hisops.engines.oracle.patch_facts import (
    OUTLINE_COLUMNS,
    estate_from,
    home_from_readings,
    home_vars,
    outline,
    read_commands,
    target_from,
)
from hisops.errors import HisopsError
from hisops.executors import ssh as ssh_exec

log = logging.getLogger(__name__)

COLUMNS = ("#", "host", "database", "action", "downtime", "changes")
DEFAULTS: dict[str, Any] = {"strategy": "in_place", "new_home": "", "base_image": "",
                            "response_file": "", "opatch_zip": "", "max_apply_lag_s": 30,
                            "broker": True, "standby_first": True, "timeout_s": 120}
PATCH_ARGS = ("patch_id", "release_update", "patch_dir", "opatch_minimum")


def validate(args: Mapping[str, Any]) -> None:
    try:
        target_from(args)
    except HisopsError as exc:
        raise BadArgument(getattr(exc, "field", None) or "patch_id", str(exc)) from None
    if str(args.get("strategy", "in_place")) not in ("in_place", "out_of_place"):
        raise BadArgument("strategy", "in_place or out_of_place")


def _as_oracle(command: str, hostvars: Mapping[str, Any]) -> str:
    """Run as the Oracle software owner: directly when SSH logs in as that user, else through
    sudo (non-interactive: a password prompt would hang a read-only probe)."""
    owner = str(hostvars.get("oracle_os_user") or "oracle")
    login = str(hostvars.get("ansible_user") or hostvars.get("ansible_ssh_user") or "")
    script = f"bash -c {shlex.quote(command)}"
    return script if login == owner else f"sudo -n -u {shlex.quote(owner)} -- {script}"


def _read(ctx: CheckContext, host: str, params: Mapping[str, Any]) -> dict[str, str] | str:
    """The readings of one home, or why they could not be taken."""
    try:
        hv = ctx.inventory.host_vars(host)
        home = home_vars(host, hv, ctx.inventory.groups_by_host.get(host, []))
        conn = ssh_exec.connection_for(host, hv)
    except Exception as exc:  # a bad inventory entry is this host's problem only
        return str(exc)
    readings = {}
    for name, command in read_commands(home, target_from(params)).items():
        outcome = ssh_exec.run_command([conn], _as_oracle(command, hv),
                                       timeout_s=float(params["timeout_s"]))[host]
        if not outcome.status.is_success:
            why = outcome.detail or outcome.stderr.strip() or outcome.status.value
            return f"cannot read {name}: {why}"
        readings[name] = outcome.stdout
    return readings


def oracle_patch_preflight(ctx: CheckContext) -> CheckResult:
    params = {**DEFAULTS, **ctx.args}
    with ThreadPoolExecutor(max_workers=max(1, min(20, len(ctx.hosts)))) as pool:
        answers = dict(zip(ctx.hosts, pool.map(lambda h: _read(ctx, h, params), ctx.hosts),
                           strict=True))
    problems = [f"{h}: cannot probe: {a}" for h, a in answers.items() if isinstance(a, str)]
    if problems:
        return _unread(ctx, params, problems)
    try:
        homes = []
        for host, readings in answers.items():
            assert isinstance(readings, dict)  # noqa: S101 - strings returned above
            hv = ctx.inventory.host_vars(host)
            homes.append(home_from_readings(
                home_vars(host, hv, ctx.inventory.groups_by_host.get(host, [])), readings))
        plan = plan_patch(estate_from(params, homes))
    except PlanRefused as exc:
        return CheckResult(problems=tuple(f.one_line() for f in exc.findings))
    except HisopsError as exc:
        return CheckResult(problems=(str(exc),))
    rows = tuple({"#": s.number, "host": s.host, "database": s.database or "-",
                  "action": s.action.value, "downtime": s.downtime.value,
                  "changes": "yes" if s.changes_host else "no"} for s in plan.steps)
    notes = tuple(plan.skipped) or ()
    return CheckResult(columns=COLUMNS, rows=rows, notes=notes, data={"plan": plan.to_dict()})


def _unread(ctx: CheckContext, params: Mapping[str, Any], problems: list[str]) -> CheckResult:
    """A refusal that still shows the order the plan will take, from the inventory."""
    try:
        homes = [home_vars(h, ctx.inventory.host_vars(h), ctx.inventory.groups_by_host.get(h, []))
                 for h in ctx.hosts]
    except HisopsError as exc:
        return CheckResult(problems=(*problems, str(exc)))
    rows = outline(homes, out_of_place=str(params.get("strategy")) == "out_of_place")
    return CheckResult(problems=tuple(problems), columns=OUTLINE_COLUMNS, rows=tuple(rows),
                       notes=("the order below is from the inventory; the commands come from "
                              "the homes' readings once they answer",))


SPEC = CheckSpec(
    name="oracle_patch_preflight",
    func=oracle_patch_preflight,
    required=frozenset(PATCH_ARGS),
    optional=frozenset(DEFAULTS),
    summary="the standby-first Oracle patch plan from every home's OPatch, inventory, "
            "conflict check and standby lag",
    validate=validate,
)
