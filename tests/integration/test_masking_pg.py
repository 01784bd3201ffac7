"""Masking against a real PostgreSQL (the throwaway pg_server): the SQL matches the Python
reference row by row, is deterministic, keeps joins, unique indexes and foreign keys valid, and
the key appears in no server log, plan or report."""

from __future__ import annotations

import dataclasses
import json
import re
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from hisops.lab import dataset
from hisops.lab.dataset import id_check_digit, id_number_valid
from hisops.masking import (
    MaskingFailed,
    MaskingKeyError,
    PolicyError,
    load_policy,
    mask,
    plan,
    planner,
    policy_from_dict,
)
from hisops.masking import reference as ref
from tests.fixtures.pg import PgServer

ROOT = Path(__file__).resolve().parents[2]
HIS = ROOT / "masking" / "his.yml"
KEY = "integration-test-masking-key-0001"
OTHER_KEY = "integration-test-masking-key-0002"
SCALE = 0.02  # 2,000 patients, about 28,000 rows in all

EXTRA_SQL = """
-- the same person's ID number in another table: a join by value that must survive
CREATE TABLE his.insurance_cards (card_no text PRIMARY KEY, id_number char(18) NOT NULL);
INSERT INTO his.insurance_cards SELECT 'C' || patient_id, id_number FROM his.patients;
-- every sequence number of one region and birth day: the worst case for a unique index
CREATE TABLE his.id_class (id_number char(18) UNIQUE);
CREATE TABLE his.notes (note_id int PRIMARY KEY, patient_id bigint, body text, memo text);
INSERT INTO his.notes VALUES
  (1, 1, '患者身份证11010519491231002X，电话13812345678，住院号ZY-20240001。', 'x'),
  (2, 1, '无敏感信息', NULL),
  (3, 1, NULL, 'y');
"""


def _class_ids() -> list[str]:
    first = [f"110105{date(1949, 12, 31):%Y%m%d}{seq:03d}" for seq in range(1000)]
    return [f + id_check_digit(f) for f in first]


@pytest.fixture(scope="module")
def template(pg_server: PgServer) -> Iterator[str]:
    """A database with the HIS dataset, used as the template of each test's copy."""
    name = pg_server.create_database()
    with psycopg.connect(pg_server.url(name)) as conn:
        dataset.load(conn, SCALE)
        conn.execute(EXTRA_SQL)
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO his.id_class VALUES (%s)", [(v,) for v in _class_ids()])
        conn.commit()
    yield name
    pg_server.drop_database(name)


def _copy(server: PgServer, template: str) -> str:
    name = f"t_{uuid.uuid4().hex[:16]}"
    with server.connect() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(template)))
    return name


@pytest.fixture
def db(pg_server: PgServer, template: str) -> Iterator[psycopg.Connection[Any]]:
    name = _copy(pg_server, template)
    try:
        with psycopg.connect(pg_server.url(name)) as conn:
            yield conn
    finally:
        pg_server.drop_database(name)


def _rows(conn: psycopg.Connection[Any], query: str) -> list[tuple[Any, ...]]:
    rows = conn.execute(query).fetchall()  # noqa: S608 - test queries
    conn.rollback()
    return rows


PATIENTS = ("SELECT patient_id, name, sex, id_number, phone, address, registered_at "
            "FROM his.patients ORDER BY patient_id")


def test_the_sql_matches_the_python_reference_row_by_row(db: psycopg.Connection[Any]) -> None:
    policy = load_policy(HIS)
    before = _rows(db, PATIENTS)
    visits_before = _rows(db, "SELECT visit_id, patient_id, visit_time FROM "
                              "his.outpatient_visits ORDER BY visit_id")
    report = mask(db, policy, KEY)
    after = _rows(db, PATIENTS)
    key, dicts, rounds = ref.derive_key(KEY), policy.dictionaries, policy.settings.rounds
    for b, a in zip(before, after, strict=True):
        shift = ref.date_offset(key, str(b[0]), 30)
        expected = (b[0], ref.name(key, b[1], dicts), b[2],
                    ref.id_number(key, b[3], dicts, birth_shift=False, region_shift=True,
                                  rounds=rounds),
                    ref.phone(key, b[4], dicts, rounds=rounds), ref.address(key, b[5], dicts),
                    b[6] + timedelta(days=shift))
        assert a == expected
    visits_after = _rows(db, "SELECT visit_id, patient_id, visit_time FROM "
                             "his.outpatient_visits ORDER BY visit_id")
    for (vid, pid, when), (_, _, moved) in zip(visits_before, visits_after, strict=True):
        assert (moved - when).days == ref.date_offset(key, str(pid), 30), vid
    assert report.tables[0].rows == len(before)
    assert report.rows == sum(t.rows for t in report.tables) > 20_000


