"""SIGKILL ``hisops run`` at 50+ points across the backup, verify-backup and patch-postgres
runbooks on the lab, resuming after each kill (issue 11).

For each runbook one chain: a run killed at its first point, then ``hisops resume`` killed at
the next, and so on until a resume finishes (see faultkill.py). The points are every step's
boundaries and, inside each step, the first task and every k-th one (task failpoints fired by
the Ansible executor), spread over the task counts of an uninterrupted reference run. A kill
inside a non-idempotent step must make resume refuse; the test then decides as an operator
would, from evidence (pgBackRest's catalogue, the journal). At the end the hosts' state equals
the uninterrupted run's, no non-idempotent step ran twice but by a journaled retry, and the
journal verifies. The patch chain runs on the lab's own three database hosts, first put back
on the base release and put back there again afterwards, as test_patch_postgres does.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from hisops.lab import versions
from tests.fixtures.lab import Lab
from tests.integration.faultkill import (
    Chain,
    assert_no_double_runs,
    kill_points,
    non_idempotent_steps,
    run_chain,
    show,
    task_counts,
)
from tests.integration.helpers import env_with, evidence_payloads, hisops
from tests.integration.test_backup_drill import scratch_is_gone, sh
from tests.integration.test_patch_postgres import releases, table_counts, wait_replication

# a chain is ~2-5 minutes on an idle machine; the default 600 s leaves no margin when the
# two cores are shared
pytestmark = [pytest.mark.lab, pytest.mark.timeout(1200)]

INFO = "runuser -u pgbackrest -- pgbackrest --stanza=his --output=json info"
CONFIGS = ("find /etc/pgbackrest /etc/postgresql/15/main/conf.d -type f -exec sha256sum {} + "
           "2>/dev/null | sort -k2 || true")
KILLS: dict[str, int] = {}  # runbook -> kills, for the total


@pytest.fixture(scope="module")
def env(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("faultkill-home")
    return env_with(HISOPS_HOME=str(home), HISOPS_JOURNAL=str(home / "journal.sqlite3"),
                    HISOPS_INVENTORY=str(lab.settings.inventory_file))


def backup_info(lab: Lab) -> dict[str, Any]:
    return dict(json.loads(sh(lab, "backup-1", INFO))[0])


def labels(lab: Lab) -> set[str]:
    return {b["label"] for b in backup_info(lab)["backup"]}


def wait_repository_idle(lab: Lab, timeout: float = 180) -> None:
    """A killed run's pgbackrest may still run on the hosts: wait until it lets go."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not backup_info(lab)["status"]["lock"]["backup"]["held"]:
            return
        time.sleep(1)
    raise AssertionError("pgbackrest still holds the backup lock")


def backup_state(lab: Lab, before: set[str]) -> dict[str, Any]:
    """What a backup run leaves behind, independent of which run it was."""
    info = backup_info(lab)
    new = [b for b in info["backup"] if b["label"] not in before]
    check = sh(lab, "his-db-1", "runuser -u postgres -- pgbackrest --stanza=his check "
                                ">/dev/null 2>&1 && echo ok || echo failed")
    return {"stanza": info["status"]["message"], "new_backups": len(new),
            "new_types": sorted(b["type"] for b in new),
            "wal_check": check.strip(),
            "configs": {h: sh(lab, h, CONFIGS) for h in ("his-db-1", "backup-1")}}


# --- backup -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def backup_reference(lab: Lab, env: dict[str, str]) -> dict[str, Any]:
    """An uninterrupted backup run: its end state and its task counts."""
    # on a fresh lab the repository does not exist yet: the run's configure step makes it
    configured = subprocess.run([*lab.ssh_args("backup-1"), "id -u pgbackrest"],
                                capture_output=True, timeout=60, check=False).returncode == 0
    before = labels(lab) if configured else set()
    result = hisops("run", "backup", "--yes", env=env, timeout=900)
    assert result.rc == 0, result.err
    run_id = hisops("runs", "--json", env=env).json()[-1]["run_id"]
    return {"state": backup_state(lab, before),
            "tasks": task_counts(Path(env["HISOPS_HOME"]), run_id)}


