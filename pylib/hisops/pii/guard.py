"""The originals guard: after masking, prove that no original value of a sensitive column is
left anywhere in the checked columns, without the values ever leaving the database.

Flow for a refresh: the target was just restored from the source's backup, so before masking
its sensitive columns still hold the originals. :func:`snapshot_originals` stores a keyed hash
of every such value in a TEMP table of the guard's own session (TEMP tables are not WAL-logged,
never reach a standby or a backup, and vanish with the session). Masking runs, on this or
another connection. :func:`check_originals`, on the same session, counts target values whose
keyed hash is among the originals. Only counts come back to Python.

Two ways of counting, per column (``mode``):

* ``anywhere`` (default): a value equal to ANY original of ANY snapshotted column, in any row,
  fails. Catches an unmasked column, a value copied into another column, and a shuffle that
  only moved values between rows.
* ``row``: only a row still holding its own original fails. For columns whose masked values
  come from a small pool (Chinese names, shifted dates) and so are bound to equal some other
  patient's real value by coincidence. Needs a primary key to pair rows.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import psycopg
from psycopg import sql

from hisops.errors import HisopsError, VerificationFailed
from hisops.pii import keyhash

log = logging.getLogger(__name__)

ORIGINALS_TABLE = "hisops_pii_originals"  # (col, rowkey, h): one row per original value
DISTINCT_TABLE = "hisops_pii_hashes"  # (h, cols): each distinct hash once, with its columns
TEMP_BUFFERS = "256MB"  # keeps a snapshot of a few million values in memory, not temp files
Mode = Literal["anywhere", "row"]


class GuardError(HisopsError):
    """The guard cannot run as asked (another session, a replaced snapshot, no such column)."""


@dataclass(frozen=True, order=True)
class ColumnRef:
    schema: str
    table: str
    column: str

    @classmethod
    def parse(cls, text: str) -> ColumnRef:
        """``schema.table.column`` (names without dots)."""
        parts = text.split(".")
        if len(parts) != 3 or not all(parts):
            raise ValueError(f"expected schema.table.column, got {text!r}")
        return cls(*parts)

    def __str__(self) -> str:
        return f"{self.schema}.{self.table}.{self.column}"


@dataclass(frozen=True)
class SnapshotColumn:
    ref: ColumnRef
    index: int  # the column's number in the originals table
    originals: int  # non-empty values hashed
    row_key: tuple[str, ...]  # primary key columns pairing rows; () when the table has none


@dataclass(frozen=True)
class Snapshot:
    """Where the hashed originals are: a session (by backend pid) and a token. No key, no value."""

    token: str
    backend_pid: int
    columns: tuple[SnapshotColumn, ...]

    def column(self, ref: ColumnRef) -> SnapshotColumn | None:
        return next((c for c in self.columns if c.ref == ref), None)


@dataclass(frozen=True)
class GuardColumn:
    ref: ColumnRef
    mode: Mode
    checked: int  # non-empty values in the target column
    found: int  # values equal to an original of any snapshotted column, any row
    from_other_columns: int  # of those, values that are an original of another column
    unchanged: int | None  # rows still holding their own original; None: rows cannot be paired

    @property
    def passed(self) -> bool:
        if self.mode == "row":
            return self.unchanged == 0
        return self.found == 0


@dataclass(frozen=True)
class GuardReport:
    columns: tuple[GuardColumn, ...]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.columns)

    def failures(self) -> list[str]:
        return [_describe(c) for c in self.columns if not c.passed]

    def raise_for_failure(self) -> None:
        if not self.passed:
            raise VerificationFailed("original values are still present: "
                                     + "; ".join(self.failures()))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: column names and counts only."""
        return {"passed": self.passed, "columns": [
            {"column": str(c.ref), "mode": c.mode, "checked": c.checked, "found": c.found,
             "from_other_columns": c.from_other_columns, "unchanged": c.unchanged,
             "passed": c.passed} for c in self.columns]}


