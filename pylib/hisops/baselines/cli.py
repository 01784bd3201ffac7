"""``hisops baseline``: check, apply, history, diff, list."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from hisops.errors import ExitStatus

LEVEL_HELP = "exit 1 when an item of this severity or worse drifts (1 = most severe; default 4)"


def _inventory(path: Path | None) -> Any:
    from hisops.cli import inventory_path
    from hisops.inventory import Inventory

    return Inventory(inventory_path(path))


def _journal(ctx: click.Context) -> Any:
    from hisops.cli import _journal as journal_of

    return journal_of(ctx)


@click.group()
def baseline() -> None:
    """Configuration baselines: check drift, fix it, show its history."""


@baseline.command("list")
@click.option("--json", "as_json", is_flag=True)
def list_baselines(as_json: bool) -> None:
    """The shipped baselines (baselines/*.yml)."""
    from hisops.baselines.loader import available, load_baseline

    rows = []
    for path in available():
        loaded = load_baseline(path)
        rows.append({"name": loaded.name, "engine": loaded.baseline.engine,
                     "items": len(loaded.baseline.items), "title": loaded.baseline.title,
                     "source": loaded.baseline.source, "path": str(path)})
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    for row in rows:
        click.echo(f"{row['name']:<24} {row['engine']:<10} {row['items']:>3} items  "
                   f"{row['title']}")


def _common(func: Any) -> Any:
    func = click.option("-l", "--limit", help="further limit hosts (Ansible pattern)")(func)
    func = click.option("-i", "--inventory", type=click.Path(path_type=Path), default=None,
                        help="inventory (default: the lab's)")(func)
    return click.argument("baseline_name", metavar="BASELINE")(func)


@baseline.command()
@_common
@click.option("--fail-on", type=click.IntRange(1, 4), default=4, show_default=True,
              help=LEVEL_HELP)
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
@click.option("--report", "html", type=click.Path(path_type=Path),
              help="write the HTML drift report here")
@click.option("--json-report", "json_file", type=click.Path(path_type=Path),
              help="write the JSON drift report here")
@click.option("--pdf", "pdf", type=click.Path(path_type=Path),
              help="print the HTML drift report to this PDF (headless Chromium)")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True,
              help="language of the HTML report")
@click.option("--all", "show_all", is_flag=True, help="list items that hold, too")
@click.pass_context
def check(ctx: click.Context, baseline_name: str, inventory: Path | None, limit: str | None,
          fail_on: int, as_json: bool, html: Path | None, json_file: Path | None,
          pdf: Path | None, lang: str, show_all: bool) -> None:
    """Report drift from BASELINE per host and item (read-only, journaled)."""
    from hisops.baselines.check import run_check
    from hisops.baselines.loader import load_baseline

    loaded = load_baseline(baseline_name)  # exit 2 on a bad baseline, before any host
    inv = _inventory(inventory)
    report = run_check(loaded, inv, limit=limit, fail_on=fail_on, journal=_journal(ctx),
                       on_host=None if as_json else _progress)
    _write_files(report, html, json_file, lang, pdf)
    if as_json:
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        from hisops.baselines.console import print_report

        print_report(report, show_all=show_all)
    raise SystemExit(int(ExitStatus.FAILED) if report["summary"]["failed"] else 0)


def _progress(host: str) -> None:
    click.echo(f"  read {host}", err=True)


def _write_files(report: dict[str, Any], html: Path | None, json_file: Path | None,
                 lang: str, pdf: Path | None = None) -> None:
    if html is None and json_file is None and pdf is None:
        return
    import tempfile

    from hisops.baselines.report import write_reports
    from hisops.reports.browser import html_to_pdf

    with tempfile.TemporaryDirectory(prefix="hisops-report-") as tmp:
        page = html or (Path(tmp) / "drift.html" if pdf else None)
        write_reports(report, page, json_file, lang)
        if pdf is not None and page is not None:
            html_to_pdf(page, pdf)


@baseline.command()
@_common
@click.option("--check", "dry_run", is_flag=True,
              help="show what would change (check and diff mode), change nothing")
@click.option("--allow-restart", is_flag=True,
              help="restart PostgreSQL where a changed parameter needs it")
@click.option("-y", "--yes", is_flag=True, help="do not ask for confirmation")
@click.option("--confirm", metavar="HOST[,HOST...]",
              help="typed confirmation: the protected hosts the run changes, by name")
@click.option("--operator", help="who runs this (default $HISOPS_OPERATOR or the login)")
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
@click.pass_context
def apply(ctx: click.Context, baseline_name: str, inventory: Path | None, limit: str | None,
          dry_run: bool, allow_restart: bool, yes: bool, confirm: str | None,
          operator: str | None, as_json: bool) -> None:
    """Fix BASELINE's drift through the pg_baseline role (journaled, resumable)."""
    from hisops.baselines.apply import apply_baseline

    result = apply_baseline(
        baseline_name, _inventory(inventory), limit=limit, check=dry_run,
        allow_restart=allow_restart, journal=_journal(ctx), operator=operator, yes=yes,
        confirm=confirm, quiet=as_json)
    if as_json:
        click.echo(json.dumps(result, indent=2, ensure_ascii=False, default=str))
    raise SystemExit(int(result["exit_code"]))


@baseline.command()
@click.argument("host")
@click.option("--baseline", "baseline_name", help="only this baseline")
@click.option("--all", "show_all", is_flag=True, help="list items that never drifted, too")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def history(ctx: click.Context, host: str, baseline_name: str | None, show_all: bool,
            as_json: bool) -> None:
    """When each item started and stopped drifting on HOST."""
    from dataclasses import asdict

    from hisops.baselines.console import print_history
    from hisops.baselines.history import host_history

    items = host_history(_journal(ctx), host, baseline_name)
    if as_json:
        click.echo(json.dumps([{**asdict(i), "drifting_since": i.drifting_since}
                               for i in items], indent=2, ensure_ascii=False))
        return
    print_history(host, items, show_all=show_all)


@baseline.command()
@click.argument("run_a")
@click.argument("run_b")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def diff(ctx: click.Context, run_a: str, run_b: str, as_json: bool) -> None:
    """What changed between two checks (run ids from check's output or --json)."""
    from hisops.baselines.console import print_diff
    from hisops.baselines.history import diff as diff_reports
    from hisops.baselines.history import find_report

    journal = _journal(ctx)
    a, b = find_report(journal, run_a), find_report(journal, run_b)
    rows = diff_reports(a, b)
    if as_json:
        click.echo(json.dumps({"from": run_a, "to": run_b, "changes": rows}, indent=2,
                              ensure_ascii=False))
        return
    print_diff(a, b, rows)
