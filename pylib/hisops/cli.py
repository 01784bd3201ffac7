"""The ``hisops`` command line: the only place that prints for people and picks exit codes."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from hisops import __version__, paths
from hisops.errors import (
    ConfirmationRequired,
    ExitStatus,
    HisopsError,
    InputError,
    RefusedError,
)

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger(__name__)


def _fail(err: BaseException, status: ExitStatus) -> NoReturn:
    text = err.one_line() if isinstance(err, InputError) else " ".join(str(err).split())
    label = {ExitStatus.BAD_INPUT: "error", ExitStatus.REFUSED: "refused",
             ExitStatus.INTERRUPTED: "interrupted"}.get(status, "failed")
    click.echo(f"hisops: {label}: {text}", err=True)
    raise SystemExit(int(status))


def _json_out(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def _journal(ctx: click.Context) -> Any:
    from hisops.journal import open_journal

    obj = ctx.ensure_object(dict)
    if "journal" not in obj:
        obj["journal"] = open_journal(obj.get("journal_url"))
        ctx.call_on_close(obj["journal"].close)
    return obj["journal"]


def _prompt_secret(name: str, description: str) -> str | None:
    if not sys.stdin.isatty():
        return None
    return click.prompt(f"secret {name}" + (f" ({description})" if description else ""),
                        hide_input=True)


def runbook_inputs(func: F) -> F:
    func = click.option("--vault-file", type=click.Path(path_type=Path),
                        help="ansible-vault file with secret parameters")(func)
    func = click.option("-e", "--extra", "extra", multiple=True, metavar="NAME=VALUE",
                        help="runbook parameter (repeatable)")(func)
    func = click.option("-l", "--limit", help="further limit hosts (Ansible pattern)")(func)
    func = click.option("-i", "--inventory", type=click.Path(path_type=Path),
                        default=None, help="inventory (default: $HISOPS_INVENTORY or the lab)")(
        func)
    return click.argument("runbook")(func)


def inventory_path(given: Path | None) -> Path:
    """-i as given, else the lab's inventory (which must exist: the lab is up)."""
    if given is not None:
        return given
    if not paths.default_inventory().exists():
        raise InputError(f"no inventory given (-i) and the lab's {paths.default_inventory()} "
                         "does not exist: start the lab with 'hisops lab up' or pass -i FILE")
    return paths.default_inventory()


def _prepare(runbook: str, inventory: Path | None, limit: str | None, extra: tuple[str, ...],
             vault_file: Path | None, *, count_rows: bool = False) -> Any:
    """``count_rows``: a data correction's plan carries the rows its find entries match now
    (a new run and a plan count them; validate does not connect anywhere)."""
    from hisops.runbook.params import parse_extra_vars
    from hisops.runbook.session import prepare

    prepared = prepare(runbook, inventory_path(inventory), limit=limit,
                       given=parse_extra_vars(list(extra)), vault_file=vault_file,
                       prompt=_prompt_secret, row_counts="count" if count_rows else None)
    _redact_logs(prepared)
    return prepared


def _redact_logs(prepared: Any) -> None:
    from hisops.secrets import redact_logs

    redact_logs(prepared.secrets)


class HisopsGroup(click.Group):
    """Maps hisops errors to one line and an exit code; click's own usage errors exit 2.

    The ``lab`` group is imported only when asked for: it pulls in the podman and dataset
    code, which every other command would otherwise pay for at start-up."""

    lazy = {"lab": ("hisops.lab.cli", "lab"), "baseline": ("hisops.baselines.cli", "baseline"),
            "datafix": ("hisops.datafix.cli", "datafix"),
            "problems": ("hisops.problems.cli", "problems"),
            "inspect": ("hisops.inspection.cli", "inspect"),
            "report": ("hisops.servicereport.cli", "report"),
            "env": ("hisops.envs.cli", "env"), "pii": ("hisops.envs.pii_cli", "pii")}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy and cmd_name not in self.commands:
            import importlib

            module_name, attr = self.lazy[cmd_name]
            try:
                self.add_command(getattr(importlib.import_module(module_name), attr), cmd_name)
            except ImportError as err:
                raise click.ClickException(f"the {cmd_name} commands are unavailable: {err}"
                                           ) from None
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HisopsError as err:
            _fail(err, err.exit_status)
        except KeyboardInterrupt:
            _fail(KeyboardInterrupt("interrupted"), ExitStatus.INTERRUPTED)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as err:  # a bug: one line for the operator, the trace with -v
            log.debug("internal error", exc_info=True)
            _fail(RuntimeError(f"internal error: {type(err).__name__}: {err} (rerun with -v "
                               "for the trace)"), ExitStatus.FAILED)


