"""The synthetic HIS dataset: valid resident ID numbers, consistent rows, determinism."""

from __future__ import annotations

from datetime import date

import pytest
from faker import Faker

from hisops.lab import dataset
from hisops.lab.dataset import id_birth_date, id_check_digit, id_number_valid, id_sex

# the two worked examples printed in GB 11643-1999 itself
STANDARD_EXAMPLES = ("11010519491231002X", "440524188001010014")


@pytest.fixture(scope="module")
def small() -> dataset.Dataset:
    return dataset.generate(0.01, seed=7)


@pytest.mark.parametrize("number", STANDARD_EXAMPLES)
def test_check_digit_matches_the_standards_examples(number: str) -> None:
    assert id_check_digit(number[:17]) == number[17]
    assert id_number_valid(number)


@pytest.mark.parametrize("number", ["11010519491231002", "110105194912310021",
                                    "440524188001010015", "11010519491331002X",
                                    "1101051949123100AX"])
def test_invalid_numbers_are_rejected(number: str) -> None:
    assert not id_number_valid(number)


def test_check_digit_agrees_with_fakers_independent_implementation() -> None:
    fake = Faker("zh_CN")
    fake.seed_instance(3)
    for _ in range(500):
        number = fake.ssn()
        assert id_check_digit(number[:17]) == number[17], number


def test_check_digit_needs_17_digits() -> None:
    with pytest.raises(ValueError, match="17 digits"):
        id_check_digit("1234")


def test_birth_date_and_sex_decode() -> None:
    assert id_birth_date("11010519491231002X") == date(1949, 12, 31)
    assert id_sex("11010519491231002X") == "F"  # 17th digit 2
    assert id_sex("440524188001010014") == "M"  # 17th digit 1


def test_patients_have_valid_unique_ids_consistent_with_birth_and_sex(
    small: dataset.Dataset,
) -> None:
    patients = small.rows["patients"]
    assert len(patients) == 1000
    ids = [p[4] for p in patients]
    assert len(set(ids)) == len(ids)
    for _pid, name, sex, birth, number, phone, address, registered in patients:
        assert id_number_valid(number), number
        assert id_birth_date(number) == birth
        assert id_sex(number) == sex
        assert len(phone) == 11
        assert phone.isdigit()
        assert phone[0] == "1"
        assert 2 <= len(name) <= 4
        assert address
        assert registered.date() >= birth


def test_foreign_keys_point_at_existing_rows(small: dataset.Dataset) -> None:
    rows = small.rows
    patients = {p[0] for p in rows["patients"]}
    visits = {v[0]: v[1] for v in rows["outpatient_visits"]}
    stays = {s[0]: s[1] for s in rows["inpatient_stays"]}
    assert visits
    assert stays
    assert set(visits.values()) <= patients
    assert set(stays.values()) <= patients
    for rx in rows["prescriptions"]:
        assert visits[rx[2]] == rx[1]  # the visit belongs to the same patient
    for order in rows["orders"]:
        assert stays[order[1]] == order[2]
    for bill in rows["billing"]:
        _bid, pid, vid, sid = bill[:4]
        assert (vid is None) != (sid is None)
        assert (visits[vid] if vid else stays[sid]) == pid


def test_primary_keys_are_unique(small: dataset.Dataset) -> None:
    for table, rows in small.rows.items():
        keys = [r[0] for r in rows]
        assert len(set(keys)) == len(keys), table


def test_stays_end_after_they_start(small: dataset.Dataset) -> None:
    for stay in small.rows["inpatient_stays"]:
        assert stay[3] is None or stay[3] > stay[2]


def test_rows_match_the_declared_columns(small: dataset.Dataset) -> None:
    for table, columns in dataset.TABLES:
        assert all(len(r) == len(columns) for r in small.rows[table]), table
        for column, _type in columns:
            assert column in dataset.SCHEMA_SQL


def test_same_seed_same_rows_other_seed_other_rows() -> None:
    a = dataset.generate(0.002, seed=11)
    b = dataset.generate(0.002, seed=11)
    c = dataset.generate(0.002, seed=12)
    assert a.rows == b.rows
    assert a.rows["patients"] != c.rows["patients"]


def test_scale_sets_the_patient_count() -> None:
    assert dataset.patient_count(1) == 100_000
    assert dataset.patient_count(0.01) == 1_000
    assert dataset.patient_count(0.000001) == 1
    with pytest.raises(ValueError, match="positive"):
        dataset.patient_count(0)
