"""Locks, four-eyes approvals, rollback and secrets, through the real command line."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from tests.integration.helpers import (
    LOCAL_INVENTORY,
    env_with,
    hisops,
    kill_during,
    last_run,
    read_log,
    start,
    wait_for_step,
)

INV = str(LOCAL_INVENTORY)


def approval_run(directory: Path, operator: str = "alice") -> str:
    result = hisops("run", "tests/data/runbooks/approval.yml", "-i", INV, "-e",
                    f"dir={directory}", "--yes", "--operator", operator)
    assert result.rc == 3, result.err  # waiting for an approval is "refused to go on"
    assert "waiting at 'gate'" in result.err
    run = last_run()
    assert run["status"] == "waiting"
    assert run["waiting_step"] == "gate"
    return str(run["run_id"])


def test_four_eyes_needs_a_second_person(tmp_path: Path) -> None:
    run_id = approval_run(tmp_path)
    assert read_log(tmp_path) == ["before"]

    self_approval = hisops("approve", run_id, "--as", "alice")
    assert self_approval.rc == 3
    assert "four-eyes" in self_approval.err

    still_waiting = hisops("resume", run_id)
    assert still_waiting.rc == 3
    assert read_log(tmp_path) == ["before"]

    ok = hisops("approve", run_id, "--as", "bob", "--reason", "change ticket 42")
    assert ok.rc == 0, ok.err
    resumed = hisops("resume", run_id)
    assert resumed.rc == 0, resumed.err
    assert read_log(tmp_path) == ["before", "after"]
    final = last_run()
    assert final["status"] == "succeeded"
    assert final["approvals"][0]["approver"] == "bob"
    assert final["approvals"][0]["reason"] == "change ticket 42"


def test_approval_is_void_when_the_plan_changes(tmp_path: Path) -> None:
    runbook = tmp_path / "approval.yml"
    runbook.write_text(Path("tests/data/runbooks/approval.yml").read_text())
    result = hisops("run", str(runbook), "-i", INV, "-e", f"dir={tmp_path}", "--yes",
                    "--operator", "alice")
    assert result.rc == 3
    run_id = last_run()["run_id"]
    assert hisops("approve", run_id, "--as", "bob").rc == 0
    runbook.write_text(runbook.read_text().replace("echo after", "echo after-v2"))

    refused = hisops("resume", run_id)
    assert refused.rc == 3
    assert "plan changed" in refused.err
    replanned = hisops("resume", run_id, "--accept-plan-change")
    assert replanned.rc == 3, replanned.err  # bob's approval was for the old plan
    assert "waiting at 'gate'" in replanned.err
    assert read_log(tmp_path) == ["before"]
    assert hisops("approve", run_id, "--as", "bob").rc == 0
    assert hisops("resume", run_id).rc == 0
    assert read_log(tmp_path) == ["before", "after-v2"]


def test_second_run_on_locked_hosts_is_refused(tmp_path: Path) -> None:
    holder = approval_run(tmp_path / "a" if (tmp_path / "a").mkdir() is None else tmp_path)
    other = tmp_path / "b"
    other.mkdir()
    refused = hisops("run", "tests/data/runbooks/resume.yml", "-i", INV, "-e", f"dir={other}",
                     "--yes", "--operator", "dave")
    assert refused.rc == 3
    assert f"locked by run {holder}" in refused.err
    assert "operator alice" in refused.err
    assert read_log(other) == []  # nothing executed
    # A check run changes nothing and takes no lock: it may run beside the holder.
    assert hisops("run", "tests/data/runbooks/resume.yml", "-i", INV, "-e", f"dir={other}",
                  "--check").rc == 0


def test_dead_owner_lock_is_detected_and_broken_with_reason(tmp_path: Path) -> None:
    proc = start("run", "tests/data/runbooks/resume.yml", "-i", INV, "-e", f"dir={tmp_path}",
                 "-e", "s4_sleep=20", "--yes", "--operator", "erin")
    try:
        wait_for_step("s4")
        live = hisops("unlock", last_run()["run_id"], "--reason", "too early")
        assert live.rc == 3
        assert "still running" in live.err
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    run_id = last_run()["run_id"]
    locks = hisops("locks", "--json").json()
    assert {lk["host"]: lk["alive"] for lk in locks} == {"db-a": False}
    assert hisops("unlock", run_id).rc == 2  # --reason is required
    broken = hisops("unlock", run_id, "--reason", "owner died at 03:10", "--operator", "frank")
    assert broken.rc == 0, broken.err
    assert hisops("locks", "--json").json() == []
    timeline = hisops("show", run_id, "--json").json()["timeline"]
    record = next(r for r in timeline if r["kind"] == "lock.broken")
    assert record["payload"]["reason"] == "owner died at 03:10"
    assert record["payload"]["operator"] == "frank"


def test_failure_rolls_back_in_reverse_order_then_resume_succeeds(tmp_path: Path) -> None:
    args = ["tests/data/runbooks/failing.yml", "-i", INV, "-e", f"dir={tmp_path}"]
    failed = hisops("run", *args, "--yes")
    assert failed.rc == 1
    assert "step 'three' failed" in failed.err
    assert read_log(tmp_path) == ["one", "two", "undo-two", "undo-one"]
    run = last_run()
    assert {s["id"]: s["status"] for s in run["steps"]} == {
        "one": "rolled_back", "two": "rolled_back", "three": "failed"}
    (tmp_path / "allow-three").touch()
    resumed = hisops("resume", run["run_id"])
    assert resumed.rc == 0, resumed.err
    # rolled-back steps are unfinished again, so resume redoes them
    assert read_log(tmp_path) == ["one", "two", "undo-two", "undo-one", "one", "two", "three"]


def test_guard_failure_refuses_before_any_change(tmp_path: Path) -> None:
    runbook = tmp_path / "guarded.yml"
    runbook.write_text(
        "name: guarded\nsummary: refuses\nparameters:\n  dir: {type: str, required: true}\n"
        "targets: [db_primary]\nguards:\n  - name: primary has the flag\n    kind: ssh\n"
        "    hosts: db_primary\n    command: test -f {{ params.dir }}/flag\n"
        "steps:\n  - id: change\n    kind: ssh\n    hosts: db_primary\n"
        "    command: echo changed >> {{ params.dir }}/log\n")
    refused = hisops("run", str(runbook), "-i", INV, "-e", f"dir={tmp_path}", "--yes")
    assert refused.rc == 3
    assert "guard 'primary has the flag' failed" in refused.err
    assert read_log(tmp_path) == []
    assert hisops("locks", "--json").json() == []  # a refused run leaves no lock behind
    (tmp_path / "flag").touch()
    assert hisops("run", str(runbook), "-i", INV, "-e", f"dir={tmp_path}", "--yes").rc == 0


def test_canary_secret_never_reaches_artifacts_journal_or_output(tmp_path: Path) -> None:
    import hashlib

    canary = "CANARY-s3cr3t-7f1e9b"
    log_file = tmp_path / "hisops.log"
    env = env_with(HISOPS_SECRET_DB_PASSWORD=canary)
    result = hisops("-vv", "run", "tests/data/runbooks/secret.yml", "-i", INV, "-e",
                    f"dir={tmp_path}", "--yes", "--json", env=env)
    assert result.rc == 1  # the last step fails on purpose, with the secret in its stderr
    log_file.write_text(result.out + result.err)
    digest = hashlib.sha256(canary.encode()).hexdigest()
    # The secret did reach the playbook and the ssh step ...
    assert (tmp_path / "secret-db-a.sha256").read_text().strip() == digest
    assert (tmp_path / "ssh.sha256").read_text().strip() == digest
    # ... and nowhere else: journal, ansible-runner artifacts, output, show/runs output.
    shown = hisops("show", last_run()["run_id"], "--json")
    listed = hisops("runs", "--json")
    assert "********" in shown.out  # the redactor did see it in the ssh output
    home = Path(os.environ["HISOPS_HOME"])
    hits = subprocess.run(["grep", "-rl", canary, str(home), str(log_file)],
                          capture_output=True, text=True, check=False)
    assert hits.stdout == "", f"canary found in: {hits.stdout}"
    assert canary not in shown.out + shown.err + listed.out
    files = [p for p in home.rglob("*") if p.is_file()]
    assert any("artifacts" in str(p) for p in files), "no ansible-runner artifacts to check"
    assert any(p.name.startswith("journal") for p in files), "no journal to check"


def test_protected_environment_needs_typed_confirmation(tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(LOCAL_INVENTORY.read_text().replace(
        "    db_primary:\n      hosts:\n        db-a: {}",
        "    db_primary:\n      vars:\n        hisops_protected: true\n"
        "        hisops_environment: production\n      hosts:\n        db-a: {}"))
    args = ["run", "tests/data/runbooks/approval.yml", "-i", str(inventory), "-e",
            f"dir={tmp_path}", "--operator", "alice"]
    plan = hisops("plan", *[a for a in args[1:] if a not in ("--operator", "alice")], "--json")
    assert plan.json()["protected_hosts"] == ["db-a"]
    refused = hisops(*args, "--yes")  # --yes alone is not enough for a protected host
    assert refused.rc == 3
    assert "--confirm db-a" in refused.err
    for typed in ("production", "db-b", "db-a,db-b"):  # the environment is not the host
        wrong = hisops(*args, "--yes", "--confirm", typed)
        assert wrong.rc == 3
    assert read_log(tmp_path) == []
    assert hisops("runs", "--json").json() == []
    confirmed = hisops(*args, "--confirm", "db-a")
    assert confirmed.rc == 3
    assert "waiting at 'gate'" in confirmed.err
    assert read_log(tmp_path) == ["before"]


def test_an_environment_that_asks_for_four_eyes_gets_an_approval_first(tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(LOCAL_INVENTORY.read_text().replace(
        "    db_primary:\n      hosts:\n        db-a: {}",
        "    db_primary:\n      vars:\n        hisops_protected: true\n"
        "        hisops_four_eyes: true\n"
        "        hisops_environment: production\n      hosts:\n        db-a: {}"))
    runbook = tmp_path / "plain.yml"
    runbook.write_text(Path("tests/data/runbooks/approval.yml").read_text().replace(
        "  - id: gate\n    kind: approval\n    message: second person must approve the "
        "change\n    four_eyes: true\n", ""))
    args = ["run", str(runbook), "-i", str(inventory), "-e", f"dir={tmp_path}",
            "--operator", "alice", "--confirm", "db-a"]
    plan = hisops("plan", *args[1:6], "--json").json()
    assert [s["id"] for s in plan["steps"]] == ["environment_approval", "before", "after"]
    assert plan["steps"][0]["four_eyes"] is True
    waiting = hisops(*args)
    assert waiting.rc == 3
    assert "waiting at 'environment_approval'" in waiting.err
    assert read_log(tmp_path) == []  # nothing ran before the second person's approval
    run_id = last_run()["run_id"]
    assert hisops("approve", run_id, "--as", "alice").rc == 3  # not her own run
    assert hisops("approve", run_id, "--as", "bob").rc == 0
    resumed = hisops("resume", run_id)
    assert resumed.rc == 0, resumed.err
    assert read_log(tmp_path) == ["before", "after"]


def test_retries_rerun_failed_hosts_until_success(tmp_path: Path) -> None:
    result = hisops("run", "tests/data/runbooks/retries.yml", "-i", INV, "-e",
                    f"dir={tmp_path}", "--yes", "--json")
    assert result.rc == 0, result.err
    assert (tmp_path / "cmd-count").read_text().strip() == "3"
    assert (tmp_path / "pb-count").read_text().strip() == "2"
    steps = {s["id"]: s for s in result.json()["steps"]}
    assert steps["flaky_command"]["status"] == "changed"
    assert steps["flaky_playbook"]["status"] == "changed"


def test_canary_secret_not_on_disk_after_a_crash_mid_playbook(tmp_path: Path) -> None:
    """SIGKILL while the secret-using playbook runs: no scrub or cleanup ever happens, so the
    secret must not be on disk: not in the environment ansible-runner records, and its vars
    file already gone once ansible-playbook started."""
    canary = "CANARY-crash-4d2c77"
    runbook = tmp_path / "slow-secret.yml"
    runbook.write_text(Path("tests/data/runbooks/secret.yml").read_text().replace(
        "../playbooks/use_secret.yml",
        str(Path("tests/data/playbooks/use_secret.yml").resolve())).replace(
        "      marker_dir: \"{{ params.dir }}\"",
        "      marker_dir: \"{{ params.dir }}\"\n      secret_pause: 20"))
    out = tmp_path / "out"
    out.mkdir()
    os.environ["HISOPS_SECRET_DB_PASSWORD"] = canary
    try:
        # 6 s: ansible-playbook has started and is inside the 20 s pause of the play
        kill_during("play", "run", str(runbook), "-i", INV, "-e", f"dir={out}", "--yes",
                    delay=6)
    finally:
        del os.environ["HISOPS_SECRET_DB_PASSWORD"]
    steps = {s["id"]: s["status"] for s in last_run()["steps"]}
    assert steps == {"play": "running"}, "the kill did not land inside the playbook"
    home = Path(os.environ["HISOPS_HOME"])
    assert any(home.rglob("command")), "ansible-runner had not started: nothing tested"
    hits = subprocess.run(["grep", "-rl", canary, str(home), "/dev/shm", str(out)],
                          capture_output=True, text=True, check=False)
    assert hits.stdout == "", f"canary found in: {hits.stdout}"
