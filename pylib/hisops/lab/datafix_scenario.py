"""The data errors the shipped datafix runbooks correct, put into the lab's HIS database.

The lab's generated dataset is consistent; a hospital's is not. ``inject`` creates one of
each error the worked examples fix (docs/datafix.md), chosen at random so that repeated calls
do not collide, and returns the identifiers and the exact parameters to pass:

- a bill whose payment confirmation was lost: an unpaid insurance (医保) bill;
- a discharge date typed ten years late, in the future (the insurance upload rejects it);
- a patient registered twice: a second registration of an existing patient whose ID number
  was mistyped (a valid number, same birth date and sex), with two visits and three
  prescriptions of its own.

``remove`` takes the injected errors out again (tests leave the lab as they found it).
"""

from __future__ import annotations

from typing import Any

import psycopg

DUPLICATE_VISITS = 2
DUPLICATE_PRESCRIPTIONS = 3


def inject(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    bill = conn.execute(
        "SELECT bill_id, payment FROM his.billing WHERE NOT paid AND payment = '医保' "
        "ORDER BY random() LIMIT 1").fetchone()
    assert bill is not None  # noqa: S101 - the generated dataset has unpaid bills
    stay = conn.execute(
        "SELECT s.stay_id, s.discharged_at FROM his.inpatient_stays s "
        "WHERE s.discharged_at IS NOT NULL AND s.discharged_at < now() - interval '1 year' "
        "AND NOT EXISTS (SELECT 1 FROM his.inpatient_stays o WHERE o.patient_id = "
        "s.patient_id AND o.stay_id <> s.stay_id AND o.admitted_at < s.discharged_at "
        "+ interval '10 years' AND coalesce(o.discharged_at, 'infinity') > s.admitted_at) "
        "ORDER BY random() LIMIT 1").fetchone()
    assert stay is not None  # noqa: S101 - the generated dataset has discharged stays
    conn.execute("UPDATE his.inpatient_stays SET discharged_at = discharged_at "
                 "+ interval '10 years' WHERE stay_id = %s", (stay[0],))
    wrong = conn.execute("SELECT discharged_at FROM his.inpatient_stays WHERE stay_id = %s",
                         (stay[0],)).fetchone()
    assert wrong is not None  # noqa: S101 - updated just above
    original = conn.execute(
        "SELECT p.patient_id FROM his.patients p WHERE EXISTS (SELECT 1 FROM "
        "his.outpatient_visits v WHERE v.patient_id = p.patient_id) ORDER BY random() LIMIT 1"
    ).fetchone()
    assert original is not None  # noqa: S101 - patients have visits
    keep = int(original[0])
    duplicate = _next_id(conn, "patients", "patient_id")
    conn.execute(
        "INSERT INTO his.patients SELECT %s, name, sex, birth_date, %s, phone, address, "
        "now()::timestamp(0) FROM his.patients WHERE patient_id = %s",
        (duplicate, _mistyped_id_number(conn, keep), keep))
    visit_ids = []
    for _ in range(DUPLICATE_VISITS):
        visit = _next_id(conn, "outpatient_visits", "visit_id")
        conn.execute(
            "INSERT INTO his.outpatient_visits SELECT %s, %s, now()::timestamp(0) - "
            "interval '3 days', department, doctor, diagnosis_code, diagnosis FROM "
            "his.outpatient_visits WHERE patient_id = %s ORDER BY visit_id LIMIT 1",
            (visit, duplicate, keep))
        visit_ids.append(visit)
    rx_ids = []
    for i in range(DUPLICATE_PRESCRIPTIONS):
        rx = _next_id(conn, "prescriptions", "prescription_id")
        rx_ids.append(rx)
        conn.execute(
            "INSERT INTO his.prescriptions VALUES (%s, %s, %s, '阿莫西林胶囊', '0.5g tid', 2, "
            "12.50, now()::timestamp(0) - interval '3 days')",
            (rx, duplicate, visit_ids[i % len(visit_ids)]))
    conn.commit()
    return {
        "bill": {"bill_id": int(bill[0]), "payment": str(bill[1])},
        "discharge": {"stay_id": int(stay[0]), "recorded": wrong[0].isoformat(),
                      "corrected": stay[1].isoformat()},
        "merge": {"keep": keep, "duplicate": duplicate, "visits": DUPLICATE_VISITS,
                  "prescriptions": DUPLICATE_PRESCRIPTIONS, "visit_ids": visit_ids,
                  "prescription_ids": rx_ids},
    }


def _mistyped_id_number(conn: psycopg.Connection[Any], patient_id: int) -> str:
    """The patient's ID number with its sequence digits mistyped: a valid number (same
    region, birth date and sex, a correct check character) that nobody else has."""
    from hisops.pii.idnumber import check_char

    row = conn.execute("SELECT id_number FROM his.patients WHERE patient_id = %s",
                       (patient_id,)).fetchone()
    assert row is not None  # noqa: S101 - the patient was just chosen
    real = str(row[0])
    for seq in range(10, 1000, 10):  # the last sequence digit (the sex) is kept
        first17 = real[:14] + f"{(int(real[14:17]) + seq) % 1000:03d}"
        candidate = first17 + check_char(first17)
        taken = conn.execute("SELECT 1 FROM his.patients WHERE id_number = %s",
                             (candidate,)).fetchone()
        if taken is None:
            return candidate
    raise RuntimeError(f"no free ID number near patient {patient_id}'s")


def _next_id(conn: psycopg.Connection[Any], table: str, column: str) -> int:
    row = conn.execute(f"SELECT coalesce(max({column}), 0) + 1 FROM his.{table}").fetchone()  # noqa: S608 - fixed names
    assert row is not None  # noqa: S101 - an aggregate returns a row
    return int(row[0])


def remove(conn: psycopg.Connection[Any], injected: dict[str, Any]) -> None:
    """Take the injected errors out: the duplicate's rows (wherever they point now), the
    discharge date back to its original, the bill unpaid again."""
    merge = injected["merge"]
    conn.execute("DELETE FROM his.prescriptions WHERE prescription_id = ANY(%s)",
                 (merge["prescription_ids"],))
    conn.execute("DELETE FROM his.outpatient_visits WHERE visit_id = ANY(%s)",
                 (merge["visit_ids"],))
    conn.execute("DELETE FROM his.patients WHERE patient_id = %s", (merge["duplicate"],))
    discharge = injected["discharge"]
    conn.execute("UPDATE his.inpatient_stays SET discharged_at = %s WHERE stay_id = %s",
                 (discharge["corrected"], discharge["stay_id"]))
    conn.execute("UPDATE his.billing SET paid = false WHERE bill_id = %s",
                 (injected["bill"]["bill_id"],))
    conn.commit()
