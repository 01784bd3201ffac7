"""The engine: run a plan step by step, journal everything, roll back, wait, resume.

Library code: it raises hisops errors and returns a :class:`RunOutcome`; it never prints and
never exits. Every record goes through the secret redactor before it reaches the journal.
"""

from __future__ import annotations

import getpass
import logging
import os
import secrets as _random
import signal
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from types import FrameType
from typing import Any

from hisops.errors import ApprovalRequired, ExitStatus, Interrupted, LockBusy, ResumeRefused
from hisops.executors.results import HostOutcome, HostStatus
from hisops.faults import failpoint
from hisops.inventory import Inventory, template_context
from hisops.journal import Journal, is_holder_alive
from hisops.journal import records as rk
from hisops.journal.records import LockHolder
from hisops.journal.state import NO_HOSTS, RunState, StepState, apply_record, fold
from hisops.runbook.actions import (
    FAILED_STATES,
    ActionContext,
    ActionResult,
    retry_failed,
    run_action,
)
from hisops.runbook.expressions import ExpressionError, truth
from hisops.runbook.guards import check_guards, check_waivers
from hisops.runbook.planner import Plan, PlannedAction, PlannedStep
from hisops.runbook.reporter import NullReporter, Reporter
from hisops.secrets import SecretStore

log = logging.getLogger(__name__)

STATUS_EXIT = {
    "succeeded": ExitStatus.SUCCESS,
    "failed": ExitStatus.FAILED,
    "waiting": ExitStatus.REFUSED,
    "refused": ExitStatus.REFUSED,
    "interrupted": ExitStatus.INTERRUPTED,
}


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    status: str  # succeeded failed waiting refused interrupted
    detail: str
    state: RunState

    @property
    def exit_status(self) -> ExitStatus:
        return STATUS_EXIT.get(self.status, ExitStatus.FAILED)


def new_run_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{_random.token_hex(3)}"


def current_operator(explicit: str | None = None) -> str:
    return explicit or os.environ.get("HISOPS_OPERATOR") or getpass.getuser()


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (a scheduler stopping us) is handled like Ctrl-C: journal, then exit 130."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class Engine:
    def __init__(self, journal: Journal, *, reporter: Reporter | None = None,
                 operator: str | None = None) -> None:
        self.journal = journal
        self.reporter: Reporter = reporter or NullReporter()
        self.operator = current_operator(operator)

    # --- entry points ------------------------------------------------------------------------

    def start(self, plan: Plan, inventory: Inventory, secrets: SecretStore, *,
              check: bool = False, run_id: str | None = None,
              waivers: Mapping[str, str] | None = None) -> RunOutcome:
        """Journal the run, lock its hosts, check its guards, run its steps.

        ``waivers`` ({waiver name: reason}) let guards declaring those names fail without
        refusing the run; the failure, the name and the reason are journaled."""
        waivers = dict(waivers or {})
        check_waivers(plan, waivers)
        run = _Run(self, plan, inventory, secrets, RunState(run_id=run_id or new_run_id()),
                   check=check)
        run.append(rk.RUN_STARTED, {
            "runbook": plan.name, "runbook_path": str(plan.runbook.path.resolve()),
            "runbook_digest": plan.runbook.digest, "plan_hash": plan.hash,
            "operator": self.operator, "params": plan.params,
            "secret_names": list(plan.secret_names),
            "inventory": str(plan.inventory_path.resolve()), "limit": plan.limit,
            "check": check, "pid": os.getpid(), "machine": socket.gethostname(),
            "plan": plan.as_dict(), "waivers": waivers,
        })
        with _sigterm_as_interrupt():
            if not check:
                try:
                    self.journal.acquire_locks(run.holder(), plan.lock_hosts)
                except LockBusy as busy:
                    run.finish("refused", str(busy))
                    raise
            try:
                check_guards(plan, inventory, run.append, journal=self.journal,
                             waivers=waivers, note=self.reporter.note)
            except Exception as exc:
                run.finish("refused", str(exc))
                self.journal.release_locks(run.state.run_id)
                raise
            return run.execute()

    def resume(self, run_id: str, plan: Plan, inventory: Inventory, secrets: SecretStore, *,
               retry_step: str | None = None, skip_step: str | None = None,
               reason: str | None = None, accept_plan_change: bool = False) -> RunOutcome:
        state = fold(run_id, self.journal.records(run_id))
        _check_resumable(state, plan, accept_plan_change)
        run = _Run(self, plan, inventory, secrets, state, check=state.check)
        with _sigterm_as_interrupt():
            if not state.check:
                self.journal.acquire_locks(run.holder(), plan.lock_hosts)
                self.journal.update_lock_owner(run_id, os.getpid(), socket.gethostname())
            resumed: dict[str, Any] = {"operator": self.operator, "pid": os.getpid(),
                                       "machine": socket.gethostname(), "plan_hash": plan.hash}
            if plan.hash != state.plan_hash:
                resumed["plan"] = plan.as_dict()
                resumed["previous_plan_hash"] = state.plan_hash
            run.append(rk.RUN_RESUMED, resumed)
            run.stop_orphans()
            run.resolve_unfinished(retry_step, skip_step, reason)
            return run.execute()


