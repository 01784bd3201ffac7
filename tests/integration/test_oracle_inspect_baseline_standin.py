"""The oracle_inspect and oracle_baseline roles end to end over real SSH and Ansible, against
stand-in Oracle homes.

No Oracle software runs here. Each "home" is a folder whose sqlplus, lsnrctl, opatch (and, in a
GoldenGate home, ggsci) are the shell scripts of tests/data/oracle_standin/inspect: they log each
call and print the real-format output the real tool would print (tests/fixtures/oracle, and the
lsnrctl texts beside the scripts); `df -P` is the real one, on folders standing for the FRA and
the diagnostic destination.

What this proves is hisops's side. Inspection: a runbook runs playbooks/oracle_inspect.yml over
SSH, every command runs as the user oracle_os_user names (root here, the sshd's own user, so
`become` switches nothing: a real user switch is not tested) with the home's ORACLE_SID, the
role publishes
each host's evidence under its own name, judges a listener that does not answer and an ABENDED
replicat into findings of the right severity, and changes nothing. Baseline: `hisops run
apply-baseline` given the desired state that `hisops baseline apply` writes for a drifted
database (built with oracle_desired_state from a check result, the way the unit tests build
it; the check itself needs a database over python-oracledb and is not run) sends each fix
statement to sqlplus in its own call, reports the changes and a restart pending for
SCOPE=SPFILE, runs nothing in check mode, and names a statement Oracle refused. Whether Oracle
prints what the fixtures say, or accepts these statements, is not tested here
(tests/fixtures/oracle/SOURCES.md).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from hisops.baselines import oracle_check
from hisops.baselines.apply import oracle_desired_state
from hisops.baselines.check import _row
from hisops.baselines.model import OracleParameter
from tests.conftest import ROOT
from tests.fixtures.sshd import SshdServer
from tests.integration.helpers import evidence_payloads, hisops
from tests.unit.test_oracle_baseline_role import check_report, snap

STANDIN = ROOT / "tests" / "data" / "oracle_standin" / "inspect"
FIXTURES = ROOT / "tests" / "fixtures" / "oracle"
PLACES = {"sqlplus": "bin", "lsnrctl": "bin", "opatch": "OPatch"}

INSPECT_RUNBOOK = """\
name: oracle-inspect-standin
summary: the oracle_inspect playbook on the stand-in hosts
targets: [HOSTS]
steps:
  - id: inspect
    kind: playbook
    hosts: HOSTS
    playbook: PLAYBOOK
    idempotent: true
