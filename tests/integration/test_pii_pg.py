"""The PII scan and the originals guard against a real PostgreSQL (the throwaway server).

Data: the lab's synthetic HIS dataset (Faker zh_CN names and addresses, ID numbers with correct
check digits, mobile numbers), plus columns a real HIS grows: an innocently named column of ID
numbers, nurses' notes quoting phone numbers, a pinyin-named registration table, a drug catalog
whose column is called ``name``.
"""

from __future__ import annotations

import json
import random
import secrets
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import psycopg
import pytest

from hisops.lab import dataset
from hisops.pii import (
    ColumnRef,
    GuardError,
    ScanError,
    check_originals,
    discard,
    idnumber,
    keyhash,
    render_table,
    scan,
    scan_database,
    snapshot_from_source,
    snapshot_originals,
)
from tests.fixtures.pg import PgServer

Conn = psycopg.Connection[Any]
SCALE = 0.002  # 200 patients
PATIENTS = [ColumnRef("his", "patients", c) for c in ("name", "id_number", "phone", "address")]
EXTRAS = """
ALTER TABLE his.billing ADD COLUMN ref_code text;
UPDATE his.billing b SET ref_code = p.id_number
FROM his.patients p WHERE p.patient_id = b.patient_id;
CREATE TABLE his.nursing_notes (note_id serial PRIMARY KEY, content text);
INSERT INTO his.nursing_notes (content)
SELECT CASE WHEN patient_id % 3 = 0 THEN '家属电话' || phone || '，夜间联系'
            ELSE '患者夜间睡眠可' END
FROM his.patients;
CREATE TABLE his.mz_brxx (brid int PRIMARY KEY, brxm text, sfzh varchar(18), lxdh varchar(20),
                          jtdz text, csrq date, xmmc text);
INSERT INTO his.mz_brxx
SELECT patient_id, name, id_number, phone, address, birth_date, '血常规' FROM his.patients;
CREATE TABLE his.drug_catalog (drug_id serial PRIMARY KEY, name text, spec text);
INSERT INTO his.drug_catalog (name, spec)
SELECT drug, dose FROM his.prescriptions;
ANALYZE;
"""


def _load(server: PgServer) -> str:
    db = server.create_database()
    with psycopg.connect(server.url(db)) as conn:
        dataset.load(conn, SCALE)
    with server.connect(db) as conn:
        conn.execute(EXTRAS)
    return db


@pytest.fixture(scope="module")
def his_db(pg_server: PgServer) -> Iterator[str]:
    """A loaded HIS database the scan only reads: shared by the scan tests."""
    db = _load(pg_server)
    try:
        yield db
    finally:
        pg_server.drop_database(db)


@pytest.fixture
def fresh_his(pg_server: PgServer) -> Iterator[str]:
    """A loaded HIS database of its own, for tests that mask."""
    db = _load(pg_server)
    try:
        yield db
    finally:
        pg_server.drop_database(db)


def _originals(server: PgServer, db: str) -> list[str]:
    """The test's own knowledge of the raw values, to prove no report carries one."""
    with server.connect(db) as conn:
        rows = conn.execute("SELECT name, id_number, phone, address FROM his.patients")
        return [str(v) for row in rows for v in row]


# --- the scan ----------------------------------------------------------------------------------

EXPECTED = {
    "his.patients.name": "name", "his.patients.id_number": "id_number",
    "his.patients.phone": "phone", "his.patients.address": "address",
    "his.patients.birth_date": "birth_date",
    "his.outpatient_visits.doctor": "name",  # staff names are personal data too
    "his.billing.ref_code": "id_number",  # innocent name, found by content
    "his.nursing_notes.content": "free_text",  # phone numbers quoted in notes
    "his.mz_brxx.brxm": "name", "his.mz_brxx.sfzh": "id_number", "his.mz_brxx.lxdh": "phone",
    "his.mz_brxx.jtdz": "address", "his.mz_brxx.csrq": "birth_date",
}


