"""Fuzz the runbook loader: whatever the input, it loads or raises one InputError, one line.

No traceback may escape on any input; this is what keeps `hisops validate` and `hisops run`
at exit 2 with a readable line instead of a Python stack on a malformed file.
"""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hisops.runbook.loader import load_runbook
from tests.fuzzing import loads_or_fails_in_one_line, values

from ..conftest import DATA

GOOD = yaml.safe_load((DATA / "runbooks" / "good.yml").read_text())



def check(text: str) -> None:
    loads_or_fails_in_one_line(load_runbook, text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_any_text(text: str) -> None:
    check(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values)
def test_any_yaml_value(value: Any) -> None:
    check(yaml.safe_dump(value, allow_unicode=True))


def _mutate(doc: Any, path: list[Any], value: Any) -> Any:
    if not path:
        return value
    head, *rest = path
    if isinstance(doc, dict):
        key = list(doc)[head % len(doc)] if doc else "x"
        return {**doc, key: _mutate(doc.get(key), rest, value)}
    if isinstance(doc, list) and doc:
        index = head % len(doc)
        return [*doc[:index], _mutate(doc[index], rest, value), *doc[index + 1:]]
    return value


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(0, 50), min_size=1, max_size=5), values)
def test_mutated_valid_runbook(path: list[int], value: Any) -> None:
    check(yaml.safe_dump(_mutate(GOOD, path, value), allow_unicode=True))