def _check_resumable(state: RunState, plan: Plan, accept_plan_change: bool) -> None:
    if not state.runbook:
        raise ResumeRefused(f"no run {state.run_id} in the journal")
    if state.status == "succeeded":
        raise ResumeRefused(f"run {state.run_id} already succeeded; nothing to resume")
    if state.status == "refused":
        raise ResumeRefused(f"run {state.run_id} was refused before any step; start a new run")
    if state.status == "running":
        alive = is_holder_alive(LockHolder(state.run_id, state.operator, state.started_at,
                                           state.pid, state.machine))
        if alive is not False:
            where = "on this machine" if alive else f"on {state.machine} (cannot check)"
            raise ResumeRefused(f"run {state.run_id} is still running {where}, pid {state.pid}")
    if plan.hash != state.plan_hash and not accept_plan_change:
        raise ResumeRefused(
            f"the plan changed since run {state.run_id} started (runbook, inventory or "
            f"parameters differ: {state.plan_hash[:12]} -> {plan.hash[:12]}); review it with "
            "hisops plan and resume with --accept-plan-change (approvals given for the old "
            "plan become void)")


class _Run:
    """One process's work on one run: the loop, the journal writes, the rollback."""

    def __init__(self, engine: Engine, plan: Plan, inventory: Inventory, secrets: SecretStore,
                 state: RunState, *, check: bool) -> None:
        self.engine, self.plan, self.inventory = engine, plan, inventory
        self.secrets, self.state, self.check = secrets, state, check
        self.reporter = engine.reporter
        self.ctx = ActionContext(run_id=state.run_id, inventory=inventory, secrets=secrets,
                                 params=plan.params, check_mode=check, limit=plan.limit)

    def holder(self) -> LockHolder:
        return LockHolder(run_id=self.state.run_id, operator=self.engine.operator,
                          started_at=self.state.started_at or _now(), pid=os.getpid(),
                          machine=socket.gethostname())

    def append(self, kind: str, payload: dict[str, Any]) -> None:
        record = self.engine.journal.append(self.state.run_id, kind,
                                            self.secrets.redact_obj(payload))
        apply_record(self.state, record)

    def finish(self, status: str, detail: str = "") -> RunOutcome:
        self.append(rk.RUN_FINISHED, {"status": status, "detail": detail,
                                      "rc": int(STATUS_EXIT.get(status, ExitStatus.FAILED))})
        if status == "succeeded" and not self.check:
            self.engine.journal.release_locks(self.state.run_id)
        return RunOutcome(self.state.run_id, status, detail, self.state)

    # --- resume decisions --------------------------------------------------------------------

    def stop_orphans(self) -> None:
        """Stop an ansible-playbook that still runs an interrupted step of this run.

        A SIGKILLed hisops cannot take its ansible-playbook with it (it runs in its own
        session), so without this a resumed step could run twice at once."""
        from hisops.executors.stopping import stop_process_tree

        here = socket.gethostname()
        for step in self.state.steps.values():
            if step.status not in ("running", "interrupted"):
                continue
            for proc in step.processes:
                pid = proc.get("pid")
                if proc.get("machine") != here or not isinstance(pid, int):
                    continue
                if not _is_ansible_playbook(pid):
                    continue  # gone, or the pid now belongs to something else
                self.reporter.note(f"stopping ansible-playbook {pid} left running by {step.id}")
                stop_process_tree(pid)
                self.append(rk.ORPHAN_STOPPED, {"step": step.id, "pid": pid})

    def resolve_unfinished(self, retry_step: str | None, skip_step: str | None,
                           reason: str | None) -> None:
        for name, flag in (("--retry-step", retry_step), ("--skip-step", skip_step)):
            if flag is not None and flag not in {s.id for s in self.plan.steps}:
                raise ResumeRefused(f"{name} {flag}: no such step in {self.plan.name}")
        for step in self.plan.steps:
            st = self.state.steps.get(step.id)
            if st is None or st.finished_ok:
                continue
            interrupted = st.status in ("running", "interrupted")
            if skip_step == step.id:
                if not reason:
                    raise ResumeRefused("--skip-step needs --reason \"...\" (it is journaled)")
                self.append(rk.STEP_RESOLUTION, {"step": step.id, "action": "skip",
                                                 "reason": reason,
                                                 "operator": self.engine.operator})
            elif retry_step == step.id:
                self.append(rk.STEP_RESOLUTION, {"step": step.id, "action": "retry",
                                                 "reason": reason or "",
                                                 "operator": self.engine.operator})
            elif interrupted and not step.idempotent:
                raise ResumeRefused(
                    f"step '{step.id}' was interrupted mid-way and is not idempotent: it may "
                    f"have partly run. Check the hosts, then resume with --retry-step {step.id}"
                    f" or --skip-step {step.id} --reason \"...\"")
            return  # only the first unfinished step needs a decision

    # --- the loop ----------------------------------------------------------------------------

    def execute(self) -> RunOutcome:
        resumed = any(r.kind == rk.RUN_RESUMED for r in self.state.timeline)
        self.reporter.run_started(self.state.run_id, len(self.plan.steps), resumed)
        try:
            for step in self.plan.steps:
                st = self.state.steps.get(step.id)
                if st is not None and st.finished_ok:
                    continue
                failpoint(f"before-step:{step.id}")
                outcome = self._step(step)
                failpoint(f"after-step:{step.id}")
                if outcome is not None:
                    return outcome
        except KeyboardInterrupt:
            running = [s.id for s in self.state.steps.values() if s.status == "running"]
            for step_id in running:
                self.append(rk.STEP_FINISHED, {"step": step_id, "status": "interrupted",
                                               "detail": "interrupted by signal"})
            self.finish("interrupted", f"interrupted during {', '.join(running) or 'set-up'}")
            raise Interrupted(f"run {self.state.run_id} interrupted; resume with: "
                              f"hisops resume {self.state.run_id}") from None
        return self.finish("succeeded")

    def _facts(self) -> dict[str, Any]:
        return {"params": self.plan.params, "steps": self.state.facts(),
                "run": {"id": self.state.run_id, "operator": self.state.operator,
                        "check": self.check},
                "inventory": template_context(self.inventory)}

    def _step(self, step: PlannedStep) -> RunOutcome | None:
        """Run one step; return an outcome when the run stops here."""
        previous = self.state.steps.get(step.id)
        only_hosts = _hosts_to_rerun(previous, step)
        attempt = (previous.attempts if previous else 0) + 1
        self.reporter.step_started(step.index, step.id, step.label, len(step.hosts))
        if step.action is not None and not step.action.hosts:
            # matched no host here (another engine's step, an empty group): nothing to decide
            self._record_skip(step, attempt, NO_HOSTS)
            return None
        if step.when:
            try:
                wanted = truth(step.when, self._facts())
            except ExpressionError as exc:
                return self._fail_step(step, attempt, f"when: {exc}")
            if not wanted:
                self._record_skip(step, attempt, f"when is false: {step.when}")
                return None
        self.append(rk.STEP_STARTED, {"step": step.id, "index": step.index, "attempt": attempt,
                                      "kind": step.kind, "hosts": list(only_hosts or step.hosts)})
        if step.kind == "assert":
            return self._assert(step)
        if step.kind == "approval":
            return self._approval(step)
        assert step.action is not None  # noqa: S101 - planner guarantees it for these kinds
        action = step.action
        if only_hosts is not None:
            action = _restrict(action, only_hosts)
        self.ctx.step_id = step.id
        self.ctx.on_host = lambda o: self.reporter.host_done(step.id, o)
        self.ctx.on_note = lambda host, text: self.reporter.note(f"{host}: {text}")
        self.ctx.on_process = lambda pid: self.append(
            rk.STEP_PROCESS, {"step": step.id, "pid": pid, "machine": socket.gethostname()})

        def rerun(hosts: tuple[str, ...]) -> ActionResult:
            return run_action(_restrict(action, hosts), self.ctx,
                              ident=_ident(f"{step.id}-{attempt}-retry"),
                              timeout_s=step.timeout_s, expect=step.expect)

        try:
            first = run_action(action, self.ctx, ident=_ident(f"{step.id}-{attempt}"),
                               timeout_s=step.timeout_s, expect=step.expect)
            result, _ = retry_failed(first, rerun, step.retries, step.retry_delay_s)
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # an executor that could not run at all
            log.exception("step %s could not run", step.id)
            return self._fail_step(step, attempt, f"could not run: {exc}")
        merged_hosts = dict(result.hosts)
        if previous is not None and only_hosts is not None:
            for host, data in previous.hosts.items():
                if host not in merged_hosts:
                    self.append(rk.STEP_HOST, {"step": step.id, "host": host, **data})
        for outcome in merged_hosts.values():
            self.append(rk.STEP_HOST, _host_payload(step.id, outcome))
        finished: dict[str, Any] = {"step": step.id, "status": result.status,
                                    "detail": result.detail,
                                    "artifact_digest": ",".join(result.artifact_digests)}
        if result.data:
            finished["data"] = result.data
        for kind, subject, evidence in evidence_items(result.data):
            self.append(rk.EVIDENCE, {"step": step.id, "type": kind, "subject": subject,
                                      "evidence": evidence})
        self.append(rk.STEP_FINISHED, finished)
        self.reporter.step_finished(step.id, result.status, result.detail)
        if result.status == "failed":
            ended = self._rollback_and_fail(step, result.detail)
            if self._nothing_changed(step, merged_hosts):
                # the hosts are as they were before the run: keeping them locked for a resume
                # would only stop the operator's corrected next attempt
                self.engine.journal.release_locks(self.state.run_id)
                ended = replace(ended, detail=ended.detail + " (nothing was changed; the "
                                "host locks are released)")
            return ended
        return None

    def _nothing_changed(self, failed: PlannedStep, hosts: Mapping[str, HostOutcome]) -> bool:
        """Whether the run changed nothing anywhere: the failed step's failures each left
        their host as it was (and it changed no other host), and no earlier step changed any
        host."""
        if self.check or not hosts:
            return False
        for outcome in hosts.values():
            if (outcome.status in FAILED_STATES and not outcome.unchanged) \
                    or outcome.status == HostStatus.CHANGED:
                return False
        return not any(st.status == "changed" or st.rollback is not None
                       for sid, st in self.state.steps.items() if sid != failed.id)

    def _record_skip(self, step: PlannedStep, attempt: int, detail: str) -> None:
        self.append(rk.STEP_STARTED, {"step": step.id, "index": step.index, "attempt": attempt,
                                      "kind": step.kind, "hosts": []})
        self.append(rk.STEP_FINISHED, {"step": step.id, "status": "skipped", "detail": detail})
        self.reporter.step_finished(step.id, "skipped", detail)

    def _fail_step(self, step: PlannedStep, attempt: int, detail: str) -> RunOutcome:
        if self.state.steps.get(step.id) is None or self.state.steps[step.id].status != "running":
            self.append(rk.STEP_STARTED, {"step": step.id, "index": step.index,
                                          "attempt": attempt, "kind": step.kind, "hosts": []})
        self.append(rk.STEP_FINISHED, {"step": step.id, "status": "failed", "detail": detail})
        self.reporter.step_finished(step.id, "failed", detail)
        return self._rollback_and_fail(step, detail)

    def _assert(self, step: PlannedStep) -> RunOutcome | None:
        facts = self._facts()
        for condition in step.that:
            try:
                ok = truth(condition, facts)
            except ExpressionError as exc:
                ok, condition = False, f"{condition} ({exc})"
            if not ok:
                detail = step.message or f"assertion failed: {condition}"
                if step.message:
                    detail += f" [{condition}]"
                self.append(rk.STEP_FINISHED, {"step": step.id, "status": "failed",
                                               "detail": detail})
                self.reporter.step_finished(step.id, "failed", detail)
                return self._rollback_and_fail(step, detail)
        self.append(rk.STEP_FINISHED, {"step": step.id, "status": "ok",
                                       "detail": f"{len(step.that)} condition(s) hold"})
        self.reporter.step_finished(step.id, "ok", "")
        return None

    def _approval(self, step: PlannedStep) -> RunOutcome | None:
        if self.check:
            detail = "check mode: approval would be requested"
            self.append(rk.STEP_FINISHED, {"step": step.id, "status": "skipped",
                                           "detail": detail})
            self.reporter.step_finished(step.id, "skipped", detail)
            return None
        valid = [a for a in self.state.approvals_for(step.id, self.plan.hash)
                 if approval_problem(step, self.state.operator, a["approver"]) is None]
        if valid:
            who = ", ".join(a["approver"] for a in valid)
            self.append(rk.STEP_FINISHED, {"step": step.id, "status": "ok",
                                           "detail": f"approved by {who}"})
            self.reporter.step_finished(step.id, "ok", f"approved by {who}")
            return None
        self.append(rk.RUN_WAITING, {"step": step.id})
        who = "a second person (four-eyes)" if step.four_eyes else "an approver"
        if step.approvers:
            who += f" among {', '.join(step.approvers)}"
        detail = (f"waiting at '{step.id}' for {who}: hisops approve {self.state.run_id} "
                  f"--as NAME, then hisops resume {self.state.run_id}")
        self.reporter.step_finished(step.id, "waiting", detail)
        return RunOutcome(self.state.run_id, "waiting", detail, self.state)

    # --- rollback ----------------------------------------------------------------------------

    def _rollback_and_fail(self, failed: PlannedStep, detail: str) -> RunOutcome:
        failpoint(f"before-rollback:{failed.id}")
        for step in reversed(self.plan.steps[: failed.index + 1]):
            st = self.state.steps.get(step.id)
            if step.rollback is None or st is None or st.status not in ("ok", "changed",
                                                                         "failed"):
                continue  # skipped steps changed nothing in this run: nothing to undo
            self.reporter.note(f"rolling back {step.id}")
            self.append(rk.ROLLBACK_STARTED, {"step": step.id, "for_failure_of": failed.id})
            try:
                result = run_action(step.rollback, self.ctx, ident=_ident(f"{step.id}-rollback"),
                                    timeout_s=step.timeout_s)
                status = "ok" if result.status != "failed" else "failed"
                rb_detail = result.detail
            except Exception as exc:
                log.exception("rollback of %s could not run", step.id)
                status, rb_detail = "failed", f"could not run: {exc}"
            self.append(rk.ROLLBACK_FINISHED, {"step": step.id, "status": status,
                                               "detail": rb_detail})
            self.reporter.step_finished(f"{step.id} (rollback)", status, rb_detail)
        return self.finish("failed", f"step '{failed.id}' failed: {detail}")


