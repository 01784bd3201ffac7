"""Indexes and foreign keys of masked tables: dropped before the UPDATEs, rebuilt after.

Why: PostgreSQL checks a (non-deferrable) unique index row by row during an UPDATE, so a
permutation of values makes a row's new value meet another row's old value before that row is
updated: "duplicate key" although the end state is unique. Rebuilding the index after the
UPDATE checks uniqueness once, on the final values, and is faster (one sorted build instead of
a random insert per row). Foreign keys on masked columns are dropped and re-added at the end
for the same reason; re-adding one validates every row, i.e. proves the join survived.

The other indexes of a masked table are rebuilt too, for speed: masking rewrites every row,
and an UPDATE that rewrites a row also inserts a new entry into each of the table's indexes
(the new row version cannot be HOT: a full page has no room for it). Measured on 2 cores
(PostgreSQL 15, 300,000 patients, 900,000 visits): the visits UPDATE took 8.1 s with its
primary key and 4.6 s without, the key's rebuild 0.75 s; the patients UPDATE 2.5 s with its
key and 0.8 s without, rebuild 0.26 s. A unique index that foreign keys hang on can only be
dropped with them, and re-adding a foreign key validates every referencing row (0.5 s for
900,000 visits, about 0.55 us a row against 3-6 us a masked row saved), so such an index is
rebuilt only while its referencing tables hold at most REFERENCING_RATIO times its table's
rows (estimates from pg_class.reltuples); otherwise it is kept and updated in place. So is the
replica identity of a table in a publication of updates (a restored copy of a primary keeps the
primary's publications): PostgreSQL refuses to update such a table without it.

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

# a unique index with foreign keys on it is rebuilt while the referencing tables hold at most
# this many times its table's rows (see above: re-validating costs ~0.55 us a referencing row,
# keeping the index ~3-6 us a masked row)
REFERENCING_RATIO = 4.0

# every index of a table, with the constraint behind each, if any; whether it uses one of the
# given columns, as a key column (indkey) or in an expression or WHERE clause (recorded in
# pg_depend for plain indexes); and the estimated rows of the tables whose foreign keys hang
# on it (NULL: none)
_INDEXES = """
SELECT i.indexrelid::regclass::text, ic.relname, pg_get_indexdef(i.indexrelid),
       con.conname, pg_get_constraintdef(con.oid), i.indisreplident, i.indisclustered,
       i.indisunique,
       ARRAY(SELECT a.attname FROM pg_attribute a
              WHERE a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey::int2[])
                AND a.attname = ANY(%(columns)s)) AS masked_keys,
       EXISTS (SELECT FROM pg_attribute a
                WHERE a.attrelid = i.indrelid AND a.attname = ANY(%(columns)s)
                  AND (a.attnum = ANY(i.indkey::int2[])
                       OR EXISTS (SELECT FROM pg_depend d
                                   WHERE d.classid = 'pg_class'::regclass
                                     AND d.objid = i.indexrelid
                                     AND d.refclassid = 'pg_class'::regclass
                                     AND d.refobjid = i.indrelid
                                     AND d.refobjsubid = a.attnum))) AS on_masked,
       (SELECT sum(greatest(r.reltuples, 0)) FROM pg_constraint fk
          JOIN pg_class r ON r.oid = fk.conrelid
         WHERE fk.contype = 'f' AND fk.conindid = i.indexrelid) AS referencing_rows,
       greatest(t.reltuples, 0) AS table_rows,
       (i.indisreplident OR (t.relreplident = 'd' AND i.indisprimary))
         AND EXISTS (SELECT FROM pg_publication_tables pt
                       JOIN pg_publication p ON p.pubname = pt.pubname
                      WHERE pt.schemaname = tn.nspname AND pt.tablename = t.relname
                        AND (p.pubupdate OR p.pubdelete)) AS published_identity
  FROM pg_index i
  JOIN pg_class ic ON ic.oid = i.indexrelid
  JOIN pg_class t ON t.oid = i.indrelid
  JOIN pg_namespace tn ON tn.oid = t.relnamespace
  LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid
                             AND con.contype IN ('p', 'u', 'x')
 WHERE i.indrelid = %(table)s::regclass
 ORDER BY 2
