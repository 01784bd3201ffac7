"""Check guards: named, built-in, read-only Python checks, and the waivers that let an
operator start a run although one failed (journaled, with a reason)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from hisops import checks
from hisops.checks import (
    CheckContext,
    CheckResult,
    CheckSpec,
    CheckUnavailable,
    get_check,
    known_checks,
)
from hisops.cli import main_group
from hisops.errors import ExitStatus, InputError, PreconditionFailed, RunbookError
from hisops.inventory import Inventory
from hisops.journal import Journal, open_journal
from hisops.journal import records as rk
from hisops.journal.state import fold
from hisops.runbook.engine import Engine
from hisops.runbook.guards import check_guards, preview_guards
from hisops.runbook.loader import load_runbook
from hisops.runbook.params import resolve_parameters
from hisops.runbook.planner import Plan, build_plan
from hisops.runbook.reporter import NullReporter
from hisops.secrets import SecretStore

from ..conftest import DATA

INVENTORY = DATA / "inventories" / "local.yml"
LABEL = "20261126-054432F"

CHECKED = """\
name: checked
summary: a runbook guarded by a verified restore
parameters:
  stanza: {type: str, default: his}
  verified_within: {type: duration, default: 24h}
guards:
  - name: a restore of this database was verified within 24 h
    kind: check
    check: verified_restore
    args: {database: "{{ params.stanza }}", max_age: "{{ params.verified_within }}"}
    waiver: unverified-backup
steps:
  - id: go
    kind: assert
    that: ["params.stanza == 'his'"]
"""

# the same guard before a step that would reach a host if it ever ran
CHANGING = CHECKED.replace("steps:\n", """\
targets: [db_primary]
steps:
  - id: touch
    kind: ssh
    hosts: db_primary
    command: touch /tmp/hisops-must-not-run
""")


def write(tmp_path: Path, text: str, name: str = "rb.yml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def make_plan(tmp_path: Path, text: str = CHECKED, **given: str
              ) -> tuple[Plan, Inventory, SecretStore]:
    loaded = load_runbook(write(tmp_path, text))
    inv = Inventory(INVENTORY)
    params, secrets = resolve_parameters(loaded.runbook.parameters, given, inventory=inv,
                                         runbook_file=str(loaded.path), environ={})
    return build_plan(loaded, inv, params=params, secrets=secrets), inv, secrets


def plan_error(tmp_path: Path, text: str, **given: str) -> RunbookError:
    with pytest.raises(RunbookError) as info:
        make_plan(tmp_path, text, **given)
    assert info.value.exit_status == ExitStatus.BAD_INPUT
    assert "\n" not in info.value.one_line()
    return info.value


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with open_journal(str(tmp_path / "journal.sqlite3")) as opened:
        yield opened


def drill(journal: Journal, *, passed: bool = True, database: str = "his",
          label: str = LABEL, run_id: str = "verify-1") -> rk.Record:
    """A restore drill's evidence as the verify-backup runbook journals it (stamped now)."""
    finished = datetime.now(UTC) - timedelta(hours=1)
    evidence = {
        "engine": "postgresql", "database": database, "source_host": "his-db-1",
        "scratch_host": "scratch-1",
        "backup": {"label": label, "kind": "full", "finished_at": finished.isoformat()},
        "restore_s": 20.0, "recovery_s": 95.0, "checks_s": 10.0, "rto_s": 125.0,
        "passed": passed,
        "findings": [] if passed else [{"check": "amcheck", "severity": "error",
                                        "subject": "his.patients",
                                        "problem": "index corrupt"}]}
    return journal.append(run_id, rk.EVIDENCE, {"step": "drill", "type": "restore_drill",
                                                "subject": database, "evidence": evidence})


def short(ts: str) -> str:
    return datetime.fromisoformat(ts).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def context(journal: Journal | None, now: datetime | None = None, **args: Any
            ) -> CheckContext:
    return CheckContext(name="guard", hosts=(), inventory=Inventory(INVENTORY),
                        args={"database": "his", **args}, journal=journal,
                        now=now or datetime.now(UTC))


class Notes(NullReporter):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def note(self, text: str) -> None:
        self.lines.append(text)


# --- the registry -----------------------------------------------------------------------------