def approval_problem(step: PlannedStep | dict[str, Any], operator: str, approver: str
                     ) -> str | None:
    """Why ``approver`` cannot approve ``step`` of a run started by ``operator``; None if ok."""
    four_eyes = step.four_eyes if isinstance(step, PlannedStep) else step.get("four_eyes")
    approvers = step.approvers if isinstance(step, PlannedStep) else step.get("approvers", [])
    if four_eyes and approver == operator:
        return (f"four-eyes: {approver} started this run and cannot approve it; "
                "a second person must")
    if approvers and approver not in approvers:
        return f"{approver} is not among the approvers ({', '.join(approvers)})"
    return None


def request_approval(journal: Journal, run_id: str, approver: str, reason: str = ""
                     ) -> RunState:
    """Record an approval for the step a waiting run stopped at."""
    state = fold(run_id, journal.records(run_id))
    if not state.runbook:
        raise ResumeRefused(f"no run {run_id} in the journal")
    if state.status != "waiting":
        raise ResumeRefused(f"run {run_id} is {state.status}, not waiting for an approval")
    step = next((s for s in state.plan.get("steps", []) if s["id"] == state.waiting_step), None)
    if step is None:
        raise ResumeRefused(f"run {run_id} waits at an unknown step {state.waiting_step}")
    problem = approval_problem(step, state.operator, approver)
    if problem:
        raise ApprovalRequired(run_id, state.waiting_step, problem)
    record = journal.append(run_id, rk.APPROVAL_GRANTED, {
        "step": state.waiting_step, "approver": approver, "reason": reason,
        "plan_hash": state.plan_hash})
    apply_record(state, record)
    return state


