"""Faults of the estate itself during a restore drill: a host stops, sshd dies, the disk fills.

Each fault is injected while the verify-backup runbook's drill step runs on verify-1 (the
scratch host), and each test proves three things: the run ends in a clear failure (exit 1, a
line naming the host, the step failed in the journal), nothing is lost (the primary's data,
the repository and its backups are unchanged, the scratch host is left without a half-restored
instance once the run is resumed, the run's locks are its own and go with it), and a resume
path (after the repair, ``hisops resume RUN_ID`` completes the drill and it passes).

Every test repairs what it broke (the container started again, sshd running, the tmpfs
emptied) in a ``finally``, so the shared lab is left as it was found whatever the outcome.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from hisops.lab import containers, lifecycle
from tests.fixtures.lab import Lab
from tests.integration.helpers import (
    env_with,
    evidence_payloads,
    hisops,
    last_run,
    start,
    wait_for_step,
)

pytestmark = pytest.mark.lab

SCRATCH = "verify-1"
REPOSITORY = "backup-1"
PRIMARY = "his-db-1"
DEFAULT_ROOT = "/var/lib/postgresql/hisops-drill"
FILL_ROOT = containers.SCRATCH_DISK + "/drill"
BALLAST = containers.SCRATCH_DISK + "/ballast"
PGBACKREST = "runuser -u pgbackrest -- pgbackrest --stanza=his"  # as the repository's owner


def sh(lab: Lab, host: str, script: str, *, check: bool = True, timeout: float = 120) -> str:
    """Run SCRIPT as root on a lab host (the test's own hands, not the product's)."""
    proc = subprocess.run(
        ["podman", "exec", containers.container_name(lab.settings, host),
         "bash", "-euo", "pipefail", "-c", script],
        capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"{host}: {script}: {proc.stderr.strip()}")
    return proc.stdout


def podman(*args: str, timeout: float = 120) -> str:
    proc = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout,
                          check=True)
    return proc.stdout


def repository_backups(lab: Lab) -> list[str]:
    """The labels of the stanza's backups as the repository lists them (status must be ok)."""
    import json

    out = sh(lab, REPOSITORY, f"{PGBACKREST} --output=json info")
    (stanza,) = json.loads(out)
    assert stanza["status"]["code"] == 0, stanza["status"]
    return sorted(b["label"] for b in stanza["backup"])


def his_fingerprint(lab: Lab) -> dict[str, tuple[int, str]]:
    """Per table of the his schema on the primary: row count and an md5 of its rows."""
    with lab.connect(PRIMARY, autocommit=True) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'his' ORDER BY 1")]
        found: dict[str, tuple[int, str]] = {}
        for table in tables:
            row = conn.execute(
                f"SELECT count(*), md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) "  # noqa: S608 - catalog names
                f"FROM his.{table} t").fetchone()
            assert row is not None
            found[table] = (int(row[0]), str(row[1]))
    assert found, "the his dataset has no tables"
    return found


def drill_status(run_id: str) -> dict[str, Any]:
    shown = hisops("show", run_id, "--json")
    assert shown.rc == 0, shown.err
    return {s["id"]: s for s in shown.json()["steps"]}


def locks() -> list[dict[str, Any]]:
    listed = hisops("locks", "--json")
    assert listed.rc == 0, listed.err
    return list(listed.json())


def scratch_is_gone(lab: Lab, root: str) -> bool:
    running = sh(lab, SCRATCH, "pgrep -u postgres -f hisops-drill || true", check=False)
    present = sh(lab, SCRATCH, f"test -e {shlex.quote(root)}/his/data && echo yes || true")
    return not running.strip() and not present.strip()


def no_leftover_drill(lab: Lab, root: str) -> None:
    """Remove what an earlier, failed test may have left, so wait_for_restore sees this run's."""
    sh(lab, SCRATCH, f"runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D {root}/his/data "
                     f"stop -m immediate >/dev/null 2>&1 || true; rm -rf {root}/his")


