"""The emergency restore rehearsed on the lab (issue 9's acceptance).

Rows are written, the time T noted, more rows written, then a table dropped by mistake. The
emergency-restore runbook, in drill mode, restores his-db-1 in place to T from the real
pgBackRest repository: the table and every row written before T are back, the rows written
after T are not, the standby his-db-2 streams from the restored primary again, and the
timeline report sets each step against the level-1 deadlines. Without the typed name of the
host it overwrites, the run is refused (exit 3) before anything happens.

This file runs last among the lab tests on purpose (the names sort so): the restore moves the
lab's primary onto a new timeline and the logical subscriber his-db-3 loses its slot, which the
teardown re-instantiates.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from hisops.lab import containers, lifecycle, pgsetup
from tests.fixtures.lab import Lab
from tests.integration.helpers import env_with, hisops, last_run, start, wait_for_step

pytestmark = pytest.mark.lab

PROBE = "his.er_probe"  # constants: the f-strings below interpolate nothing else
LAST = "his.er_last"


def sql(lab: Lab, host: str, query: str, dbname: str = "his") -> list[tuple[Any, ...]]:
    with lab.connect(host, dbname=dbname, autocommit=True) as conn:
        cur = conn.execute(query)
        return cur.fetchall() if cur.description else []


def sh(lab: Lab, host: str, script: str) -> subprocess.CompletedProcess[str]:
    """Run SCRIPT as root on a lab host (the test's own hands, not the product's)."""
    return subprocess.run(["podman", "exec", containers.container_name(lab.settings, host),
                           "bash", "-c", script], capture_output=True, text=True, timeout=120,
                          check=False)


def wait_archived(lab: Lab, segment: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        (row,) = sql(lab, "his-db-1", "SELECT last_archived_wal FROM pg_stat_archiver",
                     dbname="postgres")
        if row[0] is not None and row[0] >= segment:
            return
        time.sleep(0.5)
    raise AssertionError(f"WAL segment {segment} was not archived within {timeout:.0f} s")


def resubscribe(lab: Lab) -> None:
    """The test's own hands: re-instantiate his-db-3 from the restored primary (a logical
    subscriber's slot is not in a backup; the timeline report lists this as remaining)."""
    with lab.connect("his-db-3", autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_subscription WHERE subname = %s",
                        (pgsetup.SUBSCRIPTION,)).fetchone():
            conn.execute(f"ALTER SUBSCRIPTION {pgsetup.SUBSCRIPTION} DISABLE")
            conn.execute(f"ALTER SUBSCRIPTION {pgsetup.SUBSCRIPTION} SET (slot_name = NONE)")
            conn.execute(f"DROP SUBSCRIPTION {pgsetup.SUBSCRIPTION}")
        tables = [r[0] for r in conn.execute(
            "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables "
            "WHERE schemaname = 'his'").fetchall()]
        if tables:
            conn.execute(f"TRUNCATE {', '.join(tables)} CASCADE")
    # the tests' tables exist on the primary only (DDL does not replicate): the publication
    # covers the whole schema, so a subscription would wait for them on the subscriber
    sql(lab, "his-db-1", f"DROP TABLE IF EXISTS {PROBE}, {LAST}")
    subscriber, primary = lab.host("his-db-3"), lab.host("his-db-1")
    pgsetup.ensure_subscriber(containers.container_name(lab.settings, "his-db-3"), subscriber,
                              primary, lab.password)
    pgsetup.wait_subscription_synced(subscriber.pg, lab.password)


def remove_damaged_copies(lab: Lab) -> None:
    """The test's own hands: the copies the drill kept aside (the product never deletes them)
    would otherwise pile up on the lab's disk run after run."""
    for host in ("his-db-1", "his-db-2"):
        removed = sh(lab, host, "rm -rf /var/lib/postgresql/15/main.damaged-*")
        assert removed.returncode == 0, removed.stderr