def _hosts_to_rerun(previous: StepState | None, step: PlannedStep) -> tuple[str, ...] | None:
    """After a failure, re-run a step only on the hosts where it did not succeed."""
    if previous is None or previous.status != "failed" or not previous.hosts:
        return None
    good = {h for h, v in previous.hosts.items() if v.get("status") in ("ok", "changed",
                                                                         "skipped")}
    return tuple(h for h in step.hosts if h not in good)


def _restrict(action: PlannedAction, hosts: tuple[str, ...]) -> PlannedAction:
    keep = set(hosts)
    pattern = ",".join(hosts) if action.kind != "ssh" else action.pattern
    return replace(action, hosts=tuple(h for h in action.hosts if h in keep), pattern=pattern,
                   serial=tuple(tuple(h for h in b if h in keep) for b in action.serial))


def _host_payload(step_id: str, outcome: HostOutcome) -> dict[str, Any]:
    return {"step": step_id, "host": outcome.host, "status": outcome.status.value,
            "rc": outcome.rc, "changed": outcome.changed, "stdout": outcome.stdout[-4000:],
            "stderr": outcome.stderr[-2000:], "started_at": outcome.started_at,
            "ended_at": outcome.ended_at, "detail": outcome.detail}


def _is_ansible_playbook(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return b"ansible-playbook" in fh.read()
    except OSError:
        return False


def _ident(base: str) -> str:
    """A fresh ansible-runner ident: retries, rollbacks and resumes never reuse a folder."""
    return f"{base}-{_random.token_hex(3)}"


def _now() -> str:
    return datetime.now(UTC).isoformat()


def evidence_items(data: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(type, subject, evidence) for what a step published under ``hisops_evidence``:
    ``{"hisops_evidence": {"backup": {"his-db-1": {...}}}}`` (keyed by host or database so
    that hosts in one play do not overwrite each other)."""
    published = data.get("hisops_evidence")
    if not isinstance(published, dict):
        return
    for kind, items in sorted(published.items()):
        if not isinstance(items, dict):
            continue
        for subject, evidence in sorted(items.items()):
            if isinstance(evidence, dict):
                yield str(kind), str(subject), evidence