@click.group(cls=HisopsGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hisops")
@click.option("--journal", "journal_url", envvar="HISOPS_JOURNAL", default=None,
              help="journal URL: a SQLite path or postgresql://... (default ~/.hisops)")
@click.option("-v", "--verbose", count=True, help="log more (-vv for debug)")
@click.pass_context
def main_group(ctx: click.Context, journal_url: str | None, verbose: int) -> None:
    """hisops: run risky database operations as tested, journaled, resumable runbooks."""
    ctx.ensure_object(dict)["journal_url"] = journal_url
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)


# Waivers with a flag of their own; any other is given as --waive NAME.
WAIVER_FLAGS = {"unverified-backup": "--accept-unverified-backup"}


def waive_hint(waiver: str) -> str:
    """The command-line words that waive ``waiver``."""
    return f'{WAIVER_FLAGS.get(waiver, f"--waive {waiver}")} --reason "..."'


def _waivers(waive: tuple[str, ...], accept_unverified_backup: bool,
             reason: str | None) -> dict[str, str]:
    """{waiver name: reason} from run's options; a waiver without a reason is refused."""
    import re

    from hisops.errors import UsageError
    from hisops.runbook.model import WAIVER_NAME

    names = list(dict.fromkeys([*waive, *(["unverified-backup"] if accept_unverified_backup
                                          else [])]))
    for name in names:
        if not re.fullmatch(WAIVER_NAME, name):
            raise UsageError(f"--waive {name}: not a waiver name (a-z, 0-9 and -)")
    if names and not (reason and reason.strip()):
        flag = "--accept-unverified-backup" if accept_unverified_backup else "--waive"
        raise UsageError(f"{flag} needs --reason")
    if reason is not None and not names:
        raise UsageError("--reason is only used with --waive or --accept-unverified-backup")
    return {name: (reason or "").strip() for name in names}


@main_group.command()
@runbook_inputs
@click.option("--json", "as_json", is_flag=True, help="print the plan as JSON")
@click.option("--offline", is_flag=True,
              help="do not preview check guards (they read the journal, some probe hosts)")
@click.pass_context
def plan(ctx: click.Context, runbook: str, inventory: Path | None, limit: str | None,
         extra: tuple[str, ...], vault_file: Path | None, as_json: bool, offline: bool) -> None:
    """Resolve RUNBOOK against an inventory and show what would run, with its plan hash.

    Check guards are previewed: whether they would let a run start now. A guard that would
    refuse is shown, but plan still exits 0: the plan itself is valid."""
    prepared = _prepare(runbook, inventory, limit, extra, vault_file, count_rows=not offline)
    previews = None
    datafix: dict[str, Any] = {}
    if not offline:
        from hisops.datafix.preview import preview
        from hisops.runbook.guards import preview_guards

        checks = any(g.kind == "check" for g in prepared.plan.guards)
        previews = preview_guards(prepared.plan, prepared.inventory,
                                  journal=_journal(ctx) if checks else None)
        datafix = preview(prepared.plan, prepared.inventory, prepared.secrets, rehearse=True)
    if as_json:
        _json_out({**prepared.plan.as_dict(),
                   "preview": None if previews is None else [p.to_dict() for p in previews],
                   **({"datafix": {step: [h.to_dict() for h in hosts]
                                   for step, hosts in datafix.items()}} if datafix else {})})
    else:
        from hisops.reports.console import print_guard_previews, print_plan

        print_plan(prepared.plan)
        print_guard_previews(prepared.plan, previews, waive_hint)
        if datafix:
            from hisops.datafix.console import print_datafix_previews

            print_datafix_previews(prepared.plan, datafix)


