"""``hisops datafix``: undo a data correction, list the ones a database keeps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from hisops.datafix import journaled_corrections
from hisops.errors import InputError

UNDO_RUNBOOK = "datafix-undo"


def _fix_targets(state: Any) -> tuple[list[str], str]:
    """The hosts where RUN's datafix steps committed, and their database."""
    steps = journaled_corrections(state.plan)
    if not steps:
        raise InputError(f"run {state.run_id} ({state.runbook}) has no data correction step")
    databases = {str(s["action"]["args"].get("database", "his")) for s in steps}
    if len(databases) > 1:
        raise InputError(f"run {state.run_id} corrected {len(databases)} databases; undo "
                         "handles one database per run")
    hosts: list[str] = []
    for step in steps:
        st = state.steps.get(step["id"])
        if st is None:
            continue
        hosts.extend(h for h, v in st.hosts.items() if v.get("status") in ("changed", "ok"))
    if not hosts:
        raise InputError(f"run {state.run_id} committed no data correction (its sql steps "
                         "did not change any host): nothing to undo")
    return sorted(set(hosts)), databases.pop()


@click.group()
def datafix() -> None:
    """Audited data corrections: undo one (runbooks with `kind: sql` steps make them)."""


@datafix.command()
@click.argument("run_id")
@click.option("--check", is_flag=True, help="rehearse the undo in a transaction that is "
              "rolled back")
@click.option("-y", "--yes", is_flag=True, help="do not ask for confirmation")
@click.option("--confirm", metavar="HOST[,HOST...]",
              help="typed confirmation: the protected hosts the undo changes, by name")
@click.option("--operator", help="who runs this (default $HISOPS_OPERATOR or the login)")
@click.option("--vault-file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def undo(ctx: click.Context, run_id: str, check: bool, yes: bool, confirm: str | None,
         operator: str | None, vault_file: Path | None, as_json: bool) -> None:
    """Give back the exact values RUN_ID's data correction changed, as a run of its own
    (runbook datafix-undo: journaled, locked, approved where the environment asks). Refused,
    changing nothing, when any of those rows was changed again since."""
    from hisops.cli import _journal, run
    from hisops.journal.state import fold

    state = fold(run_id, _journal(ctx).records(run_id))
    if not state.runbook:
        raise InputError(f"no run {run_id} in the journal (see: hisops runs)")
    if state.check:
        raise InputError(f"run {run_id} was a --check run: it changed nothing to undo")
    hosts, database = _fix_targets(state)
    ctx.invoke(run, runbook=UNDO_RUNBOOK, inventory=Path(state.inventory), limit=None,
               extra=(f"run={run_id}", f"hosts={','.join(hosts)}", f"database={database}"),
               vault_file=vault_file, check=check, yes=yes, confirm=confirm,
               operator=operator, as_json=as_json, waive=(), accept_unverified_backup=False,
               reason=None, drill=False)


@datafix.command(name="list")
@click.option("-i", "--inventory", type=click.Path(path_type=Path),
              help="inventory (default: the lab's)")
@click.option("--hosts", "pattern", default="db_primary", show_default=True,
              help="the database hosts to read (an inventory pattern)")
@click.option("--database", default="his", show_default=True)
@click.option("--json", "as_json", is_flag=True)
def list_(inventory: Path | None, pattern: str, database: str, as_json: bool) -> None:
    """The corrections each database keeps a record of (hisops.datafix_runs): run, step,
    rows found, who committed it and when, and whether (and by which run) it was undone.
    Read-only."""
    from hisops.cli import _json_out, inventory_path
    from hisops.datafix.records import read_records
    from hisops.inventory import Inventory

    inv = Inventory(inventory_path(inventory))
    inv.check_pattern(pattern, file=str(inv.source), line=None, field="--hosts")
    records = {host: read_records(inv, host, database) for host in inv.hosts(pattern)}
    if as_json:
        _json_out(records)
        return
    from rich.table import Table

    from hisops.reports.console import out_console

    table = Table(header_style="bold")
    for column in ("host", "run", "step", "kind", "rows found", "committed", "by",
                   "undone by / undo of"):
        table.add_column(column, overflow="fold")
    for host, rows in records.items():
        for row in rows:
            found = ", ".join(f"{t} {n}" for t, n in (row["found"] or {}).items() if n)
            table.add_row(host, row["run_id"], row["step"], row["kind"], found,
                          row["committed_at"][:19].replace("T", " "), row["committed_by"],
                          row["undone_by"] or row["undo_of"] or "")
    out_console.print(table)
