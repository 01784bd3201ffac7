"""A data correction as the task receives it: the ``sql`` step's fields, rendered by the
planner, parsed and checked here (a bad value is an input error at plan time, exit 2)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hisops.datafix.sqltext import Parsed, Place, SqlTextError, check_sql
from hisops.tasks import BadArgument

# a data correction touches a handful of rows: beyond this it is a migration, reviewed and
# run as one, not a datafix (and the before-images would be a table copy)
MAX_ROWS_PER_TARGET = 10_000
_RANGE = re.compile(r"^\s*(\d+)\s*(?:\.\.\s*(\d+)\s*)?$")


@dataclass(frozen=True)
class RowRange:
    low: int
    high: int

    def holds(self, count: int) -> bool:
        return self.low <= count <= self.high

    def __str__(self) -> str:
        return str(self.low) if self.low == self.high else f"{self.low}..{self.high}"


def row_range(arg: str, value: Any) -> RowRange:
    """3, "3", "0..50" (a template has been rendered to one of these by now)."""
    if isinstance(value, bool):
        raise BadArgument(arg, f"a row count or MIN..MAX, not {value!r}")
    if isinstance(value, int):
        low = high = value
    else:
        m = _RANGE.match(str(value))
        if not m:
            raise BadArgument(arg, f"a row count or MIN..MAX, not {value!r}")
        low = int(m.group(1))
        high = int(m.group(2)) if m.group(2) is not None else low
    if low < 0 or high < low:
        raise BadArgument(arg, f"{value!r} is not a range of row counts")
    if high > MAX_ROWS_PER_TARGET:
        raise BadArgument(arg, f"{value!r}: a datafix changes at most {MAX_ROWS_PER_TARGET} "
                               "rows per table (larger changes are migrations)")
    return RowRange(low, high)


@dataclass(frozen=True)
class Target:
    table: str  # schema.table
    key: tuple[str, ...]
    where: Parsed
    bound: RowRange

    def key_of(self, image: Mapping[str, Any]) -> dict[str, Any]:
        """The key of a row image of this table."""
        return {k: image[k] for k in self.key}


@dataclass(frozen=True)
class Verify:
    name: str
    parsed: Parsed
    rows: RowRange | None
    value: str | None


@dataclass(frozen=True)
class FixSpec:
    database: str
    targets: tuple[Target, ...]
    fix: tuple[tuple[str, Parsed], ...]  # (text as written, parsed)
    verify: tuple[Verify, ...]
    untracked: tuple[str, ...]
    lock_timeout_s: int
    statement_timeout_s: int
    sample: int
    pii_policy: str | None
    binds: dict[str, Any]
    planned_rows: dict[str, list[int]]  # host -> rows per target seen when planning

    def tables(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t.table for t in self.targets))


def _parse(arg: str, text: Any, place: Place) -> Parsed:
    if not isinstance(text, str) or not text.strip():
        raise BadArgument(arg, "SQL text expected")
    try:
        return check_sql(text, place)
    except SqlTextError as exc:
        raise BadArgument(arg, str(exc)) from None


def parse_spec(args: Mapping[str, Any]) -> FixSpec:
    targets = []
    seen_tables: set[str] = set()
    for i, raw in enumerate(args.get("find") or []):
        where = _parse(f"find[{i}].where", raw.get("where"), "where")
        table = str(raw["table"])
        if table in seen_tables:
            raise BadArgument(f"find[{i}].table", f"{table} is found twice: one find entry "
                              "per table (combine the conditions with OR)")
        seen_tables.add(table)
        targets.append(Target(table=table, key=tuple(raw["key"]), where=where,
                              bound=row_range(f"find[{i}].expect_rows", raw.get("expect_rows"))))
    if not targets:
        raise BadArgument("find", "at least one table to find rows in")
    fix = tuple((str(t).strip(), _parse(f"fix[{i}]", t, "fix"))
                for i, t in enumerate(args.get("fix") or []))
    if not fix:
        raise BadArgument("fix", "at least one statement")
    verify = []
    for i, raw in enumerate(args.get("verify") or []):
        parsed = _parse(f"verify[{i}].sql", raw.get("sql"), "verify")
        rows = raw.get("expect_rows")
        value = raw.get("expect_value")
        verify.append(Verify(
            name=str(raw.get("name") or f"verify {i + 1}"), parsed=parsed,
            rows=None if rows is None else row_range(f"verify[{i}].expect_rows", rows),
            value=None if value is None else as_text(value)))
    binds = dict(args.get("binds") or {})
    used = {b for t in targets for b in t.where.binds} | {b for _, p in fix for b in p.binds} \
        | {b for v in verify for b in v.parsed.binds}
    missing = sorted(used - set(binds))
    if missing:
        raise BadArgument("binds", f"no value for :{', :'.join(missing)}")
    engine = str(args.get("engine", "postgres"))
    if engine != "postgres":
        raise BadArgument("engine", f"datafix on {engine} is not available yet: the "
                          "PostgreSQL engine is the only one implemented and tested")
    planned = args.get("planned_rows") or {}
    return FixSpec(
        database=str(args.get("database", "his")), targets=tuple(targets),
        fix=fix, verify=tuple(verify), untracked=tuple(args.get("untracked_tables") or ()),
        lock_timeout_s=int(args.get("lock_timeout_s", 5)),
        statement_timeout_s=int(args.get("statement_timeout_s", 60)),
        sample=int(args.get("sample", 5)), pii_policy=args.get("pii_policy"), binds=binds,
        planned_rows={str(h): [int(n) for n in counts] for h, counts in planned.items()})


def as_text(value: Any) -> str:
    """A value as verify compares it: SQL's spelling of booleans, str() of the rest."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def validate(args: Mapping[str, Any]) -> None:
    parse_spec(args)
