"""Journal record types and the record kinds the engine writes.

The journal is an append-only, hash-chained log of records. The state of runs, steps,
approvals and locks shown to people is folded from these records (see ``state.py``);
the locks table is the only mutable table, and every change to it is journaled as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

GENESIS_HASH = "0" * 64

# Record kinds. Payloads are JSON objects; secrets never reach them (redacted before).
RUN_STARTED = "run.started"  # runbook, runbook_path, runbook_digest, plan_hash, operator,
#                              params, inventory, limit, check, pid, machine, plan
RUN_RESUMED = "run.resumed"  # operator, pid, machine
RUN_WAITING = "run.waiting"  # step
RUN_FINISHED = "run.finished"  # status (succeeded|failed|interrupted|refused), rc, detail
GUARD_RESULT = "guard.result"  # guard, ok, detail
STEP_STARTED = "step.started"  # step, index, attempt, kind, hosts
STEP_HOST = "step.host"  # step, host, status, rc, changed, started_at, ended_at, detail
STEP_FINISHED = "step.finished"  # step, status, detail, artifact_digest, facts
STEP_PROCESS = "step.process"  # step, pid, machine: the ansible-playbook running it
ORPHAN_STOPPED = "step.orphan_stopped"  # step, pid: stopped by resume (outlived a killed run)
STEP_RESOLUTION = "step.resolution"  # step, action (retry|skip), reason, operator
ROLLBACK_STARTED = "rollback.started"  # step (whose rollback), for_failure_of
ROLLBACK_FINISHED = "rollback.finished"  # step, status, detail
APPROVAL_GRANTED = "approval.granted"  # step, approver, reason, plan_hash
LOCK_ACQUIRED = "lock.acquired"  # hosts
LOCK_RELEASED = "lock.released"  # hosts
LOCK_BROKEN = "lock.broken"  # hosts, operator, reason
EVIDENCE = "evidence.recorded"  # step, type (backup|restore_drill), subject, evidence


@dataclass(frozen=True)
class Record:
    seq: int
    ts: str  # ISO-8601 UTC with microseconds
    run_id: str
    kind: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class LockHolder:
    """Who holds a lock: enough to tell a person, and to tell whether the holder died."""

    run_id: str
    operator: str
    started_at: str
    pid: int
    machine: str  # socket.gethostname() of the controller


@dataclass(frozen=True)
class LockInfo:
    host: str
    holder: LockHolder


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    records: int
    problems: list[str]  # e.g. "record 17: hash mismatch (edited)", "records 18-19 missing"
