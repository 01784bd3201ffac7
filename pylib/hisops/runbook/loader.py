"""Load a runbook file strictly: YAML, schema, templates, parameter references, files.

Every problem becomes one :class:`RunbookError` naming the file, the line and the field.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from hisops import paths
from hisops.checks import CheckUnavailable, argument_problems, get_check, known_checks
from hisops.errors import InputError, RunbookError
from hisops.runbook.expressions import ExpressionError, param_references
from hisops.runbook.model import (
    AssertGuard,
    AssertStep,
    CheckGuard,
    PlaybookAction,
    Runbook,
    SqlStep,
    SshAction,
    SshGuard,
    TaskAction,
)
from hisops.tasks import TaskUnavailable, get_task, known_tasks
from hisops.tasks import argument_problems as task_argument_problems
from hisops.yamlfile import PathKey, YamlDocument, read_yaml_bytes

_Spec = TypeVar("_Spec")


@dataclass(frozen=True)
class LoadedRunbook:
    runbook: Runbook
    path: Path
    digest: str  # sha256 of the file's bytes: part of the plan hash
    document: YamlDocument

    def playbook_path(self, playbook: str) -> Path:
        return resolve_playbook(playbook, self.path)


def resolve_playbook(playbook: str, runbook_path: Path) -> Path:
    """Absolute path; else the project's playbooks/ folder; else next to the runbook.

    playbooks/ comes first: runbooks and playbooks often share a name (backup.yml), and a
    runbook must never be handed to ansible-playbook as a playbook.
    """
    given = Path(playbook)
    if given.is_absolute():
        return given
    for base in (paths.playbooks_dir(), runbook_path.parent, paths.project_root()):
        candidate = (base / given).resolve()
        if candidate.is_file():
            return candidate
    return (paths.playbooks_dir() / given).resolve()


def find_runbook(name_or_path: str) -> Path:
    """A path as given, or a name looked up in the project's runbooks/ folder."""
    given = Path(name_or_path)
    if given.suffix in (".yml", ".yaml") or given.exists():
        return given
    for suffix in (".yml", ".yaml"):
        candidate = paths.runbooks_dir() / f"{name_or_path}{suffix}"
        if candidate.is_file():
            return candidate
    raise InputError(
        f"no runbook named '{name_or_path}' in {paths.runbooks_dir()} (see: hisops runbooks)",
        file=name_or_path,
    )


def load_runbook(path: Path | str) -> LoadedRunbook:
    path = Path(path)
    raw, document = read_yaml_bytes(path, RunbookError)
    return _validate(document, path, hashlib.sha256(raw).hexdigest())


def _validate(document: YamlDocument, path: Path, digest: str) -> LoadedRunbook:
    if not isinstance(document.data, dict):
        raise RunbookError("a runbook is a YAML mapping with name, summary and steps",
                           file=str(path), line=1)
    try:
        runbook = Runbook.model_validate(document.data)
    except ValidationError as exc:
        raise _schema_error(exc, document) from None
    loaded = LoadedRunbook(runbook=runbook, path=path, digest=digest, document=document)
    _check_templates(loaded)
    _check_files(loaded)
    _check_checks(loaded)
    _check_tasks(loaded)
    _check_sql(loaded)
    return loaded


def _data_path(loc: tuple[int | str, ...], data: Any) -> PathKey:
    """Pydantic's error location minus union tags (e.g. 'ssh'), as a path into the data."""
    out: list[str | int] = []
    node = data
    tagged: Any = None  # the mapping whose discriminator tag was already passed
    for part in loc:
        if isinstance(node, dict) and node is not tagged and node.get("kind") == part:
            # the discriminator tag pydantic inserts; tested first because a kind may also
            # be a field of its model (kind: role has role:, kind: check has check:)
            tagged = node
            continue
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_dict or in_list:
            node = node[part]
            out.append(part)
        elif isinstance(node, dict) and isinstance(part, str) and part.startswith("function-"):
            continue
        elif isinstance(node, dict) and isinstance(part, str) and part[:1].isalpha():
            out.append(part)  # a missing or unknown key
            node = None
        else:
            continue
    return tuple(out)


