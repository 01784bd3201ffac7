"""The journal's contract, run against both backends: SQLite and a throwaway PostgreSQL.

Tampering is done with plain SQL behind the journal's back, as a person with database
access could; concurrency uses real processes.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import socket
import sqlite3
import sys
from collections.abc import Iterator
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import psycopg
import pytest

from hisops.errors import JournalError, LockBusy
from hisops.journal import GENESIS_HASH, Journal, LockHolder, LockInfo, open_journal
from hisops.journal import records as rk
from hisops.journal.chain import record_hash

# fork, not spawn: the workers below are test-module functions. The parent never holds an
# open journal while forking (SQLite forbids carrying a connection across fork).
_MP = mp.get_context("fork")
BUSY_EXIT = 3


@pytest.fixture(params=["sqlite", "postgres"])
def journal_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'journal.sqlite3'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def journal(journal_url: str) -> Iterator[Journal]:
    with open_journal(journal_url) as opened:
        yield opened


def tamper(url: str, statement: str, params: tuple[Any, ...] = ()) -> None:
    """Change the database directly, bypassing the journal."""
    if url.startswith("postgresql://"):
        with psycopg.connect(url, autocommit=True) as pg:
            pg.execute(statement.replace("?", "%s"), params)
    else:
        lite = sqlite3.connect(url.removeprefix("sqlite://"))
        try:
            with lite:
                lite.execute(statement, params)
        finally:
            lite.close()


def holder(run_id: str, operator: str = "alice", started_at: str = "2025-01-31T08:00:00+00:00",
           ) -> LockHolder:
    return LockHolder(run_id=run_id, operator=operator, started_at=started_at,
                      pid=os.getpid(), machine=socket.gethostname())


def fill(journal: Journal, n: int) -> None:
    for i in range(1, n + 1):
        journal.append("run-a", rk.STEP_FINISHED, {"step": f"s{i}", "status": "ok"})


# --- appends and reads ----------------------------------------------------------------------


def test_append_if_latest_refuses_when_another_writer_came_first(journal: Journal) -> None:
    fill(journal, 2)  # records of other kinds do not count
    assert journal.append_if_latest(["problem.opened"], 0, [("P-1", "problem.opened", {})])
    first = journal.records(kinds=["problem.opened"])[-1].seq
    # a writer that read before that append sees 0 and must read again
    assert not journal.append_if_latest(["problem.opened"], 0,
                                        [("P-2", "problem.opened", {"x": 1})])
    assert journal.append_if_latest(["problem.opened"], first,
                                    [("P-2", "problem.opened", {}), ("P-2", "problem.seen", {})])
    assert [r.run_id for r in journal.records(kinds=["problem.opened"])] == ["P-1", "P-2"]
    assert journal.verify().ok


def test_append_chains_records_in_seq_order(journal: Journal) -> None:
    first = journal.append("run-a", rk.RUN_STARTED, {"runbook": "pg-failover", "operator": "ana"})
    journal.append("run-b", rk.RUN_STARTED, {"runbook": "pg-backup"})
    third = journal.append("run-a", rk.STEP_STARTED, {"step": "promote", "hosts": ["db2"]})

    records = journal.records()

    assert [r.seq for r in records] == [1, 2, 3]
    assert records[0] == first
    assert records[2] == third
    assert records[0].prev_hash == GENESIS_HASH
    assert [r.prev_hash for r in records[1:]] == [r.hash for r in records[:-1]]
    assert records[0].ts.endswith("+00:00")
    assert len(records[0].ts.split(".")[1].split("+")[0]) == 6  # microseconds
    assert [r.seq for r in journal.records("run-a")] == [1, 3]
    assert [r.seq for r in journal.records(kinds=[rk.RUN_STARTED])] == [1, 2]
    assert journal.records("run-a", kinds=[rk.STEP_STARTED]) == [third]
    assert journal.records(kinds=[]) == []
    assert journal.run_ids() == ["run-a", "run-b"]


def test_payload_round_trips_exactly_and_verifies(journal: Journal) -> None:
    # 1e20 and key order are what JSONB would rewrite; the chain must still verify.
    payload = {"z": 1, "a": {"big": 1e20, "f": 2.5, "items": [None, True, "Zürich ✓"]}}
    journal.append("run-a", rk.STEP_HOST, payload)

    assert journal.records()[0].payload == payload
    assert journal.verify().ok


@pytest.mark.parametrize(
    "payload",
    [{"x": object()}, {"x": float("nan")}, {"x": {1, 2}}, ["not", "a", "dict"], {"x": "\ud800"}],
    ids=["object", "nan", "set", "list", "lone-surrogate"],
)
def test_non_json_payload_is_rejected_and_nothing_written(journal: Journal, payload: Any) -> None:
    with pytest.raises(JournalError, match="payload"):
        journal.append("run-a", rk.STEP_HOST, payload)

    assert journal.records() == []


def test_append_many_writes_all_or_nothing(journal: Journal, journal_url: str) -> None:
    fill(journal, 2)
    # A stray row at seq 4 makes the second insert of the batch fail.
    tamper(journal_url, "INSERT INTO records VALUES (4, 'x', 'x', 'x', '{}', 'x', 'x')")

    with pytest.raises(JournalError, match="append"):
        journal.append_many("run-b", [(rk.STEP_STARTED, {"i": 1}), (rk.STEP_STARTED, {"i": 2})])

    assert journal.records("run-b") == []
    tamper(journal_url, "DELETE FROM records WHERE seq = 4")
    added = journal.append_many("run-b", [(rk.STEP_STARTED, {"i": 1}), (rk.STEP_FINISHED, {})])
    assert [r.seq for r in added] == [3, 4]
    assert journal.records("run-b") == added
    assert journal.verify().ok


def test_records_survive_reopen_and_the_chain_continues(journal_url: str) -> None:
    with open_journal(journal_url) as journal:
        fill(journal, 2)
        before = journal.records()
    with open_journal(journal_url) as journal:  # schema creation is idempotent
        assert journal.records() == before
        added = journal.append("run-a", rk.RUN_FINISHED, {"status": "succeeded"})
        assert (added.seq, added.prev_hash) == (3, before[-1].hash)
        assert journal.verify().ok


def test_closed_journal_refuses_use(journal: Journal) -> None:
    journal.close()

    with pytest.raises(JournalError, match="closed"):
        journal.append("run-a", rk.RUN_STARTED, {})


# --- verification -----------------------------------------------------------------------------


def test_clean_and_empty_chains_verify(journal: Journal) -> None:
    assert journal.verify() == journal.verify().__class__(ok=True, records=0, problems=[])
    fill(journal, 3)

    report = journal.verify()

    assert (report.ok, report.records, report.problems) == (True, 3, [])


def test_edited_payload_is_detected(journal: Journal, journal_url: str) -> None:
    fill(journal, 3)
    tamper(journal_url, "UPDATE records SET payload = ? WHERE seq = 2", ('{"status":"failed"}',))

    report = journal.verify()

    assert not report.ok
    assert report.problems == ["record 2: hash mismatch (edited)"]


def test_edited_and_rehashed_record_is_detected(journal: Journal, journal_url: str) -> None:
    fill(journal, 3)
    second = journal.records()[1]
    forged = record_hash(second.prev_hash, 2, second.ts, second.run_id, second.kind, {})
    tamper(journal_url, "UPDATE records SET payload = '{}', hash = ? WHERE seq = 2", (forged,))

    report = journal.verify()

    assert not report.ok
    assert len(report.problems) == 1
    assert report.problems[0].startswith("record 3: prev_hash does not match the hash of record 2")


def test_deleted_middle_record_is_detected(journal: Journal, journal_url: str) -> None:
    fill(journal, 4)
    tamper(journal_url, "DELETE FROM records WHERE seq = 2")

    report = journal.verify()

    assert (report.ok, report.records) == (False, 3)
    assert report.problems == ["record 2 missing (deleted)"]


@pytest.mark.parametrize(("deleted", "expected"), [
    (1, "record 4 missing at the end (truncated: chain head is at record 4, last record is 3)"),
    (2, "records 3-4 missing at the end (truncated: chain head is at record 4, last record is 2)"),
])
def test_deleted_last_records_are_detected(
    journal: Journal, journal_url: str, deleted: int, expected: str
) -> None:
    fill(journal, 4)
    tamper(journal_url, "DELETE FROM records WHERE seq > ?", (4 - deleted,))

    report = journal.verify()

    assert not report.ok
    assert report.problems == [expected]


# --- locks ------------------------------------------------------------------------------------


def test_busy_lock_raises_with_the_holder_and_changes_nothing(journal: Journal) -> None:
    journal.acquire_locks(holder("run-a", "alice", "2025-01-31T08:00:00+00:00"), ["db2"])
    records_before = journal.records()
    locks_before = journal.list_locks()

    with pytest.raises(LockBusy) as caught:
        journal.acquire_locks(holder("run-b", "bob", "2025-01-31T09:00:00+00:00"),
                              ["db1", "db2", "db3"])

    busy = caught.value
    assert (busy.host, busy.run_id, busy.operator, busy.started_at) == (
        "db2", "run-a", "alice", "2025-01-31T08:00:00+00:00")
    assert journal.list_locks() == locks_before  # db1 and db3 were not taken either
    assert journal.records() == records_before
    assert journal.verify().ok


def test_acquire_locks_journals_in_the_same_transaction(journal: Journal) -> None:
    mine = holder("run-a")
    journal.acquire_locks(mine, ["db2", "db1", "db1"])

    assert journal.list_locks() == [LockInfo("db1", mine), LockInfo("db2", mine)]
    [record] = journal.records("run-a", kinds=[rk.LOCK_ACQUIRED])
    assert record.payload == {"hosts": ["db1", "db2"]}


def test_same_run_may_reacquire_its_locks(journal: Journal) -> None:
    mine = holder("run-a")
    journal.acquire_locks(mine, ["db1"])

    journal.acquire_locks(mine, ["db1", "db2"])  # resume: db1 is already ours

    assert [(lock.host, lock.holder.run_id) for lock in journal.list_locks()] == [
        ("db1", "run-a"), ("db2", "run-a")]
    assert len(journal.records("run-a", kinds=[rk.LOCK_ACQUIRED])) == 2


def test_release_locks_journals_and_frees_hosts(journal: Journal) -> None:
    journal.acquire_locks(holder("run-a"), ["db2", "db1"])

    assert journal.release_locks("run-a") == ["db1", "db2"]

    assert journal.list_locks() == []
    [record] = journal.records("run-a", kinds=[rk.LOCK_RELEASED])
    assert record.payload == {"hosts": ["db1", "db2"]}
    assert journal.release_locks("run-a") == []  # nothing held: nothing journaled
    assert len(journal.records("run-a", kinds=[rk.LOCK_RELEASED])) == 1
    journal.acquire_locks(holder("run-b"), ["db1"])  # free for others now


def test_break_locks_journals_operator_and_reason(journal: Journal) -> None:
    journal.acquire_locks(holder("run-a"), ["db1"])

    broken = journal.break_locks("run-a", operator="bob", reason="controller crashed")

    assert broken == ["db1"]
    assert journal.list_locks() == []
    [record] = journal.records("run-a", kinds=[rk.LOCK_BROKEN])
    assert record.payload == {"hosts": ["db1"], "operator": "bob", "reason": "controller crashed"}
    with pytest.raises(JournalError, match="reason"):
        journal.break_locks("run-a", operator="bob", reason=" ")


def test_hosts_given_as_a_string_are_refused(journal: Journal) -> None:
    with pytest.raises(JournalError, match="not the string"):
        journal.acquire_locks(holder("run-a"), "db1")

    assert journal.list_locks() == []


def test_update_lock_owner_moves_locks_to_the_resuming_process(journal: Journal) -> None:
    journal.acquire_locks(holder("run-a"), ["db1", "db2"])
    journal.acquire_locks(holder("run-b"), ["db3"])

    journal.update_lock_owner("run-a", 4242, "controller-2")

    owners = {lock.host: (lock.holder.pid, lock.holder.machine) for lock in journal.list_locks()}
    assert owners == {"db1": (4242, "controller-2"), "db2": (4242, "controller-2"),
                      "db3": (os.getpid(), socket.gethostname())}


# --- several processes ------------------------------------------------------------------------


def _append_worker(url: str, worker: int, count: int, start: Barrier) -> None:
    with open_journal(url) as journal:
        start.wait(timeout=60)
        for i in range(count):
            journal.append(f"run-{worker}", rk.STEP_HOST, {"worker": worker, "i": i})


def _run_processes(procs: list[Any]) -> list[int | None]:
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=180)
    for proc in procs:
        if proc.is_alive():
            proc.kill()
    return [proc.exitcode for proc in procs]


def test_concurrent_appends_from_processes_form_one_gapless_chain(journal_url: str) -> None:
    workers, per_worker = 4, 50
    # No journal exists yet: the workers also race to create the schema (first use).
    start = _MP.Barrier(workers)
    procs = [_MP.Process(target=_append_worker, args=(journal_url, w, per_worker, start))
             for w in range(workers)]

    assert _run_processes(procs) == [0] * workers

    with open_journal(journal_url) as journal:
        records = journal.records()
        report = journal.verify()
    assert [r.seq for r in records] == list(range(1, workers * per_worker + 1))
    for w in range(workers):
        assert [r.payload["i"] for r in records if r.run_id == f"run-{w}"] == list(
            range(per_worker))
    assert (report.ok, report.records, report.problems) == (True, workers * per_worker, [])


def _lock_worker(url: str, run_id: str, hosts: list[str], start: Barrier) -> None:
    with open_journal(url) as journal:
        start.wait(timeout=60)
        try:
            journal.acquire_locks(holder(run_id), hosts)
        except LockBusy:
            sys.exit(BUSY_EXIT)


def test_concurrent_lock_attempts_exactly_one_wins(journal_url: str) -> None:
    open_journal(journal_url).close()
    rounds = 5
    for n in range(rounds):
        # Overlapping but different host lists: each must be all-or-nothing.
        hosts = {"run-x": [f"db{n}", f"shared{n}"], "run-y": [f"shared{n}", f"other{n}"]}
        start = _MP.Barrier(2)
        procs = [_MP.Process(target=_lock_worker, args=(journal_url, f"{run}-{n}", h, start))
                 for run, h in hosts.items()]

        assert sorted(_run_processes(procs), key=str) == [0, BUSY_EXIT]

    with open_journal(journal_url) as journal:
        locks = journal.list_locks()
        acquired = journal.records(kinds=[rk.LOCK_ACQUIRED])
        assert journal.verify().ok
    assert len(acquired) == rounds
    for record in acquired:  # the winner holds exactly its own hosts
        held = sorted(lock.host for lock in locks if lock.holder.run_id == record.run_id)
        assert held == record.payload["hosts"]
    assert len(locks) == 2 * rounds


# --- PostgreSQL only --------------------------------------------------------------------------


def test_postgres_journal_reconnects_after_the_server_drops_it(pg_url: str) -> None:
    with open_journal(pg_url) as journal:
        journal.append("run-a", rk.RUN_STARTED, {})
        with psycopg.connect(pg_url, autocommit=True) as admin:
            killed = admin.execute(
                "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name = 'hisops'"
            ).fetchall()
        assert killed == [(True,)]

        journal.append("run-a", rk.RUN_FINISHED, {"status": "succeeded"})

        assert [r.seq for r in journal.records()] == [1, 2]
        assert journal.verify().ok
