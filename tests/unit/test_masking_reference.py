"""The pure-Python reference of the masking methods: bijections over whole small domains,
valid check digits, kept sex parity, plausible values. The SQL is checked against this
reference row by row in tests/integration/test_masking_pg.py."""

from __future__ import annotations

import dataclasses
import random
import re
from datetime import date, timedelta

import pytest

from hisops.lab.dataset import id_check_digit, id_number_valid
from hisops.masking import reference as ref
from hisops.masking.dictionaries import load_dictionaries
from hisops.masking.sqlgen import perfect_hash

KEY = ref.derive_key("unit-test-key-0123456789")
OTHER = ref.derive_key("another-key-9876543210")
DICTS = load_dictionaries()
ROUNDS = 8


@pytest.mark.parametrize(("a", "b"), [(20, 25), (1, 10), (7, 13), (100, 3), (500, 4)])
def test_feistel_permutes_the_whole_domain(a: int, b: int) -> None:
    out = [ref.feistel(KEY, "t", x, a, b, ROUNDS) for x in range(a * b)]
    assert sorted(out) == list(range(a * b))
    if a * b > 20:
        assert out != list(range(a * b))  # not the identity
        assert out != [ref.feistel(OTHER, "t", x, a, b, ROUNDS) for x in range(a * b)]


def test_feistel_depends_on_the_tweak() -> None:
    one = [ref.feistel(KEY, "a", x, 20, 25, ROUNDS) for x in range(500)]
    assert one != [ref.feistel(KEY, "b", x, 20, 25, ROUNDS) for x in range(500)]


def test_check_digit_agrees_with_the_dataset() -> None:
    rng = random.Random(1)  # noqa: S311 - test data
    for _ in range(200):
        first17 = "".join(str(rng.randrange(10)) for _ in range(17))
        assert ref.check_char(first17) == id_check_digit(first17)


def _ids(region: str, born: date) -> list[str]:
    first = [f"{region}{born:%Y%m%d}{seq:03d}" for seq in range(1000)]
    return [f + id_check_digit(f) for f in first]


@pytest.mark.parametrize(("birth", "region"), [(False, False), (False, True)])
def test_id_numbers_of_one_region_and_day_map_one_to_one(birth: bool, region: bool) -> None:
    # the worst case for a unique index: every sequence number of one region and birth day
    inputs = _ids("110105", date(1949, 12, 31))
    out = [ref.id_number(KEY, v, DICTS, birth_shift=birth, region_shift=region,
                         rounds=ROUNDS) for v in inputs]
    assert len(set(out)) == len(out)
    for before, after in zip(inputs, out, strict=True):
        assert id_number_valid(after), after
        assert int(after[16]) % 2 == int(before[16]) % 2  # sex kept
        assert after[6:14] == before[6:14]  # birth kept
        if region:
            assert after[:6] in DICTS.area_codes
        else:
            assert after[:6] == before[:6]
    if region:
        assert len({v[:6] for v in out}) > 100


def test_region_shift_permutes_the_whole_domain_of_a_birth_day() -> None:
    # a small region list, so that regions x sequence numbers can be enumerated in full
    small = dataclasses.replace(DICTS, area_codes=("110101", "110102", "310104"))
    inputs = [v for r in small.area_codes for v in _ids(r, date(1980, 2, 29))]
    out = [ref.id_number(KEY, v, small, birth_shift=False, region_shift=True, rounds=ROUNDS)
           for v in inputs]
    assert sorted(out) == sorted(inputs)  # a permutation of exactly this domain
    assert sum(a[:6] != b[:6] for a, b in zip(inputs, out, strict=True)) > len(out) / 2


def test_birth_shift_stays_in_the_birth_year_without_collisions() -> None:
    inputs = [v for d in range(0, 366, 3)
              for v in _ids("110105", date(2000, 1, 1) + timedelta(days=d))[::7]]
    out = [ref.id_number(KEY, v, DICTS, birth_shift=True, region_shift=True, rounds=ROUNDS)
           for v in inputs]
    assert len(set(out)) == len(out)
    assert all(id_number_valid(v) and v[6:10] == "2000" for v in out)
    assert sum(a[6:14] != b[6:14] for a, b in zip(inputs, out, strict=True)) > len(out) * 0.9


def test_an_unknown_region_is_kept_and_the_id_stays_valid() -> None:
    value = _ids("999999", date(1980, 2, 29))[7]
    out = ref.id_number(KEY, value, DICTS, birth_shift=False, region_shift=True, rounds=ROUNDS)
    assert out[:6] == "999999"
    assert id_number_valid(out)
    assert out != value


def test_a_wrong_check_digit_stays_exactly_as_wrong() -> None:
    good = _ids("110105", date(1949, 12, 31))[2]
    check = ref.ID_CHECK
    for wrong in (c for c in check if c != good[17]):
        value = good[:17] + wrong
        out = ref.id_number(KEY, value, DICTS, birth_shift=False, region_shift=True,
                            rounds=ROUNDS)
        deviation = (check.index(wrong) - check.index(good[17])) % 11
        assert (check.index(out[17]) - check.index(ref.check_char(out[:17]))) % 11 == deviation
        assert not id_number_valid(out)


