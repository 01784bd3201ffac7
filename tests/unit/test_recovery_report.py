"""The timeline report of an emergency restore, built from a run's journal state only."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hisops.journal.state import NO_HOSTS, RunState, StepState
from hisops.recovery.pglog import recovery_facts
from hisops.recovery.report import RestoreReport, build_report

RUN = "run-20261127-0230"
T0 = datetime(2026, 11, 27, 2, 30, tzinfo=UTC)  # the run starts
LAST_TX = "2026-11-27 02:06:51.287002+00"  # as PostgreSQL's log writes it
DAMAGED = "/var/lib/postgresql/15/main.damaged-20261127T023100Z"
STANDBY_DAMAGED = "/var/lib/postgresql/15/main.damaged-20261127T032000Z"
# (step, start, end) in minutes after T0
STEPS = [("stop", 0, 1), ("set_aside", 1, 2), ("restore", 2, 30), ("recover", 30, 35),
         ("checks", 35, 40), ("open", 40, 42), ("standby", 42, 48), ("post_checks", 48, 50)]
PUBLISHED: dict[str, dict[str, Any]] = {
    "set_aside": {"host": "his-db-1", "kept": [DAMAGED]},
    "restore": {"host": "his-db-1", "backup": "20261124-010000F_20261125-010000I"},
    "recover": {"host": "his-db-1", "last_transaction_at": LAST_TX,
                "stopped_at": "2026-11-27 02:06:55.530845+00", "stopped_xid": 759,
                "stopped_how": "before commit", "timeline": 2},
    "open": {"host": "his-db-1", "timeline": "2"},
    "standby": {"host": "his-db-2", "kept_at": STANDBY_DAMAGED},
    "post_checks": {"host": "his-db-1", "publications": [],
                    "slots": [{"slot": "his_db_2", "type": "physical", "active": True}]},
}


def iso(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


def plan_guard(incident_at: datetime | None = None, eta_s: float | None = 3000.0
               ) -> dict[str, Any]:
    """The restore_plan guard's journaled result (keys the report reads)."""
    return {"check": "restore_plan", "ok": True, "data": {
        "clock": {"level": 1, "started_at": (incident_at or T0).isoformat()},
        "eta": {"seconds": eta_s},
        "target": {"described": "time 2026-11-27 02:07:00+00:00"},
        "backup": {"label": "20261124-010000F_20261125-010000I"}}}


def state(*, status: str = "succeeded", end: float | None = 50,
          incident_at: datetime | None = None, steps: list[tuple[str, float, float]] | None = None,
          failed: str | None = None, published: dict[str, dict[str, Any]] | None = None,
          params: dict[str, Any] | None = None, guards: list[dict[str, Any]] | None = None
          ) -> RunState:
    s = RunState(run_id=RUN, runbook="emergency-restore", status=status, started_at=iso(0),
                 ended_at=iso(end) if end is not None else "",
                 params={"target": "time 2026-11-27 02:07:00+00:00", "drill": False,
                         **(params or {})},
                 guards=guards if guards is not None else [plan_guard(incident_at)])
    shown = PUBLISHED if published is None else published
    for index, (step_id, start, stop) in enumerate(steps if steps is not None else STEPS):
        s.steps[step_id] = StepState(
            id=step_id, index=index, status="failed" if step_id == failed else "ok",
            started_at=iso(start), ended_at=iso(stop),
            data={"hisops_restore": {step_id: shown[step_id]}} if step_id in shown else {})
    return s


def row(text: str, step_id: str) -> list[str]:
    """The rendered timeline row of STEP_ID, split on blanks: step, start, end, took, status."""
    (line,) = [ln for ln in text.splitlines() if ln.split()[:1] == [step_id]]
    return line.split()


def deadlines(report: RestoreReport) -> dict[str, tuple[bool | None, float | None]]:
    return {d.name: (d.met, None if d.margin is None else d.margin.total_seconds())
            for d in report.deadlines}


# --- the steps against the incident clock -------------------------------------------------------


