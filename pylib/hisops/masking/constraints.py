"""Indexes and foreign keys on masked columns: dropped before the UPDATEs, rebuilt after.

Why: PostgreSQL checks a (non-deferrable) unique index row by row during an UPDATE, so a
permutation of values makes a row's new value meet another row's old value before that row is
updated: "duplicate key" although the end state is unique. Rebuilding the index after the
UPDATE checks uniqueness once, on the final values, and is faster (one sorted build instead of
a random insert per row). Foreign keys on masked columns are dropped and re-added at the end
for the same reason; re-adding one validates every row, i.e. proves the join survived.

All of it happens inside the masking transaction: a failure restores the original definitions.
Kept: the definition (pg_get_indexdef / pg_get_constraintdef: columns, INCLUDE, WITH, WHERE,
DEFERRABLE), the name, REPLICA IDENTITY and CLUSTER marks. Not kept: comments on them, and the
tablespace of an index behind a constraint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

# indexes of a table on one of the given columns: as a key column (indkey), or in an
# expression or WHERE clause (recorded in pg_depend for plain indexes); with the constraint
# behind each, if any
_INDEXES = """
SELECT i.indexrelid::regclass::text, ic.relname, pg_get_indexdef(i.indexrelid),
       con.conname, pg_get_constraintdef(con.oid), i.indisreplident, i.indisclustered,
       i.indisunique,
       ARRAY(SELECT a.attname FROM pg_attribute a
              WHERE a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey::int2[])
                AND a.attname = ANY(%(columns)s)) AS masked_keys
  FROM pg_index i
  JOIN pg_class ic ON ic.oid = i.indexrelid
  LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid
                             AND con.contype IN ('p', 'u', 'x')
 WHERE i.indrelid = %(table)s::regclass
   AND EXISTS (SELECT FROM pg_attribute a
                WHERE a.attrelid = i.indrelid AND a.attname = ANY(%(columns)s)
                  AND (a.attnum = ANY(i.indkey::int2[])
                       OR EXISTS (SELECT FROM pg_depend d
                                   WHERE d.classid = 'pg_class'::regclass
                                     AND d.objid = i.indexrelid
                                     AND d.refclassid = 'pg_class'::regclass
                                     AND d.refobjid = i.indrelid
                                     AND d.refobjsubid = a.attnum)))
 ORDER BY 2
"""

# foreign keys that use one of the given columns, at either end, or that hang on an index
# that depends on them
_FOREIGN_KEYS = """
SELECT DISTINCT con.conname, con.conrelid::regclass::text, pg_get_constraintdef(con.oid)
  FROM pg_constraint con
 WHERE con.contype = 'f'
   AND (EXISTS (SELECT FROM unnest(con.conkey) AS k(n) JOIN pg_attribute a
                    ON a.attrelid = con.conrelid AND a.attnum = k.n
                 WHERE con.conrelid = %(table)s::regclass AND a.attname = ANY(%(columns)s))
        OR EXISTS (SELECT FROM unnest(con.confkey) AS k(n) JOIN pg_attribute a
                       ON a.attrelid = con.confrelid AND a.attnum = k.n
                    WHERE con.confrelid = %(table)s::regclass
                      AND a.attname = ANY(%(columns)s)))
 ORDER BY 2, 1
"""


@dataclass(frozen=True)
class Rebuild:
    """DDL run before and after the UPDATEs of a masking run (no data, no key in it)."""

    before: list[str]
    after: list[str]
    names: list[str]  # what is rebuilt, for the plan and report
    unique: list[tuple[str, str, str]]  # (schema.table, masked key column, index name)


def rebuild_plan(conn: psycopg.Connection[Any], tables: list[tuple[str, str, list[str]]]
                 ) -> Rebuild:
    """The DDL for every index and foreign key on the masked columns of TABLES
    ((schema, table, masked columns), ...)."""
    drop_fks: list[str] = []
    add_fks: list[str] = []
    drop_indexes: list[str] = []
    add_indexes: list[str] = []
    names: list[str] = []
    unique: list[tuple[str, str, str]] = []
    seen_fks: set[tuple[str, str]] = set()
    for schema, table, columns in tables:
        qualified = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))
        args = {"table": qualified.as_string(conn), "columns": columns}
        for name, owner, definition in conn.execute(_FOREIGN_KEYS, args).fetchall():
            if (owner, name) in seen_fks:
                continue
            seen_fks.add((owner, name))
            drop_fks.append(_alter(conn, owner, "DROP CONSTRAINT {}", name))
            add_fks.append(_alter(conn, owner, "ADD CONSTRAINT {} ", name) + definition)
            names.append(f"foreign key {owner}.{name}")
        for (_, index, indexdef, conname, condef, replident, clustered, is_unique,
             masked_keys) in conn.execute(_INDEXES, args).fetchall():
            table_sql = qualified.as_string(conn)
            if is_unique:
                unique.extend((f"{schema}.{table}", col, index) for col in masked_keys)
            if conname is not None:
                drop_indexes.append(_alter(conn, table_sql, "DROP CONSTRAINT {}", conname))
                add_indexes.append(_alter(conn, table_sql, "ADD CONSTRAINT {} ", conname)
                                   + condef)
                names.append(f"constraint {schema}.{table}.{conname}")
            else:
                drop_indexes.append(sql.SQL("DROP INDEX {}.{}").format(
                    sql.Identifier(schema), sql.Identifier(index)).as_string(conn))
                add_indexes.append(indexdef)
                names.append(f"index {schema}.{index}")
            if replident:
                add_indexes.append(_alter(conn, table_sql, "REPLICA IDENTITY USING INDEX {}",
                                          index))
            if clustered:
                add_indexes.append(_alter(conn, table_sql, "CLUSTER ON {}", index))
    # foreign keys go first (they hang on the unique indexes) and come back last
    return Rebuild(before=drop_fks + drop_indexes, after=add_indexes + add_fks, names=names,
                   unique=unique)


def _alter(conn: psycopg.Connection[Any], table_sql: str, action: str, name: str) -> str:
    # table_sql is a regclass text or a composed identifier: already quoted as needed
    return (sql.SQL("ALTER TABLE ") + sql.SQL(table_sql) + sql.SQL(" ")
            + sql.SQL(action).format(sql.Identifier(name))).as_string(conn)