"""


def make_home(path: Path, log: Path, fra: Path, diag: Path) -> Path:
    for name, folder in PLACES.items():
        (path / folder).mkdir(parents=True, exist_ok=True)
        shutil.copy2(STANDIN / name, path / folder / name)
    (path / "standin.env").write_text(
        f"STANDIN_LOG={log}\nSTANDIN_FIXTURES={FIXTURES}\nSTANDIN_DATA={STANDIN}\n"
        f"STANDIN_FRA={fra}\nSTANDIN_DIAG={diag}\n")
    return path


@pytest.fixture
def estate(tmp_path: Path, sshd: SshdServer) -> dict[str, Path]:
    """Two Oracle hosts on the one sshd: ora-db (no GoldenGate) and ora-gg (a GoldenGate
    target), each with its own home, FRA and diagnostic folders."""
    log = tmp_path / "calls.log"
    log.touch()
    paths: dict[str, Path] = {"log": log}
    lines = ["[db_primary]"]
    for host in ("ora-db", "ora-gg"):
        fra, diag = tmp_path / host / "fra", tmp_path / host / "diag"
        fra.mkdir(parents=True)
        diag.mkdir()
        home = make_home(tmp_path / host / "home", log, fra, diag)
        paths |= {f"{host}-home": home, f"{host}-fra": fra, f"{host}-diag": diag}
        extra = {}
        if host == "ora-gg":
            gg_home = tmp_path / host / "ogg"
            gg_home.mkdir()
            shutil.copy2(STANDIN / "ggsci", gg_home / "ggsci")
            paths["ora-gg-ogg"] = gg_home
            extra = {"oracle_gg_role": "target", "oracle_gg_home": str(gg_home),
                     "oracle_listener": "LISTENER_HISPRD"}
        # the sshd logs in as root: root owns the stand-in homes (no sudo in between)
        lines.append(sshd.inventory_line(host, oracle_home=str(home), oracle_sid="HISPRD",
                                         oracle_os_user=sshd.user, **extra))
    lines += ["[oracle:children]", "db_primary"]
    inventory = tmp_path / "inventory.ini"
    inventory.write_text("\n".join(lines) + "\n")
    paths["inventory"] = inventory
    paths["tmp"] = tmp_path
    return paths


def calls(estate: dict[str, Path]) -> list[str]:
    """The log with the homes named: 'ora-db lsnrctl user=root status LISTENER', ..."""
    text = estate["log"].read_text()
    for host in ("ora-db", "ora-gg"):
        text = text.replace(str(estate[f"{host}-home"]), host)
    if "ora-gg-ogg" in estate:
        text = text.replace(str(estate["ora-gg-ogg"]), "ogg")
    return [line for line in text.splitlines() if line.strip()]


def df_row(path: Path) -> dict[str, Any]:
    """What the real `df -P` says of a folder, read here on the controller (the same machine)."""
    row = subprocess.run(["df", "-P", str(path)], capture_output=True, text=True,
                         check=True).stdout.splitlines()[1].split()
    return {"filesystem": row[0], "used_pct": int(row[4].rstrip("%")), "mount": row[5]}


# --- inspection ----------------------------------------------------------------------------------


def inspect(estate: dict[str, Path], *extra: str, hosts: str = "ora-db:ora-gg"
            ) -> tuple[int, dict[str, Any], str, dict[str, dict[str, Any]]]:
    runbook = estate["tmp"] / "inspect.yml"
    runbook.write_text(INSPECT_RUNBOOK.replace("HOSTS", hosts).replace(
        "PLAYBOOK", str(ROOT / "playbooks" / "oracle_inspect.yml")))
    result = hisops("run", str(runbook), "-i", str(estate["inventory"]), "--yes", "--json",
                    *extra, timeout=300)
    body = json.loads(result.out) if result.out.strip().startswith("{") else {}
    evidence = {p["subject"]: p["evidence"] for p in evidence_payloads(
        "inspection", run_id=body.get("run_id"))}
    return result.rc, body, result.err, evidence


def step(body: dict[str, Any], step_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in body["steps"] if s["id"] == step_id)
    return found


def test_inspection_reads_every_host_as_the_oracle_user_and_changes_nothing(
        estate: dict[str, Path]) -> None:
    rc, body, err, evidence = inspect(estate)
    assert rc == 0, err
    inspected = step(body, "inspect")
    assert inspected["status"] == "ok"  # ansible's stats: nothing changed on any host
    assert set(inspected["hosts"]) == {"ora-db", "ora-gg"}
    assert all(h["changed"] is False and h["status"] == "ok"
               for h in inspected["hosts"].values()), inspected["hosts"]
    assert set(evidence) == {"ora-db", "ora-gg"}  # each host's own, neither overwritten

    lines = calls(estate)
    for host in ("ora-db", "ora-gg"):
        mine = [line for line in lines if line.startswith(f"{host} ")]
        # the dest query, then lsnrctl and opatch, each once, as the oracle OS user
        assert [line.split()[1] for line in mine] == ["sqlplus", "lsnrctl", "opatch"], mine
        assert all("user=root" in line for line in mine)
        assert mine[0].endswith(
            "sid=HISPRD args=-s -L / as sysdba | SELECT name || '=' || value FROM v$parameter "
            "WHERE name IN ('db_recovery_file_dest', 'diagnostic_dest') ORDER BY name;")
        assert mine[1].endswith(
            "status LISTENER_HISPRD" if host == "ora-gg" else "status LISTENER")
        assert mine[2].endswith("lsinventory")
    assert [line.split(" | ")[1] for line in lines if line.startswith("ogg ggsci")] == [
        "info all;lag replicat *;exit"]  # on the GoldenGate host only, in its home

    for host in ("ora-db", "ora-gg"):
        found = evidence[host]
        assert found["engine"] == "oracle"
        # the real df measured the home, and the FRA and diag the sqlplus stand-in named
        fs = found["filesystems"]
        row = df_row(estate[f"{host}-home"])
        assert [(m["mount"], m["filesystem"], m["used_pct"]) for m in fs] == [
            (row["mount"], row["filesystem"], row["used_pct"])]
        assert fs[0]["holds"] == ["oracle_home", "fra", "diag"]
        assert fs[0]["paths"] == [str(estate[f"{host}-home"]), str(estate[f"{host}-fra"]),
                                  str(estate[f"{host}-diag"])]
        assert (found["listener"]["name"], found["listener"]["rc"]) == (
            "LISTENER_HISPRD" if host == "ora-gg" else "LISTENER", 0)
        assert [s["name"] for s in found["listener"]["services"]] == [
            "HISPRD", "HISPRDXDB", "his_app"]
        patches = found["patches"]
        assert patches["home"] == str(estate[f"{host}-home"])
        assert (patches["opatch_version"], patches["release_update"]) == (
            "12.2.0.1.40", "19.21.0.0.231017")
        assert [p["patch_id"] for p in patches["patches"]] == [35643107, 29585399]
    assert evidence["ora-db"]["goldengate"] is None
    gg = evidence["ora-gg"]["goldengate"]
    assert (gg["role"], gg["home"], gg["rc"]) == ("target", str(estate["ora-gg-ogg"]), 0)
    assert [(p["program"], p["status"], p["group"]) for p in gg["processes"]] == [
        ("MANAGER", "RUNNING", ""), ("JAGENT", "STOPPED", ""),
        ("REPLICAT", "RUNNING", "RHISLAB"), ("REPLICAT", "RUNNING", "RHISRPT")]
    assert [(lag["group"], lag["seconds"]) for lag in gg["lags"]] == [
        ("RHISLAB", 2), ("RHISRPT", 1)]
    # the real filesystem is far from full here: the healthy estate has nothing to report
    assert df_row(estate["tmp"])["used_pct"] < 85, "this machine's disk is nearly full"
    assert evidence["ora-db"]["findings"] == []
    assert evidence["ora-gg"]["findings"] == []


def test_check_mode_inspects_the_same(estate: dict[str, Path]) -> None:
    rc, _, err, live = inspect(estate)
    assert rc == 0, err
    live_calls = calls(estate)
    estate["log"].write_text("")
    rc, body, err, checked = inspect(estate, "--check")
    assert rc == 0, err
    assert body["check"] is True
    assert step(body, "inspect")["status"] == "ok"
    assert sorted(calls(estate)) == sorted(live_calls)  # every read runs in check mode too

    def stable(evidence: dict[str, Any]) -> dict[str, Any]:
        # the real df's free space moves between two runs; what was read and judged does not
        return {host: {**found, "filesystems": [
            {k: v for k, v in m.items() if k not in ("used_kb", "available_kb")}
            for m in found["filesystems"]]} for host, found in evidence.items()}

    assert stable(checked) == stable(live)


def test_a_down_listener_and_an_abended_replicat_are_findings(estate: dict[str, Path]) -> None:
    (estate["ora-db-home"] / ".listener_down").touch()
    (estate["ora-gg-ogg"] / ".abended").touch()
    rc, body, err, evidence = inspect(estate)
    # findings are the evidence, not a failed play: the run succeeds and changes nothing
    assert rc == 0, err
    assert step(body, "inspect")["status"] == "ok"
    assert evidence["ora-db"]["listener"] == {"name": "LISTENER", "rc": 1, "services": []}
    assert evidence["ora-db"]["findings"] == [{
        "severity": "error", "check": "listener",
        "message": "LISTENER: lsnrctl status failed (rc 1): TNS-12541: TNS:no listener"}]
    gg_findings = evidence["ora-gg"]["findings"]
    assert gg_findings == [{
        "severity": "error", "check": "goldengate",
        "message": "REPLICAT RHISLAB: ABENDED: read the report file (VIEW REPORT RHISLAB) and "
                   "the ggserr log before restarting"}]
    assert evidence["ora-gg"]["listener"]["rc"] == 0  # the other host's listener is fine


def test_an_instance_that_does_not_answer_still_gets_its_home_measured(
        estate: dict[str, Path]) -> None:
    (estate["ora-db-home"] / ".instance_down").touch()
    rc, body, err, evidence = inspect(estate, hosts="ora-db")
    assert rc == 0, err
    found = evidence["ora-db"]
    assert [m["holds"] for m in found["filesystems"]] == [["oracle_home"]]
    assert [(f["severity"], f["check"]) for f in found["findings"]] == [("warning", "instance")]
    assert "sqlplus exited with 1: ORA-01034: ORACLE not available" in \
        found["findings"][0]["message"]


def test_a_full_filesystem_is_judged_against_the_host_s_limits(estate: dict[str, Path]) -> None:
    used = df_row(estate["tmp"])["used_pct"]
    # the limits are the role's own variables, set for one host in the inventory
    inventory = estate["inventory"].read_text().replace(
        "ora-db ", f"ora-db oracle_inspect_fs_warn_pct={max(used - 1, 0)} "
                   f"oracle_inspect_fs_crit_pct={used} ", 1)
    estate["inventory"].write_text(inventory)
    rc, _, err, evidence = inspect(estate)
    assert rc == 0, err
    mount = df_row(estate["tmp"])["mount"]
    assert [(f["severity"], f["check"]) for f in evidence["ora-db"]["findings"]] == [
        ("error", "filesystem")]
    assert re.match(rf"{re.escape(mount)}: {used}% used \(holds oracle_home, fra, diag; "
                    rf"critical at {used}%\)", evidence["ora-db"]["findings"][0]["message"])
    assert evidence["ora-gg"]["findings"] == []


def test_a_tool_that_cannot_start_is_named_with_the_reason(estate: dict[str, Path]) -> None:
    opatch = estate["ora-db-home"] / "OPatch" / "opatch"
    opatch.unlink()
    (estate["ora-db-home"] / "bin" / "lsnrctl").unlink()
    shutil.rmtree(estate["ora-gg-ogg"])
    rc, _, err, evidence = inspect(estate)
    assert rc == 0, err
    assert evidence["ora-db"]["findings"] == [
        {"severity": "error", "check": "listener",
         "message": f"LISTENER: lsnrctl status failed (rc 2): could not start "
                    f"{estate['ora-db-home']}/bin/lsnrctl status LISTENER: No such file or "
                    f"directory"},
        {"severity": "error", "check": "opatch",
         "message": f"{estate['ora-db-home']}: opatch lsinventory failed (rc 2): could not "
                    f"start {opatch} lsinventory: No such file or directory"}]
    assert evidence["ora-gg"]["findings"] == [
        {"severity": "error", "check": "goldengate",
         "message": f"{estate['ora-gg-ogg']}: ggsci failed (rc None): Unable to change "
                    "directory before execution."}]


# --- the baseline fixes ----------------------------------------------------------------------


def desired(estate: dict[str, Path], host: str = "ora-db") -> tuple[Path, list[dict[str, str]]]:
    """The desired-state file `hisops baseline apply` writes for the drifted database, as the
    shipped baseline judges tests/fixtures/oracle/baseline/his_prd_drifted.json, plus one item
    whose fix carries a quoted literal with characters a shell or SQL*Plus would take (';',
    "'", '&', '$')."""
    drifted = snap("his_prd_drifted")
    report = check_report(drifted)
    odd = OracleParameter(kind="oracle_parameter", id="ora-fal-server", title="t", severity=3,
                          name="fal_server", value="his-db-2's; &stby $HOME")
    report["hosts"][0]["results"].append(_row(odd, oracle_check.judge(odd, drifted, {})))
    fixing = oracle_desired_state(report)
    state = fixing["his-db-2"]
    path = estate["tmp"] / "desired.json"
    assert state["oracle"]["statements"][-1]["sql"] == (
        "ALTER SYSTEM SET fal_server='his-db-2''s; &stby $HOME' SCOPE=BOTH SID='*';")
    path.write_text(json.dumps({host: state}))
    return path, state["oracle"]["statements"]


def apply(estate: dict[str, Path], path: Path, *extra: str, hosts: str = "ora-db"
          ) -> tuple[int, dict[str, Any], str, dict[str, dict[str, Any]]]:
    result = hisops("run", "apply-baseline", "-i", str(estate["inventory"]), "-e",
                    f"desired_file={path}", "-e", "baseline=oracle-his-production", "-e",
                    f"hosts={hosts}", "-e", f"others={hosts}", "--yes", "--json", *extra,
                    timeout=300)
    body = json.loads(result.out) if result.out.strip().startswith("{") else {}
    evidence = {p["subject"]: p["evidence"] for p in evidence_payloads(
        "baseline", run_id=body.get("run_id"))}
    return result.rc, body, result.err, evidence


def statements_run(estate: dict[str, Path]) -> list[str]:
    return [line.split(" | ", 1)[1] for line in calls(estate) if line.startswith("ora-db sqlplus")]


def test_each_fix_statement_reaches_sqlplus_on_its_own(estate: dict[str, Path]) -> None:
    path, statements = desired(estate)
    assert len(statements) >= 10  # the drifted database gives the role real work
    # ora-gg is one of the hosts, but the file does not name it: it is left alone
    rc, body, err, evidence = apply(estate, path, hosts="ora-db:ora-gg")
    assert rc == 0, err
    assert step(body, "remediate")["status"] == "changed"
    assert step(body, "standbys")["status"] == "skipped"
    # one call per statement, in the file's order, as the oracle user, against HISPRD
    assert statements_run(estate) == [s["sql"] for s in statements]
    lines = [line for line in calls(estate) if line.startswith("ora-db sqlplus")]
    assert all("user=root sid=HISPRD args=-s -L / as sysdba |" in line for line in lines)
    assert not any(line.startswith("ora-gg") for line in calls(estate))  # not named: untouched
    assert set(evidence) == {"ora-db"}
    found = evidence["ora-db"]
    assert found["changed"] == [_changed(s) for s in statements]
    assert (found["reloaded"], found["restarted"], found["restart_pending"]) == (
        False, False, True)
    assert found["warnings"] == [
        "restart pending for audit_trail: written to the spfile (SCOPE=SPFILE), they take "
        "effect at the next restart of the instance, which hisops never does"]
    # ansible's stats: the host that ran statements changed, the other did not
    hosts = step(body, "remediate")["hosts"]
    assert (hosts["ora-db"]["changed"], hosts["ora-gg"]["changed"]) == (True, False)


def _changed(statement: dict[str, str]) -> str:
    sql = statement["sql"]
    if sql.startswith("ALTER SYSTEM SET "):
        name = sql.removeprefix("ALTER SYSTEM SET ").split("=", 1)[0].strip('"')
        return f"parameter {name}: {sql}"
    if sql.startswith("ALTER PROFILE "):
        target = sql.removeprefix("ALTER PROFILE ").rsplit(" ", 1)[0]
        return f"profile {target}: {sql}"
    kind, _, rest = sql.partition(" POLICY ")
    return f"{kind.lower()} {rest.split()[0].rstrip(';')}: {sql}"


def test_check_mode_runs_no_statement_and_says_what_would_change(
        estate: dict[str, Path]) -> None:
    path, statements = desired(estate)
    rc, body, err, evidence = apply(estate, path, "--check")
    assert rc == 0, err
    assert statements_run(estate) == []
    found = evidence["ora-db"]
    assert found["changed"] == [_changed(s) for s in statements]
    assert found["restart_pending"] is True


def test_statements_oracle_refuses_are_named_and_the_others_still_run(
        estate: dict[str, Path]) -> None:
    path, statements = desired(estate)
    refused = [s for s in statements if s["item"] in ("ora-audit-trail", "ora-open-cursors")]
    assert [s["needs"] for s in refused] == ["restart", "none"]
    (estate["ora-db-home"] / ".refuse").write_text("audit_trail=\nopen_cursors=\n")
    rc, body, err, evidence = apply(estate, path)
    assert rc == 1
    assert step(body, "remediate")["status"] == "failed"
    assert statements_run(estate) == [s["sql"] for s in statements]  # the others still ran
    found = evidence["ora-db"]
    assert found["changed"] == [_changed(s) for s in statements if s not in refused]
    # the one spfile-only parameter that needed a restart was refused: nothing waits for one
    assert found["restart_pending"] is False
    messages = [f"{s['item']}: {s['sql']}: sqlplus exited with 49: ORA-02097: parameter cannot "
                f"be modified because specified value is invalid; ORA-00096: invalid value for "
                f"parameter {s['sql'].split()[3].split('=')[0]}" for s in refused]
    assert found["warnings"] == [f"Oracle refused {m}" for m in messages]
    # the step's detail, and so the operator's error line, names the first refused statement
    # (the engine shortens a failure's detail; the evidence above holds every one)
    detail = ("ora-db: failed: task 'Fail on the statements Oracle refused' failed: "
              + messages[0])
    assert step(body, "remediate")["detail"].startswith(detail)
    assert detail in err


def test_a_statement_hisops_does_not_write_is_refused_before_anything_runs(
        estate: dict[str, Path]) -> None:
    path, statements = desired(estate)
    state = json.loads(path.read_text())
    state["ora-db"]["oracle"]["statements"].insert(
        1, {"item": "ora-open-cursors", "sql": "DROP USER hisapp CASCADE;", "needs": "none"})
    path.write_text(json.dumps(state))
    rc, body, err, _ = apply(estate, path)
    assert rc == 1
    assert statements_run(estate) == []
    assert "refusing 'DROP USER hisapp CASCADE;'" in err + json.dumps(body)

