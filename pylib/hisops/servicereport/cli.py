"""``hisops report``: the contract's quarterly and annual service reports from the journal.

``--json FILE|-``, ``--html FILE`` and ``--pdf FILE`` write the report (Chinese by default,
``--lang``; the PDF is the HTML page printed by headless Chromium); without any, a short
summary is printed. Periods follow the service calendar's zone.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from hisops.problems.workcalendar import WorkCalendar

F = TypeVar("F", bound=Callable[..., Any])


def _journal(ctx: click.Context) -> Any:
    from hisops.cli import _journal as journal_of

    return journal_of(ctx)


def _calendar(ctx: click.Context) -> WorkCalendar:
    from hisops.problems.workcalendar import load_calendar

    calendar: WorkCalendar = load_calendar(ctx.ensure_object(dict).get("report_calendar_path"))
    return calendar


def _outputs(func: F) -> F:
    """--json, --html, --pdf, --lang: shared by both reports."""
    @click.option("--pdf", "pdf_path", type=click.Path(dir_okay=False, path_type=Path),
                  default=None, help="print the report to PDF (headless Chromium)")
    @click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True,
                  help="language of the HTML page and the summary")
    @click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path),
                  default=None, help="write the report as one self-contained HTML page")
    @click.option("--json", "json_out", metavar="FILE|-", default=None,
                  help="write the report as JSON to FILE, or to standard output with -")
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


@click.group()
@click.option("--calendar", "calendar_path", type=click.Path(path_type=Path), default=None,
              help="service calendar YAML (default: $HISOPS_CALENDAR, else "
              "$HISOPS_HOME/calendar.yml, else Mon-Fri 08:00-17:30 Asia/Shanghai)")
@click.pass_context
def report(ctx: click.Context, calendar_path: Path | None) -> None:
    """Service reports for the hospital: quarterly and annual."""
    ctx.ensure_object(dict)["report_calendar_path"] = calendar_path


@report.command()
@click.option("--quarter", default=None, metavar="YYYYQN",
              help="the quarter, such as 2026Q4 (default: the current quarter)")
@_outputs
@click.pass_context
def quarterly(ctx: click.Context, quarter: str | None, json_out: str | None,
              html_path: Path | None, pdf_path: Path | None, lang: str) -> None:
    """The quarterly service report: inspections, problems and SLA, runbooks, advice."""
    from hisops.servicereport.collect import collect_quarter, current_quarter

    calendar = _calendar(ctx)
    data = collect_quarter(_journal(ctx), quarter or current_quarter(calendar),
                           calendar=calendar)
    _emit(data, json_out, html_path, pdf_path, lang)


@report.command()
@click.option("--year", type=click.IntRange(2000, 9999), default=None,
              help="the year (default: the current year)")
@_outputs
@click.pass_context
def annual(ctx: click.Context, year: int | None, json_out: str | None,
           html_path: Path | None, pdf_path: Path | None, lang: str) -> None:
    """The annual service report: the year's totals and its four quarters."""
    from hisops.servicereport.collect import collect_annual, current_year

    calendar = _calendar(ctx)
    data = collect_annual(_journal(ctx), year or current_year(calendar), calendar=calendar)
    _emit(data, json_out, html_path, pdf_path, lang)


def _emit(data: dict[str, Any], json_out: str | None, html_path: Path | None,
          pdf_path: Path | None, lang: str) -> None:
    from hisops.servicereport.render import summary_lines, to_json, write_reports

    json_path = None if json_out in (None, "-") else Path(str(json_out))
    write_reports(data, html_path=html_path, json_path=json_path, pdf_path=pdf_path,
                  lang=lang)
    if json_out == "-":
        click.echo(to_json(data), nl=False)
        return
    if json_path is None and html_path is None and pdf_path is None:
        for line in summary_lines(data, lang):
            click.echo(line)
        return
    for path in (html_path, pdf_path, json_path):
        if path is not None:
            click.echo(f"wrote {path}", err=True)
