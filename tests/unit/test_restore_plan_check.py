"""The restore_plan check guard: what it reads from the hosts (replaced here by a recorded
`pgbackrest info` of the lab and a `df` figure) becomes the plan, its refusals and its ETA."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hisops.checks import BadArgument, CheckContext
from hisops.checks import restore_plan as check
from hisops.inventory import Inventory
from hisops.journal import Journal, open_journal
from hisops.journal import records as rk

from ..conftest import DATA

INVENTORY = DATA / "inventories" / "local.yml"
INFO = (Path(__file__).resolve().parent.parent / "fixtures" / "pgbackrest"
        / "info_lab_timeline.json").read_text()
NOW = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
GB = 1_000_000_000


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with open_journal(str(tmp_path / "journal.sqlite3")) as opened:
        yield opened


@pytest.fixture
def hosts(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What the hosts answer: the repository's catalogue and the target's free bytes."""
    answers: dict[str, Any] = {"info": INFO, "free": 50 * GB, "commands": []}

    def run(ctx: CheckContext, host: str, command: str) -> str:
        answers["commands"].append((host, command))
        if "pgbackrest" in command:
            return str(answers["info"])
        return f"{answers['free']}\n"

    monkeypatch.setattr(check, "_run", run)
    return answers


def context(journal: Journal | None, **args: Any) -> CheckContext:
    base = {"database": "his", "host": "db1", "repository": "db1", "target": "latest"}
    return CheckContext(name="guard", hosts=(), inventory=Inventory(INVENTORY),
                        args={**base, **args}, journal=journal, now=NOW)


def drill(journal: Journal) -> None:
    journal.append("verify-1", rk.EVIDENCE, {
        "step": "drill", "type": "restore_drill", "subject": "his", "evidence": {
            "passed": True, "backup": {"label": "x", "database_bytes": 10 * GB},
            "restore_s": 100.0, "recovery_s": 20.0, "checks_s": 30.0}})


def test_the_plan_reads_the_repository_as_its_user_and_the_target_disk(
        journal: Journal, hosts: dict[str, Any]) -> None:
    result = check.restore_plan(context(journal))
    assert result.ok, result.problems
    assert hosts["commands"][0] == (
        "db1", "runuser -u pgbackrest -- pgbackrest --stanza=his --output=json info")
    assert "df -B1" in hosts["commands"][1][1]
    assert result.data["backup"]["label"] == "20261127-000852F"
    assert result.data["disk"]["free_bytes"] == 50 * GB
    assert any(line.startswith("EMERGENCY RESTORE PLAN") for line in result.notes)
    assert [r["step"] for r in result.rows][0] == "1. stop"


def test_too_little_disk_refuses_the_run(journal: Journal, hosts: dict[str, Any]) -> None:
    hosts["free"] = 1000
    result = check.restore_plan(context(journal))
    assert not result.ok
    assert any("not enough disk on db1" in p for p in result.problems)


def test_a_target_before_every_backup_refuses_the_run(
        journal: Journal, hosts: dict[str, Any]) -> None:
    result = check.restore_plan(context(journal, target="2026-11-20 00:00:00+00:00"))
    assert not result.ok
    assert result.data == {"target": "time 2026-11-20 00:00:00+00:00"}


def test_an_unreadable_catalogue_refuses_the_run_saying_so(
        journal: Journal, hosts: dict[str, Any]) -> None:
    hosts["info"] = "ERROR: [103]: unable to find a valid repository"
    result = check.restore_plan(context(journal))
    assert not result.ok
    assert "catalogue cannot be read" in result.problems[0]


def test_eta_counts_drills_and_earlier_emergency_restores(
        journal: Journal, hosts: dict[str, Any]) -> None:
    without = check.restore_plan(context(journal))
    assert without.data["eta"]["seconds"] is None
    drill(journal)
    journal.append("er-1", rk.RUN_STARTED, {"runbook": "emergency-restore", "params": {}})
    for n, step in enumerate(("stop", "set_aside", "restore", "open")):
        journal.append("er-1", rk.STEP_STARTED, {"step": step, "index": n, "attempt": 1})
        journal.append("er-1", rk.STEP_FINISHED, {"step": step, "status": "changed"})
    journal.append("er-1", rk.RUN_FINISHED, {"status": "succeeded"})
    result = check.restore_plan(context(journal))
    eta = result.data["eta"]
    assert eta["drills"] == 1
    assert eta["procedure_s"] is not None  # measured from the journaled emergency restore
    assert eta["seconds"] >= eta["restore_s"] + 20 + 30


def test_incident_at_needs_an_offset() -> None:
    with pytest.raises(BadArgument) as info:
        check.validate({"database": "his", "host": "a", "repository": "b",
                        "incident_at": "2026-11-27 03:00"})
    assert info.value.arg == "incident_at"


def test_an_unknown_mode_or_target_is_bad_input() -> None:
    base = {"database": "his", "host": "a", "repository": "b"}
    with pytest.raises(BadArgument):
        check.validate({**base, "mode": "sideways"})
    with pytest.raises(BadArgument):
        check.validate({**base, "target": "yesterday"})
