"""``hisops problems``: the problem list (list, show) and its lifecycle (ack, note, resolve,
confirm). Times are shown in the service calendar's zone; ``--json`` gives UTC."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from hisops.problems.model import STATUSES, UNRESOLVED, ProblemState
from hisops.problems.workcalendar import WorkCalendar

STATUS_CHOICES = [*STATUSES, "all"]


def _journal(ctx: click.Context) -> Any:
    from hisops.cli import _journal as journal_of

    return journal_of(ctx)


def _calendar(ctx: click.Context) -> WorkCalendar:
    from hisops.problems.workcalendar import load_calendar

    obj = ctx.ensure_object(dict)
    if "problems_calendar" not in obj:
        obj["problems_calendar"] = load_calendar(obj.get("problems_calendar_path"))
    calendar: WorkCalendar = obj["problems_calendar"]
    return calendar


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def _when(calendar: WorkCalendar, when: datetime | None) -> str:
    return f"{calendar.local(when):%Y-%m-%d %H:%M}" if when else "-"


@click.group()
@click.option("--calendar", "calendar_path", type=click.Path(path_type=Path), default=None,
              help="service calendar YAML for working days (default: $HISOPS_CALENDAR, else "
              "$HISOPS_HOME/calendar.yml, else Mon-Fri 08:00-17:30 Asia/Shanghai)")
@click.pass_context
def problems(ctx: click.Context, calendar_path: Path | None) -> None:
    """The problem list: what inspections found, its deadlines, owner and notes."""
    ctx.ensure_object(dict)["problems_calendar_path"] = calendar_path


@problems.command("list")
@click.option("--status", type=click.Choice(STATUS_CHOICES), default=None,
              help="only this status (default: every problem not resolved)")
@click.option("--severity", type=click.IntRange(1, 4), default=None, help="only this level")
@click.option("--host", default=None, help="only problems of this host")
@click.option("--overdue", is_flag=True, help="only problems with a deadline overdue now")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def list_problems(ctx: click.Context, status: str | None, severity: int | None,
                  host: str | None, overdue: bool, as_json: bool) -> None:
    """Problems by severity, then when found, with their next deadline."""
    from hisops.problems.deadlines import is_overdue, next_deadline
    from hisops.problems.store import load_problems
    from hisops.problems.views import problem_dict

    calendar = _calendar(ctx)
    now = datetime.now(UTC)
    wanted = UNRESOLVED if status is None else (set(STATUSES) if status == "all" else {status})
    rows = sorted((p for p in load_problems(_journal(ctx)).values()
                   if p.status in wanted and (severity is None or p.severity == severity)
                   and (host is None or p.host == host)
                   and (not overdue or is_overdue(p, calendar, now))),
                  key=lambda p: (p.severity, p.found_at, p.id))
    if as_json:
        _echo_json([problem_dict(p, calendar, now) for p in rows])
        return
    if not rows:
        click.echo("no problems" + ("" if status or severity or host or overdue
                                    else " open (see --status all)"))
        return
    click.echo(f"{'id':<12} {'sev':<3} {'status':<12} {'host':<16} {'title':<40} "
               f"{'found':<16} {'next deadline':<36} owner")
    for p in rows:
        upcoming = next_deadline(p, calendar, now)
        click.echo(f"{p.id:<12} {p.severity:<3} {p.status:<12} {p.host[:16]:<16} "
                   f"{p.title[:40]:<40} {_when(calendar, p.found_at):<16} "
                   f"{upcoming.brief(calendar) if upcoming else '-':<36} "
                   f"{p.owner or '-'}")
    click.echo(f"{len(rows)} problem(s); times in {calendar.timezone}")


@problems.command("show")
@click.argument("problem_id")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def show_problem(ctx: click.Context, problem_id: str, as_json: bool) -> None:
    """Everything about PROBLEM_ID: deadlines, notes and the timeline of its records."""
    from hisops.problems.store import get_problem
    from hisops.problems.views import problem_dict

    calendar = _calendar(ctx)
    problem = get_problem(_journal(ctx), problem_id)
    if as_json:
        _echo_json(problem_dict(problem, calendar, timeline=True))
        return
    _print_problem(problem, calendar)


def _print_problem(p: ProblemState, calendar: WorkCalendar) -> None:
    from hisops.problems.deadlines import all_deadlines
    from hisops.severity import level

    now = datetime.now(UTC)
    lvl = level(p.severity, p.scale)
    click.echo(f"{p.id}  {lvl.name_en} ({p.scale}: {lvl.meaning_en})  {p.status}")
    click.echo(f"  {p.title}" + (f" / {p.title_zh}" if p.title_zh else ""))
    click.echo(f"  key {p.key}  rule {p.rule}  host {p.host}"
               + (f"  subject {p.subject}" if p.subject else ""))
    click.echo(f"  found {_when(calendar, p.found_at)} by {p.source} ({p.opened_by}); "
               f"last seen {_when(calendar, p.last_seen)} by {p.last_source}; "
               f"{p.occurrences} occurrence(s); last observed at level "
               f"{p.last_observed_severity}")
    if p.owner:
        click.echo(f"  owner {p.owner} (first acknowledged {_when(calendar, p.acknowledged_at)})")
    if p.to_confirm_since:
        click.echo(f"  gone from inspection {p.to_confirm_source} "
                   f"({_when(calendar, p.to_confirm_since)}): confirm to close")
    if p.resolved_at:
        how = "confirmed gone" if p.confirmed else "resolved"
        click.echo(f"  {how} {_when(calendar, p.resolved_at)} by {p.resolved_by}: "
                   f"{p.resolution}")
    if p.recurrence_of:
        click.echo(f"  recurrence of {p.recurrence_of}")
    if p.recurred_as:
        click.echo(f"  recurred as {', '.join(p.recurred_as)}")
    for label, text in (("detail", p.detail), ("recommendation", p.recommendation)):
        if text:
            click.echo(f"  {label}: {text}")
    click.echo(f"deadlines (times in {calendar.timezone}):")
    for clock_index, clock in enumerate(p.clocks):
        suffix = "" if clock_index == len(p.clocks) - 1 else " (until an escalation)"
        click.echo(f"  level {clock.severity} from {_when(calendar, clock.started_at)}{suffix}")
    for deadline in all_deadlines(p, calendar, now):
        click.echo(f"  L{deadline.severity} {deadline.describe(calendar)}")
    if p.notes:
        click.echo("notes:")
        for note in p.notes:
            click.echo(f"  {_when(calendar, note['at'])} {note['operator']} [{note['via']}] "
                       f"{note['text']}")
    click.echo("timeline:")
    for rec in p.timeline:
        brief = " ".join(f"{k}={rec.payload[k]}" for k in
                         ("source", "severity", "from", "to", "owner", "operator", "reason",
                          "note", "text")
                         if rec.payload.get(k) not in (None, ""))
        click.echo(f"  {rec.ts[:19]}  #{rec.seq:<6} {rec.kind:<20} {brief}"[:200])


def _done(ctx: click.Context, problem: ProblemState, verb: str) -> None:
    from hisops.problems.deadlines import next_deadline

    calendar = _calendar(ctx)
    upcoming = next_deadline(problem, calendar)
    tail = f"; next: {upcoming.describe(calendar)}" if upcoming else ""
    click.echo(f"{verb} {problem.id} ({problem.status}){tail}")


@problems.command("ack")
@click.argument("problem_id")
@click.option("--owner", required=True, help="who owns it from now on")
@click.option("--note", default="", help="what the first response was")
@click.option("--operator", default=None, help="who records this (default $HISOPS_OPERATOR "
              "or the login)")
@click.pass_context
def ack(ctx: click.Context, problem_id: str, owner: str, note: str,
        operator: str | None) -> None:
    """Acknowledge PROBLEM_ID: the first response (meets the response deadline)."""
    from hisops.problems.store import acknowledge

    _done(ctx, acknowledge(_journal(ctx), problem_id, owner=owner, note=note,
                           operator=operator), "acknowledged")


@problems.command("note")
@click.argument("problem_id")
@click.argument("text")
@click.option("--solution", is_flag=True,
              help="this note gives a fix or workaround (meets the solution deadline)")
@click.option("--operator", default=None)
@click.pass_context
def note(ctx: click.Context, problem_id: str, text: str, solution: bool,
         operator: str | None) -> None:
    """Add a note to PROBLEM_ID."""
    from hisops.problems.store import add_note

    _done(ctx, add_note(_journal(ctx), problem_id, text, solution=solution, operator=operator),
          "noted")


@problems.command("resolve")
@click.argument("problem_id")
@click.option("--note", required=True, help="what was done (required)")
@click.option("--operator", default=None)
@click.pass_context
def resolve(ctx: click.Context, problem_id: str, note: str, operator: str | None) -> None:
    """Resolve PROBLEM_ID, saying what was done."""
    from hisops.problems.store import resolve as resolve_problem

    _done(ctx, resolve_problem(_journal(ctx), problem_id, note=note, operator=operator),
          "resolved")


@problems.command("confirm")
@click.argument("problem_id")
@click.option("--note", default="", help="why it is gone")
@click.option("--operator", default=None)
@click.pass_context
def confirm(ctx: click.Context, problem_id: str, note: str, operator: str | None) -> None:
    """Close PROBLEM_ID, which an inspection no longer saw (status to_confirm)."""
    from hisops.problems.store import confirm as confirm_problem

    _done(ctx, confirm_problem(_journal(ctx), problem_id, note=note, operator=operator),
          "confirmed")
