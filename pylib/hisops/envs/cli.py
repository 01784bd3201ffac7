"""``hisops env list|refresh|diff``: environments, test copies refreshed from verified backups
with patient data masked, and what differs between two environments."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from hisops.errors import InputError, PreconditionFailed


def _inventory(path: Path | None) -> Any:
    from hisops.cli import inventory_path
    from hisops.inventory import Inventory

    return Inventory(inventory_path(path))


@click.group()
def env() -> None:
    """Environments: protected ones, refreshed test copies, differences."""


@env.command("list")
@click.option("-i", "--inventory", type=click.Path(path_type=Path), default=None)
@click.option("--json", "as_json", is_flag=True, help="print as JSON")
def list_(inventory: Path | None, as_json: bool) -> None:
    """The environment groups (env_*) with their hosts, databases and protection."""
    from hisops.envs.environments import environments
    from hisops.reports.console import out_console

    found = environments(_inventory(inventory))
    if as_json:
        click.echo(json.dumps([e.to_dict() for e in found], indent=2))
        return
    table = Table(title="environments", title_justify="left")
    for column in ("group", "name", "hosts", "databases", "protected", "four eyes"):
        table.add_column(column)
    for e in found:
        table.add_row(e.group, e.name, str(len(e.hosts)), ", ".join(e.databases) or "-",
                      "[bold red]yes[/]" if e.protected else "no",
                      "yes" if e.four_eyes else "no")
    out_console.print(table)


def last_verified_label(journal: Any, stanza: str) -> str:
    """The label of the database's last passed restore drill (refused, exit 3, when none)."""
    from datetime import UTC, datetime

    from hisops.journal.records import EVIDENCE, RUN_STARTED
    from hisops.reports.backups import backup_overview

    records = journal.records(kinds=[EVIDENCE, RUN_STARTED])
    (status,) = backup_overview(records, now=datetime.now(UTC), stale_after_s=86400.0,
                                databases=[stanza])
    if status.last_verified is None or not status.last_verified.label:
        raise PreconditionFailed("a verified backup exists",
                                 f"no verified restore of {stanza} in the journal: run the "
                                 "verify-backup runbook first (a test copy is made only from "
                                 "a backup proved restorable)")
    return str(status.last_verified.label)


@env.command()
@click.option("-i", "--inventory", type=click.Path(path_type=Path), default=None)
@click.option("--from", "source", default="env_lab", show_default=True,
              help="the environment copied")
@click.option("--to", "target", default="env_test", show_default=True,
              help="the environment refreshed (never a protected one)")
@click.option("--stanza", default="his", show_default=True, help="the database (stanza)")
@click.option("--host", "target_host", default=None,
              help="the target's database host, when the environment has several")
@click.option("--backup", help="the backup label (default: the last verified one)")
@click.option("-e", "--extra", "extra", multiple=True, metavar="NAME=VALUE",
              help="another refresh-env parameter (repeatable)")
@click.option("--vault-file", type=click.Path(path_type=Path))
@click.option("--check", is_flag=True, help="dry run")
@click.option("-y", "--yes", is_flag=True, help="do not ask for confirmation")
@click.option("--operator")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def refresh(ctx: click.Context, inventory: Path | None, source: str, target: str, stanza: str,
            target_host: str | None, backup: str | None, extra: tuple[str, ...],
            vault_file: Path | None, check: bool, yes: bool, operator: str | None,
            as_json: bool) -> None:
    """Refresh TARGET's database from SOURCE's last verified backup, patient data masked.

    Runs the refresh-env runbook (journaled, resumable with hisops resume); the masking key
    comes from HISOPS_SECRET_MASKING_KEY (or a vault), the application accounts' new password
    from HISOPS_SECRET_TEST_PASSWORD.
    """
    from hisops.cli import _journal
    from hisops.cli import run as run_command
    from hisops.envs.environments import environment

    inv = _inventory(inventory)
    for group in (source, target):
        environment(inv, group)  # exit 2 for an unknown environment, before anything
    refused = environment(inv, target)
    if refused.protected:
        hosts = ", ".join(inv.any_protected(refused.hosts)[:5])
        raise PreconditionFailed("the target is not a protected environment",
                                 f"{hosts} is protected ({refused.name}): a refresh overwrites "
                                 "its database and is never run against production or DR")
    _one_postgres_target(inv, target, target_host)
    named = {item.split("=", 1)[0] for item in extra}
    clash = named & {"source", "target", "stanza", "backup"}
    if clash:
        raise InputError(f"give {', '.join(sorted(clash))} with the options, not -e",
                         field="-e")
    label = backup or last_verified_label(_journal(ctx), stanza)
    if not as_json:
        click.echo(f"refreshing {target} from {source}'s verified backup {label} ({stanza})",
                   err=True)
    ctx.invoke(run_command, runbook="refresh-env", inventory=inv.source, limit=target_host,
               extra=(f"source={source}", f"target={target}", f"stanza={stanza}",
                      f"backup={label}", *extra),
               vault_file=vault_file, check=check, yes=yes, confirm=None, operator=operator,
               as_json=as_json, waive=(), accept_unverified_backup=False, reason=None)


