"""Inspection on the lab: every host read at once, the standby stopped becomes a level-2
replication finding and a problem with its deadlines; started again, the problem waits for a
person to confirm it (never closed silently). Real CLI, real hosts."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from hisops.lab import containers
from hisops.reports.browser import screenshot
from tests.fixtures.lab import Lab
from tests.integration.helpers import env_with, hisops

pytestmark = pytest.mark.lab


def _cluster(lab: Lab, host: str, action: str) -> None:
    name = containers.container_name(lab.settings, host)
    subprocess.run(["podman", "exec", name, "pg_ctlcluster", "15", "main", action],  # noqa: S603, S607
                   check=True, capture_output=True, timeout=120)


def _wait_streaming(lab: Lab, name: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with lab.connect("his-db-1", dbname="postgres") as conn:
            rows = conn.execute("SELECT 1 FROM pg_stat_replication WHERE application_name = %s "
                                "AND state = 'streaming'", (name,)).fetchall()
        if rows:
            return
        time.sleep(0.5)
    raise AssertionError(f"{name} did not stream again")


def _findings(report: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(f["rule"], f["host"]): f for e in report["hosts"] for f in e["findings"]}


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return env_with(HISOPS_HOME=str(tmp_path), HISOPS_JOURNAL=str(tmp_path / "j.sqlite3"))


def test_stopped_standby_is_a_level_2_finding_and_a_problem(lab: Lab, env: dict[str, str],
                                                             tmp_path: Path) -> None:
    _wait_streaming(lab, "his-db-2")
    healthy = hisops("inspect", "--json", "-", env=env)
    assert healthy.rc == 0, healthy.err
    report = healthy.json()
    assert report["partial"] is False
    assert {e["host"] for e in report["hosts"]} >= {"his-db-1", "his-db-2", "his-db-3",
                                                    "backup-1", "verify-1", "app-his-1"}
    by_host = {e["host"]: e for e in report["hosts"]}
    assert by_host["his-db-1"]["role"] == "primary"
    assert by_host["his-db-2"]["role"] == "standby"
    assert by_host["his-db-3"]["role"] == "subscriber"
    assert by_host["his-db-2"]["metrics"]["repl.receiver_streaming"] is True
    assert by_host["his-db-1"]["metrics"]["repl.replicas_missing"] == 0
    assert abs(by_host["his-db-1"]["metrics"]["os.clock_offset_s"]) < 1.0
    assert [i["up"] for i in by_host["app-his-1"]["interfaces"]] == [True, True]
    assert ("repl.replicas_missing", "his-db-1") not in _findings(report)

    _cluster(lab, "his-db-2", "stop")
    try:
        html, pdf = tmp_path / "inspection.html", tmp_path / "inspection.pdf"
        as_json = tmp_path / "inspection.json"
        stopped = hisops("inspect", "--json", str(as_json), "--report", str(html),
                         "--pdf", str(pdf), env=env)
        assert stopped.rc == 0, stopped.err
        assert "PARTIAL" not in stopped.out  # the standby host answers; its database does not
        written = json.loads(as_json.read_text(encoding="utf-8"))
        found = _findings(written)
        standby = next(c for c in written["coverage"] if c["host"] == "his-db-2")
        assert (standby["kind"], standby["read"], standby["up"]) == ("physical_standby",
                                                                    True, False)
        assert written["summary"]["coverage"]["copies_replicating"] == 1
        missing = found[("repl.replicas_missing", "his-db-1")]
        assert missing["severity"] == 2
        assert missing["subject"] == "his-db-2"
        assert found[("pg.down.copy", "his-db-2")]["severity"] == 2
        problem_id = missing["problem"]
        shown = hisops("problems", "show", problem_id, "--json", env=env)
        assert shown.rc == 0, shown.err
        problem = shown.json()
        assert problem["severity"] == 2
        assert problem["status"] == "open"
        assert {d["name"] for d in problem["deadlines"]} >= {"respond", "resolve"}
    finally:
        _cluster(lab, "his-db-2", "start")
    _wait_streaming(lab, "his-db-2")
    # the report a hospital receives: HTML with its trend charts (two inspections so far),
    # printed to PDF, and opened in a real browser
    page = html.read_text(encoding="utf-8")
    assert "数据库巡检报告" in page
    assert "<svg" in page
    assert problem_id in page
    assert pdf.read_bytes().startswith(b"%PDF-")
    png = screenshot(html, tmp_path / "inspection.png", height=1800)
    assert png.stat().st_size > 50_000

    again = hisops("inspect", "--json", "-", env=env)
    assert again.rc == 0, again.err
    assert ("repl.replicas_missing", "his-db-1") not in _findings(again.json())
    listed = hisops("problems", "list", "--status", "all", "--json", env=env)
    assert listed.rc == 0, listed.err
    status = {p["id"]: p["status"] for p in listed.json()}
    assert status[problem_id] == "to_confirm"

    # the next quarterly report counts the inspections and the level-2 problem
    quarterly = hisops("report", "quarterly", "--json", "-", env=env)
    assert quarterly.rc == 0, quarterly.err
    service = quarterly.json()
    assert [i["run_id"] for i in service["inspections"]["held"]][-3:] == [
        report["run_id"], written["run_id"], again.json()["run_id"]]
    assert [(i["copies_read"], i["copies"]) for i in service["inspections"]["held"]] == [
        (2, 2), (2, 2), (2, 2)]
    assert service["problems"]["levels"]["2"]["opened"] >= 1
    assert problem_id in {p["id"] for p in service["problems"]["still_open"]}


def test_an_unreachable_host_is_a_finding_and_the_report_says_partial(
        lab: Lab, env: dict[str, str], tmp_path: Path) -> None:
    name = containers.container_name(lab.settings, "app-his-1")
    subprocess.run(["podman", "stop", "--time", "5", name],  # noqa: S603, S607
                   check=True, capture_output=True, timeout=120)
    try:
        html = tmp_path / "partial.html"
        started = time.monotonic()
        result = hisops("inspect", "--json", "-", "--report", str(html), env=env)
        took = time.monotonic() - started
        assert result.rc == 0, result.err
        report = result.json()
        assert report["partial"] is True
        assert report["unreachable"] == ["app-his-1"]
        found = _findings(report)
        assert found[("host.unreachable", "app-his-1")]["severity"] == 2
        # the interfaces on the host stop answering too: a level-2 finding of their own
        assert found[("iface.down", "app-his-1")]["severity"] == 2
        # every other host was inspected in full
        read = {e["host"] for e in report["hosts"] if not e["error"]}
        assert read >= {"his-db-1", "his-db-2", "his-db-3", "backup-1", "verify-1"}
        assert by_host(report)["his-db-1"]["metrics"]["pg.up"] is True
        assert took < 60, f"an unreachable host held the inspection up for {took:.0f} s"
        page = html.read_text(encoding="utf-8")
        assert "本次巡检不完整" in page
        assert "app-his-1" in page
    finally:
        up = hisops("lab", "up", env=env_with(), timeout=600)  # starts the stopped container
        assert up.rc == 0, up.err


def by_host(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["host"]: e for e in report["hosts"]}


def _setting(lab: Lab, host: str, name: str) -> str:
    with lab.connect(host, dbname="postgres") as conn:
        row = conn.execute("SELECT setting FROM pg_settings WHERE name = %s", (name,)).fetchone()
    assert row is not None
    return str(row[0])


def _preload(lab: Lab, host: str, libraries: str) -> None:
    with lab.connect(host, dbname="postgres", autocommit=True) as conn:
        if libraries:
            conn.execute(f"ALTER SYSTEM SET shared_preload_libraries = '{libraries}'")
        else:
            conn.execute("ALTER SYSTEM RESET shared_preload_libraries")
    _cluster(lab, host, "restart")


def test_top_statements_come_from_pg_stat_statements(lab: Lab, env: dict[str, str]) -> None:
    host = "his-db-3"  # the logical subscriber: restarting it disturbs no other test's copy
    before = _setting(lab, host, "shared_preload_libraries")
    loaded = "pg_stat_statements" in before.split(",")
    if not loaded:
        _preload(lab, host, ",".join(filter(None, [before, "pg_stat_statements"])))
    created = False
    try:
        with lab.connect(host, autocommit=True) as conn:
            created = conn.execute("SELECT NOT EXISTS (SELECT 1 FROM pg_extension WHERE "
                                   "extname = 'pg_stat_statements')").fetchone() == (True,)
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            for _ in range(20):
                conn.execute("SELECT count(*) FROM his.patients WHERE birth_date < now()")
        result = hisops("inspect", "-l", host, "--json", "-", env=env)
        assert result.rc == 0, result.err
        [entry] = result.json()["hosts"]
        statements = entry["details"]["per_database"]["his"]["statements"]
        assert statements, "pg_stat_statements is loaded but no statement was read"
        ours = [s for s in statements if "his.patients" in s["query"]]
        assert ours, statements
        assert ours[0]["calls"] >= 20
    finally:
        if created:
            with lab.connect(host, autocommit=True) as conn:
                conn.execute("DROP EXTENSION IF EXISTS pg_stat_statements")
        if not loaded:
            _preload(lab, host, before)
    assert _setting(lab, host, "shared_preload_libraries") == before
