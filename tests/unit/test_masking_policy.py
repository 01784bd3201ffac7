"""Masking policies: the shipped policy loads; every bad policy is one line naming file:line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from hisops.errors import ExitStatus
from hisops.masking import PolicyError, load_policy
from hisops.masking.policy import DateShift, IdNumberCn, NameZh, Text

ROOT = Path(__file__).resolve().parents[2]

GOOD = """\
version: 1
tables:
  - table: his.patients
    columns:
      name: name_zh
      id_number: {method: id_number_cn, region: shift}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yml"
    path.write_text(textwrap.dedent(text))
    return path


def _error(tmp_path: Path, text: str) -> PolicyError:
    with pytest.raises(PolicyError) as caught:
        load_policy(_write(tmp_path, text))
    assert caught.value.exit_status == ExitStatus.BAD_INPUT
    assert "\n" not in str(caught.value)
    return caught.value


def test_the_shipped_his_policy_loads() -> None:
    policy = load_policy(ROOT / "masking" / "his.yml")
    patients = {t.table: t for t in policy.tables}["his.patients"]
    assert isinstance(patients.columns["name"], NameZh)
    assert patients.columns["id_number"] == IdNumberCn(method="id_number_cn", birth="keep",
                                                       region="shift")
    dated = [t for t in policy.tables if any(isinstance(c, DateShift)
                                             for c in t.columns.values())]
    # every table with a patient's dates shifts them by the same per-patient key
    assert len(dated) == 6
    assert all(c.per == "patient_id" for t in dated for c in t.columns.values()
               if isinstance(c, DateShift))
    assert len(policy.digest) == 64


def test_shorthand_and_long_form_mean_the_same(tmp_path: Path) -> None:
    policy = load_policy(_write(tmp_path, GOOD))
    columns = policy.tables[0].columns
    assert columns["name"] == NameZh(method="name_zh")
    assert columns["id_number"].model_dump() == {"method": "id_number_cn", "birth": "keep",
                                                 "region": "shift"}


@pytest.mark.parametrize(("body", "line", "field", "message"), [
    ("      name: {method: name_fake}\n", 5, "tables[0].columns.name.method",
     "unknown method 'name_fake'"),
    ("      name: name_fake\n", 5, "tables[0].columns.name.method",
     "unknown method 'name_fake'"),
    ("      name: {birth: keep}\n", 5, "tables[0].columns.name.method", "method is missing"),
    ("      id_number: {method: id_number_cn, sex: shift}\n", 5,
     "tables[0].columns.id_number.sex", "unknown option"),
    ("      id_number:\n        method: id_number_cn\n        birth: later\n", 7,
     "tables[0].columns.id_number.birth", "'keep' or 'shift'"),
    ("      visit_time: {method: date_shift, per: patient_id, days: many}\n", 5,
     "tables[0].columns.visit_time.days", "valid integer"),
    ("      visit_time: {method: date_shift}\n", 5, "tables[0].columns.visit_time.per",
     "required field is missing"),
    ("      note: {method: text, patterns: ['[unclosed']}\n", 5,
     "tables[0].columns.note.patterns", "bad regex '[unclosed'"),
    ("      note: {method: text, patterns: ['x*']}\n", 5, "tables[0].columns.note.patterns",
     "matches the empty string"),
    ("      name: name_zh\n      name: address_zh\n", 6, "tables.0.columns.name",
     "duplicate key"),
    ("      bad-name: name_zh\n", 5, "tables[0].columns.bad-name", "should match pattern"),
])
def test_a_bad_column_is_one_line_with_file_line_and_field(
        tmp_path: Path, body: str, line: int, field: str, message: str) -> None:
    text = "version: 1\ntables:\n  - table: his.patients\n    columns:\n" + body
    error = _error(tmp_path, text)
    assert error.line == line, str(error)
    assert error.field == field, str(error)
    assert message in error.message, str(error)
    assert str(error).startswith(f"{tmp_path / 'policy.yml'}:{line}: {field}: ")


def test_a_table_listed_twice_is_an_error(tmp_path: Path) -> None:
    again = "  - table: his.patients\n    columns:\n      phone: phone_cn\n"
    error = _error(tmp_path, GOOD + again)
    assert (error.line, error.field) == (7, "tables[1].table")
    assert "listed twice" in error.message


@pytest.mark.parametrize(("text", "field", "message"), [
    ("version: 2\ntables: []\n", "version", "Input should be 1"),
    ("version: 1\ntables: []\n", "tables", "at least 1 item"),
    ("version: 1\nsettings: {rounds: 2}\ntables: [{table: a.b, columns: {c: null}}]\n",
     "settings.rounds", "greater than or equal to 4"),
    ("version: 1\nsettings: {colour: red}\ntables: [{table: a.b, columns: {c: null}}]\n",
     "settings.colour", "unknown field"),
    ("version: 1\ntables: [{table: patients, columns: {c: null}}]\n", "tables[0].table",
     "should match pattern"),
])
def test_bad_top_level_fields(tmp_path: Path, text: str, field: str, message: str) -> None:
    error = _error(tmp_path, text)
    assert error.field == field, str(error)
    assert message in error.message, str(error)


def test_a_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="file not found"):
        load_policy(tmp_path / "nope.yml")
    error = _error(tmp_path, "version: 1\ntables: [\n")
    assert "invalid YAML" in error.message


def test_the_policy_format_example_in_the_readme_loads(tmp_path: Path) -> None:
    text = (ROOT / "masking" / "README.md").read_text()
    example = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    policy = load_policy(_write(tmp_path, example))
    methods = {t.table: {c: m.method for c, m in t.columns.items()} for t in policy.tables}
    assert methods["his.notes"] == {"body": "text", "memo": "text", "fax": "null"}


def test_text_defaults_to_redact_with_the_settings_marker(tmp_path: Path) -> None:
    policy = load_policy(_write(tmp_path, """\
        version: 1
        settings: {redact_marker: "[X]"}
        tables:
          - table: his.notes
            columns:
              body: text
    """))
    column = policy.tables[0].columns["body"]
    assert isinstance(column, Text)
    assert (column.mode, column.marker, policy.settings.redact_marker) == ("redact", None, "[X]")
