"""The runbook field ``confirm:`` (hosts named with --confirm although not protected), the
``unprotected`` check's ``applies`` switch, and ``hisops run --drill``. No host is reached:
the confirmation and the drill switch are settled before any guard runs."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from hisops.checks import CheckContext, get_check
from hisops.cli import main_group
from hisops.errors import ExitStatus, RunbookError
from hisops.inventory import Inventory
from hisops.journal import open_journal
from hisops.journal.state import fold
from hisops.runbook.loader import load_runbook
from hisops.runbook.params import resolve_parameters
from hisops.runbook.planner import Plan, _hashed_body, build_plan

ROOT = Path(__file__).resolve().parent.parent.parent
EMERGENCY = ROOT / "runbooks" / "emergency-restore.yml"

# the emergency restore's hosts on unreachable local ports: nothing may ever connect to them
INVENTORY = """\
all:
  vars:
    ansible_host: 127.0.0.1
    ansible_port: 9
  children:
    env_lab:
      vars:
        hisops_environment: lab
      children:
        db_primary:
          hosts:
            his-db-1: {}
        db_standby:
          hosts:
            his-db-2: {}
        backup_repo:
          hosts:
            backup-1: {}
    env_production:
      vars:
        hisops_environment: production
        hisops_protected: true
      children:
        prod_db:
          hosts:
            prod-db-1: {}
"""

OVERWRITE = """\
name: overwrite
summary: a runbook that destroys a host's data and so asks for its name
parameters:
  host: {type: host, default: his-db-1}
targets: ["{{ params.host }}"]
confirm: "{{ params.host }}"
steps:
  - id: wipe
    kind: ssh
    hosts: "{{ params.host }}"
    command: "true"
