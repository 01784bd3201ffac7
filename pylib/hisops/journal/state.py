"""Fold journal records into the state of a run: what people see and what resume relies on.

State is derived, never stored: the records are the single source of truth, so a verified
chain also vouches for every status shown by ``hisops runs`` and ``hisops show``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from hisops.journal import records as rk
from hisops.journal.records import Record

FINISHED_OK = frozenset({"ok", "changed", "skipped"})


# the detail of a step whose hosts pattern matched none (another engine's step, an empty group)
NO_HOSTS = "no hosts match"


@dataclass
class StepState:
    id: str
    index: int = -1
    status: str = "pending"  # pending running ok changed skipped failed interrupted rolled_back
    attempts: int = 0
    started_at: str = ""
    ended_at: str = ""
    detail: str = ""
    hosts: dict[str, dict[str, Any]] = field(default_factory=dict)
    artifact_digest: str = ""
    rollback: dict[str, Any] | None = None
    processes: list[dict[str, Any]] = field(default_factory=list)  # pid, machine
    data: dict[str, Any] = field(default_factory=dict)  # what the step published (set_stats)

    @property
    def finished_ok(self) -> bool:
        return self.status in FINISHED_OK


@dataclass
class RunState:
    run_id: str
    runbook: str = ""
    runbook_path: str = ""
    runbook_digest: str = ""
    plan_hash: str = ""
    operator: str = ""
    started_at: str = ""
    ended_at: str = ""
    status: str = "unknown"  # running waiting succeeded failed interrupted refused
    detail: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    secret_names: list[str] = field(default_factory=list)
    inventory: str = ""
    limit: str | None = None
    check: bool = False
    pid: int = 0
    machine: str = ""
    waiting_step: str = ""
    plan: dict[str, Any] = field(default_factory=dict)
    steps: dict[str, StepState] = field(default_factory=dict)
    guards: list[dict[str, Any]] = field(default_factory=list)
    approvals: list[dict[str, Any]] = field(default_factory=list)
    resolutions: list[dict[str, Any]] = field(default_factory=list)
    timeline: list[Record] = field(default_factory=list)

    def step(self, step_id: str) -> StepState:
        if step_id not in self.steps:
            self.steps[step_id] = StepState(id=step_id)
        return self.steps[step_id]

    def approvals_for(self, step_id: str, plan_hash: str) -> list[dict[str, Any]]:
        return [a for a in self.approvals
                if a.get("step") == step_id and a.get("plan_hash") == plan_hash]

    def facts(self) -> dict[str, Any]:
        """What ``when:`` and ``assert`` see as ``steps``."""
        out: dict[str, Any] = {}
        for step in self.steps.values():
            hosts = {h: dict(v) for h, v in step.hosts.items()}
            first = next(iter(hosts.values()), {})
            out[step.id] = {
                "status": step.status,
                "hosts": hosts,
                "stdout": first.get("stdout", ""),
                "rc": first.get("rc"),
                "changed": any(v.get("changed") for v in hosts.values()),
                "failed_hosts": [h for h, v in hosts.items()
                                 if v.get("status") in ("failed", "unreachable", "timeout")],
                "data": step.data,
            }
        return out


def fold(run_id: str, records: Iterable[Record]) -> RunState:
    state = RunState(run_id=run_id)
    for rec in records:
        if rec.run_id != run_id:
            continue
        state.timeline.append(rec)
        apply_record(state, rec)
    return state


def apply_record(state: RunState, rec: Record) -> None:  # noqa: C901 - a branch per kind
    p = rec.payload
    kind = rec.kind
    if kind == rk.RUN_STARTED:
        state.runbook = p.get("runbook", "")
        state.runbook_path = p.get("runbook_path", "")
        state.runbook_digest = p.get("runbook_digest", "")
        state.plan_hash = p.get("plan_hash", "")
        state.operator = p.get("operator", "")
        state.params = dict(p.get("params", {}))
        state.secret_names = list(p.get("secret_names", []))
        state.inventory = p.get("inventory", "")
        state.limit = p.get("limit")
        state.check = bool(p.get("check", False))
        state.pid = int(p.get("pid", 0))
        state.machine = p.get("machine", "")
        state.plan = dict(p.get("plan", {}))
        state.started_at = rec.ts
        state.status = "running"
    elif kind == rk.RUN_RESUMED:
        # An accepted plan change rebinds the run: approvals for the old hash become void.
        state.plan_hash = p.get("plan_hash", state.plan_hash)
        state.plan = dict(p.get("plan", state.plan))
        state.pid = int(p.get("pid", 0))
        state.machine = p.get("machine", state.machine)
        state.status = "running"
        state.ended_at = ""
        state.waiting_step = ""
    elif kind == rk.RUN_WAITING:
        state.status = "waiting"
        state.waiting_step = p.get("step", "")
    elif kind == rk.RUN_FINISHED:
        state.status = p.get("status", "failed")
        state.detail = p.get("detail", "")
        state.ended_at = rec.ts
    elif kind == rk.GUARD_RESULT:
        state.guards.append(dict(p))
    elif kind == rk.STEP_STARTED:
        step = state.step(p["step"])
        step.index = int(p.get("index", -1))
        step.status = "running"
        step.attempts = int(p.get("attempt", step.attempts + 1))
        step.started_at = rec.ts
        step.ended_at = ""
        step.hosts = {}
        step.detail = ""
        step.processes = []
    elif kind == rk.STEP_HOST:
        step = state.step(p["step"])
        step.hosts[p["host"]] = {k: v for k, v in p.items() if k not in ("step", "host")}
    elif kind == rk.STEP_FINISHED:
        step = state.step(p["step"])
        step.status = p.get("status", "failed")
        step.detail = p.get("detail", "")
        step.artifact_digest = p.get("artifact_digest", "")
        step.data = p.get("data") or {}
        step.ended_at = rec.ts
    elif kind == rk.STEP_PROCESS:
        state.step(p["step"]).processes.append({"pid": p.get("pid"),
                                                "machine": p.get("machine")})
    elif kind == rk.STEP_RESOLUTION:
        state.resolutions.append(dict(p))
        step = state.step(p["step"])
        if p.get("action") == "skip":
            step.status = "skipped"
            step.detail = f"skipped on resume by {p.get('operator')}: {p.get('reason')}"
    elif kind == rk.ROLLBACK_FINISHED:
        step = state.step(p["step"])
        step.rollback = dict(p)
        if p.get("status") == "ok":
            step.status = "rolled_back"
    elif kind == rk.APPROVAL_GRANTED:
        state.approvals.append(dict(p))