def _confirm(plan: Any, inventory: Any, yes: bool, confirm: str | None, check: bool) -> None:
    if check:
        return
    hosts = list(plan.typed_confirmation)
    if hosts:
        # the operator types the names of the hosts: reading them is the point (an environment
        # name, or "yes", is typed from habit). Protected hosts need it always; a runbook that
        # destroys a host's current data (an in-place restore) names its hosts in `confirm`.
        wanted = ",".join(hosts)
        protected = sorted(plan.protected_hosts)
        envs = sorted({str(inventory.host_vars(h).get("hisops_environment", "production"))
                       for h in protected})
        what = (f"changes PROTECTED hosts of {', '.join(envs)}" if protected
                else f"overwrites the data of {wanted}")
        if confirm is None and sys.stdin.isatty():
            confirm = click.prompt(f"This run {what}. Type their names ({wanted}) to proceed")
        typed = sorted({part.strip() for part in (confirm or "").split(",") if part.strip()})
        if typed != hosts:
            shown = ", ".join(hosts[:5]) + (" ..." if len(hosts) > 5 else "")
            said = f" (you typed: {','.join(typed)})" if typed else ""
            raise ConfirmationRequired(
                f"run {what.replace(wanted, '')}({shown}): confirm with --confirm "
                f"{wanted}{said}".replace("  ", " "))
        return
    if yes:
        return
    if not sys.stdin.isatty():
        raise RefusedError("not confirmed: pass --yes to run without a prompt "
                           "(or --check for a dry run)")
    if not click.confirm(f"Run {len(plan.steps)} steps on {len(plan.lock_hosts)} hosts?"):
        raise RefusedError("not confirmed")


def _with_drill(runbook: str, extra: tuple[str, ...]) -> tuple[str, ...]:
    """``--drill`` is ``-e drill=true`` for a runbook that declares a drill mode."""
    from hisops.errors import UsageError
    from hisops.runbook.loader import find_runbook, load_runbook

    loaded = load_runbook(find_runbook(runbook))
    if "drill" not in loaded.runbook.parameters:
        raise UsageError(f"--drill: runbook {loaded.runbook.name} has no drill mode "
                         "(no 'drill' parameter)")
    if any(item.split("=", 1)[0].strip() == "drill" for item in extra):
        raise UsageError("--drill and -e drill=... given together: use one")
    return (*extra, "drill=true")


def _runbook_report(state: Any) -> str | None:
    """The report the journaled run's runbook asks for (None when it cannot be loaded)."""
    from hisops.runbook.loader import load_runbook

    try:
        return load_runbook(Path(state.runbook_path)).runbook.report
    except Exception:  # a runbook moved or edited since: the timeline is still shown
        return None


def _run_report(state: Any, report: str | None) -> Any:
    """The report a runbook asks for (``report:``), built from the run's journal."""
    if report != "restore-timeline":
        return None
    from hisops.recovery.report import build_report

    return build_report(state)


def _finish(outcome: Any, as_json: bool, report: str | None = None) -> None:
    from hisops.reports.console import print_summary
    from hisops.reports.jsonout import run_state_dict

    built = _run_report(outcome.state, report) if not outcome.state.check else None
    if as_json:
        _json_out({**run_state_dict(outcome.state), "exit_code": int(outcome.exit_status),
                   **({"report": built.to_dict()} if built is not None else {})})
    else:
        print_summary(outcome.state)
        if built is not None:
            click.echo(built.render())
    if outcome.exit_status != ExitStatus.SUCCESS:
        label = {"waiting": "waiting", "failed": "failed"}.get(outcome.status, outcome.status)
        click.echo(f"hisops: {label}: {outcome.detail}", err=True)
    raise SystemExit(int(outcome.exit_status))


@main_group.command()
@runbook_inputs
@click.option("--check", is_flag=True, help="dry run: playbooks in check+diff mode, no "
              "changing ssh step")