def test_scan_finds_personal_columns_by_name_and_content(pg_server: PgServer,
                                                         his_db: str) -> None:
    with pg_server.connect(his_db) as conn:
        report = scan(conn, schemas=["his"])
        # its TEMP helpers were rolled back: the session is as it was
        helpers = conn.execute("SELECT to_regprocedure('pg_temp.hisops_id_valid(text)'),"
                               " to_regclass('pg_temp.hisops_pii_surnames')").fetchone()
    assert helpers == (None, None)
    found = {f.qualified: f for f in report.findings}
    assert {q: f.kind for q, f in found.items()} == EXPECTED
    # diagnosis codes, drug names, departments, wards, 项目 (xmmc), the drug catalog's "name"
    # are not in EXPECTED: the equality above fails if any of them is flagged
    for column in ("name", "id_number", "phone", "address"):
        finding = found[f"his.patients.{column}"]
        assert finding.confidence == "high"
        assert finding.evidence.shares[column] >= 0.99
        assert finding.evidence.non_empty == 200
    ref = found["his.billing.ref_code"]
    assert ref.evidence.name_pattern is None
    assert ref.evidence.shares["id_number"] == 1.0
    assert found["his.patients.birth_date"].data_type == "date"
    assert found["his.patients.id_number"].data_type == "character(18)"


def test_scan_database_report_holds_no_value(pg_server: PgServer,
                                                               his_db: str) -> None:
    report = scan_database(pg_server.url(his_db), sample_rows=50)
    assert report.database == his_db
    patients = next(f for f in report.findings if f.qualified == "his.patients.phone")
    assert patients.evidence.sampled_rows == 50
    text = json.dumps(report.to_dict(), ensure_ascii=False)
    leaked = [v for v in _originals(pg_server, his_db) if v in text]
    assert leaked == []
    assert "his.patients.phone" not in text  # qualified names are split: schema/table/column
    assert '"table": "patients"' in text
    assert render_table(report).row_count == len(report.findings)


def test_big_tables_are_sampled_not_read(pg_server: PgServer, pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE big (id int, phone text)")
        conn.execute("INSERT INTO big SELECT g, '139' || lpad(g::text, 8, '0')"
                     " FROM generate_series(1, 100000) g")
        conn.execute("ANALYZE big")
        report = scan(conn, sample_rows=500)
    (finding,) = report.findings
    assert finding.kind == "phone"
    assert finding.evidence.sampled_rows == 500
    assert finding.evidence.shares["phone"] == 1.0


def test_tables_the_user_cannot_read_are_skipped_and_named(pg_server: PgServer,
                                                          pg_url: str) -> None:
    role = f"pii_reader_{secrets.token_hex(4)}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE open_t (phone text); CREATE TABLE closed_t (phone text)")
        conn.execute("INSERT INTO open_t VALUES ('13912345678'); INSERT INTO closed_t"
                     " VALUES ('13912345678')")
        conn.execute(f"CREATE ROLE {role} LOGIN; GRANT SELECT ON open_t TO {role}")
    try:
        url = pg_url.replace(f"{pg_server.superuser}@", f"{role}@")
        report = scan_database(url)
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {role}; DROP ROLE {role}")
    assert [f.table for f in report.findings] == ["open_t"]
    assert report.skipped == ("public.closed_t: permission denied",)


def test_a_database_that_cannot_be_reached_is_a_scan_error(pg_server: PgServer) -> None:
    with pytest.raises(ScanError, match="cannot connect for the PII scan"):
        scan_database(pg_server.url("no_such_database"))


