"""Execute one planned action (playbook, role or ssh command) and judge its outcome per host.

Split as Barman does: ``check`` answers "should I act?" per host (success means already
done, journaled as skipped), then the action runs only where it is needed.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hisops import paths
from hisops.executors import ansible as ansible_exec
from hisops.executors import ssh as ssh_exec
from hisops.executors.inventory import ResolvedHosts
from hisops.executors.results import HostOutcome, HostStatus
from hisops.inventory import Inventory
from hisops.journal.state import NO_HOSTS
from hisops.runbook.expressions import ExpressionError, render
from hisops.runbook.planner import PlannedAction
from hisops.secrets import SecretStore

log = logging.getLogger(__name__)

DEFAULT_SSH_TIMEOUT_S = 600
FAILED_STATES = frozenset({HostStatus.FAILED, HostStatus.UNREACHABLE, HostStatus.TIMEOUT})


@dataclass(frozen=True)
class ActionResult:
    status: str  # ok changed skipped failed
    hosts: dict[str, HostOutcome]
    detail: str = ""
    artifact_digests: tuple[str, ...] = field(default_factory=tuple)
    data: dict[str, Any] = field(default_factory=dict)  # set_stats of the playbook


@dataclass
class ActionContext:
    """What an action needs besides itself; one per run."""

    run_id: str
    inventory: Inventory
    secrets: SecretStore
    params: dict[str, Any]
    check_mode: bool = False
    limit: str | None = None
    on_host: Callable[[HostOutcome], None] | None = None
    on_process: Callable[[int], None] | None = None  # ansible-playbook's pid, once per run
    on_note: Callable[[str, str], None] | None = None  # (host, message) a play announces
    cancelled: Callable[[], bool] = lambda: False
    step_id: str = ""  # the step being run (a task records its work under it)

    @property
    def private_data_dir(self) -> Path:
        path = paths.runs_dir() / self.run_id
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        return path


def summarise(hosts: Mapping[str, HostOutcome]) -> str:
    if not hosts:
        return "skipped"
    statuses = {o.status for o in hosts.values()}
    if statuses & FAILED_STATES:
        return "failed"
    if HostStatus.CHANGED in statuses:
        return "changed"
    if statuses == {HostStatus.SKIPPED}:
        return "skipped"
    return "ok"


def _failure_detail(hosts: Mapping[str, HostOutcome]) -> str:
    bad = [o for o in hosts.values() if o.status in FAILED_STATES]
    if not bad:
        return ""
    first = bad[0]
    reason = first.detail or (first.stderr.strip().splitlines() or [f"rc={first.rc}"])[-1]
    more = f" (+{len(bad) - 1} more hosts)" if len(bad) > 1 else ""
    return f"{first.host}: {first.status.value}: {reason}"[:400] + more


def run_action(action: PlannedAction, ctx: ActionContext, *, ident: str,
               timeout_s: int | None, expect: Mapping[str, Any] | None = None) -> ActionResult:
    if not action.hosts:
        return ActionResult(status="skipped", hosts={}, detail=NO_HOSTS)
    if action.kind == "ssh":
        return _run_ssh(action, ctx, timeout_s=timeout_s, expect=expect or {})
    if action.kind == "task":
        return _run_task(action, ctx)
    return _run_ansible(action, ctx, ident=ident, timeout_s=timeout_s)


def _run_task(action: PlannedAction, ctx: ActionContext) -> ActionResult:
    """A controller task: its own outcome per host; its data (evidence) redacted."""
    from hisops.tasks import TaskContext, get_task

    spec = get_task(action.task or "")
    task_ctx = TaskContext(name=ctx.step_id or action.task or "",
                           run_id=ctx.run_id, hosts=action.hosts,
                           inventory=ctx.inventory, args=dict(action.args),
                           secrets=ctx.secrets, check_mode=ctx.check_mode,
                           on_host=lambda o: _notify(ctx, o), on_note=ctx.on_note,
                           cancelled=ctx.cancelled)
    result = spec.func(task_ctx)
    missing = [h for h in action.hosts if h not in result.hosts]
    outcomes = dict(result.hosts)
    for host in missing:  # a task that forgot a host has not done its work there
        outcomes[host] = HostOutcome(host=host, status=HostStatus.FAILED,
                                     detail=f"task {spec.name} reported nothing for this host")
    ordered = {h: ctx_redact(outcomes[h], ctx.secrets) for h in action.hosts}
    return ActionResult(status=summarise(ordered), hosts=ordered,
                        detail=_failure_detail(ordered),
                        data=ctx.secrets.redact_obj(result.data))


def _notify(ctx: ActionContext, outcome: HostOutcome) -> None:
    if ctx.on_host is not None:
        try:
            ctx.on_host(ctx_redact(outcome, ctx.secrets))
        except Exception:  # a progress display must never break a run
            log.debug("progress callback failed", exc_info=True)


def _event_watcher(ctx: ActionContext) -> Callable[[dict[str, Any]], None]:
    """Report each new ansible-playbook pid once (it outlives a SIGKILLed hisops, so resume
    must be able to find and stop it before running the step again) and every announcement
    a play makes to the operator."""
    seen: set[int] = set()

    def on_event(progress: dict[str, Any]) -> None:
        pid = progress.get("pid")
        if isinstance(pid, int) and pid not in seen and ctx.on_process is not None:
            seen.add(pid)
            ctx.on_process(pid)
        message = progress.get("message")
        if message and ctx.on_note is not None:
            ctx.on_note(str(progress.get("host", "")), ctx.secrets.redact(str(message)))

    return on_event


def _run_ansible(action: PlannedAction, ctx: ActionContext, *, ident: str,
                 timeout_s: int | None) -> ActionResult:
    request = ansible_exec.PlaybookRequest(
        playbook=Path(action.playbook) if action.playbook else None,
        role=action.role,
        pattern=action.pattern,
        inventory=ctx.inventory.source.resolve(),
        private_data_dir=ctx.private_data_dir,
        ident=ident,
        # every play knows its run: a role can tell its own earlier work (a resumed step) from
        # another run's
        extravars={"hisops_run_id": ctx.run_id, **action.vars},
        secrets=dict(ctx.secrets.values),
        limit=ctx.limit,
        check=ctx.check_mode,
        diff=ctx.check_mode,
        timeout_s=timeout_s,
        roles_path=tuple(paths.roles_dirs()),
        serial=action.serial_patterns,
        cancel=ctx.cancelled,
        on_event=_event_watcher(ctx),
        resolved=ResolvedHosts(targets=action.hosts, batches=action.serial),
    )
    result = ansible_exec.run_playbook(request)
    for outcome in result.hosts.values():
        _notify(ctx, outcome)
    status = summarise(result.hosts)
    detail = _failure_detail(result.hosts)
    if result.status not in ("successful",) and status != "failed":
        status, detail = "failed", f"ansible-runner status {result.status} (rc {result.rc})"
    return ActionResult(status=status, hosts=dict(result.hosts), detail=detail,
                        artifact_digests=(result.artifact_digest,),
                        data=ctx.secrets.redact_obj(result.data))


def judge(outcome: HostOutcome, expect: Mapping[str, Any], read_only: bool) -> HostOutcome:
    """Apply ``expect`` to a finished command; success of a changing command is 'changed'."""
    if outcome.status in (HostStatus.UNREACHABLE, HostStatus.TIMEOUT):
        return outcome
    wanted = expect.get("rc", 0)
    wanted_rcs = wanted if isinstance(wanted, list) else [wanted]
    problem = ""
    if outcome.rc not in wanted_rcs:
        problem = f"rc {outcome.rc}, expected {wanted}"
    elif expect.get("stdout_contains") and expect["stdout_contains"] not in outcome.stdout:
        problem = f"output lacks {expect['stdout_contains']!r}"
    elif expect.get("stdout_not_contains") and expect["stdout_not_contains"] in outcome.stdout:
        problem = f"output contains {expect['stdout_not_contains']!r}"
    elif expect.get("stdout_regex") and not re.search(expect["stdout_regex"], outcome.stdout,
                                                       re.MULTILINE):
        problem = f"output does not match /{expect['stdout_regex']}/"
    if problem:
        stderr_tail = (outcome.stderr.strip().splitlines() or [""])[-1]
        detail = problem + (f"; stderr: {stderr_tail}" if stderr_tail else "")
        return replace(outcome, status=HostStatus.FAILED, changed=False, detail=detail[:300])
    status = HostStatus.OK if read_only else HostStatus.CHANGED
    return replace(outcome, status=status, changed=not read_only, detail="")


def _render_env(action: PlannedAction, ctx: ActionContext) -> dict[str, str]:
    context = {"params": {**ctx.params, **ctx.secrets.values}}
    try:
        return {k: render(v, context) for k, v in action.env_templates.items()}
    except ExpressionError as exc:
        raise ValueError(f"env: {exc}") from None


def _run_ssh(action: PlannedAction, ctx: ActionContext, *, timeout_s: int | None,
             expect: Mapping[str, Any]) -> ActionResult:
    timeout = float(timeout_s or DEFAULT_SSH_TIMEOUT_S)
    conns = {h: ssh_exec.connection_for(h, ctx.inventory.host_vars(h)) for h in action.hosts}
    env = _render_env(action, ctx)
    outcomes: dict[str, HostOutcome] = {}
    pending = list(action.hosts)
    if action.check:
        checked = ssh_exec.run_command([conns[h] for h in pending], action.check,
                                       timeout_s=timeout, max_workers=action.max_workers, env=env)
        for host, outcome in checked.items():
            if outcome.status == HostStatus.OK and outcome.rc == 0:
                done = replace(outcome, status=HostStatus.SKIPPED, changed=False,
                               detail="already satisfied")
                outcomes[host] = done
                _notify(ctx, done)
            elif outcome.status in (HostStatus.UNREACHABLE, HostStatus.TIMEOUT):
                outcomes[host] = outcome
                _notify(ctx, outcome)
        pending = [h for h in pending if h not in outcomes]
    if ctx.check_mode and not action.read_only:
        for host in pending:
            skipped = HostOutcome(host=host, status=HostStatus.SKIPPED,
                                  detail="check mode: would run")
            outcomes[host] = skipped
            _notify(ctx, skipped)
        pending = []
    if pending:
        def judged(outcome: HostOutcome) -> None:
            _notify(ctx, judge(outcome, expect, action.read_only))

        ran = ssh_exec.run_command([conns[h] for h in pending], action.command or "",
                                   timeout_s=timeout, max_workers=action.max_workers, env=env,
                                   on_host_done=judged)
        for host, outcome in ran.items():
            outcomes[host] = judge(outcome, expect, action.read_only)
    ordered = {h: ctx_redact(outcomes[h], ctx.secrets) for h in action.hosts if h in outcomes}
    return ActionResult(status=summarise(ordered), hosts=ordered, detail=_failure_detail(ordered))


def ctx_redact(outcome: HostOutcome, secrets: SecretStore) -> HostOutcome:
    if not secrets.values:
        return outcome
    return replace(outcome, stdout=secrets.redact(outcome.stdout),
                   stderr=secrets.redact(outcome.stderr), detail=secrets.redact(outcome.detail))


def retry_failed(first: ActionResult, rerun: Callable[[tuple[str, ...]], ActionResult],
                 retries: int, delay_s: int) -> tuple[ActionResult, int]:
    """Re-run only the failed hosts, up to ``retries`` times; returns (merged, attempts)."""
    result, attempts = first, 1
    while result.status == "failed" and attempts <= retries:
        time.sleep(delay_s)
        failed = tuple(h for h, o in result.hosts.items() if o.status in FAILED_STATES)
        again = rerun(failed)
        merged = {**result.hosts, **again.hosts}
        result = ActionResult(status=summarise(merged), hosts=merged,
                              detail=_failure_detail(merged),
                              artifact_digests=result.artifact_digests + again.artifact_digests,
                              data=ansible_exec.merge_data(result.data, again.data))
        attempts += 1
    return result, attempts