@click.option("-y", "--yes", is_flag=True, help="do not ask for confirmation")
@click.option("--confirm", metavar="HOST[,HOST...]",
              help="typed confirmation: the protected hosts the run changes, by name")
@click.option("--operator", help="who runs this (default $HISOPS_OPERATOR or the login)")
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
@click.option("--waive", multiple=True, metavar="NAME",
              help="let guards declaring `waiver: NAME` fail without refusing the run "
              "(repeatable; needs --reason; journaled)")
@click.option("--accept-unverified-backup", is_flag=True,
              help="shorthand for --waive unverified-backup: start although no restore of "
              "the database was verified recently (needs --reason)")
@click.option("--reason", help="why the waived guards may fail (journaled)")
@click.option("--drill", is_flag=True,
              help="rehearse: the runbook's drill mode (-e drill=true), on unprotected hosts "
              "only, with the same steps and timings")
@click.pass_context
def run(ctx: click.Context, runbook: str, inventory: Path | None, limit: str | None,
        extra: tuple[str, ...], vault_file: Path | None, check: bool, yes: bool,
        confirm: str | None, operator: str | None, as_json: bool, waive: tuple[str, ...],
        accept_unverified_backup: bool, reason: str | None, drill: bool) -> None:
    """Run RUNBOOK: guards, then each step, journaled; resumable after a failure."""
    from hisops.errors import PreconditionFailed
    from hisops.reports.console import ConsoleReporter
    from hisops.runbook.engine import Engine
    from hisops.runbook.guards import check_waivers

    waivers = _waivers(waive, accept_unverified_backup, reason)
    if drill:
        extra = _with_drill(runbook, extra)
    prepared = _prepare(runbook, inventory, limit, extra, vault_file, count_rows=True)
    check_waivers(prepared.plan, waivers)
    _confirm(prepared.plan, prepared.inventory, yes, confirm, check)
    engine = Engine(_journal(ctx), reporter=ConsoleReporter(), operator=operator)
    try:
        outcome = engine.start(prepared.plan, prepared.inventory, prepared.secrets,
                               check=check, waivers=waivers)
    except PreconditionFailed as refused:
        waiver = next((g.waiver for g in prepared.plan.guards
                       if g.name == refused.guard and g.waiver), None)
        if not waiver:
            raise
        raise PreconditionFailed(refused.guard, f"{refused.detail} (to run anyway, if that is "
                                 f"safe: {waive_hint(waiver)}, journaled)") from None
    _finish(outcome, as_json, prepared.plan.runbook.runbook.report)


@main_group.command()
@click.argument("run_id")
@click.option("--retry-step", help="re-run this interrupted, non-idempotent step")
@click.option("--skip-step", help="mark this step done without running it (needs --reason)")
@click.option("--reason", help="why (journaled)")
@click.option("--accept-plan-change", is_flag=True,
              help="continue although the plan changed (voids earlier approvals)")
@click.option("--vault-file", type=click.Path(path_type=Path))
@click.option("--operator")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def resume(ctx: click.Context, run_id: str, retry_step: str | None, skip_step: str | None,
           reason: str | None, accept_plan_change: bool, vault_file: Path | None,
           operator: str | None, as_json: bool) -> None:
    """Continue RUN_ID from its first unfinished step; finished steps are not re-run."""
    from hisops.journal.state import fold
    from hisops.reports.console import ConsoleReporter
    from hisops.runbook.engine import Engine
    from hisops.runbook.session import prepare_resume

    journal = _journal(ctx)
    state = fold(run_id, journal.records(run_id))
    if not state.runbook:
        raise InputError(f"no run {run_id} in the journal (see: hisops runs)")
    prepared = prepare_resume(state, vault_file=vault_file, prompt=_prompt_secret)
    _redact_logs(prepared)
    engine = Engine(journal, reporter=ConsoleReporter(), operator=operator)
    outcome = engine.resume(run_id, prepared.plan, prepared.inventory, prepared.secrets,
                            retry_step=retry_step, skip_step=skip_step, reason=reason,
                            accept_plan_change=accept_plan_change)
    _finish(outcome, as_json, prepared.plan.runbook.runbook.report)


