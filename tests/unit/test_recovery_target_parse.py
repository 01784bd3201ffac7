"""The recovery target as an operator types it (``-e target=...``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from hisops.errors import ExitStatus, InputError
from hisops.recovery import parse_target

CST = timezone(timedelta(hours=8))


@pytest.mark.parametrize("text", ["latest", "", "  latest  "])
def test_latest_and_empty_mean_the_end_of_archived_wal(text: str) -> None:
    target = parse_target(text)
    assert target.kind == "latest"
    assert target.value == ""


def test_bare_iso_time_with_offset_is_a_time_target() -> None:
    target = parse_target("2026-11-27 03:10:00+00:00")
    assert (target.kind, target.value) == ("time", "2026-11-27 03:10:00+00:00")
    assert target.at() == datetime(2026, 11, 27, 3, 10, tzinfo=UTC)


def test_prefixed_time_keeps_its_own_offset() -> None:
    target = parse_target("time:2026-11-27T03:10:00+08:00")
    assert (target.kind, target.value) == ("time", "2026-11-27T03:10:00+08:00")
    assert target.at() == datetime(2026, 11, 27, 3, 10, tzinfo=CST)
    assert target.at() == datetime(2026, 11, 26, 19, 10, tzinfo=UTC)


def test_name_prefix_is_a_restore_point() -> None:
    target = parse_target("name:before_upgrade")
    assert (target.kind, target.value) == ("name", "before_upgrade")
    assert target.describe() == "name before_upgrade"


def test_xid_prefix_is_a_transaction() -> None:
    target = parse_target("xid:759")
    assert (target.kind, target.value) == ("xid", "759")


def test_time_hint_is_carried_over() -> None:
    hint = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
    assert parse_target("name:before_upgrade", time_hint=hint).time_hint == hint


@pytest.mark.parametrize("text", [
    "xid:abc", "xid:", "name:", "name:   ", "time:", "2026-11-27 03:10:00",
    "time:2026-11-27T03:10:00", "2026-13-40 03:10:00+00:00", "yesterday",
])
def test_unusable_target_is_input_error_on_field_target_exit_2(text: str) -> None:
    with pytest.raises(InputError) as info:
        parse_target(text)
    assert info.value.field == "target"
    assert info.value.exit_status == ExitStatus.BAD_INPUT == 2
    assert "\n" not in info.value.one_line()


def test_time_without_offset_says_to_write_one() -> None:
    with pytest.raises(InputError, match="has no UTC offset"):
        parse_target("2026-11-27 03:10:00")


def test_naive_time_hint_is_refused_on_its_own_field() -> None:
    with pytest.raises(InputError) as info:
        parse_target("xid:759", time_hint=datetime(2026, 11, 27, 2, 0))
    assert info.value.field == "time_hint"