def test_sql_id_check_agrees_with_python(pg_url: str) -> None:
    rng = random.Random(7)  # noqa: S311 - test data
    numbers, goods = [], []
    for _ in range(300):
        born = date(1900, 1, 1) + timedelta(days=rng.randint(0, 45000))
        first17 = f"{rng.randint(110000, 659999)}{born:%Y%m%d}{rng.randint(0, 999):03d}"
        good = first17 + idnumber.check_char(first17)
        goods.append(good)
        numbers += [good, good[:17] + rng.choice("0123456789X"), good.lower()]
    leap = "110105" + "20000229" + "001"
    not_leap = "110105" + "19000229" + "001"
    numbers += [leap + idnumber.check_char(leap), not_leap + idnumber.check_char(not_leap),
                "11010519491231002", "", " 11010519491231002X", "1101051949123100２X",
                "110105194913310010", "11010519491231002Ｘ"]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(idnumber.CREATE_SQL)
        conn.execute("CREATE TEMP TABLE ids (n text)")
        with conn.cursor().copy("COPY ids FROM STDIN") as copy:
            for number in numbers:
                copy.write_row((number,))
        rows = conn.execute("SELECT n, pg_temp.hisops_id_valid(n) FROM ids").fetchall()
        literal = conn.execute("SELECT pg_temp.hisops_id_valid('110105194913310010'),"
                               " pg_temp.hisops_id_valid('abc')").fetchone()
    assert {n: ok for n, ok in rows} == {n: idnumber.is_valid(n) for n in numbers}
    valid = {n for n, ok in rows if ok}
    assert set(goods) <= valid  # the comparison above is not all "false == false"
    assert leap + idnumber.check_char(leap) in valid
    assert not_leap + idnumber.check_char(not_leap) not in valid
    assert literal == (False, False)  # constants are folded: no cast error on bad input


# --- the originals guard -----------------------------------------------------------------------

MASK = {  # a real change of every value: none can equal an original (no real prefix 100)
    "name": "'测试' || patient_id",
    "id_number": "'9' || lpad(patient_id::text, 16, '0') || 'X'",
    "phone": "'100' || lpad(patient_id::text, 8, '0')",
    "address": "'地址' || md5(address)",
}


def _mask(url: str, columns: dict[str, str]) -> None:
    """Mask on a connection of its own, as the masking engine would."""
    sets = ", ".join(f"{c} = {expr}" for c, expr in columns.items())
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"UPDATE his.patients SET {sets}")  # noqa: S608 - the test's own SQL


@pytest.fixture
def guard_key() -> str:
    return secrets.token_hex(16)


def test_guard_passes_after_every_value_changed(pg_server: PgServer, fresh_his: str,
                                                guard_key: str) -> None:
    with pg_server.connect(fresh_his) as conn:
        snapshot = snapshot_originals(conn, PATIENTS, guard_key)
        assert [c.originals for c in snapshot.columns] == [200, 200, 200, 200]
        assert snapshot.columns[0].row_key == ("patient_id",)
        before = check_originals(conn, snapshot)
        _mask(pg_server.url(fresh_his), MASK)
        after = check_originals(conn, snapshot)
    assert not before.passed
    assert all(c.unchanged == c.found == c.checked == 200 for c in before.columns)
    assert after.passed, after.failures()
    assert [(c.checked, c.found, c.unchanged) for c in after.columns] == [(200, 0, 0)] * 4


def test_guard_catches_an_unmasked_column(pg_server: PgServer, fresh_his: str,
                                          guard_key: str) -> None:
    with pg_server.connect(fresh_his) as conn:
        snapshot = snapshot_originals(conn, PATIENTS, guard_key)
        _mask(pg_server.url(fresh_his), {k: v for k, v in MASK.items() if k != "id_number"})
        report = check_originals(conn, snapshot)
    assert not report.passed
    failed = {str(c.ref): (c.found, c.unchanged) for c in report.columns if not c.passed}
    assert failed == {"his.patients.id_number": (200, 200)}
    with pytest.raises(Exception, match=r"his\.patients\.id_number: 200 of 200"):
        report.raise_for_failure()