def _one_postgres_target(inv: Any, target: str, host: str | None) -> None:
    """A refresh copies one database onto one PostgreSQL host (exit 2 otherwise)."""
    from hisops.inventory import db_engine

    candidates = inv.hosts(f"db_test:&{target}") if "db_test" in inv.groups else []
    if host is not None:
        if host not in candidates:
            raise InputError(f"{host} is not a database host of {target} (db_test:&{target}: "
                             f"{', '.join(candidates) or 'none'})", field="--host")
        candidates = [host]
    if len(candidates) != 1:
        raise InputError(f"{target} has {len(candidates)} database hosts in db_test "
                         f"({', '.join(candidates) or 'none'}): name one with --host",
                         field="--host")
    engine = db_engine(inv.groups_by_host.get(candidates[0], []),
                       inv.host_vars(candidates[0]))
    if engine != "postgresql":
        raise InputError(f"{candidates[0]} is an {engine} database: refreshing it is not "
                         "built (RMAN duplicate, issue 10)", field="--host")


@env.command()
@click.argument("left")
@click.argument("right")
@click.option("-i", "--inventory", type=click.Path(path_type=Path), default=None)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def diff(ctx: click.Context, left: str, right: str, inventory: Path | None,
         as_json: bool) -> None:
    """What differs between two environments' databases: version, settings, extensions,
    baseline drift (read-only). Exit 1 when they differ or one cannot be read."""
    import os

    from hisops.cli import _journal
    from hisops.envs import diff as diff_mod
    from hisops.envs.environments import environment

    inv = _inventory(inventory)
    envs = environment(inv, left), environment(inv, right)
    secrets = {"db_password": os.environ["HISOPS_SECRET_DB_PASSWORD"]} \
        if os.environ.get("HISOPS_SECRET_DB_PASSWORD") else {}
    result = diff_mod.diff(inv, *envs, secrets=secrets, journal=_journal(ctx))
    if as_json:
        click.echo(json.dumps(result, indent=2, ensure_ascii=False, default=str))
    else:
        _print_diff(result)
    differs = result["differences"] is None or any(result["differences"].values())
    raise SystemExit(1 if differs else 0)


def _print_diff(result: dict[str, Any]) -> None:
    from hisops.reports.console import out_console

    left, right = result["left"], result["right"]
    names = [s["environment"]["group"] for s in (left, right)]
    for side in (left, right):
        if "error" in side:
            out_console.print(f"[red]{escape(side['environment']['group'])}: "
                              f"{escape(side['error'])}[/]")
    found = result["differences"]
    if found is None:
        return
    if not any(found.values()):
        out_console.print(f"[green]{names[0]} and {names[1]} do not differ[/] "
                          f"({left.get('host')} / {right.get('host')})")
        return
    table = Table(title=f"{names[0]} ({left.get('host')}) vs {names[1]} ({right.get('host')})",
                  title_justify="left")
    for column in ("what", "name", names[0], names[1]):
        table.add_column(column, overflow="fold")
    if found["version"]:
        table.add_row("version", "server_version", *map(str, found["version"]))
    for kind in ("settings", "extensions", "baseline_drift"):
        for name, (a, b) in found[kind].items():
            table.add_row(kind, escape(name), escape(_shown(a)), escape(_shown(b)))
    out_console.print(table)


def _shown(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "(none)"
    return str(value)
