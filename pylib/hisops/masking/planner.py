"""Check a policy against the live schema and turn it into SQL: :func:`plan`.

Nothing here changes the database: it reads the catalog, counts rows and asks the server to
compile the policy's regexes and constants, so a policy that cannot run fails before masking
starts (PolicyError, exit 2).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

import psycopg
from psycopg import sql

from hisops.masking import sqlgen
from hisops.masking.constraints import foreign_keys_from, rebuild_plan
from hisops.masking.policy import (
    AddressZh,
    Column,
    Constant,
    DateShift,
    IdNumberCn,
    NameZh,
    Null,
    PhoneCn,
    Policy,
    Text,
)
from hisops.masking.reference import ID_PATTERN, PHONE_PATTERN

log = logging.getLogger(__name__)

STRING_TYPES = ("text", "character varying", "character", "citext", "name")
DATE_TYPES = ("date", "timestamp without time zone", "timestamp with time zone")
TEXT_METHODS = (NameZh, IdNumberCn, PhoneCn, AddressZh, Text)
FUNCTION_METHODS = (NameZh, IdNumberCn, PhoneCn, AddressZh)  # worth computing in parallel
# masked once per distinct value and joined back (sqlgen.update_statement) when a NOT NULL
# column of a big table holds few distinct values (pg_stats): a visit's doctor, a department
MAPPABLE_METHODS = (NameZh, AddressZh)
MAP_MIN_ROWS = 10_000
MAP_MAX_DISTINCT_SHARE = 0.05
# below this, an UPDATE in place costs less than staging, emptying and refilling the table
REWRITE_MIN_ROWS = 10_000


@dataclass(frozen=True)
class ColumnPlan:
    column: str
    method: str
    options: dict[str, Any]
    type: str


@dataclass(frozen=True)
class TablePlan:
    schema: str
    table: str
    rows: int
    columns: list[ColumnPlan]
    statement: str  # the UPDATE, as the server will receive it (no key in it)
    compute: str  # staged tables: the parallel CREATE TABLE AS run before the UPDATE; or ""
    mapped: list[str]  # columns masked once per distinct value (sqlgen.update_statement)
    clear: str = ""  # a table written anew: the TRUNCATE between compute and statement


@dataclass(frozen=True)
class MaskPlan:
    """What a masking run will do, as plain data (no key in it: safe to show and journal)."""

    policy: str
    policy_digest: str
    dictionaries_digest: str
    tables: list[TablePlan]
    setup_sql: str  # helper functions created in pg_temp for the run
    before_sql: list[str]  # drops indexes and foreign keys on masked columns ...
    after_sql: list[str]  # ... and rebuilds them after the UPDATEs (constraints.py)
    rebuilt: list[str]
    parallel_workers: int

    @property
    def total_rows(self) -> int:
        return sum(t.rows for t in self.tables)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["total_rows"] = self.total_rows
        return data


@dataclass(frozen=True)
class _LiveColumn:
    type: str  # format_type, e.g. "character varying(11)"
    base: str  # without the modifier, e.g. "character varying"
    length: int | None  # the character limit of char(n)/varchar(n)
    not_null: bool
    deterministic: bool  # its collation tells equal from distinct byte for byte
    distinct: float | None  # pg_stats.n_distinct: > 0 a count, < 0 a share of the rows


def plan(policy: Policy, conn: psycopg.Connection[Any]) -> MaskPlan:
    """Validate POLICY against CONN's database and build its SQL. Reads only.

    Called outside a transaction, it ends the one its reads opened (also when it raises);
    inside the caller's transaction, it leaves that transaction alone (probes use savepoints).
    """
    idle = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    try:
        return _plan(policy, conn)
    finally:
        if idle and conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            conn.rollback()  # leave no transaction open: mask() starts its own


@dataclass
class _Table:
    """One policy table while it is planned: its masked columns' SQL, before a form is chosen."""

    index: int
    schema: str
    table: str
    rows: int
    columns: list[ColumnPlan]
    masked: dict[str, sql.Composable]  # column -> its masked value, from t.column
    mapped: list[tuple[str, sql.Composable]]  # column -> its masked value, from x.d


