"""Audited data corrections on the lab (issue 12's acceptance): each shipped example runs,
``hisops datafix undo`` gives back the exact prior values (whole-table digests equal), and a
fix whose expect_rows does not match, whose SQL fails, that waits on a lock, that writes rows
find did not select, or that is killed before its commit changes nothing. Four-eyes approval
covers the rows seen when planning. Real CLI, real PostgreSQL on the podman lab."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hisops.lab import datafix_scenario as scenario
from tests.fixtures.lab import Lab
from tests.integration.helpers import env_with, hisops

pytestmark = pytest.mark.lab

PRIMARY = "his-db-1"
TABLES = {"patients": "patient_id", "outpatient_visits": "visit_id",
          "prescriptions": "prescription_id", "inpatient_stays": "stay_id",
          "orders": "order_id", "billing": "bill_id"}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("datafix-home")
    return env_with(HISOPS_HOME=str(home), HISOPS_JOURNAL=str(home / "journal.sqlite3"),
                    HISOPS_OPERATOR="dba-anna")


@pytest.fixture
def errors(lab: Lab) -> Iterator[dict[str, Any]]:
    """One of each data error the examples correct; taken out again afterwards."""
    with lab.connect(PRIMARY) as conn:
        injected = scenario.inject(conn)
    yield injected
    with lab.connect(PRIMARY) as conn:
        scenario.remove(conn, injected)


def digests(lab: Lab) -> dict[str, str]:
    """An md5 of every row of every HIS table: equal digests, equal data."""
    with lab.connect(PRIMARY) as conn:
        return {table: str(conn.execute(
            f"SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY {key}), '')) "  # noqa: S608
            f"FROM his.{table} t").fetchone()[0]) for table, key in TABLES.items()}


def one(lab: Lab, query: str, *args: Any) -> Any:
    with lab.connect(PRIMARY) as conn:
        row = conn.execute(query, args).fetchone()
    return None if row is None else row[0]


def run(env: dict[str, str], runbook: str, *params: str, extra: tuple[str, ...] = ()) -> Any:
    args = [a for p in params for a in ("-e", p)]
    return hisops("run", runbook, *args, "--yes", "--json", *extra, env=env, timeout=300)


def undo(env: dict[str, str], run_id: str, *extra: str) -> Any:
    return hisops("datafix", "undo", run_id, "--yes", "--json", *extra, env=env, timeout=300)


def assert_released(result: Any) -> None:
    """A correction that changed nothing does not keep its host locked (a failed run that
    changed something keeps its locks for a resume): the next attempt may start at once."""
    assert "nothing was changed; the host locks are released" in result.err, result.err


def bill_params(errors: dict[str, Any], payment: str | None = None) -> tuple[str, ...]:
    bill = errors["bill"]
    return (f"bill_id={bill['bill_id']}", f"payment={payment or bill['payment']}",
            "ticket=INC-1")


def merge_params(errors: dict[str, Any], visits: int | None = None) -> tuple[str, ...]:
    merge = errors["merge"]
    return (f"keep={merge['keep']}", f"duplicate={merge['duplicate']}",
            f"visits={visits if visits is not None else merge['visits']}",
            f"prescriptions={merge['prescriptions']}", "ticket=INC-3")


def discharge_params(errors: dict[str, Any]) -> tuple[str, ...]:
    d = errors["discharge"]
    return (f"stay_id={d['stay_id']}", f"recorded={d['recorded']}",
            f"corrected={d['corrected']}", "ticket=INC-2")


def test_billing_example_runs_and_undo_gives_back_exact_values(
        lab: Lab, env: dict[str, str], errors: dict[str, Any]) -> None:
    before = digests(lab)
    bill_id = errors["bill"]["bill_id"]
    plan = hisops("plan", "datafix-billing-paid", *[a for p in bill_params(errors)
                                                     for a in ("-e", p)], "--json", env=env)
    assert plan.rc == 0, plan.err
    shown = plan.json()
    step = shown["steps"][0]
    assert step["kind"] == "sql"
    assert step["action"]["args"]["planned_rows"] == {PRIMARY: [1]}  # in the hashed plan
    rehearsal = shown["datafix"]["mark_paid"][0]
    assert rehearsal["counts"] == [1]
    assert rehearsal["rehearsed"] is True
    assert rehearsal["sample"] == [{"table": "his.billing", "key": {"bill_id": bill_id},
                                    "change": "updated", "columns": {"paid": [False, True]}}]
    assert digests(lab) == before, "plan's rehearsal must roll back"

    fixed = run(env, "datafix-billing-paid", *bill_params(errors))
    assert fixed.rc == 0, fixed.err
    assert one(lab, "SELECT paid FROM his.billing WHERE bill_id = %s", bill_id) is True
    after = digests(lab)
    assert {t for t in after if after[t] != before[t]} == {"billing"}
    run_id = fixed.json()["run_id"]
    assert one(lab, "SELECT count(*) FROM hisops.datafix_rows WHERE run_id = %s", run_id) == 1

    undone = undo(env, run_id)
    assert undone.rc == 0, undone.err
    assert digests(lab) == before
    assert one(lab, "SELECT undone_by FROM hisops.datafix_runs WHERE run_id = %s",
               run_id) == undone.json()["run_id"]
    again = undo(env, run_id)  # a second undo finds the run already undone
    assert again.rc == 1
    assert "already undone" in again.err
    assert_released(again)


def test_merge_example_keeps_audit_trail_and_undo_is_exact(
        lab: Lab, env: dict[str, str], errors: dict[str, Any]) -> None:
    merge = errors["merge"]
    before = digests(lab)
    name = one(lab, "SELECT name FROM his.patients WHERE patient_id = %s", merge["duplicate"])
    id_number = one(lab, "SELECT id_number FROM his.patients WHERE patient_id = %s",
                    merge["duplicate"])
    fixed = run(env, "datafix-merge-patient", *merge_params(errors))
    assert fixed.rc == 0, fixed.err
    assert one(lab, "SELECT count(*) FROM his.patients WHERE patient_id = %s",
               merge["duplicate"]) == 0
    for table in ("outpatient_visits", "prescriptions"):
        assert one(lab, f"SELECT count(*) FROM his.{table} WHERE patient_id = %s",  # noqa: S608
                   merge["duplicate"]) == 0
    run_id = fixed.json()["run_id"]
    # the audit trail: every moved row and the whole duplicate registration, exact, in the
    # database; in the journal with personal data redacted
    kept = one(lab, "SELECT before FROM hisops.datafix_rows WHERE run_id = %s AND "
               "tbl = 'his.patients'", run_id)
    assert kept["name"] == name
    assert kept["id_number"] == id_number
    assert one(lab, "SELECT count(*) FROM hisops.datafix_rows WHERE run_id = %s",
               run_id) == 1 + merge["visits"] + merge["prescriptions"]
    journal = Path(env["HISOPS_JOURNAL"]).read_bytes()
    assert name.encode() not in journal
    assert id_number.encode() not in journal
    evidence = _evidence(env, run_id, "datafix")
    deleted = [r for r in evidence["rows"] if r["change"] == "deleted"]
    assert deleted[0]["columns"]["name"] == ["[personal data]", None]
    assert evidence["counts"]["updated"] == merge["visits"] + merge["prescriptions"]

    undone = undo(env, run_id)
    assert undone.rc == 0, undone.err
    assert digests(lab) == before


def test_discharge_example_and_undo_refused_after_a_later_change(
        lab: Lab, env: dict[str, str], errors: dict[str, Any]) -> None:
    stay = errors["discharge"]["stay_id"]
    before = digests(lab)
    fixed = run(env, "datafix-discharge-date", *discharge_params(errors))
    assert fixed.rc == 0, fixed.err
    assert one(lab, "SELECT discharged_at FROM his.inpatient_stays WHERE stay_id = %s",
               stay).isoformat() == errors["discharge"]["corrected"]
    run_id = fixed.json()["run_id"]
    with lab.connect(PRIMARY) as conn:  # a nurse moves the patient's bed after the fix
        conn.execute("UPDATE his.inpatient_stays SET bed = 'X1' WHERE stay_id = %s", (stay,))
    changed = digests(lab)
    refused = undo(env, run_id)
    assert refused.rc == 1
    assert f"stay_id={stay}: changed since the fix (bed)" in refused.err
    assert digests(lab) == changed, "a refused undo changes nothing"
    assert_released(refused)
    with lab.connect(PRIMARY) as conn:
        conn.execute("UPDATE his.inpatient_stays SET bed = %s WHERE stay_id = %s",
                     (one(lab, "SELECT before->>'bed' FROM hisops.datafix_rows WHERE "
                               "run_id = %s", run_id), stay))
    undone = undo(env, run_id)
    assert undone.rc == 0, undone.err
    assert digests(lab) == before


def test_expect_rows_mismatch_changes_nothing(lab: Lab, env: dict[str, str],
                                              errors: dict[str, Any]) -> None:
    before = digests(lab)
    other = "自费" if errors["bill"]["payment"] != "自费" else "医保"
    wrong = run(env, "datafix-billing-paid", *bill_params(errors, payment=other))
    assert wrong.rc == 1
    assert "his.billing: expected 1 row(s), found 0; nothing changed" in wrong.err
    assert_released(wrong)
    more = run(env, "datafix-merge-patient", *merge_params(errors, visits=5))
    assert more.rc == 1
    assert "his.outpatient_visits: expected 5 row(s), found 2; nothing changed" in more.err
    assert_released(more)
    assert digests(lab) == before
    assert one(lab, "SELECT count(*) FROM hisops.datafix_runs WHERE run_id IN (%s, %s)",
               wrong.json()["run_id"], more.json()["run_id"]) == 0


def _custom(tmp_path: Path, name: str, step: dict[str, Any]) -> Path:
    doc = {"name": name, "summary": "a test correction",
           "parameters": {"bill_id": {"type": "int", "required": True}},
           "targets": ["db_primary"],
           "steps": [{"id": "fix", "kind": "sql", "hosts": "db_primary", "database": "his",
                      "find": [{"table": "his.billing", "key": ["bill_id"],
                                "where": "t.bill_id = :bill_id", "expect_rows": 1}],
                      **step}]}
    path = tmp_path / f"{name}.yml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    return path


def test_failing_sql_and_stray_writes_change_nothing(lab: Lab, env: dict[str, str],
                                                     errors: dict[str, Any],
                                                     tmp_path: Path) -> None:
    bill_id = errors["bill"]["bill_id"]
    before = digests(lab)
    cases = {
        # the first statement succeeds; the second fails: the first must not stay
        "failing-sql": ({"fix": ["UPDATE his.billing SET paid = true WHERE bill_id = :bill_id",
                                 "UPDATE his.billing SET amount = amount / 0 WHERE bill_id = "
                                 ":bill_id"]},
                        "the database refused a statement: division by zero; nothing changed"),
        "stray-row": ({"fix": ["UPDATE his.billing SET paid = paid WHERE bill_id IN "
                               "(:bill_id, :bill_id + 1)"]},
                      "the fix changed 1 row(s) of his.billing that find did not select"),
        "undeclared-table": ({"fix": ["UPDATE his.billing SET paid = true WHERE bill_id = "
                                      ":bill_id",
                                      "UPDATE his.dataset_info SET value = value WHERE "
                                      "key = 'seed'"]},
                             "the fix changed his.dataset_info, which no find entry selects"),
        "failed-verify": ({"fix": ["UPDATE his.billing SET paid = true WHERE bill_id = "
                                   ":bill_id"],
                           "verify": [{"name": "still unpaid", "sql": "SELECT paid FROM "
                                       "his.billing WHERE bill_id = :bill_id",
                                       "expect_value": False}]},
                          "verify 'still unpaid' returned 'true', expected 'false'"),
    }
    for name, (step, message) in cases.items():
        path = _custom(tmp_path, f"datafix-{name}", step)
        got = run(env, str(path), f"bill_id={bill_id}")
        assert got.rc == 1, (name, got.err)
        assert message in got.err, (name, got.err)
        assert_released(got)
    assert digests(lab) == before


def test_lock_wait_is_bounded_and_changes_nothing(lab: Lab, env: dict[str, str],
                                                  errors: dict[str, Any]) -> None:
    before = digests(lab)
    holding = threading.Event()
    done = threading.Event()

    def hold_row() -> None:  # the HIS has the bill open for editing
        with lab.connect(PRIMARY) as conn:
            conn.execute("SELECT 1 FROM his.billing WHERE bill_id = %s FOR UPDATE",
                         (errors["bill"]["bill_id"],))
            holding.set()
            done.wait(60)
            conn.rollback()

    holder = threading.Thread(target=hold_row, daemon=True)
    holder.start()
    assert holding.wait(20)
    started = time.monotonic()
    try:
        got = run(env, "datafix-billing-paid", *bill_params(errors))
    finally:
        done.set()
        holder.join(30)
    took = time.monotonic() - started
    assert got.rc == 1
    assert "locked by another session (lock_timeout 5s)" in got.err
    assert took < 30, f"the lock wait was not bounded: {took:.1f} s"
    assert_released(got)
    assert digests(lab) == before


def test_check_mode_rehearses_and_rolls_back(lab: Lab, env: dict[str, str],
                                             errors: dict[str, Any]) -> None:
    before = digests(lab)
    got = hisops("run", "datafix-merge-patient", *[a for p in merge_params(errors)
                                                   for a in ("-e", p)],
                 "--check", "--json", env=env)
    assert got.rc == 0, got.err
    detail = got.json()["steps"][0]["hosts"][PRIMARY]["detail"]
    assert detail.startswith("check mode: found his.outpatient_visits 2, his.prescriptions 3")
    assert detail.endswith("rolled back")
    assert digests(lab) == before


def _killed_at(env: dict[str, str], failpoint: str, errors: dict[str, Any]) -> str:
    killed_env = {**env, "HISOPS_FAILPOINTS": f"datafix:mark_paid:{failpoint}=kill"}
    proc = subprocess.run([sys.executable, "-m", "hisops", "run", "datafix-billing-paid",
                           *[a for p in bill_params(errors) for a in ("-e", p)], "--yes"],
                          env=killed_env, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL, check=False)
    assert proc.returncode == -signal.SIGKILL
    return str(json.loads(hisops("runs", "--json", env=env).out)[-1]["run_id"])


def test_kill_before_commit_leaves_nothing_and_resume_completes(
        lab: Lab, env: dict[str, str], errors: dict[str, Any]) -> None:
    before = digests(lab)
    run_id = _killed_at(env, "before-commit", errors)
    deadline = time.monotonic() + 20  # the server sees the connection drop and rolls back
    while time.monotonic() < deadline and one(
            lab, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'hisops' "
                 "AND state IN ('idle in transaction', 'idle in transaction (aborted)')"):
        time.sleep(0.2)
    assert digests(lab) == before, "a kill before the commit left a partial change"
    assert one(lab, "SELECT count(*) FROM hisops.datafix_rows WHERE run_id = %s", run_id) == 0
    resumed = hisops("resume", run_id, "--json", env=env)
    assert resumed.rc == 0, resumed.err
    assert one(lab, "SELECT paid FROM his.billing WHERE bill_id = %s",
               errors["bill"]["bill_id"]) is True
    assert one(lab, "SELECT count(*) FROM hisops.datafix_runs WHERE run_id = %s", run_id) == 1
    assert undo(env, run_id).rc == 0
    assert digests(lab) == before


def test_kill_after_commit_is_not_fixed_twice_and_its_evidence_is_kept(
        lab: Lab, env: dict[str, str], errors: dict[str, Any]) -> None:
    """Committed, then killed before the journal heard of it: the resumed step finds the
    database's record, fixes nothing again, and journals what the killed attempt did, so
    the correction can still be undone."""
    before = digests(lab)
    run_id = _killed_at(env, "after-commit", errors)
    fixed = digests(lab)
    assert fixed != before
    resumed = hisops("resume", run_id, "--json", env=env)
    assert resumed.rc == 0, resumed.err
    detail = resumed.json()["steps"][0]["hosts"][PRIMARY]["detail"]
    assert detail.startswith("committed by an earlier attempt of this run: found his.billing 1")
    assert digests(lab) == fixed
    evidence = _evidence(env, run_id, "datafix")
    assert evidence["rows"] == [{"table": "his.billing",
                                 "key": {"bill_id": errors["bill"]["bill_id"]},
                                 "change": "updated", "columns": {"paid": [False, True]}}]
    assert undo(env, run_id).rc == 0
    assert digests(lab) == before


def test_four_eyes_approval_covers_the_rows_seen_when_planning(
        lab: Lab, env: dict[str, str], errors: dict[str, Any], tmp_path: Path) -> None:
    from hisops import paths

    inventory = yaml.safe_load(paths.default_inventory().read_text())
    inventory["all"]["children"]["env_lab"]["vars"].update(
        hisops_protected=True, hisops_four_eyes=True)
    protected = tmp_path / "hosts-protected.yml"
    protected.write_text(yaml.safe_dump(inventory, allow_unicode=True))
    merge = errors["merge"]
    # the counts of visits and prescriptions are left to the runbook's ranges: what binds
    # the approval to the rows is the count seen when planning, part of the plan hash
    params = ["-e", f"keep={merge['keep']}", "-e", f"duplicate={merge['duplicate']}",
              "-e", "ticket=INC-3"]
    before = digests(lab)

    def start() -> Any:
        return hisops("run", "datafix-merge-patient", "-i", str(protected), *params,
                      "--confirm", PRIMARY, "--json", env=env)

    plan = hisops("plan", "datafix-merge-patient", "-i", str(protected), *params, "--json",
                  env=env).json()
    assert [s["id"] for s in plan["steps"]] == ["environment_approval", "merge"]
    assert plan["steps"][1]["action"]["args"]["planned_rows"] == {PRIMARY: [2, 3, 0, 0, 0, 1]}
    waiting = start()
    assert waiting.rc == 3, waiting.err  # waits for a second person
    run_id = waiting.json()["run_id"]
    assert waiting.json()["plan_hash"] == plan["plan_hash"]  # the SQL and the rows reviewed
    # what the approver reviews: the SQL and the rows seen when planning
    shown = hisops("show", run_id, env={**env, "COLUMNS": "300"}).out
    assert "fix 6: DELETE FROM his.patients WHERE patient_id = :duplicate" in shown
    assert "find 2: his.prescriptions, expect 0..500; rows when planned: his-db-1 3" in shown
    assert hisops("approve", run_id, "--as", "dba-anna", env=env).rc != 0  # not the starter
    assert hisops("approve", run_id, "--as", "dba-ben", env=env).rc == 0
    # a prescription is written for the duplicate between the approval and the run: still
    # within the runbook's range, but not what the approver saw: refused, nothing changed
    with lab.connect(PRIMARY) as conn:
        extra = conn.execute(
            "INSERT INTO his.prescriptions SELECT max(prescription_id) + 1, %s, "
            "(SELECT min(visit_id) FROM his.outpatient_visits WHERE patient_id = %s), "
            "'维生素C片', '0.1g tid', 1, 3.00, now()::timestamp(0) FROM his.prescriptions "
            "RETURNING prescription_id", (merge["duplicate"], merge["duplicate"])).fetchone()
    changed = digests(lab)
    stale = hisops("resume", run_id, "--json", env=env)
    assert stale.rc == 1
    assert "the rows changed since the plan was made" in stale.err
    assert "his.prescriptions 3" in stale.err
    assert "his.prescriptions 4" in stale.err
    assert digests(lab) == changed
    assert_released(stale)
    with lab.connect(PRIMARY) as conn:
        conn.execute("DELETE FROM his.prescriptions WHERE prescription_id = %s", (extra[0],))
    assert digests(lab) == before
    # the same correction, planned again on the same rows: same plan hash, approved, run
    second = start()
    assert second.rc == 3
    second_id = second.json()["run_id"]
    assert second.json()["plan_hash"] == plan["plan_hash"]
    assert hisops("approve", second_id, "--as", "dba-ben", env=env).rc == 0
    done = hisops("resume", second_id, "--json", env=env)
    assert done.rc == 0, done.err
    assert one(lab, "SELECT count(*) FROM his.patients WHERE patient_id = %s",
               merge["duplicate"]) == 0
    # the undo changes the protected database too: typed confirmation and a second person
    waiting_undo = undo(env, second_id, "--confirm", PRIMARY)
    assert waiting_undo.rc == 3, waiting_undo.err
    undo_id = waiting_undo.json()["run_id"]
    assert hisops("approve", undo_id, "--as", "dba-ben", env=env).rc == 0
    undone = hisops("resume", undo_id, "--json", env=env)
    assert undone.rc == 0, undone.err
    assert digests(lab) == before


def _evidence(env: dict[str, str], run_id: str, kind: str) -> dict[str, Any]:
    shown = hisops("show", run_id, "--json", env=env).json()
    for record in shown["timeline"]:
        if record["kind"] == "evidence.recorded" and record["payload"]["type"] == kind:
            return dict(record["payload"]["evidence"])
    raise AssertionError(f"no {kind} evidence in run {run_id}")
