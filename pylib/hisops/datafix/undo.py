"""The undo of a data correction on PostgreSQL: the before-images a fix kept given back in
one transaction, or nothing at all when any row was changed again since the fix."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from hisops.datafix.common import (
    Refused,
    RowChange,
    canonical_key,
    done_before,
    exact_images,
    has_table,
    images_by_key,
    qualified,
    transaction,
)


@dataclass
class UndoReport:
    undone_steps: list[str] = field(default_factory=list)
    rows: list[RowChange] = field(default_factory=list)  # before = now (the fix's after)
    committed: bool = False
    already_done: dict[str, Any] | None = None


def run_undo(conn: psycopg.Connection[Any], *, fix_run: str, run_id: str, step: str,
             commit: bool, lock_timeout_s: int = 5, statement_timeout_s: int = 60
             ) -> UndoReport:
    """Give back the before-images of FIX_RUN's committed fix steps on this database, in
    one transaction, refusing (changing nothing) when any row differs from the after-image
    the fix left: somebody changed it since, and overwriting that change would lose it."""
    exact_images(conn)
    report = UndoReport(already_done=done_before(conn, run_id, step, commit))
    if report.already_done is not None:
        return report
    with transaction(conn, lock_timeout_s, statement_timeout_s):
        for fix_step in _fix_steps_to_undo(conn, fix_run):
            report.rows.extend(_undo_step(conn, fix_run, fix_step))
            report.undone_steps.append(fix_step)
        if not commit:
            conn.rollback()
            return report
        conn.execute("UPDATE hisops.datafix_runs SET undone_by = %s WHERE run_id = %s "
                     "AND kind = 'fix'", (run_id, fix_run))
        conn.execute(
            "INSERT INTO hisops.datafix_runs (run_id, step, kind, undo_of, summary) "
            "VALUES (%s, %s, 'undo', %s, %s)",
            (run_id, step, fix_run, Jsonb({"undo_of": fix_run, "steps": report.undone_steps,
                                           "rows": len(report.rows)})))
        conn.commit()
        report.committed = True
    return report


def _fix_steps_to_undo(conn: psycopg.Connection[Any], fix_run: str) -> list[str]:
    """FIX_RUN's committed steps here, last first; refused if none or already undone."""
    if not has_table(conn, "hisops.datafix_runs"):
        raise Refused(f"no committed datafix of run {fix_run} in this database (it has no "
                      "hisops.datafix_runs); nothing to undo")
    runs = conn.execute(
        "SELECT step, undone_by FROM hisops.datafix_runs WHERE run_id = %s AND kind = 'fix' "
        "ORDER BY committed_at DESC, step DESC FOR UPDATE", (fix_run,)).fetchall()
    if not runs:
        raise Refused(f"no committed datafix of run {fix_run} in this database "
                      "(hisops.datafix_runs); nothing to undo")
    undone = [f"{s} (by {by})" for s, by in runs if by]
    if undone:
        raise Refused(f"run {fix_run} was already undone: {', '.join(undone)}")
    return [str(s) for s, _ in runs]


def _undo_step(conn: psycopg.Connection[Any], fix_run: str, fix_step: str) -> list[RowChange]:
    saved = conn.execute(
        "SELECT ord, tbl, key, before, after FROM hisops.datafix_rows WHERE run_id = %s AND "
        "step = %s ORDER BY ord", (fix_run, fix_step)).fetchall()
    by_table: dict[str, list[tuple[int, dict[str, Any], Any, Any]]] = {}
    for ord_, table, key, before, after in saved:
        if before == after:  # found, locked, left as it was: nothing to give back
            continue
        by_table.setdefault(str(table), []).append((int(ord_), key, before, after))
    conflicts: list[str] = []
    current: dict[str, dict[str, tuple[dict[str, Any], bool]]] = {}
    for table, rows in by_table.items():
        key_cols = list(rows[0][1])
        current[table] = images_by_key(conn, table, key_cols, [r[1] for r in rows], lock=True)
        for _, key, _before, after in rows:
            now = current[table].get(canonical_key(key, key_cols))
            if after is None and now is not None:
                conflicts.append(f"{table} {_key_text(key)}: deleted by the fix, exists again")
            elif after is not None and now is None:
                conflicts.append(f"{table} {_key_text(key)}: deleted since the fix")
            elif after is not None and now is not None and now[0] != after:
                cols = sorted(c for c in after if after[c] != now[0].get(c))
                conflicts.append(f"{table} {_key_text(key)}: changed since the fix "
                                 f"({', '.join(cols) or 'columns added or removed'})")
    if conflicts:
        more = f" (and {len(conflicts) - 3} more)" if len(conflicts) > 3 else ""
        raise Refused(f"step {fix_step}: " + "; ".join(conflicts[:3]) + more
                      + ": undoing would overwrite a later change; nothing changed")
    # deleted rows first, in reverse find order (parents were found after their children),
    # then updated rows: a re-pointed child's parent exists again before it is pointed back
    tables = list(by_table)
    out: list[RowChange] = []
    for table in reversed(tables):
        deleted = [(key, before) for _, key, before, after in by_table[table]
                   if after is None]
        if deleted:
            conn.execute(sql.SQL(
                "INSERT INTO {} OVERRIDING SYSTEM VALUE SELECT * FROM "
                "jsonb_populate_recordset(NULL::{}, %s)").format(qualified(table),
                                                                 qualified(table)),
                (Jsonb([before for _, before in deleted]),))
            out.extend(RowChange(table, key, None, before) for key, before in deleted)
    for table in reversed(tables):
        updated = [(key, before, after) for _, key, before, after in by_table[table]
                   if after is not None]
        if updated:
            out.extend(_give_back_updates(conn, table, updated))
    # the exact prior values, or nothing: compare every row with its before-image
    for table, rows in by_table.items():
        key_cols = list(rows[0][1])
        now_images = images_by_key(conn, table, key_cols, [r[1] for r in rows], lock=False)
        for _, key, before, _after in rows:
            now = now_images.get(canonical_key(key, key_cols))
            if (now[0] if now else None) != before:
                raise Refused(f"{table} {_key_text(key)} does not read back as its "
                              "before-image after the undo; nothing changed")
    return out


def _give_back_updates(conn: psycopg.Connection[Any], table: str,
                       rows: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]
                       ) -> list[RowChange]:
    """One UPDATE per table: every column any row changed gets its before value back. A row
    whose column was not changed gets the value it already has (it equals its after-image,
    checked above), so the set-based statement writes exactly the before-images."""
    key = list(rows[0][0])
    cols = sorted({c for _, before, after in rows for c in before
                   if before[c] != after.get(c)} - set(key))
    conn.execute(sql.SQL(
        "UPDATE {} t SET {} FROM jsonb_populate_recordset(NULL::{}, %s) r WHERE {}").format(
        qualified(table),
        sql.SQL(", ").join(sql.SQL("{} = r.{}").format(sql.Identifier(c), sql.Identifier(c))
                           for c in cols),
        qualified(table),
        sql.SQL(" AND ").join(sql.SQL("t.{} = r.{}").format(sql.Identifier(k), sql.Identifier(k))
                              for k in key)),
        (Jsonb([before for _, before, _ in rows]),))
    return [RowChange(table, k, after, before) for k, before, after in rows]


def _key_text(key: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in key.items())