def test_backup_survives_kills_at_every_step_and_inside_them(
        lab: Lab, env: dict[str, str], backup_reference: dict[str, Any]) -> None:
    tasks = backup_reference["tasks"]
    assert tasks["configure"] > 20, tasks
    assert tasks["backup"] > 10, tasks
    # the backup step takes the backup at its 8th task: kills before it mean a retry
    points = kill_points([("configure", tasks["configure"], 8),
                          ("backup", tasks["backup"], 3), ("oracle_backup", 0, 1)])
    before = labels(lab)

    def decide(run_id: str, step: str) -> tuple[str, str]:
        wait_repository_idle(lab)
        taken = labels(lab) - before
        if taken:
            return "skip", f"pgbackrest info lists {sorted(taken)} taken by this run"
        return "retry", "pgbackrest info lists no backup taken by this run"

    chain = run_chain(["run", "backup", "--yes"], points, env,
                      non_idempotent=non_idempotent_steps("backup"), decide=decide)
    _report("backup", chain)
    assert len(chain.kills) >= 12, chain.kills
    assert {"before-step:configure", "task:configure:1", "after-step:configure",
            "before-step:backup", "task:backup:1"} <= set(chain.kills)
    assert [d[0] for d in chain.decisions] == ["backup"] * len(chain.decisions)
    assert len(chain.decisions) >= 2, "no kill inside the non-idempotent backup step"

    assert backup_state(lab, before) == backup_reference["state"]
    shown = show(chain.run_id, env)
    assert shown["status"] == "succeeded"
    assert_no_double_runs(shown, {"backup"})
    _journal_verifies(env)


# --- verify-backup ------------------------------------------------------------------------


def drill_evidence(env: dict[str, str], run_id: str) -> list[dict[str, Any]]:
    return [p["evidence"] for p in evidence_payloads("restore_drill", env, run_id)]


def drill_state(lab: Lab, env: dict[str, str], run_id: str) -> dict[str, Any]:
    proofs = drill_evidence(env, run_id)
    return {"drills": len(proofs), "passed": [p["passed"] for p in proofs],
            "labels": [p["backup"]["label"] for p in proofs],
            "checks": [p["checks"] for p in proofs], "scratch_clean": scratch_is_gone(lab)}


@pytest.fixture(scope="module")
def verify_reference(lab: Lab, env: dict[str, str],
                     backup_reference: dict[str, Any]) -> dict[str, Any]:
    label = max(labels(lab))
    result = hisops("run", "verify-backup", "--yes", "-e", f"backup={label}", env=env,
                    timeout=900)
    assert result.rc == 0, result.err
    run_id = hisops("runs", "--json", env=env).json()[-1]["run_id"]
    return {"label": label, "state": drill_state(lab, env, run_id),
            "tasks": task_counts(Path(env["HISOPS_HOME"]), run_id)}


def test_verify_backup_survives_kills_at_every_step_and_inside_them(
        lab: Lab, env: dict[str, str], verify_reference: dict[str, Any]) -> None:
    reference = verify_reference["state"]
    assert reference["drills"] == 1
    assert reference["passed"] == [True]
    assert reference["scratch_clean"] is True
    tasks = verify_reference["tasks"]
    points = kill_points([("drill", tasks["drill"], 15), ("cleanup", tasks["cleanup"], 5),
                          ("oracle_verify", 0, 1), ("oracle_duplicate", 0, 1)])

    def decide(run_id: str, step: str) -> tuple[str, str]:
        # the drill's evidence is journaled when it finishes: none means it must run again
        if drill_evidence(env, run_id):
            return "skip", "the journal holds this run's drill evidence"
        return "retry", "no drill evidence for this run in the journal"

    chain = run_chain(["run", "verify-backup", "--yes", "-e",
                       f"backup={verify_reference['label']}"], points, env,
                      non_idempotent=non_idempotent_steps("verify-backup"), decide=decide)
    _report("verify-backup", chain)
    assert len(chain.kills) >= 12, chain.kills
    assert {"before-step:drill", "task:drill:1", "after-step:drill", "task:cleanup:1",
            "after-step:oracle_duplicate"} <= set(chain.kills)
    assert {d[1] for d in chain.decisions} == {"retry"}
    assert drill_state(lab, env, chain.run_id) == reference
    shown = show(chain.run_id, env)
    assert shown["status"] == "succeeded"
    assert_no_double_runs(shown, {"drill", "oracle_duplicate"})
    _journal_verifies(env)


