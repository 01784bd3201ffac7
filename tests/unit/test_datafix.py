"""Data corrections without a database: the SQL text (binds, what a statement may be), the
spec's bounds, the loader's one-line errors, the plan (binds, rows planned in the hash), and
what leaves the database (personal data redacted)."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from hisops.datafix.common import RowChange
from hisops.datafix.preview import journaled_row_counts
from hisops.datafix.spec import MAX_ROWS_PER_TARGET, parse_spec, row_range
from hisops.datafix.sqltext import FIX_VERBS, SqlTextError, check_statement, parse
from hisops.datafix.task import REDACTED, change_rows, redactor
from hisops.errors import RunbookError
from hisops.inventory import Inventory
from hisops.runbook.loader import load_runbook
from hisops.runbook.params import resolve_parameters
from hisops.runbook.planner import build_plan
from hisops.tasks import BadArgument

from ..conftest import DATA

RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"


# --- SQL text -------------------------------------------------------------------------------

def test_binds_become_psycopg_placeholders_outside_literals_comments_and_casts() -> None:
    got = parse("UPDATE t SET a = :new::int, b = 'x:y %' -- :nope\n"
                "WHERE c = :id AND d LIKE 'a%' /* :no */ AND e = $$:none$$ AND f = :id;")
    assert got.binds == ("new", "id")
    assert got.psycopg == ("UPDATE t SET a = %(new)s::int, b = 'x:y %%' -- :nope\n"
                           "WHERE c = %(id)s AND d LIKE 'a%%' /* :no */ AND e = $$:none$$ "
                           "AND f = %(id)s")
    assert got.words[:2] == ("update", "t")


def test_quotes_inside_literals_and_names_are_kept() -> None:
    got = parse("SELECT 'it''s :x', \"odd\"\"name:y\" FROM t WHERE a = :z")
    assert got.binds == ("z",)


@pytest.mark.parametrize(("text", "message"), [
    ("UPDATE t SET a = 1; DELETE FROM t", "one statement per entry"),
    ("UPDATE t SET a = 'open", "unterminated ' quoted text"),
    ("UPDATE t SET a = 1 /* open", "unterminated /* comment"),
    ("COMMIT", "must start with DELETE or UPDATE or WITH, not COMMIT"),
    ("CALL fix_everything()", "not CALL"),
    ("SET session_replication_role = replica", "not SET"),
    ("TRUNCATE his.billing", "not TRUNCATE"),
    ("-- nothing", "is empty"),
])
def test_statements_a_fix_may_not_run(text: str, message: str) -> None:
    with pytest.raises(SqlTextError, match=re.escape(message)):
        check_statement(text, FIX_VERBS, "a fix")


# --- bounds and spec ------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "low", "high"), [(3, 3, 3), ("3", 3, 3), ("0..50", 0, 50),
                                                     (" 2 .. 4 ", 2, 4)])
def test_row_bounds(value: Any, low: int, high: int) -> None:
    bound = row_range("x", value)
    assert (bound.low, bound.high) == (low, high)
    assert bound.holds(low) and bound.holds(high)  # noqa: PT018
    assert not bound.holds(high + 1)


@pytest.mark.parametrize("value", [True, "many", "5..2", -1, "1..", MAX_ROWS_PER_TARGET + 1])
def test_bad_row_bounds(value: Any) -> None:
    with pytest.raises(BadArgument):
        row_range("expect_rows", value)


ARGS: dict[str, Any] = {
    "find": [{"table": "his.billing", "key": ["bill_id"], "where": "t.bill_id = :bill_id",
              "expect_rows": 1}],
    "fix": ["UPDATE his.billing SET paid = true WHERE bill_id = :bill_id"],
    "binds": {"bill_id": 7}}


@pytest.mark.parametrize(("change", "arg", "message"), [
    ({"binds": {}}, "binds", "no value for :bill_id"),
    ({"find": ARGS["find"] * 2}, "find[1].table", "found twice"),
    ({"engine": "oracle"}, "engine", "not available yet"),
    ({"fix": ["UPDATE his.billing SET note = '{{ params.x }}'"]}, "fix[0]",
     "templates are not allowed"),
    ({"fix": []}, "fix", "at least one statement"),
])
def test_bad_specs_name_the_argument(change: dict[str, Any], arg: str, message: str) -> None:
    with pytest.raises(BadArgument, match=message) as info:
        parse_spec({**copy.deepcopy(ARGS), **change})
    assert info.value.arg == arg


# --- the loader: one line naming file and field ---------------------------------------------

def _example(tmp_path: Path, edit: Any) -> Path:
    doc = yaml.safe_load((RUNBOOKS / "datafix-billing-paid.yml").read_text())
    edit(doc)
    path = tmp_path / "fix.yml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    return path


def _set_fix(doc: dict[str, Any], text: str) -> None:
    doc["steps"][0]["fix"][0] = text


@pytest.mark.parametrize(("edit", "field", "message"), [
    (lambda d: _set_fix(d, "UPDATE his.billing SET paid = :nope"), "steps[0].fix[0]",
     ":nope is not a parameter of this runbook"),
    (lambda d: (d["parameters"].update(pin={"type": "str", "secret": True}),
                _set_fix(d, "UPDATE his.billing SET payment = :pin")), "steps[0].fix[0]",
     ":pin is a secret parameter"),
    (lambda d: _set_fix(d, "UPDATE his.billing SET paid = {{ params.bill_id }}"),
     "steps[0].fix[0]", "templates are not allowed in SQL"),
    (lambda d: _set_fix(d, "COMMIT"), "steps[0].fix[0]", "not COMMIT"),
    (lambda d: d["steps"][0]["verify"][0].update(sql="DELETE FROM his.billing"),
     "steps[0].verify[0].sql", "must start with SELECT or WITH"),
    (lambda d: d["steps"][0]["find"][0].update(colour="red"), "steps[0].find[0].colour",
     "unknown field"),
    (lambda d: d["steps"][0]["find"][0].update(table="billing"), "steps[0].find[0].table",
     "pattern"),
    (lambda d: d["steps"][0].update(engine="oracle"), "steps[0].engine", "not available yet"),
    (lambda d: d["steps"][0].update(lock_timeout="soon"), "steps[0].lock_timeout", ""),
])
def test_bad_sql_steps_are_one_line_errors(tmp_path: Path, edit: Any, field: str,
                                           message: str) -> None:
    path = _example(tmp_path, edit)
    with pytest.raises(RunbookError) as info:
        load_runbook(path)
    text = str(info.value)
    assert "\n" not in text
    assert str(path) in text
    assert field in text, text
    assert message in text, text


def test_shipped_datafix_runbooks_load() -> None:
    for name in ("datafix-billing-paid", "datafix-discharge-date", "datafix-merge-patient",
                 "datafix-undo"):
        assert load_runbook(RUNBOOKS / f"{name}.yml").runbook.name == name


# --- the plan -------------------------------------------------------------------------------

def _plan(rows: dict[str, dict[str, list[int]]] | None = None, **given: str) -> Any:
    path = RUNBOOKS / "datafix-merge-patient.yml"
    loaded = load_runbook(path)
    inv = Inventory(DATA / "inventories" / "local.yml")
    params, secrets = resolve_parameters(
        loaded.runbook.parameters, {"keep": "1", "duplicate": "2", "ticket": "T-1", **given},
        inventory=inv, runbook_file=str(path), environ={})
    return build_plan(loaded, inv, params=params, secrets=secrets, row_counts=rows)


def test_a_sql_step_plans_as_the_datafix_task_with_binds_and_rendered_bounds() -> None:
    plan = _plan(visits="2")
    step = plan.step("merge")
    assert step.kind == "sql"
    assert step.idempotent
    assert step.action.task == "datafix"
    args = step.action.args
    assert args["binds"] == {"duplicate": 2, "keep": 1}  # only what the SQL names
    assert args["find"][0]["expect_rows"] == "2"
    assert args["find"][1]["expect_rows"] == "0..500"
    assert args["lock_timeout_s"] == 5
    assert "planned_rows" not in args
    assert step.action.describe().startswith("sql on his: 6 statement(s) on his.outpatient")


def test_rows_seen_when_planning_are_in_the_hash_and_survive_the_journal() -> None:
    counted = {"merge": {"db-a": [2, 3, 0, 0, 0, 1]}}
    plain, planned = _plan(), _plan(counted)
    again, other = _plan(counted), _plan({"merge": {"db-a": [2, 4, 0, 0, 0, 1]}})
    assert planned.hash == again.hash
    assert len({plain.hash, planned.hash, other.hash}) == 3
    assert journaled_row_counts(planned.as_dict()) == counted
    assert _plan(journaled_row_counts(planned.as_dict())).hash == planned.hash


def test_a_bad_rendered_bound_names_the_field() -> None:
    with pytest.raises(RunbookError, match=r"steps\[0\]\.find\[0\]\.expect_rows"):
        _plan(visits="lots")


# --- what leaves the database ---------------------------------------------------------------

def test_personal_data_is_redacted_by_the_masking_policy() -> None:
    red = redactor("masking/his.yml")
    before = {"patient_id": 9, "name": "张三", "id_number": "110101199001011234",
              "sex": "M", "phone": None}
    rows = change_rows([RowChange("his.patients", {"patient_id": 9}, before, None),
                        RowChange("his.billing", {"bill_id": 1}, {"bill_id": 1, "paid": False},
                                     {"bill_id": 1, "paid": False})], red)
    assert len(rows) == 1  # an unchanged row is not listed
    columns = rows[0]["columns"]
    assert columns["name"] == [REDACTED, None]
    assert columns["id_number"] == [REDACTED, None]
    assert columns["sex"] == ["M", None]
    assert "phone" not in columns  # NULL before and after: no change
    assert "张三" not in repr(rows)


def test_no_policy_redacts_nothing() -> None:
    assert redactor(None).row("his.patients", {"name": "x"}) == {"name": "x"}


def test_exact_json_writes_decimals_as_they_are() -> None:
    from decimal import Decimal

    from hisops.datafix.common import exact_json

    value = {"amount": Decimal("12345678901234567890.1234567891"), "tiny": Decimal("-1E-10"),
             "list": [Decimal("15.00"), 1.5, None, True, "引号\"和\\"], "nested": {"n": 3}}
    text = exact_json(value)
    assert '"amount": 12345678901234567890.1234567891' in text
    assert '"tiny": -1E-10' in text
    assert "[15.00, 1.5, null, true" in text
    assert json.loads(text, parse_float=Decimal) == value
