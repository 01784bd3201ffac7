"""The runbook loader: strict schema, one-line errors naming file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from hisops.errors import InventoryError, ParameterError, RunbookError
from hisops.inventory import Inventory
from hisops.runbook.loader import load_runbook
from hisops.runbook.params import resolve_parameters
from hisops.runbook.planner import build_plan

from ..conftest import DATA

GOOD = (DATA / "runbooks" / "good.yml").read_text()


def write(tmp_path: Path, text: str, name: str = "rb.yml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_for(tmp_path: Path, text: str) -> RunbookError:
    with pytest.raises(RunbookError) as info:
        load_runbook(write(tmp_path, text))
    return info.value


def test_good_runbook_loads() -> None:
    loaded = load_runbook(DATA / "runbooks" / "good.yml")
    assert [s.id for s in loaded.runbook.steps] == ["probe", "check_probe", "change", "gate"]
    assert loaded.runbook.parameters["db_password"].secret


@pytest.mark.parametrize(
    ("old", "new", "line", "field", "words"),
    [
        ("    read_only: true\n", "    read_only: true\n    bogus: 1\n", 26, "steps[0].bogus",
         "unknown field"),
        ("  count:\n    type: int\n    default: 2\n", "  count:\n    type: int\n    default: 2\n"
         "    colour: red\n", 10, "parameters.count.colour", "unknown field"),
        ("    kind: assert\n    that: [\"steps", "    kind: asert\n    that: [\"steps", 30,
         "steps[1].kind", "unknown step kind 'asert'"),
        ("    four_eyes: true", "    four_eyes: 'yes'", 43, "steps[3].four_eyes",
         "valid boolean"),
        ("command: touch /tmp/x", "command: touch {{ params.nope }}", 35, "steps[2].command",
         "unknown parameter 'nope'"),
        ("    check: test -f /tmp/x\n", "    check: test -f /tmp/x\n    retries: many\n", 37,
         "steps[2].retries", "valid integer"),
        ("    type: duration\n", "    type: interval\n", 11, "parameters.wait.type", "Input"),
        ("- id: gate", "- id: Gate!", 41, "steps[3].id", "pattern"),
    ],
)
def test_broken_field_names_file_line_and_field(
    tmp_path: Path, old: str, new: str, line: int, field: str, words: str
) -> None:
    assert old in GOOD, old
    err = error_for(tmp_path, GOOD.replace(old, new, 1))
    text = err.one_line()
    assert "\n" not in text
    assert err.file
    assert err.file.endswith("rb.yml")
    assert err.field == field
    assert err.line == line
    assert words in text


def test_missing_required_field(tmp_path: Path) -> None:
    err = error_for(tmp_path, "name: x\nsteps:\n  - {id: a, kind: assert, that: ['true']}\n")
    assert err.field == "summary"
    assert "required" in err.one_line()


def test_malformed_yaml_gives_line(tmp_path: Path) -> None:
    err = error_for(tmp_path, "name: x\nsummary: [unclosed\nsteps: []\n")
    assert err.line is not None
    assert err.line >= 2
    assert "invalid YAML" in err.one_line()


def test_duplicate_key_is_an_error(tmp_path: Path) -> None:
    err = error_for(tmp_path, "name: x\nname: y\nsummary: s\nsteps: []\n")
    assert err.line == 2
    assert "duplicate" in err.one_line()


def test_duplicate_step_ids(tmp_path: Path) -> None:
    text = ("name: x\nsummary: s\nsteps:\n  - {id: a, kind: assert, that: ['true']}\n"
            "  - {id: a, kind: assert, that: ['true']}\n")
    assert "duplicate step id" in error_for(tmp_path, text).one_line()


def test_secret_with_default_is_refused(tmp_path: Path) -> None:
    text = GOOD.replace("    secret: true", "    secret: true\n    default: hunter2")
    assert "secret parameter cannot have a default" in error_for(tmp_path, text).one_line()


def test_missing_playbook_is_named(tmp_path: Path) -> None:
    text = ("name: x\nsummary: s\nsteps:\n  - id: a\n    kind: playbook\n    hosts: all\n"
            "    playbook: nowhere.yml\n")
    err = error_for(tmp_path, text)
    assert err.field == "steps[0].playbook"
    assert err.line == 7


def test_bad_expression_syntax(tmp_path: Path) -> None:
    text = GOOD.replace("that: [\"steps.probe.status == 'ok'\"]", "that: [\"steps.probe ==\"]")
    err = error_for(tmp_path, text)
    assert err.field == "steps[1].that[0]"


def inventory() -> Inventory:
    return Inventory(DATA / "inventories" / "local.yml")


def test_unknown_parameter_on_command_line() -> None:
    loaded = load_runbook(DATA / "runbooks" / "good.yml")
    with pytest.raises(ParameterError) as info:
        resolve_parameters(loaded.runbook.parameters, {"colour": "red"}, inventory=inventory(),
                           runbook_file="good.yml", environ={})
    assert "-e colour" in info.value.one_line()


def test_wrong_type_on_command_line() -> None:
    loaded = load_runbook(DATA / "runbooks" / "good.yml")
    with pytest.raises(ParameterError) as info:
        resolve_parameters(loaded.runbook.parameters, {"count": "two"}, inventory=inventory(),
                           runbook_file="good.yml", environ={})
    assert "parameter count" in info.value.one_line()
    assert "int" in info.value.one_line()


def test_secret_refused_on_command_line() -> None:
    loaded = load_runbook(DATA / "runbooks" / "good.yml")
    with pytest.raises(ParameterError):
        resolve_parameters(loaded.runbook.parameters, {"db_password": "x"},
                           inventory=inventory(), runbook_file="good.yml", environ={})


def test_missing_group_names_step_field(tmp_path: Path) -> None:
    text = GOOD.replace("hosts: db_standby\n    command: touch", "hosts: db_replica\n    command: "
                        "touch")
    loaded = load_runbook(write(tmp_path, text))
    params, secrets = resolve_parameters(loaded.runbook.parameters, {}, inventory=inventory(),
                                         runbook_file=str(loaded.path), environ={})
    with pytest.raises(InventoryError) as info:
        build_plan(loaded, inventory(), params=params, secrets=secrets)
    assert info.value.field == "steps[2].hosts"
    assert "db_replica" in info.value.one_line()


def test_broken_inventory_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "all:\n  children:\n    db:\n      hostz:\n        a: {}\n", "inv.yml")
    with pytest.raises(InventoryError) as info:
        Inventory(path)
    assert info.value.line == 4
    assert info.value.field == "all.children.db.hostz"


def test_unknown_parameter_in_targets(tmp_path: Path) -> None:
    err = error_for(tmp_path, GOOD.replace("targets: [db_primary, db_standby]",
                                           "targets: [db_primary, '{{ params.scope }}']"))
    assert err.field == "targets[1]"
    assert err.line == 16
    assert "unknown parameter 'scope'" in err.one_line()


def test_number_parameters_take_decimals_and_refuse_the_rest() -> None:
    from hisops.errors import ParameterError
    from hisops.runbook.model import Parameter
    from hisops.runbook.params import coerce

    spec = Parameter(type="number", default=0.1)
    assert coerce("tolerance", spec, "0.25", None) == 0.25
    assert coerce("tolerance", spec, 2, None) == 2.0
    for bad in ("lots", "nan", "inf", True):
        with pytest.raises(ParameterError, match="not a valid number"):
            coerce("tolerance", spec, bad, None)


def test_a_key_with_a_line_break_still_gives_one_line(tmp_path: Path) -> None:
    # found by the loader fuzzer: a parameter named "\n" made a two-line error
    path = tmp_path / "rb.yml"
    path.write_text('name: x\nsummary: y\nparameters:\n  "\\n": {type: str}\n'
                    'steps: [{id: a, kind: assert, that: ["true"]}]\n')
    with pytest.raises(RunbookError) as err:
        load_runbook(path)
    assert "\n" not in str(err.value)
    assert "parameters.\\n" in str(err.value)


@pytest.mark.parametrize(("body", "line", "field"), [
    ("    kind: role\n    role: pg_backup\n    hosts: all\n    bogus: 1\n", 8, "steps[0].bogus"),
    ("    kind: role\n    role: Bad!\n    hosts: all\n", 6, "steps[0].role"),
    ("    kind: playbook\n    playbook: x.yml\n    hosts: all\n    colour: red\n", 8,
     "steps[0].colour"),
])
def test_kind_named_like_a_field_still_names_the_field(
    tmp_path: Path, body: str, line: int, field: str,
) -> None:
    # pydantic puts the kind tag in an error's location; kind: role also has a role: field
    err = error_for(tmp_path, "name: x\nsummary: s\nsteps:\n  - id: a\n" + body)
    assert (err.field, err.line) == (field, line)
