"""Kill a run with SIGKILL at every step boundary and inside steps, then resume it.

The final state must equal an uninterrupted run's, and no non-idempotent step may run twice.
Real ansible-runner and real local commands; the kill is a real SIGKILL of the process group.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.integration.helpers import (
    LOCAL_INVENTORY,
    env_with,
    hisops,
    kill_during,
    last_run,
    read_log,
)

RUNBOOK = "tests/data/runbooks/resume.yml"
EXPECTED_LOG = ["s1", "s2", "s4", "s5"]


def run_args(directory: Path, *extra: str) -> list[str]:
    return ["run", RUNBOOK, "-i", str(LOCAL_INVENTORY), "-e", f"dir={directory}", "--yes",
            *extra]


def assert_final_state(directory: Path) -> None:
    assert read_log(directory) == EXPECTED_LOG
    assert (directory / "marker-db-a.txt").read_text() == "managed by hisops\n"
    assert (directory / "s2.done").exists()


def test_uninterrupted_run_reference(tmp_path: Path) -> None:
    result = hisops(*run_args(tmp_path))
    assert result.rc == 0, result.err
    assert_final_state(tmp_path)
    run = last_run()
    statuses = {s["id"]: s["status"] for s in run["steps"]}
    assert statuses == {"s1": "changed", "s2": "changed", "s3": "changed", "s4": "changed",
                        "s5": "changed"}
    # A second run finds s2 already done (its check succeeds) and s3 unchanged (idempotent).
    again = hisops(*run_args(tmp_path, "--json"))
    assert again.rc == 0, again.err
    steps = {s["id"]: s for s in again.json()["steps"]}
    assert steps["s2"]["status"] == "skipped"
    assert steps["s2"]["hosts"]["db-a"]["detail"] == "already satisfied"
    assert steps["s3"]["status"] == "ok"


@pytest.mark.parametrize("boundary", ["s1", "s2", "s3", "s4"])
def test_kill_at_step_boundary_then_resume(tmp_path: Path, boundary: str) -> None:
    killed = hisops(*run_args(tmp_path),
                    env=env_with(HISOPS_FAILPOINTS=f"after-step:{boundary}=kill"))
    assert killed.rc == -signal.SIGKILL
    run = last_run()
    assert run["status"] == "running"  # the journal says running; its process is dead
    done = EXPECTED_LOG[: EXPECTED_LOG.index(boundary) + 1] if boundary != "s3" else ["s1", "s2"]
    assert read_log(tmp_path) == done

    resumed = hisops("resume", run["run_id"])
    assert resumed.rc == 0, resumed.err
    assert_final_state(tmp_path)
    final = last_run()
    assert final["status"] == "succeeded"
    assert all(s["attempts"] == 1 for s in final["steps"]), "a finished step ran again"


def test_kill_inside_idempotent_step_reruns_it(tmp_path: Path) -> None:
    kill_during("s3", *run_args(tmp_path, "-e", "pause=6"))
    run = last_run()
    assert {s["id"]: s["status"] for s in run["steps"]}["s3"] == "running"
    # s3 is idempotent: resume re-runs it without asking (and pays its pause again).
    resumed = hisops("resume", run["run_id"])
    assert resumed.rc == 0, resumed.err
    assert_final_state(tmp_path)
    steps = {s["id"]: s for s in last_run()["steps"]}
    assert steps["s3"]["attempts"] == 2
    assert steps["s4"]["attempts"] == 1


def test_kill_inside_non_idempotent_step_needs_a_decision(tmp_path: Path) -> None:
    run_id = kill_during("s4", *run_args(tmp_path, "-e", "s4_sleep=8"))
    # the local sleep died with hisops's process group: s4 never appended
    refused = hisops("resume", run_id)
    assert refused.rc == 3
    assert "--retry-step s4" in refused.err
    assert "\n" not in refused.err.strip()
    assert read_log(tmp_path) == ["s1", "s2"]

    no_reason = hisops("resume", run_id, "--skip-step", "s4")
    assert no_reason.rc == 3
    assert "--reason" in no_reason.err

    resumed = hisops("resume", run_id, "--retry-step", "s4")
    # s4 sleeps again under the same plan: the honest cost of a retry.
    assert resumed.rc == 0, resumed.err
    assert_final_state(tmp_path)
    final = last_run()
    assert final["resolutions"][0]["action"] == "retry"
    assert {s["id"]: s["attempts"] for s in final["steps"]}["s1"] == 1


def test_skip_step_is_journaled_with_reason(tmp_path: Path) -> None:
    run_id = kill_during("s4", *run_args(tmp_path, "-e", "s4_sleep=8"))
    resumed = hisops("resume", run_id, "--skip-step", "s4", "--reason", "done by hand",
                     "--operator", "carol")
    assert resumed.rc == 0, resumed.err
    assert read_log(tmp_path) == ["s1", "s2", "s5"]
    final = last_run()
    assert final["resolutions"] == [
        {"step": "s4", "action": "skip", "reason": "done by hand", "operator": "carol"}]


def test_resume_refuses_a_changed_plan(tmp_path: Path) -> None:
    runbook = tmp_path / "rb.yml"
    runbook.write_text((Path(RUNBOOK)).read_text().replace(
        "../playbooks/write_marker.yml", str(Path("tests/data/playbooks/write_marker.yml")
                                             .resolve())))
    killed = hisops("run", str(runbook), "-i", str(LOCAL_INVENTORY), "-e", f"dir={tmp_path}",
                    "--yes", env=env_with(HISOPS_FAILPOINTS="after-step:s1=kill"))
    assert killed.rc == -signal.SIGKILL
    runbook.write_text(runbook.read_text().replace("echo s5", "echo s5-changed"))
    refused = hisops("resume", last_run()["run_id"])
    assert refused.rc == 3
    assert "plan changed" in refused.err


def test_resume_stops_an_ansible_playbook_that_outlived_a_killed_run(tmp_path: Path) -> None:
    """ansible-playbook runs in a session of its own: a SIGKILL of hisops leaves it running.
    Resume must stop it before running the step again, or the step would run twice at once."""
    import os

    run_id = kill_during("s3", *run_args(tmp_path, "-e", "sleep=20"), delay=4)
    timeline = hisops("show", run_id, "--json").json()["timeline"]
    pids = [r["payload"]["pid"] for r in timeline if r["kind"] == "step.process"]
    assert len(pids) == 1, "the playbook's pid was not journaled"
    pid = pids[0]
    os.kill(pid, 0)  # still alive: the orphan this test is about
    resumed = hisops("resume", run_id, "--json")
    # the step is idempotent, so resume re-runs it (and pays the 20 s sleep again)
    assert resumed.rc == 0, resumed.err
    stopped = [r for r in hisops("show", run_id, "--json").json()["timeline"]
               if r["kind"] == "step.orphan_stopped"]
    assert [r["payload"] for r in stopped] == [{"step": "s3", "pid": pid}]
    assert not Path(f"/proc/{pid}").exists() or b"ansible-playbook" not in Path(
        f"/proc/{pid}/cmdline").read_bytes()
    assert_final_state(tmp_path)
