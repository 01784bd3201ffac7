"""Backups proven by restoring them: the backup and verify-backup runbooks on the lab.

Every test drives the real CLI against the lab (pgBackRest 2.45 on backup-1, the primary
his-db-1, the scratch host verify-1). Corruptions are made in the real repository and undone
afterwards, so each test starts from an intact backup.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hisops.lab import containers
from tests.fixtures.lab import Lab
from tests.integration.helpers import env_with, evidence_payloads, hisops, start, wait_for_step

pytestmark = pytest.mark.lab

REPO = "/var/lib/pgbackrest"
DRILL_DIR = "/var/lib/postgresql/hisops-drill/his"


def sh(lab: Lab, host: str, script: str, *, check: bool = True) -> str:
    """Run SCRIPT as root on a lab host (the test's own hands, not the product's)."""
    proc = subprocess.run(
        ["podman", "exec", containers.container_name(lab.settings, host),
         "bash", "-euo", "pipefail", "-c", script],
        capture_output=True, text=True, timeout=120, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"{host}: {script}: {proc.stderr.strip()}")
    return proc.stdout


def evidence(env: dict[str, str] | None = None,
             kind: str = "restore_drill") -> list[dict[str, Any]]:
    return [p["evidence"] for p in evidence_payloads(kind, env)]


@pytest.fixture(scope="module")
def backup(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A fresh full backup of his-db-1 taken by the backup runbook (its evidence)."""
    home = tmp_path_factory.mktemp("backup-home")
    # module scope: set up before each test's own HISOPS_HOME, so name the journal outright
    env = env_with(HISOPS_HOME=str(home), HISOPS_JOURNAL=str(home / "journal.sqlite3"))
    result = hisops("run", "backup", "--yes", env=env, timeout=600)
    assert result.rc == 0, result.err
    (taken,) = evidence(env, "backup")
    return taken


def drill(*extra: str, env: dict[str, str] | None = None) -> Any:
    args = ["run", "verify-backup", "--yes"]
    for item in extra:
        args += ["-e", item]
    return hisops(*args, env=env, timeout=900)


def scratch_is_gone(lab: Lab, root: str = DRILL_DIR) -> bool:
    running = sh(lab, "verify-1", "pgrep -u postgres -f 'hisops-drill|hisops-small-disk' || true")
    present = sh(lab, "verify-1", f"test -e {shlex.quote(root)} && echo yes || true")
    return not running.strip() and not present.strip()


def remove_scratch(lab: Lab) -> None:
    """Stop and remove a scratch instance a test kept (keep=true)."""
    sh(lab, "verify-1", f"runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl "
                        f"-D {DRILL_DIR}/data stop -m immediate || true; rm -rf {DRILL_DIR}")


# --- the acceptance path ---------------------------------------------------------------------


def test_backup_evidence_names_the_backup_and_its_marker(backup: dict[str, Any]) -> None:
    assert backup["kind"] == "full"
    assert backup["label"].endswith("F")
    assert backup["marker"].startswith("hisops-")
    assert backup["database_bytes"] > 1_000_000
    assert backup["tables"] >= 6


def test_verify_backup_restores_checks_and_records_rto_and_rpo(
        lab: Lab, backup: dict[str, Any]) -> None:
    result = drill(f"backup={backup['label']}")
    assert result.rc == 0, result.err
    (proof,) = evidence()
    assert proof["passed"] is True
    assert proof["backup"]["label"] == backup["label"]
    assert proof["checks"] == {"repository": "passed", "wal": "passed", "amcheck": "passed",
                               "content": "passed", "smoke": "passed"}
    for phase in ("restore_s", "recovery_s", "checks_s"):
        assert proof[phase] > 0, phase
    assert proof["rto_s"] == pytest.approx(
        proof["restore_s"] + proof["recovery_s"] + proof["checks_s"], abs=0.05)
    assert proof["rpo_s"] is not None
    assert proof["rpo_s"] >= 0
    assert scratch_is_gone(lab), "the scratch instance outlived the drill"

    shown = hisops("backups", "--json")
    assert shown.rc == 0, shown.err
    (his,) = [d for d in shown.json()["databases"] if d["database"] == "his"]
    assert his["last_verified"]["label"] == backup["label"]
    assert his["last_verified"]["rto_s"] == proof["rto_s"]
    assert his["last_verified"]["rpo_s"] == proof["rpo_s"]


def test_the_drill_never_archives_into_the_production_archive(
        lab: Lab, backup: dict[str, Any]) -> None:
    result = drill(f"backup={backup['label']}", "keep=true")
    try:
        assert result.rc == 0, result.err
        conf = sh(lab, "verify-1", f"cat {DRILL_DIR}/data/postgresql.auto.conf")
        assert "archive_mode = 'off'" in conf
        mode = sh(lab, "verify-1", f"runuser -u postgres -- psql -X -At -h {DRILL_DIR} "
                                   "-p 22305 -d postgres -c 'SHOW archive_mode'")
        assert mode.strip() == "off"
    finally:
        remove_scratch(lab)


