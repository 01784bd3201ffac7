"""What PostgreSQL's log says a recovery did (fixture: a real PostgreSQL 15.18 point-in-time
recovery recorded on the lab, tests/fixtures/postgres/pitr_recovery_15.log)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hisops.recovery.pglog import recovery_facts

FIXTURE = (Path(__file__).resolve().parent.parent / "fixtures" / "postgres"
           / "pitr_recovery_15.log")
PREFIX = "2026-11-27 02:27:30.352 UTC [507] LOG:  "
NOTHING = {"stopped_at": None, "stopped_xid": None, "stopped_how": None,
           "last_transaction_at": None, "timeline": None, "redo_done_at": None,
           "restore_point": None}


def log(*messages: str) -> str:
    return "".join(f"{PREFIX}{m}\n" for m in messages)


def test_real_pitr_log_gives_stop_point_last_transaction_timeline_and_redo_end() -> None:
    facts = recovery_facts(FIXTURE.read_text())
    assert facts == {
        "stopped_at": "2026-11-27 02:26:55.530845+00",
        "stopped_xid": 759,
        "stopped_how": "before commit",
        "last_transaction_at": "2026-11-27 02:26:51.287002+00",
        "timeline": 2,
        "redo_done_at": "0/9001AB8",
        "restore_point": None,
    }


def test_real_log_target_time_is_not_taken_for_the_stop_point() -> None:
    # "starting point-in-time recovery to 02:26:53" is what was asked, not where replay stopped
    facts = recovery_facts(FIXTURE.read_text())
    assert facts["stopped_at"] != "2026-11-27 02:26:53.383071+00"
    assert "02:26:53" not in str(facts)


def test_restore_point_stop_names_the_point_and_its_time_without_an_xid() -> None:
    facts = recovery_facts(log(
        'recovery stopping at restore point "before_upgrade", time 2026-11-27 02:26:55.530845+00',
        "redo done at 0/9001AB8 system usage: CPU: user: 0.00 s",
        "last completed transaction was at log time 2026-11-27 02:26:51.287002+00",
        "selected new timeline ID: 3"))
    assert facts["restore_point"] == "before_upgrade"
    assert facts["stopped_at"] == "2026-11-27 02:26:55.530845+00"
    assert facts["stopped_xid"] is None
    assert facts["last_transaction_at"] == "2026-11-27 02:26:51.287002+00"
    assert facts["timeline"] == 3


def test_inclusive_target_stops_after_the_commit_and_keeps_its_xid() -> None:
    # recovery_target_inclusive = on: the target transaction itself is replayed
    facts = recovery_facts(log(
        "recovery stopping after commit of transaction 759, time 2026-11-27 02:26:55.530845+00",
        "last completed transaction was at log time 2026-11-27 02:26:55.530845+00",
        "selected new timeline ID: 2"))
    assert facts["stopped_xid"] == 759
    assert facts["stopped_at"] == "2026-11-27 02:26:55.530845+00"
    assert facts["last_transaction_at"] == facts["stopped_at"]
    assert facts["restore_point"] is None


def test_stop_at_an_aborted_transaction_is_a_stop_point_too() -> None:
    facts = recovery_facts(log(
        "recovery stopping before abort of transaction 812, time 2026-11-27 02:30:01.000001+00"))
    assert facts["stopped_xid"] == 812
    assert facts["stopped_at"] == "2026-11-27 02:30:01.000001+00"
    assert facts["last_transaction_at"] is None


def test_log_of_a_plain_start_without_recovery_reports_nothing() -> None:
    text = (
        "2026-11-27 02:20:00.001 UTC [100] LOG:  starting PostgreSQL 15.18 on x86_64\n"
        "2026-11-27 02:20:00.002 UTC [100] LOG:  listening on IPv4 address \"0.0.0.0\"\n"
        "2026-11-27 02:20:00.010 UTC [103] LOG:  database system was shut down at "
        "2026-11-27 02:19:58 UTC\n"
        "2026-11-27 02:20:00.020 UTC [100] LOG:  database system is ready to accept "
        "connections\n")
    assert recovery_facts(text) == NOTHING


def test_log_timezone_other_than_utc_keeps_the_offset_as_written() -> None:
    facts = recovery_facts(
        "2026-11-27 10:27:30.352 CST [507] LOG:  recovery stopping before commit of transaction "
        "759, time 2026-11-27 10:26:55.530845+08\n"
        "2026-11-27 10:27:30.352 CST [507] LOG:  last completed transaction was at log time "
        "2026-11-27 10:26:51.287002+08\n")
    assert facts["stopped_at"] == "2026-11-27 10:26:55.530845+08"
    assert facts["last_transaction_at"] == "2026-11-27 10:26:51.287002+08"
    assert facts["stopped_xid"] == 759


def test_half_hour_offset_is_kept_whole() -> None:
    facts = recovery_facts(log(
        "last completed transaction was at log time 2026-11-27 07:56:51.287002+05:30"))
    assert facts["last_transaction_at"] == "2026-11-27 07:56:51.287002+05:30"


def test_the_last_recovery_in_a_log_wins() -> None:
    # a recovery restarted after an interruption logs its stop point again
    facts = recovery_facts(log(
        "recovery stopping before commit of transaction 700, time 2026-11-27 02:00:00.1+00",
        "selected new timeline ID: 2",
        "recovery stopping before commit of transaction 759, time 2026-11-27 02:26:55.5+00",
        "selected new timeline ID: 3"))
    assert facts["stopped_xid"] == 759
    assert facts["stopped_at"] == "2026-11-27 02:26:55.5+00"
    assert facts["timeline"] == 3


@pytest.mark.parametrize("garbage", [
    "", "\x00\x01\xff", "recovery stopping before commit of transaction abc, time never",
    "selected new timeline ID: two", "redo done at nowhere",
    "last completed transaction was at log time yesterday", None, 12345,
])
def test_garbage_gives_every_fact_none(garbage: object) -> None:
    assert recovery_facts(garbage) == NOTHING  # type: ignore[arg-type]