def test_known_checks_lists_built_ins_without_importing_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(sys.modules, "hisops.checks.evidence", raising=False)
    assert {"verified_restore", "pg_patch_preflight"} <= set(known_checks())
    assert "hisops.checks.evidence" not in sys.modules
    assert get_check("verified_restore").name == "verified_restore"  # imported on demand
    assert "hisops.checks.evidence" in sys.modules


def test_unknown_check_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        get_check("no_such_check")


def test_built_in_whose_module_is_missing_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(checks._BUILTIN, "ghost", "hisops.nowhere.ghost")
    assert "ghost" in known_checks()
    with pytest.raises(CheckUnavailable) as info:
        get_check("ghost")
    assert "check 'ghost' is not available: module hisops.nowhere.ghost cannot be imported" \
        in str(info.value)


def test_verified_restore_spec() -> None:
    spec = get_check("verified_restore")
    assert spec.required == {"database"}
    assert spec.optional == {"max_age", "label"}


def test_register_refuses_a_taken_or_bad_name() -> None:
    spec = CheckSpec(name="verified_restore", func=lambda ctx: CheckResult(),
                     required=frozenset(), optional=frozenset(), summary="")
    with pytest.raises(ValueError, match="already known"):
        checks.register(spec)
    with pytest.raises(ValueError, match="does not match"):
        checks.register(CheckSpec(name="Bad-Name", func=spec.func, required=frozenset(),
                                  optional=frozenset(), summary=""))


# --- loading and planning ---------------------------------------------------------------------


def test_check_guard_is_planned_with_rendered_args(tmp_path: Path) -> None:
    plan, _, _ = make_plan(tmp_path, verified_within="90m")
    (guard,) = plan.guards
    assert guard.kind == "check"
    assert guard.check == "verified_restore"
    assert guard.args == {"database": "his", "max_age": "5400"}
    assert guard.waiver == "unverified-backup"
    assert plan.as_dict()["guards"][0]["args"] == {"database": "his", "max_age": "5400"}


@pytest.mark.parametrize(("old", "new", "line", "field", "words"), [
    ("check: verified_restore", "check: verifed_restore", 9, "guards[0].check",
     "unknown check 'verifed_restore' (known: "),
    ("max_age: \"{{", "max_agee: \"{{", 10, "guards[0].args.max_agee",
     "unknown argument of check verified_restore (takes: database, label, max_age)"),
    ("database: \"{{ params.stanza }}\", ", "", 10, "guards[0].args.database",
     "required argument of check verified_restore is missing"),
    ("{{ params.stanza }}", "{{ params.stanzas }}", 10, "guards[0].args.database",
     "unknown parameter 'stanzas'"),
    ("check: verified_restore", "check: Verified", 9, "guards[0].check", "pattern"),
    ("waiver: unverified-backup", "waiver: Unverified Backup", 11, "guards[0].waiver",
     "pattern"),
    ("    waiver:", "    waive:", 11, "guards[0].waive", "unknown field"),
])
def test_bad_check_guard_names_file_line_and_field(
    tmp_path: Path, old: str, new: str, line: int, field: str, words: str,
) -> None:
    assert old in CHECKED, old
    with pytest.raises(RunbookError) as info:
        load_runbook(write(tmp_path, CHECKED.replace(old, new, 1)))
    err = info.value
    assert (err.field, err.line) == (field, line)
    assert err.file is not None
    assert err.file.endswith("rb.yml")
    assert words in err.one_line()
    assert "\n" not in err.one_line()


def test_check_whose_module_is_missing_fails_validation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(checks._BUILTIN, "ghost", "hisops.nowhere.ghost")
    with pytest.raises(RunbookError) as info:
        load_runbook(write(tmp_path, CHECKED.replace("check: verified_restore", "check: ghost")))
    assert info.value.field == "guards[0].check"
    assert "hisops.nowhere.ghost cannot be imported" in info.value.one_line()


def test_bad_rendered_value_is_an_input_error_at_plan_time(tmp_path: Path) -> None:
    text = CHECKED.replace('max_age: "{{ params.verified_within }}"', "max_age: a day")
    err = plan_error(tmp_path, text)
    assert err.field == "guards[0].args.max_age"
    assert err.line == 10
    assert "is not a duration" in err.one_line()


