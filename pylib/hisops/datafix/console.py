"""How ``hisops plan`` shows a data correction: its SQL as written, the rows each find entry
matches now, and a rehearsal's before/after sample (rolled back; personal data redacted)."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table

from hisops.datafix import journaled_corrections
from hisops.datafix.preview import HostPreview
from hisops.reports.console import out_console
from hisops.runbook.planner import Plan


def _value(value: Any) -> str:
    return "NULL" if value is None else str(value)


def print_datafix_previews(plan: Plan, previews: dict[str, list[HostPreview]]) -> None:
    for step_id, hosts in previews.items():
        step = plan.step(step_id)
        assert step.action is not None  # noqa: S101 - a datafix step has its action
        args = step.action.args
        out_console.print(f"\n[bold]data correction '{step_id}'[/] on database "
                          f"{args['database']} (lock_timeout {args['lock_timeout_s']}s, "
                          f"statement_timeout {args['statement_timeout_s']}s, one transaction)")
        if args.get("binds"):
            out_console.print("binds: " + ", ".join(f":{k} = {v!r}"
                                                     for k, v in args["binds"].items()))
        for i, target in enumerate(args["find"]):
            out_console.print(f"  find {i + 1}: {target['table']} (key "
                              f"{', '.join(target['key'])}), expect {target['expect_rows']} "
                              f"row(s): WHERE {escape(target['where'])}")
        for i, text in enumerate(args["fix"]):
            out_console.print(f"  fix {i + 1}: {escape(text)}")
        for check in args.get("verify", []):
            want = (f"{check['expect_rows']} row(s)" if check.get("expect_rows") is not None
                    else f"= {check.get('expect_value')!r}")
            out_console.print(f"  verify '{escape(check['name'])}': {escape(check['sql'])} "
                              f"-> {want}")
        for host in hosts:
            _print_host(args, host)


def _print_host(args: dict[str, Any], host: HostPreview) -> None:
    if host.error:
        out_console.print(f"  [red]{host.host}: could not count: {escape(host.error)}[/]")
        return
    counts = ", ".join(f"{t['table']} {n}" for t, n in zip(args["find"], host.counts or [],
                                                          strict=False))
    out_console.print(f"  {host.host}: rows found now: {counts}")
    if host.refused:
        out_console.print(f"  [bold red]{host.host}: a run now would change nothing and fail: "
                          f"{escape(host.refused)}[/]")
        return
    if not host.rehearsed:
        return
    for stmt in host.statements:
        out_console.print(f"    rehearsed: {stmt['rowcount']} row(s) <- "
                          f"{escape(stmt['sql'][:70])}")
    for check in host.verify:
        out_console.print(f"    verify '{escape(check['name'])}' held")
    if host.sample:
        table = Table(header_style="bold", title=f"{host.host}: sample (rolled back)")
        for column in ("table", "key", "change", "column", "before", "after"):
            table.add_column(column, overflow="fold")
        for row in host.sample:
            key = ", ".join(f"{k}={v}" for k, v in row["key"].items())
            cols = row["columns"] or {"": [None, None]}
            for i, (col, (before, after)) in enumerate(cols.items()):
                table.add_row(row["table"] if i == 0 else "", key if i == 0 else "",
                              row["change"] if i == 0 else "", col, escape(_value(before)),
                              escape(_value(after)))
        out_console.print(table)


def print_journaled_corrections(state: Any) -> None:
    """``hisops show`` of a run with data corrections: per sql step, the SQL as planned, the
    rows each find entry matched when planning (what an approver approves), and the rows the
    correction changed (personal data redacted, as journaled)."""
    evidence: dict[tuple[str, str], dict[str, Any]] = {}
    for record in state.timeline:
        if record.kind == "evidence.recorded" and record.payload.get("type") == "datafix":
            evidence[(record.payload["step"], record.payload["subject"])] = \
                record.payload["evidence"]
    for step in journaled_corrections(state.plan):
        args = step["action"].get("args") or {}
        out_console.print(f"\n[bold]data correction '{step['id']}'[/] on database "
                          f"{args.get('database')}")
        planned = args.get("planned_rows") or {}
        for i, target in enumerate(args.get("find", [])):
            seen = ", ".join(f"{h} {counts[i]}" for h, counts in planned.items()
                             if i < len(counts))
            out_console.print(f"  find {i + 1}: {target['table']}, expect "
                              f"{target['expect_rows']}; rows when planned: {seen or '-'}: "
                              f"WHERE {escape(target['where'])}")
        for i, text in enumerate(args.get("fix", [])):
            out_console.print(f"  fix {i + 1}: {escape(text)}")
        if args.get("binds"):
            out_console.print("  binds: " + ", ".join(f":{k} = {v!r}"
                                                       for k, v in args["binds"].items()))
        for (step_id, host), ev in evidence.items():
            if step_id != step["id"]:
                continue
            out_console.print(f"  {host}: {ev.get('counts')}; before-images in "
                              f"{ev.get('before_images')}")
            for row in ev.get("rows", [])[:20]:
                changes = "; ".join(f"{c}: {_value(b)} -> {_value(a)}"
                                    for c, (b, a) in row["columns"].items())
                key = ", ".join(f"{k}={v}" for k, v in row["key"].items())
                out_console.print(f"    {row['table']} {key} {row['change']}: "
                                  f"{escape(changes)}")
            hidden = len(ev.get("rows", [])) - 20 + int(ev.get("rows_not_listed") or 0)
            if hidden > 0:
                out_console.print(f"    ... and {hidden} more row(s) (hisops show --json)")
