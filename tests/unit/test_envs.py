"""Environments from inventory groups, the refresh's guards and arguments, env diff's
comparison: everything that needs no database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hisops.envs import dbconn
from hisops.envs.diff import compare
from hisops.envs.environments import environment, environments
from hisops.envs.post_refresh import validate
from hisops.errors import ExecutorError, InputError
from hisops.inventory import Inventory
from hisops.tasks import BadArgument

EXAMPLE = Path(__file__).resolve().parents[2] / "inventories" / "production.example"


def test_environments_are_env_groups_with_their_protection() -> None:
    inv = Inventory(EXAMPLE)
    found = {e.group: e for e in environments(inv)}
    assert set(found) == {"env_production", "env_test"}
    prod, test = found["env_production"], found["env_test"]
    assert (prod.name, prod.protected, prod.four_eyes) == ("production", True, True)
    assert (test.name, test.protected, test.four_eyes) == ("test", False, False)
    assert prod.databases[:2] == ("his-db-1.hospital.example", "emr-db-1.hospital.example")
    assert test.databases == ("his-test-db-1.hospital.example",
                              "emr-test-db-1.hospital.example")


def test_unknown_environment_is_bad_input() -> None:
    with pytest.raises(InputError, match="no environment group 'env_prod'.*env_production"):
        environment(Inventory(EXAMPLE), "env_prod")


def test_remote_databases_are_reached_through_ssh_loopback_ones_directly() -> None:
    assert dbconn.via_ssh({"ansible_host": "10.20.0.5"}, "emr-db-1")
    assert dbconn.via_ssh({}, "emr-db-1.hospital.example")
    assert not dbconn.via_ssh({"ansible_host": "10.20.0.5", "hisops_db_direct": True}, "x")
    assert not dbconn.via_ssh({"ansible_host": "127.0.0.1"}, "his-db-1")
    assert dbconn.via_ssh({"ansible_host": "127.0.0.1", "hisops_db_via_ssh": True}, "x")


def test_password_comes_from_the_secret_or_the_file(tmp_path: Path) -> None:
    assert dbconn.password_for({}, {"db_password": "pw-from-secret"}) == "pw-from-secret"
    path = tmp_path / "pw"
    path.write_text("pw-from-file\n")
    assert dbconn.password_for({"pg_password_file": str(path)}, {}) == "pw-from-file"
    with pytest.raises(ExecutorError, match="no database password"):
        dbconn.password_for({}, {})


GOOD: dict[str, Any] = {"database": "his", "accounts": ["his_app"], "endpoints": {
    "table": "his_config.interface_endpoints", "name_column": "name", "url_column": "url",
    "stub": "http://127.0.0.1:22406/stub/{name}"}}


@pytest.mark.parametrize(("change", "arg"), [
    ({"accounts": ["his_app; DROP TABLE x"]}, "accounts"),
    ({"accounts": "his_app"}, "accounts"),
    ({"endpoints": {**GOOD["endpoints"], "table": "interface_endpoints"}}, "endpoints"),
    ({"endpoints": {**GOOD["endpoints"], "stub": "http://stub/"}}, "endpoints"),
    ({"endpoints": {**GOOD["endpoints"], "colour": "red"}}, "endpoints"),
])
def test_post_refresh_arguments_are_checked_at_plan_time(change: dict[str, Any],
                                                         arg: str) -> None:
    validate(GOOD)
    with pytest.raises(BadArgument) as info:
        validate({**GOOD, **change})
    assert info.value.arg == arg


def test_diff_names_each_difference_with_both_sides() -> None:
    prod = {"version": "15.20", "settings": {"work_mem": "64MB", "log_statement": "ddl",
                                             "max_worker_processes": "8", "jit": "on"},
            "configured": ["work_mem", "log_statement", "max_worker_processes"],
            "extensions": {"pg_stat_statements": "1.10"},
            "baselines": {"cis-postgresql-15": {"drift": []}}}
    # max_worker_processes: configured on one side to its default: no difference; jit
    # differs but nobody configured it on either side (a build difference): not shown
    test = {"version": "15.18", "settings": {"work_mem": "4MB", "log_statement": "ddl",
                                             "max_worker_processes": "8", "jit": "off"},
            "configured": ["log_statement"],
            "extensions": {}, "baselines": {"cis-postgresql-15": {"drift": ["cis-3.1.20"]}}}
    found = compare(prod, test)
    assert found["version"] == ["15.20", "15.18"]
    assert found["settings"] == {"work_mem": ["64MB", "4MB"]}
    assert found["extensions"] == {"pg_stat_statements": ["1.10", None]}
    assert found["baseline_drift"] == {"cis-postgresql-15": [[], ["cis-3.1.20"]]}
    assert not any(compare(prod, prod).values())


def test_refresh_of_a_protected_environment_is_refused_before_anything(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from hisops.cli import main_group

    base = ["--journal", str(tmp_path / "j.sqlite3"), "env", "refresh", "-i", str(EXAMPLE),
            "--yes"]
    refused = CliRunner().invoke(main_group, [*base, "--from", "env_test",
                                              "--to", "env_production"])
    assert refused.exit_code == 3, refused.output
    assert "is protected (production)" in refused.output
    unknown = CliRunner().invoke(main_group, [*base, "--from", "env_production",
                                              "--to", "env_nowhere"])
    assert unknown.exit_code == 2, unknown.output
    assert "no environment group 'env_nowhere'" in unknown.output
    several = CliRunner().invoke(main_group, [*base, "--from", "env_production",
                                              "--to", "env_test"])
    assert several.exit_code == 2, several.output
    assert "env_test has 2 database hosts" in several.output
    oracle = CliRunner().invoke(main_group, [*base, "--from", "env_production", "--to",
                                             "env_test", "--host",
                                             "his-test-db-1.hospital.example"])
    assert oracle.exit_code == 2, oracle.output
    assert "is an oracle database" in oracle.output
    no_drill = CliRunner().invoke(main_group, [*base, "--from", "env_production",
                                               "--to", "env_test", "--host",
                                               "emr-test-db-1.hospital.example"])
    assert no_drill.exit_code == 3, no_drill.output
    assert "no verified restore of his in the journal" in no_drill.output


def test_mask_task_guards_every_identifying_column_of_the_policy() -> None:
    from hisops.envs.mask_task import guarded_columns
    from hisops.masking.policy import load_policy
    from hisops.pii import ColumnRef

    policy = load_policy(Path(__file__).resolve().parents[2] / "masking" / "his.yml")
    refs, row_only = guarded_columns(policy)
    assert {ColumnRef("his", "patients", c) for c in ("name", "id_number", "phone",
                                                       "address")} <= set(refs)
    assert ColumnRef("his", "outpatient_visits", "visit_time") in refs
    assert row_only == refs
