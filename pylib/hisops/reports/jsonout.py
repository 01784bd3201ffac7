"""Machine-readable shapes for ``--json``: stable keys, no secrets (the journal has none)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from hisops.journal.state import RunState


def run_state_dict(state: RunState, *, timeline: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "run_id": state.run_id, "runbook": state.runbook, "status": state.status,
        "detail": state.detail, "operator": state.operator, "started_at": state.started_at,
        "ended_at": state.ended_at, "plan_hash": state.plan_hash, "params": state.params,
        "secret_names": state.secret_names, "inventory": state.inventory, "limit": state.limit,
        "check": state.check, "waiting_step": state.waiting_step or None,
        "guards": state.guards, "approvals": state.approvals, "resolutions": state.resolutions,
        "steps": [
            {"id": s.id, "index": s.index, "status": s.status, "attempts": s.attempts,
             "started_at": s.started_at, "ended_at": s.ended_at, "detail": s.detail,
             "artifact_digest": s.artifact_digest, "rollback": s.rollback,
             "hosts": s.hosts}
            for s in sorted(state.steps.values(), key=lambda s: s.index)
        ],
    }
    if timeline:
        out["timeline"] = [asdict(r) for r in state.timeline]
    return out
