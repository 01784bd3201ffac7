"""How the scan weighs a column's name against its sampled content (no database)."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from hisops.errors import InputError
from hisops.pii import keyhash
from hisops.pii.content import TESTS, ColumnCounts
from hisops.pii.scan import judge


def counts(non_empty: int = 100, **passed: int) -> ColumnCounts:
    return ColumnCounts(sampled_rows=non_empty, non_empty=non_empty,
                        passed={test: passed.get(test, 0) for test in TESTS})


def verdict(column: str, category: str, found: ColumnCounts | None) -> tuple[str, str] | None:
    judged = judge(column, category, found)
    return None if judged is None else (judged[0], judged[1])


def test_name_and_content_agreeing_is_high() -> None:
    kind, confidence, evidence = judge("sfzh", "S", counts(id_number=60)) or ("", "", None)
    assert (kind, confidence) == ("id_number", "high")
    assert evidence is not None
    assert evidence.shares["id_number"] == 0.6
    assert evidence.name_strength == "strong"


def test_content_alone_names_the_kind_of_an_innocent_column() -> None:
    assert verdict("ref_code", "S", counts(id_number=97)) == ("id_number", "high")
    assert verdict("ref_code", "S", counts(id_number=60)) == ("id_number", "medium")


def test_content_outweighs_a_misleading_name() -> None:
    assert verdict("phone", "S", counts(id_number=90)) == ("id_number", "high")


def test_a_few_name_like_values_in_a_category_column_are_not_a_finding() -> None:
    assert judge("department", "S", counts(name=20)) is None


def test_weak_name_contradicted_by_content_is_dropped() -> None:
    assert judge("name", "S", counts(name=2)) is None  # a "name" column of drug names


def test_strong_name_contradicted_by_content_is_kept_low() -> None:
    assert verdict("phone", "S", counts(phone=0)) == ("phone", "low")


def test_name_without_content_depends_on_strength() -> None:
    assert verdict("birth_date", "D", None) == ("birth_date", "medium")
    assert verdict("dz", "S", None) == ("address", "low")


def test_small_samples_are_never_high() -> None:
    assert verdict("id_number", "S", counts(non_empty=5, id_number=5)) == ("id_number", "medium")


def test_a_name_is_ignored_for_a_type_that_cannot_hold_it() -> None:
    assert judge("has_phone", "B", None) is None
    assert judge("patient_name", "N", None) is None


def test_free_text_with_embedded_numbers() -> None:
    assert verdict("content", "S", counts(embedded=10)) == ("free_text", "medium")
    assert verdict("bz", "S", counts(embedded=10)) == ("free_text", "medium")
    assert verdict("bz", "S", counts()) == ("free_text", "low")
    assert judge("content", "S", counts()) is None


@pytest.mark.parametrize("key", [b"0123456789abcdef", "a key of some length", b"k" * 100])
def test_keyed_hash_is_hmac_sha256_of_the_normalized_value(key: bytes | str) -> None:
    raw = key.encode() if isinstance(key, str) else key
    digest = hmac.new(raw, b"11010519491231002X", hashlib.sha256).digest()
    expected = int.from_bytes(digest[:8], "big", signed=True)
    assert keyhash.keyed_hash(key, " 11010519491231002x ") == expected


def test_keyed_hash_depends_on_the_key_and_keeps_non_ascii_case() -> None:
    assert keyhash.keyed_hash(b"k" * 16, "张三") != keyhash.keyed_hash(b"j" * 16, "张三")
    assert keyhash.normalize("Ǆ abc") == "Ǆ ABC"


def test_short_keys_are_refused() -> None:
    with pytest.raises(InputError, match="at least 16 bytes"):
        keyhash.key_bytes(b"short")