"""
PLAIN = OVERWRITE.replace('confirm: "{{ params.host }}"\n', "")


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def make_plan(tmp_path: Path, text: str = OVERWRITE, limit: str | None = None,
              **given: str) -> Plan:
    loaded = load_runbook(write(tmp_path, "rb.yml", text))
    inv = Inventory(write(tmp_path, "hosts.yml", INVENTORY))
    params, secrets = resolve_parameters(loaded.runbook.parameters, given, inventory=inv,
                                         runbook_file=str(loaded.path), environ={})
    return build_plan(loaded, inv, params=params, secrets=secrets, limit=limit)


def digest_without_confirm(plan: Plan) -> str:
    """The hash the planner computed before ``confirm`` existed."""
    body = _hashed_body(plan.runbook, plan.limit, plan.params, plan.secret_names,
                        plan.guards, plan.steps, plan.lock_hosts)
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"),
                                     default=str).encode()).hexdigest()


# --- the planner ---------------------------------------------------------------------------------


def test_confirm_hosts_is_the_rendered_host_and_typed_confirmation_adds_protected(
    tmp_path: Path,
) -> None:
    plan = make_plan(tmp_path)
    assert plan.confirm_hosts == ("his-db-1",)
    assert plan.protected_hosts == ()
    assert plan.typed_confirmation == ("his-db-1",)
    other = make_plan(tmp_path, host="his-db-2")
    assert other.confirm_hosts == ("his-db-2",)
    # a protected host is in the confirmation whether or not the runbook names it
    both = make_plan(tmp_path, OVERWRITE.replace('targets: ["{{ params.host }}"]',
                                                 'targets: ["{{ params.host }}", prod_db]'))
    assert both.protected_hosts == ("prod-db-1",)
    assert both.confirm_hosts == ("his-db-1",)
    assert both.typed_confirmation == ("his-db-1", "prod-db-1")


def test_typed_confirmation_is_sorted_and_without_duplicates(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, OVERWRITE.replace('confirm: "{{ params.host }}"',
                                                 'confirm: "prod_db:{{ params.host }}"'))
    assert set(plan.confirm_hosts) == {"prod-db-1", "his-db-1"}
    assert plan.typed_confirmation == ("his-db-1", "prod-db-1")


def test_confirm_hosts_are_locked(tmp_path: Path) -> None:
    plan = make_plan(tmp_path, OVERWRITE.replace('targets: ["{{ params.host }}"]',
                                                 "targets: []"))
    assert "his-db-1" in plan.lock_hosts


def test_runbook_without_confirm_hashes_as_before_the_field_existed(tmp_path: Path) -> None:
    plain = make_plan(tmp_path, PLAIN)
    assert plain.confirm_hosts == ()
    assert plain.typed_confirmation == ()
    assert plain.hash == make_plan(tmp_path, PLAIN).hash
    assert plain.hash == digest_without_confirm(plain)


def test_runbook_with_confirm_hashes_the_hosts_to_confirm(tmp_path: Path) -> None:
    plan = make_plan(tmp_path)
    assert plan.hash == make_plan(tmp_path).hash
    assert plan.hash != digest_without_confirm(plan)
    assert plan.as_dict()["confirm_hosts"] == ["his-db-1"]
    assert make_plan(tmp_path, host="his-db-2").hash != plan.hash


def test_confirm_matching_no_host_is_a_runbook_error_on_the_field(tmp_path: Path) -> None:
    with pytest.raises(RunbookError) as info:
        make_plan(tmp_path, limit="his-db-2")  # his-db-1 limited away
    assert info.value.field == "confirm"
    assert info.value.exit_status == ExitStatus.BAD_INPUT
    assert "matches no host" in info.value.one_line()
    assert info.value.line == 6


def test_emergency_restore_asks_to_confirm_the_restored_host(tmp_path: Path) -> None:
    loaded = load_runbook(EMERGENCY)
    inv = Inventory(write(tmp_path, "hosts.yml", INVENTORY))
    params, secrets = resolve_parameters(loaded.runbook.parameters, {"drill": "true"},
                                         inventory=inv, runbook_file=str(EMERGENCY),
                                         environ={})
    plan = build_plan(loaded, inv, params=params, secrets=secrets)
    assert plan.confirm_hosts == ("his-db-1",)
    assert plan.typed_confirmation == ("his-db-1",)
    assert plan.protected_hosts == ()


# --- hisops run: confirmation and --drill, refused before anything runs ---------------------------


def run(tmp_path: Path, *args: str, runbook: str = str(EMERGENCY)) -> Result:
    inv = write(tmp_path, "hosts.yml", INVENTORY)
    env = {"HISOPS_JOURNAL": str(tmp_path / "journal.sqlite3")}
    return CliRunner().invoke(main_group, ["run", runbook, "-i", str(inv), *args], env=env)


def journaled_runs(tmp_path: Path) -> list[str]:
    path = tmp_path / "journal.sqlite3"
    if not path.exists():
        return []
    with open_journal(str(path)) as journal:
        return journal.run_ids()


def test_drill_without_confirm_is_refused_before_any_guard(tmp_path: Path) -> None:
    result = run(tmp_path, "--drill")
    assert result.exit_code == ExitStatus.REFUSED == 3, result.output
    assert "--confirm his-db-1" in result.stderr
    assert "overwrites the data of" in " ".join(result.stderr.split())
    assert journaled_runs(tmp_path) == []


def test_yes_does_not_replace_the_typed_confirmation(tmp_path: Path) -> None:
    result = run(tmp_path, "--drill", "--yes")
    assert result.exit_code == 3, result.output
    assert "--confirm his-db-1" in result.stderr
    assert journaled_runs(tmp_path) == []


def test_wrong_host_confirmed_is_refused_and_names_the_right_one(tmp_path: Path) -> None:
    result = run(tmp_path, "--drill", "--confirm", "his-db-2")
    assert result.exit_code == 3, result.output
    said = " ".join(result.stderr.split())
    assert "--confirm his-db-1" in said
    assert "(you typed: his-db-2)" in said
    assert journaled_runs(tmp_path) == []


def test_confirm_follows_the_host_parameter(tmp_path: Path) -> None:
    # the host restored is the one whose data goes, whichever it is
    result = run(tmp_path, "--drill", "-e", "host=his-db-2", "--confirm", "his-db-1")
    assert result.exit_code == 3, result.output
    assert "--confirm his-db-2" in result.stderr


def test_new_host_mode_confirms_the_new_host_not_the_damaged_primary(tmp_path: Path) -> None:
    result = run(tmp_path, "--drill", "-e", "mode=new-host", "-e", "host=his-db-2",
                 "--confirm", "his-db-1")
    assert result.exit_code == 3, result.output
    assert "--confirm his-db-2" in result.stderr
    assert journaled_runs(tmp_path) == []


def test_drill_on_a_runbook_without_drill_mode_is_bad_usage(tmp_path: Path) -> None:
    result = run(tmp_path, "--drill", runbook="backup")
    assert result.exit_code == 2, result.output
    assert "has no drill mode" in result.stderr
    assert journaled_runs(tmp_path) == []


@pytest.mark.parametrize("value", ["false", "true"])
def test_drill_flag_and_drill_parameter_together_are_bad_usage(tmp_path: Path,
                                                               value: str) -> None:
    result = run(tmp_path, "--drill", "-e", f"drill={value}", "--confirm", "his-db-1")
    assert result.exit_code == 2, result.output
    assert "--drill and -e drill=... given together" in result.stderr
    assert journaled_runs(tmp_path) == []


def test_plan_of_the_drill_shows_the_host_to_confirm(tmp_path: Path) -> None:
    inv = write(tmp_path, "hosts.yml", INVENTORY)
    env = {"HISOPS_JOURNAL": str(tmp_path / "journal.sqlite3")}
    result = CliRunner().invoke(main_group, ["plan", str(EMERGENCY), "-i", str(inv), "-e",
                                             "drill=true", "--json", "--offline"], env=env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["confirm_hosts"] == ["his-db-1"]
    assert data["params"]["drill"] is True


# --- the unprotected check and its applies switch -------------------------------------------------


def context(tmp_path: Path, hosts: tuple[str, ...], **args: Any) -> CheckContext:
    return CheckContext(name="a drill runs on unprotected hosts only", hosts=hosts,
                        inventory=Inventory(write(tmp_path, "hosts.yml", INVENTORY)),
                        args=args, journal=None, now=datetime.now(UTC))


@pytest.mark.parametrize("applies", ["false", "False", False])
def test_unprotected_not_applying_passes_even_on_protected_hosts(tmp_path: Path,
                                                                 applies: object) -> None:
    check = get_check("unprotected").func
    result = check(context(tmp_path, ("prod-db-1", "his-db-1"), applies=applies,
                           reason="a drill rehearses on the lab"))
    assert result.ok
    assert result.notes == ("does not apply to this run",)
    assert result.rows == ()


@pytest.mark.parametrize("applies", ["true", "True", True])
def test_unprotected_applying_refuses_a_protected_host(tmp_path: Path, applies: object) -> None:
    check = get_check("unprotected").func
    result = check(context(tmp_path, ("prod-db-1", "his-db-1"), applies=applies,
                           reason="a drill rehearses on the lab"))
    assert not result.ok
    assert result.problems == (
        "prod-db-1 is protected (environment production): a drill rehearses on the lab",)
    assert result.data == {"hosts": ["prod-db-1", "his-db-1"], "protected": ["prod-db-1"]}
    assert [r["protected"] for r in result.rows] == ["yes", "no"]


def test_unprotected_applies_by_default(tmp_path: Path) -> None:
    result = get_check("unprotected").func(context(tmp_path, ("prod-db-1",)))
    assert result.problems == ("prod-db-1 is protected (environment production): this work "
                               "overwrites it",)


def test_unprotected_applying_passes_on_lab_hosts(tmp_path: Path) -> None:
    result = get_check("unprotected").func(
        context(tmp_path, ("his-db-1", "his-db-2"), applies="true"))
    assert result.ok
    assert result.data["protected"] == []


def test_drill_on_production_is_refused_by_the_unprotected_guard_before_ssh(
    tmp_path: Path,
) -> None:
    # his-db-1 is production here: confirmed by name, the drill still may not touch it
    protected = INVENTORY.replace("            his-db-1: {}\n", "            his-db-0: {}\n"
                                  ).replace("            prod-db-1: {}\n",
                                            "            prod-db-1: {}\n            his-db-1: {}\n")
    inv = write(tmp_path, "hosts.yml", protected)
    env = {"HISOPS_JOURNAL": str(tmp_path / "journal.sqlite3")}
    result = CliRunner().invoke(main_group, ["run", str(EMERGENCY), "-i", str(inv), "--drill",
                                             "--confirm", "his-db-1"], env=env)
    assert result.exit_code == 3, result.output
    said = " ".join(result.stderr.split())
    assert "his-db-1 is protected (environment production)" in said
    assert "a drill rehearses on the lab or a scratch copy, never on production" in said
    (run_id,) = journaled_runs(tmp_path)
    with open_journal(env["HISOPS_JOURNAL"]) as journal:
        state = fold(run_id, journal.records(run_id))
    assert state.steps == {}
    assert [g.get("check") for g in state.guards if g.get("check")] == ["unprotected"]


FOUR_EYES_PRODUCTION = INVENTORY.replace(
    "        hisops_protected: true\n",
    "        hisops_protected: true\n        hisops_four_eyes: true\n").replace(
    "            prod-db-1: {}\n", "            prod-db-1: {}\n        prod_standby:\n"
    "          hosts:\n            prod-db-2: {}\n")


def test_a_real_restore_of_a_four_eyes_production_host_waits_for_a_second_person(
        tmp_path: Path) -> None:
    from hisops.runbook.session import prepare

    inv = write(tmp_path, "hosts.yml", FOUR_EYES_PRODUCTION)
    prepared = prepare(EMERGENCY, inv, given={"host": "prod-db-1", "primary": "prod-db-1",
                                              "standbys": "prod_standby",
                                              "repository": "backup-1"})
    plan = prepared.plan
    assert plan.typed_confirmation == ("prod-db-1", "prod-db-2")
    first = plan.steps[0]
    assert first.kind == "approval"
    assert first.four_eyes  # the operator cannot approve their own run


def test_a_drill_on_production_is_refused_by_its_guard_even_when_confirmed(
        tmp_path: Path) -> None:
    inv = write(tmp_path, "hosts.yml", FOUR_EYES_PRODUCTION)
    env = {"HISOPS_JOURNAL": str(tmp_path / "journal.sqlite3")}
    result = CliRunner().invoke(main_group, [
        "run", str(EMERGENCY), "-i", str(inv), "--drill", "-e", "host=prod-db-1",
        "-e", "primary=prod-db-1", "-e", "standbys=prod_standby",
        "--confirm", "prod-db-1,prod-db-2"], env=env)
    assert result.exit_code == 3, result.output
    assert "a drill runs on unprotected hosts only" in " ".join(result.stderr.split())
