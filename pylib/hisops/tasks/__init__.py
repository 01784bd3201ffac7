"""Named, built-in controller tasks that a runbook's ``kind: task`` steps run.

Some steps are work that a playbook does badly: masking a database with set-based SQL under a
secret key, proving afterwards that no original value is left, comparing keyed hashes. A task
is a Python function that runs on the controller against the step's hosts (through the
executors and database drivers) and returns one outcome per host, plus evidence for the
journal. Tasks are found by name and imported on first use, as checks are
(:mod:`hisops.checks`): loading a runbook never imports a task's dependencies.

A task declares whether it changes hosts. A changing task is locked, journaled and resumed like
any step; under ``--check`` it is called with ``check_mode`` set and must change nothing.
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hisops.checks import BadArgument
from hisops.checks import argument_problems as check_argument_problems
from hisops.executors.results import HostOutcome, HostStatus
from hisops.inventory import Inventory
from hisops.runbook.model import CHECK_NAME
from hisops.secrets import SecretStore

log = logging.getLogger(__name__)

__all__ = ["BadArgument", "HostDone", "TaskContext", "TaskResult", "TaskSpec", "TaskUnavailable",
           "argument_problems", "get_task", "known_tasks", "per_host", "register",
           "unregister"]

TASK_NAME = CHECK_NAME
# name -> module defining SPEC; imported on demand
_BUILTIN: dict[str, str] = {
    "mask_database": "hisops.envs.mask_task",
    "post_refresh": "hisops.envs.post_refresh",
    "datafix": "hisops.datafix.task",
    "datafix_undo": "hisops.datafix.undo_task",
}
_REGISTERED: dict[str, TaskSpec] = {}


@dataclass
class TaskContext:
    """What a task may use: its hosts, rendered arguments and the run's secrets."""

    name: str  # the step's id
    run_id: str
    hosts: tuple[str, ...]
    inventory: Inventory
    args: dict[str, Any]  # rendered at plan time (secrets are never rendered into them)
    secrets: SecretStore  # the run's secret parameters, by parameter name
    check_mode: bool = False
    on_host: Callable[[HostOutcome], None] | None = None
    on_note: Callable[[str, str], None] | None = None  # (host, message) progress lines
    cancelled: Callable[[], bool] = lambda: False

    def note(self, host: str, text: str) -> None:
        if self.on_note is not None:
            try:
                self.on_note(host, text)
            except Exception:  # a progress display must never break a run
                log.debug("note callback failed", exc_info=True)

    def secret(self, name: str) -> str:
        """The secret parameter NAME; a missing one is an error naming the variable."""
        value = self.secrets.values.get(name)
        if not value:
            raise ValueError(f"the secret parameter '{name}' is not set "
                             f"(HISOPS_SECRET_{name.upper()}, a vault file or a prompt)")
        return value


@dataclass(frozen=True)
class TaskResult:
    hosts: dict[str, HostOutcome]
    # published as the step's data: {"hisops_evidence": {type: {subject: {...}}}} is journaled
    # as evidence, as a playbook's set_stats is
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskSpec:
    name: str
    func: Callable[[TaskContext], TaskResult]
    required: frozenset[str]
    optional: frozenset[str]
    summary: str
    changes_hosts: bool = True
    validate: Callable[[Mapping[str, Any]], None] | None = None

    @property
    def arguments(self) -> frozenset[str]:
        return self.required | self.optional


@dataclass(frozen=True)
class HostDone:
    """What a task changed on one host: the line shown, and the evidence journaled."""

    detail: str
    evidence: dict[str, Any]


def per_host(ctx: TaskContext, evidence_type: str,
             work: Callable[[str], HostOutcome | HostDone]) -> TaskResult:
    """Run WORK on each of the task's hosts in turn: an exception is that host's failure (one
    line; the run decides what happens next), a HostDone is a change with its evidence, any
    other outcome (skipped, check mode) is reported as it is."""
    outcomes: dict[str, HostOutcome] = {}
    evidence: dict[str, Any] = {}
    for host in ctx.hosts:
        try:
            got = work(host)
        except Exception as exc:
            got = HostOutcome(host=host, status=HostStatus.FAILED, detail=str(exc))
        if isinstance(got, HostDone):
            evidence[host] = got.evidence
            got = HostOutcome(host=host, status=HostStatus.CHANGED, changed=True,
                              detail=got.detail)
        outcomes[host] = got
        if ctx.on_host is not None:
            ctx.on_host(got)
    return TaskResult(hosts=outcomes,
                      data={"hisops_evidence": {evidence_type: evidence}} if evidence else {})


class TaskUnavailable(ImportError):
    def __init__(self, name: str, module: str, detail: str) -> None:
        self.task, self.module, self.detail = name, module, detail
        super().__init__(f"task '{name}' is not available: {detail}")


def known_tasks() -> list[str]:
    return sorted({*_BUILTIN, *_REGISTERED})


def get_task(name: str) -> TaskSpec:
    """The spec of task NAME: KeyError when unknown, TaskUnavailable when its module cannot
    be imported."""
    spec = _REGISTERED.get(name)
    if spec is not None:
        return spec
    module_name = _BUILTIN.get(name)
    if module_name is None:
        raise KeyError(name)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise TaskUnavailable(name, module_name,
                              f"module {module_name} cannot be imported ({exc})") from exc
    spec = getattr(module, "SPEC", None)
    if not isinstance(spec, TaskSpec) or spec.name != name:
        raise TaskUnavailable(name, module_name,
                              f"module {module_name} defines no SPEC for task '{name}'")
    return spec


def register(spec: TaskSpec, *, replace: bool = False) -> TaskSpec:
    """Add a task (tests, site plugins); a name already known needs ``replace=True``."""
    if not re.fullmatch(TASK_NAME, spec.name):
        raise ValueError(f"task name '{spec.name}' does not match {TASK_NAME}")
    if not replace and spec.name in known_tasks():
        raise ValueError(f"task '{spec.name}' is already known")
    _REGISTERED[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    _REGISTERED.pop(name, None)


def argument_problems(spec: TaskSpec, given: Iterable[str]) -> list[tuple[str, str]]:
    """(argument, problem) for each unknown and each missing required argument."""
    return check_argument_problems(spec, given, kind="task")