def test_guard_catches_a_value_moved_to_another_column(pg_server: PgServer, fresh_his: str,
                                                       guard_key: str) -> None:
    url = pg_server.url(fresh_his)
    with pg_server.connect(fresh_his) as conn:
        snapshot = snapshot_originals(conn, PATIENTS, guard_key)
        with psycopg.connect(url, autocommit=True) as other:
            # a careless masking step: notes keep a copy, an address gets a phone number
            other.execute("UPDATE his.outpatient_visits v SET diagnosis = p.phone"
                          " FROM his.patients p WHERE p.patient_id = v.patient_id"
                          " AND v.visit_id = (SELECT min(visit_id) FROM his.outpatient_visits)")
        _mask(url, MASK)
        with psycopg.connect(url, autocommit=True) as other:
            other.execute("UPDATE his.patients SET address = ' ' || mz.lxdh || ' '"
                          " FROM his.mz_brxx mz WHERE mz.brid = patients.patient_id"
                          " AND patients.patient_id = 7")
        diagnosis = ColumnRef("his", "outpatient_visits", "diagnosis")
        report = check_originals(conn, snapshot, also_check=[diagnosis])
    by_column = {str(c.ref): c for c in report.columns}
    address = by_column["his.patients.address"]
    assert (address.found, address.from_other_columns, address.unchanged) == (1, 1, 0)
    notes = by_column["his.outpatient_visits.diagnosis"]
    assert (notes.found, notes.from_other_columns, notes.unchanged) == (1, 1, None)
    assert {str(c.ref) for c in report.columns if not c.passed} == {
        "his.patients.address", "his.outpatient_visits.diagnosis"}


def test_row_mode_tolerates_coincidences_but_not_a_kept_original(
        pg_server: PgServer, fresh_his: str, guard_key: str) -> None:
    url = pg_server.url(fresh_his)
    name = PATIENTS[0]
    with pg_server.connect(fresh_his) as conn:
        snapshot = snapshot_originals(conn, [name], guard_key)
        with psycopg.connect(url, autocommit=True) as other:
            # every patient gets the next patient's real name: plausible names from a pool
            # the originals are also drawn from; patient 5 keeps their own
            other.execute("""
                UPDATE his.patients p SET name = n.name FROM his.patients n
                WHERE n.patient_id = CASE WHEN p.patient_id = 5 THEN 5
                                          ELSE p.patient_id % 200 + 1 END""")
        anywhere = check_originals(conn, snapshot)
        by_row = check_originals(conn, snapshot, row_only=[name])
    assert anywhere.columns[0].found == 200
    assert not anywhere.passed  # a shuffle is not masking when every value is checked
    (column,) = by_row.columns
    assert (column.mode, column.unchanged) == ("row", 1)
    assert not by_row.passed
    assert "1 of 200 rows still hold their original" in by_row.failures()[0]


def test_guard_needs_the_session_that_took_the_snapshot(pg_server: PgServer, fresh_his: str,
                                                        guard_key: str) -> None:
    with pg_server.connect(fresh_his) as conn, pg_server.connect(fresh_his) as other:
        snapshot = snapshot_originals(conn, PATIENTS, guard_key)
        with pytest.raises(GuardError, match="another session"):
            check_originals(other, snapshot)
        second = snapshot_originals(conn, PATIENTS[:1], guard_key)  # replaces the first one
        with pytest.raises(GuardError, match="replaced"):
            check_originals(conn, snapshot)
        assert check_originals(conn, second).columns[0].found == 200
        discard(conn)
        with pytest.raises(GuardError, match="gone"):
            check_originals(conn, second)
        left = conn.execute("SELECT to_regclass('pg_temp.hisops_pii_originals'),"
                            " to_regclass('pg_temp.hisops_pii_key')").fetchone()
    assert left == (None, None)


