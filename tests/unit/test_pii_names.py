"""Column names that suggest personal data: English, Chinese, pinyin initials."""

from __future__ import annotations

import pytest

from hisops.pii.names import match_column_name, normalize
from hisops.pii.surnames import surnames


@pytest.mark.parametrize(("column", "kind", "strength"), [
    ("patient_name", "name", "strong"), ("PatientName", "name", "strong"),
    ("brxm", "name", "strong"), ("hzxm", "name", "strong"), ("姓名", "name", "strong"),
    ("患者姓名", "name", "strong"), ("name", "name", "weak"), ("xm", "name", "weak"),
    ("id_number", "id_number", "strong"), ("sfzh", "id_number", "strong"),
    ("IDCard", "id_number", "strong"), ("身份证号", "id_number", "strong"),
    ("zjhm", "id_number", "strong"),
    ("phone", "phone", "strong"), ("mobile", "phone", "strong"), ("sjh", "phone", "strong"),
    ("tel", "phone", "strong"), ("lxdh", "phone", "strong"), ("contact_phone", "phone", "strong"),
    ("联系电话", "phone", "strong"), ("dh", "phone", "weak"),
    ("address", "address", "strong"), ("home_addr", "address", "strong"),
    ("jtdz", "address", "strong"), ("家庭住址", "address", "strong"), ("dz", "address", "weak"),
    ("birth_date", "birth_date", "strong"), ("csrq", "birth_date", "strong"),
    ("DOB", "birth_date", "strong"), ("出生日期", "birth_date", "strong"),
    ("email", "email", "strong"), ("email_address", "email", "strong"),
    ("bz", "free_text", "weak"), ("备注", "free_text", "weak"),
])
def test_personal_column_names(column: str, kind: str, strength: str) -> None:
    found = match_column_name(column)
    assert found is not None
    assert (found.kind, found.strength) == (kind, strength)


@pytest.mark.parametrize("column", [
    "diagnosis_code", "diagnosis", "drug", "drug_name", "dept_name", "patient_id", "visit_id",
    "visit_time", "xmmc", "xmdm", "ward", "bed", "ip_address", "remote_addr", "host_name",
    "table_name", "amount", "department", "status",
])
def test_other_column_names(column: str) -> None:
    assert match_column_name(column) is None


def test_normalize_splits_camel_case_and_separators() -> None:
    assert normalize("PatientPhone-No") == "patient_phone_no"
    assert normalize("病人 姓名") == "病人_姓名"


def test_surnames_come_from_faker_with_compound_ones() -> None:
    from faker.providers.person.zh_CN import Provider

    names = surnames()
    assert names == frozenset(Provider.last_names)
    assert {"王", "李", "欧阳"} <= names
    assert "病" not in names
