"""The PII scan: which columns look like personal data, by name and by sampled content.

A column is judged by two independent witnesses. Its name is matched against
:data:`hisops.pii.names.PATTERNS`; its content (text columns only) is tested inside the database
over a sample (:mod:`hisops.pii.content`). The finding's confidence says how far they agree.
Values never leave the database: the report holds names of objects and counts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import psycopg

from hisops.errors import HisopsError
from hisops.pii import content
from hisops.pii.names import Kind, NameMatch, match_column_name

log = logging.getLogger(__name__)

Confidence = Literal["high", "medium", "low"]

# Share of a column's sampled, non-empty values that must pass a test before the content
# alone names the column's kind. Half: a category column (departments, wards) in which a few
# values happen to look like names never gets there; a real name column is near 100%.
CONTENT_THRESHOLD = 0.5
HIGH_SHARE = 0.8
EMBEDDED_THRESHOLD = 0.01  # notes that mention a phone or ID number in 1% of rows: worth a look
CONTRADICTS = 0.1  # below this share, the content speaks against the name
MIN_VALUES = 20  # fewer sampled values than this cannot make a finding "high"
CONTENT_KINDS: tuple[Kind, ...] = ("id_number", "phone", "email", "name", "address")
# PostgreSQL type categories (pg_type.typcategory) a kind can be stored in
_STORABLE: dict[Kind, frozenset[str]] = {
    "name": frozenset("S"), "address": frozenset("S"), "email": frozenset("S"),
    "free_text": frozenset("S"), "id_number": frozenset("SN"), "phone": frozenset("SN"),
    "birth_date": frozenset("SND"),
}


class ScanError(HisopsError):
    """The scan could not run (connection refused, no such database, ...)."""


@dataclass(frozen=True)
class Evidence:
    name_pattern: str | None  # the column-name pattern that matched
    name_strength: str | None  # strong | weak
    sampled_rows: int | None  # rows in the table's sample (None: content not tested)
    non_empty: int | None  # sampled values that were not NULL or blank
    shares: dict[str, float]  # content test -> share of non-empty sampled values passing


@dataclass(frozen=True)
class Finding:
    schema: str
    table: str
    column: str
    data_type: str
    kind: Kind
    confidence: Confidence
    evidence: Evidence

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.table}.{self.column}"


@dataclass(frozen=True)
class ScanReport:
    database: str
    schemas: tuple[str, ...] | None  # None: every non-system schema
    sample_rows: int
    tables: int
    columns: int
    findings: tuple[Finding, ...]
    skipped: tuple[str, ...] = ()  # tables that could not be read, with the reason
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; holds object names and counts, never a value."""
        return {"database": self.database,
                "schemas": list(self.schemas) if self.schemas is not None else None,
                "sample_rows": self.sample_rows, "tables": self.tables, "columns": self.columns,
                "seconds": round(self.seconds, 3), "skipped": list(self.skipped),
                "findings": [asdict(f) for f in self.findings]}


@dataclass
class _Column:
    name: str
    data_type: str
    category: str  # pg_type.typcategory


@dataclass
class _Table:
    schema: str
    name: str
    estimated_rows: float
    columns: list[_Column] = field(default_factory=list)


_CATALOG = """
SELECT n.nspname, c.relname, c.reltuples, a.attname, format_type(a.atttypid, a.atttypmod),
       t.typcategory
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_type t ON t.oid = a.atttypid
WHERE c.relkind IN ('r', 'p', 'm') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_(toast|temp_)'
  AND (%(schemas)s::text[] IS NULL OR n.nspname = ANY(%(schemas)s::text[]))
ORDER BY n.nspname, c.relname, a.attnum
"""


def _tables(conn: psycopg.Connection[Any], schemas: Sequence[str] | None) -> list[_Table]:
    tables: dict[tuple[str, str], _Table] = {}
    rows = conn.execute(_CATALOG, {"schemas": list(schemas) if schemas is not None else None})
    for schema, table, reltuples, column, data_type, category in rows:
        entry = tables.setdefault((schema, table), _Table(schema, table, float(reltuples)))
        entry.columns.append(_Column(column, data_type, str(category)))
    return list(tables.values())


