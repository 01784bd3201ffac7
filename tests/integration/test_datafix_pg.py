"""The datafix transaction on a real PostgreSQL server: every row a fix writes must be a row
find selected (updates, deletes, inserts, key changes, triggers, sub-transactions), the
bounds hold before anything is locked, a rehearsal leaves nothing, a resumed step does not
fix twice, and the undo gives back exact values or refuses, changing nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from hisops.datafix import postgres as pg
from hisops.datafix.common import Refused
from hisops.datafix.spec import FixSpec, parse_spec
from hisops.datafix.undo import run_undo

SCHEMA = """
CREATE SCHEMA shop;
CREATE TABLE shop.items (id bigint PRIMARY KEY, v integer NOT NULL, note text,
                         at timestamp NOT NULL DEFAULT '2024-01-02 03:04:05');
CREATE TABLE shop.serial_items (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                                v numeric(12, 2) NOT NULL);
CREATE TABLE shop.audit (at timestamptz NOT NULL DEFAULT now(), what text NOT NULL);
INSERT INTO shop.items (id, v, note) SELECT g, g * 10, 'n' || g FROM generate_series(1, 20) g;
INSERT INTO shop.serial_items (v) VALUES (1.25), (2.50), (3.75);
"""


@pytest.fixture
def conn(pg_url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(pg_url) as setup:
        setup.execute(SCHEMA)
    with psycopg.connect(pg_url) as connection:
        yield connection


def spec(where: str = "t.id = :id", fix: list[str] | None = None, expect: Any = 1,
         **extra: Any) -> FixSpec:
    args = {"database": "x", "find": [{"table": "shop.items", "key": ["id"], "where": where,
                                       "expect_rows": expect}],
            "fix": fix or ["UPDATE shop.items SET v = v + 1 WHERE id = :id"],
            "binds": {"id": 3}, **extra}
    return parse_spec(args)


def rows(conn: psycopg.Connection[Any], table: str = "shop.items") -> list[Any]:
    got = conn.execute(f"SELECT t::text FROM {table} t ORDER BY t.id").fetchall()  # noqa: S608
    conn.rollback()
    return got


def fix(conn: psycopg.Connection[Any], s: FixSpec, run: str = "r1", *, commit: bool = True
        ) -> pg.FixReport:
    return pg.run_fix(conn, s, host="h", run_id=run, step="fix", commit=commit)


def test_fix_commits_with_images_and_a_resumed_step_does_not_fix_twice(conn: Any) -> None:
    s = spec(fix=["UPDATE shop.items SET v = v + 1 WHERE id = :id",
                  "UPDATE shop.items SET v = v + 1 WHERE id = :id"])  # the same row twice
    report = fix(conn, s)
    assert report.committed
    assert report.counts()["updated"] == 1
    assert report.rows[0].changed_columns == ["v"]
    assert conn.execute("SELECT v FROM shop.items WHERE id = 3").fetchone()[0] == 32
    saved = conn.execute("SELECT before->>'v', after->>'v' FROM hisops.datafix_rows "
                         "WHERE run_id = 'r1'").fetchall()
    assert saved == [("30", "32")]
    conn.rollback()
    again = fix(conn, s)  # as a resumed step: its earlier attempt committed
    assert again.already_done is not None
    assert again.counts()["updated"] == 1  # what that attempt did, read from the database
    assert again.rows[0].before["v"] == 30
    assert again.rows[0].after["v"] == 32
    assert again.statements == report.statements
    assert conn.execute("SELECT v FROM shop.items WHERE id = 3").fetchone()[0] == 32


@pytest.mark.parametrize(("statements", "message"), [
    (["UPDATE shop.items SET v = 0 WHERE id IN (:id, 4)"],
     "changed 1 row(s) of shop.items that find did not select"),
    (["DELETE FROM shop.items WHERE id IN (:id, 4)"],
     "deleted 1 row(s) of shop.items that find did not select"),
    (["UPDATE shop.items SET id = 100 WHERE id = :id"], "changed the key (id)"),
    (["WITH x AS (INSERT INTO shop.items (id, v) VALUES (99, 1) RETURNING 1) "
      "UPDATE shop.items SET v = 1 WHERE id = :id"], "inserted 1 row(s) into shop.items"),
    (["UPDATE shop.serial_items SET v = 0"], "changed shop.serial_items, which no find"),
    (["UPDATE shop.items SET v = v / 0 WHERE id = :id"], "division by zero"),
])
def test_writes_outside_the_found_rows_are_refused_and_change_nothing(
        conn: Any, statements: list[str], message: str) -> None:
    before = rows(conn), rows(conn, "shop.serial_items")
    with pytest.raises(Refused, match=re.escape(message)):
        fix(conn, spec(fix=statements))
    assert (rows(conn), rows(conn, "shop.serial_items")) == before
    assert conn.execute("SELECT count(*) FROM hisops.datafix_rows").fetchone()[0] == 0


def test_trigger_writes_need_declaring_and_sub_transactions_are_caught(conn: Any) -> None:
    conn.execute("""
        CREATE FUNCTION shop.log() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN INSERT INTO shop.audit (what) VALUES ('item ' || NEW.id); RETURN NEW; END $$;
        CREATE TRIGGER log AFTER UPDATE ON shop.items FOR EACH ROW EXECUTE FUNCTION shop.log();
    """)
    conn.commit()
    with pytest.raises(Refused, match="changed shop.audit, which no find entry selects"):
        fix(conn, spec())
    report = fix(conn, spec(untracked_tables=["shop.audit"]))
    assert report.committed
    assert conn.execute("SELECT count(*) FROM shop.audit").fetchone()[0] == 1
    conn.rollback()
    # a trigger that writes another row of the table inside an EXCEPTION block (a
    # sub-transaction, with a transaction id of its own) is caught too
    conn.execute("""
        DROP TRIGGER log ON shop.items;
        CREATE FUNCTION shop.sneak() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.id = 5 THEN
            BEGIN UPDATE shop.items SET note = 'sneaked' WHERE id = 6;
            EXCEPTION WHEN others THEN NULL; END;
          END IF;
          RETURN NEW;
        END $$;
        CREATE TRIGGER sneak AFTER UPDATE ON shop.items FOR EACH ROW
          WHEN (pg_trigger_depth() = 0) EXECUTE FUNCTION shop.sneak();
    """)
    conn.commit()
    before = rows(conn)
    with pytest.raises(Refused, match="changed 1 row\\(s\\) of shop.items that find did not"):
        fix(conn, parse_spec({"find": [{"table": "shop.items", "key": ["id"],
                                        "where": "t.id = 5", "expect_rows": 1}],
                              "fix": ["UPDATE shop.items SET v = 0 WHERE id = 5"]}), "r2")
    assert rows(conn) == before


def test_bounds_are_checked_before_locking_and_rehearsal_leaves_nothing(conn: Any) -> None:
    with pytest.raises(Refused, match="expected 0..5 row\\(s\\), found more than 5"):
        fix(conn, spec(where="t.id > :id", expect="0..5"))
    before = rows(conn)
    report = fix(conn, spec(where="t.id > :id", expect="0..20",
                            fix=["UPDATE shop.items SET note = NULL WHERE id > :id"]),
                 commit=False)
    assert report.found == {"shop.items": 17}
    assert report.counts()["updated"] == 17
    assert rows(conn) == before
    assert conn.execute("SELECT count(*) FROM hisops.datafix_runs").fetchone()[0] == 0


def test_planned_rows_must_still_be_the_rows_found(conn: Any) -> None:
    statements = ["UPDATE shop.items SET v = 0 WHERE id > :id"]
    s = spec(where="t.id > :id", expect="0..20", planned_rows={"h": [16]}, fix=statements)
    with pytest.raises(Refused, match="rows changed since the plan was made"):
        fix(conn, s)
    assert fix(conn, spec(where="t.id > :id", expect="0..20", planned_rows={"h": [17]},
                          fix=statements)).committed


def test_undo_gives_back_updates_and_deletes_exactly(conn: Any) -> None:
    before = rows(conn), rows(conn, "shop.serial_items")
    fix(conn, spec(where="t.id IN (2, 3)", expect=2,
                   fix=["UPDATE shop.items SET note = NULL, v = -1 WHERE id = 2",
                        "DELETE FROM shop.items WHERE id = 3"]))
    fix(conn, parse_spec({"find": [{"table": "shop.serial_items", "key": ["id"],
                                    "where": "t.id = 2", "expect_rows": 1}],
                          "fix": ["DELETE FROM shop.serial_items WHERE id = 2"]}), "r1x")
    assert rows(conn) != before[0]
    undone = run_undo(conn, fix_run="r1", run_id="u1", step="undo", commit=True)
    assert undone.undone_steps == ["fix"]
    assert rows(conn) == before[0]
    # an identity column (GENERATED ALWAYS) gets its deleted row back with its own id
    run_undo(conn, fix_run="r1x", run_id="u2", step="undo", commit=True)
    assert rows(conn, "shop.serial_items") == before[1]
    with pytest.raises(Refused, match="already undone"):
        run_undo(conn, fix_run="r1", run_id="u3", step="undo", commit=True)
    with pytest.raises(Refused, match="no committed datafix of run nope"):
        run_undo(conn, fix_run="nope", run_id="u4", step="undo", commit=True)


def test_undo_refuses_when_a_row_changed_since_and_changes_nothing(conn: Any) -> None:
    fix(conn, spec(where="t.id IN (2, 3)", expect=2,
                   fix=["UPDATE shop.items SET v = -1 WHERE id = 2",
                        "DELETE FROM shop.items WHERE id = 3"]))
    conn.execute("UPDATE shop.items SET note = 'later' WHERE id = 2")
    conn.execute("INSERT INTO shop.items (id, v) VALUES (3, 7)")
    conn.commit()
    now = rows(conn)
    with pytest.raises(Refused) as refused:
        run_undo(conn, fix_run="r1", run_id="u1", step="undo", commit=True)
    assert "shop.items id=2: changed since the fix (note)" in str(refused.value)
    assert "shop.items id=3: deleted by the fix, exists again" in str(refused.value)
    assert rows(conn) == now
    assert conn.execute("SELECT undone_by FROM hisops.datafix_runs").fetchone()[0] is None


def test_a_locked_row_fails_within_the_lock_timeout(conn: Any, pg_url: str) -> None:
    import time

    with psycopg.connect(pg_url) as other:
        other.execute("SELECT 1 FROM shop.items WHERE id = 3 FOR UPDATE")
        started = time.monotonic()
        with pytest.raises(Refused, match="locked by another session \\(lock_timeout 1s\\)"):
            fix(conn, spec(lock_timeout_s=1))
        assert time.monotonic() - started < 10
        other.rollback()


def test_a_test_copy_loses_the_correction_records(conn: Any) -> None:
    """Masking a copy drops the before-images (original values outside masked columns)."""
    assert pg.remove_records(conn) == 0  # never corrected: nothing to drop
    fix(conn, spec(where="t.id IN (2, 3)", expect=2,
                   fix=["UPDATE shop.items SET note = 'x' WHERE id IN (2, 3)"]))
    assert pg.remove_records(conn) == 2
    conn.commit()
    assert conn.execute("SELECT to_regclass('hisops.datafix_rows'), "
                        "to_regclass('hisops.datafix_runs')").fetchone() == (None, None)


def test_a_slow_statement_and_an_interruption_change_nothing(
        conn: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from hisops.faults import FailpointError

    before = rows(conn)
    slow = spec(fix=["UPDATE shop.items SET v = v + (SELECT 0 FROM pg_sleep(5)) WHERE id = :id"],
                statement_timeout_s=1)
    with pytest.raises(Refused, match=re.escape("longer than statement_timeout 1s")):
        fix(conn, slow)
    assert rows(conn) == before
    # an exception that is no database error (Ctrl-C, a bug) after the fix ran, before the
    # commit: rolled back, re-raised
    monkeypatch.setenv("HISOPS_FAILPOINTS", "datafix:fix:before-commit=raise")
    with pytest.raises(FailpointError):
        fix(conn, spec())
    monkeypatch.delenv("HISOPS_FAILPOINTS")
    assert rows(conn) == before
    assert conn.execute("SELECT count(*) FROM hisops.datafix_rows").fetchone()[0] == 0


def test_a_rehearsal_creates_nothing_in_the_database(conn: Any) -> None:
    """plan and --check rehearse the fix and the undo: no hisops schema appears."""
    assert fix(conn, spec(), commit=False).counts()["updated"] == 1
    with pytest.raises(Refused, match="it has no hisops.datafix_runs"):
        run_undo(conn, fix_run="r1", run_id="u1", step="undo", commit=False)
    assert conn.execute("SELECT to_regnamespace('hisops')").fetchone() == (None,)


def test_undo_is_exact_for_awkward_types(conn: Any) -> None:
    """Large numerics, floats, arrays, json, intervals, bytes and time zones come back as
    they were (row images travel as JSON; a float would round the numeric). Not covered: a
    jsonb column holding the JSON value null comes back as SQL NULL (docs/datafix.md)."""
    conn.execute("""
        CREATE TABLE shop.ledger (id bigint PRIMARY KEY, amount numeric(30, 10),
            ratio double precision, tags text[], doc jsonb, span interval, raw bytea,
            at timestamptz, note text);
        INSERT INTO shop.ledger VALUES
          (1, 12345678901234567890.1234567891, 0.1::float8 + 0.2::float8, ARRAY['a', 'b"c', NULL],
           '{"x": 1.50, "y": [1, 2]}', '1 day 02:03:04.5', '\\x00ff10',
           '2024-02-29 23:59:59.123456+08', 'é — 中'),
          (2, -0.0000000001, 1e300, '{}', '[]', '-3 months', '', 'infinity', NULL)""")
    conn.commit()
    before = rows(conn, "shop.ledger")
    ledger = parse_spec({"find": [{"table": "shop.ledger", "key": ["id"],
                                   "where": "t.id IN (1, 2)", "expect_rows": 2}],
                         "fix": ["UPDATE shop.ledger SET amount = amount + 1, ratio = 0, "
                                 "tags = NULL, doc = '{}', span = '0', raw = NULL, "
                                 "at = now(), note = 'x'"]})
    report = fix(conn, ledger)
    assert report.counts()["updated"] == 2
    run_undo(conn, fix_run="r1", run_id="u1", step="undo", commit=True)
    assert rows(conn, "shop.ledger") == before
    exact = conn.execute("SELECT amount::text FROM shop.ledger WHERE id = 1").fetchone()
    assert exact == ("12345678901234567890.1234567891",)


def test_a_verify_query_that_writes_is_caught(conn: Any) -> None:
    before = rows(conn)
    sneaky = spec(verify=[{"name": "sneaky", "sql": "WITH d AS (DELETE FROM shop.items "
                           "WHERE id = 9 RETURNING 1) SELECT count(*) FROM d",
                           "expect_value": 1}])
    with pytest.raises(Refused, match="deleted 1 row"):
        fix(conn, sneaky)
    assert rows(conn) == before
