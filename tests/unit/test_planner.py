"""Plans: hosts per step, locks, rendered commands and a stable plan hash."""

from __future__ import annotations

from pathlib import Path

import pytest

from hisops.errors import RunbookError
from hisops.inventory import Inventory
from hisops.runbook.loader import load_runbook
from hisops.runbook.params import SecretStore, resolve_parameters
from hisops.runbook.planner import Plan, build_plan

from ..conftest import DATA


def make_plan(path: Path = DATA / "runbooks" / "good.yml", given: dict[str, str] | None = None,
              limit: str | None = None, environ: dict[str, str] | None = None) -> Plan:
    loaded = load_runbook(path)
    inv = Inventory(DATA / "inventories" / "local.yml")
    params, secrets = resolve_parameters(loaded.runbook.parameters, given or {}, inventory=inv,
                                         runbook_file=str(path), environ=environ or {})
    return build_plan(loaded, inv, params=params, secrets=secrets, limit=limit)


def test_hosts_and_locks_resolved() -> None:
    plan = make_plan()
    assert plan.step("probe").hosts == ("db-a",)
    assert plan.step("change").hosts == ("db-b",)
    assert plan.lock_hosts == ("db-a", "db-b")  # targets; the read-only probe adds nothing new
    assert plan.step("probe").action is not None
    assert plan.step("probe").action.command == "echo hello"
    assert plan.params["wait"] == 300


def test_same_inputs_same_hash_and_any_change_changes_it() -> None:
    assert make_plan().hash == make_plan().hash
    assert make_plan(given={"greeting": "hi"}).hash != make_plan().hash
    assert make_plan(limit="db-a").hash != make_plan().hash


def test_secret_value_does_not_enter_the_hash_or_the_plan() -> None:
    one = make_plan(environ={"HISOPS_SECRET_DB_PASSWORD": "canary-one-1234"})
    two = make_plan(environ={"HISOPS_SECRET_DB_PASSWORD": "canary-two-5678"})
    assert one.hash == two.hash
    assert "canary" not in repr(one.as_dict())
    assert one.secret_names == ("db_password",)


def test_limit_narrows_hosts() -> None:
    plan = make_plan(limit="db-b")
    assert plan.step("probe").hosts == ()
    assert plan.step("change").hosts == ("db-b",)


def test_secret_in_command_is_refused(tmp_path: Path) -> None:
    text = (DATA / "runbooks" / "good.yml").read_text().replace(
        "command: touch /tmp/x", "command: echo {{ params.db_password }}")
    path = tmp_path / "rb.yml"
    path.write_text(text)
    with pytest.raises(RunbookError) as info:
        make_plan(path, environ={"HISOPS_SECRET_DB_PASSWORD": "s3cret-value"})
    assert info.value.field == "steps[2].command"
    assert "s3cret" not in info.value.one_line()


def test_secret_store_redacts() -> None:
    store = SecretStore({"pw": "topsecret"})
    assert store.redact_obj({"a": ["x topsecret y"]}) == {"a": ["x ******** y"]}
    assert "topsecret" not in repr(store)


def test_guards_without_checks_hash_as_before() -> None:
    # Only check guards carry check/args/waiver in the hashed body: plans of runbooks without
    # them keep the hash they had before check guards existed, so those runs still resume.
    (guard,) = make_plan().as_dict()["guards"]
    assert set(guard) == {"name", "kind", "hosts", "command", "that", "expect"}


def test_check_guard_args_and_waiver_enter_the_hash(tmp_path: Path) -> None:
    text = (DATA / "runbooks" / "good.yml").read_text().replace("guards:\n", (
        "guards:\n"
        "  - {name: restore verified, kind: check, check: verified_restore,\n"
        "     args: {database: his, max_age: 24h}, waiver: unverified-backup}\n"))
    path = tmp_path / "rb.yml"
    path.write_text(text)
    base = make_plan(path)
    assert base.guards[0].args == {"database": "his", "max_age": "24h"}
    assert base.as_dict()["guards"][0]["waiver"] == "unverified-backup"
    for old, new in (("max_age: 24h", "max_age: 25h"), ("database: his", "database: lab"),
                     ("waiver: unverified-backup", "waiver: other")):
        path.write_text(text.replace(old, new))
        changed = make_plan(path)
        assert changed.hash != base.hash, new
        # the runbook's bytes are hashed too: prove the rendered guard differs on its own
        assert changed.as_dict()["guards"][0] != base.as_dict()["guards"][0]