@main_group.command()
@click.argument("run_id")
@click.option("--as", "approver", required=True, help="the approver's name")
@click.option("--reason", default="", help="why (journaled)")
@click.pass_context
def approve(ctx: click.Context, run_id: str, approver: str, reason: str) -> None:
    """Approve the step RUN_ID waits at (bound to its plan hash)."""
    from hisops.runbook.engine import request_approval

    state = request_approval(_journal(ctx), run_id, approver, reason)
    click.echo(f"approved step {state.waiting_step} of run {run_id} as {approver} "
               f"(plan {state.plan_hash[:12]}); continue with: hisops resume {run_id}")


@main_group.command()
@click.option("--json", "as_json", is_flag=True)
@click.option("-n", "--last", default=50, show_default=True, help="how many recent runs")
@click.pass_context
def runs(ctx: click.Context, as_json: bool, last: int) -> None:
    """List runs, newest last."""
    from hisops.journal.records import RUN_STARTED
    from hisops.journal.state import fold
    from hisops.reports.console import print_runs
    from hisops.reports.jsonout import run_state_dict

    journal = _journal(ctx)
    # runbook runs only: baseline checks, inspections and problems keep records of their own
    started = {r.run_id for r in journal.records(kinds=[RUN_STARTED])}
    run_ids = [r for r in journal.run_ids() if r in started]
    states = [fold(r, journal.records(r)) for r in run_ids[-last:]]
    if as_json:
        _json_out([run_state_dict(s) for s in states])
    else:
        print_runs(states)


@main_group.command()
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def show(ctx: click.Context, run_id: str, as_json: bool) -> None:
    """Show the timeline of RUN_ID."""
    from hisops.journal.state import fold
    from hisops.reports.console import print_summary, print_timeline
    from hisops.reports.jsonout import run_state_dict

    state = fold(run_id, _journal(ctx).records(run_id))
    if not state.timeline:
        raise InputError(f"no run {run_id} in the journal (see: hisops runs)")
    built = _run_report(state, _runbook_report(state))
    if as_json:
        _json_out({**run_state_dict(state, timeline=True),
                   **({"report": built.to_dict()} if built is not None else {})})
    else:
        print_timeline(state)
        print_summary(state)
        from hisops.datafix import journaled_corrections

        if journaled_corrections(state.plan):
            from hisops.datafix.console import print_journaled_corrections

            print_journaled_corrections(state)
        if built is not None:
            click.echo(built.render())


@main_group.group()
def journal() -> None:
    """The run journal."""


@journal.command("verify")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def journal_verify(ctx: click.Context, as_json: bool) -> None:
    """Check the hash chain: any edited or deleted record is reported (exit 1)."""
    report = _journal(ctx).verify()
    if as_json:
        _json_out({"ok": report.ok, "records": report.records, "problems": report.problems})
    else:
        click.echo(f"journal: {report.records} records, chain "
                   + ("intact" if report.ok else "BROKEN"))
        for problem in report.problems:
            click.echo(f"  - {problem}")
    raise SystemExit(0 if report.ok else int(ExitStatus.FAILED))


@main_group.command()
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def locks(ctx: click.Context, as_json: bool) -> None:
    """List host locks and whether their holders are alive."""
    from hisops.journal import is_holder_alive

    rows = [{"host": lk.host, "run_id": lk.holder.run_id, "operator": lk.holder.operator,
             "started_at": lk.holder.started_at, "pid": lk.holder.pid,
             "machine": lk.holder.machine, "alive": is_holder_alive(lk.holder)}
            for lk in _journal(ctx).list_locks()]
    if as_json:
        _json_out(rows)
        return
    for row in rows:
        alive = {True: "alive", False: "DEAD", None: "unknown"}[row["alive"]]
        click.echo(f"{row['host']:<24} {row['run_id']:<24} {row['operator']:<12} "
                   f"{row['started_at'][:19]} pid {row['pid']} ({alive})")
    if not rows:
        click.echo("no locks held")


