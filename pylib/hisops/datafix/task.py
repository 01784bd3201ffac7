"""``datafix`` and ``datafix_undo``: the controller tasks behind a runbook's ``sql`` steps
and ``hisops datafix undo``.

What leaves the database (the journal's evidence, the console, ``hisops plan``) shows the
rows changed with personal data redacted by the masking policy's columns (a name or an ID
number in a run journal is a leak the journal's readers were never cleared for); the exact
values stay in the database's ``hisops`` schema, where the undo needs them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from hisops import paths
from hisops.datafix import TASK
from hisops.datafix import postgres as pg
from hisops.datafix.common import Refused, RowChange
from hisops.datafix.spec import FixSpec, parse_spec
from hisops.datafix.undo import UndoReport, run_undo
from hisops.envs import dbconn
from hisops.errors import ExecutorError
from hisops.executors.results import HostOutcome, HostStatus
from hisops.runbook.model import SQL_NAME
from hisops.tasks import BadArgument, HostDone, TaskContext, TaskResult, TaskSpec, per_host

EVIDENCE_TYPE = "datafix"
UNDO_EVIDENCE_TYPE = "datafix_undo"
REDACTED = "[personal data]"
JOURNALED_ROWS = 200  # rows listed in the journal's evidence (all are kept in the database)


@dataclass(frozen=True)
class Redactor:
    columns: Mapping[str, frozenset[str]]  # schema.table -> personal-data columns

    def row(self, table: str, image: Mapping[str, Any] | None) -> dict[str, Any] | None:
        if image is None:
            return None
        hidden = self.columns.get(table, frozenset())
        return {k: (REDACTED if k in hidden and v is not None else v) for k, v in image.items()}


def redactor(policy: str | None) -> Redactor:
    if not policy:
        return Redactor({})
    from hisops.masking.policy import load_policy

    path = Path(policy)
    loaded = load_policy(path if path.is_absolute() else paths.project_root() / path)
    return Redactor({t.table: frozenset(t.columns) for t in loaded.tables})


def validate(args: Mapping[str, Any]) -> None:
    parse_spec(args)
    try:
        redactor(args.get("pii_policy"))
    except Exception as exc:  # a missing or bad policy file is a bad argument, at plan time
        raise BadArgument("pii_policy", str(exc).splitlines()[0]) from None


def plain(value: Any) -> Any:
    """A value as the journal can hold it: an exact Decimal becomes the float it equals, or
    its text when no float does (the journal's JSON has no decimal type)."""
    if isinstance(value, Decimal):
        as_float = float(value)
        return as_float if Decimal(repr(as_float)) == value else str(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def change_rows(rows: list[RowChange], red: Redactor) -> list[dict[str, Any]]:
    """Changed rows as the journal and the console show them: key, change, and per changed
    column [before, after] (personal data redacted)."""
    out = []
    for row in rows:
        if row.change == "unchanged":
            continue
        before, after = red.row(row.table, row.before), red.row(row.table, row.after)
        cols = sorted(set(before or {}) | set(after or {}))
        changed = {c: [plain((before or {}).get(c)), plain((after or {}).get(c))] for c in cols
                   if (row.before or {}).get(c) != (row.after or {}).get(c)}
        out.append({"table": row.table, "key": plain(row.key), "change": row.change,
                    "columns": changed})
    return out


Report = TypeVar("Report", pg.FixReport, UndoReport)


def _on_database(ctx: TaskContext, host: str, database: str,
                 work: Callable[[Any], Report]) -> Report | HostOutcome:
    """WORK's report on HOST's DATABASE, or the host's outcome when there is nothing more to
    say: a refusal or an unreachable database (the transaction never committed: the host is
    as it was), or an earlier attempt of this run that already committed."""
    try:
        with dbconn.connect(ctx.inventory, host, dbname=database,
                            secrets=ctx.secrets.values) as conn:
            report = work(conn)
    except (Refused, ExecutorError) as exc:
        return HostOutcome(host=host, status=HostStatus.FAILED, detail=str(exc),
                           unchanged=True)
    if isinstance(report, UndoReport) and report.already_done is not None:
        return HostOutcome(host=host, status=HostStatus.SKIPPED,
                           detail="already done by this run (hisops.datafix_runs)")
    return report


def datafix(ctx: TaskContext) -> TaskResult:
    spec = parse_spec(ctx.args)
    red = redactor(spec.pii_policy)

    def one(host: str) -> HostOutcome | HostDone:
        report = _on_database(ctx, host, spec.database, lambda conn: pg.run_fix(
            conn, spec, host=host, run_id=ctx.run_id, step=ctx.name,
            commit=not ctx.check_mode))
        if isinstance(report, HostOutcome):
            return report
        evidence = _evidence(host, spec, report, red, ctx.run_id, ctx.name)
        line = _line(report)
        if report.already_done is not None:
            line = f"committed by an earlier attempt of this run: {line}"
        if ctx.check_mode:
            ctx.note(host, f"check: {line}; rolled back")
            for row in evidence["rows"][:spec.sample]:
                changes = "; ".join(f"{c}: {b} -> {a}" for c, (b, a) in row["columns"].items())
                ctx.note(host, f"check: {row['table']} {row['key']} {row['change']}: {changes}")
            return HostOutcome(host=host, status=HostStatus.SKIPPED,
                               detail=f"check mode: {line}, rolled back")
        ctx.note(host, line)
        return HostDone(line, evidence)

    return per_host(ctx, EVIDENCE_TYPE, one)


def _line(report: pg.FixReport) -> str:
    c = report.counts()
    found = ", ".join(f"{t} {n}" for t, n in report.found.items())
    return (f"found {found}; {c['updated']} row(s) updated, {c['deleted']} deleted, "
            f"{len(report.verify)} verify quer{'y' if len(report.verify) == 1 else 'ies'} held")


def _evidence(host: str, spec: FixSpec, report: pg.FixReport, red: Redactor, run_id: str,
              step: str) -> dict[str, Any]:
    rows = change_rows(report.rows, red)
    return {"host": host, "database": spec.database, "found": report.found,
            "counts": report.counts(), "statements": report.statements,
            "verify": report.verify, "rows": rows[:JOURNALED_ROWS],
            "rows_not_listed": max(0, len(rows) - JOURNALED_ROWS),
            "before_images": f"hisops.datafix_rows run_id={run_id} step={step}",
            "pii_policy": spec.pii_policy}


def _undo_validate(args: Mapping[str, Any]) -> None:
    run = args.get("run")
    if not isinstance(run, str) or not run.strip():
        raise BadArgument("run", "the id of the datafix run to undo")
    database = args.get("database", "his")
    if not isinstance(database, str) or not re.fullmatch(SQL_NAME, database):
        raise BadArgument("database", f"a database name, not {database!r}")
    redactor(args.get("pii_policy"))


def datafix_undo(ctx: TaskContext) -> TaskResult:
    fix_run = str(ctx.args["run"])
    database = str(ctx.args.get("database", "his"))
    red = redactor(ctx.args.get("pii_policy", "masking/his.yml"))

    def one(host: str) -> HostOutcome | HostDone:
        report = _on_database(ctx, host, database, lambda conn: run_undo(
            conn, fix_run=fix_run, run_id=ctx.run_id, step=ctx.name,
            commit=not ctx.check_mode))
        if isinstance(report, HostOutcome):
            return report
        what = (f"{len(report.rows)} row(s) of run {fix_run} "
                f"(steps {', '.join(report.undone_steps)})")
        if ctx.check_mode:
            return HostOutcome(host=host, status=HostStatus.SKIPPED,
                               detail=f"check mode: would give back {what}, rolled back")
        line = f"gave back {what}"
        ctx.note(host, line)
        rows = change_rows(report.rows, red)
        return HostDone(line, {"host": host, "database": database, "undo_of": fix_run,
                               "steps": report.undone_steps, "rows": rows[:JOURNALED_ROWS],
                               "rows_not_listed": max(0, len(rows) - JOURNALED_ROWS)})

    return per_host(ctx, UNDO_EVIDENCE_TYPE, one)


SPEC = TaskSpec(
    name=TASK,
    func=datafix,
    required=frozenset({"find", "fix"}),
    optional=frozenset({"engine", "database", "verify", "untracked_tables", "lock_timeout_s",
                        "statement_timeout_s", "sample", "pii_policy", "binds",
                        "planned_rows"}),
    summary="a data correction (a runbook's sql step): find, bound, before-images, fix, "
            "verify, in one transaction",
    validate=validate,
)
UNDO_SPEC = TaskSpec(
    name="datafix_undo",
    func=datafix_undo,
    required=frozenset({"run"}),
    optional=frozenset({"database", "pii_policy"}),
    summary="give back the exact values a datafix run changed (refused if changed since)",
    validate=_undo_validate,
)