def test_steps_are_timed_from_the_run_start_when_the_incident_began_then() -> None:
    d = build_report(state()).to_dict()
    assert [s["id"] for s in d["steps"]] == [s for s, _, _ in STEPS]
    restore = d["steps"][2]
    assert (restore["started_after_s"], restore["ended_after_s"], restore["duration_s"]) == (
        120.0, 1800.0, 1680.0)
    assert d["elapsed_s"] == 3000.0
    assert row(build_report(state()).render(), "restore") == [
        "restore", "+0:02:00", "+0:30:00", "28", "min", "ok"]


def test_an_earlier_incident_shifts_every_offset_but_no_duration() -> None:
    at_start = build_report(state()).to_dict()
    earlier = build_report(state(incident_at=T0 - timedelta(minutes=20))).to_dict()
    for now, before in zip(earlier["steps"], at_start["steps"], strict=True):
        assert now["started_after_s"] == before["started_after_s"] + 1200
        assert now["ended_after_s"] == before["ended_after_s"] + 1200
        assert now["duration_s"] == before["duration_s"]
    assert earlier["elapsed_s"] == at_start["elapsed_s"] + 1200
    assert earlier["incident_at"] == "2026-11-27T02:10:00+00:00"
    text = build_report(state(incident_at=T0 - timedelta(minutes=20))).render()
    assert row(text, "stop") == ["stop", "+0:20:00", "+0:21:00", "1", "min", "ok"]
    assert "Incident started 2026-11-27 02:10:00 UTC" in text


def test_steps_are_listed_in_run_order_not_insertion_order() -> None:
    s = state()
    s.steps = dict(reversed(list(s.steps.items())))
    assert [t.id for t in build_report(s).steps] == [t for t, _, _ in STEPS]


def test_no_plan_guard_times_from_the_run_start() -> None:
    report = build_report(state(guards=[]))
    assert report.incident_at == T0
    assert report.eta_s is None
    assert report.target == "time 2026-11-27 02:07:00+00:00"  # from the params then
    assert report.backup == "20261124-010000F_20261125-010000I"  # the restore step's


# --- deadlines ----------------------------------------------------------------------------------


def test_run_started_at_the_incident_and_done_in_50_min_meets_every_deadline() -> None:
    report = build_report(state())
    assert deadlines(report) == {"respond": (True, 0.0), "solution": (True, 600.0),
                                 "resolve": (True, 6 * 3600.0 - 3000)}
    text = report.render()
    assert "solution due 2026-11-27 03:30:00 UTC: met, 10 min to spare" in text
    assert "resolve  due 2026-11-27 08:30:00 UTC: met, 5 h 10 min to spare" in text
    assert "MISSED" not in text


def test_respond_is_judged_at_the_run_start_solution_and_resolve_at_its_end() -> None:
    # the incident began 20 min before the run: respond ("at once") is late by 20 min;
    # 50 min of work ends 70 min after the incident, 10 min past the 1 h solution deadline
    report = build_report(state(incident_at=T0 - timedelta(minutes=20)))
    assert deadlines(report) == {"respond": (False, -1200.0), "solution": (False, -600.0),
                                 "resolve": (True, 6 * 3600.0 - 4200)}
    text = report.render()
    assert "respond  due 2026-11-27 02:10:00 UTC: MISSED by 20 min" in text
    assert "solution due 2026-11-27 03:10:00 UTC: MISSED by 10 min" in text


def test_run_ending_after_six_hours_misses_resolve() -> None:
    steps = [*STEPS[:2], ("restore", 2, 360), *[(s, 360, 361) for s, _, _ in STEPS[3:]]]
    report = build_report(state(end=361, steps=steps))
    assert deadlines(report)["resolve"] == (False, -60.0)
    assert "resolve  due 2026-11-27 08:30:00 UTC: MISSED by 1 min" in report.render()
    assert report.to_dict()["deadlines"][2] == {
        "name": "resolve", "due": "2026-11-27T08:30:00+00:00", "met": False, "margin_s": -60.0}


