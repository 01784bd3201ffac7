"""Rendering for people on a terminal: plan tables, live progress, run summaries, timelines."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.padding import Padding
from rich.table import Table

from hisops.executors.results import HostOutcome
from hisops.journal.state import RunState
from hisops.runbook.durations import format_duration
from hisops.runbook.planner import Plan
from hisops.secrets import REDACTED

if TYPE_CHECKING:
    from hisops.runbook.guards import GuardPreview

STATUS_STYLE = {
    "ok": "green", "changed": "yellow", "skipped": "cyan", "failed": "bold red",
    "unreachable": "bold red", "timeout": "bold red", "waiting": "magenta",
    "interrupted": "red", "rolled_back": "magenta", "succeeded": "bold green",
    "refused": "bold red", "running": "blue", "pending": "dim",
}

err_console = Console(stderr=True, highlight=False)
out_console = Console(highlight=False)


def styled(status: str) -> str:
    style = STATUS_STYLE.get(status, "")
    return f"[{style}]{status}[/]" if style else status


def _hosts_text(hosts: tuple[str, ...] | list[str], width: int = 4) -> str:
    if not hosts:
        return "-"
    shown = ", ".join(hosts[:width])
    return f"{shown} (+{len(hosts) - width})" if len(hosts) > width else shown


def print_plan(plan: Plan) -> None:
    rb = plan.runbook.runbook
    out_console.print(f"[bold]{rb.name}[/]: {rb.summary}")
    out_console.print(f"inventory {plan.inventory_path}" + (f"  limit {plan.limit}"
                                                             if plan.limit else ""))
    if plan.params or plan.secret_names:
        shown = {**plan.params, **{n: REDACTED for n in plan.secret_names}}
        out_console.print("parameters: " + ", ".join(f"{k}={v}" for k, v in shown.items()))
    if plan.guards:
        out_console.print("guards (checked before any change):")
        for guard in plan.guards:
            where = _hosts_text(guard.hosts) if guard.hosts else "facts"
            kind = guard.kind
            if guard.kind == "check":
                kind = f"check {guard.check}"
                where = _hosts_text(guard.hosts) if guard.hosts else "the journal and inventory"
            waiver = f", waivable: {guard.waiver}" if guard.waiver else ""
            out_console.print(f"  - {escape(guard.name)} \\[{kind}{waiver}] on {where}")
    table = Table(show_lines=False, header_style="bold")
    for column in ("#", "step", "kind", "hosts", "action", "idempotent", "rollback", "when"):
        table.add_column(column, overflow="fold")
    for step in plan.steps:
        action = step.action.describe() if step.action else (
            "; ".join(step.that) if step.kind == "assert" else
            ("four-eyes" if step.four_eyes else "approval"))
        table.add_row(str(step.index + 1), step.id, step.kind,
                      f"{len(step.hosts)}: {_hosts_text(step.hosts)}" if step.hosts else "-",
                      action[:80], "yes" if step.idempotent else "no",
                      step.rollback.describe()[:40] if step.rollback else "-", step.when or "")
    out_console.print(table)
    out_console.print(f"locks: {len(plan.lock_hosts)} hosts ({_hosts_text(plan.lock_hosts)})")
    if plan.protected_hosts:
        out_console.print(f"[bold red]protected:[/] {_hosts_text(plan.protected_hosts)}")
    out_console.print(f"plan hash: [bold]{plan.hash}[/]")


def print_guard_previews(plan: Plan, previews: list[GuardPreview] | None,
                         waive_hint: Callable[[str], str]) -> None:
    """What each check guard would say if the run started now; a refusal stands out."""
    if previews is None:
        if any(g.kind == "check" for g in plan.guards):
            out_console.print("check guards: not previewed (--offline)")
        return
    if not previews:
        return
    out_console.print("check guards, if the run started now:")
    for preview in previews:
        if preview.ok:
            out_console.print(f"  - {escape(preview.name)}: [green]would pass[/]")
        else:
            out_console.print(f"  - {escape(preview.name)}: [bold red]would REFUSE[/]: "
                              + escape("; ".join(preview.problems)))
            out_console.print("      " + (escape(f"waivable with {waive_hint(preview.waiver)}")
                                          if preview.waiver else "not waivable"))
        for note in preview.notes:
            out_console.print(f"      {escape(note)}")
        if preview.columns and preview.rows:
            table = Table(header_style="bold")
            for column in preview.columns:
                table.add_column(escape(column), overflow="fold")
            for row in preview.rows:
                table.add_row(*(escape(_cell(row.get(c))) for c in preview.columns))
            out_console.print(Padding(table, (0, 0, 0, 6)))
    refusing = [p for p in previews if not p.ok]
    if refusing:
        waivable = all(p.waiver for p in refusing)
        out_console.print(f"[bold red]hisops run would be REFUSED[/] by {len(refusing)} "
                          f"guard(s){' (all waivable)' if waivable else ''}")


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


class ConsoleReporter:
    """Live progress on stderr: current step, hosts done/failed, elapsed."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.started = time.monotonic()
        self.total = 0
        self.done = self.failed = 0
        self.current = ""
        self.tty = sys.stderr.isatty()

    def _elapsed(self) -> str:
        return format_duration(time.monotonic() - self.started)

    def run_started(self, run_id: str, total_steps: int, resumed: bool) -> None:
        self.total = total_steps
        if self.enabled:
            verb = "resuming" if resumed else "run"
            err_console.print(f"[bold]{verb} {run_id}[/] ({total_steps} steps)")

    def step_started(self, index: int, step_id: str, label: str, hosts: int) -> None:
        self.current, self.done, self.failed = step_id, 0, 0
        if self.enabled:
            err_console.print(f"[{self._elapsed():>6}] step {index + 1}/{self.total} "
                              f"[bold]{step_id}[/]" + (f" on {hosts} hosts" if hosts else ""))

    def host_done(self, step_id: str, outcome: HostOutcome) -> None:
        self.done += 1
        self.failed += 0 if outcome.status.is_success else 1
        if self.enabled and not outcome.status.is_success:
            err_console.print(f"          {outcome.host}: {styled(outcome.status.value)} "
                              f"{escape(outcome.detail)}", markup=True)

    def step_finished(self, step_id: str, status: str, detail: str) -> None:
        if self.enabled:
            hosts = f" hosts {self.done} done, {self.failed} failed" if self.done else ""
            err_console.print(f"[{self._elapsed():>6}]   {step_id}: {styled(status)}{hosts}"
                              + (f" - {escape(detail)}" if detail and status != "ok" else ""))

    def note(self, text: str) -> None:
        if self.enabled:
            err_console.print(f"[{self._elapsed():>6}]   {escape(text)}")