def test_plan_hash_changes_with_args_and_waiver(tmp_path: Path) -> None:
    base = make_plan(tmp_path)[0].hash
    assert make_plan(tmp_path)[0].hash == base
    assert make_plan(tmp_path, verified_within="12h")[0].hash != base
    assert make_plan(tmp_path, stanza="lab")[0].hash != base


def test_unknown_check_in_the_cli_is_exit_2(tmp_path: Path) -> None:
    path = write(tmp_path, CHECKED.replace("check: verified_restore", "check: nope"))
    result = CliRunner().invoke(main_group, ["plan", str(path), "-i", str(INVENTORY)])
    assert result.exit_code == 2
    assert "guards[0].check: unknown check 'nope'" in result.stderr


# --- verified_restore over a real journal ------------------------------------------------------


def test_fresh_verified_restore_passes(journal: Journal) -> None:
    rec = drill(journal)
    result = get_check("verified_restore").func(context(journal))
    assert result.ok, result.problems
    assert result.data["label"] == LABEL
    assert result.data["run_id"] == "verify-1"
    assert result.data["drilled_at"] == datetime.fromisoformat(rec.ts).isoformat()
    assert 0 <= result.data["age_s"] < 60
    assert result.rows[0]["backup"] == LABEL
    assert result.rows[0]["rto"] == "2 min 5 s"
    assert set(result.columns) == set(result.rows[0])
    assert any("RTO 2 min 5 s" in note for note in result.notes)


def test_a_named_backup_must_be_the_last_verified_one(journal: Journal) -> None:
    drill(journal)
    spec = get_check("verified_restore")
    assert spec.func(context(journal, label=LABEL)).ok
    other = spec.func(context(journal, label="20261120-010101F"))
    assert other.problems == ("backup 20261120-010101F is not the last verified backup of his "
                              f"(that is {LABEL}); refresh from it or verify 20261120-010101F",)


def test_unprotected_refuses_a_protected_host(tmp_path: Path) -> None:
    inv_path = tmp_path / "inv.yml"
    inv_path.write_text("all:\n  children:\n    env_prod:\n      vars: {hisops_protected: true,"
                        " hisops_environment: prod}\n      hosts: {prod-db: {}}\n"
                        "    env_test:\n      hosts: {test-db: {}}\n")
    inv = Inventory(inv_path)
    spec = get_check("unprotected")

    def run(*hosts: str) -> Any:
        return spec.func(CheckContext(name="g", hosts=hosts, inventory=inv,
                                      args={"reason": "a refresh overwrites it"}, journal=None,
                                      now=datetime.now(UTC)))
    assert run("test-db").ok
    refused = run("test-db", "prod-db")
    assert refused.problems == ("prod-db is protected (environment prod): a refresh "
                                "overwrites it",)
    assert refused.data["protected"] == ["prod-db"]
    assert not run().ok  # a pattern that matches nothing proves nothing


def test_too_old_verified_restore_names_backup_and_ages(journal: Journal) -> None:
    rec = drill(journal)
    later = datetime.fromisoformat(rec.ts) + timedelta(hours=30)
    result = get_check("verified_restore").func(context(journal, now=later))
    assert result.problems == (
        f"the last verified restore of his (backup {LABEL}, drilled {short(rec.ts)}) is 30 h "
        "old (limit 24 h)",)
    # a longer limit, given as the runbook renders a duration parameter (seconds as text)
    assert get_check("verified_restore").func(context(journal, now=later, max_age="129600")).ok
    assert get_check("verified_restore").func(context(journal, now=later, max_age="36h")).ok


def test_failed_drill_after_a_passed_one_is_a_problem(journal: Journal) -> None:
    drill(journal)
    failed = drill(journal, passed=False, label="20261127-054432F", run_id="verify-2")
    result = get_check("verified_restore").func(context(journal))
    assert result.problems == (
        f"a later restore drill of his (backup 20261127-054432F, drilled {short(failed.ts)}) "
        "failed: [amcheck] his.patients: index corrupt",)
    assert [row["result"] for row in result.rows] == ["passed", "FAILED"]
    # a passed drill after the failure clears it
    drill(journal, run_id="verify-3")
    assert get_check("verified_restore").func(context(journal)).ok