@main_group.command()
@click.option("--json", "as_json", is_flag=True)
@click.option("--stale-after", default="7d", show_default=True,
              envvar="HISOPS_BACKUP_STALE_AFTER", show_envvar=True,
              help="a verified restore or backup older than this is stale (7d, 36h)")
@click.option("--database", "databases", multiple=True, metavar="NAME",
              help="only this database (repeatable); one with no evidence counts as stale")
@click.option("--fail-on-stale", is_flag=True,
              help="exit 1 if any database is stale or none is recorded (for monitoring)")
@click.pass_context
def backups(ctx: click.Context, as_json: bool, stale_after: str, databases: tuple[str, ...],
            fail_on_stale: bool) -> None:
    """Per database: last backup, last verified restore with its RTO and RPO, staleness."""
    from datetime import UTC, datetime

    from hisops.journal.records import EVIDENCE, RUN_STARTED
    from hisops.reports.backups import backup_overview
    from hisops.reports.backups_console import print_backups
    from hisops.runbook.durations import parse_duration

    try:
        limit = parse_duration(stale_after)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--stale-after") from None
    now = datetime.now(UTC)
    statuses = backup_overview(_journal(ctx).records(kinds=[EVIDENCE, RUN_STARTED]), now=now,
                               stale_after_s=limit, databases=databases or None)
    stale = not statuses or any(st.stale for st in statuses)
    if as_json:
        _json_out({"as_of": now.isoformat(), "stale_after_s": limit, "stale": stale,
                   "databases": [st.to_dict() for st in statuses]})
    else:
        print_backups(statuses)
    if fail_on_stale and stale:
        raise SystemExit(int(ExitStatus.FAILED))


@main_group.command()
@click.argument("run_id")
@click.option("--reason", required=True, help="why the lock may be broken (journaled)")
@click.option("--operator")
@click.pass_context
def unlock(ctx: click.Context, run_id: str, reason: str, operator: str | None) -> None:
    """Break the locks of RUN_ID when its process is no longer running."""
    from hisops.journal import is_holder_alive
    from hisops.runbook.engine import current_operator

    journal = _journal(ctx)
    held = [lk for lk in journal.list_locks() if lk.holder.run_id == run_id]
    if not held:
        raise InputError(f"run {run_id} holds no locks")
    if any(is_holder_alive(lk.holder) for lk in held):
        raise RefusedError(f"run {run_id} is still running (pid {held[0].holder.pid}); "
                           "stop it first")
    hosts = journal.break_locks(run_id, operator=current_operator(operator), reason=reason)
    click.echo(f"broke {len(hosts)} lock(s) of run {run_id}: {', '.join(hosts)}")


@main_group.command("runbooks")
@click.option("--json", "as_json", is_flag=True)
def list_runbooks(as_json: bool) -> None:
    """List the shipped runbooks with their summaries."""
    from hisops.runbook.catalog import catalog

    entries = catalog()
    if as_json:
        _json_out(entries)
        return
    for entry in entries:
        mark = "" if entry["valid"] else "  [INVALID: see hisops validate]"
        click.echo(f"{entry['name']:<28} {entry['summary']}{mark}")


@main_group.command()
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.option("-i", "--inventory", "inventories", multiple=True, type=click.Path(path_type=Path),
              help="inventories to check (default: all under inventories/)")
@click.option("--json", "as_json", is_flag=True)
def validate(files: tuple[Path, ...], inventories: tuple[Path, ...], as_json: bool) -> None:
    """Check runbooks and inventories; report every problem, exit 2 if any."""
    from hisops.runbook.catalog import validate_all

    results = validate_all(list(files), list(inventories))
    if as_json:
        _json_out(results)
    else:
        for item in results:
            click.echo(("ok     " if item["ok"] else "ERROR  ") + (item["error"] or item["path"]))
    if not all(item["ok"] for item in results):
        raise SystemExit(int(ExitStatus.BAD_INPUT))


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("ANSIBLE_NOCOLOR", "1")
    try:
        main_group.main(args=argv, prog_name="hisops", standalone_mode=True)
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0
