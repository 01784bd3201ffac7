"""What a data correction would do now: the rows each ``find`` entry matches (part of the
plan and its hash: an approval covers the rows it saw) and, for ``hisops plan``, a rehearsal
of the whole fix in a transaction that is rolled back: statements' row counts, verify
results and a sample of rows before and after, personal data redacted."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg

from hisops.datafix import TASK, journaled_corrections
from hisops.datafix import postgres as pg
from hisops.datafix.common import Refused, first_line
from hisops.datafix.spec import FixSpec, parse_spec
from hisops.datafix.task import change_rows, redactor
from hisops.envs import dbconn
from hisops.inventory import Inventory
from hisops.runbook.planner import Plan
from hisops.secrets import SecretStore


@dataclass
class HostPreview:
    host: str
    counts: list[int] | None = None  # rows per find entry (capped at its bound + 1)
    error: str = ""  # could not count (the database did not answer, a statement failed)
    refused: str = ""  # the rehearsal refused: what the run would say
    statements: list[dict[str, Any]] = field(default_factory=list)
    verify: list[dict[str, Any]] = field(default_factory=list)
    sample: list[dict[str, Any]] = field(default_factory=list)
    rehearsed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"host": self.host, "counts": self.counts, "error": self.error,
                "refused": self.refused, "statements": self.statements,
                "verify": self.verify, "sample": self.sample, "rehearsed": self.rehearsed}


def datafix_steps(plan: Plan) -> list[Any]:
    return [s for s in plan.steps if s.action is not None and s.action.kind == "task"
            and s.action.task == TASK]


def count_rows(conn: psycopg.Connection[Any], spec: FixSpec) -> list[int]:
    """Rows each find entry matches now, read-only and without locks (capped at bound+1)."""
    conn.execute("SET TRANSACTION READ ONLY")
    conn.execute("SELECT set_config('statement_timeout', %s, true)",
                 (f"{spec.statement_timeout_s}s",))
    counts = [pg.count_found(conn, target, spec.binds) for target in spec.targets]
    conn.rollback()
    return counts


def preview(plan: Plan, inventory: Inventory, secrets: SecretStore, *, rehearse: bool
            ) -> dict[str, list[HostPreview]]:
    out: dict[str, list[HostPreview]] = {}
    for step in datafix_steps(plan):
        spec = parse_spec(step.action.args)
        red = redactor(spec.pii_policy)
        results = []
        for host in step.action.hosts:
            result = HostPreview(host)
            try:
                with dbconn.connect(inventory, host, dbname=spec.database,
                                    secrets=secrets.values) as conn:
                    result.counts = count_rows(conn, spec)
                    if rehearse:
                        _rehearse(conn, spec, host, step.id, result, red)
            except Exception as exc:  # the host or its database did not answer, SQL failed
                result.error = first_line(exc)
            results.append(result)
        out[step.id] = results
    return out


def _rehearse(conn: psycopg.Connection[Any], spec: FixSpec, host: str, step: str,
              result: HostPreview, red: Any) -> None:
    try:
        report = pg.run_fix(conn, spec, host=host, run_id="plan", step=step, commit=False)
    except Refused as refused:
        result.refused = str(refused)
        return
    result.rehearsed = True
    result.statements = report.statements
    result.verify = report.verify
    per_table: dict[str, int] = {}
    for row in change_rows(report.rows, red):
        if per_table.get(row["table"], 0) < spec.sample:
            per_table[row["table"]] = per_table.get(row["table"], 0) + 1
            result.sample.append(row)


def row_counts(previews: dict[str, list[HostPreview]]) -> dict[str, dict[str, list[int]]]:
    return {step: {p.host: p.counts for p in hosts if p.counts is not None}
            for step, hosts in previews.items()}


def journaled_row_counts(plan_dict: dict[str, Any]) -> dict[str, dict[str, list[int]]]:
    """The rows a journaled plan saw (a resumed run keeps what was approved)."""
    out: dict[str, dict[str, list[int]]] = {}
    for step in journaled_corrections(plan_dict):
        planned = (step["action"].get("args") or {}).get("planned_rows")
        if planned:
            out[str(step["id"])] = {h: list(v) for h, v in planned.items()}
    return out