"""

# foreign keys that hang on one of the given indexes (they must go while it is rebuilt)
_FOREIGN_KEYS_ON_INDEXES = """
SELECT con.conname, con.conrelid::regclass::text, pg_get_constraintdef(con.oid)
  FROM pg_constraint con
 WHERE con.contype = 'f' AND con.conindid = ANY(%(indexes)s::text[]::regclass[])
 ORDER BY 2, 1
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
    foreign_keys: frozenset[str]  # the foreign keys dropped and re-added: "owner.name"


def rebuild_plan(conn: psycopg.Connection[Any], tables: list[tuple[str, str, list[str]]]
                 ) -> Rebuild:
    """The DDL for the indexes and foreign keys of TABLES ((schema, table, masked columns),
    ...): every one on a masked column, and the others that are cheaper to rebuild."""
    fks: dict[tuple[str, str], tuple[str, str]] = {}  # (owner, name) -> (drop, add)
    drop_indexes: list[str] = []
    add_indexes: list[str] = []
    names: list[str] = []
    unique: list[tuple[str, str, str]] = []

    def foreign_keys(query: str, args: dict[str, Any]) -> None:
        for name, owner, definition in conn.execute(query, args).fetchall():
            if (owner, name) not in fks:
                fks[owner, name] = (_alter(conn, owner, "DROP CONSTRAINT {}", name),
                                    _alter(conn, owner, "ADD CONSTRAINT {} ", name)
                                    + definition)
                names.append(f"foreign key {owner}.{name}")

    for schema, table, columns in tables:
        qualified = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))
        table_sql = qualified.as_string(conn)
        args = {"table": table_sql, "columns": columns}
        foreign_keys(_FOREIGN_KEYS, args)
        dropped = []
        for (regclass, index, indexdef, conname, condef, replident, clustered, is_unique,
             masked_keys, on_masked, referencing_rows, table_rows, published_identity
             ) in conn.execute(_INDEXES, args).fetchall():
            if is_unique:
                unique.extend((f"{schema}.{table}", col, index) for col in masked_keys)
            if not on_masked and (published_identity or (
                    referencing_rows is not None
                    and referencing_rows > REFERENCING_RATIO * table_rows)):
                # kept and updated in place: a published table cannot be updated without its
                # replica identity, and re-validating many foreign keys would cost more
                continue
            dropped.append(regclass)
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
        if dropped:
            foreign_keys(_FOREIGN_KEYS_ON_INDEXES, {"indexes": dropped})
    # foreign keys go first (they hang on the unique indexes) and come back last
    return Rebuild(before=[d for d, _ in fks.values()] + drop_indexes,
                   after=add_indexes + [a for _, a in fks.values()], names=names,
                   unique=unique, foreign_keys=frozenset(f"{o}.{n}" for o, n in fks))


_FOREIGN_KEYS_FROM = """
SELECT con.conname, con.conrelid::regclass::text, pg_get_constraintdef(con.oid)
  FROM pg_constraint con
 WHERE con.contype = 'f' AND con.conrelid = %s::regclass
 ORDER BY 1
"""


def foreign_keys_from(conn: psycopg.Connection[Any], schema: str, table: str,
                      skip: frozenset[str]) -> tuple[list[str], list[str], list[str]]:
    """(drop, re-add, names) for the foreign keys from a table written anew (not updated) that
    are not in SKIP ("owner.name", those rebuild_plan drops already)."""
    qualified = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))
    before, after, names = [], [], []
    for name, owner, definition in conn.execute(_FOREIGN_KEYS_FROM,
                                                (qualified.as_string(conn),)).fetchall():
        if f"{owner}.{name}" in skip:
            continue
        before.append(_alter(conn, owner, "DROP CONSTRAINT {}", name))
        after.append(_alter(conn, owner, "ADD CONSTRAINT {} ", name) + definition)
        names.append(f"foreign key {owner}.{name}")
    return before, after, names


def _alter(conn: psycopg.Connection[Any], table_sql: str, action: str, name: str) -> str:
    # table_sql is a regclass text or a composed identifier: already quoted as needed
    return (sql.SQL("ALTER TABLE ") + sql.SQL(table_sql) + sql.SQL(" ")
            + sql.SQL(action).format(sql.Identifier(name))).as_string(conn)
