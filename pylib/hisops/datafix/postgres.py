"""A data correction on PostgreSQL, in one transaction: find and lock, bound, before-images,
fix, account for every row written, verify, then commit (or roll back under ``--check`` and
``hisops plan``). And its undo.

Why one REPEATABLE READ transaction: the rows counted are the rows changed (a concurrent
update of a found row makes the fix fail, changing nothing, instead of fixing a row nobody
reviewed), and any row version this transaction can see with a transaction id at or above
its own was written by it (the fix, a trigger, a sub-transaction), which is how rows the
fix touched outside what ``find`` selected are caught: their before-images were never taken,
so an undo could not give them back.

``lock_timeout`` and ``statement_timeout`` bound how long the HIS can wait on the fix: a
fix that cannot lock its rows within the lock timeout fails and changes nothing.

What is kept, in the corrected database itself (schema ``hisops``, readable by superusers
only): one row per committed fix step (``datafix_runs``) and the before- and after-image of
every row it changed (``datafix_rows``), exact, so that :func:`undo` can give back the
exact prior values, and refuse when a row was changed again since.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb, set_json_dumps, set_json_loads

from hisops.datafix.spec import FixSpec, Target
from hisops.datafix.sqltext import Parsed
from hisops.faults import failpoint

SCHEMA_DDL = (
    "CREATE SCHEMA IF NOT EXISTS hisops",
    "REVOKE ALL ON SCHEMA hisops FROM PUBLIC",
    """CREATE TABLE IF NOT EXISTS hisops.datafix_runs (
        run_id text NOT NULL, step text NOT NULL, kind text NOT NULL,
        undo_of text, undone_by text, summary jsonb NOT NULL,
        committed_by text NOT NULL DEFAULT session_user,
        committed_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (run_id, step))""",
    """CREATE TABLE IF NOT EXISTS hisops.datafix_rows (
        run_id text NOT NULL, step text NOT NULL, ord integer NOT NULL, tbl text NOT NULL,
        key jsonb NOT NULL, before jsonb, after jsonb,
        PRIMARY KEY (run_id, step, tbl, key))""",
)
XID_MODULUS = 2 ** 32


class Refused(Exception):
    """The fix (or undo) did not happen and changed nothing; the message says why."""


@dataclass
class RowChange:
    table: str
    key: dict[str, Any]
    before: dict[str, Any] | None
    after: dict[str, Any] | None

    @property
    def changed_columns(self) -> list[str]:
        if self.before is None or self.after is None:
            return []
        return sorted(c for c in self.before if self.before[c] != self.after.get(c))

    @property
    def change(self) -> str:
        if self.after is None:
            return "deleted"
        if self.before is None:
            return "inserted"
        return "updated" if self.changed_columns else "unchanged"


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


def exact_json(value: Any) -> str:
    """JSON text with every Decimal written as the exact number it is (the stdlib would need
    a float, and a numeric(30,10) amount does not survive a float)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(json.dumps(str(k), ensure_ascii=False) + ":" + exact_json(v)
                              for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(exact_json(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def _exact_images(conn: psycopg.Connection[Any]) -> None:
    """Row images travel between the database and this process as JSON: read numbers with a
    fraction as Decimal and write them back as written, so a before-image given back by the
    undo is the exact prior value (a float would round large numeric amounts)."""
    set_json_loads(functools.partial(json.loads, parse_float=Decimal), conn)
    set_json_dumps(exact_json, conn)


def ensure_schema(conn: psycopg.Connection[Any]) -> None:
    """The ``hisops`` schema and its two tables, in a short transaction of their own (DDL
    inside the fix would hold catalogue locks for the length of the fix)."""
    try:
        for statement in SCHEMA_DDL:
            conn.execute(statement)
        conn.commit()
    except psycopg.errors.UniqueViolation:  # another session created them at the same moment
        conn.rollback()


def _set_limits(conn: psycopg.Connection[Any], lock_s: int, statement_s: int) -> None:
    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    conn.execute("SELECT set_config('lock_timeout', %s, true), "
                 "set_config('statement_timeout', %s, true), "
                 "set_config('idle_in_transaction_session_timeout', %s, true)",
                 (f"{lock_s}s", f"{statement_s}s", f"{max(statement_s, 60) * 2}s"))


def _our_xid(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT pg_current_xact_id()::text::bigint").fetchone()
    assert row is not None  # noqa: S101 - the function always returns a row
    return int(row[0]) % XID_MODULUS


def _execute(conn: psycopg.Connection[Any], statement: Parsed | str,
             binds: Mapping[str, Any], *, extra: Mapping[str, Any] | None = None
             ) -> psycopg.Cursor[Any]:
    if isinstance(statement, Parsed):
        params = {b: binds[b] for b in statement.binds}
        text: Any = statement.psycopg
    else:
        params, text = {}, statement
    params.update(extra or {})
    return conn.execute(text, params)


def _table(target_table: str) -> sql.Composed:
    schema, name = target_table.split(".")
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(name))


def _key_match(table: str, key: Sequence[str], param: str) -> sql.Composed:
    """``(t.k1, t.k2) IN (keys given as a JSON array)``, typed by the table's own row type so
    the primary key index is used."""
    cols = sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(k)) for k in key)
    rcols = sql.SQL(", ").join(sql.SQL("r.{}").format(sql.Identifier(k)) for k in key)
    return sql.SQL("({}) IN (SELECT {} FROM jsonb_populate_recordset(NULL::{}, {}) r)").format(
        cols, rcols, _table(table), sql.Placeholder(param))


def _images_by_key(conn: psycopg.Connection[Any], table: str, key: Sequence[str],
                   keys: list[dict[str, Any]], *, lock: bool, xid: int | None = None
                   ) -> dict[str, tuple[dict[str, Any], bool]]:
    """Current row images of KEYS (by canonical key), with "written by this transaction"."""
    if not keys:
        return {}
    query = sql.SQL("SELECT to_jsonb(t), {} FROM {} t WHERE {}{}").format(
        sql.SQL("t.xmin::text::bigint >= %(xid)s") if xid is not None else sql.SQL("false"),
        _table(table), _key_match(table, key, "keys"),
        sql.SQL(" FOR UPDATE OF t") if lock else sql.SQL(""))
    rows = conn.execute(query, {"keys": Jsonb(keys), "xid": xid}).fetchall()
    return {canonical_key(image, key): (image, bool(mine)) for image, mine in rows}


def canonical_key(image: Mapping[str, Any], key: Sequence[str]) -> str:
    return exact_json({k: image.get(k) for k in sorted(key)})


def _find(conn: psycopg.Connection[Any], spec: FixSpec, target: Target
          ) -> list[dict[str, Any]]:
    # count first, without locks: a condition that matches far more rows than bounded must
    # not lock them all before saying so
    limit = target.bound.high + 1
    counted = _execute(conn, Parsed(target.where.binds, sql.SQL(
        "SELECT count(*) FROM (SELECT 1 FROM {} t WHERE ({}) LIMIT {}) found").format(
            _table(target.table), sql.SQL(target.where.psycopg), sql.Literal(limit)
        ).as_string(conn), ()), spec.binds).fetchone()
    count = int(counted[0]) if counted else 0
    if not target.bound.holds(count):
        raise Refused(_bound_message(target, count))
    order = sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(k)) for k in target.key)
    query = sql.SQL("SELECT to_jsonb(t) FROM {} t WHERE ({}) ORDER BY {} FOR UPDATE OF t"
                    ).format(_table(target.table), sql.SQL(target.where.psycopg), order)
    images = [row[0] for row in _execute(conn, Parsed(target.where.binds,
                                                      query.as_string(conn), ()),
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
    _exact_images(conn)
    report = FixReport(already_done=_done_before(conn, run_id, step, commit))
    if report.already_done is not None:
        # an earlier attempt committed (its process died before the journal heard of it):
        # report what it did, from the database's own record, instead of fixing twice
        return _recorded_report(conn, run_id, step, report.already_done)
    with _transaction(conn, spec.lock_timeout_s, spec.statement_timeout_s):
        xid = _our_xid(conn)
        baseline = _write_counters(conn)
        found = [(target, _find(conn, spec, target)) for target in spec.targets]
        report.found = {target.table: len(images) for target, images in found}
        if commit:
            _check_planned(spec, host, [len(images) for _, images in found])
            _keep_before_images(conn, run_id, step, found)
        failpoint(f"datafix:{step}:after-find")
        for text, parsed in spec.fix:
            cur = _execute(conn, parsed, spec.binds)
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


def _done_before(conn: psycopg.Connection[Any], run_id: str, step: str, commit: bool
                 ) -> dict[str, Any] | None:
    """The recorded summary of RUN_ID's STEP if an earlier attempt committed it (a resumed
    step must not fix twice); None for a rehearsal, which records nothing. Creates the
    hisops schema on first use (a rehearsal writes nothing there, and creates nothing: a plan
    has no side effect on the database)."""
    if not commit:
        return None
    ensure_schema(conn)
    row = conn.execute("SELECT summary FROM hisops.datafix_runs WHERE run_id = %s AND "
                       "step = %s", (run_id, step)).fetchone()
    conn.rollback()
    return None if row is None else dict(row[0])


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
    rows = [{"tbl": t.table, "key": {k: img[k] for k in t.key}, "before": img}
            for t, images in found for img in images]
    conn.execute(
        "INSERT INTO hisops.datafix_rows (run_id, step, ord, tbl, key, before) "
        "SELECT %s, %s, e.n - 1, e.v->>'tbl', e.v->'key', e.v->'before' "
        "FROM jsonb_array_elements(%s) WITH ORDINALITY AS e(v, n)",
        (run_id, step, Jsonb(rows)))


@contextmanager
def _transaction(conn: psycopg.Connection[Any], lock_s: int, statement_s: int
                 ) -> Iterator[None]:
    """The correction's transaction, with its limits; on any failure it is rolled back and
    the reason said in one line (the database is as it was)."""
    try:
        _set_limits(conn, lock_s, statement_s)
        yield
    except Refused:
        conn.rollback()
        raise
    except psycopg.errors.LockNotAvailable as exc:
        conn.rollback()
        raise Refused(f"a row is locked by another session (lock_timeout {lock_s}s): "
                      f"{_first_line(exc)}; nothing changed") from None
    except psycopg.errors.QueryCanceled as exc:
        conn.rollback()
        raise Refused(f"a statement ran longer than statement_timeout {statement_s}s: "
                      f"{_first_line(exc)}; nothing changed") from None
    except psycopg.errors.SerializationFailure as exc:
        conn.rollback()
        raise Refused(f"a found row was changed by another session meanwhile: "
                      f"{_first_line(exc)}; nothing changed") from None
    except psycopg.Error as exc:
        conn.rollback()
        raise Refused(f"the database refused a statement: {_first_line(exc)}; nothing "
                      "changed") from None
    except BaseException:
        conn.rollback()
        raise


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


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
        keys = [{k: img[k] for k in target.key} for img in images]
        current = _images_by_key(conn, table, target.key, keys, lock=False, xid=xid)
        touched = missing = 0
        for img in images:
            got = current.get(canonical_key(img, target.key))
            rows.append(RowChange(table, {k: img[k] for k in target.key}, img,
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
            ).format(_table(table), _key_match(table, target.key, "keys")),
                {"xid": xid, "keys": Jsonb(keys)}).fetchone()
            if stray and stray[0]:
                raise Refused(f"the fix changed {stray[0]} row(s) of {table} that find did "
                              "not select; nothing changed")
    return rows


def _verify(conn: psycopg.Connection[Any], spec: FixSpec) -> list[dict[str, Any]]:
    out = []
    for check in spec.verify:
        rows = _execute(conn, check.parsed, spec.binds).fetchall()
        problem = ""
        if check.rows is not None and not check.rows.holds(len(rows)):
            problem = f"returned {len(rows)} row(s), expected {check.rows}"
        if check.value is not None:
            got = None if not rows or not rows[0] else rows[0][0]
            text = _text(got)
            if text != check.value:
                problem = f"returned {text!r}, expected {check.value!r}"
        if problem:
            raise Refused(f"verify '{check.name}' {problem}; the fix was rolled back, "
                          "nothing changed")
        out.append({"name": check.name, "rows": len(rows), "ok": True})
    return out


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def summary(report: FixReport, spec: FixSpec) -> dict[str, Any]:
    """What ``datafix_runs`` records of a fix (no row values: those are in datafix_rows)."""
    return {"database": spec.database, "found": report.found, "counts": report.counts(),
            "statements": report.statements, "verify": report.verify,
            "tables": list(spec.tables())}


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
    _exact_images(conn)
    report = UndoReport(already_done=_done_before(conn, run_id, step, commit))
    if report.already_done is not None:
        return report
    with _transaction(conn, lock_timeout_s, statement_timeout_s):
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
    exists = conn.execute("SELECT to_regclass('hisops.datafix_runs')").fetchone()
    if exists is None or exists[0] is None:
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
        current[table] = _images_by_key(conn, table, key_cols, [r[1] for r in rows], lock=True)
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
                   if after is None and before is not None]
        if deleted:
            conn.execute(sql.SQL(
                "INSERT INTO {} OVERRIDING SYSTEM VALUE SELECT * FROM "
                "jsonb_populate_recordset(NULL::{}, %s)").format(_table(table), _table(table)),
                (Jsonb([before for _, before in deleted]),))
            out.extend(RowChange(table, key, None, before) for key, before in deleted)
    for table in reversed(tables):
        updated = [(key, before, after) for _, key, before, after in by_table[table]
                   if after is not None and before is not None and before != after]
        if updated:
            out.extend(_give_back_updates(conn, table, updated))
    # the exact prior values, or nothing: compare every row with its before-image
    for table, rows in by_table.items():
        key_cols = list(rows[0][1])
        now_images = _images_by_key(conn, table, key_cols, [r[1] for r in rows], lock=False)
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
        _table(table),
        sql.SQL(", ").join(sql.SQL("{} = r.{}").format(sql.Identifier(c), sql.Identifier(c))
                           for c in cols),
        _table(table),
        sql.SQL(" AND ").join(sql.SQL("t.{} = r.{}").format(sql.Identifier(k), sql.Identifier(k))
                              for k in key)),
        (Jsonb([before for _, before, _ in rows]),))
    return [RowChange(table, k, after, before) for k, before, after in rows]


def _key_text(key: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in key.items())


def remove_records(conn: psycopg.Connection[Any]) -> int:
    """Drop the correction records of a database being made into a test copy: the
    before-images hold the production values of every corrected row (names and ID numbers
    among them) outside the columns any masking policy names, and an undo on a copy means
    nothing. Returns the number of before-images removed. Runs in the caller's transaction."""
    exists = conn.execute("SELECT to_regclass('hisops.datafix_rows')").fetchone()
    if exists is None or exists[0] is None:
        return 0
    count = conn.execute("SELECT count(*) FROM hisops.datafix_rows").fetchone()
    conn.execute("DROP TABLE IF EXISTS hisops.datafix_rows, hisops.datafix_runs")
    return int(count[0]) if count else 0
