"""oracle_inspect: reading df -P, lsnrctl status, opatch lsinventory and ggsci as the role's
filter plugin does, the findings it draws, and the evidence's shape.

Command output here is composed in the published layout of each tool (lsnrctl: Oracle Net
Services Administrator's Guide, "Monitoring Services of a Listener"; df -P: POSIX), not
captured from a host; the lsinventory text is tests/fixtures/oracle/opatch_lsinventory_19_21.txt.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from hisops.engines.oracle import goldengate as gg
from hisops.engines.oracle.rman import UnreadableOutput
from tests.conftest import ROOT
from tests.role_plugins import filter_plugin
from tests.unit.test_oracle_baseline_role import check_argument_specs

F = filter_plugin("oracle_inspect", "hisops_oracle_inspect")
LSINVENTORY = (ROOT / "tests/fixtures/oracle/opatch_lsinventory_19_21.txt").read_text()
LSINVENTORY_FAILED = (ROOT / "tests/fixtures/oracle/opatch_lsinventory_failed.txt").read_text()
HOME = "/u01/app/oracle/product/19.0.0/dbhome_1"

DF_HEAD = "Filesystem     1024-blocks      Used Available Capacity Mounted on\n"
DF_U01 = DF_HEAD + "/dev/mapper/vg_u01-lv_u01  104806400  62883840  41922560      60% /u01\n"
DF_FRA = DF_HEAD + "/dev/mapper/vg_fra-lv_fra  524288000 482344960  41943040      93% /u03/fra\n"

LSNR_OK = """
LSNRCTL for Linux: Version 19.0.0.0.0 - Production on 27-NOV-2026 06:30:12

Copyright (c) 1991, 2023, Oracle.  All rights reserved.

Connecting to (DESCRIPTION=(ADDRESS=(PROTOCOL=TCP)(HOST=his-db-1)(PORT=1521)))
STATUS of the LISTENER
------------------------
Alias                     LISTENER
Version                   TNSLSNR for Linux: Version 19.0.0.0.0 - Production
Start Date                02-NOV-2026 22:14:05
Uptime                    24 days 8 hr. 16 min. 7 sec
Trace Level               off
Security                  ON: Local OS Authentication
SNMP                      OFF
Listener Parameter File   /u01/app/oracle/product/19.0.0/dbhome_1/network/admin/listener.ora
Listener Log File         /u01/app/oracle/diag/tnslsnr/his-db-1/listener/alert/log.xml
Listening Endpoints Summary...
  (DESCRIPTION=(ADDRESS=(PROTOCOL=tcp)(HOST=his-db-1)(PORT=1521)))
  (DESCRIPTION=(ADDRESS=(PROTOCOL=ipc)(KEY=EXTPROC1521)))
Services Summary...
Service "HISPRD" has 1 instance(s).
  Instance "HISPRD", status READY, has 1 handler(s) for this service...
Service "HISPRDXDB" has 1 instance(s).
  Instance "HISPRD", status READY, has 1 handler(s) for this service...
Service "his_app" has 1 instance(s).
  Instance "HISPRD", status READY, has 1 handler(s) for this service...
The command completed successfully
"""
LSNR_STATIC = LSNR_OK.replace("""Service "HISPRD" has 1 instance(s).
  Instance "HISPRD", status READY, has 1 handler(s) for this service...
Service "HISPRDXDB" has 1 instance(s).
  Instance "HISPRD", status READY, has 1 handler(s) for this service...
Service "his_app" has 1 instance(s).
  Instance "HISPRD", status READY, has 1 handler(s) for this service...
""", """Service "HISPRD" has 1 instance(s).
  Instance "HISPRD", status UNKNOWN, has 1 handler(s) for this service...
""")
LSNR_NO_SERVICES = LSNR_OK.split("Services Summary...")[0] + \
    "The listener supports no services\nThe command completed successfully\n"
LSNR_DOWN = """
LSNRCTL for Linux: Version 19.0.0.0.0 - Production on 27-NOV-2026 06:30:12

