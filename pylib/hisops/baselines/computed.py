"""Expected values computed from host facts, e.g. ``shared_buffers`` as 25% of memory.

A value containing ``{{`` is a Jinja2 template rendered in a sandbox with ``facts`` (what the
probe measured on the host: ``memory_mb``, ``cpus``, ``hostname``) and ``vars`` (the host's
inventory variables, so a group can tune a value). One evaluator serves check and apply: the
role receives the rendered value, never the template.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

_ENV = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)

# what a template may be rendered with when a baseline is validated (no host at hand)
SAMPLE_FACTS: dict[str, Any] = {"memory_mb": 16384, "cpus": 4, "hostname": "sample"}


class ComputeError(ValueError):
    pass


def is_template(value: object) -> bool:
    return isinstance(value, str) and "{{" in value


def render(value: object, facts: Mapping[str, Any], host_vars: Mapping[str, Any]) -> object:
    """The value itself, or its template rendered (a str)."""
    if not is_template(value):
        return value
    assert isinstance(value, str)  # noqa: S101 - narrowed by is_template
    try:
        return _ENV.from_string(value).render(facts=dict(facts), vars=dict(host_vars)).strip()
    except TemplateError as exc:
        raise ComputeError(f"cannot compute '{value}': {exc}") from None
    except (ArithmeticError, TypeError, ValueError) as exc:
        raise ComputeError(f"cannot compute '{value}': {exc}") from None


def check_syntax(value: str) -> None:
    try:
        _ENV.parse(value)
    except TemplateError as exc:
        raise ComputeError(f"template error: {exc}") from None
