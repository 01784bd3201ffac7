"""Drift reports, fix plans, history and diffs on a terminal (rich tables on stdout)."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table

from hisops.reports.console import err_console, out_console

STATUS = {"ok": "[green]ok[/]", "drift": "[bold red]drift[/]", "error": "[bold red]error[/]",
          "n/a": "[dim]n/a[/]"}
_ORDER = {"drift": 0, "error": 1, "n/a": 2, "ok": 3}


def print_report(report: dict[str, Any], *, show_all: bool = False) -> None:
    base = report["baseline"]
    summary = report["summary"]
    out_console.print(f"[bold]{escape(base['title'])}[/] ({base['name']}, "
                      f"{escape(base['source'] or 'hisops')})  check {report['run_id']}")
    table = Table(show_lines=False, pad_edge=False)
    for column in ("host", "item", "sev", "status", "expected", "actual", "fix", "needs"):
        table.add_column(column, overflow="fold")
    for host in report["hosts"]:
        if host["error"]:
            table.add_row(host["host"], "-", "-", STATUS["error"], "", "",
                          escape(host["error"]), "")
            continue
        rows = sorted(host["results"], key=lambda r: (_ORDER[r["status"]], r["severity"]))
        for row in rows:
            if row["status"] == "ok" and not show_all:
                continue
            detail = f" ({row['detail']})" if row.get("detail") else ""
            table.add_row(host["host"], row["item"], str(row["severity"]),
                          STATUS[row["status"]], escape(row["expected"]),
                          escape(row["actual"] + detail), escape(row["fix"]), row["needs"])
    if table.row_count:
        out_console.print(table)
    levels = ", ".join(f"level {n}: {c}" for n, c in summary["drift_by_severity"].items() if c)
    out_console.print(
        f"{summary['hosts']} hosts, {summary['checked']} checks: {summary['ok']} ok, "
        f"{summary['drift']} drift" + (f" ({levels})" if levels else "")
        + f", {summary['error']} error, {summary['not_applicable']} n/a"
        + (f", {summary['unreadable']} hosts not read" if summary["unreadable"] else "")
        + f" in {report['duration_s']} s")
    if report.get("scope_missing"):
        out_console.print("[dim]scope groups not in this inventory: "
                          + ", ".join(report["scope_missing"]) + "[/]")


def print_fix_plan(report: dict[str, Any], fixing: dict[str, Any],
                   left: list[dict[str, Any]]) -> None:
    out_console.print(f"check {report['run_id']}: {report['summary']['drift']} drift(s)")
    if fixing:
        table = Table(title="to fix", title_justify="left")
        for column in ("host", "item", "expected", "actual", "fix", "needs"):
            table.add_column(column, overflow="fold")
        for host in report["hosts"]:
            planned = set(fixing.get(host["host"], {}).get("items", []))
            for row in host["results"]:
                if row["item"] in planned:
                    table.add_row(host["host"], row["item"], escape(row["expected"]),
                                  escape(row["actual"]), escape(row["fix"]), row["needs"])
        out_console.print(table)
    else:
        out_console.print("nothing to fix automatically")
    _print_left(left)


def _print_left(left: list[dict[str, Any]]) -> None:
    if not left:
        return
    table = Table(title="not fixed by apply (a person, a restart, or the primary)",
                  title_justify="left")
    for column in ("host", "item", "sev", "why / how"):
        table.add_column(column, overflow="fold")
    for row in left:
        why = row.get("detail") or row.get("fix") or ""
        if row.get("fix_mode") == "manual" and row.get("fix"):
            why = f"manual: {row['fix']}"
        table.add_row(row["host"], row["item"], str(row.get("severity", "")), escape(why))
    out_console.print(table)


def print_note(text: str) -> None:
    out_console.print(escape(text))


def print_apply_failed(run_id: str, detail: str) -> None:
    err_console.print(f"[bold red]apply failed[/]: {escape(detail)}; after fixing the cause: "
                      f"hisops resume {run_id}")


def print_apply_done(result: dict[str, Any]) -> None:
    for host, evidence in sorted(result["changes"].items()):
        changed = evidence.get("changed") or []
        flags = [name for name in ("reloaded", "restarted") if evidence.get(name)]
        if evidence.get("restart_pending"):
            flags.append("restart pending (use --allow-restart)")
        verb = "would change" if result["check"] else "changed"
        out_console.print(f"{host}: {verb} {len(changed)}: " + escape(", ".join(changed))
                          + (escape(f" ({', '.join(flags)})") if flags else ""))
        for warning in evidence.get("warnings") or []:
            out_console.print(f"  [yellow]warning[/]: {escape(str(warning))}")
    if result["check_after"]:
        out_console.print(f"re-checked: {result['check_after']}")
        _print_left(result["left_over"])
        if not result["left_over"]:
            out_console.print("[green]no drift left[/]")


def print_history(host: str, items: list[Any], *, show_all: bool = False) -> None:
    """Items that ever drifted, drifting ones first; the rest counted (``--all`` lists them)."""
    shown = [i for i in items if show_all or i.episodes]
    table = Table(title=f"baseline history of {host}", title_justify="left")
    for column in ("baseline", "item", "sev", "now", "drifting since", "episodes", "checks"):
        table.add_column(column, overflow="fold")
    for item in sorted(shown, key=lambda i: (i.drifting_since is None, not i.episodes,
                                            i.severity, i.baseline, i.item)):
        episodes = "; ".join(f"{_when(e.started)} -> {_when(e.stopped) if e.stopped else 'now'}"
                             for e in item.episodes)
        table.add_row(item.baseline, item.item, str(item.severity), STATUS.get(item.status,
                      item.status), _when(item.drifting_since) if item.drifting_since else "-",
                      episodes or "-", str(item.checks))
    if shown:
        out_console.print(table)
    never = len(items) - len([i for i in items if i.episodes])
    if never and not show_all:
        out_console.print(f"{never} item(s) never drifted (--all lists them)")


def _when(timestamp: str) -> str:
    """2026-11-26T11:45:59+00:00 -> 2026-11-26 11:45 (UTC, as journaled; --json has it all)."""
    return timestamp[:16].replace("T", " ")


def print_diff(a: dict[str, Any], b: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    out_console.print(f"{a['run_id']} ({a['started_at']}) -> {b['run_id']} ({b['started_at']})")
    if not rows:
        out_console.print("no change")
        return
    table = Table()
    for column in ("host", "item", "sev", "change", "before", "after"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row["host"], row["item"], str(row["severity"]), row["change"],
                      escape(f"{row['before']} {row['actual_before']}".strip()),
                      escape(f"{row['after']} {row['actual_after']}".strip()))
    out_console.print(table)