Copyright (c) 1991, 2023, Oracle.  All rights reserved.

Connecting to (DESCRIPTION=(ADDRESS=(PROTOCOL=TCP)(HOST=his-db-1)(PORT=1521)))
TNS-12541: TNS:no listener
 TNS-12560: TNS:protocol adapter error
  TNS-00511: No listener
   Linux Error: 111: Connection refused
"""

GGSCI = """
Oracle GoldenGate Command Interpreter for Oracle
Version 19.1.0.0.4 OGGCORE_19.1.0.0.0_PLATFORMS_191017.1054_FBO
Linux, x64, 64bit (optimized), Oracle 19c on Oct 17 2019 21:16:29
Operating system character set identified as UTF-8.

Copyright (C) 1995, 2019, Oracle and/or its affiliates. All rights reserved.



GGSCI (his-gg-1) 1> 
Program     Status      Group       Lag at Chkpt  Time Since Chkpt

MANAGER     RUNNING                                           
REPLICAT    ABENDED     RHISLAB     00:00:03      02:14:51    
REPLICAT    RUNNING     RHISRPT     00:00:00      00:00:04    


GGSCI (his-gg-1) 2> 
ERROR: REPLICAT RHISLAB not currently running.

Sending GETLAG request to REPLICAT RHISRPT ...
Last record lag 2 seconds.
At EOF, no more records to process.