def print_summary(state: RunState) -> None:
    """One row per step with host counts by status; then one row per host that did not
    succeed, so that 200 healthy hosts do not hide the one that failed."""
    table = Table(header_style="bold", title=f"run {state.run_id}: {styled(state.status)}")
    for column in ("step", "status", "hosts", "detail"):
        table.add_column(column, overflow="fold")
    problems: list[tuple[str, str, dict[str, Any]]] = []
    for step in sorted(state.steps.values(), key=lambda s: s.index):
        counts: dict[str, int] = {}
        for host, data in step.hosts.items():
            status = str(data.get("status", ""))
            counts[status] = counts.get(status, 0) + 1
            if status in ("failed", "unreachable", "timeout"):
                problems.append((step.id, host, data))
        hosts = ", ".join(f"{n} {styled(k)}" for k, n in sorted(counts.items())) or "-"
        rollback = f" (rollback {step.rollback['status']})" if step.rollback else ""
        table.add_row(step.id, styled(step.status) + rollback, hosts, escape(step.detail[:120]))
    out_console.print(table)
    for step_id, host, data in problems:
        out_console.print(f"  {step_id} {host}: {styled(str(data.get('status')))} "
                          f"rc={data.get('rc')} {escape(str(data.get('detail', ''))[:200])}",
                          markup=True)
    for guard in state.guards:
        if guard.get("waived"):
            out_console.print(f"[bold yellow]guard {escape(str(guard.get('guard')))} waived[/] "
                              f"({escape(str(guard.get('waiver')))}): "
                              f"{escape(str(guard.get('reason', '')))}; it failed: "
                              f"{escape(str(guard.get('detail', '')))}")
    if state.detail:
        out_console.print(state.detail, markup=False)


def print_runs(states: list[RunState]) -> None:
    table = Table(header_style="bold")
    for column in ("run", "runbook", "status", "operator", "started", "ended", "steps"):
        table.add_column(column)
    for st in states:
        ok = sum(1 for s in st.steps.values() if s.finished_ok)
        table.add_row(st.run_id, st.runbook, styled(st.status), st.operator,
                      st.started_at[:19], st.ended_at[:19], f"{ok}/{len(st.plan.get('steps', []))}")
    out_console.print(table)


def print_timeline(state: RunState) -> None:
    out_console.print(f"[bold]run {state.run_id}[/] {state.runbook} "
                      f"status {styled(state.status)} operator {state.operator}")
    out_console.print(f"plan hash {state.plan_hash}  inventory {state.inventory}")
    for rec in state.timeline:
        out_console.print(f"{rec.ts[:23]}  #{rec.seq:<5} {rec.kind:<18} {_brief(rec.payload)}",
                          markup=False)


def _brief(payload: dict[str, Any]) -> str:
    keys = ("step", "host", "status", "rc", "guard", "ok", "waiver", "approver", "action",
            "reason", "detail", "hosts", "operator")
    parts = [f"{k}={payload[k]}" for k in keys if k in payload and payload[k] not in ("", None)]
    return " ".join(parts)[:200]