def wait_for_restore(lab: Lab, root: str, timeout: float = 300) -> None:
    """Until the drill's restore has begun writing the data directory on the scratch host."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sh(lab, SCRATCH, f"test -d {root}/his/data && echo yes || true").strip():
            return
        time.sleep(0.2)
    raise AssertionError(f"the restore into {root} never began")


def a_line_naming(err: str, *words: str) -> str:
    """The CLI's closing ``hisops: ...`` line on stderr, which must name every one of WORDS
    (the live progress above it is wrapped to the terminal; this line never is)."""
    print(err)  # what the operator saw, in the test's captured output
    lines = [ln for ln in err.splitlines()
             if ln.startswith("hisops: ") and all(w in ln for w in words)]
    assert lines, f"no line of stderr names {words}:\n{err}"
    return lines[0]


def passed_drills(run_id: str) -> list[dict[str, Any]]:
    return [p["evidence"] for p in evidence_payloads("restore_drill", run_id=run_id)
            if p["evidence"].get("passed")]


@pytest.fixture(scope="module")
def baseline(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A backup to drill (the latest, taken now only when the repository has none) and the
    state that no fault may change: the primary's his data and the repository's backups."""
    env = env_with(HISOPS_INVENTORY=str(lab.settings.inventory_file))
    have = sh(lab, REPOSITORY, f"{PGBACKREST} --output=json info 2>/dev/null || true")
    if '"label"' not in have:
        home = tmp_path_factory.mktemp("fault-backup-home")
        env.update(HISOPS_HOME=str(home), HISOPS_JOURNAL=str(home / "journal.sqlite3"))
        taken = hisops("run", "backup", "--yes", env=env, timeout=900)
        assert taken.rc == 0, taken.err
    return {"backups": repository_backups(lab), "data": his_fingerprint(lab)}