# --- patch-postgres -----------------------------------------------------------------------


def cluster_state(lab: Lab) -> dict[str, Any]:
    wait_replication(lab)
    roles = {}
    for host in ("his-db-1", "his-db-2"):
        with lab.connect(host, dbname="postgres") as conn:
            roles[host] = conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]
    return {"versions": versions.server_versions(lab.settings), "in_recovery": roles,
            "rows": {h: table_counts(lab, h) for h in ("his-db-1", "his-db-2", "his-db-3")}}


def test_patch_postgres_survives_kills_at_every_step_and_inside_them(
        lab: Lab, env: dict[str, str], verify_reference: dict[str, Any]) -> None:
    """No reference patch run here (it would cost a second patch and downgrade): the end
    state is the one test_patch_postgres asserts for an uninterrupted run, every host at the
    target, the same primary, replication streaming, the rows unchanged."""
    old, new = releases(lab)
    versions.install_release(lab.settings, old)
    try:
        before = cluster_state(lab)
        assert set(before["versions"].values()) == {old}
        # no reference run to count from: generous bounds, a point no attempt reaches is
        # passed over (hosts already at the target skip most of their tasks on a resume)
        points = kill_points([("stage", 60, 8), ("standbys", 200, 8), ("primary", 120, 8)])
        chain = run_chain(["run", "patch-postgres", "--yes", "-e", f"target_version={new}"],
                          points, env, non_idempotent=non_idempotent_steps("patch-postgres"),
                          decide=lambda run_id, step: ("retry", "unexpected"))
        _report("patch-postgres", chain)
        assert len(chain.kills) >= 20, chain.kills  # 23 when last measured
        assert {f"{b}-step:{s}" for b in ("before", "after")
                for s in ("stage", "standbys", "primary")} <= set(chain.kills)
        assert chain.decisions == []  # every patch step is idempotent
        after = cluster_state(lab)
        assert after == {**before, "versions": dict.fromkeys(before["versions"], new)}
        assert after["in_recovery"] == {"his-db-1": False, "his-db-2": True}
        shown = show(chain.run_id, env)
        assert shown["status"] == "succeeded"
        # Every patched host's evidence is journaled once, though the attempt that patched it
        # was killed before its play ended: the role keeps it on the host per run and a
        # resumed attempt that finds the host at the target publishes it again.
        proofs = evidence_payloads("patch", env, chain.run_id)
        by_host = {p["subject"]: p["evidence"] for p in proofs}
        print(f"patch evidence journaled for {sorted(by_host)}")
        assert len(proofs) == len(by_host), [p["subject"] for p in proofs]
        assert set(by_host) == {"his-db-1", "his-db-2", "his-db-3"}
        image = lab.up.image
        assert {(e["from_version"], e["to_version"], bool(e["passed"]))
                for e in by_host.values()} == {(image.pg_version, image.patch_version, True)}
        _journal_verifies(env)
    finally:
        versions.install_release(lab.settings, old)
        wait_replication(lab)
    total = sum(KILLS.values())
    print(f"kills per runbook: {KILLS}; total {total}")
    if len(KILLS) == 3:
        assert total >= 50


def _report(runbook: str, chain: Chain) -> None:
    KILLS[runbook] = len(chain.kills)
    print(f"{runbook}: {len(chain.kills)} kills in {chain.seconds:.0f} s: {chain.kills}; "
          f"decisions {chain.decisions}; passed over {chain.passed_over}")


def _journal_verifies(env: dict[str, str]) -> None:
    verified = hisops("journal", "verify", "--json", env=env)
    assert verified.rc == 0, verified.out + verified.err
