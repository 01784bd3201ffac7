"""Task steps: named controller tasks (masking, proofs) run by the engine like any step:
planned with rendered arguments, locked, journaled with their evidence, secrets redacted,
and refused at load time when unknown or given the wrong arguments."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hisops import tasks
from hisops.errors import ExitStatus, RunbookError
from hisops.executors.results import HostOutcome, HostStatus
from hisops.inventory import Inventory
from hisops.journal import Journal, open_journal
from hisops.journal import records as rk
from hisops.runbook.engine import Engine
from hisops.runbook.loader import load_runbook
from hisops.runbook.params import resolve_parameters
from hisops.runbook.planner import Plan, build_plan
from hisops.secrets import SecretStore
from hisops.tasks import TaskContext, TaskResult, TaskSpec

from ..conftest import DATA

INVENTORY = DATA / "inventories" / "local.yml"
CALLS: list[TaskContext] = []

RUNBOOK = """\
name: tasked
summary: a runbook with a controller task
parameters:
  table: {type: str, default: his.patients}
  key: {type: str, secret: true}
targets: [db_primary]
steps:
  - id: mask
    kind: task
    task: probe_task
    hosts: db_primary
    args: {table: "{{ params.table }}", rows: 3}
"""


def _probe(ctx: TaskContext) -> TaskResult:
    CALLS.append(ctx)
    key = ctx.secret("key")
    outcomes = {}
    for host in ctx.hosts:
        status = HostStatus.SKIPPED if ctx.check_mode else HostStatus.CHANGED
        outcomes[host] = HostOutcome(host=host, status=status, changed=not ctx.check_mode,
                                     detail=f"masked {ctx.args['table']} with {key}")
    evidence = {"masking": {h: {"table": ctx.args["table"], "rows": ctx.args["rows"],
                                "echo": key} for h in ctx.hosts}}
    return TaskResult(hosts=outcomes, data={"hisops_evidence": evidence})


def _broken(ctx: TaskContext) -> TaskResult:
    return TaskResult(hosts={})  # forgets every host


def _refusing(ctx: TaskContext) -> TaskResult:
    """Fails; says it left the host unchanged when args.unchanged is true."""
    return TaskResult(hosts={h: HostOutcome(host=h, status=HostStatus.FAILED, detail="no",
                                            unchanged=bool(ctx.args.get("unchanged")))
                             for h in ctx.hosts})


@pytest.fixture(autouse=True)
def registered() -> Iterator[None]:
    CALLS.clear()
    tasks.register(TaskSpec(name="probe_task", func=_probe, required=frozenset({"table"}),
                            optional=frozenset({"rows"}), summary="test task"))
    tasks.register(TaskSpec(name="broken_task", func=_broken, required=frozenset(),
                            optional=frozenset(), summary="forgets its hosts"))
    tasks.register(TaskSpec(name="refusing_task", func=_refusing, required=frozenset(),
                            optional=frozenset({"unchanged"}), summary="fails"))
    yield
    tasks.unregister("probe_task")
    tasks.unregister("broken_task")
    tasks.unregister("refusing_task")


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with open_journal(str(tmp_path / "journal.sqlite3")) as opened:
        yield opened


def make_plan(tmp_path: Path, text: str = RUNBOOK, **given: str
              ) -> tuple[Plan, Inventory, SecretStore]:
    path = tmp_path / "rb.yml"
    path.write_text(text)
    loaded = load_runbook(path)
    inv = Inventory(INVENTORY)
    params, secrets = resolve_parameters(loaded.runbook.parameters, given, inventory=inv,
                                         runbook_file=str(loaded.path),
                                         environ={"HISOPS_SECRET_KEY": "s3cret-canary"})
    return build_plan(loaded, inv, params=params, secrets=secrets), inv, secrets


def test_task_step_is_planned_with_rendered_args(tmp_path: Path) -> None:
    plan, _, _ = make_plan(tmp_path, table="his.visits")
    step = plan.step("mask")
    assert step.action is not None
    assert (step.kind, step.action.task, step.action.args) == (
        "task", "probe_task", {"table": "his.visits", "rows": 3})
    assert step.hosts == ("db-a",)
    assert step.changes_hosts
    assert plan.lock_hosts == ("db-a",)
    other, _, _ = make_plan(tmp_path, table="his.billing")
    assert other.hash != plan.hash  # the arguments are part of what is approved


def test_task_runs_per_host_and_its_evidence_is_journaled_redacted(
        tmp_path: Path, journal: Journal) -> None:
    plan, inv, secrets = make_plan(tmp_path)
    outcome = Engine(journal, operator="ana").start(plan, inv, secrets)
    assert outcome.status == "succeeded"
    assert [c.hosts for c in CALLS] == [("db-a",)]
    records = journal.records()
    [evidence] = [r.payload for r in records if r.kind == rk.EVIDENCE]
    assert (evidence["type"], evidence["subject"]) == ("masking", "db-a")
    assert evidence["evidence"]["table"] == "his.patients"
    text = "\n".join(str(r.payload) for r in records)
    assert "s3cret-canary" not in text  # the task echoed its key: redacted everywhere
    [host] = [r.payload for r in records if r.kind == rk.STEP_HOST]
    assert host["status"] == "changed"


def test_check_mode_reaches_the_task(tmp_path: Path, journal: Journal) -> None:
    plan, inv, secrets = make_plan(tmp_path)
    Engine(journal).start(plan, inv, secrets, check=True)
    assert [c.check_mode for c in CALLS] == [True]


def test_a_task_that_forgets_a_host_fails_the_step(tmp_path: Path, journal: Journal) -> None:
    text = RUNBOOK.replace("task: probe_task", "task: broken_task").replace(
        '    args: {table: "{{ params.table }}", rows: 3}\n', "")
    plan, inv, secrets = make_plan(tmp_path, text)
    outcome = Engine(journal).start(plan, inv, secrets)
    assert outcome.status == "failed"
    assert "reported nothing" in outcome.detail


@pytest.mark.parametrize(("unchanged", "earlier_change", "released"), [
    (True, False, True), (False, False, False), (True, True, False)])
def test_locks_are_released_only_when_the_run_changed_nothing(
        tmp_path: Path, journal: Journal, unchanged: bool, earlier_change: bool,
        released: bool) -> None:
    """A failed run keeps its host locks for a resume, unless nothing anywhere was changed:
    the failed step says so for each failed host and no earlier step changed a host."""
    refusing = ("  - id: refuse\n    kind: task\n    task: refusing_task\n"
                f"    hosts: db_primary\n    args: {{unchanged: {str(unchanged).lower()}}}\n")
    text = RUNBOOK + refusing if earlier_change else RUNBOOK.split("  - id: mask")[0] + refusing
    plan, inv, secrets = make_plan(tmp_path, text)
    outcome = Engine(journal).start(plan, inv, secrets)
    assert outcome.status == "failed"
    held = journal.list_locks()
    assert (held == []) is released, held
    assert ("the host locks are released" in outcome.detail) is released


@pytest.mark.parametrize(("change", "field", "message"), [
    (("task: probe_task", "task: no_such_task"), "steps[0].task", "unknown task 'no_such_task'"),
    (("rows: 3", "rowz: 3"), "steps[0].args.rowz", "unknown argument of task probe_task"),
    (('table: "{{ params.table }}", ', ""), "steps[0].args.table",
     "required argument of task probe_task is missing"),
    (("    args:", "    read_only: true\n    args:"), "steps[0].read_only",
     "changes hosts; it cannot be read_only"),
    (("{{ params.table }}", "{{ params.tabel }}"), "steps[0].args.table",
     "unknown parameter 'tabel'"),
])
def test_bad_task_steps_are_one_line_errors(tmp_path: Path, change: tuple[str, str],
                                            field: str, message: str) -> None:
    with pytest.raises(RunbookError) as info:
        make_plan(tmp_path, RUNBOOK.replace(*change))
    err = info.value
    assert err.exit_status == ExitStatus.BAD_INPUT
    assert err.field == field
    assert message in err.one_line()
    assert "\n" not in err.one_line()


def test_built_in_tasks_are_known_without_importing_them() -> None:
    assert "mask_database" in tasks.known_tasks()
    with pytest.raises(KeyError):
        tasks.get_task("nope")


