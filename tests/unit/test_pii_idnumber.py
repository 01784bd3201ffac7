"""GB 11643-1999 check characters, and the plausibility rules the scan applies on top."""

from __future__ import annotations

from datetime import date

import pytest

from hisops.pii import idnumber


@pytest.mark.parametrize(("first17", "expected"), [
    # the standard's own example; sum 167, 167 % 11 = 2 -> "X"
    ("11010519491231002", "X"),
    # worked by hand: sum 263, 263 % 11 = 10 -> "2"
    ("32010619850617123", "2"),
    # the standard's second example (born 1880: a valid check character, implausible birth)
    ("44052418800101001", "4"),
])
def test_check_char_of_known_numbers(first17: str, expected: str) -> None:
    assert idnumber.check_char(first17) == expected


@pytest.mark.parametrize("number", ["11010519491231002X", "11010519491231002x",
                                    "320106198506171232"])
def test_valid_numbers_pass(number: str) -> None:
    assert idnumber.is_valid(number)


@pytest.mark.parametrize(("number", "why"), [
    ("110105194912310021", "wrong check character"),
    ("320106198506171233", "wrong check character"),
    ("440524188001010014", "born before 1900"),
    ("11010519491231002", "17 characters"),
    ("1101051949123100２X", "a full-width digit"),
    ("110105194902300000", "30 February"),
])
def test_invalid_numbers_fail(number: str, why: str) -> None:
    assert not idnumber.is_valid(number), why


def test_a_birth_date_after_today_fails() -> None:
    first17 = "11010520300101002"
    number = first17 + idnumber.check_char(first17)
    assert idnumber.is_valid(number, today=date(2031, 1, 1))
    assert not idnumber.is_valid(number, today=date(2029, 12, 31))


def test_check_char_refuses_other_lengths() -> None:
    with pytest.raises(ValueError, match="17"):
        idnumber.check_char("1234")


def test_the_sql_function_uses_the_same_weights_and_map() -> None:
    body = idnumber.sql_function_body()
    assert "substr($1, 17, 1)::int * 2" in body
    assert "substr($1, 3, 1)::int * 10" in body
    assert "'10X98765432'" in body
