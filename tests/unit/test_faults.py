"""Failpoints: the names the engine and the Ansible executor fire, and what they do."""

from __future__ import annotations

from typing import Any

import pytest

from hisops import faults
from hisops.executors import ansible as ansible_exec
from hisops.faults import FailpointError, failpoint


def _event(name: str, task: str = "", host: str | None = None, pid: int = 4242) -> dict[str, Any]:
    data: dict[str, Any] = {"task": task}
    if host:
        data["host"] = host
    return {"event": name, "event_data": data, "pid": pid, "created": "2026-11-27T10:00:00"}


# one play of two tasks on two hosts, then a handler: four task starts in all
EVENTS = [
    _event("playbook_on_start"),
    _event("playbook_on_play_start"),
    _event("playbook_on_task_start", "Gathering Facts"),
    _event("runner_on_start", "Gathering Facts", "db-a"),
    _event("runner_on_start", "Gathering Facts", "db-b"),
    _event("runner_on_ok", "Gathering Facts", "db-a"),
    _event("runner_on_ok", "Gathering Facts", "db-b"),
    _event("playbook_on_task_start", "Write the marker"),
    _event("runner_on_start", "Write the marker", "db-a"),
    _event("runner_on_start", "Write the marker", "db-b"),
    _event("runner_on_ok", "Write the marker", "db-a"),
    _event("runner_on_ok", "Write the marker", "db-b"),
    _event("playbook_on_task_start", "Check the marker"),
    _event("runner_on_ok", "Check the marker", "db-a"),
    _event("playbook_on_handler_task_start", "Restart PostgreSQL"),
    _event("runner_on_ok", "Restart PostgreSQL", "db-a"),
    _event("playbook_on_stats"),
]


@pytest.fixture
def fired(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    names: list[str] = []
    monkeypatch.setattr(ansible_exec, "failpoint", names.append)
    return names


def _tracker(ident: str, progress: list[dict[str, Any]] | None = None) -> Any:
    sink = progress if progress is not None else []
    return ansible_exec._Tracker(ident, sink.append, lambda event: None)


@pytest.mark.parametrize(("ident", "scope"), [
    ("configure-1-1db607", "configure"),  # the engine's first attempt
    ("configure-3-ab12cd", "configure"),  # a resumed attempt: the same names
    ("pg-patch-2-retry-0f0f0f", "pg-patch"),  # a step id with dashes, a retry
    ("standbys-1-abcdef-b2", "standbys"),  # a serial batch
    ("primary-rollback-abcdef", "primary-rollback"),  # a rollback is told apart
    ("t1", "t1"),  # an ident the engine did not make is used as it is
])
def test_task_failpoints_name_the_step_and_count_each_task_once(
        fired: list[str], ident: str, scope: str) -> None:
    tracker = _tracker(ident)
    for event in EVENTS:
        tracker(event)
    assert fired == [f"task:{scope}:1", f"task:{scope}:2", f"task:{scope}:3",
                     f"task:{scope}:4"]


def test_each_run_counts_from_one(fired: list[str]) -> None:
    for ident in ("backup-1-aaaaaa", "backup-2-bbbbbb"):
        tracker = _tracker(ident)
        for event in EVENTS[:8]:
            tracker(event)
    assert fired == ["task:backup:1", "task:backup:2", "task:backup:1", "task:backup:2"]


def test_the_playbook_pid_is_reported_before_the_first_task(fired: list[str]) -> None:
    """A kill at task 1 must leave resume a pid to stop (the first host event comes later)."""
    progress: list[dict[str, Any]] = []
    tracker = _tracker("backup-1-aaaaaa", progress)
    tracker(EVENTS[0])
    tracker(EVENTS[1])
    tracker(EVENTS[2])
    assert fired == ["task:backup:1"]
    assert [p.get("pid") for p in progress] == [4242]
    # the same keys as every other progress event: a consumer may read any of them
    assert set(progress[0]) == {"ident", "host", "task", "status", "pid"}


def test_a_task_failpoint_kills_when_named(monkeypatch: pytest.MonkeyPatch) -> None:
    killed: list[tuple[int, int]] = []
    monkeypatch.setattr(faults.os, "kill", lambda pid, sig: killed.append((pid, sig)))
    monkeypatch.setenv("HISOPS_FAILPOINTS", "after-step:x=raise, task:backup:2")
    tracker = _tracker("backup-1-aaaaaa")
    for event in EVENTS[:7]:
        tracker(event)
    assert killed == []  # task 1 is not named
    tracker(EVENTS[7])
    assert killed == [(faults.os.getpid(), faults.signal.SIGKILL)]


def test_failpoints_are_inert_unless_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HISOPS_FAILPOINTS", raising=False)
    failpoint("task:backup:1")  # nothing happens
    monkeypatch.setenv("HISOPS_FAILPOINTS", "task:backup:2=raise")
    failpoint("task:backup:1")
    failpoint("task:backup:20")
    with pytest.raises(FailpointError, match="task:backup:2"):
        failpoint("task:backup:2")
