"""The patch-oracle runbook end to end over real SSH and Ansible, against stand-in Oracle homes.

No Oracle software runs here. Each "home" is a folder whose OPatch, datapatch, sqlplus, srvctl and
dgmgrl are the shell scripts of tests/data/oracle_standin (they log each call and print the
real-format fixture the real tool would print). What this proves is hisops's side: the guard
reads every home over SSH and plans, the role runs the planner's commands in the standby-first
order, judges each output, waits for the lag, runs datapatch on the primary only after both
homes are patched, and rolls a failed host back. What Oracle prints is what the fixtures
assume (tests/fixtures/oracle/SOURCES.md); nothing here touches Oracle.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.fixtures.sshd import SshdServer
from tests.integration.helpers import hisops

STANDIN = ROOT / "tests" / "data" / "oracle_standin"
FIXTURES = ROOT / "tests" / "fixtures" / "oracle"
PLACES = {"opatch": "OPatch", "datapatch": "OPatch", "sqlplus": "bin", "srvctl": "bin",
          "dgmgrl": "bin"}


def make_home(path: Path, log: Path) -> Path:
    for name, folder in PLACES.items():
        (path / folder).mkdir(parents=True, exist_ok=True)
        shutil.copy2(STANDIN / name, path / folder / name)
    (path / "standin.env").write_text(f"STANDIN_LOG={log}\nSTANDIN_FIXTURES={FIXTURES}\n")
    return path


@pytest.fixture
def estate(tmp_path: Path, sshd: SshdServer) -> dict[str, Path]:
    log = tmp_path / "calls.log"
    log.touch()
    primary = make_home(tmp_path / "home-primary", log)
    standby = make_home(tmp_path / "home-standby", log)
    (tmp_path / "stage").mkdir()
    # the sshd logs in as root: root is the stand-in homes' owner (no sudo in between)
    common = {"oracle_os_user": sshd.user}
    lines = ["[db_primary]",
             sshd.inventory_line("ora-prim", oracle_home=str(primary), oracle_sid="HISPRD",
                                 **common),
             "[db_standby]",
             sshd.inventory_line("ora-stby", oracle_home=str(standby), oracle_sid="HISSTBY",
                                 **common),
             "[db_replica]", "[oracle:children]", "db_primary", "db_standby"]
    inventory = tmp_path / "inventory.ini"
    inventory.write_text("\n".join(lines) + "\n")
    return {"inventory": inventory, "log": log, "primary": primary, "standby": standby,
            "stage": tmp_path / "stage"}


def run(estate: dict[str, Path], *extra: str) -> tuple[int, dict[str, object], str]:
    result = hisops("run", "patch-oracle", "-i", str(estate["inventory"]), "--yes", "--json",
                    "-e", f"patch_dir={estate['stage']}", "--accept-unverified-backup",
                    "--reason", "stand-in homes: no restore to verify", *extra, timeout=600)
    body = json.loads(result.out) if result.out.strip().startswith("{") else {}
    return result.rc, body, result.err


def calls(estate: dict[str, Path]) -> list[str]:
    """The log with the homes named: 'standby opatch apply -silent', ..."""
    text = estate["log"].read_text()
    text = text.replace(str(estate["primary"]), "primary").replace(str(estate["standby"]),
                                                                   "standby")
    return [line for line in text.splitlines() if line.strip()]


def first(lines: list[str], prefix: str) -> int:
    return next(i for i, line in enumerate(lines) if line.startswith(prefix))


def test_standby_first_then_primary_then_datapatch_on_the_primary(
        estate: dict[str, Path]) -> None:
    rc, body, err = run(estate)
    assert rc == 0, err
    steps = {s["id"]: s["status"] for s in body["steps"]}
    assert steps["replicas"] == "skipped"  # no GoldenGate replica database here
    assert all(steps[s] in ("ok", "changed") for s in ("prereq", "standbys", "primary",
                                                       "datapatch"))
    lines = calls(estate)
    standby_apply = first(lines, "standby opatch apply")
    primary_apply = first(lines, "primary opatch apply")
    datapatch = first(lines, "primary datapatch")
    assert first(lines, "standby dgmgrl") < first(lines, "standby srvctl stop") < standby_apply
    assert standby_apply < primary_apply < datapatch
    assert not any(line.startswith("standby datapatch") for line in lines)
    # the standby's lag is waited for once datapatch and its registry check are done on the
    # primary (the SQL changes arrive by redo), never side by side with them
    registry = max(i for i, line in enumerate(lines)
                   if line.startswith("primary sqlplus") and "dba_registry_sqlpatch" in line)
    standby_reads = [i for i, line in enumerate(lines)
                     if line.startswith("standby sqlplus") and "v$dataguard_stats" in line]
    assert datapatch < registry < standby_reads[-1]
    assert not any(datapatch < i < registry for i in standby_reads)
    assert (estate["primary"] / ".patched").exists()
    assert (estate["standby"] / ".patched").exists()

    # a second run finds both homes at the target: no binaries step changes anything
    estate["log"].write_text("")
    rc, body, err = run(estate)
    assert rc == 0, err
    assert not any(" opatch apply" in line or "srvctl stop" in line for line in calls(estate))


def test_a_failed_standby_apply_is_rolled_back_and_the_primary_is_left_alone(
        estate: dict[str, Path]) -> None:
    (estate["standby"] / ".fail_apply").touch()
    rc, body, err = run(estate)
    assert rc == 1
    steps = {s["id"]: s["status"] for s in body["steps"]}
    assert steps["standbys"] == "failed"
    assert "primary" not in steps or steps["primary"] in ("pending", "skipped")
    lines = calls(estate)
    apply = first(lines, "standby opatch apply")
    rollback = first(lines, "standby opatch rollback")
    assert apply < rollback
    assert first(lines, "standby srvctl start") > rollback  # started again, on the old binaries
    assert not (estate["standby"] / ".patched").exists()
    assert not any(line.startswith("primary opatch apply") for line in lines)
    assert not any("datapatch" in line for line in lines)
    assert "exit status 73" in err or "OPatch failed" in err or "rolled back" in err