def format_field(loc: PathKey) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(top level)"


def _schema_error(exc: ValidationError, document: YamlDocument) -> RunbookError:
    first = exc.errors()[0]
    loc = _data_path(tuple(first["loc"]), document.data)
    message = first["msg"]
    if first["type"] == "extra_forbidden":
        message = "unknown field"
    elif first["type"] == "missing":
        message = "required field is missing"
    elif first["type"] == "union_tag_invalid":
        message = f"unknown step kind '{first['input'].get('kind')}'" if isinstance(
            first.get("input"), dict) else message
        loc = (*loc, "kind")
    extra = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return RunbookError(message + extra, file=document.path, line=document.line_of(loc),
                        field=format_field(loc))


def _template_sources(runbook: Runbook) -> Iterator[tuple[PathKey, str, bool]]:
    """(field path, source, is_expression) for every template and condition in the runbook."""
    for t_index, target in enumerate(runbook.targets):
        yield ("targets", t_index), target, False
    for g_index, guard in enumerate(runbook.guards):
        base: PathKey = ("guards", g_index)
        if isinstance(guard, SshGuard):
            yield (*base, "hosts"), guard.hosts, False
            yield (*base, "command"), guard.command, False
        elif isinstance(guard, AssertGuard):
            for i, cond in enumerate(guard.that):
                yield (*base, "that", i), cond, True
        elif isinstance(guard, CheckGuard):
            if guard.hosts is not None:
                yield (*base, "hosts"), guard.hosts, False
            for key, value in guard.args.items():
                for text in _strings(value):
                    yield (*base, "args", key), text, False
    for s_index, step in enumerate(runbook.steps):
        base = ("steps", s_index)
        if step.when:
            yield (*base, "when"), step.when, True
        if isinstance(step, AssertStep):
            for i, cond in enumerate(step.that):
                yield (*base, "that", i), cond, True
        actions: list[tuple[PathKey, Any]] = [(base, step)]
        rollback = getattr(step, "rollback", None)
        if rollback is not None:
            actions.append(((*base, "rollback"), rollback))
        for where, action in actions:
            yield from _action_sources(where, action)


def _action_sources(where: PathKey, action: Any) -> Iterator[tuple[PathKey, str, bool]]:
    if hasattr(action, "hosts"):
        yield (*where, "hosts"), action.hosts, False
    if isinstance(action, TaskAction):
        for key, value in action.args.items():
            for text in _strings(value):
                yield (*where, "args", key), text, False
    if isinstance(action, SshAction):
        yield (*where, "command"), action.command, False
        if action.check:
            yield (*where, "check"), action.check, False
        for key, value in action.env.items():
            yield (*where, "env", key), value, False
    for key, value in getattr(action, "vars", {}).items():
        for text in _strings(value):
            yield (*where, "vars", key), text, False


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _check_templates(loaded: LoadedRunbook) -> None:
    declared = set(loaded.runbook.parameters)
    for loc, source, is_expression in _template_sources(loaded.runbook):
        try:
            refs = param_references(source, expression=is_expression)
        except ExpressionError as exc:
            raise _error(loaded, loc, str(exc)) from None
        unknown = sorted(refs - declared)
        if unknown:
            raise _error(loaded, loc, f"unknown parameter '{unknown[0]}'")


def _step_actions(loaded: LoadedRunbook) -> Iterator[tuple[PathKey, Any]]:
    """(where, action) of every step and of every step's rollback (None when it has none)."""
    for s_index, step in enumerate(loaded.runbook.steps):
        yield ("steps", s_index), step
        yield ("steps", s_index, "rollback"), getattr(step, "rollback", None)


