"""``hisops backups`` for people: one row per database, then every problem on its own line."""

from __future__ import annotations

from datetime import datetime

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from hisops.reports.backups import DatabaseBackupStatus, human_age, human_duration


def render_backups(statuses: list[DatabaseBackupStatus]) -> RenderableType:
    """A table (database | last backup | last verified restore | RTO | RPO | status) and,
    under it, the problems that make a database stale."""
    if not statuses:
        return Text("no backups or restore drills recorded in the journal")
    table = Table(header_style="bold")
    for column in ("database", "last backup", "last verified restore", "RTO", "RPO",
                   "status"):
        table.add_column(column, overflow="fold")
    lines: list[RenderableType] = []
    for st in statuses:
        table.add_row(_database(st), _backup(st), _verified(st), *_rto_rpo(st), _status(st))
        for problem in st.problems:
            lines.append(Text.assemble("  ", (st.database, "bold"), ": ", problem))
    stale = sum(1 for st in statuses if st.stale)
    limit = human_age(statuses[0].stale_after_s)
    summary = (Text(f"{stale} of {len(statuses)} databases stale (limit {limit}):", "bold red")
               if stale else Text(f"all {len(statuses)} databases verified within {limit}",
                                  "green"))
    return Group(table, summary, *lines)


def print_backups(statuses: list[DatabaseBackupStatus], console: Console | None = None) -> None:
    (console or Console(highlight=False)).print(render_backups(statuses))


def _age(st: DatabaseBackupStatus, when: datetime) -> str:
    return f"{human_age((st.as_of - when).total_seconds())} ago"


def _database(st: DatabaseBackupStatus) -> str:
    return f"{st.database} ({st.engine})" if st.engine else st.database


def _backup(st: DatabaseBackupStatus) -> Text:
    b = st.last_backup
    if b is None:
        return Text("none", "bold red")
    return Text(f"{b.label} ({b.kind}), {_age(st, b.finished_at)}")


def _verified(st: DatabaseBackupStatus) -> Text:
    v = st.last_verified
    if v is None:
        return Text("never", "bold red")
    return Text(f"{_age(st, v.drilled_at)}, {v.label}")


def _rto_rpo(st: DatabaseBackupStatus) -> tuple[str, str]:
    v = st.last_verified
    if v is None:
        return "-", "-"
    return (human_duration(v.rto_s) if v.rto_s is not None else "-",
            human_duration(v.rpo_s) if v.rpo_s is not None else "-")


def _status(st: DatabaseBackupStatus) -> Text:
    if st.last_drill_failed is not None:
        return Text("DRILL FAILED", "bold red")
    if st.stale:
        return Text("STALE", "bold red")
    return Text("ok", "green")
