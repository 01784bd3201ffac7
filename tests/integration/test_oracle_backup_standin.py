"""The backup and verify-backup runbooks' Oracle steps end to end over real SSH and Ansible, against
a stand-in Oracle home.

No Oracle software runs here. The "home" is a folder whose bin/rman is the shell script of
tests/data/oracle_standin/backup (it keeps each command file it receives and prints the
real-format fixture RMAN would print). What this proves is hisops's side: the engine choice from
the inventory (the PostgreSQL steps find no host), the RMAN scripts the oracle_rman and
oracle_restore_verify roles write for each backup type and drill mode, the configuration run only
while SHOW ALL differs, the logs judged and the evidence journaled and shown by `hisops backups`,
a failed backup or drill failing its step with the Oracle error named, and a failed duplicate
drill still shutting down and removing its scratch instance. What RMAN prints and does is what the
fixtures assume (tests/fixtures/oracle/SOURCES.md); nothing here touches Oracle, and no clean
DUPLICATE is played (there is no fixture of one).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.fixtures.sshd import SshdServer
from tests.integration.helpers import hisops

STANDIN = ROOT / "tests" / "data" / "oracle_standin" / "backup"
FIXTURES = ROOT / "tests" / "fixtures" / "oracle"
MAINTENANCE = ["CROSSCHECK BACKUP;", "CROSSCHECK ARCHIVELOG ALL;",
               "DELETE NOPROMPT EXPIRED BACKUP;", "DELETE NOPROMPT OBSOLETE;"]
# the settings a fresh database's SHOW ALL does not show (the role's defaults)
DRIFT = ["CONFIGURE RETENTION POLICY TO RECOVERY WINDOW OF 7 DAYS;",
         "CONFIGURE BACKUP OPTIMIZATION ON;",
         "CONFIGURE DEVICE TYPE DISK PARALLELISM 2 BACKUP TYPE TO COMPRESSED BACKUPSET;"]


def make_home(path: Path, log: Path) -> Path:
    (path / "bin").mkdir(parents=True)
    (path / "dbs").mkdir()
    for tool in ("rman", "sqlplus"):
        shutil.copy2(STANDIN / tool, path / "bin" / tool)
    (path / "standin.env").write_text(
        f"STANDIN_LOG={log}\nSTANDIN_FIXTURES={FIXTURES}\nSTANDIN_DATA={STANDIN}\n")
    return path


@pytest.fixture
def estate(tmp_path: Path, sshd: SshdServer) -> Iterator[dict[str, Path]]:
    log = tmp_path / "calls.log"
    log.touch()
    home = make_home(tmp_path / "home", log)
    scratch = make_home(tmp_path / "home-scratch", log)
    # the sshd logs in as root: root owns the stand-in home (no sudo in between)
    lines = ["[db_primary]",
             sshd.inventory_line("ora-prim", oracle_home=str(home), oracle_sid="HISPRD",
                                 oracle_os_user=sshd.user,
                                 oracle_rman_work_dir=str(tmp_path / "rman"),
                                 oracle_restore_verify_work_dir=str(tmp_path / "drill")),
             "[backup]", sshd.inventory_line("backup-1"),
             "[db_verify]",
             sshd.inventory_line("verify-1", oracle_home=str(scratch), oracle_os_user=sshd.user,
                                 oracle_restore_verify_work_dir=str(tmp_path / "drill-scratch"),
                                 oracle_restore_verify_scratch_root=str(tmp_path / "scratch")),
             "[oracle:children]", "db_primary", "db_verify"]
    inventory = tmp_path / "inventory.ini"
    inventory.write_text("\n".join(lines) + "\n")
    yield {"inventory": inventory, "log": log, "home": home, "scratch": scratch,
           "scratch_root": tmp_path / "scratch"}
    # a scratch "instance" the drill failed to shut down: end it (the test's own process)
    for pidfile in scratch.glob(".pmon_*.pid"):
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pidfile.read_text()), signal.SIGTERM)


def run(estate: dict[str, Path], runbook: str, *params: str) -> tuple[int, dict[str, Any], str]:
    args = [arg for param in params for arg in ("-e", param)]
    result = hisops("run", runbook, "-i", str(estate["inventory"]), *args, "--yes", "--json",
                    timeout=600)
    body = json.loads(result.out) if result.out.strip().startswith("{") else {}
    return result.rc, body, result.err


def backup(estate: dict[str, Path], kind: str) -> tuple[int, dict[str, Any], str]:
    return run(estate, "backup", "database=db_primary", "repository=backup-1", f"type={kind}")


def drill(estate: dict[str, Path], mode: str) -> tuple[int, dict[str, Any], str]:
    return run(estate, "verify-backup", "source=ora-prim", "scratch=backup-1",
               "repository=backup-1", f"oracle_mode={mode}")


def steps(body: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {s["id"]: (s["status"], s["detail"]) for s in body["steps"]}


def received(estate: dict[str, Path]) -> list[list[str]]:
    """The RMAN commands of every script the stand-in received, in call order (comments left
    out, blanks collapsed)."""
    return [[re.sub(r"\s+", " ", line).strip() for line in path.read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
            for path in sorted((estate["home"] / "received").glob("*.rman"))]


def evidence(run_id: str, kind: str) -> dict[str, Any]:
    """The evidence of KIND journaled by run RUN_ID, as `hisops show --json` gives it."""
    shown = hisops("show", run_id, "--json")
    assert shown.rc == 0, shown.err
    found = [r["payload"] for r in shown.json()["timeline"] if r["kind"] == "evidence.recorded"]
    assert [f["type"] for f in found] == [kind], found
    return dict(found[0])


def backups() -> dict[str, Any]:
    listed = hisops("backups", "--json")
    assert listed.rc == 0, listed.err
    return {d["database"]: d for d in listed.json()["databases"]}


def test_full_then_diff_then_incr_backups_configure_once_and_are_journaled(
        estate: dict[str, Path]) -> None:
    rc, body, err = backup(estate, "full")
    assert rc == 0, err
    assert steps(body)["configure"] == ("skipped", "no hosts match")  # no PostgreSQL host
    assert steps(body)["backup"] == ("skipped", "no hosts match")
    assert steps(body)["oracle_backup"][0] == "changed"
    scripts = received(estate)
    assert len(scripts) == 3
    assert scripts[0] == ["SHOW ALL;", "EXIT;"]
    assert set(DRIFT) <= set(scripts[1])
    assert all(c.startswith("CONFIGURE ") for c in scripts[1])
    tag = re.fullmatch(r"BACKUP INCREMENTAL LEVEL 0 DATABASE TAG '(HIS_L0_\d{8}T\d{6})' "
                       r"PLUS ARCHIVELOG DELETE INPUT;", scripts[2][0])
    assert tag is not None, scripts[2]
    assert scripts[2][1:] == MAINTENANCE
    # every call as the instance, with the NLS settings hisops' parsers read
    calls = estate["log"].read_text().splitlines()
    assert len(calls) == 3
    assert all("sid=HISPRD nls_date_format=YYYY-MM-DD HH24:MI:SS" in c for c in calls)
    assert "cmdfile=" not in calls[0]
    assert f"log={estate['home'].parent}/rman/" in calls[2]
    # the log was judged and its evidence journaled
    full = evidence(body["run_id"], "backup")
    assert full["step"] == "oracle_backup"
    ev = full["evidence"]
    assert (ev["engine"], ev["database"], ev["host"], ev["label"], ev["kind"], ev["level"]) == (
        "oracle", "HISPRD", "ora-prim", tag[1], "full", 0)
    assert ev["passed"] is True
    assert ev["findings"] == []
    assert len(ev["pieces"]) == 5
    assert ev["autobackup_piece"].endswith("c-3871295524-20261127-00")
    assert ev["deleted"] == 3
    assert (estate["home"] / "deleted").read_text().split() == ["003", "obsolete", "003",
                                                                 "expired"]

    # diff: a cumulative level 1; SHOW ALL now shows the settings, so nothing is configured
    rc, body, err = backup(estate, "diff")
    assert rc == 0, err
    scripts = received(estate)
    assert len(scripts) == 5
    assert scripts[3] == ["SHOW ALL;", "EXIT;"]
    diff = re.fullmatch(r"BACKUP INCREMENTAL LEVEL 1 CUMULATIVE DATABASE TAG '(HIS_L1_\w+)' "
                        r"PLUS ARCHIVELOG DELETE INPUT;", scripts[4][0])
    assert diff is not None, scripts[4]
    assert scripts[4][1:] == MAINTENANCE
    ev = evidence(body["run_id"], "backup")["evidence"]
    assert (ev["label"], ev["kind"], ev["level"], ev["cumulative"], ev["passed"]) == (
        diff[1], "diff", 1, True, True)

    # incr: a differential level 1
    rc, body, err = backup(estate, "incr")
    assert rc == 0, err
    scripts = received(estate)
    assert len(scripts) == 7
    assert scripts[5] == ["SHOW ALL;", "EXIT;"]
    assert re.fullmatch(r"BACKUP INCREMENTAL LEVEL 1 DATABASE TAG 'HIS_L1_\w+' PLUS ARCHIVELOG "
                        r"DELETE INPUT;", scripts[6][0]), scripts[6]
    ev = evidence(body["run_id"], "backup")["evidence"]
    assert (ev["kind"], ev["level"], ev["cumulative"]) == ("incr", 1, False)

    listed = backups()["HISPRD"]
    assert listed["engine"] == "oracle"
    assert (listed["last_backup"]["label"], listed["last_backup"]["kind"],
            listed["last_backup"]["host"], listed["last_backup"]["run_id"]) == (
        ev["label"], "incr", "ora-prim", body["run_id"])
    assert listed["last_verified"] is None


def test_a_full_recovery_area_fails_the_backup_naming_ora_19809_and_deletes_nothing(
        estate: dict[str, Path]) -> None:
    (estate["home"] / ".fra_full").touch()
    rc, body, err = backup(estate, "full")
    assert rc == 1
    status, detail = steps(body)["oracle_backup"]
    assert status == "failed"
    assert "ORA-19809" in detail + err
    # the failed script was the last RMAN heard: no maintenance run of its own after it
    scripts = received(estate)
    assert len(scripts) == 3
    assert scripts[2][0].startswith("BACKUP INCREMENTAL LEVEL 0")
    assert not (estate["home"] / "deleted").exists()
    # journaled with its findings, but not as a backup taken
    ev = evidence(body["run_id"], "backup_failed")["evidence"]
    assert ev["passed"] is False
    assert any("ORA-19809" in f["line"] for f in ev["findings"] if f["severity"] == "error")
    assert ev["deleted"] in (None, 0)
    # a failed backup is no backup
    assert backups().get("HISPRD", {}).get("last_backup") is None


def test_validate_and_preview_drills_read_the_backup_and_are_journaled(
        estate: dict[str, Path]) -> None:
    rc, body, err = backup(estate, "full")
    assert rc == 0, err
    label = evidence(body["run_id"], "backup")["evidence"]["label"]
    taken = len(received(estate))

    rc, body, err = drill(estate, "validate")
    assert rc == 0, err
    assert steps(body)["drill"][0] == "skipped"
    assert steps(body)["cleanup"][0] == "skipped"
    assert steps(body)["oracle_duplicate"][0] == "skipped"
    assert steps(body)["oracle_verify"][0] in ("ok", "changed")
    assert received(estate)[taken:] == [["RUN {", "RESTORE DATABASE VALIDATE CHECK LOGICAL;",
                                         "RESTORE ARCHIVELOG ALL VALIDATE;", "}"]]
    recorded = evidence(body["run_id"], "restore_drill")
    assert (recorded["step"], recorded["subject"]) == ("oracle_verify", "HISPRD")
    ev = recorded["evidence"]
    assert (ev["mode"], ev["database"], ev["source_host"], ev["passed"]) == (
        "validate", "HISPRD", "ora-prim", True)
    assert ev["backup"]["label"] == label
    assert ev["checks"] == {"repository": "passed", "wal": "passed"}
    verified = backups()["HISPRD"]
    assert verified["last_verified"]["label"] == label
    assert verified["last_verified"]["run_id"] == body["run_id"]
    assert verified["problems"] == []

    rc, body, err = drill(estate, "preview")
    assert rc == 0, err
    assert received(estate)[taken + 1:] == [["RUN {", "RESTORE DATABASE PREVIEW SUMMARY;", "}"]]
    ev = evidence(body["run_id"], "restore_drill")["evidence"]
    assert (ev["mode"], ev["passed"], ev["recovery_scn"], ev["media_recovery_start_scn"]) == (
        "preview", True, 48571420, 48571420)
    assert ev["backup"]["label"] == "TAG20260310T011158"  # the newest the restore would use
    assert ev["backup"]["tags"] == [label, "TAG20260310T011158"]
    # a preview reads no piece: the validate above stays the last verified restore
    assert backups()["HISPRD"]["last_verified"]["label"] == label


def test_a_corrupt_backup_piece_fails_the_drill(estate: dict[str, Path]) -> None:
    (estate["home"] / ".corrupt_piece").touch()
    rc, body, err = drill(estate, "validate")
    assert rc == 1
    status, detail = steps(body)["oracle_verify"]
    assert status == "failed"
    assert "ORA-19599" in detail + err or "corrupt" in detail + err
    ev = evidence(body["run_id"], "restore_drill")["evidence"]
    assert ev["passed"] is False
    assert ev["checks"]["repository"] == "failed"
    assert any("HISPRD_lvl0_1f3k2a9d_1_1.bkp" in f["line"] for f in ev["findings"])
    listed = backups()["HISPRD"]
    assert listed["last_verified"] is None
    assert listed["last_drill_failed"]["run_id"] == body["run_id"]


def test_a_failed_duplicate_drill_still_shuts_down_and_removes_the_scratch_database(
        estate: dict[str, Path]) -> None:
    rc, body, err = run(estate, "verify-backup", "source=ora-prim", "scratch=verify-1",
                        "repository=backup-1", "oracle_mode=duplicate",
                        "oracle_backup_location=/u05/backup/HISPRD")
    assert rc == 1
    assert steps(body)["oracle_verify"][0] == "skipped"
    status, detail = steps(body)["oracle_duplicate"]
    assert status == "failed"
    assert "RMAN-06054" in detail + err
    text = estate["log"].read_text()
    assert f"{estate['home']} " not in text  # nothing ran in the source's home
    calls = text.replace(str(estate["scratch"]), "scratch").splitlines()
    pfile = "scratch/dbs/initHISDRILL.ora"
    order = [next((i for i, c in enumerate(calls) if what in c), None)
             for what in (f"STARTUP NOMOUNT PFILE='{pfile}'", "scratch rman auxiliary /",
                          "SHUTDOWN ABORT")]
    assert None not in order, calls
    assert order == sorted(order), calls  # started, duplicated, shut down
    assert all("sid=HISDRILL" in c for c in calls)
    script = [line.strip() for line in
              (estate["scratch"] / "received" / "001.rman").read_text().splitlines()]
    assert "DUPLICATE DATABASE HISPRD TO HISDRILL" in script
    assert "BACKUP LOCATION '/u05/backup/HISPRD'" in script
    # no check of a copy that was never made
    assert not any("open_mode" in c or "VALIDATE" in c for c in calls)
    # torn down: no instance, no files
    assert not list(estate["scratch"].glob(".pmon_*.pid"))
    assert not (estate["scratch_root"] / "HISDRILL").exists()
    assert not (estate["scratch"] / "dbs" / "initHISDRILL.ora").exists()
    recorded = evidence(body["run_id"], "restore_drill")
    assert recorded["subject"] == "HISPRD"
    ev = recorded["evidence"]
    assert (ev["mode"], ev["source_host"], ev["scratch_host"], ev["scratch_sid"], ev["passed"]) == (
        "duplicate", "ora-prim", "verify-1", "HISDRILL", False)
    assert any("RMAN-06054" in f["line"] for f in ev["findings"])