def test_an_impossible_birth_date_is_kept_so_the_id_stays_invalid() -> None:
    value = "11010519491331002X"  # month 13
    out = ref.id_number(KEY, value, DICTS, birth_shift=True, region_shift=True, rounds=ROUNDS)
    assert out[6:14] == "19491331"
    assert out != value
    assert not id_number_valid(out)


@pytest.mark.parametrize("value", ["1101051949123100", "110105-1949", "11010519491231002x",
                                   "", "abc"])
def test_malformed_ids_keep_their_shape(value: str) -> None:
    out = ref.id_number(KEY, value, DICTS, birth_shift=True, region_shift=True, rounds=ROUNDS)
    assert len(out) == len(value)
    assert re.sub("[0-9]", "#", out) == re.sub("[0-9]", "#", value)
    assert not id_number_valid(out) or id_number_valid(value)


def test_digits_in_place_is_a_bijection_per_skeleton() -> None:
    inputs = [f"{n // 1000}-{n // 100 % 10}{n // 10 % 10}/{n % 10}" for n in range(10_000)]
    out = [ref.digits(KEY, "x", v, ROUNDS) for v in inputs]
    assert len(set(out)) == len(out)
    assert all(re.fullmatch(r"[0-9]-[0-9]{2}/[0-9]", v) for v in out)
    long = "1" * 40  # more than one 18-digit chunk
    assert len(ref.digits(KEY, "x", long, ROUNDS)) == 40


def test_phones_keep_a_real_prefix_and_do_not_collide() -> None:
    rng = random.Random(2)  # noqa: S311 - test data
    inputs = {f"{rng.choice(DICTS.phone_prefixes)}{rng.randrange(10**8):08d}"
              for _ in range(20_000)}
    out = [ref.phone(KEY, v, DICTS, rounds=ROUNDS) for v in inputs]
    assert len(set(out)) == len(inputs)
    assert all(len(v) == 11 and v[:3] in DICTS.phone_prefixes for v in out)
    assert len({v[:3] for v in out}) == len(DICTS.phone_prefixes)


def test_unknown_prefixes_and_other_phones_stay_in_their_class() -> None:
    out = [ref.phone(KEY, f"120{n:08d}", DICTS, rounds=ROUNDS) for n in range(0, 10**8, 9973)]
    assert len(set(out)) == len(out)
    assert all(v.startswith("120") for v in out)
    landline = ref.phone(KEY, "010-62345678", DICTS, rounds=ROUNDS)
    assert re.fullmatch(r"[0-9]{3}-[0-9]{8}", landline)
    assert landline != "010-62345678"


def test_names_are_plausible_and_deterministic() -> None:
    surnames = set(DICTS.surnames)
    names = [ref.name(KEY, f"病人{i}", DICTS) for i in range(2000)]
    for name in names:
        given = name[2:] if name[:2] in surnames else name[1:]
        assert (name[:2] in surnames or name[:1] in surnames)
        assert 1 <= len(given) <= 2
    assert names == [ref.name(KEY, f"病人{i}", DICTS) for i in range(2000)]
    assert names != [ref.name(OTHER, f"病人{i}", DICTS) for i in range(2000)]
    # weighted surnames: the commonest surnames are common among pseudonyms too
    assert sum(n[0] in "王李张" for n in names) > 2000 * 0.1


def test_addresses_are_plausible() -> None:
    address = ref.address(KEY, "北京市朝阳区", DICTS)
    assert re.fullmatch(r".+(省|市|区)?.+市.+区.+(路|街)[0-9]{1,3}号", address), address


def test_date_offsets_are_never_zero_and_within_range() -> None:
    seen = {ref.date_offset(KEY, str(i), 30) for i in range(5000)}
    assert seen == set(range(-30, 0)) | set(range(1, 31))
    assert ref.date_offset(KEY, "42", 30) == ref.date_offset(KEY, "42", 30)


def test_the_region_lookup_table_is_perfect() -> None:
    disp, slot_code, slot_idx = perfect_hash(DICTS.area_codes)
    for index, code in enumerate(DICTS.area_codes):
        k = int(code)
        slot = (k + disp[k % len(disp)]) % len(slot_code)
        assert (slot_code[slot], slot_idx[slot]) == (k, index)
    k = 999999
    assert slot_code[(k + disp[k % len(disp)]) % len(slot_code)] != k


def test_keys_are_derived_and_fingerprinted_without_revealing_them() -> None:
    secret = "unit-test-key-0123456789"
    assert len(KEY) == 32
    assert secret.encode() not in KEY
    assert ref.key_id(KEY) != ref.key_id(OTHER)
    assert secret not in ref.key_id(KEY)
    assert KEY.hex()[:12] != ref.key_id(KEY)