@pytest.mark.parametrize("status", ["failed", "interrupted", "running", "waiting"])
def test_unfinished_run_judges_no_end_deadline_and_says_how_to_resume(status: str) -> None:
    steps = STEPS[:3]
    report = build_report(state(status=status, end=30 if status != "running" else None,
                                steps=steps, failed="restore" if status == "failed" else None))
    met = deadlines(report)
    assert met["solution"] == (None, None)
    assert met["resolve"] == (None, None)
    # respond happened when the run started, finished or not
    assert met["respond"] == (True, 0.0)
    assert report.finished_at is None
    assert report.elapsed is None
    text = report.render()
    assert "solution due 2026-11-27 03:30:00 UTC: not judged (the run has not finished)" in text
    assert "Finished" not in text
    assert report.to_dict()["elapsed_s"] is None


def test_failed_run_remaining_names_resume_and_the_step_it_stopped_in() -> None:
    report = build_report(state(status="failed", end=30, steps=STEPS[:3], failed="restore"))
    assert report.status == "failed"
    assert report.remaining[0] == (
        f"finish the procedure (stopped in restore): hisops resume {RUN}")
    assert not any("take a full backup" in item for item in report.remaining)
    assert f"  - finish the procedure (stopped in restore): hisops resume {RUN}" in (
        report.render())


def test_succeeded_run_asks_for_a_new_full_backup_and_no_resume() -> None:
    report = build_report(state())
    assert not any("hisops resume" in item for item in report.remaining)
    assert report.remaining[-1].startswith("take a full backup on the new timeline")


# --- data loss, damaged copies, logical replicas -------------------------------------------------


def test_data_loss_window_runs_from_the_last_transaction_to_the_incident() -> None:
    incident = T0 - timedelta(minutes=20)  # 02:10:00; the last commit was 02:06:51.287002
    report = build_report(state(incident_at=incident))
    assert report.last_transaction_at == datetime(2026, 11, 27, 2, 6, 51, 287002, tzinfo=UTC)
    assert report.data_loss == timedelta(minutes=3, seconds=8, microseconds=712998)
    assert report.to_dict()["data_loss_s"] == 188.7
    text = report.render()
    assert "Data loss window (RPO achieved): 3 min, from the last transaction kept" in text
    assert "Last transaction kept: 2026-11-27 02:06:51 UTC; replay stopped before commit of " \
           "transaction 759 at 2026-11-27 02:06:55 UTC (not kept)" in text


def test_pglog_facts_published_by_recover_feed_the_report() -> None:
    log = (Path(__file__).resolve().parent.parent / "fixtures" / "postgres"
           / "pitr_recovery_15.log").read_text()
    published = {**PUBLISHED, "recover": {"host": "his-db-1", **recovery_facts(log)},
                 "open": {"host": "his-db-1"}}
    incident = datetime(2026, 11, 27, 2, 27, tzinfo=UTC)
    report = build_report(state(incident_at=incident, published=published))
    assert report.timeline == 2  # recover's, when open published none
    assert report.stopped_at == datetime(2026, 11, 27, 2, 26, 55, 530845, tzinfo=UTC)
    assert report.data_loss == incident - datetime(2026, 11, 27, 2, 26, 51, 287002, tzinfo=UTC)


def test_last_transaction_in_another_time_zone_is_compared_as_an_instant() -> None:
    published = {**PUBLISHED, "recover": {"last_transaction_at": "2026-11-27 10:06:51.287002+08"}}
    report = build_report(state(incident_at=T0 - timedelta(minutes=20), published=published))
    assert report.to_dict()["data_loss_s"] == 188.7


def test_last_transaction_after_the_incident_is_no_data_loss() -> None:
    report = build_report(state(incident_at=datetime(2026, 11, 27, 2, 0, tzinfo=UTC)))
    assert report.data_loss == timedelta(0)


def test_restore_point_stop_is_not_described_as_a_commit_after_the_target() -> None:
    published = {**PUBLISHED, "recover": {
        "restore_point": "before_upgrade", "stopped_at": "2026-11-27 02:06:55.530845+00",
        "last_transaction_at": LAST_TX, "stopped_xid": None, "timeline": 2}}
    text = build_report(state(published=published)).render()
    assert "Last transaction kept: 2026-11-27 02:06:51 UTC" in text
    assert "replay stopped at restore point before_upgrade (2026-11-27 02:06:55 UTC)" in text
    assert "commit" not in text.split("Last transaction kept:")[1].splitlines()[0]