def _first_argument_problem(loaded: LoadedRunbook, loc: PathKey,
                            problems: list[tuple[str, str]]) -> None:
    """Raise the first (argument, problem) of a check or task, counting the others."""
    if problems:
        (arg, problem), more = problems[0], len(problems) - 1
        raise _error(loaded, (*loc, "args", arg),
                     problem + (f" (and {more} more)" if more else ""))


def _check_files(loaded: LoadedRunbook) -> None:
    for where, action in _step_actions(loaded):
        if isinstance(action, PlaybookAction):
            resolved = loaded.playbook_path(action.playbook)
            if not resolved.is_file():
                raise _error(loaded, (*where, "playbook"),
                             f"playbook not found: {action.playbook}")


def _check_checks(loaded: LoadedRunbook) -> None:
    """Check guards name a known check and give exactly the arguments it takes.

    An unknown name is found without importing any check; the arguments need the check's
    spec, so its module is imported (a module not written yet is an error here too)."""
    for g_index, guard in enumerate(loaded.runbook.guards):
        if not isinstance(guard, CheckGuard):
            continue
        loc: PathKey = ("guards", g_index)
        spec = _named_spec(loaded, (*loc, "check"), "check", guard.check, known_checks,
                           get_check, CheckUnavailable)
        _first_argument_problem(loaded, loc, argument_problems(spec, guard.args))


def _named_spec(loaded: LoadedRunbook, loc: PathKey, kind: str, name: str,
                known: Callable[[], list[str]], get: Callable[[str], _Spec],
                unavailable: type[Exception]) -> _Spec:
    """The spec of the check or task NAME, or a one-line error at LOC: an unknown name is
    found without importing anything; the spec's module is imported (and must exist)."""
    if name not in known():
        raise _error(loaded, loc, f"unknown {kind} '{name}' (known: {', '.join(known())})")
    try:
        return get(name)
    except unavailable as exc:
        raise _error(loaded, loc, str(exc)) from None


def _check_tasks(loaded: LoadedRunbook) -> None:
    """Task steps (and rollbacks) name a known task, give exactly its arguments, and are not
    declared read-only when the task changes hosts."""
    for where, action in _step_actions(loaded):
        if not isinstance(action, TaskAction):
            continue
        spec = _named_spec(loaded, (*where, "task"), "task", action.task, known_tasks,
                           get_task, TaskUnavailable)
        _first_argument_problem(loaded, where, task_argument_problems(spec, action.args))
        if action.read_only and spec.changes_hosts:
            raise _error(loaded, (*where, "read_only"),
                         f"task {action.task} changes hosts; it cannot be read_only")


def _check_sql(loaded: LoadedRunbook) -> None:
    """``sql`` steps: every statement parses and is of the kind its place allows, and every
    ``:name`` bind is a declared, non-secret parameter (a secret bound into a data fix would
    be written into the database's before-images and the journal's plan)."""
    from hisops.datafix.sqltext import SqlTextError, check_sql, step_sql

    parameters = loaded.runbook.parameters
    for s_index, step in enumerate(loaded.runbook.steps):
        if not isinstance(step, SqlStep):
            continue
        loc: PathKey = ("steps", s_index)
        for path, text, place in step_sql([t.where for t in step.find], step.fix,
                                          [v.sql for v in step.verify]):
            where = (*loc, *path)
            try:
                parsed = check_sql(text, place)
            except SqlTextError as exc:
                raise _error(loaded, where, str(exc)) from None
            for name in parsed.binds:
                if name not in parameters:
                    raise _error(loaded, where, f":{name} is not a parameter of this runbook")
                if parameters[name].secret:
                    raise _error(loaded, where, f":{name} is a secret parameter: secrets "
                                 "cannot be bound into a data fix")
        if step.engine != "postgres":
            raise _error(loaded, (*loc, "engine"), f"datafix on {step.engine} is not "
                         "available yet (PostgreSQL only)")


def _error(loaded: LoadedRunbook, loc: PathKey, message: str) -> RunbookError:
    return RunbookError(message, file=str(loaded.path), line=loaded.document.line_of(loc),
                        field=format_field(loc))
