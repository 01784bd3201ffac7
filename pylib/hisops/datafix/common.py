"""What a data correction and its undo share on PostgreSQL: the records in the database's
``hisops`` schema, row images that carry every value exactly, the transaction with its limits
and one-line refusals.

What is kept, in the corrected database itself (schema ``hisops``, readable by superusers
only): one row per committed fix or undo step (``datafix_runs``) and the before- and
after-image of every row a fix changed (``datafix_rows``), exact, so that the undo can give
back the exact prior values, and refuse when a row was changed again since.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb, set_json_dumps, set_json_loads

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


def exact_json(value: Any) -> str:
    """JSON text with every Decimal written as the exact number it is (the stdlib would need
    a float, and a numeric(30,10) amount does not survive a float). The C encoder writes
    everything else; a Decimal goes through as a marked string (NUL cannot occur in
    PostgreSQL text) and the marks are taken off."""
    text = json.dumps(value, ensure_ascii=False, default=_marked_decimal)
    return _MARKED.sub(r"\1", text) if "\\u0000" in text else text


_MARKED = re.compile(r'"\\u0000([-+0-9.eE]+)\\u0000"')


def _marked_decimal(value: Any) -> str:
    if isinstance(value, Decimal):
        return f"\x00{value}\x00"
    raise TypeError(f"{type(value).__name__} is not JSON")


def exact_images(conn: psycopg.Connection[Any]) -> None:
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


def set_limits(conn: psycopg.Connection[Any], lock_s: int, statement_s: int) -> None:
    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    conn.execute("SELECT set_config('lock_timeout', %s, true), "
                 "set_config('statement_timeout', %s, true), "
                 "set_config('idle_in_transaction_session_timeout', %s, true)",
                 (f"{lock_s}s", f"{statement_s}s", f"{max(statement_s, 60) * 2}s"))


def qualified(target_table: str) -> sql.Composed:
    schema, name = target_table.split(".")
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(name))


def key_match(table: str, key: Sequence[str], param: str) -> sql.Composed:
    """``(t.k1, t.k2) IN (keys given as a JSON array)``, typed by the table's own row type so
    the primary key index is used."""
    cols = sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(k)) for k in key)
    rcols = sql.SQL(", ").join(sql.SQL("r.{}").format(sql.Identifier(k)) for k in key)
    return sql.SQL("({}) IN (SELECT {} FROM jsonb_populate_recordset(NULL::{}, {}) r)").format(
        cols, rcols, qualified(table), sql.Placeholder(param))


def images_by_key(conn: psycopg.Connection[Any], table: str, key: Sequence[str],
                   keys: list[dict[str, Any]], *, lock: bool, xid: int | None = None
                   ) -> dict[str, tuple[dict[str, Any], bool]]:
    """Current row images of KEYS (by canonical key), with "written by this transaction"."""
    if not keys:
        return {}
    query = sql.SQL("SELECT to_jsonb(t), {} FROM {} t WHERE {}{}").format(
        sql.SQL("t.xmin::text::bigint >= %(xid)s") if xid is not None else sql.SQL("false"),
        qualified(table), key_match(table, key, "keys"),
        sql.SQL(" FOR UPDATE OF t") if lock else sql.SQL(""))
    rows = conn.execute(query, {"keys": Jsonb(keys), "xid": xid}).fetchall()
    return {canonical_key(image, key): (image, bool(mine)) for image, mine in rows}


def canonical_key(image: Mapping[str, Any], key: Sequence[str]) -> str:
    return exact_json({k: image.get(k) for k in sorted(key)})


def done_before(conn: psycopg.Connection[Any], run_id: str, step: str, commit: bool
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


@contextmanager
def transaction(conn: psycopg.Connection[Any], lock_s: int, statement_s: int
                 ) -> Iterator[None]:
    """The correction's transaction, with its limits; on any failure it is rolled back and
    the reason said in one line (the database is as it was)."""
    try:
        set_limits(conn, lock_s, statement_s)
        yield
    except Refused:
        conn.rollback()
        raise
    except psycopg.errors.LockNotAvailable as exc:
        conn.rollback()
        raise Refused(f"a row is locked by another session (lock_timeout {lock_s}s): "
                      f"{first_line(exc)}; nothing changed") from None
    except psycopg.errors.QueryCanceled as exc:
        conn.rollback()
        raise Refused(f"a statement ran longer than statement_timeout {statement_s}s: "
                      f"{first_line(exc)}; nothing changed") from None
    except psycopg.errors.SerializationFailure as exc:
        conn.rollback()
        raise Refused(f"a found row was changed by another session meanwhile: "
                      f"{first_line(exc)}; nothing changed") from None
    except psycopg.Error as exc:
        conn.rollback()
        raise Refused(f"the database refused a statement: {first_line(exc)}; nothing "
                      "changed") from None
    except BaseException:
        conn.rollback()
        raise


def has_table(conn: psycopg.Connection[Any], name: str) -> bool:
    """Whether table NAME exists (a database never corrected has no hisops schema)."""
    row = conn.execute("SELECT to_regclass(%s)", (name,)).fetchone()
    return row is not None and row[0] is not None


def first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