GGSCI (his-gg-1) 3> 
"""  # noqa: W291 - ggsci pads its rows and prompts with blanks


def ran(rc: int | None, stdout: str = "", stderr: str = "", **extra: Any) -> dict[str, Any]:
    return {"rc": rc, "stdout": stdout, "stderr": stderr, "changed": False, **extra}


SKIPPED = {"skipped": True, "changed": False, "skip_reason": "Conditional result was False"}


# --- where the instance keeps its files, and df -P ---------------------------------------------


def test_dest_parameters_are_read_strictly() -> None:
    assert F.parse_dest_parameters("db_recovery_file_dest=/u03/fra\n"
                                   "diagnostic_dest=/u01/app/oracle\n") == {
        "db_recovery_file_dest": "/u03/fra", "diagnostic_dest": "/u01/app/oracle"}
    assert F.parse_dest_parameters("db_recovery_file_dest=\ndiagnostic_dest=/u01/app/oracle") \
        == {"db_recovery_file_dest": "", "diagnostic_dest": "/u01/app/oracle"}
    with pytest.raises(UnreadableOutput, match="without diagnostic_dest"):
        F.parse_dest_parameters("db_recovery_file_dest=/u03/fra\n")
    with pytest.raises(UnreadableOutput, match="without db_recovery_file_dest, diagnostic_dest"):
        F.parse_dest_parameters("")


def test_df_targets_are_the_home_the_fra_and_diag_except_asm() -> None:
    dests = ran(0, "db_recovery_file_dest=/u03/fra\ndiagnostic_dest=/u01/app/oracle\n")
    assert F.df_targets(dests, HOME) == [
        {"holds": "oracle_home", "path": HOME}, {"holds": "fra", "path": "/u03/fra"},
        {"holds": "diag", "path": "/u01/app/oracle"}]
    asm = ran(0, "db_recovery_file_dest=+FRA\ndiagnostic_dest=/u01/app/oracle\n")
    assert [t["holds"] for t in F.df_targets(asm, HOME)] == ["oracle_home", "diag"]
    # given paths win, and the instance was not asked (skipped)
    assert F.df_targets(SKIPPED, HOME, "/fra", "/diag") == [
        {"holds": "oracle_home", "path": HOME}, {"holds": "fra", "path": "/fra"},
        {"holds": "diag", "path": "/diag"}]
    missing = ran(2, "", msg="Error executing command.", cmd=f"{HOME}/bin/sqlplus -s -L")
    assert F.report({"dests": missing, "df": SKIPPED, "listener": SKIPPED,
                     "lsinventory": SKIPPED, "goldengate": SKIPPED}, SETTINGS)["findings"][0][
        "message"].startswith(f"HISPRD: could not read db_recovery_file_dest and diagnostic_dest "
                              f"(sqlplus failed (rc 2): could not start {HOME}/bin/sqlplus")
    down = ran(1, "ERROR:\nORA-01034: ORACLE not available\nORA-27101: shared memory realm "
               "does not exist\n")
    assert F.df_targets(down, HOME) == [{"holds": "oracle_home", "path": HOME}]


def test_df_rows() -> None:
    assert F.parse_df(DF_FRA) == [{"filesystem": "/dev/mapper/vg_fra-lv_fra",
                                   "size_kb": 524288000, "used_kb": 482344960,
                                   "available_kb": 41943040, "used_pct": 93,
                                   "mount": "/u03/fra"}]
    two = F.parse_df(DF_HEAD + "nfs1:/export/his arch  2000  1000  1000  50% /mnt/his arch\n"
                     "tmpfs  100  0  100  0% /dev/shm\n")
    assert [(r["filesystem"], r["mount"], r["used_pct"]) for r in two] == [
        ("nfs1:/export/his arch", "/mnt/his arch", 50), ("tmpfs", "/dev/shm", 0)]


@pytest.mark.parametrize(("text", "message"), [
    ("", "not df -P output"),
    ("Filesystem Size Used Avail Use% Mounted on\n/dev/sda1 10G 5G 5G 50% /\n",
     "not df -P output"),
    (DF_HEAD, "a heading and no filesystem"),
    (DF_HEAD + "/dev/sda1 10255636 4520056 5194908 - /\n", "unreadable df -P row"),
])
def test_df_output_that_cannot_be_read_is_refused(text: str, message: str) -> None:
    with pytest.raises(UnreadableOutput, match=message):
        F.parse_df(text)


def test_filesystems_share_a_mount_and_are_judged_against_the_limits() -> None:
    df = {"results": [
        {**ran(0, DF_U01), "item": {"holds": "oracle_home", "path": HOME}},
        {**ran(0, DF_FRA), "item": {"holds": "fra", "path": "/u03/fra"}},
        {**ran(0, DF_U01), "item": {"holds": "diag", "path": "/u01/app/oracle"}},
    ]}
    mounts, findings = F.filesystems(df, 85, 95)
    assert [(m["mount"], m["holds"], m["used_pct"]) for m in mounts] == [
        ("/u01", ["oracle_home", "diag"], 60), ("/u03/fra", ["fra"], 93)]
    assert [(f.severity.value, f.subject, f.problem) for f in findings] == [
        ("warning", "/u03/fra", "93% used (holds fra; warning at 85%), 40960 MiB free")]
    _, findings = F.filesystems(df, 50, 90)
    assert [(f.severity.value, f.subject) for f in findings] == [
        ("warning", "/u01"), ("error", "/u03/fra")]


def test_a_filesystem_df_cannot_measure_is_an_error() -> None:
    df = {"results": [
        {**ran(1, "", "df: /u03/fra: No such file or directory"),
         "item": {"holds": "fra", "path": "/u03/fra"}},
        {**ran(0, "oops"), "item": {"holds": "diag", "path": "/u01/app/oracle"}},
    ]}
    mounts, findings = F.filesystems(df, 85, 95, {"fra": "+FRA"})
    assert [(f.severity.value, f.subject, f.problem) for f in findings] == [
        ("error", "/u03/fra", "df -P failed for fra (rc 1): df: /u03/fra: No such file or "
         "directory"),
        ("error", "/u01/app/oracle", "not df -P output (no 'Filesystem 1024-blocks ...' "
         "heading): 'oops'")]
    assert mounts == [{"filesystem": "ASM", "size_kb": None, "used_kb": None,
                       "available_kb": None, "used_pct": None, "mount": None,
                       "holds": ["fra"], "paths": ["+FRA"]}]


# --- listener ----------------------------------------------------------------------------------


def test_listener_services_and_instances() -> None:
    services = F.parse_listener_status(LSNR_OK)
    assert [s["name"] for s in services] == ["HISPRD", "HISPRDXDB", "his_app"]
    assert services[0]["instances"] == [{"name": "HISPRD", "status": "READY"}]
    out, findings = F.listener(ran(0, LSNR_OK), "LISTENER", "HISPRD")
    assert (out["rc"], len(out["services"]), findings) == (0, 3, [])


@pytest.mark.parametrize(("result", "severity", "problem"), [
    (ran(1, LSNR_DOWN), "error", "lsnrctl status failed (rc 1): TNS-12541: TNS:no listener"),
    (ran(0, LSNR_NO_SERVICES), "warning", "the listener supports no services"),
    (ran(0, LSNR_STATIC), "warning", "instance HISPRD is not registered READY (listed as: "
     "HISPRD UNKNOWN)"),
    (ran(0, LSNR_OK.replace("HISPRD", "HISTST")), "warning",
     "instance HISPRD is not registered READY (listed as: nothing)"),
    (ran(0, LSNR_OK.replace("The command completed successfully", "")), "error",
     "lsnrctl status did not complete"),
    (ran(0, LSNR_OK.replace("has 1 instance(s).", "has 2 instance(s).", 1)), "error",
     "counts instances of service HISPRD it does not list"),
    (ran(0, LSNR_NO_SERVICES.replace("The listener supports no services\n", "")), "error",
     "lists no services and does not say it has none"),
    (SKIPPED, "error", "lsnrctl status did not run"),
    (ran(2, "", msg="Error executing command.", cmd=f"{HOME}/bin/lsnrctl status LISTENER"),
     "error", f"lsnrctl status failed (rc 2): could not start {HOME}/bin/lsnrctl status "
     "LISTENER: No such file or directory"),
])
def test_listener_findings(result: dict[str, Any], severity: str, problem: str) -> None:
    _, findings = F.listener(result, "LISTENER", "HISPRD")
    assert [(f.severity.value, f.check, f.subject) for f in findings] == [
        (severity, "listener", "LISTENER")]
    assert problem in findings[0].problem


# --- patches -----------------------------------------------------------------------------------


def test_lsinventory_is_read_by_hisops_opatch() -> None:
    out, findings = F.patches(ran(0, LSINVENTORY), HOME)
    assert findings == []
    assert out["home"] == HOME
    assert (out["opatch_version"], out["release_update"]) == ("12.2.0.1.40", "19.21.0.0.231017")
    assert [(p["patch_id"], p["applied_at"], p["applied_zone"], p["release_update"])
            for p in out["patches"]] == [
        (35643107, "2026-03-14 02:41:17", "CET", "19.21.0.0.231017"),
        (29585399, "2019-04-18 09:21:17", "CEST", None)]


@pytest.mark.parametrize(("result", "problem"), [
    (ran(1, LSINVENTORY_FAILED), "opatch lsinventory (rc 1): "),
    (ran(0, LSINVENTORY.replace("OPatch succeeded.", "")), "cut short"),
    (ran(0, ""), "not opatch lsinventory output"),
    # a program that printed nothing and failed is named with its own words, not "unreadable"
    (ran(127, "", "opatch: not found"), "opatch lsinventory failed (rc 127): opatch: not found"),
    (ran(2, "", msg="Error executing command.", cmd=f"{HOME}/OPatch/opatch lsinventory"),
     f"opatch lsinventory failed (rc 2): could not start {HOME}/OPatch/opatch lsinventory: "
     "No such file or directory"),
    (SKIPPED, "opatch lsinventory did not run"),
])
def test_lsinventory_that_failed_or_cannot_be_read_is_an_error(result: dict[str, Any],
                                                               problem: str) -> None:
    out, findings = F.patches(result, HOME)
    assert out["patches"] == []
    assert [(f.severity.value, f.check) for f in findings] == [("error", "opatch")]
    assert problem in findings[0].problem


# --- the evidence ------------------------------------------------------------------------------


SETTINGS = {"home": HOME, "sid": "HISPRD", "listener": "LISTENER", "fra_dest": "",
            "diag_dest": "", "fs_warn_pct": 85, "fs_crit_pct": 95, "gg_role": "",
            "gg_home": "", "gg_lag_warn_s": 60, "gg_lag_critical_s": 300}


def test_the_evidence_has_the_inspection_shape() -> None:
    read = {"dests": ran(0, "db_recovery_file_dest=/u03/fra\ndiagnostic_dest=/u01/app/oracle"),
            "df": {"results": [
                {**ran(0, DF_U01), "item": {"holds": "oracle_home", "path": HOME}},
                {**ran(0, DF_FRA), "item": {"holds": "fra", "path": "/u03/fra"}},
                {**ran(0, DF_U01), "item": {"holds": "diag", "path": "/u01/app/oracle"}}]},
            "listener": ran(0, LSNR_OK), "lsinventory": ran(0, LSINVENTORY),
            "goldengate": SKIPPED}
    evidence = F.report(read, SETTINGS)
    assert set(evidence) == {"engine", "filesystems", "listener", "patches", "goldengate",
                             "findings"}
    assert (evidence["engine"], evidence["goldengate"]) == ("oracle", None)
    assert [m["mount"] for m in evidence["filesystems"]] == ["/u01", "/u03/fra"]
    assert evidence["patches"]["release_update"] == "19.21.0.0.231017"
    assert evidence["findings"] == [{"severity": "warning", "check": "filesystem",
                                     "message": "/u03/fra: 93% used (holds fra; warning at "
                                                "85%), 40960 MiB free"}]


def test_an_instance_that_does_not_answer_leaves_the_home_measured() -> None:
    read = {"dests": ran(1, "ERROR:\nORA-01034: ORACLE not available\n"),
            "df": {"results": [{**ran(0, DF_U01),
                                "item": {"holds": "oracle_home", "path": HOME}}]},
            "listener": ran(1, LSNR_DOWN), "lsinventory": ran(0, LSINVENTORY),
            "goldengate": SKIPPED}
    evidence = F.report(read, SETTINGS)
    assert [(f["severity"], f["check"]) for f in evidence["findings"]] == [
        ("warning", "instance"), ("error", "listener")]
    assert "sqlplus exited with 1: ORA-01034: ORACLE not available" in \
        evidence["findings"][0]["message"]
    assert evidence["filesystems"][0]["holds"] == ["oracle_home"]


def test_argument_specs_cover_every_default() -> None:
    check_argument_specs("oracle_inspect")


def test_the_role_changes_nothing_and_runs_in_check_mode() -> None:
    def commands(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for task in tasks:
            out += commands(task.get("block", []))
            if "ansible.builtin.command" in task:
                out.append(task)
        return out

    tasks = yaml.safe_load((ROOT / "roles/oracle_inspect/tasks/main.yml").read_text())
    found = commands(tasks)
    assert len(found) == 5
    for task in found:
        assert (task["changed_when"], task["check_mode"], task["failed_when"]) == \
            (False, False, False), task["name"]
    modules = {key for task in tasks for t in [task, *task.get("block", [])] for key in t
               if key.startswith("ansible.")}
    assert modules == {"ansible.builtin.assert", "ansible.builtin.command",
                       "ansible.builtin.set_fact", "ansible.builtin.set_stats",
                       "ansible.builtin.debug"}


# --- GoldenGate (hisops.engines.oracle.goldengate, written alongside) ---------------------------


def test_goldengate_glue() -> None:
    stdin = F.ggsci_input("/u01/app/ogg")
    assert stdin == gg.GGSCI_COMMANDS.rstrip("\n") + "\nexit\n"
    with pytest.raises(AnsibleFilterError, match="oracle_gg_home is not"):
        F.ggsci_input("")
    assert F.goldengate(SKIPPED, "", "") == (None, [])
    out, findings = F.goldengate(ran(0, GGSCI), "target", "/u01/app/ogg", 60, 300)
    assert (out["role"], out["rc"]) == ("target", 0)
    assert [(p["program"], p["status"], p["group"]) for p in out["processes"]] == [
        ("MANAGER", "RUNNING", ""), ("REPLICAT", "ABENDED", "RHISLAB"),
        ("REPLICAT", "RUNNING", "RHISRPT")]
    assert out["processes"][1]["since_checkpoint_s"] == 2 * 3600 + 14 * 60 + 51
    assert [(lag["group"], lag["seconds"], lag["state"]) for lag in out["lags"]] == [
        ("RHISLAB", None, "not_running"), ("RHISRPT", 2, "at_eof")]
    assert [(f.severity.value, f.subject) for f in findings] == [
        ("error", "REPLICAT RHISLAB")]
    # a source host must capture: no EXTRACT here is an error too
    _, source = F.goldengate(ran(0, GGSCI), "source", "/u01/app/ogg", 60, 300)
    assert ("error", "EXTRACT") in [(f.severity.value, f.subject) for f in source]
    # the lag limits reach the judgement
    _, strict = F.goldengate(ran(0, GGSCI), "target", "/u01/app/ogg", 1, 300)
    assert ("warning", "REPLICAT RHISRPT") in [(f.severity.value, f.subject) for f in strict]


def test_goldengate_that_cannot_be_read_is_an_error() -> None:
    _, findings = F.goldengate(ran(1, "", "ggsci: cannot open shared object file"), "target",
                               "/u01/app/ogg")
    assert [(f.severity.value, f.check) for f in findings] == [("error", "goldengate")]
    assert findings[0].problem == "ggsci failed (rc 1): ggsci: cannot open shared object file"
    # ansible-core's result when the GoldenGate home (chdir) does not exist
    _, findings = F.goldengate(ran(None, "", msg="Unable to change directory before execution."),
                               "target", "/u01/app/ogg")
    assert findings[0].problem == ("ggsci failed (rc None): Unable to change directory before "
                                   "execution.")
    _, findings = F.goldengate(ran(0, "GGSCI (his-gg-1) 1> \n"), "target", "/u01/app/ogg")
    assert "no GGSCI 'info all' table" in findings[0].problem
    info_only = GGSCI.split("GGSCI (his-gg-1) 2>")[0]
    out, findings = F.goldengate(ran(0, info_only), "target", "/u01/app/ogg")
    assert len(out["processes"]) == 3
    assert "ggsci lag: no GGSCI LAG answer" in findings[0].problem
    _, not_run = F.goldengate(SKIPPED, "target", "/u01/app/ogg")
    assert not_run[0].problem == "ggsci did not run"
    evidence = F.report({"dests": SKIPPED, "df": SKIPPED, "listener": ran(0, LSNR_OK),
                         "lsinventory": ran(0, LSINVENTORY), "goldengate": ran(0, GGSCI)},
                        {**SETTINGS, "fra_dest": "/u03/fra", "diag_dest": "/u01/app/oracle",
                         "gg_role": "target", "gg_home": "/u01/app/ogg"})
    assert evidence["goldengate"]["home"] == "/u01/app/ogg"
    assert {"severity": "error", "check": "goldengate",
            "message": "REPLICAT RHISLAB: ABENDED: read the report file (VIEW REPORT RHISLAB) "
                       "and the ggserr log before restarting"} in evidence["findings"]


def test_a_source_host_is_not_faulted_for_having_no_replicat_lag() -> None:
    info = (ROOT / "tests" / "fixtures" / "oracle" / "goldengate"
            / "ggsci_info_all_healthy.txt").read_text()
    source = info.split("GGSCI (his-db-3) 2>")[0].replace(
        "REPLICAT    RUNNING     RHISLAB", "EXTRACT     RUNNING     EHISPRD").replace(
        "REPLICAT    RUNNING     RHISRPT", "EXTRACT     RUNNING     PHISPRD")
    _, findings = F.goldengate(ran(0, source), "source", "/u01/app/ogg")
    assert findings == []
    _, target = F.goldengate(ran(0, source), "target", "/u01/app/ogg")
    assert any("lag" in f.problem for f in target)  # a replica's missing lag is a finding