@pytest.mark.parametrize(("how", "kept"), [("before commit", "(not kept)"),
                                           ("after commit", "(kept)")])
def test_a_commit_stop_says_whether_that_transaction_was_kept(how: str, kept: str) -> None:
    published = {**PUBLISHED, "recover": {
        "stopped_at": "2026-11-27 02:06:55.530845+00", "stopped_xid": 759, "stopped_how": how,
        "last_transaction_at": LAST_TX, "timeline": 2}}
    text = build_report(state(published=published)).render()
    assert f"replay stopped {how} of transaction 759 at 2026-11-27 02:06:55 UTC {kept}" in text


@pytest.mark.parametrize("recover", [{}, {"last_transaction_at": None},
                                     {"last_transaction_at": ""},
                                     {"last_transaction_at": "not a time"}])
def test_unknown_last_transaction_says_the_window_is_unknown(recover: dict[str, Any]) -> None:
    report = build_report(state(published={**PUBLISHED, "recover": recover}))
    assert report.data_loss is None
    assert report.to_dict()["data_loss_s"] is None
    text = report.render()
    assert "Data loss window: unknown (recovery logged no transaction time)" in text
    assert "RPO achieved" not in text
    assert "Last transaction kept" not in text


def test_damaged_copies_are_listed_per_host() -> None:
    kept = [item for item in build_report(state()).remaining if item.startswith("damaged")]
    assert kept == [
        f"damaged copy kept at his-db-1:{DAMAGED}: look for transactions after the target, "
        "then remove it to free its space",
        f"damaged copy kept at his-db-2:{STANDBY_DAMAGED}: look for transactions after the "
        "target, then remove it to free its space"]


def test_discarded_damaged_data_lists_no_copy() -> None:
    published = {**PUBLISHED, "set_aside": {"host": "his-db-1", "kept": []},
                 "standby": {"host": "his-db-2", "kept_at": ""}}
    report = build_report(state(published=published))
    assert not any(item.startswith("damaged") for item in report.remaining)


def test_publications_without_a_logical_slot_ask_to_reinstantiate_the_replicas() -> None:
    published = {**PUBLISHED, "post_checks": {
        "publications": ["his_pub", "emr_feed"],
        "slots": [{"slot": "his_db_2", "type": "physical", "active": True}]}}
    (item,) = [i for i in build_report(state(published=published)).remaining
               if "re-instantiate" in i]
    assert item.startswith("publication(s) his_pub, emr_feed have no logical slot")


def test_publications_with_a_logical_slot_need_no_reinstantiation() -> None:
    published = {**PUBLISHED, "post_checks": {
        "publications": ["his_pub"],
        "slots": [{"slot": "his_db_2", "type": "physical", "active": True},
                  {"slot": "his_sub", "type": "logical", "active": True}]}}
    remaining = build_report(state(published=published)).remaining
    assert not any("re-instantiate" in item for item in remaining)
    assert not any("publication" in item for item in remaining)


def test_no_publications_need_no_reinstantiation() -> None:
    assert not any("re-instantiate" in item for item in build_report(state()).remaining)


# --- header, target, serialisation --------------------------------------------------------------


@pytest.mark.parametrize("drill", ["true", True, "True"])
def test_drill_param_marks_the_header_drill(drill: object) -> None:
    report = build_report(state(params={"drill": drill}))
    assert report.drill is True
    assert report.render().splitlines()[0] == (
        f"EMERGENCY RESTORE DRILL: timeline of run {RUN} (succeeded)")
    assert report.to_dict()["drill"] is True


@pytest.mark.parametrize("drill", ["false", False, "", None])
def test_real_restore_header_has_no_drill(drill: object) -> None:
    report = build_report(state(params={"drill": drill}))
    assert report.drill is False
    assert report.render().splitlines()[0] == (
        f"EMERGENCY RESTORE: timeline of run {RUN} (succeeded)")
    assert "DRILL" not in report.render()


def test_target_backup_and_timeline_line() -> None:
    text = build_report(state()).render()
    assert ("Recovery target: time 2026-11-27 02:07:00+00:00, backup "
            "20261124-010000F_20261125-010000I, opened on timeline 2") in text
    assert "Finished 2026-11-27 03:20:00 UTC: 50 min after the incident started " \
           "(plan ETA 50 min)" in text


