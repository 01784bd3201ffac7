"""The emergency-restore runbook on an Oracle host, end to end over real SSH and Ansible,
against a stand-in Oracle home.

What this proves is hisops's orchestration: on a host of the ``oracle`` group the runbook runs
its three Oracle steps and none of the PostgreSQL ones (they match no host and are left out of
the timeline report); the oracle_emergency_restore role hands RMAN the command file that
``hisops.engines.oracle.recovery`` writes (SET UNTIL TIME in the host's wall clock, RESTORE,
RECOVER, OPEN RESETLOGS), runs it as the inventory's OS user, judges RMAN's log, publishes the
evidence the journal keeps, checks the opened database, skips a restore this run already
opened when the run is resumed (its marker), restores again in a new run (the earlier marker
kept aside), and fails a restore that RMAN could not finish with its failure kind, its RMAN
code and what to do next.

What it does not prove: anything about Oracle. No Oracle software runs here. The home's
``rman``, ``sqlplus`` and ``dgmgrl`` are the scripts of tests/data/oracle_standin/restore
(README.md there): they record each call and print the real-format fixtures of
tests/fixtures/oracle, whose layout is what tests/fixtures/oracle/SOURCES.md says it is.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.fixtures.sshd import SshdServer
from tests.integration.helpers import evidence_payloads, hisops, start

STANDIN = ROOT / "tests" / "data" / "oracle_standin" / "restore"
FIXTURES = ROOT / "tests" / "fixtures" / "oracle"
HOST = "his-ora-1"
# 04:44 UTC on 2026-03-10 is 05:44 in Paris (CET, before the clocks change on 29 March): the
# wall-clock time RMAN is told, and the time the success fixture's transcript shows
TARGET = "2026-03-10T04:44:00+00:00"
HOST_TIME = "2026-03-10 05:44:00"
ORACLE_STEPS = ["oracle_assess", "oracle_restore", "oracle_checks"]
PG_STEPS = ["fence", "stop", "prepare", "set_aside", "restore", "recover", "checks", "open",
            "standby", "post_checks"]
MARKER = "HISPRD.restore-opened.json"


@pytest.fixture
def estate(tmp_path: Path, sshd: SshdServer) -> dict[str, Path]:
    log = tmp_path / "calls.log"
    log.touch()
    home = tmp_path / "home"
    (home / "bin").mkdir(parents=True)
    for name in ("rman", "sqlplus", "dgmgrl"):
        shutil.copy2(STANDIN / name, home / "bin" / name)
    (home / "standin.env").write_text(f"STANDIN_LOG={log}\nSTANDIN_FIXTURES={FIXTURES}\n")
    workdir = tmp_path / "restore-dir"
    # the sshd logs in as root: root owns the stand-in home (no sudo to another user)
    line = sshd.inventory_line(HOST, oracle_home=str(home), oracle_sid="HISPRD",
                               oracle_db_unique_name="HISPRD", oracle_host_tz="Europe/Paris",
                               oracle_dg_broker="true", oracle_os_user=sshd.user,
                               oracle_emergency_restore_dir=str(workdir))
    inventory = tmp_path / "inventory.ini"
    inventory.write_text("\n".join(["[oracle]", line]) + "\n")
    return {"inventory": inventory, "log": log, "home": home, "workdir": workdir}


def args(estate: dict[str, Path], *extra: str) -> list[str]:
    return ["run", "emergency-restore", "-i", str(estate["inventory"]), "-e", f"host={HOST}",
            "-e", f"primary={HOST}", "-e", f"repository={HOST}", "-e", "standbys=",
            "-e", f"target={TARGET}", "--drill", "--confirm", HOST, "--yes", "--json", *extra]


def parse(out: str) -> dict[str, Any]:
    return json.loads(out) if out.strip().startswith("{") else {}


def run(estate: dict[str, Path], *extra: str) -> tuple[int, dict[str, Any], str]:
    result = hisops(*args(estate, *extra), timeout=600)
    return result.rc, parse(result.out), result.err


def calls(estate: dict[str, Path]) -> list[str]:
    """The log with the home named: 'home rman target / cmdfile=... log=...', ..."""
    text = estate["log"].read_text().replace(str(estate["home"]), "home")
    return [line for line in text.splitlines() if line.strip()]


def received(estate: dict[str, Path]) -> list[str]:
    """The RMAN command files the stand-in was given, in order."""
    folder = estate["home"] / "received"
    files = sorted(folder.glob("rman-*.rman"), key=lambda p: int(p.stem.split("-")[1])) \
        if folder.exists() else []
    return [p.read_text() for p in files]


def statuses(body: dict[str, Any]) -> dict[str, str]:
    return {s["id"]: s["status"] for s in body["steps"]}


def evidence(run_id: str) -> dict[str, dict[str, Any]]:
    """What the role published for HOST in RUN_ID, by phase."""
    out: dict[str, dict[str, Any]] = {}
    for payload in evidence_payloads("oracle_emergency_restore", run_id=run_id):
        assert payload["subject"] == HOST
        out[payload["evidence"]["phase"]] = payload["evidence"]
    return out


def command_lines(script: str) -> list[str]:
    return [line.strip() for line in script.splitlines()
            if line.strip() and not line.startswith("#")]


def test_restore_to_a_time_runs_the_oracle_steps_and_checks_the_opened_database(
        estate: dict[str, Path]) -> None:
    incident = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=20)
    rc, body, err = run(estate, "-e", f"incident_at={incident.isoformat()}")
    assert rc == 0, err
    steps = statuses(body)
    assert steps["oracle_assess"] == "ok"
    assert steps["oracle_restore"] == "changed"
    assert steps["oracle_checks"] == "ok"
    assert all(steps[s] == "skipped" for s in PG_STEPS), steps

    # the command file RMAN was given: the host's wall clock, restore, recover, open resetlogs
    [script] = received(estate)
    assert command_lines(script) == [
        "STARTUP FORCE MOUNT;", "RUN {",
        f"SET UNTIL TIME \"TO_DATE('{HOST_TIME}','YYYY-MM-DD HH24:MI:SS')\";",
        "ALLOCATE CHANNEL c1 DEVICE TYPE DISK;", "ALLOCATE CHANNEL c2 DEVICE TYPE DISK;",
        "RESTORE DATABASE;", "RECOVER DATABASE;", "}", "ALTER DATABASE OPEN RESETLOGS;"]

    # what ran, in which order, as whom, with OS authentication only
    lines = calls(estate)
    [broker] = [i for i, line in enumerate(lines) if line.startswith("home dgmgrl")]
    [rman] = [i for i, line in enumerate(lines) if line.startswith("home rman")]
    sqlplus = [i for i, line in enumerate(lines) if line.startswith("home sqlplus")]
    assert broker < rman < min(sqlplus), lines
    workdir = estate["workdir"]
    assert re.fullmatch(
        rf"home rman target / cmdfile={workdir}/HISPRD\.restore\.rman "
        rf"log={workdir}/HISPRD\.restore-\d{{8}}T\d{{6}}Z\.log sid=HISPRD user=root",
        lines[rman]), lines[rman]
    assert "-S -L / as sysdba sid=HISPRD user=root" in lines[sqlplus[0]]
    checked = " ".join(lines[i] for i in sqlplus)
    for query in ("FROM v$database;", "v$database_block_corruption", "his.outpatient_visits"):
        assert query in checked, checked

    # the journal's evidence, per phase
    run_id = body["run_id"]
    published = evidence(run_id)
    assess = published["assess"]
    assert assess["path"] == "restore"  # a time target: the standby replayed the mistake too
    assert assess["configuration"] == "his_dg"
    assert assess["status"] == "SUCCESS"
    assert [m["name"] for m in assess["members"]] == ["HISPRD", "HISSTBY"]
    restore = published["restore"]
    assert restore["opened"] is True
    assert restore["resetlogs"] is True
    assert restore["failures"] == []
    assert restore["already_opened"] is False
    assert restore["target"].startswith(f"until {HOST_TIME} host time")
    assert [p["handle"] for p in restore["pieces"]] == [
        "/u03/backup/HISPRD/HISPRD_lvl0_1f3k2a9d_1_1.bkp",
        "/u03/backup/HISPRD/HISPRD_lvl0_1g3k2aih_1_1.bkp"]
    assert restore["logs_applied"] == [{"thread": 1, "sequence": 1234},
                                       {"thread": 1, "sequence": 1235}]
    assert restore["datafiles"] == 6
    assert restore["log"] == lines[rman].split("log=")[1].split()[0]
    checks = published["checks"]
    assert (checks["open_mode"], checks["database_role"]) == ("READ WRITE", "PRIMARY")
    assert checks["corrupt_blocks"] == 0
    assert checks["smoke"] == ["the latest day's outpatient registrations can be read: 42"]
    assert checks["failures"] == []

    # the timeline report lists the Oracle steps; the PostgreSQL ones that matched no host
    # (stop, set_aside, restore, recover, checks, open, post_checks) are left out
    report = body["report"]
    listed = {s["id"]: s["status"] for s in report["steps"]}
    assert [(s, listed[s]) for s in listed if s.startswith("oracle_")] == [
        ("oracle_assess", "ok"), ("oracle_restore", "changed"), ("oracle_checks", "ok")]
    # the PostgreSQL steps matched no host here: left out of the timeline, `when` or not
    assert {s: listed[s] for s in listed if not s.startswith("oracle_")} == {}, report["steps"]
    assert report["status"] == "succeeded"
    assert report["drill"] is True
    assert report["target"] == restore["target"] == (
        f"until {HOST_TIME} host time (exclusive), {TARGET}")
    [plan] = [g for g in body["guards"] if g.get("check") == "restore_plan"]
    assert any(n.startswith("Incident clock (level 1)") for n in plan["notes"]), plan["notes"]
    # the level-1 clock counts from the incident the operator gave, not from the run's start
    assert report["incident_at"] == incident.isoformat()
    assert report["steps"][0]["started_after_s"] >= 20 * 60
    assert [d["name"] for d in report["deadlines"]] == ["respond", "solution", "resolve"]
    assert [d["met"] for d in report["deadlines"]] == [False, True, True]

    # the marker: this run's incident, this target, the log RMAN wrote
    marker = json.loads((workdir / MARKER).read_text())
    assert marker["incident"] == run_id
    assert marker["log"] == restore["log"]
    assert marker["target"] == restore["target"]


def test_a_failed_check_fails_the_step_and_names_it(estate: dict[str, Path]) -> None:
    (estate["home"] / ".corrupt_blocks").write_text("3")
    (estate["home"] / ".smoke_rows").write_text("0")
    rc, body, err = run(estate)
    assert rc == 1
    steps = statuses(body)
    assert steps["oracle_restore"] == "changed"
    assert steps["oracle_checks"] == "failed"
    checks = evidence(body["run_id"])["checks"]
    assert checks["corrupt_blocks"] == 3
    assert checks["smoke"] == ["the latest day's outpatient registrations can be read: 0"]
    assert len(checks["failures"]) == 2
    assert "lists 3 corrupt block range(s)" in err
    assert "returned 0 rows, expected at least 1" in err


def kill_once_the_restore_opened(estate: dict[str, Path]) -> str:
    """Start a run and SIGKILL it (with its children) once the restore step wrote its marker,
    before hisops journaled the step as finished: an interruption right after OPEN RESETLOGS.
    Returns the run id."""
    marker = estate["workdir"] / MARKER
    proc = start(*args(estate))
    try:
        deadline = time.monotonic() + 300
        while not marker.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the restore never wrote its marker"
            time.sleep(0.002)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    runs = hisops("runs", "--json").json()
    return str(runs[-1]["run_id"])


def test_resume_skips_the_restore_it_opened_and_a_new_run_restores_again(
        estate: dict[str, Path]) -> None:
    run_id = kill_once_the_restore_opened(estate)
    shown = hisops("show", run_id, "--json").json()
    # the kill landed inside the step: the resume must decide about the restore again
    assert statuses(shown)["oracle_restore"] == "running", statuses(shown)
    assert len(received(estate)) == 1

    resumed = hisops("resume", run_id, "--json", timeout=600)
    assert resumed.rc == 0, resumed.err
    body = resumed.json()
    assert statuses(body)["oracle_restore"] in ("ok", "changed")
    assert statuses(body)["oracle_checks"] == "ok"
    assert len(received(estate)) == 1  # RMAN was not run a second time: no second RESETLOGS
    assert sum(line.startswith("home rman") for line in calls(estate)) == 1
    restore = evidence(run_id)["restore"]
    assert restore["already_opened"] is True
    assert restore["opened"] is True
    first_marker = json.loads((estate["workdir"] / MARKER).read_text())
    assert first_marker["incident"] == run_id

    # a new run (a new incident, the host typed again) restores again and keeps the record
    rc, again, err = run(estate)
    assert rc == 0, err
    assert statuses(again)["oracle_restore"] == "changed"
    assert len(received(estate)) == 2
    asides = sorted(estate["workdir"].glob(f"{MARKER}.*"))
    assert len(asides) == 1
    assert json.loads(asides[0].read_text()) == first_marker
    marker = json.loads((estate["workdir"] / MARKER).read_text())
    assert marker["incident"] == again["run_id"] != run_id
    assert evidence(again["run_id"])["restore"]["already_opened"] is False


def test_a_missing_archived_log_fails_the_restore_with_its_code_and_next_step(
        estate: dict[str, Path]) -> None:
    (estate["home"] / ".fail_missing_archivelog").touch()
    rc, body, err = run(estate)
    assert rc == 1
    steps = statuses(body)
    assert steps["oracle_assess"] == "ok"
    assert steps["oracle_restore"] == "failed"
    assert steps.get("oracle_checks", "pending") == "pending"
    assert not any(line.startswith("home sqlplus") for line in calls(estate))
    assert not (estate["workdir"] / MARKER).exists()  # nothing opened: a rerun restores again
    detail = next(s["detail"] for s in body["steps"] if s["id"] == "oracle_restore")
    for text in (detail, err):
        assert "RMAN-06054" in text, text
        assert "[archived log thread 1 sequence 1235]" in text, text
        assert "bring the archived log back into the archive destination" in text, text
        assert "or restore to a time before that log" in text, text
        assert "instance left mounted (not open)" in text, text
    restore = evidence(body["run_id"])["restore"]
    assert restore["opened"] is False
    assert restore["failures"] == ["missing_archived_log"]
    report = body["report"]
    assert [s["id"] for s in report["steps"] if s["id"].startswith("oracle_")] == [
        "oracle_assess", "oracle_restore"]
    assert report["remaining"][0] == (
        f"finish the procedure (stopped in oracle_restore): hisops resume {body['run_id']}")

    # the log brought back: the resumed run restores again from STARTUP FORCE MOUNT and opens
    (estate["home"] / ".fail_missing_archivelog").unlink()
    resumed = hisops("resume", body["run_id"], "--json", timeout=600)
    assert resumed.rc == 0, resumed.err
    steps = statuses(resumed.json())
    assert (steps["oracle_restore"], steps["oracle_checks"]) == ("changed", "ok")
    first, second = received(estate)
    assert first == second
    assert json.loads((estate["workdir"] / MARKER).read_text())["incident"] == body["run_id"]


def test_no_backup_for_the_target_fails_the_restore_with_its_code(
        estate: dict[str, Path]) -> None:
    (estate["home"] / ".fail_no_backup").touch()
    rc, body, err = run(estate)
    assert rc == 1
    assert statuses(body)["oracle_restore"] == "failed"
    assert "missing_backup (RMAN-06023): no backup reaches the target" in err
    assert "[datafile 10; datafile 9; datafile 7; datafile 4; datafile 3; datafile 1]" in err
    assert evidence(body["run_id"])["restore"]["failures"] == ["missing_backup"]
    assert not (estate["workdir"] / MARKER).exists()
