"""Filters that hand the Oracle patch role's readings to hisops' patch planner.

Which command runs on which host, in which order, is decided in one place,
``hisops.engines.oracle.patch`` (unit-tested, and the same code the ``oracle_patch_preflight``
guard shows before the run); this role only reads the homes, asks for its host's steps and runs
them. Each step's output is judged by the parser its plan note names.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from ansible.errors import AnsibleFilterError

from hisops.engines.base import Finding, ToolOutput
from hisops.engines.oracle import opatch
from hisops.engines.oracle.patch import Action, plan_host_rollback, plan_patch
from hisops.engines.oracle.patch_facts import (
    dataguard_stats,
    estate_from,
    home_from_readings,
    home_vars,
    read_commands,
    registry_rows,
    target_from,
)
from hisops.errors import HisopsError

READINGS = "__oracle_patch_readings"
_CHECKS = {Action.CHECK_OPATCH, Action.PREREQ_CONFLICT, Action.PREREQ_SPACE,
           Action.CHECK_APPLY_LAG}
_SQL_HALF = {Action.DATAPATCH, Action.VERIFY_SQLPATCH, Action.WAIT_APPLY_LAG}


def _fail(what: str, exc: Exception) -> AnsibleFilterError:
    return AnsibleFilterError(f"{what}: {exc}")


def commands(hostvars: Mapping[str, Any], host: str, params: Mapping[str, Any]) -> dict[str, str]:
    """The read-only questions for ``host``'s home (name -> command)."""
    try:
        hv = hostvars[host]
        return read_commands(home_vars(host, hv, hv.get("group_names", [])), target_from(params))
    except HisopsError as exc:
        raise _fail("cannot read the home", exc) from None


def _estate(hostvars: Mapping[str, Any], hosts: list[str], params: Mapping[str, Any]) -> Any:
    homes = []
    for host in hosts:
        hv = hostvars[host]
        readings = hv.get(READINGS)
        if not isinstance(readings, Mapping):
            raise AnsibleFilterError(f"{host}: the home was not read (no {READINGS})")
        homes.append(home_from_readings(home_vars(host, hv, hv.get("group_names", [])),
                                        readings))
    return estate_from(params, homes)


def steps(hostvars: Mapping[str, Any], hosts: list[str], params: Mapping[str, Any],
          phase: str, host: str) -> list[dict[str, Any]]:
    """``host``'s steps of the plan for ``phase``: ``prereq`` (checks only), ``binaries``
    (everything for the play's hosts but the SQL half), ``datapatch`` (datapatch and its checks:
    refused while a home of the play is not yet patched). A plan the rules refuse fails here,
    with every broken rule named, before any command runs."""
    try:
        estate = _estate(hostvars, list(hosts), params)
        plan = plan_patch(estate, hosts=list(hosts), datapatch=phase == "datapatch")
    except HisopsError as exc:
        raise _fail(f"the {phase} plan is refused", exc) from None
    chosen = list(plan.steps)
    if phase == "prereq":
        chosen = [s for s in chosen if s.action in _CHECKS]
    elif phase == "datapatch":
        behind = sorted({s.host for s in chosen if s.changes_host
                         and s.action not in _SQL_HALF})
        if behind:
            raise AnsibleFilterError("datapatch refused: the binaries of "
                                     f"{', '.join(behind)} are not patched yet")
        chosen = [s for s in chosen if s.action in _SQL_HALF]
    elif phase != "binaries":
        raise AnsibleFilterError(f"unknown phase {phase!r}")
    return [s.to_dict() for s in chosen if s.host == host]


def rollback_steps(hostvars: Mapping[str, Any], host: str, params: Mapping[str, Any],
                   lsinventory: str) -> list[dict[str, Any]]:
    """The way back for ``host`` after a failed binaries step; ``lsinventory`` is the home
    read again after the failure (is the patch in it?)."""
    try:
        estate = _estate(hostvars, [host], params)
        installed = opatch.parse_lsinventory(lsinventory).patch(estate.target.patch_id) is not None
        return [s.to_dict() for s in plan_host_rollback(estate, host,
                                                        patch_installed=installed).steps]
    except HisopsError as exc:
        raise _fail("cannot plan the rollback", exc) from None


def judge(step: Mapping[str, Any], result: Mapping[str, Any],
          params: Mapping[str, Any]) -> list[str]:
    """The problems with one step's result (empty: the step did what it had to)."""
    action = Action(str(step["action"]))
    stdout, stderr = str(result.get("stdout", "")), str(result.get("stderr", ""))
    rc = int(result.get("rc", 1))
    where = f"{step['host']} step {step['number']} {action.value}"
    if action is Action.DATAPATCH:  # datapatch's own judgement includes its exit status
        found = opatch.parse_datapatch(ToolOutput(stdout, stderr, rc)).findings()
        return [f"{where}: {f.one_line()}" for f in found]
    if rc != 0:
        # a command that never ran (become failed, no such file) has only Ansible's message
        tail = (stderr.strip() or stdout.strip() or str(result.get("msg", ""))).splitlines()[-3:]
        return [f"{where}: exit status {rc}: {' / '.join(tail) or 'no output'}"]
    try:
        found = _findings(action, stdout, params)
    except HisopsError as exc:
        return [f"{where}: {exc}"]
    return [f"{where}: {f.one_line()}" for f in found]


def _findings(action: Action, stdout: str, params: Mapping[str, Any]) -> list[Finding]:
    target = target_from(params)
    if action is Action.CHECK_OPATCH:
        return opatch.opatch_version_findings(opatch.parse_opatch_version(stdout),
                                              target.opatch_minimum)
    if action in (Action.PREREQ_CONFLICT, Action.PREREQ_SPACE):
        check = ("checkConflictAgainstOHWithDetail" if action is Action.PREREQ_CONFLICT
                 else "checkSystemSpace")
        prereq = opatch.parse_prereq(stdout, check)
        return [Finding(opatch.CHECK_OPATCH, check, prereq.message or "the check failed")
                ] if prereq.blocking else []
    if action in (Action.CHECK_APPLY_LAG, Action.WAIT_APPLY_LAG):
        limit = timedelta(seconds=float(params.get("max_apply_lag_s", 30)))
        return opatch.apply_lag_findings(dataguard_stats(stdout), limit=limit)
    if action is Action.VERIFY_SQLPATCH:
        return opatch.sqlpatch_findings(registry_rows(stdout), patch_id=target.patch_id,
                                        action=str(params.get("sql_action", "APPLY")),
                                        version=target.release_update)
    if action is Action.VERIFY_HOME:
        present = opatch.parse_lsinventory(stdout).patch(target.patch_id) is not None
        wanted = str(params.get("operation", "apply")) == "apply"
        if present != wanted:
            return [Finding(opatch.CHECK_OPATCH, str(target.patch_id), "the home "
                            + ("lacks" if wanted else "still has") + f" patch {target.patch_id}")]
    return []


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"hisops_oracle_patch_commands": commands,
                "hisops_oracle_patch_steps": steps,
                "hisops_oracle_patch_rollback_steps": rollback_steps,
                "hisops_oracle_patch_judge": judge}