def _plan(policy: Policy, conn: psycopg.Connection[Any]) -> MaskPlan:
    pending = [_table(policy, conn, index) for index in range(len(policy.tables))]
    stage = conn.execute("SELECT to_regnamespace(%s)", (sqlgen.STAGE_SCHEMA,)).fetchone()
    if stage is not None and stage[0] is not None:
        raise policy.error(f"the database already has a schema {sqlgen.STAGE_SCHEMA}: masking "
                           "uses that name for its staging tables", ("tables",))
    rebuild = rebuild_plan(conn, [(t.schema_name, t.table_name, list(t.columns))
                                  for t in policy.tables])
    _check_unique(policy, rebuild.unique)
    tables = [_statements(policy, conn, t, rebuild.foreign_keys) for t in pending]
    before, after, names = list(rebuild.before), list(rebuild.after), list(rebuild.names)
    for t, planned in zip(pending, tables, strict=True):
        if planned.clear:  # written anew: its own foreign keys go too, and come back last
            drop, add, fks = foreign_keys_from(conn, t.schema, t.table,
                                               rebuild.foreign_keys)
            before, after, names = drop + before, after + add, names + fks
    return MaskPlan(policy=policy.path, policy_digest=policy.digest,
                    dictionaries_digest=policy.dictionaries.digest, tables=tables,
                    setup_sql=sqlgen.functions_sql(policy.dictionaries, policy.settings.rounds),
                    before_sql=before, after_sql=after, rebuilt=names,
                    parallel_workers=policy.settings.parallel_workers)


def _table(policy: Policy, conn: psycopg.Connection[Any], index: int) -> _Table:
    table = policy.tables[index]
    live = _columns(conn, table.schema_name, table.table_name)
    if live is None:
        raise policy.error(f"table {table.table} does not exist in the database",
                           ("tables", index, "table"))
    rows = _count(conn, table.schema_name, table.table_name)
    found = _Table(index=index, schema=table.schema_name, table=table.table_name, rows=rows,
                   columns=[], masked={}, mapped=[])
    for name, method in table.columns.items():
        loc = ("tables", index, "columns", name)
        column = live.get(name)
        if column is None:
            raise policy.error(f"column {name} does not exist in {table.table}", loc)
        _check_type(policy, method, column, live, loc)
        _server_compiles(policy, conn, method, column, loc)
        found.masked[name] = _expression(policy, name, method, column)
        if _mappable(method, column, rows):
            found.mapped.append((name, _expression(policy, name, method, column,
                                                   sql.SQL("x.d"))))
        options = method.model_dump(exclude={"method"}, exclude_none=True)
        found.columns.append(ColumnPlan(column=name, method=method.method, options=options,
                                        type=column.type))
    _check_foreign_keys(policy, conn, index)
    return found


def _statements(policy: Policy, conn: psycopg.Connection[Any], t: _Table,
                dropped_foreign_keys: frozenset[str]) -> TablePlan:
    """The table's SQL in the cheapest form that gives the same result: written anew
    (sqlgen.rewrite_statements), staged (computed in parallel, then one UPDATE), or one
    UPDATE computing in place."""
    methods = policy.tables[t.index].columns
    parallel = bool(policy.settings.parallel_workers)
    mapped_names = {c for c, _ in t.mapped}
    unmapped = {c: e for c, e in t.masked.items() if c not in mapped_names}
    columns = _rewritable(conn, t, dropped_foreign_keys) if parallel else None
    clear: sql.Composable = sql.SQL("")
    compute: sql.Composable = sql.SQL("")
    mapped = t.mapped
    if columns is not None:
        # mapped columns through a map table computed first (a subquery with OFFSET 0 in
        # the compute would keep the workers out: sqlgen.rewrite_statements)
        compute, clear, statement = sqlgen.rewrite_statements(
            t.schema, t.table, f"t{t.index}", columns, t.masked, t.mapped)
    elif parallel and any(isinstance(methods[c], FUNCTION_METHODS) for c in unmapped):
        mapped = []  # a staged table computes every column in parallel: none is mapped
        compute, statement = sqlgen.staged_statements(t.schema, t.table, f"t{t.index}",
                                                      list(t.masked.items()))
    else:
        statement = sqlgen.update_statement(t.schema, t.table, list(unmapped.items()), mapped)
    return TablePlan(schema=t.schema, table=t.table, rows=t.rows, columns=t.columns,
                     statement=statement.as_string(conn), compute=compute.as_string(conn),
                     mapped=[name for name, _ in mapped], clear=clear.as_string(conn))


