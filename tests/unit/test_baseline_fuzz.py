"""Fuzz the baseline loader: whatever the input, it loads or raises one InputError, one line.

A malformed baseline must stop `hisops baseline check` at exit 2 with a readable line naming
the file, before any host is contacted: no traceback on any input.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hisops.baselines.loader import load_baseline
from tests.fuzzing import loads_or_fails_in_one_line, values

from ..conftest import ROOT

GOOD = yaml.safe_load((ROOT / "baselines" / "his-production.yml").read_text(encoding="utf-8"))



def check(text: str) -> None:
    loads_or_fails_in_one_line(load_baseline, text)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_any_text(text: str) -> None:
    check(text)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values)
def test_any_yaml_value(value: Any) -> None:
    check(yaml.safe_dump(value, allow_unicode=True))


ITEM_KEYS = sorted({key for item in GOOD["items"] for key in item})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(GOOD["items"]) - 1), st.sampled_from(ITEM_KEYS), values)
def test_one_item_field_replaced(index: int, key: str, value: Any) -> None:
    doc = copy.deepcopy(GOOD)
    doc["items"][index][key] = value
    check(yaml.safe_dump(doc, allow_unicode=True))
