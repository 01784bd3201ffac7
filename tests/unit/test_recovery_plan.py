"""The emergency-restore plan shown before anything happens (fixtures:
tests/fixtures/pgbackrest/README.md)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from hisops.errors import InputError
from hisops.recovery import (
    DrillTiming,
    RecoveryTarget,
    RestorePlan,
    StanzaInfo,
    build_plan,
    stanza_info,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "pgbackrest"
F1, D1, I1 = ("20261120-010000F", "20261120-010000F_20261122-010000D",
              "20261120-010000F_20261123-010000I")
F2, I2 = "20261124-010000F", "20261124-010000F_20261125-010000I"
I1_SIZE = 52690272256
I1_DISK = I1_SIZE + I1_SIZE // 10  # chain.disk_needed: size plus 10 %
CST = timezone(timedelta(hours=8))
INCIDENT = datetime(2026, 11, 26, 3, 0, tzinfo=CST)
NOW = datetime(2026, 11, 26, 3, 20, tzinfo=CST)
GB = 1_000_000_000
# 100 MB/s: I1 restores in 526.9 s, plus 20 s recovery and 30 s checks
FAST = [DrillTiming("x", 10 * GB, 100.0, 20.0, 30.0)]


def info(name: str = "info_chain.json") -> StanzaInfo:
    return stanza_info((FIXTURES / name).read_text(), "his")


def plan(**overrides: Any) -> RestorePlan:
    args: dict[str, Any] = {
        "database": "his", "stanza": info(),
        "target": RecoveryTarget("time", "2026-11-23 18:00:00+08:00"),
        "mode": "in-place", "target_host": "pg-primary",
        "standby_hosts": ["pg-standby1", "pg-standby2"], "incident_at": INCIDENT,
        "now": NOW, "drills": FAST, "free_bytes": 200 * GB, "drill": False}
    args.update(overrides)
    return build_plan(**args)


def step_ids(p: RestorePlan) -> list[str]:
    return [s.id for s in p.steps]


# --- the selection in the plan -------------------------------------------------------------------


def test_time_target_plan_restores_the_full_diff_incr_chain_with_set() -> None:
    p = plan()
    assert p.ok
    assert [(b.label, b.type) for b in p.selection.chain] == [
        (F1, "full"), (D1, "diff"), (I1, "incr")]
    assert p.restore_command == (
        "pgbackrest", "--stanza=his", f"--set={I1}", "--type=time",
        "--target=2026-11-23 18:00:00+08:00", "--target-action=promote", "restore")
    [restore] = [s for s in p.steps if s.id == "restore"]
    assert restore.command == p.restore_command
    assert restore.host == "pg-primary"
    d = p.to_dict()
    assert [c["label"] for c in d["chain"]] == [F1, D1, I1]
    assert d["chain"][0]["stopped_at"] == "2026-11-20T01:42:10+00:00"
    assert d["wal"]["start"] == "000000010000000000000012"
    assert d["wal"]["archive_max"] == "00000001000000000000002A"
    assert d["wal"]["segments"] == 0x2A - 0x12 + 1


def test_latest_target_restores_the_newest_set_without_a_target_option() -> None:
    p = plan(target=RecoveryTarget("latest"))
    assert p.selection.backup.label == I2
    assert p.restore_command == (
        "pgbackrest", "--stanza=his", f"--set={I2}", "--type=default", "restore")
    assert not any(arg.startswith("--target") for arg in p.restore_command)


def test_in_place_steps_run_in_order() -> None:
    # the emergency-restore runbook's own step ids: its journal and report use them
    assert step_ids(plan()) == [
        "stop", "set_aside", "restore", "recover", "checks", "open", "standby", "post_checks"]


def test_hosts_touched_are_target_standbys_and_the_repository_read_then_archived() -> None:
    p = plan()
    assert [(h.host, h.role, h.access) for h in p.hosts] == [
        ("pg-primary", "target", "write"),
        ("pg-standby1", "standby", "write"),
        ("pg-standby2", "standby", "write"),
        ("pgBackRest repo1", "repository", "read, then archive")]
    [rebuild] = [s for s in p.steps if s.id == "standby"]
    assert rebuild.host == "pg-standby1, pg-standby2"
    assert "pg-primary" in rebuild.description


# --- in place or on a new host -------------------------------------------------------------------


def test_new_host_fences_the_damaged_primary_and_repoints_clients() -> None:
    p = plan(mode="new-host", target_host="pg-spare", primary="pg-primary")
    assert step_ids(p) == ["fence", "stop", "prepare", "set_aside", "restore", "recover",
                           "checks", "open", "standby", "post_checks"]
    assert all(s.host != "pg-primary" for s in p.steps if s.id != "fence")
    [fence] = [s for s in p.steps if s.id == "fence"]
    assert fence.host == "pg-primary"
    assert "--skip-step fence" in fence.description  # the way on when it is down
    assert [(h.host, h.role) for h in p.hosts][:2] == [("pg-spare", "target"),
                                                       ("pg-primary", "fenced")]
    assert p.hosts[-1].access == "configure, archive"
    [opened] = [s for s in p.steps if s.id == "open"]
    assert "re-point" in opened.description
    assert "pg-spare" in opened.description
    assert any("fence" in c for c in p.caveats)  # two primaries must not take writes
    in_place = plan()
    [opened] = [s for s in in_place.steps if s.id == "open"]
    assert "re-point" not in opened.description
    assert not any("fence" in c for c in in_place.caveats)


def test_without_standbys_there_is_no_rebuild_step_and_no_standby_host() -> None:
    p = plan(standby_hosts=[])
    assert "standby" not in step_ids(p)
    assert [h.role for h in p.hosts] == ["target", "repository"]


def test_every_step_description_is_one_line() -> None:
    for p in (plan(), plan(mode="new-host", target_host="pg-spare")):
        assert all(s.description and "\n" not in s.description for s in p.steps)


def test_drill_is_marked_in_plan_dict_and_text() -> None:
    p = plan(drill=True, target_host="pg-lab")
    assert p.to_dict()["drill"] is True
    assert "DRILL" in p.render()
    assert any("must not be a production host" in c for c in p.caveats)
    assert "DRILL" not in plan().render()


# --- disk ----------------------------------------------------------------------------------------


def test_too_little_disk_is_a_problem_and_the_plan_is_not_ok() -> None:
    p = plan(free_bytes=I1_DISK - 1)
    assert not p.ok
    assert p.disk.status == "short"
    assert p.disk.shortfall_bytes == 1
    [problem] = p.problems
    assert "not enough disk on pg-primary" in problem
    assert p.to_dict()["ok"] is False


def test_exactly_enough_disk_is_enough() -> None:
    p = plan(free_bytes=I1_DISK)
    assert p.ok
    assert p.disk.status == "enough"


def test_unknown_free_space_is_not_a_problem_but_is_said() -> None:
    p = plan(free_bytes=None)
    assert p.ok
    assert p.disk.status == "unknown"
    assert p.to_dict()["disk"] == {"needed_bytes": I1_DISK, "free_bytes": None,
                                   "status": "unknown", "shortfall_bytes": 0}
    assert any("free space on pg-primary is unknown" in c for c in p.caveats)
    assert "free unknown" in p.render()


# --- ETA and the clock ---------------------------------------------------------------------------


def test_eta_scales_the_drills_to_the_backup_size_and_meets_the_deadline() -> None:
    p = plan()
    assert p.eta.seconds == pytest.approx(I1_SIZE / 100e6 + 20 + 30, abs=0.1)
    resolve = p.clock.deadline("resolve")
    assert resolve is not None
    assert resolve.met_by_plan is True
    assert not any("escalate" in c for c in p.caveats)


def test_no_drills_means_no_eta_and_the_deadlines_are_not_judged() -> None:
    p = plan(drills=[])
    assert p.eta.seconds is None
    assert "no passed restore drill" in p.eta.reason
    assert p.clock.eta is None
    assert {d.name: d.met_by_plan for d in p.clock.deadlines} == {
        "respond": False, "solution": None, "resolve": None}
    assert any("cannot be judged" in c for c in p.caveats)
    text = p.render()
    assert "ETA: unknown" in text
    assert "solution and resolve not judged" in text
    d = p.to_dict()
    assert d["eta"]["seconds"] is None
    assert d["clock"]["eta_s"] is None


def test_an_eta_past_the_six_hour_deadline_is_flagged_to_escalate() -> None:
    # 10 MB/s: I1 takes 5269 s + 50 s, about 1 h 29 min; at 08:00 the resolve is 09:00
    slow = [DrillTiming("x", 10 * GB, 1000.0, 20.0, 30.0)]
    p = plan(drills=slow, now=datetime(2026, 11, 26, 8, 0, tzinfo=CST))
    resolve = p.clock.deadline("resolve")
    assert resolve is not None
    assert resolve.due == datetime(2026, 11, 26, 9, 0, tzinfo=CST)
    assert resolve.met_by_plan is False
    assert p.ok  # no faster plan exists: it is escalated, not refused
    assert "escalate now" in p.caveats[0]
    assert "PLAN MISSES IT" in p.render()
    assert "AFTER the resolve deadline" in p.render()


# --- output --------------------------------------------------------------------------------------


def test_to_dict_is_plain_json_with_utc_times() -> None:
    p = plan(target=RecoveryTarget("xid", "9912345", datetime(2026, 11, 24, 8, 0, tzinfo=CST)))
    d = json.loads(json.dumps(p.to_dict()))
    assert d["target"] == {"kind": "xid", "value": "9912345",
                           "time_hint": "2026-11-24T00:00:00+00:00",
                           "described": "xid 9912345"}
    assert d["clock"]["started_at"] == "2026-11-25T19:00:00+00:00"
    assert d["clock"]["now"] == "2026-11-25T19:20:00+00:00"
    assert [x["name"] for x in d["clock"]["deadlines"]] == ["respond", "solution", "resolve"]
    assert d["clock"]["deadlines"][2]["due"] == "2026-11-26T01:00:00+00:00"
    assert [s["number"] for s in d["steps"]] == list(range(1, len(p.steps) + 1))
    assert d["hosts"][-1]["access"] == "read, then archive"


def test_render_puts_the_problems_first_and_loud() -> None:
    p = plan(stanza=info("info_archive_gap.json"), target=RecoveryTarget("latest"), free_bytes=GB)
    assert len(p.problems) == 2  # the archive gap and the disk
    text = p.render()
    lines = text.splitlines()
    assert lines[0] == "!!! 2 PROBLEMS: DO NOT RESTORE AS PLANNED !!!"
    body = text[:text.index("EMERGENCY RESTORE PLAN")]
    assert "archive gap" in body
    assert "not enough disk" in body
    assert "Status: NOT READY" in text


def test_render_of_a_sound_plan_has_no_problem_banner_and_short_lines() -> None:
    text = plan().render()
    assert text.splitlines()[0].startswith("EMERGENCY RESTORE PLAN: his")
    assert "PROBLEM" not in text
    assert "Status: ready" in text
    assert f"$ pgbackrest --stanza=his --set={I1} --type=time" in text
    # every line but the verbatim command fits a narrow terminal
    assert all(len(line) <= 80 for line in text.splitlines()
               if not line.lstrip().startswith(("$", "respond", "solution", "resolve")))
    assert text.index("stop the damaged".capitalize()) < text.index("Restore the chain")


# --- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("overrides", "match"), [
    ({"mode": "sideways"}, "restore mode must be one of"),
    ({"target_host": " "}, "needs a target host"),
    ({"standby_hosts": ["pg-primary"]}, "both the target and a standby"),
    ({"standby_hosts": ["pg-s1", "pg-s1"]}, "listed twice"),
    ({"free_bytes": -1}, "cannot be negative"),
    ({"database": ""}, "needs a name"),
    ({"incident_at": datetime(2026, 11, 26, 3, 0)}, "UTC offset"),
])
def test_bad_arguments_are_input_errors(overrides: dict[str, Any], match: str) -> None:
    with pytest.raises(InputError, match=match):
        plan(**overrides)
