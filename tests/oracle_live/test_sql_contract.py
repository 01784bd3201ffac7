"""Contract: every query in hisops.engines.oracle.sql runs on a real Oracle server and returns
rows its converter accepts. The unit tests prove the converters on recorded rows; only this
suite proves the recorded rows still look like what the views return.

Set HISOPS_ORACLE_DSN (host:port/service), HISOPS_ORACLE_USER and HISOPS_ORACLE_PASSWORD (see
conftest.py); the user needs SELECT on the v$ views (SELECT_CATALOG_ROLE) and AUDIT_VIEWER.
Without the DSN every test that needs the server is skipped, saying why; the rest still runs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hisops.baselines.loader import load_baseline
from hisops.baselines.model import OracleAudit, OracleParameter, OracleProfile
from hisops.engines.oracle import baseline as oracle_baseline
from hisops.engines.oracle import opatch as oracle_opatch
from hisops.engines.oracle import sql as oracle_sql
from hisops.engines.oracle.rman import corruption_findings

CONVERTERS: dict[str, Callable[[Any], object]] = {
    "last_backups": oracle_sql.backup_job_from_row,
    "block_corruption": oracle_sql.block_corruption_from_row,
    "archive_lag": oracle_sql.archive_lag_from_row,
    "dataguard_lag": oracle_sql.dataguard_lag_from_row,
}
BINDS: dict[str, dict[str, int]] = {"last_backups": {"days": 3650, "max_rows": 20}}


def test_every_query_has_a_converter() -> None:
    assert set(CONVERTERS) == set(oracle_sql.ALL_SQL)


@pytest.mark.parametrize("name", sorted(oracle_sql.ALL_SQL))
def test_query_runs_and_rows_convert(conn: Any, name: str) -> None:
    with conn.cursor() as cursor:
        cursor.execute(oracle_sql.ALL_SQL[name], BINDS.get(name, {}))
        rows = cursor.fetchall()
    for row in rows:  # an empty answer is legitimate (no corruption, not a standby)
        CONVERTERS[name](row)


# The patch plan's queries (issue 5): DBA_REGISTRY_SQLPATCH on the primary, V$DATAGUARD_STATS
# (rows only on a standby; an empty answer from a primary is legitimate).
PATCH_QUERIES: dict[str, tuple[str, Callable[[Any], object]]] = {
    "registry_sqlpatch": (oracle_opatch.REGISTRY_SQLPATCH_SQL,
                          oracle_opatch.sqlpatch_entry_from_row),
    "dataguard_stats": (oracle_opatch.DATAGUARD_STATS_SQL, oracle_opatch.dataguard_stat_from_row),
}


@pytest.mark.parametrize("name", sorted(PATCH_QUERIES))
def test_patch_query_runs_and_rows_convert(conn: Any, name: str) -> None:
    sql, convert = PATCH_QUERIES[name]
    with conn.cursor() as cursor:
        cursor.execute(sql)
        rows = cursor.fetchall()
    for row in rows:
        convert(row)


def test_io_functions_return_typed_rows(conn: Any) -> None:
    assert all(isinstance(j, oracle_sql.BackupJob) for j in oracle_sql.last_backups(conn))
    lags = oracle_sql.archive_lag(conn)
    assert all(lag.age_seconds >= 0 for lag in lags)
    corruption_findings((c.file_no, c.block_no, c.blocks, c.corruption_change, c.corruption_type)
                        for c in oracle_sql.block_corruption(conn))
    assert all(lag.name in {"apply lag", "transport lag"}
               for lag in oracle_sql.dataguard_lag(conn))


# The baseline checks (issue 6): the three queries of oracle_baseline_sql run, their rows parse,
# and every item of the shipped Oracle baseline gets a verdict. Whether the server drifts from
# the baseline is its own business; an "error" verdict (a parameter, profile resource or policy
# the snapshot lacks, a value that cannot be compared) means the queries or the baseline are
# wrong for this release, and fails. Connect to a non-CDB or CDB$ROOT; the audit view may need
# AUDIT_VIEWER besides SELECT_CATALOG_ROLE.
BASELINE_PARSERS: dict[str, Callable[[Any], object]] = {
    "parameters": oracle_baseline.parse_parameters,
    "profiles": oracle_baseline.parse_profiles,
    "audit": oracle_baseline.parse_audit,
}
ORACLE_BASELINE = Path(__file__).resolve().parents[2] / "baselines" / "oracle-his-production.yml"


def test_every_baseline_query_has_a_parser() -> None:
    assert set(BASELINE_PARSERS) == set(oracle_baseline.ALL_SQL)


@pytest.mark.parametrize("name", sorted(oracle_baseline.ALL_SQL))
def test_baseline_query_runs_and_rows_parse(conn: Any, name: str) -> None:
    with conn.cursor() as cursor:
        cursor.execute(oracle_baseline.ALL_SQL[name])
        rows = cursor.fetchall()
    BASELINE_PARSERS[name](rows)


def test_baseline_snapshot_holds_what_items_read(conn: Any) -> None:
    snap = oracle_baseline.collect(conn)
    assert {"processes", "open_cursors", "spfile"} <= set(snap["parameters"])
    assert {"FAILED_LOGIN_ATTEMPTS", "PASSWORD_LIFE_TIME", "PASSWORD_VERIFY_FUNCTION"} <= \
        set(snap["profiles"]["DEFAULT"])
    assert all(limit.upper() != "DEFAULT" for limit in snap["profiles"]["DEFAULT"].values())
    assert {"ORA_SECURECONFIG", "ORA_LOGON_FAILURES"} <= set(snap["audit"]["policies"])


def test_shipped_oracle_baseline_evaluates_without_errors(conn: Any) -> None:
    snap = oracle_baseline.collect(conn)
    items = load_baseline(ORACLE_BASELINE).baseline.items
    results = {item.id: oracle_baseline.evaluate(item, snap) for item in items
               if isinstance(item, OracleParameter | OracleProfile | OracleAudit)}
    assert len(results) == len(items)
    assert {r.status for r in results.values()} <= {"ok", "drift", "error"}
    assert {k: r.detail for k, r in results.items() if r.status == "error"} == {}


# The inspection (issue 10): every query of oracle.inspect this database answers runs with its
# default binds and its rows convert; the snapshot builds and is judged without an error of our
# own (findings about the server itself are its business, not a test failure).
def _inspection_rows(connection: Any) -> dict[str, list[Any]]:
    from hisops.engines.oracle import inspect

    with connection.cursor() as cursor:
        cursor.execute(inspect.INSPECTION_SQL["database_role"])
        state = inspect.database_state_from_row(cursor.fetchone())
        out: dict[str, list[Any]] = {}
        for name in ["database_role", *inspect.areas_to_read(state)]:
            cursor.execute(inspect.INSPECTION_SQL[name], inspect.BINDS.get(name, {}))
            out[name] = cursor.fetchall()
    return out


def test_inspection_queries_run_and_rows_convert(conn: Any) -> None:
    from hisops.engines.oracle import inspect

    for name, rows in _inspection_rows(conn).items():
        for row in rows:
            inspect.CONVERTERS[name](row)


def test_inspection_snapshot_is_judged(conn: Any) -> None:
    from hisops.engines.oracle import inspect

    snapshot = inspect.collect(conn)
    findings = inspect.judge_all(snapshot)
    assert all(f.check.startswith("oracle.") for f in findings)


def test_standby_inspection_reads_dataguard_and_gaps(standby_conn: Any) -> None:
    from hisops.engines.oracle import inspect

    rows = _inspection_rows(standby_conn)
    assert {"dataguard", "archive_gaps"} <= set(rows)
    snapshot = inspect.collect(standby_conn)
    assert snapshot.role is inspect.Role.PHYSICAL_STANDBY
    assert len(snapshot.dataguard) >= 1  # a healthy standby computes its lags