@pytest.fixture(autouse=True)
def _this_lab(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI runs against the lab the fixture brought up (named or default)."""
    monkeypatch.setenv("HISOPS_INVENTORY", str(lab.settings.inventory_file))


def assert_nothing_lost(lab: Lab, baseline: dict[str, Any]) -> None:
    assert his_fingerprint(lab) == baseline["data"], "the primary's his data changed"
    assert repository_backups(lab) == baseline["backups"], "the repository's backups changed"
    verified = sh(lab, REPOSITORY, f"{PGBACKREST} verify >/dev/null 2>&1; echo $?")
    assert verified.strip() == "0", "pgbackrest verify fails on the repository"


def assert_failed_and_locked(run_id: str) -> None:
    """The drill step failed on the scratch host; the run keeps its lock for resume."""
    steps = drill_status(run_id)
    assert steps["drill"]["status"] == "failed", steps["drill"]
    assert "cleanup" not in steps, steps["cleanup"]  # never started
    held = [(lk["host"], lk["run_id"]) for lk in locks()]
    assert held == [(SCRATCH, run_id)], held


def assert_resumes(lab: Lab, run_id: str, root: str) -> None:
    resumed = hisops("resume", run_id, timeout=1200)
    assert resumed.rc == 0, resumed.out + resumed.err
    steps = drill_status(run_id)
    assert steps["drill"]["status"] == "changed", steps["drill"]
    assert steps["cleanup"]["status"] == "changed", steps["cleanup"]
    (proof,) = passed_drills(run_id)
    assert proof["checks"]["content"] == "passed"
    assert locks() == [], "the resumed run left a lock behind"
    assert scratch_is_gone(lab, root), "the resumed drill left its scratch instance"


# --- 1. a host stops mid-run -----------------------------------------------------------------


def test_the_scratch_host_stopping_mid_drill_fails_it_and_resume_completes(
        lab: Lab, baseline: dict[str, Any]) -> None:
    name = containers.container_name(lab.settings, SCRATCH)
    no_leftover_drill(lab, DEFAULT_ROOT)
    proc = start("run", "verify-backup", "--yes")
    try:
        wait_for_step("drill", timeout=120)
        wait_for_restore(lab, DEFAULT_ROOT)
        podman("stop", "--time", "5", name)
        out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
        lifecycle.up(lab.settings)  # the repair: podman start, sshd and the lab's databases

    assert proc.returncode == 1, out + err
    a_line_naming(err, SCRATCH, "drill")
    run_id = str(last_run()["run_id"])
    assert_failed_and_locked(run_id)
    assert_nothing_lost(lab, baseline)

    assert_resumes(lab, run_id, DEFAULT_ROOT)
    assert_nothing_lost(lab, baseline)


# --- 2. sshd dies ----------------------------------------------------------------------------


# freeze the listener (the oldest sshd), SIGKILL every other sshd process (each session's
# privileged and unprivileged halves); print how many sessions were cut
KILL_SSHD = ("listener=$(pgrep -o -x sshd); kill -STOP $listener; n=0; "
             "for pid in $(pgrep -x sshd); do "
             "  if [ $pid != $listener ]; then kill -KILL $pid && n=$((n+1)) || true; fi; "
             "done; echo killed $n")


def test_sshd_dying_on_the_scratch_host_fails_the_drill_and_resume_completes(
        lab: Lab, baseline: dict[str, Any]) -> None:
    """Every sshd process of verify-1 gone: the sessions (the server end of ansible's
    ControlPersist master, so pipelining cannot carry on) are SIGKILLed and the listener is
    frozen (SIGSTOP), so every new connection times out at the banner. The lab's init waits on
    the listener, so SIGKILLing it too would stop the whole container: test 1's fault."""
    no_leftover_drill(lab, DEFAULT_ROOT)
    proc = start("run", "verify-backup", "--yes")
    try:
        wait_for_step("drill", timeout=120)
        wait_for_restore(lab, DEFAULT_ROOT)
        sessions = sh(lab, SCRATCH, KILL_SSHD)
        out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
        sh(lab, SCRATCH, "pkill -CONT -x sshd || true")  # the repair: sshd answers again

    assert int(sessions.split()[-1]) >= 1, "no live SSH session was cut: " + sessions
    assert proc.returncode == 1, out + err
    a_line_naming(err, SCRATCH, "drill")
    run_id = str(last_run()["run_id"])
    assert_failed_and_locked(run_id)
    assert_nothing_lost(lab, baseline)

    assert_resumes(lab, run_id, DEFAULT_ROOT)
    assert_nothing_lost(lab, baseline)


# --- 3. the scratch disk fills ---------------------------------------------------------------


@pytest.fixture
def ballast(lab: Lab) -> Iterator[None]:
    """The scratch tmpfs is emptied afterwards, whatever filled it."""
    yield
    # a filler whose restore never began still waits: end it ('tes[t]' never matches this line)
    sh(lab, SCRATCH, f"pkill -f 'until tes[t] -d {FILL_ROOT}' || true; "
                     f"rm -rf {BALLAST} {FILL_ROOT}")


def used_bytes(lab: Lab) -> int:
    return int(sh(lab, SCRATCH, f"df -B1 --output=used {containers.SCRATCH_DISK} | tail -1"))


def test_a_scratch_disk_already_full_is_refused_before_restoring_and_resume_completes(
        lab: Lab, baseline: dict[str, Any], ballast: None) -> None:
    sh(lab, SCRATCH, f"avail=$(df -B1 --output=avail {containers.SCRATCH_DISK} | tail -1); "
                     f"fallocate -l $((avail - 8*1024*1024)) {BALLAST}")
    result = hisops("run", "verify-backup", "--yes", "-e", f"scratch_dir={FILL_ROOT}",
                    timeout=900)

    assert result.rc == 1, result.out + result.err
    line = a_line_naming(result.err, SCRATCH, "is out of disk: the restore needs")
    assert f"{FILL_ROOT}/his" in line
    # what is counted: the restored files and the WAL recovery brings into pg_wal, with margin
    assert re.search(r"needs [\d.]+ MB \(backup [\d.]+ MB \+ WAL [1-9][\d.]* MB, x 1\.1\)",
                     line), line
    run_id = str(last_run()["run_id"])
    assert_failed_and_locked(run_id)
    (proof,) = [p["evidence"] for p in evidence_payloads("restore_drill", run_id=run_id)]
    assert proof["checks"].get("preflight") == "failed"
    assert proof["checks"].get("restore") == "skipped", proof["checks"]  # it never began
    assert proof.get("refused") == "preflight"
    assert scratch_is_gone(lab, FILL_ROOT), "the restore started despite the preflight"
    assert_nothing_lost(lab, baseline)

    sh(lab, SCRATCH, f"rm -f {BALLAST}")  # the repair: space freed
    assert_resumes(lab, run_id, FILL_ROOT)
    assert used_bytes(lab) <= 4096, "the drill left files on the scratch disk"


def test_the_scratch_disk_filling_mid_restore_fails_cleans_up_and_resume_completes(
        lab: Lab, baseline: dict[str, Any], ballast: None) -> None:
    # a filler that waits for the restore to begin (after the free-space preflight passed),
    # then writes until the tmpfs is full (dd stops at ENOSPC)
    filler = (f"until test -d {FILL_ROOT}/his/data; do sleep 0.02; done; "
              f"dd if=/dev/zero of={BALLAST} bs=1M status=none || true")
    podman("exec", "-d", containers.container_name(lab.settings, SCRATCH),
           "bash", "-c", filler)
    result = hisops("run", "verify-backup", "--yes", "-e", f"scratch_dir={FILL_ROOT}",
                    timeout=900)

    assert result.rc == 1, result.out + result.err
    line = a_line_naming(result.err, SCRATCH, "out of disk on the scratch host")
    assert FILL_ROOT in line, line
    run_id = str(last_run()["run_id"])
    assert_failed_and_locked(run_id)
    (proof,) = [p["evidence"] for p in evidence_payloads("restore_drill", run_id=run_id)]
    assert proof["checks"].get("preflight") != "failed"
    assert "failed" in proof["checks"].values()
    assert scratch_is_gone(lab, FILL_ROOT), "the failed drill left its half-restored files"
    assert_nothing_lost(lab, baseline)

    sh(lab, SCRATCH, f"rm -f {BALLAST}")  # the repair: space freed
    assert_resumes(lab, run_id, FILL_ROOT)
    assert used_bytes(lab) <= 4096, "the drill left files on the scratch disk"
