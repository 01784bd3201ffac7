"""PostgreSQL parameter values understood the way the server understands them.

``128MB`` equals ``131072kB`` equals ``shared_buffers = 16384`` (in 8kB pages); ``1min`` equals
``60s``; ``on``, ``true``, ``yes`` and ``1`` are one boolean. Rules from the PostgreSQL manual,
"Parameter Names and Values" (19.1.1): memory units B, kB, MB, GB, TB (multiplier 1024), time
units us, ms, s, min, h, d; a number without a unit is in the parameter's own unit.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

MEMORY = {"B": 1, "kB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}
TIME = {"us": Decimal("0.001"), "ms": Decimal(1), "s": Decimal(1000), "min": Decimal(60000),
        "h": Decimal(3600000), "d": Decimal(86400000)}
_NUMBER_UNIT = re.compile(r"^\s*(-?[0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*$")
_TRUE = {"on", "true", "yes", "1", "t", "y"}
_FALSE = {"off", "false", "no", "0", "f", "n"}


class UnitError(ValueError):
    """A value the parameter's type or unit cannot take."""


def unit_kind(unit: str | None) -> str:
    """'memory', 'time' or '' for a pg_settings unit such as '8kB', 'ms', 's' or None."""
    if not unit:
        return ""
    _, base = _split_unit(unit)
    if base in MEMORY:
        return "memory"
    if base in TIME:
        return "time"
    return ""


def _split_unit(unit: str) -> tuple[Decimal, str]:
    """'8kB' -> (8, 'kB'); 'ms' -> (1, 'ms')."""
    match = re.match(r"^([0-9]*)([A-Za-z]+)$", unit)
    if not match:
        return Decimal(1), unit
    return Decimal(match.group(1) or 1), match.group(2)


def to_base(value: str | int | float, unit: str | None) -> Decimal:
    """A numeric parameter value in base units (bytes for memory, ms for time).

    ``unit`` is the parameter's pg_settings unit: a bare number is in that unit.
    """
    text = str(value)
    match = _NUMBER_UNIT.match(text)
    if not match:
        raise UnitError(f"'{text}' is not a number with an optional unit")
    try:
        number = Decimal(match.group(1))
    except InvalidOperation:
        raise UnitError(f"'{text}' is not a number") from None
    given = match.group(2)
    kind = unit_kind(unit)
    if number == -1 and not given:
        return number  # -1 is "disabled" or "default" for many parameters, in no unit
    if not kind:
        if given:
            raise UnitError(f"'{text}': this parameter takes no unit")
        return number
    table: dict[str, Decimal] = ({k: Decimal(v) for k, v in MEMORY.items()}
                                 if kind == "memory" else TIME)
    if given:
        if given not in table:
            valid = ", ".join(table)
            raise UnitError(f"'{text}': unit '{given}' is not one of {valid}"
                            + (" (units are case-sensitive)" if given.lower() in
                               {u.lower() for u in table} else ""))
        return number * table[given]
    count, base = _split_unit(unit or "")
    return number * count * table[base]


def as_bool(value: str | bool | float) -> bool:
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise UnitError(f"'{value}' is not a boolean (on/off, true/false, yes/no, 1/0)")


def normalise(value: str | int | float | bool, vartype: str, unit: str | None) -> object:
    """A value comparable with another of the same parameter: Decimal, bool or str."""
    if vartype == "bool":
        return as_bool(value if not isinstance(value, bool) else str(value))
    if vartype in ("integer", "real"):
        return to_base(value, unit)
    if vartype == "enum":
        return str(value).strip().lower()
    return str(value)


def pretty(base: Decimal, unit: str | None) -> str:
    """Base units back to the largest exact PostgreSQL unit: 134217728 (memory) -> '128MB'."""
    kind = unit_kind(unit)
    if not kind or base == -1:
        return _plain(base)
    table: dict[str, Decimal] = ({k: Decimal(v) for k, v in MEMORY.items()}
                                 if kind == "memory" else TIME)
    for name, size in sorted(table.items(), key=lambda kv: kv[1], reverse=True):
        if base != 0 and base % size == 0:
            return f"{_plain(base / size)}{name}"
    smallest = min(table.items(), key=lambda kv: kv[1])
    return f"{_plain(base / smallest[1])}{smallest[0]}"


def _plain(number: Decimal) -> str:
    text = format(number.normalize(), "f")
    return text
