"""The level-1 incident clock an emergency restore plan is judged against."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from hisops.errors import InputError
from hisops.recovery import incident_clock, render_clock
from hisops.severity import LEVELS

CST = timezone(timedelta(hours=8))
STARTED = datetime(2026, 11, 26, 3, 0, tzinfo=CST)
NOW = datetime(2026, 11, 26, 3, 20, tzinfo=CST)


def test_level_one_deadlines_from_the_incident_start() -> None:
    clock = incident_clock(STARTED, NOW, eta_s=2 * 3600)
    by_name = {d.name: d for d in clock.deadlines}
    assert list(by_name) == ["respond", "solution", "resolve"]
    assert by_name["respond"].due == STARTED
    assert by_name["solution"].due == datetime(2026, 11, 26, 4, 0, tzinfo=CST)
    assert by_name["resolve"].due == datetime(2026, 11, 26, 9, 0, tzinfo=CST)
    assert by_name["solution"].left == timedelta(minutes=40)
    assert by_name["resolve"].left == timedelta(hours=5, minutes=40)
    assert by_name["respond"].left == timedelta(minutes=-20)


def test_two_hour_plan_meets_resolve_but_not_solution() -> None:
    clock = incident_clock(STARTED, NOW, eta_s=2 * 3600)
    met = {d.name: d.met_by_plan for d in clock.deadlines}
    # respond is "at once": 20 minutes after the start is late, as the problem list counts it
    assert met == {"respond": False, "solution": False, "resolve": True}
    assert clock.plan_end == datetime(2026, 11, 26, 5, 20, tzinfo=CST)
    assert clock.spare == timedelta(hours=3, minutes=40)
    text = render_clock(clock)
    assert "time the plan leaves before resolve: 3 h 40 min" in text
    assert "solution (1 h) due 2026-11-26 04:00 UTC+08:00: 40 min left; PLAN MISSES IT" in text
    assert "respond  (at once) due 2026-11-26 03:00 UTC+08:00: passed 20 min ago; LATE" in text


def test_plan_that_misses_the_six_hour_resolve_deadline() -> None:
    clock = incident_clock(STARTED, NOW, eta_s=6 * 3600)
    resolve = clock.deadline("resolve")
    assert resolve is not None
    assert resolve.met_by_plan is False
    assert clock.spare == timedelta(minutes=-20)
    assert "the plan ends 20 min AFTER the resolve deadline" in render_clock(clock)


def test_plan_ending_exactly_at_the_deadline_meets_it() -> None:
    now = datetime(2026, 11, 26, 8, 0, tzinfo=CST)
    clock = incident_clock(STARTED, now, eta_s=3600)
    resolve = clock.deadline("resolve")
    assert resolve is not None
    assert resolve.met_by_plan is True
    assert clock.spare == timedelta(0)


def test_deadlines_already_passed_show_as_passed() -> None:
    now = datetime(2026, 11, 26, 10, 0, tzinfo=CST)
    text = render_clock(incident_clock(STARTED, now, eta_s=600))
    assert "resolve  (6 h) due 2026-11-26 09:00" in text
    assert "passed 1 h 00 min ago" in text


def test_without_an_eta_deadlines_are_shown_but_not_judged() -> None:
    clock = incident_clock(STARTED, NOW, eta_s=None)
    assert {d.name: d.met_by_plan for d in clock.deadlines} == {
        "respond": False, "solution": None, "resolve": None}
    assert clock.spare is None
    assert "plan ETA: unknown" in render_clock(clock)


def test_other_levels_use_their_own_limits() -> None:
    clock = incident_clock(STARTED, NOW, eta_s=60, level=LEVELS[2])
    resolve = clock.deadline("resolve")
    assert resolve is not None
    assert resolve.due == STARTED + timedelta(hours=12)


def test_incident_in_the_future_or_naive_times_are_refused() -> None:
    with pytest.raises(InputError, match="future"):
        incident_clock(NOW + timedelta(minutes=1), NOW, eta_s=60)
    with pytest.raises(InputError, match="UTC offset"):
        incident_clock(datetime(2026, 11, 26, 3, 0), NOW, eta_s=60)
