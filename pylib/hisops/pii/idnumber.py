"""GB 11643-1999 resident identity numbers: the check character in Python and as SQL.

Both forms exist on purpose: the scan must judge values inside the database (so they never
leave it), and the Python form is the reference the SQL form is tested against.
"""

from __future__ import annotations

import re
from datetime import date

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)  # 2**(17-i) mod 11
CHECK_CHARS = "10X98765432"  # indexed by (weighted sum mod 11)
EARLIEST_BIRTH_YEAR = 1900  # older birth dates are not plausible for a living patient
_SHAPE = re.compile(r"[0-9]{17}[0-9Xx]")


def check_char(first17: str) -> str:
    """The check character (0-9 or X) of the first 17 digits."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError(f"need 17 digits (ASCII), got {first17!r}")
    total = sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARS[total % 11]


def is_valid(number: str, *, today: date | None = None) -> bool:
    """True for 18 characters with a correct check character and a plausible birth date."""
    if not _SHAPE.fullmatch(number):
        return False
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    if born.year < EARLIEST_BIRTH_YEAR or born > (today or date.today()):
        return False
    return check_char(number[:17]) == number[17].upper()


def sql_function_body() -> str:
    """The body of ``pg_temp.hisops_id_valid(text)``, mirroring :func:`is_valid`.

    One SQL expression without FROM, so the planner can inline it. CASE guards the casts: they
    only run once the shape is known to be digits (no error can abort the scan). The date test
    avoids ``to_date``, which raises on 20230230 instead of answering false.
    """
    weighted = " + ".join(f"substr($1, {i + 1}, 1)::int * {w}" for i, w in enumerate(WEIGHTS))
    year, month, day = "substr($1, 7, 4)::int", "substr($1, 11, 2)::int", "substr($1, 13, 2)::int"
    # built only from this module's constants: no outside text reaches the SQL
    return f"""
SELECT CASE
  WHEN $1 IS NULL OR $1 !~ '^[0-9]{{17}}[0-9Xx]$' THEN false
  WHEN {year} < {EARLIEST_BIRTH_YEAR} OR {month} NOT BETWEEN 1 AND 12 THEN false
  WHEN {day} < 1 OR {day} > extract(day FROM make_date({year}, {month}, 1)
                                         + interval '1 month - 1 day')::int THEN false
  WHEN make_date({year}, {month}, {day}) > current_date THEN false
  ELSE substr('{CHECK_CHARS}', ({weighted}) % 11 + 1, 1) = upper(substr($1, 18, 1))
END"""  # noqa: S608


CREATE_SQL = (
    "CREATE OR REPLACE FUNCTION pg_temp.hisops_id_valid(text) RETURNS boolean"
    " LANGUAGE sql STABLE PARALLEL SAFE AS $hisops$" + sql_function_body() + "\n$hisops$"
)