@pytest.mark.parametrize("written_anew", [False, True])
@pytest.mark.parametrize("mapped", [True, False])
def test_a_column_of_few_values_is_masked_once_per_value_with_the_same_result(
        db: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch, mapped: bool,
        written_anew: bool) -> None:
    """The visits' doctors (NOT NULL, a few hundred names over 5,970 rows): masked once per
    name and joined back, or row by row, in a table updated or written anew: each way gives
    the reference's pseudonym of every row, and loses no row."""
    db.autocommit = True
    db.execute("ANALYZE his.outpatient_visits")  # the choice reads pg_stats.n_distinct
    db.autocommit = False
    monkeypatch.setattr(planner, "MAP_MIN_ROWS", 1000 if mapped else 10**9)
    monkeypatch.setattr(planner, "REWRITE_MIN_ROWS", 0 if written_anew else 10**12)
    policy = load_policy(HIS)
    query = "SELECT visit_id, doctor FROM his.outpatient_visits ORDER BY visit_id"
    before = _rows(db, query)
    the_plan = plan(policy, db)
    visits = next(t for t in the_plan.tables if t.table == "outpatient_visits")
    assert bool(visits.clear) is written_anew
    assert visits.mapped == (["doctor"] if mapped else [])
    assert (" FROM (SELECT x.d" in visits.statement) is (mapped and not written_anew)
    assert ('"t1_m0" AS SELECT x.d' in visits.compute) is (mapped and written_anew)
    mask(db, policy, KEY, mask_plan=the_plan)
    key, dicts = ref.derive_key(KEY), policy.dictionaries
    assert _rows(db, query) == [(vid, ref.name(key, doctor, dicts)) for vid, doctor in before]


ALL_TABLES = {t: f"SELECT * FROM his.{t} ORDER BY 1" for t in (  # noqa: S608 - constants
    "patients", "outpatient_visits", "inpatient_stays", "prescriptions", "orders", "billing")}
TRIGGER_SQL = """
CREATE FUNCTION his.touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE TRIGGER orders_touch BEFORE INSERT OR UPDATE ON his.orders
   FOR EACH ROW EXECUTE FUNCTION his.touch();
"""


