"""``hisops inspect``: the quarterly inspection of the estate (read-only, journaled)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from hisops.errors import ExitStatus


def _inventory(path: Path | None) -> Any:
    from hisops.cli import inventory_path
    from hisops.inventory import Inventory

    return Inventory(inventory_path(path))


@click.command()
@click.option("-i", "--inventory", type=click.Path(path_type=Path), default=None,
              help="inventory (default: the lab's)")
@click.option("-l", "--limit", help="further limit hosts (Ansible pattern)")
@click.option("--rules", "rules_path", type=click.Path(path_type=Path),
              help="inspection rules (default: rules/inspection.yml)")
@click.option("--json", "json_path", metavar="FILE",
              help="write the report as JSON to FILE ('-' for standard output)")
@click.option("--report", "html_path", type=click.Path(dir_okay=False, path_type=Path),
              metavar="FILE.html",
              help="also write the inspection report as one self-contained HTML page")
@click.option("--pdf", "pdf_path", type=click.Path(dir_okay=False, path_type=Path),
              metavar="FILE.pdf", help="also print the report to PDF (headless Chromium)")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True,
              help="language of the HTML report")
@click.option("--fail-on", type=click.IntRange(1, 4), default=None,
              help="exit 1 when a finding of this level or worse is found (1 = most severe)")
@click.pass_context
def inspect(ctx: click.Context, inventory: Path | None, limit: str | None,
            rules_path: Path | None, json_path: str | None, html_path: Path | None,
            pdf_path: Path | None, lang: str, fail_on: int | None) -> None:
    """Inspect every host at once: OS, database, replication, backups, baselines; findings
    by the contract's severity levels (read-only, journaled)."""
    from hisops.cli import _journal
    from hisops.inspection.inspect import run_inspection

    quiet = json_path == "-"
    journal = _journal(ctx)
    report = run_inspection(_inventory(inventory), limit=limit, journal=journal,
                            rules_path=rules_path,
                            on_host=None if quiet else lambda h: click.echo(f"  read {h}",
                                                                            err=True))
    text = json.dumps(report, indent=2, ensure_ascii=False, default=str)
    if json_path == "-":
        click.echo(text)
    else:
        if json_path:
            Path(json_path).write_text(text + "\n", encoding="utf-8")
        print_report(report)
    if html_path is not None or pdf_path is not None:
        written = write_report(journal, report, html_path, pdf_path, lang)
        if not quiet:
            click.echo(f"report written to {', '.join(map(str, written))}", err=True)
    worst = report["summary"]["worst_level"]
    failed = fail_on is not None and worst is not None and worst <= fail_on
    raise SystemExit(int(ExitStatus.FAILED) if failed else 0)


def write_report(journal: Any, report: dict[str, Any], html: Path | None, pdf: Path | None,
                 lang: str) -> list[Path]:
    """The HTML page, with the earlier journaled inspections for its trend charts, and/or
    that page printed to PDF."""
    import tempfile

    from hisops.inspection.inspect import RECORD_KIND
    from hisops.inspection.report import earlier, write_html
    from hisops.reports.browser import html_to_pdf

    history = earlier((rec.payload for rec in journal.records(kinds=[RECORD_KIND])),
                      report.get("run_id"))
    with tempfile.TemporaryDirectory(prefix="hisops-report-") as tmp:
        page = html or Path(tmp) / "inspection.html"
        write_html(report, history, page, lang)
        if pdf is not None:
            html_to_pdf(page, pdf)
    return [p for p in (html, pdf) if p is not None]


def print_report(report: dict[str, Any]) -> None:
    from hisops.reports.console import out_console

    summary = report["summary"]
    title = f"inspection {report['run_id']}: {summary['hosts']} hosts, score {summary['score']}"
    if report["partial"]:
        title += f" (PARTIAL: {', '.join(report['unreachable'])} not read)"
    out_console.print(f"[bold]{escape(title)}[/]")
    hosts = Table(title="hosts", title_justify="left")
    for column in ("host", "role", "score", "L1", "L2", "L3", "L4"):
        hosts.add_column(column)
    for entry in report["hosts"]:
        levels = [sum(1 for f in entry["findings"] if f["severity"] == n) for n in (1, 2, 3, 4)]
        hosts.add_row(entry["host"], entry["role"], str(entry["score"]),
                      *[str(n) if n else "-" for n in levels])
    out_console.print(hosts)
    findings = sorted((f for e in report["hosts"] for f in e["findings"]),
                      key=lambda f: (f["severity"], f["host"], f["rule"]))
    if not findings:
        out_console.print("[green]no findings[/]")
        return
    table = Table(title="findings (by severity)", title_justify="left")
    for column in ("level", "host", "finding", "detail", "recommendation"):
        table.add_column(column, overflow="fold")
    for f in findings:
        what = f["title"] + (f" ({f['subject']})" if f["subject"] else "")
        table.add_row(str(f["severity"]), f["host"], escape(what), escape(f["detail"]),
                      escape(f["recommendation"]))
    out_console.print(table)