# Facts that decide whether a table may be emptied and filled again instead of updated: what
# could tell the difference (triggers, rules, row security, publications, inheritance,
# generated columns that INSERT may not write) rules it out.
_REWRITE_FACTS = """
SELECT c.relkind = 'r' AND c.relpersistence = 'p' AND NOT c.relrowsecurity
       AND NOT c.relhassubclass
       AND NOT EXISTS (SELECT FROM pg_inherits WHERE inhrelid = c.oid)
       AND NOT EXISTS (SELECT FROM pg_trigger WHERE tgrelid = c.oid AND NOT tgisinternal)
       AND NOT EXISTS (SELECT FROM pg_rewrite WHERE ev_class = c.oid)
       AND NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = c.oid AND attnum > 0
                          AND NOT attisdropped AND attgenerated <> '')
       AND NOT EXISTS (SELECT FROM pg_publication_tables pt
                        WHERE pt.schemaname = n.nspname AND pt.tablename = c.relname),
       ARRAY(SELECT con.conrelid::regclass::text || '.' || con.conname FROM pg_constraint con
              WHERE con.contype = 'f' AND con.confrelid = c.oid AND con.conrelid <> c.oid),
       ARRAY(SELECT a.attname FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0
                AND NOT a.attisdropped ORDER BY a.attnum)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.oid = %s::regclass
"""


def _rewritable(conn: psycopg.Connection[Any], t: _Table, dropped_foreign_keys: frozenset[str]
                ) -> list[str] | None:
    """The table's columns in order if it may be written anew, else None.

    Besides the facts above, every foreign key to the table must be one the run drops and
    re-adds anyway (TRUNCATE refuses a referenced table). Keys from the table are dropped for
    the refill (constraints.foreign_keys_from): kept, each refilled row would be checked on its own;
    re-added, all rows are checked at once (1.7 s for 3,000,000 visits on the lab)."""
    if t.rows < REWRITE_MIN_ROWS:
        return None
    table = sql.SQL("{}.{}").format(sql.Identifier(t.schema), sql.Identifier(t.table))
    row = conn.execute(_REWRITE_FACTS, (table.as_string(conn),)).fetchone()
    if row is None or not row[0] or not set(row[1]) <= dropped_foreign_keys:
        return None
    return [str(c) for c in row[2]]


def _columns(conn: psycopg.Connection[Any], schema: str, table: str
             ) -> dict[str, _LiveColumn] | None:
    rows = conn.execute(
        """SELECT a.attname, format_type(a.atttypid, a.atttypmod),
                  format_type(a.atttypid, NULL), a.attnotnull,
                  CASE WHEN a.atttypid IN ('bpchar'::regtype, 'varchar'::regtype)
                       AND a.atttypmod > 4 THEN a.atttypmod - 4 END,
                  coalesce((SELECT co.collisdeterministic FROM pg_collation co
                             WHERE co.oid = a.attcollation), true),
                  (SELECT s.n_distinct FROM pg_stats s
                    WHERE s.schemaname = n.nspname AND s.tablename = c.relname
                      AND s.attname = a.attname AND NOT s.inherited)
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
                                     AND NOT a.attisdropped
            WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p')""",
        (schema, table)).fetchall()
    if not rows:
        return None
    return {str(r[0]): _LiveColumn(type=str(r[1]), base=str(r[2]), length=r[4],
                                   not_null=bool(r[3]), deterministic=bool(r[5]),
                                   distinct=None if r[6] is None else float(r[6]))
            for r in rows if r[0] is not None}


def _mappable(method: Column, column: _LiveColumn, rows: int) -> bool:
    """Worth masking once per distinct value? Only where it gives the same result as row by
    row: NOT NULL (a NULL would match no value and its row would go unmasked) and a
    deterministic collation (a case-insensitive one would merge two values into one)."""
    if not (isinstance(method, MAPPABLE_METHODS) and column.not_null and column.deterministic
            and column.distinct is not None and rows >= MAP_MIN_ROWS):
        return False
    distinct = column.distinct if column.distinct > 0 else -column.distinct * rows
    return distinct <= MAP_MAX_DISTINCT_SHARE * rows