def test_tables_written_anew_end_exactly_as_updated_ones(
        pg_server: PgServer, template: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Emptying and refilling a table (no UPDATE) gives the same rows, constraints and
    indexes as updating it in place; a table with a trigger is never written anew."""
    results = []
    for threshold in (0, 10**12):
        monkeypatch.setattr(planner, "REWRITE_MIN_ROWS", threshold)
        name = _copy(pg_server, template)
        try:
            with psycopg.connect(pg_server.url(name)) as conn:
                conn.execute(TRIGGER_SQL)
                conn.commit()
                the_plan = plan(load_policy(HIS), conn)
                mask(conn, load_policy(HIS), KEY, mask_plan=the_plan)
                written_anew = sorted(t.table for t in the_plan.tables if t.clear)
                rows = {t: _rows(conn, q) for t, q in ALL_TABLES.items()}
                schema = (_rows(conn, CONSTRAINTS), _rows(
                    conn, "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) "
                          "FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
                          "WHERE c.relnamespace = 'his'::regnamespace ORDER BY 1"))
                results.append((written_anew, rows, schema))
        finally:
            pg_server.drop_database(name)
    (anew, rows_anew, schema_anew), (none, rows_updated, schema_updated) = results
    # patients and stays keep their keys (referenced by many rows), orders has a trigger
    assert anew == ["billing", "outpatient_visits", "prescriptions"]
    assert none == []
    assert rows_anew == rows_updated
    assert schema_anew == schema_updated  # the same constraints (validated) and indexes


def test_same_key_gives_the_same_pseudonyms_on_two_copies(pg_server: PgServer, template: str
                                                          ) -> None:
    policy = load_policy(HIS)
    results = []
    for key in (KEY, KEY, OTHER_KEY):
        name = _copy(pg_server, template)
        try:
            with psycopg.connect(pg_server.url(name)) as conn:
                report = mask(conn, policy, key)
                results.append((_rows(conn, PATIENTS), report.key_id))
        finally:
            pg_server.drop_database(name)
    (first, id1), (second, id2), (other, id3) = results
    assert first == second
    assert id1 == id2
    assert id3 != id1
    differing = sum(a[1] != b[1] and a[3] != b[3] and a[4] != b[4]
                    for a, b in zip(first, other, strict=True))
    assert differing > len(first) * 0.95


def test_parallel_and_serial_runs_give_the_same_result(pg_server: PgServer, template: str
                                                       ) -> None:
    shipped = load_policy(HIS)
    serial = dataclasses.replace(shipped, model=shipped.model.model_copy(update={
        "settings": shipped.settings.model_copy(update={"parallel_workers": 0})}))
    results = []
    for policy in (shipped, serial):
        name = _copy(pg_server, template)
        try:
            with psycopg.connect(pg_server.url(name)) as conn:
                the_plan = plan(policy, conn)
                mask(conn, policy, KEY, mask_plan=the_plan)
                results.append((_rows(conn, PATIENTS), bool(the_plan.tables[0].compute)))
        finally:
            pg_server.drop_database(name)
    assert results[0][0] == results[1][0]
    assert [staged for _, staged in results] == [True, False]


def test_masking_inside_a_callers_transaction(db: psycopg.Connection[Any]) -> None:
    db.execute("SET TimeZone = 'Asia/Shanghai'")
    db.commit()
    with db.transaction():
        db.execute("CREATE TEMP TABLE caller_work (x int)")
        report = mask(db, load_policy(HIS), KEY)
        inside = db.execute("SELECT current_setting('TimeZone'), current_setting('work_mem'),"
                            " to_regclass('pg_temp.hisops_mask_key')").fetchone()
        assert inside == ("Asia/Shanghai", "4MB", None)  # settings restored, key gone
        raise psycopg.Rollback()  # the caller decides: here it rolls everything back
    assert report.rows > 20_000
    changed = _rows(db, "SELECT count(*) FROM his.patients p JOIN his.insurance_cards c "
                        "USING (id_number)")
    assert changed == [(2000,)]  # rolled back with the caller: the originals still join


def _policy(tables: list[dict[str, Any]], **settings: Any) -> Any:
    return policy_from_dict({"version": 1, "settings": settings, "tables": tables})


ID_METHOD = {"method": "id_number_cn", "region": "shift"}


def test_joins_by_value_survive_and_ids_stay_valid(db: psycopg.Connection[Any]) -> None:
    join = ("SELECT p.patient_id, p.sex, p.id_number, c.card_no FROM his.patients p "
            "JOIN his.insurance_cards c USING (id_number) ORDER BY 1")
    before = _rows(db, join)
    policy = _policy([{"table": "his.patients", "columns": {"id_number": ID_METHOD}},
                      {"table": "his.insurance_cards", "columns": {"id_number": ID_METHOD}}])
    mask(db, policy, KEY)
    after = _rows(db, join)
    assert [(r[0], r[3]) for r in after] == [(r[0], r[3]) for r in before]
    assert all(id_number_valid(r[2]) for r in after)
    # sex is in the 17th digit's parity and must still agree with the sex column
    assert all(("M" if int(r[2][16]) % 2 else "F") == r[1] for r in after)
    assert sum(a[2] != b[2] for a, b in zip(after, before, strict=True)) == len(before)


CONSTRAINTS = ("SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), "
               "convalidated FROM pg_constraint WHERE connamespace = 'his'::regnamespace "
               "ORDER BY 1, 2")


def test_a_foreign_key_on_masked_columns_is_rebuilt_and_holds(db: psycopg.Connection[Any]
                                                              ) -> None:
    db.execute("ALTER TABLE his.insurance_cards ADD CONSTRAINT cards_person FOREIGN KEY "
               "(id_number) REFERENCES his.patients (id_number) ON UPDATE CASCADE")
    db.commit()
    constraints = _rows(db, CONSTRAINTS)
    policy = _policy([{"table": "his.patients", "columns": {"id_number": ID_METHOD}},
                      {"table": "his.insurance_cards", "columns": {"id_number": ID_METHOD}}])
    report = mask(db, policy, KEY)  # re-adding the key validates every card: would raise
    assert "foreign key his.insurance_cards.cards_person" in report.rebuilt
    assert "constraint his.patients.patients_id_number_key" in report.rebuilt
    assert _rows(db, CONSTRAINTS) == constraints  # same names, definitions, validated
    orphans = _rows(db, "SELECT count(*) FROM his.insurance_cards c LEFT JOIN his.patients p "
                        "USING (id_number) WHERE p.patient_id IS NULL")
    assert orphans == [(0,)]


def test_other_indexes_are_rebuilt_unless_their_foreign_keys_cost_more(
        db: psycopg.Connection[Any]) -> None:
    db.execute("CREATE INDEX visits_by_department ON his.outpatient_visits (department)")
    db.commit()
    db.autocommit = True
    db.execute("ANALYZE")  # the decision reads pg_class.reltuples
    db.autocommit = False
    constraints = _rows(db, CONSTRAINTS)
    indexes = _rows(db, "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) "
                        "FROM pg_index WHERE indrelid = 'his.outpatient_visits'::regclass "
                        "ORDER BY 1")
    report = mask(db, load_policy(HIS), KEY)
    # visits (5,970 rows) is referenced by 15,598 prescriptions and bills: under 4x, rebuilt
    assert "constraint his.outpatient_visits.outpatient_visits_pkey" in report.rebuilt
    assert "index his.visits_by_department" in report.rebuilt
    assert "foreign key his.prescriptions.prescriptions_visit_id_fkey" in report.rebuilt
    assert "foreign key his.billing.billing_visit_id_fkey" in report.rebuilt
    # patients (2,000) is referenced by 25,853 rows: re-validating them would cost more
    assert "constraint his.patients.patients_pkey" not in report.rebuilt
    assert "foreign key his.outpatient_visits.outpatient_visits_patient_id_fkey" \
        not in report.rebuilt
    assert _rows(db, CONSTRAINTS) == constraints  # same names, definitions, all validated
    assert _rows(db, "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) "
                     "FROM pg_index WHERE indrelid = 'his.outpatient_visits'::regclass "
                     "ORDER BY 1") == indexes


def test_a_published_tables_replica_identity_is_kept(db: psycopg.Connection[Any]) -> None:
    """A copy of a primary keeps its publications: an UPDATE of a table published for updates
    fails without its replica identity (the primary key), so that key is not rebuilt."""
    db.execute("CREATE PUBLICATION his_pub FOR TABLE his.outpatient_visits")
    db.commit()
    db.autocommit = True
    db.execute("ANALYZE")
    db.autocommit = False
    report = mask(db, load_policy(HIS), KEY)  # raised MaskingFailed (55000) before the fix
    assert "constraint his.outpatient_visits.outpatient_visits_pkey" not in report.rebuilt
    assert "foreign key his.prescriptions.prescriptions_visit_id_fkey" not in report.rebuilt


def test_a_foreign_key_masked_on_one_end_only_is_refused(db: psycopg.Connection[Any]) -> None:
    db.execute("ALTER TABLE his.insurance_cards ADD FOREIGN KEY (id_number) REFERENCES "
               "his.patients (id_number)")
    db.commit()
    policy = _policy([{"table": "his.patients", "columns": {"id_number": ID_METHOD}}])
    with pytest.raises(PolicyError, match="both ends masked"):
        plan(policy, db)


@pytest.mark.parametrize("method", [{"method": "id_number_cn"}, ID_METHOD,
                                    {"method": "id_number_cn", "birth": "shift",
                                     "region": "shift"}])
def test_the_unique_index_survives_a_whole_region_and_birth_day(
        db: psycopg.Connection[Any], method: dict[str, str]) -> None:
    before = [r[0] for r in _rows(db, "SELECT id_number FROM his.id_class")]
    mask(db, _policy([{"table": "his.id_class", "columns": {"id_number": method}}]), KEY)
    after = [r[0] for r in _rows(db, "SELECT id_number FROM his.id_class")]
    assert len(set(after)) == len(after) == 1000
    assert not set(after) & set(before) or method == {"method": "id_number_cn"}
    assert all(id_number_valid(v) for v in after)
    assert sorted(int(v[16]) % 2 for v in after) == sorted(int(v[16]) % 2 for v in before)
    index = _rows(db, "SELECT indisvalid FROM pg_index WHERE indrelid = 'his.id_class'::regclass")
    assert index == [(True,)]


def test_phones_have_real_prefixes_and_stay_distinct(db: psycopg.Connection[Any]) -> None:
    before = _rows(db, "SELECT phone FROM his.patients ORDER BY patient_id")
    mask(db, _policy([{"table": "his.patients", "columns": {"phone": "phone_cn"}}]), KEY)
    after = _rows(db, "SELECT phone FROM his.patients ORDER BY patient_id")
    prefixes = set(load_policy(HIS).dictionaries.phone_prefixes)
    assert all(re.fullmatch(r"1[0-9]{10}", p) and p[:3] in prefixes for (p,) in after)
    assert len(set(after)) == len(set(before))
    assert not {p for (p,) in after} & {p for (p,) in before}


def test_date_shift_moves_all_of_a_patients_dates_together(db: psycopg.Connection[Any]
                                                           ) -> None:
    visits = ("SELECT patient_id, visit_id, visit_time FROM his.outpatient_visits "
              "ORDER BY patient_id, visit_time, visit_id")
    rx = ("SELECT v.patient_id, r.prescribed_at - v.visit_time FROM his.prescriptions r "
          "JOIN his.outpatient_visits v USING (visit_id) ORDER BY r.prescription_id")
    before, rx_before = _rows(db, visits), _rows(db, rx)
    mask(db, load_policy(HIS), KEY)
    after, rx_after = _rows(db, visits), _rows(db, rx)
    # the same order of visits for every patient, and every gap between them kept
    assert [(p, v) for p, v, _ in after] == [(p, v) for p, v, _ in before]
    deltas: dict[int, set[int]] = {}
    for (pid, _, old), (_, _, new) in zip(before, after, strict=True):
        deltas.setdefault(pid, set()).add((new - old).days)
    assert all(len(d) == 1 and 0 < abs(next(iter(d))) <= 30 for d in deltas.values())
    assert rx_after == rx_before  # a prescription still follows its visit by the same time
    assert len({next(iter(d)) for d in deltas.values()}) > 30


def test_text_is_redacted_or_blanked(db: psycopg.Connection[Any]) -> None:
    policy = _policy([{"table": "his.notes", "columns": {
        "body": {"method": "text", "patterns": [r"ZY-[0-9]{8}"]},
        "memo": {"method": "text", "mode": "blank"}}}], redact_marker="[已脱敏]")
    mask(db, policy, KEY)
    rows = _rows(db, "SELECT body, memo FROM his.notes ORDER BY note_id")
    assert rows == [("患者身份证[已脱敏]，电话[已脱敏]，住院号[已脱敏]。", ""),
                    ("无敏感信息", None), (None, "")]


def test_the_key_is_in_no_log_plan_or_report(pg_server: PgServer, template: str) -> None:
    name = _copy(pg_server, template)
    key = "key-that-must-never-be-logged-7f3a9c"
    working = ref.derive_key(key)
    log_start = pg_server.log_path.stat().st_size
    options = "-c log_statement=all -c log_min_duration_statement=0 -c log_error_verbosity=verbose"
    try:
        with psycopg.connect(pg_server.url(name), options=options) as conn:
            policy = load_policy(HIS)
            the_plan = plan(policy, conn)
            report = mask(conn, policy, key)
            leftovers = _rows(conn, "SELECT to_regclass('pg_temp.hisops_mask_key'), "
                                    "(SELECT count(*) FROM pg_proc WHERE proname LIKE 'hm\\_%'),"
                                    " to_regnamespace('hisops_mask')")
    finally:
        pg_server.drop_database(name)
    log = pg_server.log_path.read_bytes()[log_start:].decode(errors="replace")
    assert "UPDATE \"his\".\"patients\"" in log  # the statements were logged...
    published = json.dumps([the_plan.to_dict(), report.to_dict()], ensure_ascii=False)
    for text in (log, published):  # ...but never the key, raw, derived, hex or escaped
        for secret in (key, working.hex(), working.hex().upper(), working.hex()[:16],
                       repr(working)[2:-1]):
            assert secret not in text
    assert leftovers == [(None, 0, None)]  # no key table, functions or staging tables left


def test_the_policy_is_checked_against_the_schema_before_any_change(
        db: psycopg.Connection[Any]) -> None:
    cases = [
        ({"table": "his.nothing", "columns": {"x": "null"}}, "tables[0].table",
         "does not exist"),
        ({"table": "his.patients", "columns": {"nickname": "name_zh"}},
         "tables[0].columns.nickname", "does not exist"),
        ({"table": "his.patients", "columns": {"birth_date": "name_zh"}},
         "tables[0].columns.birth_date.method", "needs a text column"),
        ({"table": "his.patients", "columns": {"name": "null"}},
         "tables[0].columns.name.method", "NOT NULL"),
        ({"table": "his.patients", "columns": {"registered_at": {"method": "date_shift",
                                                                 "per": "who"}}},
         "tables[0].columns.registered_at.per", "does not exist"),
        ({"table": "his.notes", "columns": {"body": {"method": "text",
                                                     "patterns": ["(?P<n>x)"]}}},
         "tables[0].columns.body.patterns[0]", "the database rejects it"),
        ({"table": "his.patients", "columns": {"birth_date": {"method": "constant",
                                                              "value": "soon"}}},
         "tables[0].columns.birth_date.value", "the database rejects it"),
        ({"table": "his.patients", "columns": {"id_number": "name_zh"}},
         "tables[0].columns.id_number.method", "unique index patients_id_number_key"),
    ]
    before = _rows(db, PATIENTS)
    for table, field, message in cases:
        policy = _policy([{"table": "his.billing", "columns": {
            "billed_at": {"method": "date_shift", "per": "patient_id"}}}, table])
        with pytest.raises(PolicyError) as caught:
            mask(db, policy, KEY)
        error = caught.value
        assert error.field == field.replace("tables[0]", "tables[1]"), str(error)
        assert message in error.message, str(error)
    assert _rows(db, PATIENTS) == before


def test_a_failure_halfway_rolls_everything_back(db: psycopg.Connection[Any]) -> None:
    db.execute("ALTER TABLE his.notes ADD CHECK (memo IS NULL OR memo <> '')")
    db.commit()
    before = _rows(db, PATIENTS)
    policy = _policy([{"table": "his.patients", "columns": {"name": "name_zh"}},
                      {"table": "his.notes", "columns": {"memo": {"method": "text",
                                                                  "mode": "blank"}}}])
    with pytest.raises(MaskingFailed) as caught:
        mask(db, policy, KEY)
    assert caught.value.table == "his.notes"
    assert caught.value.sqlstate == "23514"
    assert "Failing row" not in str(caught.value)  # no row data in the error
    assert _rows(db, PATIENTS) == before  # the patients masked before the failure: rolled back


def test_a_short_key_is_refused(db: psycopg.Connection[Any]) -> None:
    with pytest.raises(MaskingKeyError):
        mask(db, load_policy(HIS), "short")


def test_a_partitioned_table_is_masked_row_by_row_right(db: psycopg.Connection[Any]) -> None:
    # ctids repeat across partitions: the staged UPDATE must join on the partition too
    db.execute("CREATE TABLE his.contacts (region int, phone text, UNIQUE (region, phone)) "
               "PARTITION BY LIST (region)")
    db.execute("CREATE TABLE his.contacts_1 PARTITION OF his.contacts FOR VALUES IN (1)")
    db.execute("CREATE TABLE his.contacts_2 PARTITION OF his.contacts FOR VALUES IN (2)")
    db.execute("INSERT INTO his.contacts SELECT r, '138' || r || '000' || lpad(g::text, 4, '0') "
               "FROM generate_series(1, 2) r, generate_series(1, 300) g")
    db.commit()
    before = _rows(db, "SELECT region, phone FROM his.contacts ORDER BY 1, 2")
    policy = _policy([{"table": "his.contacts", "columns": {"phone": "phone_cn"}}])
    assert plan(policy, db).tables[0].compute  # the staged, parallel path
    mask(db, policy, KEY)
    after = _rows(db, "SELECT region, phone FROM his.contacts ORDER BY 1, 2")
    dicts = load_policy(HIS).dictionaries
    expected = sorted((r, ref.phone(ref.derive_key(KEY), p, dicts, rounds=8)) for r, p in before)
    assert after == expected


def _id(first17: str, check: str | None = None) -> str:
    return first17 + (check if check is not None else id_check_digit(first17))


# every class hm_id and hm_phone tell apart, and the edges of their integer arithmetic
EDGE_IDS = [
    _id("11010519491231002"), _id("11010519491231001"), _id("11010519491231999"),
    _id("11010519491231000"), _id("99999919800101123"), _id("01234519800101123"),
    _id("11010520000229004"), _id("11010519000229004"), _id("11010521000229004"),
    _id("11010520240229005"), _id("11010500040229005"), _id("11010500000101005"),
    _id("11010509991231005"), _id("11010519801301005"), _id("11010519800431005"),
    _id("11010519800100005"), _id("11010519801231005"), _id("11010519800228005"),
    _id("11010519491231002", "0"), _id("11010519491231002", "X"),
    "11010519491231002x", "1101051949123100", "1101051949123100211", "11010519491231002 ",
    "", "身份证11010519491231", "1101A5194912310021", "110105-19491231-0021",
]
EDGE_PHONES = ["13812345678", "13800000000", "19999999999", "10012345678", "00000000000",
               "1381234567", "138123456789", "138-1234-5678", "+8613812345678", "", "电话"]


@pytest.mark.parametrize(("birth_shift", "region_shift"),
                         [(False, False), (False, True), (True, False), (True, True)])
def test_the_sql_matches_the_reference_on_every_edge_class(
        db: psycopg.Connection[Any], birth_shift: bool, region_shift: bool) -> None:
    """Malformed values, impossible and leap-day dates, unknown counties and prefixes, wrong
    check characters: hm_id and hm_phone take each apart with integer arithmetic, so each
    class is compared with the reference in each mode."""
    from hisops.masking import sqlgen

    policy = load_policy(HIS)
    key, dicts, rounds = ref.derive_key(KEY), policy.dictionaries, policy.settings.rounds
    db.execute("CREATE TEMP TABLE hisops_mask_key (k bytea)")
    db.execute("INSERT INTO pg_temp.hisops_mask_key VALUES (%s)", (key,))
    db.execute(sqlgen.functions_sql(dicts, rounds))  # type: ignore[arg-type]
    got = db.execute(f"SELECT v, pg_temp.hm_id({sqlgen.KEY_EXPR}, v, %s, %s) "  # noqa: S608
                     "FROM unnest(%s::text[]) AS v", (birth_shift, region_shift, EDGE_IDS)
                     ).fetchall()
    for value, masked in got:
        assert masked == ref.id_number(key, value, dicts, birth_shift=birth_shift,
                                       region_shift=region_shift, rounds=rounds), value
    # a valid input (upper-case X: the masking's shape) gives a valid output, and only then
    assert [id_number_valid(m) for _, m in got] == [
        id_number_valid(v) and not v.endswith("x") for v, _ in got]
    phones = db.execute(f"SELECT v, pg_temp.hm_phone({sqlgen.KEY_EXPR}, v, "  # noqa: S608
                        f"{sqlgen.phone_table(rounds)}) "
                        "FROM unnest(%s::text[]) AS v", (EDGE_PHONES,)).fetchall()
    for value, masked in phones:
        assert masked == ref.phone(key, value, dicts, rounds=rounds), value
