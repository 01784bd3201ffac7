"""The service calendar: when the contract's *working days* run.

The contract gives some limits in working days (database level 4: "a solution within 1
working day"). One working day is one day's worth of working time: found on Friday at 10:00,
due on Monday at 10:00; found on Saturday at 03:00, due on Monday at 17:30. By default the
week is Monday-Friday, 08:00-17:30 in Asia/Shanghai; a YAML file (``$HISOPS_CALENDAR``, else
``$HISOPS_HOME/calendar.yml`` when it exists) changes the hours, the zone, and lists holidays
and the weekend days worked instead (调休). Hour limits never use this: they are wall-clock.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hisops import paths
from hisops.errors import InputError
from hisops.yamlfile import YamlDocument, load_yaml

log = logging.getLogger(__name__)

CALENDAR_ENV = "HISOPS_CALENDAR"
DEFAULT_TIMEZONE = "Asia/Shanghai"
DEFAULT_HOURS = (time(8, 0), time(17, 30))
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_MAX_SCAN_DAYS = 3 * 366  # a calendar without a working day in 3 years is a mistake
Fail = Callable[..., InputError]
_KEYS = {"timezone", "hours", "weekdays", "holidays", "working_days"}


@dataclass(frozen=True)
class WorkCalendar:
    """Working days and hours in one time zone; holidays and worked weekend days override."""

    timezone: str = DEFAULT_TIMEZONE
    start: time = DEFAULT_HOURS[0]
    end: time = DEFAULT_HOURS[1]
    weekdays: frozenset[int] = frozenset(range(5))  # date.weekday(): Monday is 0
    holidays: frozenset[date] = frozenset()
    working_days: frozenset[date] = frozenset()  # weekend days worked instead (调休)
    source: str = "default"
    tz: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "tz", ZoneInfo(self.timezone))
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {self.timezone!r}") from None
        if self.start >= self.end:
            raise ValueError(f"working hours must end after they start: {self.start}-{self.end}")
        if not self.weekdays and not self.working_days:
            raise ValueError("a calendar needs at least one working weekday")

    @property
    def day_length(self) -> timedelta:
        return datetime.combine(date.min, self.end) - datetime.combine(date.min, self.start)

    def is_working_day(self, day: date) -> bool:
        if day in self.working_days:
            return True
        return day.weekday() in self.weekdays and day not in self.holidays

    def local(self, when: datetime) -> datetime:
        return when.astimezone(self.tz)

    def add_working_time(self, start: datetime, span: timedelta) -> datetime:
        """The moment ``span`` of working time after ``start`` (UTC); time off does not count."""
        if start.tzinfo is None:
            raise ValueError(f"{start} has no time zone")
        now = start.astimezone(self.tz)
        remaining = span
        day = now.date()
        for _ in range(_MAX_SCAN_DAYS):
            if self.is_working_day(day):
                opens = datetime.combine(day, self.start, tzinfo=self.tz)
                closes = datetime.combine(day, self.end, tzinfo=self.tz)
                now = max(now, opens)
                if now < closes:
                    if remaining <= closes - now:
                        return (now + remaining).astimezone(UTC)
                    remaining -= closes - now
            day += timedelta(days=1)
            now = datetime.combine(day, time(0), tzinfo=self.tz)
        raise ValueError(f"calendar {self.source}: no working time within {_MAX_SCAN_DAYS} "
                         f"days of {start.isoformat()}")

    def add_working_days(self, start: datetime, days: int) -> datetime:
        return self.add_working_time(start, self.day_length * days)

    def describe(self) -> str:
        names = ",".join(WEEKDAYS[d] for d in sorted(self.weekdays))
        return (f"{names} {self.start:%H:%M}-{self.end:%H:%M} {self.timezone}, "
                f"{len(self.holidays)} holidays, {len(self.working_days)} extra working days "
                f"({self.source})")


def load_calendar(path: Path | str | None = None) -> WorkCalendar:
    """The calendar from ``path``, else ``$HISOPS_CALENDAR``, else ``$HISOPS_HOME/calendar.yml``
    when it exists, else the default (Monday-Friday 08:00-17:30 Asia/Shanghai)."""
    if path is None:
        env = os.environ.get(CALENDAR_ENV)
        if env:
            path = env
        else:
            candidate = paths.hisops_home() / "calendar.yml"
            if not candidate.exists():
                return WorkCalendar()
            path = candidate
    return _from_document(load_yaml(Path(path)))


def _from_document(doc: YamlDocument) -> WorkCalendar:
    data = doc.data if doc.data is not None else {}

    def fail(message: str, *loc: str | int) -> InputError:
        return InputError(message, file=doc.path, line=doc.line_of(tuple(loc)),
                          field=".".join(str(p) for p in loc) or None)

    if not isinstance(data, dict):
        raise fail("a calendar is a mapping (timezone, hours, weekdays, holidays, working_days)")
    for key in data:
        if key not in _KEYS:
            raise fail(f"unknown key (known: {', '.join(sorted(_KEYS))})", str(key))
    kwargs: dict[str, Any] = {"source": doc.path}
    if "timezone" in data:
        kwargs["timezone"] = data["timezone"]
        if not isinstance(data["timezone"], str):
            raise fail("a time zone name such as Asia/Shanghai", "timezone")
    if "hours" in data:
        kwargs["start"], kwargs["end"] = _hours(data["hours"], fail)
    if "weekdays" in data:
        kwargs["weekdays"] = _weekdays(data["weekdays"], fail)
    for key in ("holidays", "working_days"):
        if key in data:
            kwargs[key] = _dates(data[key], key, fail)
    try:
        calendar = WorkCalendar(**kwargs)
    except ValueError as exc:
        raise fail(str(exc)) from None
    log.debug("calendar: %s", calendar.describe())
    return calendar


def _hours(value: object, fail: Fail) -> tuple[time, time]:
    text = value if isinstance(value, str) else ""
    parts = text.split("-")
    bad = fail(f"hours must be HH:MM-HH:MM such as 08:00-17:30, not {value!r}", "hours")
    if len(parts) != 2:
        raise bad
    try:
        start, end = (time.fromisoformat(p.strip()) for p in parts)
    except ValueError:
        raise bad from None
    if start >= end:
        raise fail(f"working hours must end after they start: {value!r}", "hours")
    return start, end


def _weekdays(value: object, fail: Fail) -> frozenset[int]:
    if not isinstance(value, list) or not value:
        raise fail(f"a non-empty list of {', '.join(WEEKDAYS)}", "weekdays")
    out = set()
    for index, item in enumerate(value):
        name = str(item).strip().lower()[:3]
        if not isinstance(item, str) or name not in WEEKDAYS:
            raise fail(f"not a weekday: {item!r} (use {', '.join(WEEKDAYS)})", "weekdays", index)
        out.add(WEEKDAYS.index(name))
    return frozenset(out)


def _dates(value: object, key: str, fail: Fail) -> frozenset[date]:
    """Dates as YYYY-MM-DD, or inclusive ranges YYYY-MM-DD..YYYY-MM-DD (a holiday week)."""
    if not isinstance(value, list):
        raise fail("a list of dates YYYY-MM-DD or ranges YYYY-MM-DD..YYYY-MM-DD", key)
    out: set[date] = set()
    for index, item in enumerate(value):
        text = str(item).strip()
        first, _, last = text.partition("..")
        try:
            start = date.fromisoformat(first)
            end = date.fromisoformat(last) if last else start
        except ValueError:
            raise fail(f"not a date or date range: {item!r}", key, index) from None
        if end < start or (end - start).days > 366:
            raise fail(f"a range runs forward and within a year: {item!r}", key, index)
        out.update(start + timedelta(days=n) for n in range((end - start).days + 1))
    return frozenset(out)
