"""ETA from earlier restore drills' evidence, and the data-loss window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hisops.recovery import data_loss_window, drill_timings, estimate

GB = 1_000_000_000


def drill(label: str, size: int | None, restore_s: float, recovery_s: float = 20.0,
          checks_s: float = 30.0, passed: bool = True) -> dict[str, Any]:
    """Evidence as hisops.engines.postgres.drill_evidence journals it."""
    backup: dict[str, Any] = {"label": label, "kind": "full"}
    if size is not None:
        backup["database_bytes"] = size
    return {"engine": "postgresql", "database": "his", "backup": backup,
            "restore_s": restore_s, "recovery_s": recovery_s, "checks_s": checks_s,
            "rto_s": restore_s + recovery_s + checks_s, "passed": passed}


def test_no_drill_gives_no_eta_and_says_why() -> None:
    eta = estimate(50 * GB, drill_timings([]))
    assert eta.seconds is None
    assert eta.drills == 0
    assert "no passed restore drill" in eta.reason


def test_failed_or_sizeless_drills_do_not_make_an_eta() -> None:
    drills = [drill("a", 10 * GB, 100, passed=False), drill("b", None, 100)]
    eta = estimate(50 * GB, drill_timings(drills))
    assert eta.seconds is None


def test_one_drill_scales_its_throughput_to_the_size() -> None:
    eta = estimate(50 * GB, drill_timings([drill("a", 10 * GB, 100, 20, 30)]))
    assert eta.throughput == pytest.approx(100e6)
    assert eta.restore_s == pytest.approx(500)
    assert eta.seconds == pytest.approx(500 + 20 + 30)
    assert eta.drills == 1
    assert "single drill" in eta.reason


def test_three_drills_use_the_median_throughput() -> None:
    drills = [drill("a", 10 * GB, 100, recovery_s=10, checks_s=40),   # 100 MB/s
              drill("b", 10 * GB, 200, recovery_s=30, checks_s=60),   # 50 MB/s, a busy host
              drill("c", 20 * GB, 100, recovery_s=20, checks_s=50)]   # 200 MB/s
    eta = estimate(50 * GB, drill_timings(drills))
    assert eta.drills == 3
    assert eta.throughput == pytest.approx(100e6)
    assert (eta.recovery_s, eta.checks_s) == (20, 50)
    assert eta.seconds == pytest.approx(500 + 20 + 50)
    assert "100.0 MB/s" in eta.reason
    assert "single" not in eta.reason


def test_size_comes_from_the_backup_evidence_when_the_drill_lacks_it() -> None:
    backups = [{"label": "20261124-010000F", "database_bytes": 30 * GB}]
    timings = drill_timings([drill("20261124-010000F", None, 300)], backups)
    assert timings[0].database_bytes == 30 * GB
    assert estimate(60 * GB, timings).restore_s == pytest.approx(600)


def test_data_loss_window_runs_from_last_replayed_commit_to_the_incident() -> None:
    incident = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
    assert data_loss_window(incident, incident - timedelta(seconds=90)) == timedelta(
        seconds=90)
    assert data_loss_window(incident, incident + timedelta(seconds=5)) == timedelta(0)
    assert data_loss_window(incident, None) is None
    with pytest.raises(ValueError, match="UTC offset"):
        data_loss_window(datetime(2026, 11, 26, 3, 0), incident)


def test_without_an_earlier_emergency_restore_the_other_steps_are_said_to_be_missing() -> None:
    eta = estimate(50 * GB, drill_timings([drill("a", 10 * GB, 100, 20, 30)]))
    assert eta.procedure_s is None
    assert eta.seconds == pytest.approx(550)
    assert "other steps (stop, set aside, open, standby rebuild) are not included" in eta.reason


def test_the_other_steps_add_the_median_of_earlier_emergency_restores() -> None:
    runs = (x for x in [40.0, 400.0, 60.0])  # a generator: read once, counted right
    eta = estimate(50 * GB, drill_timings([drill("a", 10 * GB, 100, 20, 30)]), runs)
    assert eta.procedure_s == pytest.approx(60)
    assert eta.seconds == pytest.approx(550 + 60)
    assert "median of 3 earlier emergency restore(s)" in eta.reason