BIJECTIVE = (IdNumberCn, PhoneCn, Null)  # keep distinct values distinct (NULLs never clash)


def _check_unique(policy: Policy, unique: list[tuple[str, str, str]]) -> None:
    """A unique key column needs a method that keeps distinct values distinct: a pseudonym
    that may repeat would only fail at the end of the run, when the index is rebuilt."""
    for index, table in enumerate(policy.tables):
        for qualified, column, name in unique:
            method = table.columns.get(column) if qualified == table.table else None
            if method is not None and not isinstance(method, BIJECTIVE):
                raise policy.error(
                    f"{column} is a key of unique index {name}, and {method.method} may give "
                    "two rows the same value: use a bijective method (id_number_cn, phone_cn)",
                    ("tables", index, "columns", column, "method"))


def _count(conn: psycopg.Connection[Any], schema: str, table: str) -> int:
    row = conn.execute(sql.SQL("SELECT count(*) FROM {}.{}").format(
        sql.Identifier(schema), sql.Identifier(table))).fetchone()
    return int(row[0]) if row else 0


_FOREIGN_KEYS = """
SELECT con.conname, con.condeferrable, con.confupdtype,
       src_ns.nspname || '.' || src.relname, src_col.attname,
       dst_ns.nspname || '.' || dst.relname, dst_col.attname
  FROM pg_constraint con
  JOIN pg_class src ON src.oid = con.conrelid
  JOIN pg_namespace src_ns ON src_ns.oid = src.relnamespace
  JOIN pg_class dst ON dst.oid = con.confrelid
  JOIN pg_namespace dst_ns ON dst_ns.oid = dst.relnamespace
  CROSS JOIN LATERAL unnest(con.conkey, con.confkey) AS k(src_num, dst_num)
  JOIN pg_attribute src_col ON src_col.attrelid = con.conrelid AND src_col.attnum = k.src_num
  JOIN pg_attribute dst_col ON dst_col.attrelid = con.confrelid AND dst_col.attnum = k.dst_num
 WHERE con.contype = 'f'
   AND ((src_ns.nspname, src.relname) = (%(schema)s, %(table)s)
        OR (dst_ns.nspname, dst.relname) = (%(schema)s, %(table)s))
"""


def _check_foreign_keys(policy: Policy, conn: psycopg.Connection[Any], index: int) -> None:
    """A masked column in a foreign key: both ends must be masked alike, or the key breaks.
    (The key itself is dropped while masking and re-added after: see constraints.py.)"""
    table = policy.tables[index]
    methods = {(t.table, c): m for t in policy.tables for c, m in t.columns.items()}
    rows = conn.execute(_FOREIGN_KEYS, {"schema": table.schema_name,
                                        "table": table.table_name}).fetchall()
    for name, _deferrable, _on_update, src, src_col, dst, dst_col in rows:
        mine = src_col if src == table.table else dst_col
        if mine not in table.columns:
            continue
        loc = ("tables", index, "columns", mine)
        if methods.get((src, src_col)) != methods.get((dst, dst_col)):
            raise policy.error(f"foreign key {name} ({src}.{src_col} -> {dst}.{dst_col}) "
                               "needs both ends masked with the same method and options", loc)


def _check_type(policy: Policy, method: Column, column: _LiveColumn,
                live: dict[str, _LiveColumn], loc: tuple[str | int, ...]) -> None:
    if isinstance(method, TEXT_METHODS) and column.base not in STRING_TYPES:
        raise policy.error(f"{method.method} needs a text column, not {column.type}",
                           (*loc, "method"))
    if isinstance(method, DateShift):
        if column.base not in DATE_TYPES:
            raise policy.error(f"date_shift needs a date or timestamp column, not "
                               f"{column.type}", (*loc, "method"))
        if method.per not in live:
            raise policy.error(f"column {method.per} does not exist in the table",
                               (*loc, "per"))
    if isinstance(method, Null) and column.not_null:
        raise policy.error("the column is NOT NULL: use another method", (*loc, "method"))