def _describe(c: GuardColumn) -> str:
    if c.mode == "row":
        if c.unchanged is None:
            return f"{c.ref}: no primary key, rows cannot be compared with their originals"
        return f"{c.ref}: {c.unchanged} of {c.checked} rows still hold their original"
    return (f"{c.ref}: {c.found} of {c.checked} values are originals "
            f"({c.unchanged if c.unchanged is not None else '?'} unchanged in place, "
            f"{c.from_other_columns} from other columns)")


# --- SQL pieces --------------------------------------------------------------------------------

_PRIMARY_KEY = """
SELECT a.attname
FROM pg_index i
JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, pos) ON true
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
WHERE n.nspname = %s AND c.relname = %s AND i.indisprimary
ORDER BY k.pos
"""


def primary_key(conn: psycopg.Connection[Any], schema: str, table: str) -> tuple[str, ...]:
    return tuple(str(r[0]) for r in conn.execute(_PRIMARY_KEY, (schema, table)))


def _hashes_query(ref: ColumnRef, row_key: Sequence[str], index: int) -> sql.Composable:
    """SELECT index, hashed row key, hashed value for every non-empty value of REF."""
    value = sql.SQL("t.{}").format(sql.Identifier(ref.column))
    if row_key:
        # chr(31) (unit separator) between parts: (1, 23) and (12, 3) stay apart
        parts = sql.SQL(", ").join(sql.SQL("t.{}::text").format(sql.Identifier(c))
                                   for c in row_key)
        key_hash = keyhash.hash_sql(sql.SQL("concat_ws(chr(31), {})").format(parts))
    else:
        key_hash = sql.SQL("NULL::bigint")
    return sql.SQL(
        "SELECT {index}::int2 AS col, {key_hash} AS rowkey, {hash} AS h"
        " FROM {table} AS t, {key} WHERE btrim(({value})::text) <> ''"
    ).format(index=sql.Literal(index), key_hash=key_hash, hash=keyhash.hash_sql(value),
             table=sql.Identifier(ref.schema, ref.table), key=keyhash.key_join(), value=value)


# A value is hashed as its text form, and dates, times and floats print by session settings: pin
# them, or a source and a target (or a snapshot and a check) with other settings would hash the
# same date differently and the guard would pass a value it should have caught.
_STABLE_TEXT = ("SET LOCAL DateStyle = 'ISO, YMD'", "SET LOCAL IntervalStyle = 'postgres'",
                "SET LOCAL TimeZone = 'UTC'", "SET LOCAL extra_float_digits = 1",
                "SET LOCAL bytea_output = 'hex'")


def _stable_text(conn: psycopg.Connection[Any]) -> None:
    for statement in _STABLE_TEXT:
        conn.execute(statement)


def _prefer_memory(conn: psycopg.Connection[Any]) -> None:
    """Raise temp_buffers: only possible before the session's first TEMP table, so first."""
    try:
        with conn.transaction():
            conn.execute("SELECT set_config('temp_buffers', %s, false)", (TEMP_BUFFERS,))
    except psycopg.Error:
        log.debug("temp_buffers left as it was (TEMP tables used earlier in this session)")


def _create_originals(conn: psycopg.Connection[Any]) -> None:
    for table in (ORIGINALS_TABLE, DISTINCT_TABLE):
        conn.execute(sql.SQL("DROP TABLE IF EXISTS pg_temp.{}").format(sql.Identifier(table)))
    conn.execute(sql.SQL("CREATE TEMP TABLE {} (col int2 NOT NULL, rowkey bigint,"
                         " h bigint NOT NULL)").format(sql.Identifier(ORIGINALS_TABLE)))


