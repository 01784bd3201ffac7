"""``hisops pii scan``: which columns of a host's database look like personal data.

Read-only, inside the database: column names, content shares over a sample (ID-number check
digits, mobile numbers, Chinese names, e-mail addresses); only names and counts come back.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from hisops.errors import InputError


@click.group()
def pii() -> None:
    """Personal data in the estate's databases."""


@pii.command()
@click.option("-i", "--inventory", type=click.Path(path_type=Path), default=None)
@click.option("-l", "--limit", required=True, help="the database host(s) to scan (pattern)")
@click.option("--database", "dbname", default="his", show_default=True)
@click.option("--schema", "schemas", multiple=True, help="only these schemas (repeatable)")
@click.option("--sample", "sample_rows", type=click.IntRange(1, 1_000_000), default=2000,
              show_default=True, help="rows sampled per table for the content tests")
@click.option("--port", type=int, default=None, help="another port than the host's pg_port")
@click.option("--json", "as_json", is_flag=True)
@click.option("--fail-on-found", is_flag=True,
              help="exit 1 when any column looks like personal data (a masked copy's check)")
def scan(inventory: Path | None, limit: str, dbname: str, schemas: tuple[str, ...],
         sample_rows: int, port: int | None, as_json: bool, fail_on_found: bool) -> None:
    """Find columns that look like personal data, by name and by content."""
    from hisops.cli import inventory_path
    from hisops.envs import dbconn
    from hisops.inventory import Inventory
    from hisops.pii import render_table
    from hisops.pii import scan as run_scan
    from hisops.reports.console import out_console

    inv = Inventory(inventory_path(inventory))
    hosts = inv.hosts("all", limit)
    if not hosts:
        raise InputError(f"no host matches {limit!r}", field="-l")
    secrets = {"db_password": os.environ["HISOPS_SECRET_DB_PASSWORD"]} \
        if os.environ.get("HISOPS_SECRET_DB_PASSWORD") else {}
    reports: list[dict[str, Any]] = []
    found = 0
    for host in hosts:
        with dbconn.connect(inv, host, dbname=dbname, secrets=secrets, port=port) as conn:
            report = run_scan(conn, schemas=list(schemas) or None, sample_rows=sample_rows)
        found += len(report.findings)
        reports.append({"host": host, **report.to_dict()})
        if not as_json:
            out_console.print(f"[bold]{host}[/] {dbname}: {report.tables} tables, "
                              f"{report.columns} columns, {len(report.findings)} look personal "
                              f"({report.seconds:.1f} s)")
            if report.findings:
                out_console.print(render_table(report))
    if as_json:
        click.echo(json.dumps(reports, indent=2, ensure_ascii=False))
    raise SystemExit(1 if fail_on_found and found else 0)