def test_no_verified_restore_is_a_problem(journal: Journal) -> None:
    drill(journal, database="lab")
    drill(journal, passed=False)
    result = get_check("verified_restore").func(context(journal))
    assert result.problems[0] == ("no verified restore of his in the journal (run the "
                                  "verify-backup runbook)")
    assert result.problems[1].startswith("the last restore drill of his")
    assert result.data["label"] is None


def test_evidence_of_a_check_mode_run_proves_nothing(journal: Journal) -> None:
    journal.append("check-run", rk.RUN_STARTED, {"runbook": "verify-backup", "check": True})
    drill(journal, run_id="check-run")
    assert not get_check("verified_restore").func(context(journal)).ok


def test_no_journal_is_a_problem() -> None:
    result = get_check("verified_restore").func(context(None))
    assert result.problems == ("no journal to read verified restores from",)


# --- guards in a run ---------------------------------------------------------------------------


def test_failing_check_refuses_and_nothing_executes(tmp_path: Path, journal: Journal) -> None:
    plan, inv, secrets = make_plan(tmp_path, CHANGING)
    with pytest.raises(PreconditionFailed) as info:
        Engine(journal, operator="ana").start(plan, inv, secrets)
    assert info.value.exit_status == ExitStatus.REFUSED
    assert "no verified restore of his" in str(info.value)
    run_id = journal.run_ids()[-1]
    kinds = [r.kind for r in journal.records(run_id)]
    assert rk.STEP_STARTED not in kinds
    state = fold(run_id, journal.records(run_id))
    assert state.status == "refused"
    (guard,) = state.guards
    assert guard["ok"] is False
    assert guard["check"] == "verified_restore"
    assert guard["data"]["database"] == "his"
    assert "waived" not in guard
    assert journal.list_locks() == []


def test_waived_failing_check_lets_the_run_proceed(tmp_path: Path, journal: Journal) -> None:
    plan, inv, secrets = make_plan(tmp_path)
    notes = Notes()
    outcome = Engine(journal, reporter=notes, operator="ana").start(
        plan, inv, secrets, waivers={"unverified-backup": "drill host down, ticket 4711"})
    assert outcome.status == "succeeded"
    records = journal.records(outcome.run_id)
    assert records[0].payload["waivers"] == {"unverified-backup": "drill host down, ticket 4711"}
    (guard,) = outcome.state.guards
    assert guard["ok"] is False
    assert guard["waived"] is True
    assert guard["waiver"] == "unverified-backup"
    assert guard["reason"] == "drill host down, ticket 4711"
    assert guard["detail"].startswith("no verified restore of his")
    assert outcome.state.steps["go"].status == "ok"
    assert any("waived (unverified-backup): drill host down, ticket 4711" in line
               for line in notes.lines)


def test_waiver_that_no_guard_accepts_is_refused(tmp_path: Path, journal: Journal) -> None:
    plan, inv, secrets = make_plan(tmp_path)
    with pytest.raises(InputError, match="waiver 'old-stats' matches no guard"):
        Engine(journal).start(plan, inv, secrets, waivers={"old-stats": "why not"})
    assert journal.run_ids() == []


def test_passing_check_is_journaled_with_its_data(tmp_path: Path, journal: Journal) -> None:
    drill(journal)
    plan, inv, secrets = make_plan(tmp_path)
    outcome = Engine(journal).start(plan, inv, secrets)
    assert outcome.status == "succeeded"
    (guard,) = outcome.state.guards
    assert guard["ok"] is True
    assert guard["data"]["label"] == LABEL


@pytest.fixture
def boom() -> Iterator[None]:
    def explode(ctx: CheckContext) -> CheckResult:
        raise RuntimeError(f"cannot reach {ctx.args['where']}")

    checks.register(CheckSpec(name="boom", func=explode, required=frozenset({"where"}),
                              optional=frozenset(), summary="always raises"))
    yield
    checks.unregister("boom")


def test_exception_inside_a_check_fails_the_guard_without_a_trace(
    tmp_path: Path, journal: Journal, boom: None,
) -> None:
    text = CHECKED.replace("check: verified_restore", "check: boom").replace(
        'args: {database: "{{ params.stanza }}", max_age: "{{ params.verified_within }}"}',
        "args: {where: nowhere}")
    plan, inv, _ = make_plan(tmp_path, text)
    appended: list[tuple[str, dict[str, Any]]] = []
    with pytest.raises(PreconditionFailed) as info:
        check_guards(plan, inv, lambda kind, payload: appended.append((kind, payload)),
                     journal=journal)
    assert info.value.detail == "check boom failed: cannot reach nowhere"
    assert appended[0][1]["ok"] is False