def test_a_point_in_time_drill_recovers_to_the_target_and_no_further(
        lab: Lab, backup: dict[str, Any]) -> None:
    with lab.connect("his-db-1", autocommit=True) as conn:
        # public, not his: the his schema is published to the logical subscriber
        conn.execute("DROP TABLE IF EXISTS public.pitr_probe")
        conn.execute("CREATE TABLE public.pitr_probe (id int)")
        conn.execute("INSERT INTO public.pitr_probe VALUES (1)")
        row = conn.execute("SELECT now()").fetchone()
        assert row is not None
        target = row[0]
        time.sleep(1.5)
        conn.execute("INSERT INTO public.pitr_probe VALUES (2)")
        switched = conn.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()
        assert switched is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # archive_command has shipped the segment
            done = conn.execute("SELECT last_archived_wal >= %s FROM pg_stat_archiver",
                                (switched[0],)).fetchone()
            if done and done[0]:
                break
            time.sleep(0.5)
    result = drill(f"target_time={target.isoformat()}", "keep=true")
    try:
        assert result.rc == 0, result.err
        (proof,) = evidence()
        assert proof["backup"]["label"] == backup["label"]
        query = "SELECT array_agg(id ORDER BY id) FROM pitr_probe"
        ids = sh(lab, "verify-1", f"runuser -u postgres -- psql -X -At -h {DRILL_DIR} -p 22305 "
                                  f"-d his -c {shlex.quote(query)}")
        assert ids.strip() == "{1}"
    finally:
        remove_scratch(lab)
        with lab.connect("his-db-1", autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS public.pitr_probe")


def test_check_mode_says_what_would_happen_and_changes_nothing(
        lab: Lab, backup: dict[str, Any]) -> None:
    count = "runuser -u pgbackrest -- pgbackrest --stanza=his --output=json info"
    before = len(json.loads(sh(lab, "backup-1", count))[0]["backup"])
    backed = hisops("run", "backup", "--check", timeout=600)
    assert backed.rc == 0, backed.err
    assert "would write a marker row in his and take a full backup" in backed.err
    drilled = hisops("run", "verify-backup", "--check", timeout=600)
    assert drilled.rc == 0, drilled.err
    assert "would restore" in drilled.err
    assert len(json.loads(sh(lab, "backup-1", count))[0]["backup"]) == before
    assert evidence() == []
    assert evidence(kind="backup") == []
    assert scratch_is_gone(lab)


# --- corrupted or incomplete backups ---------------------------------------------------------


def _largest_data_file(lab: Lab, label: str) -> str:
    return sh(lab, "backup-1", f"find {REPO}/backup/his/{label}/pg_data/base -type f "
                               "-printf '%s %p\\n' | sort -n | tail -1 | cut -d' ' -f2").strip()


@pytest.fixture
def repo_snapshot(lab: Lab, backup: dict[str, Any]) -> Iterator[None]:
    """Put the repository back exactly as it was after the test corrupted it."""
    sh(lab, "backup-1", f"rm -rf /tmp/repo-snapshot && cp -a {REPO} /tmp/repo-snapshot")
    yield
    sh(lab, "backup-1", f"rm -rf {REPO} && mv /tmp/repo-snapshot {REPO}")


CORRUPTIONS = {
    # kind: (script on backup-1 taking $LABEL and $FILE, what the finding must name)
    "flipped-bytes": ("printf '\\xde\\xad\\xbe\\xef' | dd of=\"$FILE\" bs=1 seek=64 conv=notrunc "
                      "status=none", "invalid checksum"),
    "truncated-file": ("truncate -s 100 \"$FILE\"", "invalid checksum"),
    "missing-wal": ("rm {repo}/archive/his/*/*/$WAL-*", "missing from the archive"),
    "missing-manifest": ("rm {repo}/backup/his/$LABEL/backup.manifest",
                         "backup.manifest: manifest file is missing"),
}


@pytest.mark.usefixtures("repo_snapshot")
@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_a_damaged_backup_fails_the_drill_naming_the_damage(
        lab: Lab, backup: dict[str, Any], kind: str) -> None:
    script, named = CORRUPTIONS[kind]
    label = backup["label"]
    data_file = _largest_data_file(lab, label)
    sh(lab, "backup-1", f"LABEL={label} FILE={shlex.quote(data_file)} WAL={backup['wal_start']}; "
                        + script.format(repo=REPO))

    result = drill(f"backup={label}")

    assert result.rc == 1, result.out + result.err
    assert named in result.err
    (proof,) = evidence()
    assert proof["passed"] is False
    lines = [f["line"] for f in proof["findings"] if f["severity"] == "error"]
    assert any(named in line for line in lines), lines
    if kind in ("flipped-bytes", "truncated-file"):
        relative = data_file.split(f"/backup/his/{label}/", 1)[1]
        assert any(relative in line for line in lines), lines
    if kind == "missing-wal":
        assert any(backup["wal_start"] in line for line in lines), lines
    assert scratch_is_gone(lab), "a failed drill left its scratch instance behind"


def test_pgbackrest_ssh_refuses_a_repository_host_key_it_was_not_given(
        lab: Lab, backup: dict[str, Any]) -> None:
    """Trust is handed over by the roles, never learned on first use: with the repository's
    key entry swapped for another host's, pgBackRest on the scratch host cannot connect."""
    known = "/var/lib/postgresql/.ssh/known_hosts"
    if not sh(lab, "verify-1", f"test -f {known} && echo yes || true").strip():
        assert drill(f"backup={backup['label']}").rc == 0  # makes verify-1 a client
    sh(lab, "verify-1", f"cp -p {known} {known}.saved")
    try:
        other = sh(lab, "verify-1", "cut -d' ' -f2- /etc/ssh/ssh_host_ed25519_key.pub").strip()
        port = lab.host("backup-1").ssh_port
        sh(lab, "verify-1", f"echo '[127.0.0.1]:{port} {other}' > {known}")
        refused = sh(lab, "verify-1", "runuser -u postgres -- pgbackrest --stanza=his info 2>&1 "
                                      "|| true")
        assert "Host key verification failed" in refused
    finally:
        sh(lab, "verify-1", f"mv {known}.saved {known}")
    assert "status: ok" in sh(lab, "verify-1", "runuser -u postgres -- pgbackrest --stanza=his "
                                               "info")


# --- faults and refusals ---------------------------------------------------------------------


def test_a_scratch_disk_too_small_fails_before_restoring(lab: Lab, backup: dict[str, Any]) -> None:
    root = containers.SMALL_DISK + "/drill"
    result = drill(f"backup={backup['label']}", f"scratch_dir={root}")
    assert result.rc == 1
    assert "is out of disk: the restore needs" in result.err
    (proof,) = evidence()
    assert proof["checks"].get("preflight") == "failed"
    assert scratch_is_gone(lab, root + "/his")


def test_running_out_of_disk_mid_restore_fails_and_cleans_up(
        lab: Lab, backup: dict[str, Any]) -> None:
    root = containers.SMALL_DISK + "/drill"
    result = drill(f"backup={backup['label']}", f"scratch_dir={root}", "space_margin=0")
    assert result.rc == 1
    assert "out of disk on the scratch host" in result.err
    (proof,) = evidence()
    assert proof["checks"].get("restore") == "failed"
    assert scratch_is_gone(lab, root + "/his")
    assert sh(lab, "verify-1", f"df -B1 --output=used {containers.SMALL_DISK} | tail -1").strip() \
        in ("0", "4096"), "the half-restored files were not removed"


@pytest.mark.parametrize("host", ["his-db-1", "his-db-2"])
def test_a_primary_or_standby_is_refused_as_scratch_host(lab: Lab, host: str) -> None:
    before = sh(lab, host, "pg_lsclusters --no-header")
    result = drill(f"scratch={host}")
    assert result.rc == 1
    assert f"refusing {host} as a restore scratch host" in result.err
    assert sh(lab, host, "pg_lsclusters --no-header") == before
    assert "online" in before


def test_a_protected_scratch_host_is_refused_even_when_confirmed(
        lab: Lab, tmp_path: Path) -> None:
    from hisops import paths

    inventory = tmp_path / "hosts.yml"
    text = paths.default_inventory().read_text()
    inventory.write_text(text.replace("          hisops_lab_role: verify\n",
                                      "          hisops_lab_role: verify\n"
                                      "          hisops_protected: true\n"))
    result = hisops("run", "verify-backup", "-i", str(inventory), "--confirm", "verify-1",
                    timeout=300)
    assert result.rc == 1, result.err
    assert "it is in the protected environment" in result.err


def test_a_second_drill_on_the_same_scratch_host_is_refused(
        lab: Lab, backup: dict[str, Any]) -> None:
    first = start("run", "verify-backup", "--yes", "-e", f"backup={backup['label']}")
    try:
        wait_for_step("drill", timeout=120)
        second = drill(f"backup={backup['label']}")
        assert second.rc == 3, second.err
        assert "verify-1 is locked by run" in second.err
    finally:
        out, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    assert len(evidence()) == 1
