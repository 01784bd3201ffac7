"""Templates and conditions in runbooks, evaluated by Jinja2's sandbox.

Runbook authors already know Jinja from Ansible, so ``when:`` and ``assert`` use the same
language; the sandbox keeps a runbook from reaching Python internals. Undefined names are
errors (StrictUndefined), never silently empty strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT_NAMES = frozenset({"params", "steps", "run", "inventory"})


class ExpressionError(ValueError):
    """A template or condition that cannot be parsed or evaluated."""


class SecretValue:
    """A secret parameter inside a template context: rendering it into text is refused.

    Secrets reach playbooks through the secret channel and ssh steps through ``env`` only; a
    secret pasted into a command line would show in ``ps`` and in the journal.
    """

    def __init__(self, name: str) -> None:
        self.name = name

    def __str__(self) -> str:
        raise ExpressionError(
            f"secret parameter '{self.name}' can only be used in an ssh step's env "
            "or as a playbook variable of the same name"
        )

    __html__ = __str__

    def __repr__(self) -> str:
        return f"<secret {self.name}>"


_ENV = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


@lru_cache(maxsize=4096)
def _parse(source: str) -> nodes.Template:
    try:
        return _ENV.parse(source)
    except TemplateSyntaxError as exc:
        raise ExpressionError(f"syntax error: {exc.message}") from None


def param_references(source: str, *, expression: bool = False) -> set[str]:
    """Parameter names used as ``params.NAME`` or ``params['NAME']``; also checks syntax and
    that only known root names are used."""
    tree = _parse("{{ (" + source + ") }}" if expression else source)
    for name in tree.find_all(nodes.Name):
        if name.ctx == "load" and name.name not in ROOT_NAMES and not _is_local(tree, name.name):
            raise ExpressionError(
                f"unknown name '{name.name}' (use params., steps., run. or inventory.)"
            )
    refs: set[str] = set()
    for attr in tree.find_all(nodes.Getattr):
        if isinstance(attr.node, nodes.Name) and attr.node.name == "params":
            refs.add(attr.attr)
    for item in tree.find_all(nodes.Getitem):
        if (
            isinstance(item.node, nodes.Name) and item.node.name == "params"
            and isinstance(item.arg, nodes.Const) and isinstance(item.arg.value, str)
        ):
            refs.add(item.arg.value)
    return refs


def _is_local(tree: nodes.Template, name: str) -> bool:
    """Names bound inside the template (loop variables, set) are not free references."""
    for target in tree.find_all(nodes.Name):
        if target.name == name and target.ctx in ("store", "param"):
            return True
    return False


def render(source: str, context: Mapping[str, Any]) -> str:
    if "{" not in source:
        return source  # the common case: plain text, no Jinja cost
    try:
        return _ENV.from_string(source).render(**context)
    except (UndefinedError, SecurityError, TypeError, ValueError) as exc:
        raise ExpressionError(str(exc)) from None
    except TemplateSyntaxError as exc:
        raise ExpressionError(f"syntax error: {exc.message}") from None


def render_value(value: Any, context: Mapping[str, Any]) -> Any:
    """Render strings inside nested lists and dicts; other values pass through."""
    if isinstance(value, str):
        return render(value, context)
    if isinstance(value, Mapping):
        return {k: render_value(v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [render_value(v, context) for v in value]
    return value


def evaluate(expression: str, context: Mapping[str, Any]) -> Any:
    try:
        compiled = _ENV.compile_expression(expression, undefined_to_none=False)
        return compiled(**context)
    except TemplateSyntaxError as exc:
        raise ExpressionError(f"syntax error: {exc.message}") from None
    except (UndefinedError, SecurityError, TypeError, ValueError, KeyError) as exc:
        raise ExpressionError(str(exc)) from None


def truth(expression: str, context: Mapping[str, Any]) -> bool:
    return bool(evaluate(expression, context))