@pytest.fixture(scope="module")
def env(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A journal with a fresh backup and its passed restore drill (the plan's ETA)."""
    home = tmp_path_factory.mktemp("restore-home")
    env = env_with(HISOPS_HOME=str(home), HISOPS_JOURNAL=str(home / "journal.sqlite3"))
    for runbook in ("backup", "verify-backup"):
        result = hisops("run", runbook, "--yes", env=env, timeout=900)
        assert result.rc == 0, f"{runbook}: {result.err}"
    yield env
    resubscribe(lab)
    remove_damaged_copies(lab)


@pytest.fixture(scope="module")
def mistake(lab: Lab, env: dict[str, str]) -> str:
    """Rows before T, the time T, rows after T, then the table dropped by mistake; the WAL of
    all of it archived. Returns T (the database server's clock, UTC)."""
    sql(lab, "his-db-1", f"DROP TABLE IF EXISTS {PROBE}; "
                         f"CREATE TABLE {PROBE} (id int PRIMARY KEY, note text NOT NULL)")
    sql(lab, "his-db-1", f"INSERT INTO {PROBE} SELECT g, 'before' FROM generate_series(1, 100) g")  # noqa: S608
    time.sleep(1.5)
    ((target,),) = sql(lab, "his-db-1", "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', "
                                        "'YYYY-MM-DD HH24:MI:SS.US') || '+00:00'")
    time.sleep(1.5)
    sql(lab, "his-db-1", f"INSERT INTO {PROBE} SELECT g, 'after' FROM generate_series(101, 150) g")  # noqa: S608
    sql(lab, "his-db-1", f"DROP TABLE {PROBE}")
    ((segment,),) = sql(lab, "his-db-1", "SELECT pg_walfile_name(pg_switch_wal())",
                        dbname="postgres")
    wait_archived(lab, segment)
    return str(target)


def test_plan_shows_the_chain_disk_eta_and_clock_before_anything_happens(
        env: dict[str, str], mistake: str) -> None:
    result = hisops("plan", "emergency-restore", "-e", f"target={mistake}", "--json", env=env)
    assert result.rc == 0, result.err
    body = result.json()
    assert body["confirm_hosts"] == ["his-db-1"]
    [preview] = [p for p in body["preview"] if p["check"] == "restore_plan"]
    assert preview["ok"], preview["problems"]
    text = "\n".join(preview["notes"])
    for expected in ("Backup:", "WAL:", "Disk on his-db-1", "ETA:", "Incident clock (level 1)",
                     "resolve  (6 h)", "his-db-2 [standby, write]"):
        assert expected in text, f"{expected!r} missing from the plan:\n{text}"
    assert "ETA: unknown" not in text  # the verify-backup drill measured a restore


def test_in_place_restore_without_the_typed_host_is_refused(
        lab: Lab, env: dict[str, str], mistake: str) -> None:
    before = hisops("runs", "--json", env=env).json()
    for confirm in ((), ("--confirm", "his-db-2")):
        result = hisops("run", "emergency-restore", "-e", f"target={mistake}", "--drill",
                        *confirm, env=env)
        assert result.rc == 3, result.err
        assert "--confirm his-db-1" in result.err
    assert hisops("runs", "--json", env=env).json() == before  # nothing ran, not even guards
    assert sql(lab, "his-db-1", "SELECT to_regclass('his.er_probe') IS NULL") == [(True,)]


def test_drill_restores_to_t_and_the_standby_streams_again(
        lab: Lab, env: dict[str, str], mistake: str) -> None:
    # the controller dies during the restore (SIGKILL of hisops and its children), then the
    # engineer resumes: the run continues where it stopped and finishes
    proc = start("run", "emergency-restore", "-e", f"target={mistake}", "--drill",
                 "--confirm", "his-db-1", env=env)
    try:
        wait_for_step("restore", env=env, timeout=300)
        time.sleep(6)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    run_id = str(last_run(env)["run_id"])
    state = hisops("show", run_id, "--json", env=env).json()
    assert state["status"] != "succeeded"
    result = hisops("resume", run_id, "--json", env=env, timeout=1800)
    assert result.rc == 0, result.err
    body = result.json()
    assert body["status"] == "succeeded"
    done_before = [s["id"] for s in state["steps"] if s["status"] in ("ok", "changed")]
    assert done_before[:2] == ["stop", "set_aside"]  # not run again: see the journal
    timeline = hisops("show", run_id, "--json", env=env).json()["timeline"]
    starts = [r["payload"]["step"] for r in timeline if r["kind"] == "step.started"]
    assert starts.count("stop") == 1
    assert starts.count("set_aside") == 1

    # every row written before T is back; none written after T
    rows = sql(lab, "his-db-1", f"SELECT note, count(*) FROM {PROBE} GROUP BY note")  # noqa: S608
    assert rows == [("before", 100)]

    # the standby streams from the restored primary and has replayed the restored table
    repl = sql(lab, "his-db-1", "SELECT application_name, state FROM pg_stat_replication",
               dbname="postgres")
    assert ("his-db-2", "streaming") in repl
    pgsetup.wait_streaming(lab.host("his-db-2").pg, lab.password)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if sql(lab, "his-db-2", f"SELECT count(*) FROM {PROBE}") == [(100,)]:  # noqa: S608
                break
        except psycopg.errors.UndefinedTable:
            pass
        time.sleep(0.5)
    else:
        raise AssertionError("the standby did not replay the restored table")
    ((primary_tli,),) = sql(lab, "his-db-1", "SELECT timeline_id FROM pg_control_checkpoint()",
                            dbname="postgres")
    ((standby_tli,),) = sql(lab, "his-db-2", "SELECT received_tli FROM pg_stat_wal_receiver",
                            dbname="postgres")
    assert standby_tli == primary_tli >= 2

    # the timeline report: each step against the level-1 deadlines, the RPO achieved
    report = body["report"]
    assert report["drill"] is True
    assert [s["id"] for s in report["steps"]] == [
        "fence", "stop", "prepare", "set_aside", "restore", "recover", "checks", "open",
        "standby", "post_checks"]
    statuses = {s["id"]: s["status"] for s in report["steps"]}
    assert statuses["fence"] == statuses["prepare"] == "skipped"  # new-host mode only
    assert all(s["ended_after_s"] is not None and s["ended_after_s"] >= s["started_after_s"]
               for s in report["steps"] if s["status"] != "skipped")
    assert [(d["name"], d["met"]) for d in report["deadlines"]] == [
        ("respond", True), ("solution", True), ("resolve", True)]
    assert report["elapsed_s"] > 0
    assert report["timeline"] == primary_tli
    assert report["last_transaction_at"] is not None
    assert report["last_transaction_at"] <= mistake.replace(" ", "T")
    assert report["data_loss_s"] is not None
    assert any("damaged copy kept at his-db-1:" in item for item in report["remaining"])
    assert any("re-instantiate the logical replicas" in item for item in report["remaining"])

    # and the text the engineer reads
    shown = hisops("show", body["run_id"], env=env)
    assert shown.rc == 0, shown.err
    assert "EMERGENCY RESTORE DRILL" in shown.out
    assert "resolve  due" in shown.out
    assert "MISSED" not in shown.out


@pytest.fixture
def spare(lab: Lab, env: dict[str, str]) -> Iterator[str]:
    """verify-1 as the spare host a new-host restore lands on; afterwards the lab is put back:
    the spare's cluster dropped, his-db-1's container started again with its PostgreSQL, and
    the repository pointed back at it (the backup runbook's configure step, as an operator
    would)."""
    yield "verify-1"
    sh(lab, "verify-1", "pg_dropcluster 15 main --stop; "
                        "rm -rf /var/lib/postgresql/15/main.damaged-*")
    # lab up starts the killed container again with its sshd and PostgreSQL (and changes
    # nothing that runs)
    lifecycle.up(lab.settings)
    pgsetup.wait_ready(lab.host("his-db-1").pg, lab.password)
    result = hisops("run", "backup", "--yes", env=env, timeout=900)
    assert result.rc == 0, result.err


def test_new_host_drill_restores_latest_onto_a_spare_and_fences_the_primary(
        lab: Lab, env: dict[str, str], spare: str) -> None:
    # the last transaction before the primary's host "dies", archived
    sql(lab, "his-db-1", f"CREATE TABLE IF NOT EXISTS {LAST} (note text); "  # noqa: S608
                         f"INSERT INTO {LAST} VALUES ('written before the crash')")
    ((segment,),) = sql(lab, "his-db-1", "SELECT pg_walfile_name(pg_switch_wal())",
                        dbname="postgres")
    wait_archived(lab, segment)

    # the primary's host dies: its container is killed, sshd and all
    subprocess.run(["podman", "kill", containers.container_name(lab.settings, "his-db-1")],
                   check=True, capture_output=True, timeout=120)

    first = hisops("run", "emergency-restore", "-e", "mode=new-host", "-e", f"host={spare}",
                   "-e", "primary=his-db-1", "-e", "standbys=", "--drill",
                   "--confirm", spare, "--json", env=env, timeout=1800)
    assert first.rc == 1, first.err  # the fence cannot reach a dead host: nothing else ran
    failed = first.json()
    assert [(s["id"], s["status"]) for s in failed["steps"]] == [("fence", "failed")]
    # the engineer fenced it another way and says how; the procedure goes on
    result = hisops("resume", failed["run_id"], "--skip-step", "fence", "--reason",
                    "host dead: container killed (the lab's power switch)", "--json",
                    env=env, timeout=1800)
    assert result.rc == 0, result.err
    body = result.json()

    # the spare is an open primary holding the last archived transaction, archiving again
    assert sql(lab, spare, "SELECT pg_is_in_recovery()", dbname="postgres") == [(False,)]
    assert sql(lab, spare, f"SELECT note FROM {LAST}") == [("written before the crash",)]  # noqa: S608
    ((failed, archived),) = sql(lab, spare, "SELECT failed_count, last_archived_wal "
                                            "FROM pg_stat_archiver", dbname="postgres")
    assert failed == 0
    assert archived is not None
    resolutions = [r["payload"] for r in hisops("show", body["run_id"], "--json", env=env)
                   .json()["timeline"] if r["kind"] == "step.resolution"]
    assert [(r["step"], r["action"]) for r in resolutions] == [("fence", "skip")]

    report = body["report"]
    assert [(s["id"], s["status"]) for s in report["steps"]][:3] == [
        ("fence", "skipped"), ("stop", "ok"), ("prepare", "changed")]
    assert {s["id"]: s["status"] for s in report["steps"]}["standby"] == "skipped"
    assert any(r.startswith(f"point the applications (and any monitoring) at {spare}")
               for r in report["remaining"])
    assert any(r.startswith("his-db-1 is fenced") for r in report["remaining"])
    assert any(r.startswith("no standby streams") for r in report["remaining"])
