"""Named, built-in, read-only checks that a runbook's ``kind: check`` guards call.

A check is a Python function of a :class:`CheckContext` returning a :class:`CheckResult`.
It may read the journal and (through executors) probe hosts, but never changes anything: it
runs before the run takes its first step, and again, as a preview, under ``hisops plan``.

Built-in checks are found by name and imported on first use, so that loading a runbook does
not import every check's dependencies (and a check whose module is not written yet does not
break the others). Each such module defines a module-level ``SPEC: CheckSpec``.
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from hisops.inventory import Inventory
from hisops.journal import Journal
from hisops.runbook.model import CHECK_NAME

log = logging.getLogger(__name__)

# name -> module defining SPEC; imported on demand
_BUILTIN: dict[str, str] = {
    "verified_restore": "hisops.checks.evidence",
    "pg_patch_preflight": "hisops.patching.preflight",
    "oracle_patch_preflight": "hisops.patching.oracle_preflight",
    "unprotected": "hisops.checks.protection",
    "restore_plan": "hisops.checks.restore_plan",
}
_REGISTERED: dict[str, CheckSpec] = {}


@dataclass(frozen=True)
class CheckContext:
    """What a check may look at: the guard's resolved hosts and rendered arguments."""

    name: str  # the guard's name
    hosts: tuple[str, ...]  # resolved from the guard's `hosts` pattern (() when none given)
    inventory: Inventory
    args: dict[str, Any]  # rendered from the runbook (strings, numbers, bools)
    journal: Journal | None  # None when there is no journal (offline planning)
    now: datetime  # aware UTC


@dataclass(frozen=True)
class CheckResult:
    problems: tuple[str, ...] = ()  # empty: the guard holds
    notes: tuple[str, ...] = ()  # informational lines for plan/run output
    columns: tuple[str, ...] = ()  # table column order for the plan preview
    rows: tuple[dict[str, Any], ...] = ()  # table rows (keys = columns)
    data: dict[str, Any] = field(default_factory=dict)  # journaled with the guard result

    @property
    def ok(self) -> bool:
        return not self.problems


class BadArgument(ValueError):
    """Raised by a spec's ``validate`` for an argument value that cannot be used."""

    def __init__(self, arg: str, message: str) -> None:
        self.arg = arg
        super().__init__(message)


@dataclass(frozen=True)
class CheckSpec:
    name: str
    func: Callable[[CheckContext], CheckResult]
    required: frozenset[str]
    optional: frozenset[str]
    summary: str
    # Optional: called by the planner on the rendered arguments; raises BadArgument (or
    # ValueError) so that a bad value is an input error at plan time, not a refusal at run time.
    validate: Callable[[Mapping[str, Any]], None] | None = None

    @property
    def arguments(self) -> frozenset[str]:
        return self.required | self.optional


class CheckUnavailable(ImportError):
    """A known check whose module cannot be imported or defines no matching SPEC."""

    def __init__(self, name: str, module: str, detail: str) -> None:
        self.check, self.module, self.detail = name, module, detail
        super().__init__(f"check '{name}' is not available: {detail}")


def known_checks() -> list[str]:
    """Every check name, sorted; imports nothing."""
    return sorted({*_BUILTIN, *_REGISTERED})


def get_check(name: str) -> CheckSpec:
    """The spec of check ``name``: KeyError when unknown, CheckUnavailable when its module
    cannot be imported."""
    spec = _REGISTERED.get(name)
    if spec is not None:
        return spec
    module_name = _BUILTIN.get(name)
    if module_name is None:
        raise KeyError(name)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        log.debug("check %s: cannot import %s", name, module_name, exc_info=True)
        raise CheckUnavailable(name, module_name,
                               f"module {module_name} cannot be imported ({exc})") from exc
    spec = getattr(module, "SPEC", None)
    if not isinstance(spec, CheckSpec) or spec.name != name:
        raise CheckUnavailable(name, module_name,
                               f"module {module_name} defines no SPEC for check '{name}'")
    return spec


def register(spec: CheckSpec, *, replace: bool = False) -> CheckSpec:
    """Add a check (tests, site plugins); a name already known needs ``replace=True``."""
    if not re.fullmatch(CHECK_NAME, spec.name):
        raise ValueError(f"check name '{spec.name}' does not match {CHECK_NAME}")
    if not replace and spec.name in known_checks():
        raise ValueError(f"check '{spec.name}' is already known")
    _REGISTERED[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Forget a registered check (a built-in one comes back if it was shadowed)."""
    _REGISTERED.pop(name, None)


class _NamedSpec(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def required(self) -> frozenset[str]: ...
    @property
    def arguments(self) -> frozenset[str]: ...


def argument_problems(spec: _NamedSpec, given: Iterable[str], kind: str = "check"
                      ) -> list[tuple[str, str]]:
    """(argument, problem) for each unknown and each missing required argument of a check
    (or, with KIND, of another named built-in such as a task)."""
    names = list(given)
    takes = ", ".join(sorted(spec.arguments)) or "no arguments"
    problems = [(arg, f"unknown argument of {kind} {spec.name} (takes: {takes})")
                for arg in names if arg not in spec.arguments]
    problems += [(arg, f"required argument of {kind} {spec.name} is missing")
                 for arg in sorted(spec.required - set(names))]
    return problems


__all__ = [
    "BadArgument",
    "CheckContext",
    "CheckResult",
    "CheckSpec",
    "CheckUnavailable",
    "argument_problems",
    "get_check",
    "known_checks",
    "register",
    "unregister",
]