def _expression(policy: Policy, name: str, method: Column, column: _LiveColumn,
                source: sql.Composable | None = None) -> sql.Composable:
    """The masked value of column NAME; of SOURCE instead of t.NAME if given."""
    col = source if source is not None else sql.SQL("t.{}").format(sql.Identifier(name))
    as_text = sql.SQL("{}::text").format(col)
    key = sql.SQL(sqlgen.KEY_EXPR)
    expr: sql.Composable
    if isinstance(method, NameZh):
        expr = sql.SQL("pg_temp.hm_name({}, {})").format(key, as_text)
    elif isinstance(method, AddressZh):
        expr = sql.SQL("pg_temp.hm_address({}, {})").format(key, as_text)
    elif isinstance(method, IdNumberCn):
        # bijections keep each value's length: any char(n)/varchar(n) fits (char(n) padding
        # is removed by ::text before masking and put back by the assignment)
        return sql.SQL("pg_temp.hm_id({}, {}, {}, {})").format(
            key, as_text, sql.Literal(method.birth == "shift"),
            sql.Literal(method.region == "shift"))
    elif isinstance(method, PhoneCn):
        return sql.SQL("pg_temp.hm_phone({}, {}, {})").format(
            key, as_text, sql.SQL(sqlgen.phone_table(policy.settings.rounds)))
    elif isinstance(method, Text):
        expr = _text(policy, method, as_text)
    elif isinstance(method, DateShift):
        days = method.days or policy.settings.date_shift_days
        per = sql.SQL("t.{}::text").format(sql.Identifier(method.per))
        offset = sqlgen.offset_expr(per, days)
        unit = "" if column.base == "date" else " * interval '1 day'"
        return sql.SQL("{} + {}{}").format(col, offset, sql.SQL(unit))
    elif isinstance(method, Null):
        return sql.SQL("NULL")
    else:
        return _constant(method, column)
    if column.length is not None:  # a pseudonym longer than varchar(n) is cut, not an error
        expr = sql.SQL("left({}, {})").format(expr, sql.Literal(column.length))
    return expr


def _constant(method: Constant, column: _LiveColumn) -> sql.Composable:
    value = str(method.value).lower() if isinstance(method.value, bool) else str(method.value)
    # column.type comes from format_type(): already a valid, quoted type name
    return sql.SQL("{}::{}").format(sql.Literal(value), sql.SQL(column.type))


def redact_patterns(method: Text) -> list[str]:
    return [ID_PATTERN, PHONE_PATTERN, *method.patterns]


def _text(policy: Policy, method: Text, value: sql.Composable) -> sql.Composable:
    if method.mode == "blank":
        return sql.SQL("CASE WHEN {} IS NULL THEN NULL ELSE '' END").format(value)
    marker = method.marker if method.marker is not None else policy.settings.redact_marker
    replacement = marker.replace("\\", "\\\\")  # \1 and \& are special in the replacement
    expr = value
    for pattern in redact_patterns(method):
        expr = sql.SQL("regexp_replace({}, {}, {}, 'g')").format(
            expr, sql.Literal(pattern), sql.Literal(replacement))
    return expr


def _server_compiles(policy: Policy, conn: psycopg.Connection[Any], method: Column,
                     column: _LiveColumn, loc: tuple[str | int, ...]) -> None:
    """Regexes (PostgreSQL's dialect is not Python's) and constants must compile on the server,
    so that they fail here and not halfway through a masking run. Literals only, no key."""
    probes: list[tuple[sql.Composed, tuple[str | int, ...]]] = []
    if isinstance(method, Text) and method.mode == "redact":
        probes = [(sql.SQL("SELECT regexp_replace('x', {}, 'y', 'g')").format(
            sql.Literal(p)), (*loc, "patterns", i)) for i, p in enumerate(method.patterns)]
    elif isinstance(method, Constant):
        probes = [(sql.SQL("SELECT {}").format(_constant(method, column)), (*loc, "value"))]
    for probe, where in probes:
        try:
            with conn.transaction():
                conn.execute(probe)
        except psycopg.Error as exc:
            detail = (exc.diag.message_primary or str(exc)).strip()
            raise policy.error(f"the database rejects it: {detail}", where) from None
