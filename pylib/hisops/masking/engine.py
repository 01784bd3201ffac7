"""Run a masking policy inside the database: :func:`mask`.

One transaction for the whole run. The target is a test copy that was just restored: if
masking fails halfway, a rollback leaves it exactly as restored (fully unmasked, visibly not
done) instead of half masked and looking finished; the caller drops or re-masks it. Per-table
commits would save little: the work is one UPDATE per table either way, and a resumed run
would need a record in the database of which tables are done.

How the key travels: the caller's secret is turned into a 32-byte working key in Python
(:func:`reference.derive_key`), sent with ``COPY ... FROM STDIN`` into a session-private TEMP
table created ``ON COMMIT DROP`` (COPY data is never logged by the server, temp tables are not
WAL-logged or replicated), and each UPDATE reads it with a scalar subquery. The key is never in
a statement's text or a bound parameter, never logged by hisops, and gone at commit or rollback.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import psycopg
from psycopg import sql

from hisops.errors import HisopsError, InputError
from hisops.masking import sqlgen
from hisops.masking.planner import MaskPlan, TablePlan, plan
from hisops.masking.policy import Policy
from hisops.masking.reference import derive_key, key_id

log = logging.getLogger(__name__)

MIN_KEY_CHARS = 16


class MaskingKeyError(InputError):
    """The masking key is missing or too short (exit 2)."""


class MaskingFailed(HisopsError):
    """Masking failed in the database; the transaction was rolled back (nothing changed)."""

    def __init__(self, table: str, sqlstate: str | None, message: str) -> None:
        self.table, self.sqlstate = table, sqlstate
        super().__init__(f"masking {table} failed ({sqlstate}): {message}; rolled back, "
                         "nothing was changed")


@dataclass(frozen=True)
class TableReport:
    table: str  # schema.table
    rows: int
    seconds: float
    rows_per_second: float
    compute_seconds: float  # of `seconds`: the parallel compute of a staged table (else 0)
    columns: dict[str, str]  # column -> method


@dataclass(frozen=True)
class MaskReport:
    """The outcome of a masking run, plain JSON-able data for the journal (no key in it)."""

    policy: str
    policy_digest: str
    dictionaries_digest: str
    key_id: str  # fingerprint of the working key: equal ids, equal pseudonyms
    server_version: str
    tables: list[TableReport]
    rebuilt: list[str]  # indexes and foreign keys rebuilt after masking
    rebuild_seconds: float
    rows: int
    seconds: float  # setup, masking, rebuilds; and the commit, unless a caller's transaction
    rows_per_second: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


Progress = Callable[[TableReport], None]


def working_key(secret: str | bytes | None) -> bytes:
    """Check and derive the key; the secret itself is not kept."""
    if not secret or len(secret) < MIN_KEY_CHARS:
        raise MaskingKeyError(f"the masking key must have at least {MIN_KEY_CHARS} characters")
    return derive_key(secret)


def mask(conn: psycopg.Connection[Any], policy: Policy, key: str | bytes, *,
         progress: Progress | None = None, mask_plan: MaskPlan | None = None) -> MaskReport:
    """Mask CONN's database with POLICY under KEY in one transaction; return the report.

    The policy is checked against the schema first (PolicyError, nothing changed). A database
    error while masking rolls everything back and raises :class:`MaskingFailed`.
    """
    working = working_key(key)
    the_plan = mask_plan or plan(policy, conn)
    tables: list[TableReport] = []
    started = time.monotonic()
    current = "(setup)"
    try:
        with conn.transaction(), conn.cursor() as cur:
            old_settings = _set(cur, _settings(the_plan))
            _setup(cur, the_plan, working)
            current = "(dropping indexes and foreign keys on masked columns)"
            for statement in the_plan.before_sql:
                cur.execute(statement)
            for table in the_plan.tables:
                current = f"{table.schema}.{table.table}"
                tables.append(_mask_table(cur, table))
                if progress is not None:
                    progress(tables[-1])
            current = "(rebuilding indexes and foreign keys)"
            t0 = time.monotonic()
            for statement in the_plan.after_sql:
                cur.execute(statement)
            rebuild_seconds = time.monotonic() - t0
            current = "(cleanup)"
            _cleanup(cur, the_plan, old_settings)
    except psycopg.Error as exc:
        # only the primary message: DETAIL can quote a failing row, i.e. patient data
        raise MaskingFailed(current, exc.sqlstate, exc.diag.message_primary or "error"
                            ) from None
    seconds = time.monotonic() - started
    rows = sum(t.rows for t in tables)
    report = MaskReport(
        policy=the_plan.policy, policy_digest=the_plan.policy_digest,
        dictionaries_digest=the_plan.dictionaries_digest, key_id=key_id(working),
        server_version=str(conn.info.server_version), tables=tables,
        rebuilt=the_plan.rebuilt, rebuild_seconds=round(rebuild_seconds, 3), rows=rows,
        seconds=round(seconds, 3), rows_per_second=round(rows / seconds, 1) if seconds else 0.0)
    log.info("masked %d rows in %d tables in %.1f s (policy %s, key %s)", rows, len(tables),
             seconds, the_plan.policy, report.key_id)
    return report


def _settings(the_plan: MaskPlan) -> dict[str, str]:
    return {
        # a timestamptz plus whole days must not depend on the session's DST rules
        "TimeZone": "UTC",
        "max_parallel_workers_per_gather": str(the_plan.parallel_workers),
        # the staged compute is CPU-bound: worth workers even for a table of a few MB
        "min_parallel_table_scan_size": "0",
        # the staging join hashes one row per masked row: in memory, not in batches on disk
        "work_mem": "256MB",
        # the indexes rebuilt after the UPDATEs sort in memory, not in runs on disk
        "maintenance_work_mem": "256MB",
    }


def _set(cur: psycopg.Cursor[Any], values: dict[str, str]) -> dict[str, str]:
    """Set VALUES for this transaction; return the old ones (for a caller's transaction,
    which these settings would otherwise outlive the masking in)."""
    old = {}
    for name, value in values.items():
        row = cur.execute("SELECT current_setting(%s), set_config(%s, %s, true)",
                          (name, name, value)).fetchone()
        old[name] = str(row[0]) if row else ""
    return old


def _setup(cur: psycopg.Cursor[Any], the_plan: MaskPlan, working: bytes) -> None:
    # block writers for the run: a row inserted meanwhile would escape masking
    for table in the_plan.tables:
        cur.execute(sql.SQL("LOCK TABLE {}.{} IN EXCLUSIVE MODE").format(
            sql.Identifier(table.schema), sql.Identifier(table.table)))
    cur.execute(f"CREATE TEMP TABLE {sqlgen.KEY_TABLE.split('.')[1]} (k bytea NOT NULL) "
                "ON COMMIT DROP")
    with cur.copy(f"COPY {sqlgen.KEY_TABLE} (k) FROM STDIN") as copy:
        copy.write_row((working,))
    cur.execute(the_plan.setup_sql)
    if _staged(the_plan):
        cur.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(sqlgen.STAGE_SCHEMA)))


def _staged(the_plan: MaskPlan) -> bool:
    return any(t.compute for t in the_plan.tables)


def _cleanup(cur: psycopg.Cursor[Any], the_plan: MaskPlan, old_settings: dict[str, str]
             ) -> None:
    cur.execute(sqlgen.drop_functions_sql())
    if _staged(the_plan):
        cur.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(
            sql.Identifier(sqlgen.STAGE_SCHEMA)))
    # now, not at commit: a caller's enclosing transaction may go on for a while
    cur.execute(f"DROP TABLE {sqlgen.KEY_TABLE}")
    _set(cur, old_settings)


def _mask_table(cur: psycopg.Cursor[Any], table: TablePlan) -> TableReport:
    t0 = time.monotonic()
    if table.compute:
        cur.execute(table.compute)
    computed = time.monotonic() - t0
    if table.clear:
        cur.execute(table.clear)
    cur.execute(table.statement)
    seconds = time.monotonic() - t0
    rows = max(cur.rowcount, 0)
    log.info("masked %s.%s: %d rows in %.2f s", table.schema, table.table, rows, seconds)
    return TableReport(table=f"{table.schema}.{table.table}", rows=rows,
                       seconds=round(seconds, 3),
                       rows_per_second=round(rows / seconds, 1) if seconds else 0.0,
                       compute_seconds=round(computed, 3),
                       columns={c.column: c.method for c in table.columns})
