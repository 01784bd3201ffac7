"""The drill's database-side checks against a real PostgreSQL 15 on this machine: the
marker SQL the backup role installs, and pg_amcheck on a cluster corrupted on disk."""

from __future__ import annotations

import json
from pathlib import Path

from hisops.engines import postgres
from hisops.engines.base import ToolOutput
from tests.fixtures.pg import PgServer, _run, _start, _stop, throwaway_postgres

MARKER_SQL = (Path(__file__).resolve().parents[2] / "roles" / "pg_backup" / "files"
              / "hisops_marker.sql").read_text()
FINGERPRINTS = ("SELECT coalesce(jsonb_object_agg(table_name, jsonb_build_object('rows', "
                "row_count, 'fingerprint', fingerprint)), '{}') FROM hisops.table_fingerprints()")


def _fingerprints(server: PgServer, db: str) -> str:
    with server.connect(db) as conn:
        row = conn.execute(FINGERPRINTS).fetchone()
    assert row is not None
    return json.dumps(row[0])


def test_fingerprints_see_any_change_but_not_row_order(pg_server: PgServer) -> None:
    db = pg_server.create_database()
    try:
        with pg_server.connect(db) as conn:
            conn.execute(MARKER_SQL)
            conn.execute(MARKER_SQL)  # installing twice is harmless (every backup does it)
            conn.execute("CREATE SCHEMA his; CREATE TABLE his.visits (id int PRIMARY KEY, "
                         "at timestamptz, dept text, fee numeric(8,2))")
            conn.execute("INSERT INTO his.visits SELECT g, '2026-11-26'::timestamptz + g * "
                         "interval '1 min', '内科', g * 1.5 FROM generate_series(1, 500) g")
            conn.execute("INSERT INTO hisops.backup_marker (marker, tables) SELECT 'm1', "
                         "jsonb_object_agg(table_name, jsonb_build_object('rows', row_count, "
                         "'fingerprint', fingerprint)) FROM hisops.table_fingerprints()")
            row = conn.execute("SELECT tables FROM hisops.backup_marker").fetchone()
            assert row is not None
            recorded = json.dumps(row[0])
            assert json.loads(recorded)["his.visits"]["rows"] == 500
            # the marker's own schema is left out, so writing the marker changes nothing
            assert postgres.content_findings(recorded, _fingerprints(pg_server, db), marker="m1",
                                             quiet=True, tolerance=0.0) == []
            conn.execute("CLUSTER his.visits USING visits_pkey")  # rows move, content stays
            conn.execute("SET timezone = 'Asia/Shanghai'")  # the session's settings do not
            assert postgres.content_findings(recorded, _fingerprints(pg_server, db), marker="m1",
                                             quiet=True, tolerance=0.0) == []
            conn.execute("UPDATE his.visits SET fee = fee + 0.01 WHERE id = 250")
        (changed,) = postgres.content_findings(recorded, _fingerprints(pg_server, db),
                                               marker="m1", quiet=True, tolerance=0.0)
        assert changed.subject == "his.visits"
    finally:
        pg_server.drop_database(db)


def _amcheck(server: PgServer) -> ToolOutput:
    proc = _run(server, str(server.bin_dir / "pg_amcheck"), "-h", server.host, "-p",
                str(server.port), "-U", server.superuser, "--all", "--install-missing")
    return ToolOutput(proc.stdout, proc.stderr, proc.returncode)


def test_pg_amcheck_findings_name_each_corrupt_relation() -> None:
    with throwaway_postgres() as server:
        with server.connect() as conn:
            conn.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
            conn.execute("INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 2000) g")
            conn.execute("CHECKPOINT")
        assert postgres.PostgresEngine().integrity_findings(_amcheck(server)) == []
        with server.connect() as conn:
            heap = conn.execute("SELECT pg_relation_filepath('t')").fetchone()
            index = conn.execute("SELECT pg_relation_filepath('t_pkey')").fetchone()
        assert heap is not None
        assert index is not None
        _stop(server)
        with (server.data_dir / heap[0]).open("r+b") as f:  # a tuple's xmin on page 0
            f.seek(8000)
            f.write(b"A" * 12)
        with (server.data_dir / index[0]).open("r+b") as f:  # a line pointer on page 1
            f.seek(8192 + 30)
            f.write(b"\0" * 16)
        server = _start(server)  # on a new port
        out = _amcheck(server)
        assert out.rc == 2
        findings = postgres.PostgresEngine().integrity_findings(out)
        subjects = " | ".join(f.subject for f in findings)
        assert 'btree index "postgres.public.t_pkey"' in subjects
        assert 'heap table "postgres.public.t"' in subjects