def test_to_dict_is_json_and_carries_the_numbers_render_shows() -> None:
    report = build_report(state(incident_at=T0 - timedelta(minutes=20)))
    d = json.loads(json.dumps(report.to_dict()))
    text = report.render()
    assert d["run_id"] == RUN
    assert d["status"] == "succeeded"
    assert d["elapsed_s"] == 4200.0
    assert "1 h 10 min after the incident started" in text
    assert d["eta_s"] == 3000.0
    assert "(plan ETA 50 min)" in text
    assert d["timeline"] == 2
    assert "opened on timeline 2" in text
    assert d["backup"] == "20261124-010000F_20261125-010000I"
    assert d["data_loss_s"] == 188.7
    assert d["last_transaction_at"] == "2026-11-27T02:06:51.287002+00:00"
    assert d["stopped_at"] == "2026-11-27T02:06:55.530845+00:00"
    assert d["finished_at"] == "2026-11-27T03:20:00+00:00"
    assert [(x["name"], x["met"], x["margin_s"]) for x in d["deadlines"]] == [
        ("respond", False, -1200.0), ("solution", False, -600.0), ("resolve", True, 17400.0)]
    assert "resolve  due 2026-11-27 08:10:00 UTC: met, 4 h 50 min to spare" in text
    assert d["remaining"] == list(report.remaining)
    for item in d["remaining"]:
        assert f"  - {item}" in text
    restore = next(s for s in d["steps"] if s["id"] == "restore")
    assert restore["started_at"] == "2026-11-27T02:32:00+00:00"
    assert (restore["started_after_s"], restore["ended_after_s"]) == (1320.0, 3000.0)
    assert row(text, "restore") == ["restore", "+0:22:00", "+0:50:00", "28", "min", "ok"]


def test_unfinished_run_to_dict_is_json_too() -> None:
    s = state(status="running", end=None, steps=[("stop", 0, 1), ("set_aside", 1, 2)])
    s.steps["restore"] = StepState(id="restore", index=2, status="running",
                                   started_at=iso(2))
    d = json.loads(json.dumps(build_report(s).to_dict()))
    restore = d["steps"][2]
    assert (restore["ended_at"], restore["ended_after_s"], restore["duration_s"]) == (
        None, None, None)
    assert row(build_report(s).render(), "restore") == [
        "restore", "+0:02:00", "-", "-", "running"]
    assert d["remaining"][0] == f"finish the procedure (stopped in restore): hisops resume {RUN}"


def test_new_host_mode_lists_repointing_the_clients_and_the_fenced_primary() -> None:
    st = state()
    st.params.update(mode="new-host", host="verify-1", primary="his-db-1")
    remaining = build_report(st).remaining
    assert any(r.startswith("point the applications (and any monitoring) at verify-1")
               for r in remaining)
    assert any(r.startswith("his-db-1 is fenced") for r in remaining)


def test_in_place_mode_does_not_ask_to_repoint_anything() -> None:
    remaining = build_report(state()).remaining
    assert not any("point the applications" in r or "fenced" in r for r in remaining)


def test_a_step_skipped_on_resume_shows_who_skipped_it_and_why() -> None:
    st = state()
    st.resolutions.append({"step": "stop", "action": "skip", "operator": "dba-wang",
                           "reason": "host dead: powered off at the PDU"})
    report = build_report(st)
    assert "on resume by dba-wang: host dead: powered off at the PDU" in report.render()
    [stop] = [s for s in report.to_dict()["steps"] if s["id"] == "stop"]
    assert stop["note"] == "dba-wang: host dead: powered off at the PDU"


def test_steps_of_the_other_engine_are_left_out_of_the_timeline() -> None:
    s = state()
    s.steps["oracle_restore"] = StepState(id="oracle_restore", index=99, status="skipped",
                                          detail=NO_HOSTS)
    s.steps["fence"] = StepState(id="fence", index=-1, status="skipped", detail="when is false")
    ids = [step.id for step in build_report(s).steps]
    assert "oracle_restore" not in ids
    assert ids[0] == "fence"  # skipped by its own condition: still part of the procedure