def test_preview_evaluates_only_check_guards_and_journals_nothing(
    tmp_path: Path, journal: Journal,
) -> None:
    text = CHECKED.replace("guards:\n", "guards:\n  - {name: sure, kind: assert, that: ['true']}\n")
    plan, inv, _ = make_plan(tmp_path, text)
    before = len(journal.records())
    (preview,) = preview_guards(plan, inv, journal=journal)
    assert preview.name == "a restore of this database was verified within 24 h"
    assert not preview.ok
    assert preview.waiver == "unverified-backup"
    assert len(journal.records()) == before


# --- the command line --------------------------------------------------------------------------


def test_accept_unverified_backup_needs_a_reason(tmp_path: Path) -> None:
    path = write(tmp_path, CHECKED)
    result = CliRunner().invoke(main_group, ["run", str(path), "-i", str(INVENTORY), "--yes",
                                             "--accept-unverified-backup"])
    assert result.exit_code == 2
    assert result.stderr == "hisops: error: --accept-unverified-backup needs --reason\n"
    result = CliRunner().invoke(main_group, ["run", str(path), "-i", str(INVENTORY), "--yes",
                                             "--reason", "because"])
    assert result.exit_code == 2
    assert "--reason is only used with --waive" in result.stderr


def test_cli_run_refused_then_waived(tmp_path: Path) -> None:
    path = write(tmp_path, CHECKED)
    env = {"HISOPS_JOURNAL": str(tmp_path / "j.sqlite3")}
    args = ["run", str(path), "-i", str(INVENTORY), "--yes"]
    refused = CliRunner().invoke(main_group, args, env=env)
    assert refused.exit_code == 3
    assert "no verified restore of his" in refused.stderr
    assert '--accept-unverified-backup --reason "..."' in refused.stderr

    waived = CliRunner().invoke(main_group, [*args, "--accept-unverified-backup", "--reason",
                                             "restore host down, INC-881", "--json"], env=env)
    assert waived.exit_code == 0, waived.output
    assert ("waived (unverified-backup): restore host down, INC-881"
            in " ".join(waived.stderr.split()))
    data = json.loads(waived.stdout)
    assert data["guards"][0]["waived"] is True

    unknown = CliRunner().invoke(main_group, [*args, "--waive", "stale-stats", "--reason", "x"],
                                 env=env)
    assert unknown.exit_code == 2
    assert "waiver 'stale-stats' matches no guard" in unknown.stderr


def test_plan_previews_check_guards(tmp_path: Path) -> None:
    path = write(tmp_path, CHECKED)
    env = {"HISOPS_JOURNAL": str(tmp_path / "j.sqlite3")}
    base = ["plan", str(path), "-i", str(INVENTORY)]
    text = CliRunner().invoke(main_group, base, env=env)
    assert text.exit_code == 0, text.output  # a preview: the plan itself is valid
    shown = " ".join(text.stdout.split())
    assert "would REFUSE: no verified restore of his in the journal" in shown
    assert 'waivable with --accept-unverified-backup --reason "..."' in shown
    assert "hisops run would be REFUSED by 1 guard(s)" in shown

    refusing = json.loads(CliRunner().invoke(main_group, [*base, "--json"], env=env).stdout)
    (preview,) = refusing["preview"]
    assert preview["ok"] is False
    assert preview["waiver"] == "unverified-backup"

    with open_journal(env["HISOPS_JOURNAL"]) as journal:
        drill(journal)
    passing = json.loads(CliRunner().invoke(main_group, [*base, "--json"], env=env).stdout)
    assert passing["preview"][0]["ok"] is True
    assert passing["preview"][0]["rows"][0]["backup"] == LABEL
    assert passing["plan_hash"] == refusing["plan_hash"]  # the hash ignores the preview

    offline = CliRunner().invoke(main_group, [*base, "--json", "--offline"], env=env)
    assert json.loads(offline.stdout)["preview"] is None
    again = CliRunner().invoke(main_group, base, env=env)
    assert "would pass" in again.stdout
    assert LABEL in again.stdout  # the preview's table
    assert "REFUSED" not in again.stdout