def test_sql_keyed_hash_is_the_python_hmac(pg_server: PgServer, fresh_his: str,
                                           guard_key: str) -> None:
    with pg_server.connect(fresh_his) as conn:
        rows = conn.execute("SELECT patient_id, id_number FROM his.patients"
                            " ORDER BY patient_id LIMIT 5").fetchall()
        snapshot_originals(conn, [PATIENTS[1]], guard_key)
        hashes = {h for (h,) in conn.execute("SELECT h FROM pg_temp.hisops_pii_originals")}
        keys = {k for (k,) in conn.execute("SELECT rowkey FROM pg_temp.hisops_pii_originals")}
    assert len(rows) == 5
    for patient_id, number in rows:
        assert keyhash.keyed_hash(guard_key, str(number)) in hashes
        assert keyhash.keyed_hash(guard_key, str(patient_id)) in keys
        assert keyhash.keyed_hash(guard_key[::-1], str(number)) not in hashes


def test_the_key_and_values_never_reach_the_server_log(pg_server: PgServer, fresh_his: str,
                                                       guard_key: str) -> None:
    marker = f"pii-log-test-{secrets.token_hex(4)}"
    with pg_server.connect(fresh_his) as conn:
        conn.execute("SET log_statement = 'all'")
        conn.execute("SET log_min_duration_statement = 0")
        conn.execute("SET log_parameter_max_length = -1")
        conn.execute(f"SELECT '{marker}'")
        snapshot = snapshot_originals(conn, PATIENTS, guard_key)
        _mask(pg_server.url(fresh_his), MASK)
        report = check_originals(conn, snapshot)
        scanned = scan(conn, schemas=["his"])
    log_text = pg_server.log_path.read_text(errors="replace")
    mine = log_text[log_text.index(marker):]  # this test's part of the shared log
    assert "hisops_pii_originals" in mine  # the guard's statements were logged
    assert "hisops_id_valid" in mine  # and the scan's
    ipad, opad = keyhash._pads(guard_key.encode())
    for secret in (guard_key, guard_key.encode().hex(), ipad.hex(), opad.hex()):
        assert secret not in mine
    assert report.passed
    assert scanned.findings


def test_guard_reports_carry_no_value(pg_server: PgServer, fresh_his: str,
                                      guard_key: str) -> None:
    originals = _originals(pg_server, fresh_his)
    with pg_server.connect(fresh_his) as conn:
        snapshot = snapshot_originals(conn, PATIENTS, guard_key)
        report = check_originals(conn, snapshot)
    text = json.dumps(report.to_dict(), ensure_ascii=False) + repr(snapshot) + repr(report)
    assert [v for v in originals if v in text] == []
    assert guard_key not in text
    assert report.to_dict()["passed"] is False


def test_guard_against_a_source_on_another_connection(pg_server: PgServer, fresh_his: str,
                                                      his_db: str, guard_key: str) -> None:
    # his_db plays the source (production), fresh_his the restored copy being masked
    with pg_server.connect(his_db) as source, pg_server.connect(fresh_his) as target:
        snapshot = snapshot_from_source(source, target, PATIENTS, guard_key)
        assert [c.originals for c in snapshot.columns] == [200] * 4
        _mask(pg_server.url(fresh_his), {k: v for k, v in MASK.items() if k != "phone"})
        partly = check_originals(target, snapshot)
        _mask(pg_server.url(fresh_his), {"phone": MASK["phone"]})
        fully = check_originals(target, snapshot)
        leftover = source.execute("SELECT to_regclass('pg_temp.hisops_pii_key')").fetchone()
    assert {str(c.ref) for c in partly.columns if not c.passed} == {"his.patients.phone"}
    assert fully.passed
    assert leftover == (None,)  # the key did not outlive the copy on the source


def test_dates_hash_the_same_whatever_the_session_date_style(pg_server: PgServer,
                                                             fresh_his: str,
                                                             guard_key: str) -> None:
    birth = ColumnRef("his", "patients", "birth_date")
    with pg_server.connect(fresh_his) as conn:
        conn.execute("SET DateStyle = 'SQL, DMY'")
        snapshot = snapshot_originals(conn, [birth], guard_key)
        conn.execute("SET DateStyle = 'German'")
        report = check_originals(conn, snapshot, row_only=[birth])
    (column,) = report.columns
    assert (column.checked, column.unchanged) == (200, 200)  # not masked: caught
