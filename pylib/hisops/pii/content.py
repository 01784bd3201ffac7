"""Content tests run inside PostgreSQL over a sample of a table's text columns.

Only counts come back: for each column, how many sampled values are non-empty and how many pass
each test. The tests are SQL (the ID check character as a ``pg_temp`` function, the surname
dictionary as a TEMP table filled with COPY), so no value is ever fetched into Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from hisops.pii import idnumber
from hisops.pii.surnames import surnames

# The tests, as SQL over one normalized value ``{v}`` (trimmed text, NULL when empty).
# phone: mainland mobiles (optionally +86, optionally 3-4-4 with hyphens) and landlines with
# an area code; a bare 7-8 digit number is too often something else to count.
_PHONE = (r"regexp_replace({v}, '[ ()]', '', 'g')"
          r" ~ '^(\+?86-?)?1[3-9][0-9](-?[0-9]{{4}}){{2}}$"
          r"|^0[1-9][0-9]{{1,2}}-?[1-9][0-9]{{6,7}}$'")
TESTS: dict[str, str] = {
    "id_number": "pg_temp.hisops_id_valid({v})",
    "phone": _PHONE,
    "name": "pg_temp.hisops_looks_like_name({v})",
    "email": r"{v} ~* '^[a-z0-9._%+-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{{2,}}$'",
    # a province/city/county/district, then a street, lane, village or house number
    "address": "{v} ~ '(省|自治区|市|县|区|旗).*(路|街|道|巷|弄|胡同|村|号|座|室|楼|组)'",
    # free text that carries a mobile number or a valid ID number among other words
    "embedded": (r"({v} ~ '(^|[^0-9])1[3-9][0-9]{{9}}([^0-9]|$)' OR pg_temp.hisops_id_valid("
                 r"substring({v} from '(?:^|[^0-9])([0-9]{{17}}[0-9Xx])(?:[^0-9Xx]|$)')))"),
}

_NAME_FUNCTION = r"""
CREATE OR REPLACE FUNCTION pg_temp.hisops_looks_like_name(text) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $hisops$
SELECT $1 ~ '^[\u4e00-\u9fff]{2,4}$'
   AND EXISTS (SELECT 1 FROM pg_temp.hisops_pii_surnames s
               WHERE s.surname IN (left($1, 1), left($1, 2)))
$hisops$"""


def install_helpers(conn: psycopg.Connection[Any]) -> None:
    """Create the TEMP surname table and the two test functions in CONN's session."""
    with conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS pg_temp.hisops_pii_surnames CASCADE")
        cur.execute("CREATE TEMP TABLE hisops_pii_surnames (surname text PRIMARY KEY)")
        with cur.copy("COPY pg_temp.hisops_pii_surnames (surname) FROM STDIN") as copy:
            for name in sorted(surnames()):
                copy.write_row((name,))
        cur.execute(idnumber.CREATE_SQL)
        cur.execute(_NAME_FUNCTION)


@dataclass(frozen=True)
class ColumnCounts:
    """What the sample says about one column: no values, only counts."""

    sampled_rows: int
    non_empty: int
    passed: dict[str, int]  # test name -> values that passed it

    def share(self, test: str) -> float | None:
        return self.passed[test] / self.non_empty if self.non_empty else None


def sample_clause(estimated_rows: float, sample_rows: int) -> sql.Composable | None:
    """TABLESAMPLE for big tables (reads a few pages, not the table), nothing for small ones.

    SYSTEM picks whole pages, so we ask for about twice the rows wanted; REPEATABLE makes two
    scans of an unchanged table agree.
    """
    if estimated_rows <= 4 * sample_rows:  # also -1: never analyzed
        return None
    percent = max(0.0001, min(100.0, 200.0 * sample_rows / estimated_rows))
    return sql.SQL(" TABLESAMPLE SYSTEM ({}) REPEATABLE (0)").format(sql.Literal(percent))


def count_table(conn: psycopg.Connection[Any], schema: str, table: str,
                columns: Sequence[str], sample: sql.Composable | None, sample_rows: int,
                ) -> dict[str, ColumnCounts]:
    """Run every test on COLUMNS of one table's sample; one statement, counts only."""
    values = sql.SQL(", ").join(
        sql.SQL("NULLIF(btrim(t.{}::text), '') AS {}").format(sql.Identifier(c),
                                                              sql.Identifier(f"v{i}"))
        for i, c in enumerate(columns))
    aggregates: list[sql.Composable] = [sql.SQL("count(*)")]
    for i in range(len(columns)):
        v = f'"v{i}"'
        aggregates.append(sql.SQL("count({})").format(sql.Identifier(f"v{i}")))
        aggregates.extend(sql.SQL("count(*) FILTER (WHERE {})").format(
            sql.SQL(test.format(v=v))) for test in TESTS.values())
    query = sql.SQL("SELECT {aggs} FROM (SELECT {values} FROM {table} AS t{sample} LIMIT {n}) s"
                    ).format(aggs=sql.SQL(", ").join(aggregates), values=values,
                             table=sql.Identifier(schema, table), sample=sample or sql.SQL(""),
                             n=sql.Literal(sample_rows))
    row = conn.execute(query).fetchone()
    if row is None:  # an aggregate always returns one row
        raise RuntimeError("count query returned no row")
    counts = [int(x) for x in row]
    result: dict[str, ColumnCounts] = {}
    per_column = 1 + len(TESTS)
    for i, column in enumerate(columns):
        base = 1 + i * per_column
        result[column] = ColumnCounts(
            sampled_rows=counts[0], non_empty=counts[base],
            passed=dict(zip(TESTS, counts[base + 1:base + per_column], strict=True)))
    return result