def _index_originals(conn: psycopg.Connection[Any]) -> None:
    originals, hashes = sql.Identifier(ORIGINALS_TABLE), sql.Identifier(DISTINCT_TABLE)
    conn.execute(sql.SQL("CREATE TEMP TABLE {} AS SELECT h, array_agg(DISTINCT col) AS cols"
                         " FROM pg_temp.{} GROUP BY h").format(hashes, originals))
    conn.execute(sql.SQL("CREATE INDEX ON pg_temp.{} (col, rowkey, h)").format(originals))
    conn.execute(sql.SQL("CREATE UNIQUE INDEX ON pg_temp.{} (h)").format(hashes))
    # autovacuum never analyzes TEMP tables; without statistics the check's joins plan badly
    conn.execute(sql.SQL("ANALYZE pg_temp.{}").format(originals))
    conn.execute(sql.SQL("ANALYZE pg_temp.{}").format(hashes))


def _counts_by_column(conn: psycopg.Connection[Any]) -> dict[int, int]:
    rows = conn.execute(sql.SQL("SELECT col, count(*) FROM pg_temp.{} GROUP BY col").format(
        sql.Identifier(ORIGINALS_TABLE)))
    return {int(col): int(n) for col, n in rows}


def _backend_pid(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT pg_backend_pid()").fetchone()
    return int(row[0]) if row else 0


# --- the API -----------------------------------------------------------------------------------


def snapshot_originals(conn: psycopg.Connection[Any], columns: Sequence[ColumnRef],
                       key: bytes | str) -> Snapshot:
    """Hash every non-empty value of COLUMNS into a TEMP table of CONN's session.

    Keep CONN open until :func:`check_originals`: the snapshot lives and dies with the session.
    The key travels by COPY into another TEMP table, never in a statement's text.
    """
    refs = _unique(columns)
    token = secrets.token_hex(8)
    _prefer_memory(conn)
    with conn.transaction():
        _stable_text(conn)
        keyhash.install_key(conn, key, token)
        _create_originals(conn)
        keys = {}
        for index, ref in enumerate(refs):
            keys[ref] = primary_key(conn, ref.schema, ref.table)
            conn.execute(sql.SQL("INSERT INTO pg_temp.{} (col, rowkey, h) {}").format(
                sql.Identifier(ORIGINALS_TABLE), _hashes_query(ref, keys[ref], index)))
        _index_originals(conn)
        counts = _counts_by_column(conn)
    log.info("originals snapshot %s: %d columns, %d values", token, len(refs),
             sum(counts.values()))
    return Snapshot(token=token, backend_pid=_backend_pid(conn), columns=tuple(
        SnapshotColumn(ref, i, counts.get(i, 0), keys[ref]) for i, ref in enumerate(refs)))


def snapshot_from_source(source: psycopg.Connection[Any], target: psycopg.Connection[Any],
                         columns: Sequence[ColumnRef], key: bytes | str) -> Snapshot:
    """Like :func:`snapshot_originals`, but the originals are read on SOURCE, another server.

    SOURCE computes the keyed hashes and streams them (binary COPY, hashes only) through this
    process into TARGET's TEMP table. The key goes to both servers by COPY. The target's tables
    must have the source's primary keys for ``row`` mode to pair rows.
    """
    refs = _unique(columns)
    token = secrets.token_hex(8)
    keys = {}
    _prefer_memory(target)
    with source.transaction(force_rollback=True), target.transaction():
        _stable_text(source)
        _stable_text(target)
        keyhash.install_key(source, key, token)  # rolled back with the source transaction
        keyhash.install_key(target, key, token)
        _create_originals(target)
        copy_in = sql.SQL("COPY pg_temp.{} (col, rowkey, h) FROM STDIN (FORMAT binary)").format(
            sql.Identifier(ORIGINALS_TABLE))
        with source.cursor() as src, target.cursor() as dst:
            for index, ref in enumerate(refs):
                keys[ref] = primary_key(source, ref.schema, ref.table)
                copy_out = sql.SQL("COPY ({}) TO STDOUT (FORMAT binary)").format(
                    _hashes_query(ref, keys[ref], index))
                with src.copy(copy_out) as out, dst.copy(copy_in) as into:
                    for block in out:
                        into.write(block)
        _index_originals(target)
        counts = _counts_by_column(target)
    return Snapshot(token=token, backend_pid=_backend_pid(target), columns=tuple(
        SnapshotColumn(ref, i, counts.get(i, 0), keys[ref]) for i, ref in enumerate(refs)))


def check_originals(conn: psycopg.Connection[Any], snapshot: Snapshot, *,
                    also_check: Sequence[ColumnRef] = (),
                    row_only: Collection[ColumnRef] = ()) -> GuardReport:
    """Count, per column, target values that are originals; zero everywhere is a pass.

    Checks the snapshot's columns and ALSO_CHECK (say, free-text columns a value could have
    been copied into). Columns in ROW_ONLY fail only on a row that kept its own original.
    """
    checked: list[GuardColumn] = []
    with conn.transaction():
        _stable_text(conn)
        _verify_session(conn, snapshot)
        for ref in [*(c.ref for c in snapshot.columns), *_unique(also_check)]:
            known = snapshot.column(ref)
            row_key = known.row_key if known else primary_key(conn, ref.schema, ref.table)
            index = known.index if known else -1
            mode: Mode = "row" if ref in row_only else "anywhere"
            checked.append(_check_column(conn, ref, row_key, index, mode, paired=bool(known)))
    report = GuardReport(tuple(checked))
    log.info("originals guard %s: %s", snapshot.token, "passed" if report.passed else "FAILED")
    return report


def _check_column(conn: psycopg.Connection[Any], ref: ColumnRef, row_key: Sequence[str],
                  index: int, mode: Mode, *, paired: bool) -> GuardColumn:
    # MATERIALIZED: each hash is computed once, not once per join condition that uses it
    query = sql.SQL("""
        WITH x AS MATERIALIZED ({values})
        SELECT count(*), count(m.h), count(*) FILTER (WHERE m.cols <> ARRAY[{index}]::int2[]),
               count(r.h)
        FROM x
        LEFT JOIN pg_temp.{hashes} AS m ON m.h = x.h
        LEFT JOIN pg_temp.{originals} AS r
               ON r.col = {index} AND r.rowkey = x.rowkey AND r.h = x.h
    """).format(values=_hashes_query(ref, row_key, index), index=sql.Literal(index),
                hashes=sql.Identifier(DISTINCT_TABLE), originals=sql.Identifier(ORIGINALS_TABLE))
    try:
        with conn.transaction():
            row = conn.execute(query).fetchone()
    except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn) as exc:
        raise GuardError(f"cannot check {ref}: {exc.diag.message_primary}") from None
    total, found, other, unchanged = (int(x) for x in row) if row else (0, 0, 0, 0)
    return GuardColumn(ref=ref, mode=mode, checked=total, found=found, from_other_columns=other,
                       unchanged=unchanged if paired and row_key else None)


def _verify_session(conn: psycopg.Connection[Any], snapshot: Snapshot) -> None:
    if _backend_pid(conn) != snapshot.backend_pid:
        raise GuardError("the originals snapshot belongs to another session: check on the "
                         "connection that took it")
    try:
        with conn.transaction():
            row = conn.execute(sql.SQL("SELECT token FROM pg_temp.{}").format(
                sql.Identifier(keyhash.KEY_TABLE))).fetchone()
    except psycopg.errors.UndefinedTable:
        row = None
    if row is None or row[0] != snapshot.token:
        raise GuardError("the originals snapshot is gone or was replaced by another one")


def discard(conn: psycopg.Connection[Any]) -> None:
    """Drop the key and the hashed originals now rather than at the session's end."""
    with conn.transaction():
        keyhash.drop_key(conn)
        for table in (ORIGINALS_TABLE, DISTINCT_TABLE):
            conn.execute(sql.SQL("DROP TABLE IF EXISTS pg_temp.{}").format(sql.Identifier(table)))


def _unique(columns: Sequence[ColumnRef]) -> list[ColumnRef]:
    return list(dict.fromkeys(columns))
