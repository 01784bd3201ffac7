"""Fuzz the masking policy loader: whatever the input, it loads or raises one InputError line.

A malformed policy must stop `hisops plan refresh-env` / `run` at exit 2 with one readable line
naming the file, before any database is touched: no traceback on any input.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hisops.masking.policy import METHODS, load_policy
from tests.fuzzing import loads_or_fails_in_one_line, values

from ..conftest import ROOT

GOOD = yaml.safe_load((ROOT / "masking" / "his.yml").read_text(encoding="utf-8"))
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check(text: str) -> None:
    loads_or_fails_in_one_line(load_policy, text)


@FUZZ
@given(st.text(max_size=300))
def test_any_text(text: str) -> None:
    check(text)


@FUZZ
@given(values)
def test_any_yaml_value(value: Any) -> None:
    check(yaml.safe_dump(value, allow_unicode=True))


TOP_KEYS = ["version", "settings", "tables", "extra"]
SETTINGS_KEYS = ["date_shift_days", "redact_marker", "rounds", "parallel_workers", "other"]
OPTIONS = ["method", "birth", "region", "mode", "patterns", "marker", "per", "days", "value",
           "other"]
regexes = st.one_of(st.text(max_size=8), st.sampled_from(["(", "a*", "[", "\\", "(?P<x>", "x{2,1}",
                                                          "(?<=a+)b", ""]))


@FUZZ
@given(st.sampled_from(TOP_KEYS), values)
def test_top_level_field_replaced(key: str, value: Any) -> None:
    doc = copy.deepcopy(GOOD)
    doc[key] = value
    check(yaml.safe_dump(doc, allow_unicode=True))


@FUZZ
@given(st.sampled_from(SETTINGS_KEYS), values)
def test_setting_replaced(key: str, value: Any) -> None:
    doc = copy.deepcopy(GOOD)
    doc["settings"][key] = value
    check(yaml.safe_dump(doc, allow_unicode=True))


@FUZZ
@given(st.integers(0, len(GOOD["tables"]) - 1),
       st.one_of(st.text(max_size=12), st.integers(), st.booleans(), st.none()),
       st.one_of(st.sampled_from(METHODS), values,
                 st.dictionaries(st.sampled_from(OPTIONS),
                                 st.one_of(st.sampled_from(METHODS), values,
                                           st.lists(regexes, max_size=3)), max_size=4)))
def test_one_column_replaced(index: int, column: Any, method: Any) -> None:
    doc = copy.deepcopy(GOOD)
    doc["tables"][index]["columns"][column] = method
    check(yaml.safe_dump(doc, allow_unicode=True))


@FUZZ
@given(st.integers(0, len(GOOD["tables"]) - 1), st.sampled_from(["table", "columns", "other"]),
       values)
def test_one_table_field_replaced(index: int, key: str, value: Any) -> None:
    doc = copy.deepcopy(GOOD)
    doc["tables"][index][key] = value
    check(yaml.safe_dump(doc, allow_unicode=True))


@FUZZ
@given(st.lists(regexes, min_size=1, max_size=3), st.sampled_from(["blank", "redact", "x"]))
def test_text_patterns(patterns: list[str], mode: str) -> None:
    doc = copy.deepcopy(GOOD)
    doc["tables"][0]["columns"]["notes"] = {"method": "text", "mode": mode, "patterns": patterns}
    check(yaml.safe_dump(doc, allow_unicode=True))