def scan(conn: psycopg.Connection[Any], *, schemas: Sequence[str] | None = None,
         sample_rows: int = 2000) -> ScanReport:
    """Find columns that look like personal data in CONN's database.

    Runs in one transaction that is rolled back at the end, so the TEMP helpers it creates
    disappear and nothing is left behind; a table that cannot be read (permissions) is skipped
    and named in the report. Needs a writable server: a hot standby cannot create TEMP objects.
    """
    if sample_rows < 1:
        raise ValueError("sample_rows must be positive")
    started = time.monotonic()
    findings: list[Finding] = []
    skipped: list[str] = []
    with conn.transaction(force_rollback=True):
        row = conn.execute("SELECT current_database()").fetchone()
        database = str(row[0]) if row else ""
        content.install_helpers(conn)
        tables = _tables(conn, schemas)
        for table in tables:
            try:
                with conn.transaction():  # a savepoint: one unreadable table spoils nothing
                    findings.extend(_scan_table(conn, table, sample_rows))
            except psycopg.errors.InsufficientPrivilege:
                skipped.append(f"{table.schema}.{table.name}: permission denied")
    log.info("pii scan of %s: %d findings in %d tables", database, len(findings), len(tables))
    return ScanReport(database=database, schemas=tuple(schemas) if schemas is not None else None,
                      sample_rows=sample_rows, tables=len(tables),
                      columns=sum(len(t.columns) for t in tables), findings=tuple(findings),
                      skipped=tuple(skipped), seconds=time.monotonic() - started)


def _scan_table(conn: psycopg.Connection[Any], table: _Table, sample_rows: int) -> list[Finding]:
    text_columns = [c.name for c in table.columns if c.category == "S"]
    counts: dict[str, content.ColumnCounts] = {}
    if text_columns:
        clause = content.sample_clause(table.estimated_rows, sample_rows)
        counts = content.count_table(conn, table.schema, table.name, text_columns, clause,
                                     sample_rows)
        if counts[text_columns[0]].sampled_rows == 0 and clause is not None:
            # stale statistics can make the page sample miss every row: read the first rows
            counts = content.count_table(conn, table.schema, table.name, text_columns,
                                         None, sample_rows)
    found = []
    for column in table.columns:
        finding = judge(column.name, column.category, counts.get(column.name))
        if finding is not None:
            kind, confidence, evidence = finding
            found.append(Finding(table.schema, table.name, column.name, column.data_type, kind,
                                 confidence, evidence))
    return found


def judge(column: str, category: str, counts: content.ColumnCounts | None
          ) -> tuple[Kind, Confidence, Evidence] | None:
    """Weigh the name and the content of one column; None when neither points at PII."""
    by_name = match_column_name(column)
    if by_name is not None and category not in _STORABLE[by_name.kind]:
        by_name = None  # "has_phone boolean" is not a phone number
    shares = {test: round(share, 4) for test in content.TESTS
              if counts is not None and (share := counts.share(test)) is not None}
    evidence = Evidence(
        name_pattern=by_name.pattern if by_name else None,
        name_strength=by_name.strength if by_name else None,
        sampled_rows=counts.sampled_rows if counts else None,
        non_empty=counts.non_empty if counts else None, shares=shares)
    enough = counts is not None and counts.non_empty >= MIN_VALUES
    best = max(CONTENT_KINDS, key=lambda k: shares.get(k, 0.0))
    if shares.get(best, 0.0) >= CONTENT_THRESHOLD:
        agrees = by_name is not None and by_name.kind == best
        high = enough and (agrees or shares[best] >= HIGH_SHARE)
        return best, "high" if high else "medium", evidence
    embedded = shares.get("embedded", 0.0) >= EMBEDDED_THRESHOLD
    if by_name is not None:
        confidence = _name_only(by_name, shares, enough, embedded)
        return (by_name.kind, confidence, evidence) if confidence else None
    if embedded:
        return "free_text", "medium" if shares["embedded"] >= 0.05 else "low", evidence
    return None


def _name_only(by_name: NameMatch, shares: dict[str, float], enough: bool, embedded: bool
               ) -> Confidence | None:
    """Confidence from the name when the content did not name a kind.

    A content test that speaks against the name lowers a strong name to "low" (a phone column
    of extension numbers is still worth a look) and drops a weak one: ``name`` over drug names
    or ``xm`` over 项目 (items) is not personal data.
    """
    if by_name.kind == "free_text":
        return "medium" if embedded else "low"
    share = shares.get(by_name.kind)
    if enough and share is not None and share < CONTRADICTS:
        return "low" if by_name.strength == "strong" else None
    return "medium" if by_name.strength == "strong" else "low"


def scan_database(conninfo: str, *, schemas: Sequence[str] | None = None,
                  sample_rows: int = 2000, connect_timeout: int = 10) -> ScanReport:
    """Connect with CONNINFO (a libpq URL or key=value string), scan, disconnect."""
    try:
        conn = psycopg.connect(conninfo, autocommit=True, connect_timeout=connect_timeout,
                               application_name="hisops-pii-scan")
    except psycopg.Error as exc:
        raise ScanError(f"cannot connect for the PII scan: {exc}".strip()) from None
    with conn:
        try:
            return scan(conn, schemas=schemas, sample_rows=sample_rows)
        except psycopg.Error as exc:
            raise ScanError(f"PII scan failed: {exc}".strip()) from None
