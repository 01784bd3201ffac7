"""Resolve a runbook against an inventory into a :class:`Plan`: hosts per step, rendered
commands, guards, locks, and a plan hash.

The plan hash binds approvals and resumes to exactly what was reviewed: the same runbook
bytes, parameters, hosts and rendered actions always give the same hash; any change gives
another.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hisops.checks import BadArgument, get_check
from hisops.datafix import TASK as DATAFIX_TASK
from hisops.errors import RunbookError
from hisops.inventory import Inventory, template_context
from hisops.runbook.durations import parse_duration
from hisops.runbook.expressions import ExpressionError, SecretValue, render, render_value
from hisops.runbook.loader import LoadedRunbook, format_field
from hisops.runbook.model import (
    ApprovalStep,
    AssertGuard,
    AssertStep,
    CheckGuard,
    PlaybookAction,
    RoleAction,
    SqlStep,
    SshAction,
    SshGuard,
    TaskAction,
)
from hisops.secrets import REDACTED, SecretStore
from hisops.tasks import get_task
from hisops.yamlfile import PathKey


@dataclass(frozen=True)
class PlannedAction:
    """A playbook, role or ssh action with its hosts resolved and templates rendered."""

    kind: str
    pattern: str
    hosts: tuple[str, ...]
    playbook: str | None = None  # absolute path
    role: str | None = None
    vars: dict[str, Any] = field(default_factory=dict)
    serial: tuple[tuple[str, ...], ...] = ()  # host batches, in order
    serial_patterns: tuple[str, ...] = ()
    command: str | None = None
    check: str | None = None
    env_templates: dict[str, str] = field(default_factory=dict)  # rendered at run time
    read_only: bool = False
    max_workers: int = 20
    task: str | None = None  # kind "task": the task's name
    args: dict[str, Any] = field(default_factory=dict)  # kind "task": rendered arguments

    def describe(self) -> str:
        if self.kind == "task" and self.task == DATAFIX_TASK:
            tables = ", ".join(str(t.get("table")) for t in self.args.get("find", []))
            return (f"sql on {self.args.get('database')}: {len(self.args.get('fix', []))} "
                    f"statement(s) on {tables}")
        if self.kind == "task":
            return f"task {self.task}"
        if self.kind == "playbook":
            return Path(self.playbook or "").name
        if self.kind == "role":
            return f"role {self.role}"
        return self.command or ""


@dataclass(frozen=True)
class PlannedStep:
    index: int
    id: str
    label: str
    kind: str
    hosts: tuple[str, ...]
    when: str | None
    idempotent: bool
    changes_hosts: bool
    timeout_s: int | None
    retries: int
    retry_delay_s: int
    action: PlannedAction | None  # None for assert / approval
    rollback: PlannedAction | None
    that: tuple[str, ...] = ()
    message: str = ""
    approvers: tuple[str, ...] = ()
    four_eyes: bool = False
    expect: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PlannedGuard:
    name: str
    kind: str
    hosts: tuple[str, ...]
    command: str | None
    that: tuple[str, ...]
    expect: dict[str, Any]
    timeout_s: int
    message: str = ""
    check: str | None = None  # kind "check": the check's name
    args: dict[str, Any] = field(default_factory=dict)  # kind "check": rendered arguments
    waiver: str | None = None  # the name that waives a failure of this guard


@dataclass(frozen=True)
class Plan:
    runbook: LoadedRunbook
    inventory_path: Path
    limit: str | None
    params: dict[str, Any]  # non-secret
    secret_names: tuple[str, ...]
    guards: tuple[PlannedGuard, ...]
    steps: tuple[PlannedStep, ...]
    lock_hosts: tuple[str, ...]
    protected_hosts: tuple[str, ...]
    hash: str
    # hosts the runbook asks to be named with --confirm although they are not protected
    confirm_hosts: tuple[str, ...] = ()

    @property
    def typed_confirmation(self) -> tuple[str, ...]:
        """Every host whose name must be typed before a changing run: protected ones and the
        ones the runbook names in ``confirm``."""
        return tuple(sorted({*self.protected_hosts, *self.confirm_hosts}))

    @property
    def name(self) -> str:
        return self.runbook.runbook.name

    def step(self, step_id: str) -> PlannedStep:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)

    def as_dict(self) -> dict[str, Any]:
        """What people and tools see; the hash is computed over the same content."""
        body = _hashed_body(self.runbook, self.limit, self.params, self.secret_names,
                            self.guards, self.steps, self.lock_hosts)
        body["inventory"] = str(self.inventory_path)
        body["runbook_path"] = str(self.runbook.path)
        body["summary"] = self.runbook.runbook.summary
        body["protected_hosts"] = list(self.protected_hosts)
        body["confirm_hosts"] = list(self.confirm_hosts)
        body["plan_hash"] = self.hash
        return body


def _action_dict(action: PlannedAction | None) -> dict[str, Any] | None:
    if action is None:
        return None
    return {
        "kind": action.kind, "pattern": action.pattern, "hosts": list(action.hosts),
        "playbook": action.playbook and Path(action.playbook).name, "role": action.role,
        "vars": action.vars, "serial": [list(b) for b in action.serial],
        "command": action.command, "check": action.check, "env": action.env_templates,
        "read_only": action.read_only,
        # only task actions carry these keys, so plans of other steps hash as they always did
        **({"task": action.task, "args": action.args} if action.kind == "task" else {}),
    }


def _hashed_body(
    loaded: LoadedRunbook, limit: str | None, params: dict[str, Any],
    secret_names: tuple[str, ...], guards: tuple[PlannedGuard, ...],
    steps: tuple[PlannedStep, ...], lock_hosts: tuple[str, ...],
) -> dict[str, Any]:
    return {
        "runbook": loaded.runbook.name,
        "runbook_digest": loaded.digest,
        "limit": limit,
        "params": {**params, **{name: REDACTED for name in secret_names}},
        "guards": [_guard_dict(g) for g in guards],
        "steps": [
            {
                "index": s.index, "id": s.id, "kind": s.kind, "hosts": list(s.hosts),
                "when": s.when, "idempotent": s.idempotent, "changes_hosts": s.changes_hosts,
                "timeout_s": s.timeout_s, "retries": s.retries,
                "action": _action_dict(s.action), "rollback": _action_dict(s.rollback),
                "that": list(s.that), "approvers": list(s.approvers), "four_eyes": s.four_eyes,
            }
            for s in steps
        ],
        "lock_hosts": list(lock_hosts),
    }


def _guard_dict(guard: PlannedGuard) -> dict[str, Any]:
    out = {"name": guard.name, "kind": guard.kind, "hosts": list(guard.hosts),
           "command": guard.command, "that": list(guard.that), "expect": guard.expect}
    if guard.kind == "check":
        # only check guards carry these keys: plans of other guards hash as they always did,
        # so runs started before check guards existed still resume
        out.update(check=guard.check, args=guard.args, waiver=guard.waiver)
    return out


class _Resolver:
    def __init__(self, loaded: LoadedRunbook, inventory: Inventory, limit: str | None,
                 params: dict[str, Any]) -> None:
        self.loaded = loaded
        self.inventory = inventory
        self.limit = limit
        self.context = {
            "params": {**params, **{n: SecretValue(n) for n in loaded.runbook.parameters
                                    if loaded.runbook.parameters[n].secret}},
            "run": {"runbook": loaded.runbook.name},
            "inventory": template_context(inventory),
        }  # secret values are never rendered at plan time: only SecretValue stand-ins

    def error(self, loc: PathKey, message: str) -> RunbookError:
        return RunbookError(message, file=str(self.loaded.path),
                            line=self.loaded.document.line_of(loc), field=format_field(loc))

    def render(self, loc: PathKey, source: str) -> str:
        try:
            return render(source, self.context)
        except ExpressionError as exc:
            raise self.error(loc, str(exc)) from None

    def hosts(self, loc: PathKey, pattern_source: str) -> tuple[str, tuple[str, ...]]:
        pattern = self.render(loc, pattern_source)
        self.inventory.check_pattern(pattern, file=str(self.loaded.path),
                                     line=self.loaded.document.line_of(loc),
                                     field=format_field(loc))
        return pattern, tuple(self.inventory.hosts(pattern, self.limit))

    def check_guard(self, loc: PathKey, guard: CheckGuard) -> PlannedGuard:
        hosts: tuple[str, ...] = ()
        if guard.hosts is not None:
            _, hosts = self.hosts((*loc, "hosts"), guard.hosts)
        # the loader has refused an unknown check, an unknown or a missing argument already
        args = self.arguments(loc, guard.args, get_check(guard.check).validate)
        return PlannedGuard(name=guard.name, kind="check", hosts=hosts, command=None, that=(),
                            expect={}, timeout_s=0, check=guard.check, args=args,
                            waiver=guard.waiver)

    def arguments(self, loc: PathKey, given: Mapping[str, Any],
                  validate: Callable[[Mapping[str, Any]], None] | None) -> dict[str, Any]:
        """A check's or a task's arguments rendered, then validated by its spec: a bad value
        is an input error naming the argument at plan time, not a refusal at run time."""
        args: dict[str, Any] = {}
        for key, value in given.items():
            try:
                args[key] = render_value(value, self.context)
            except ExpressionError as exc:
                raise self.error((*loc, "args", key), str(exc)) from None
        if validate is not None:
            try:
                validate(args)
            except BadArgument as exc:
                raise self.error((*loc, "args", exc.arg), str(exc)) from None
            except ValueError as exc:
                raise self.error((*loc, "args"), str(exc)) from None
        return args

    def action(self, loc: PathKey,
               action: PlaybookAction | RoleAction | SshAction | TaskAction) -> PlannedAction:
        pattern, hosts = self.hosts((*loc, "hosts"), action.hosts)
        if isinstance(action, TaskAction):
            return self.task_action(loc, action, pattern, hosts)
        if isinstance(action, SshAction):
            return PlannedAction(
                kind="ssh", pattern=pattern, hosts=hosts,
                command=self.render((*loc, "command"), action.command),
                check=self.render((*loc, "check"), action.check) if action.check else None,
                env_templates=dict(action.env), read_only=action.read_only,
                max_workers=action.max_workers,
            )
        try:
            rendered_vars = render_value(action.vars, self.context)
        except ExpressionError as exc:
            raise self.error((*loc, "vars"), str(exc)) from None
        batches: list[tuple[str, ...]] = []
        for b_index, batch_pattern in enumerate(action.serial):
            batch_loc = (*loc, "serial", b_index)
            _, batch_hosts = self.hosts(batch_loc, batch_pattern)
            batches.append(tuple(h for h in hosts if h in set(batch_hosts)))
        if isinstance(action, PlaybookAction):
            return PlannedAction(kind="playbook", pattern=pattern, hosts=hosts,
                                 playbook=str(self.loaded.playbook_path(action.playbook)),
                                 vars=rendered_vars, serial=tuple(batches),
                                 serial_patterns=tuple(action.serial))
        return PlannedAction(kind="role", pattern=pattern, hosts=hosts, role=action.role,
                             vars=rendered_vars, serial=tuple(batches),
                             serial_patterns=tuple(action.serial))


    def task_action(self, loc: PathKey, action: TaskAction, pattern: str,
                    hosts: tuple[str, ...]) -> PlannedAction:
        # the loader has refused an unknown task and unknown or missing arguments already
        args = self.arguments(loc, action.args, get_task(action.task).validate)
        return PlannedAction(kind="task", pattern=pattern, hosts=hosts, task=action.task,
                             args=args, read_only=action.read_only)


    def sql_action(self, loc: PathKey, step: SqlStep,
                   planned: Mapping[str, list[int]] | None) -> PlannedAction:
        """A ``sql`` step is the ``datafix`` task with the step's fields as arguments: binds
        take their values from the parameters; expect_rows templates are rendered. The rows
        found when planning (``planned``) are part of the plan and its hash, so an approval
        covers them."""
        from hisops.datafix.sqltext import parse, step_sql

        pattern, hosts = self.hosts((*loc, "hosts"), step.hosts)

        def bound(where: PathKey, value: int | str | None) -> int | str | None:
            return value if value is None or isinstance(value, int) else \
                self.render(where, value)

        # the loader has checked every text: they parse, and their binds are parameters
        names = [name for _, text, _ in step_sql([t.where for t in step.find], step.fix,
                                                 [v.sql for v in step.verify])
                 for name in parse(text).binds]
        params = self.context["params"]
        args: dict[str, Any] = {
            "engine": step.engine, "database": step.database,
            "find": [{"table": t.table, "key": list(t.key), "where": t.where,
                      "expect_rows": bound((*loc, "find", i, "expect_rows"), t.expect_rows)}
                     for i, t in enumerate(step.find)],
            "fix": list(step.fix),
            "verify": [{"name": v.name, "sql": v.sql,
                        "expect_rows": bound((*loc, "verify", i, "expect_rows"), v.expect_rows),
                        "expect_value": v.expect_value} for i, v in enumerate(step.verify)],
            "untracked_tables": list(step.untracked_tables),
            "lock_timeout_s": parse_duration(step.lock_timeout),
            "statement_timeout_s": parse_duration(step.statement_timeout),
            "sample": step.sample, "pii_policy": step.pii_policy,
            "binds": {n: params[n] for n in dict.fromkeys(names)
                      if n in params and not isinstance(params[n], SecretValue)},
        }
        if planned:
            args["planned_rows"] = {h: list(planned[h]) for h in hosts if h in planned}
        validate = get_task(DATAFIX_TASK).validate
        try:
            if validate is not None:
                validate(args)
        except BadArgument as exc:
            raise self.error((*loc, *_arg_path(exc.arg)), str(exc)) from None
        return PlannedAction(kind="task", pattern=pattern, hosts=hosts, task=DATAFIX_TASK,
                             args=args)


def _arg_path(arg: str) -> PathKey:
    """"find[0].where" -> ("find", 0, "where")."""
    import re

    return tuple(int(i) if i else name for name, i in re.findall(r"(\w+)|\[(\d+)\]", arg))


RowCounts = Mapping[str, Mapping[str, list[int]]]  # step id -> host -> rows per find entry


def build_plan(loaded: LoadedRunbook, inventory: Inventory, *, params: dict[str, Any],
               secrets: SecretStore, limit: str | None = None,
               row_counts: RowCounts | None = None) -> Plan:
    runbook = loaded.runbook
    resolver = _Resolver(loaded, inventory, limit, params)
    guards: list[PlannedGuard] = []
    for g_index, guard in enumerate(runbook.guards):
        loc: PathKey = ("guards", g_index)
        if isinstance(guard, SshGuard):
            _, hosts = resolver.hosts((*loc, "hosts"), guard.hosts)
            guards.append(PlannedGuard(
                name=guard.name, kind="ssh", hosts=hosts,
                command=resolver.render((*loc, "command"), guard.command), that=(),
                expect=guard.expect.model_dump(), timeout_s=parse_duration(guard.timeout)))
        elif isinstance(guard, AssertGuard):
            guards.append(PlannedGuard(name=guard.name, kind="assert", hosts=(), command=None,
                                       that=tuple(guard.that), expect={}, timeout_s=0,
                                       message=guard.message))
        elif isinstance(guard, CheckGuard):
            guards.append(resolver.check_guard(loc, guard))
    steps: list[PlannedStep] = []
    lock_hosts: list[str] = []
    for target_index, target in enumerate(runbook.targets):
        _, hosts = resolver.hosts(("targets", target_index), target)
        lock_hosts.extend(hosts)
    for index, step in enumerate(runbook.steps):
        loc = ("steps", index)
        action = rollback = None
        extra: dict[str, Any] = {}
        if isinstance(step, SqlStep):
            action = resolver.sql_action(loc, step, (row_counts or {}).get(step.id))
        elif isinstance(step, PlaybookAction | RoleAction | SshAction | TaskAction):
            action = resolver.action(loc, step)
            if step.rollback is not None:
                rollback = resolver.action((*loc, "rollback"), step.rollback)
            if isinstance(step, SshAction):
                extra["expect"] = step.expect.model_dump()
        elif isinstance(step, AssertStep):
            extra = {"that": tuple(step.that), "message": step.message}
        elif isinstance(step, ApprovalStep):
            extra = {"approvers": tuple(step.approvers), "four_eyes": step.four_eyes,
                     "message": step.message}
        hosts = action.hosts if action else ()
        if step.changes_hosts:
            lock_hosts.extend(hosts)
        if rollback is not None:
            lock_hosts.extend(rollback.hosts)
        steps.append(PlannedStep(
            index=index, id=step.id, label=step.label, kind=step.kind, hosts=hosts,
            when=step.when,
            idempotent=step.idempotent or _has_check(step) or not step.changes_hosts,
            changes_hosts=step.changes_hosts, timeout_s=step.timeout_s, retries=step.retries,
            retry_delay_s=step.retry_delay_s, action=action, rollback=rollback, **extra))
    confirm: tuple[str, ...] = ()
    if runbook.confirm is not None:
        _, confirm = resolver.hosts(("confirm",), runbook.confirm)
        if not confirm:
            raise resolver.error(("confirm",), "matches no host: the hosts to confirm must "
                                 "exist")
        lock_hosts.extend(confirm)
    locks = tuple(dict.fromkeys(lock_hosts))
    protected = tuple(inventory.any_protected(locks))
    steps = _with_environment_approval(steps, inventory, protected)
    secret_names = tuple(sorted(secrets.values))
    guard_tuple, step_tuple = tuple(guards), tuple(steps)
    body = _hashed_body(loaded, limit, params, secret_names, guard_tuple, step_tuple, locks)
    if confirm:  # only runbooks that ask for it hash it, so other plans keep their hashes
        body["confirm_hosts"] = list(confirm)
    digest = hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()
    ).hexdigest()
    return Plan(runbook=loaded, inventory_path=inventory.source, limit=limit, params=params,
                secret_names=secret_names, guards=guard_tuple, steps=step_tuple,
                lock_hosts=locks, protected_hosts=protected, hash=digest, confirm_hosts=confirm)


FOUR_EYES_VAR = "hisops_four_eyes"
ENV_APPROVAL_STEP = "environment_approval"


def _with_environment_approval(steps: list[PlannedStep], inventory: Inventory,
                               protected: tuple[str, ...]) -> list[PlannedStep]:
    """Where a protected host's environment asks for four eyes (``hisops_four_eyes: true``),
    a second person's approval comes before the run's first step: part of the plan (and its
    hash) like any step, so the approval binds to exactly what was reviewed."""
    needing = [h for h in protected if inventory.host_vars(h).get(FOUR_EYES_VAR) is True]
    if not needing or any(s.kind == "approval" and s.four_eyes for s in steps[:1]):
        return steps
    envs = sorted({str(inventory.host_vars(h).get("hisops_environment", "")) or h
                   for h in needing})
    approval = PlannedStep(
        index=0, id=ENV_APPROVAL_STEP, label="A second person approves changes to "
        f"{', '.join(envs)}", kind="approval", hosts=(), when=None, idempotent=True,
        changes_hosts=False, timeout_s=None, retries=0, retry_delay_s=5, action=None,
        rollback=None, four_eyes=True,
        message=f"this run changes protected hosts of {', '.join(envs)} "
                f"({', '.join(needing[:5])}), whose environment requires four eyes")
    return [approval, *(replace(s, index=s.index + 1) for s in steps)]


def _has_check(step: object) -> bool:
    # A step with a `check` command decides per host whether it is already done, so re-running
    # it after an interruption is safe even when the command itself is not idempotent.
    return isinstance(step, SshAction) and step.check is not None

