"""A data correction on PostgreSQL, in one transaction: find and lock, bound, before-images,
fix, account for every row written, verify, then commit (or roll back under ``--check`` and
``hisops plan``). The undo is :mod:`hisops.datafix.undo`; what both share (the records, exact
row images, the transaction) is :mod:`hisops.datafix.common`.

Why one REPEATABLE READ transaction: the rows counted are the rows changed (a concurrent
update of a found row makes the fix fail, changing nothing, instead of fixing a row nobody
reviewed), and any row version this transaction can see with a transaction id at or above
its own was written by it (the fix, a trigger, a sub-transaction), which is how rows the
fix touched outside what ``find`` selected are caught: their before-images were never taken,
so an undo could not give them back.

``lock_timeout`` and ``statement_timeout`` bound how long the HIS can wait on the fix: a
fix that cannot lock its rows within the lock timeout fails and changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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
    key_match,
    qualified,
    transaction,
)
from hisops.datafix.spec import FixSpec, Target, as_text
from hisops.faults import failpoint

XID_MODULUS = 2 ** 32


@dataclass
class FixReport:
    found: dict[str, int] = field(default_factory=dict)  # table -> rows found and locked
    rows: list[RowChange] = field(default_factory=list)
    statements: list[dict[str, Any]] = field(default_factory=list)  # sql, rowcount
    verify: list[dict[str, Any]] = field(default_factory=list)
    committed: bool = False
    already_done: dict[str, Any] | None = None  # the recorded summary of an earlier attempt

    def counts(self) -> dict[str, int]:
        out = {"updated": 0, "deleted": 0, "unchanged": 0, "inserted": 0}
        for row in self.rows:
            out[row.change] += 1
        return out


def _our_xid(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT pg_current_xact_id()::text::bigint").fetchone()
    assert row is not None  # noqa: S101 - the function always returns a row
    return int(row[0]) % XID_MODULUS


def _execute(conn: psycopg.Connection[Any], text: str, names: Iterable[str],
             binds: Mapping[str, Any]) -> psycopg.Cursor[Any]:
    """TEXT (binds as %(name)s) with the values of the binds it NAMES."""
    return conn.execute(text, {name: binds[name] for name in names})


def count_found(conn: psycopg.Connection[Any], target: Target, binds: Mapping[str, Any]) -> int:
    """The rows TARGET's condition matches, without locks and counted only up to one past
    its bound: a condition that matches far more rows than bounded must not lock (or count)
    them all before saying so."""
    query = sql.SQL("SELECT count(*) FROM (SELECT 1 FROM {} t WHERE ({}) LIMIT {}) found"
                    ).format(qualified(target.table), sql.SQL(target.where.psycopg),
                             sql.Literal(target.bound.high + 1))
    row = _execute(conn, query.as_string(conn), target.where.binds, binds).fetchone()
    return int(row[0]) if row else 0


def _find(conn: psycopg.Connection[Any], spec: FixSpec, target: Target
          ) -> list[dict[str, Any]]:
    count = count_found(conn, target, spec.binds)
    if not target.bound.holds(count):
        raise Refused(_bound_message(target, count))
    order = sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(k)) for k in target.key)
    query = sql.SQL("SELECT to_jsonb(t) FROM {} t WHERE ({}) ORDER BY {} FOR UPDATE OF t"
                    ).format(qualified(target.table), sql.SQL(target.where.psycopg), order)
    images = [row[0] for row in _execute(conn, query.as_string(conn), target.where.binds,
                                         spec.binds).fetchall()]
    if not target.bound.holds(len(images)):  # changed between the count and the lock
        raise Refused(_bound_message(target, len(images)))
    if images:
        absent = [k for k in target.key if k not in images[0]]
        if absent:
            raise Refused(f"{target.table} has no column {', '.join(absent)} (key)")
    return images


def _bound_message(target: Target, count: int) -> str:
    shown = f"more than {target.bound.high}" if count > target.bound.high else str(count)
    return (f"{target.table}: expected {target.bound} row(s), found {shown}; nothing changed")


def run_fix(conn: psycopg.Connection[Any], spec: FixSpec, *, host: str, run_id: str,
            step: str, commit: bool) -> FixReport:
    """Run SPEC's fix on CONN. ``commit`` False: everything, then roll back (check, plan).

    Exact images are kept in the database only; what leaves it is redacted by the caller."""
    exact_images(conn)
    report = FixReport(already_done=done_before(conn, run_id, step, commit))
    if report.already_done is not None:
        # an earlier attempt committed (its process died before the journal heard of it):
        # report what it did, from the database's own record, instead of fixing twice
        return _recorded_report(conn, run_id, step, report.already_done)
    with transaction(conn, spec.lock_timeout_s, spec.statement_timeout_s):
        xid = _our_xid(conn)
        baseline = _write_counters(conn)
        found = [(target, _find(conn, spec, target)) for target in spec.targets]
        report.found = {target.table: len(images) for target, images in found}
        if commit:
            _check_planned(spec, host, [len(images) for _, images in found])
            _keep_before_images(conn, run_id, step, found)
        failpoint(f"datafix:{step}:after-find")
        for text, parsed in spec.fix:
            cur = _execute(conn, parsed.psycopg, parsed.binds, spec.binds)
            report.statements.append({"sql": text, "rowcount": cur.rowcount})
        # verify first: a verify query is a SELECT, but WITH ... DELETE ... SELECT writes too,
        # and the accounting must see every write of the transaction
        report.verify = _verify(conn, spec)
        report.rows = _account(conn, spec, found, xid, baseline)
        if not commit:
            conn.rollback()
            return report
        # one statement, not one per row: the rows stay locked while this runs
        conn.execute(
            "UPDATE hisops.datafix_rows d SET after = x.after FROM jsonb_to_recordset(%s) "
            "AS x(tbl text, key jsonb, after jsonb) WHERE d.run_id = %s AND d.step = %s "
            "AND d.tbl = x.tbl AND d.key = x.key",
            (Jsonb([{"tbl": r.table, "key": r.key, "after": r.after} for r in report.rows]),
             run_id, step))
        conn.execute("INSERT INTO hisops.datafix_runs (run_id, step, kind, summary) "
                     "VALUES (%s, %s, 'fix', %s)", (run_id, step, Jsonb(summary(report, spec))))
        # a kill here (tests: HISOPS_FAILPOINTS) leaves an open transaction the server rolls
        # back when the connection drops: nothing of the fix stays
        failpoint(f"datafix:{step}:before-commit")
        conn.commit()
        report.committed = True
    failpoint(f"datafix:{step}:after-commit")
    return report


def _recorded_report(conn: psycopg.Connection[Any], run_id: str, step: str,
                     recorded: dict[str, Any]) -> FixReport:
    rows = conn.execute("SELECT tbl, key, before, after FROM hisops.datafix_rows WHERE "
                        "run_id = %s AND step = %s ORDER BY ord", (run_id, step)).fetchall()
    conn.rollback()
    return FixReport(found=dict(recorded.get("found") or {}),
                     rows=[RowChange(str(t), k, b, a) for t, k, b, a in rows],
                     statements=list(recorded.get("statements") or []),
                     verify=list(recorded.get("verify") or []), committed=True,
                     already_done=recorded)


def _check_planned(spec: FixSpec, host: str, now: list[int]) -> None:
    planned = spec.planned_rows.get(host)
    if planned is None or now == planned:
        return
    def listed(counts: list[int]) -> str:
        return ", ".join(f"{t.table} {n}" for t, n in zip(spec.targets, counts, strict=False))
    raise Refused(f"the rows changed since the plan was made (planned {listed(planned)}; now "
                  f"{listed(now)}); nothing changed: plan again (an approval covers the rows "
                  "it saw)")


def _keep_before_images(conn: psycopg.Connection[Any], run_id: str, step: str,
                        found: list[tuple[Target, list[dict[str, Any]]]]) -> None:
    rows = [{"tbl": t.table, "key": t.key_of(img), "before": img}
            for t, images in found for img in images]
    conn.execute(
        "INSERT INTO hisops.datafix_rows (run_id, step, ord, tbl, key, before) "
        "SELECT %s, %s, e.n - 1, e.v->>'tbl', e.v->'key', e.v->'before' "
        "FROM jsonb_array_elements(%s) WITH ORDINALITY AS e(v, n)",
        (run_id, step, Jsonb(rows)))


def _write_counters(conn: psycopg.Connection[Any]) -> dict[str, tuple[int, int, int]]:
    """Rows inserted, updated and deleted per table, as this backend counts them.

    pg_stat_xact_user_tables is not "this transaction only" on PostgreSQL 15: it adds the
    counts of earlier transactions of the session that were not yet flushed to the shared
    statistics (they are flushed when the session is idle outside a transaction, at most
    once a second). Within one transaction nothing is flushed, so the difference between a
    reading at its start and one at its end is exactly what the transaction wrote."""
    stats = conn.execute(
        "SELECT schemaname || '.' || relname, n_tup_ins, n_tup_upd, n_tup_del "
        "FROM pg_stat_xact_user_tables WHERE schemaname <> 'hisops' "
        "AND n_tup_ins + n_tup_upd + n_tup_del > 0").fetchall()
    return {str(name): (int(ins), int(upd), int(dele)) for name, ins, upd, dele in stats}


def _account(conn: psycopg.Connection[Any], spec: FixSpec,
             found: list[tuple[Target, list[dict[str, Any]]]], xid: int,
             baseline: dict[str, tuple[int, int, int]]) -> list[RowChange]:
    """Every row the transaction wrote must be a found row (whose before-image is kept);
    otherwise refuse. Returns the found rows with their after-images."""
    targets = {t.table: (t, images) for t, images in found}
    writes: dict[str, tuple[int, int, int]] = {}
    for table, (ins, upd, dele) in _write_counters(conn).items():
        b_ins, b_upd, b_del = baseline.get(table, (0, 0, 0))
        if (ins - b_ins, upd - b_upd, dele - b_del) != (0, 0, 0):
            writes[table] = (ins - b_ins, upd - b_upd, dele - b_del)
    rows: list[RowChange] = []
    for table, (ins, _upd, _dele) in sorted(writes.items()):
        if table in spec.untracked:
            continue
        if table not in targets:
            raise Refused(f"the fix changed {table}, which no find entry selects (its "
                          "before-images would be missing); nothing changed")
        if ins:
            raise Refused(f"the fix inserted {ins} row(s) into {table}: a datafix updates or "
                          "deletes the rows find selected; nothing changed")
    for table, (target, images) in targets.items():
        ins, upd, dele = writes.get(table, (0, 0, 0))
        keys = [target.key_of(img) for img in images]
        current = images_by_key(conn, table, target.key, keys, lock=False, xid=xid)
        touched = missing = 0
        for img in images:
            got = current.get(canonical_key(img, target.key))
            rows.append(RowChange(table, target.key_of(img), img,
                                  None if got is None else got[0]))
            if got is None:
                missing += 1
            elif got[1]:
                touched += 1
        if dele > missing:
            raise Refused(f"the fix deleted {dele - missing} row(s) of {table} that find did "
                          "not select; nothing changed")
        if dele < missing:
            raise Refused(f"the fix changed the key ({', '.join(target.key)}) of a row of "
                          f"{table}: a datafix keeps keys; nothing changed")
        if upd > touched:  # a row updated twice, or one find did not select: look
            stray = conn.execute(sql.SQL(
                "SELECT count(*) FROM {} t WHERE t.xmin::text::bigint >= %(xid)s AND NOT {}"
            ).format(qualified(table), key_match(table, target.key, "keys")),
                {"xid": xid, "keys": Jsonb(keys)}).fetchone()
            if stray and stray[0]:
                raise Refused(f"the fix changed {stray[0]} row(s) of {table} that find did "
                              "not select; nothing changed")
    return rows


def _verify(conn: psycopg.Connection[Any], spec: FixSpec) -> list[dict[str, Any]]:
    out = []
    for check in spec.verify:
        rows = _execute(conn, check.parsed.psycopg, check.parsed.binds, spec.binds).fetchall()
        problem = ""
        if check.rows is not None and not check.rows.holds(len(rows)):
            problem = f"returned {len(rows)} row(s), expected {check.rows}"
        if check.value is not None:
            got = None if not rows or not rows[0] else rows[0][0]
            text = None if got is None else as_text(got)
            if text != check.value:
                problem = f"returned {text!r}, expected {check.value!r}"
        if problem:
            raise Refused(f"verify '{check.name}' {problem}; the fix was rolled back, "
                          "nothing changed")
        out.append({"name": check.name, "rows": len(rows), "ok": True})
    return out


def summary(report: FixReport, spec: FixSpec) -> dict[str, Any]:
    """What ``datafix_runs`` records of a fix (no row values: those are in datafix_rows)."""
    return {"database": spec.database, "found": report.found, "counts": report.counts(),
            "statements": report.statements, "verify": report.verify,
            "tables": list(spec.tables())}


def remove_records(conn: psycopg.Connection[Any]) -> int:
    """Drop the correction records of a database being made into a test copy: the
    before-images hold the production values of every corrected row (names and ID numbers
    among them) outside the columns any masking policy names, and an undo on a copy means
    nothing. Returns the number of before-images removed. Runs in the caller's transaction."""
    if not has_table(conn, "hisops.datafix_rows"):
        return 0
    count = conn.execute("SELECT count(*) FROM hisops.datafix_rows").fetchone()
    conn.execute("DROP TABLE IF EXISTS hisops.datafix_rows, hisops.datafix_runs")
    return int(count[0]) if count else 0
