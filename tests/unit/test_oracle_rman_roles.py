"""The Oracle backup roles (oracle_rman, oracle_restore_verify): the RMAN scripts their templates
write with the role defaults, the SHOW ALL comparison that keeps configuration idempotent, the
evidence they publish and the findings they fail on, and their argument specs."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible.plugins.filter.core import FilterModule as AnsibleCoreFilters

from hisops.engines.oracle.rman import (
    RMAN_ENVIRONMENT,
    rman_duplicate_script,
    rman_preview_script,
    rman_validate_script,
)
from hisops.journal import Record
from hisops.journal import records as rk
from hisops.reports.backups import backup_overview
from tests.conftest import ROOT
from tests.role_plugins import filter_plugin

RMAN = filter_plugin("oracle_rman", "hisops_rman")
DRILL = filter_plugin("oracle_restore_verify", "hisops_oracle_drill")
FIXTURES = ROOT / "tests" / "fixtures" / "oracle"
INVENTORY = {"oracle_home": "/u01/app/oracle/product/19.0.0/dbhome_1", "oracle_sid": "HISPRD",
             "inventory_hostname": "his-db-1"}
TAG = "HIS_L0_20261127T010000"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


# --- rendering as Ansible does ---------------------------------------------------------------


def _env(role: str) -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(ROOT / "roles" / role / "templates"),
                             trim_blocks=True, undefined=jinja2.StrictUndefined,
                             autoescape=False)  # noqa: S701 - RMAN scripts, not HTML
    # Ansible's own filters (bool, regex_replace...); Jinja's default/map/select stay Jinja's
    env.filters.update({name: f for name, f in AnsibleCoreFilters().filters().items()
                        if name not in env.filters})
    return env


def role_vars(role: str, **overrides: Any) -> dict[str, Any]:
    """The role's defaults (and vars/main.yml) resolved the way Ansible would, with the
    inventory above and OVERRIDES (extra vars win)."""
    base = ROOT / "roles" / role
    context: dict[str, Any] = dict(INVENTORY)
    context.update(yaml.safe_load((base / "defaults" / "main.yml").read_text()))
    context.update(overrides)
    env = _env(role)
    for _ in range(5):
        for name, value in context.items():
            if isinstance(value, str) and "{{" in value and name not in overrides:
                rendered = env.from_string(value).render(context)
                context[name] = yaml.safe_load(rendered) if rendered in ("True", "False") \
                    else rendered
    return context


def render(role: str, template: str, **overrides: Any) -> str:
    return _env(role).get_template(template).render(role_vars(role, **overrides))


def commands(script: str) -> list[str]:
    """The RMAN commands of a script (comments and blank lines left out)."""
    return [line.strip() for line in script.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


# --- oracle_rman: the configuration script ---------------------------------------------------


def test_configure_script_with_the_defaults() -> None:
    assert commands(render("oracle_rman", "configure.rman.j2")) == [
        "CONFIGURE CONTROLFILE AUTOBACKUP ON;",
        "CONFIGURE RETENTION POLICY TO RECOVERY WINDOW OF 7 DAYS;",
        "CONFIGURE BACKUP OPTIMIZATION ON;",
        "CONFIGURE DEVICE TYPE DISK PARALLELISM 2 BACKUP TYPE TO COMPRESSED BACKUPSET;",
        "CONFIGURE COMPRESSION ALGORITHM 'BASIC' AS OF RELEASE 'DEFAULT' OPTIMIZE FOR LOAD TRUE;",
        "CONFIGURE ARCHIVELOG DELETION POLICY TO NONE;",
    ]


def test_configure_script_retention_by_window_and_by_redundancy() -> None:
    window = commands(render("oracle_rman", "configure.rman.j2",
                             oracle_rman_recovery_window_days=14))
    assert "CONFIGURE RETENTION POLICY TO RECOVERY WINDOW OF 14 DAYS;" in window
    redundancy = commands(render("oracle_rman", "configure.rman.j2",
                                 oracle_rman_retention="redundancy", oracle_rman_redundancy=3))
    assert "CONFIGURE RETENTION POLICY TO REDUNDANCY 3;" in redundancy
    assert not [c for c in redundancy if "RECOVERY WINDOW" in c]


def test_configure_script_data_guard_primary_keeps_logs_until_applied_on_every_standby() -> None:
    policy = "CONFIGURE ARCHIVELOG DELETION POLICY TO "
    on = commands(render("oracle_rman", "configure.rman.j2", oracle_rman_dataguard_primary=True))
    assert [c for c in on if c.startswith(policy)] == [
        policy + "APPLIED ON ALL STANDBY BACKED UP 1 TIMES TO DISK;"]
    off = commands(render("oracle_rman", "configure.rman.j2", oracle_rman_dataguard_primary=False))
    assert [c for c in off if c.startswith(policy)] == [policy + "NONE;"]


def test_data_guard_policy_follows_the_inventory_role_by_default() -> None:
    primary = commands(render("oracle_rman", "configure.rman.j2", oracle_dg_role="primary"))
    standby = commands(render("oracle_rman", "configure.rman.j2",
                              oracle_dg_role="physical_standby"))
    assert "APPLIED ON ALL STANDBY" in " ".join(primary)
    assert "APPLIED ON ALL STANDBY" not in " ".join(standby)


def test_configure_script_uncompressed_with_a_backup_destination() -> None:
    script = commands(render("oracle_rman", "configure.rman.j2", oracle_rman_compress=False,
                             oracle_rman_parallelism=4, oracle_rman_backup_dest="/u05/backup"))
    assert "CONFIGURE DEVICE TYPE DISK PARALLELISM 4 BACKUP TYPE TO BACKUPSET;" in script
    assert not [c for c in script if "COMPRESSION" in c]
    assert ("CONFIGURE CONTROLFILE AUTOBACKUP FORMAT FOR DEVICE TYPE DISK TO "
            "'/u05/backup/%F';") in script
    assert "CONFIGURE CHANNEL DEVICE TYPE DISK FORMAT '/u05/backup/%d_%U';" in script


# --- oracle_rman: the backup and maintenance scripts -----------------------------------------

MAINTENANCE = ["CROSSCHECK BACKUP;", "CROSSCHECK ARCHIVELOG ALL;",
               "DELETE NOPROMPT EXPIRED BACKUP;", "DELETE NOPROMPT OBSOLETE;"]


def test_level_0_backup_script() -> None:
    script = render("oracle_rman", "backup.rman.j2", __oracle_rman_tag=TAG)
    assert commands(script) == [
        f"BACKUP INCREMENTAL LEVEL 0 DATABASE TAG '{TAG}' PLUS ARCHIVELOG DELETE INPUT;",
        *MAINTENANCE]


def test_level_1_backup_script_cumulative_or_differential() -> None:
    cumulative = render("oracle_rman", "backup.rman.j2", oracle_rman_level=1,
                        __oracle_rman_tag="HIS_L1_X")
    assert commands(cumulative)[0] == ("BACKUP INCREMENTAL LEVEL 1 CUMULATIVE DATABASE TAG "
                                       "'HIS_L1_X' PLUS ARCHIVELOG DELETE INPUT;")
    differential = render("oracle_rman", "backup.rman.j2", oracle_rman_level=1,
                          oracle_rman_cumulative=False, __oracle_rman_tag="HIS_L1_X")
    assert commands(differential)[0] == ("BACKUP INCREMENTAL LEVEL 1 DATABASE TAG 'HIS_L1_X' "
                                         "PLUS ARCHIVELOG DELETE INPUT;")
    # CUMULATIVE means nothing at level 0: never written there
    level0 = render("oracle_rman", "backup.rman.j2", oracle_rman_level=0,
                    oracle_rman_cumulative=True, __oracle_rman_tag=TAG)
    assert "CUMULATIVE" not in level0


def test_backup_script_keeps_logs_and_skips_maintenance_when_asked() -> None:
    script = render("oracle_rman", "backup.rman.j2", oracle_rman_archivelog_delete_input=False,
                    oracle_rman_maintenance=False, __oracle_rman_tag=TAG)
    assert commands(script) == [
        f"BACKUP INCREMENTAL LEVEL 0 DATABASE TAG '{TAG}' PLUS ARCHIVELOG;"]


def test_maintenance_script() -> None:
    assert commands(render("oracle_rman", "maintenance.rman.j2")) == MAINTENANCE


def test_no_script_carries_a_password_or_a_connect_string() -> None:
    for template in ("configure.rman.j2", "backup.rman.j2", "maintenance.rman.j2"):
        text = " ".join(commands(render("oracle_rman", template, __oracle_rman_tag=TAG)))
        text = text.lower()
        assert "connect" not in text
        assert "password" not in text
        assert "identified by" not in text


# --- oracle_rman: environment and SHOW ALL ---------------------------------------------------


def test_the_environment_is_the_home_the_sid_and_hisops_nls_settings() -> None:
    env = RMAN.rman_environment("/u01/app/oracle/product/19.0.0/dbhome_1", "HISPRD")
    assert env == {"ORACLE_HOME": "/u01/app/oracle/product/19.0.0/dbhome_1",
                   "ORACLE_SID": "HISPRD", **RMAN_ENVIRONMENT}
    assert env["NLS_DATE_FORMAT"] == "YYYY-MM-DD HH24:MI:SS"
    with pytest.raises(AnsibleFilterError, match="absolute"):
        RMAN.rman_environment("dbhome_1", "HISPRD")
    with pytest.raises(AnsibleFilterError, match="instance name"):
        RMAN.rman_environment("/u01/app/oracle", "HIS PRD; rm")


SNAPSHOT = ("CONFIGURE SNAPSHOT CONTROLFILE NAME TO "
            "'/u01/app/oracle/product/19.0.0/dbhome_1/dbs/snapcf_HISPRD.f'; # default")
# SHOW ALL of a fresh 19c database, as `rman target /` prints it with stdin "SHOW ALL;": the
# layout (heading, line order, "# default" comments, "TRUE ;") is that of a published Oracle
# 19.3 backup log (2020) and the LiveLabs 21c/23ai labs; the names are ours.
SHOW_ALL_FRESH = f"""
Recovery Manager: Release 19.0.0.0.0 - Production on Fri Nov 27 00:59:58 2026
Version 19.21.0.0.0

Copyright (c) 1982, 2019, Oracle and/or its affiliates.  All rights reserved.

connected to target database: HISPRD (DBID=3871295524)

RMAN>
using target database control file instead of recovery catalog
RMAN configuration parameters for database with db_unique_name HISPRD are:
CONFIGURE RETENTION POLICY TO REDUNDANCY 1; # default
CONFIGURE BACKUP OPTIMIZATION OFF; # default
CONFIGURE DEFAULT DEVICE TYPE TO DISK; # default
CONFIGURE CONTROLFILE AUTOBACKUP ON; # default
CONFIGURE CONTROLFILE AUTOBACKUP FORMAT FOR DEVICE TYPE DISK TO '%F'; # default
CONFIGURE DEVICE TYPE DISK PARALLELISM 1 BACKUP TYPE TO BACKUPSET; # default
CONFIGURE DATAFILE BACKUP COPIES FOR DEVICE TYPE DISK TO 1; # default
CONFIGURE ARCHIVELOG BACKUP COPIES FOR DEVICE TYPE DISK TO 1; # default
CONFIGURE MAXSETSIZE TO UNLIMITED; # default
CONFIGURE ENCRYPTION FOR DATABASE OFF; # default
CONFIGURE ENCRYPTION ALGORITHM 'AES128'; # default
CONFIGURE COMPRESSION ALGORITHM 'BASIC' AS OF RELEASE 'DEFAULT' OPTIMIZE FOR LOAD TRUE ; # default
CONFIGURE RMAN OUTPUT TO KEEP FOR 7 DAYS; # default
CONFIGURE ARCHIVELOG DELETION POLICY TO NONE; # default
{SNAPSHOT}

RMAN>

Recovery Manager complete.
"""

# The same database once the role's script ran: set values lose "# default"; a long value is
# wrapped with blanks as in a published SHOW ALL of a Windows 11.2 estate.
SHOW_ALL_CONFIGURED = f"""
RMAN>
RMAN configuration parameters for database with db_unique_name HISPRD are:
CONFIGURE RETENTION POLICY TO RECOVERY WINDOW OF 7 DAYS;
CONFIGURE BACKUP OPTIMIZATION ON;
CONFIGURE DEFAULT DEVICE TYPE TO DISK; # default
CONFIGURE CONTROLFILE AUTOBACKUP ON;
CONFIGURE CONTROLFILE AUTOBACKUP FORMAT FOR DEVICE TYPE DISK TO     '/u05/backup/%F';
CONFIGURE DEVICE TYPE DISK PARALLELISM 2 BACKUP TYPE TO COMPRESSED BACKUPSET;
CONFIGURE CHANNEL DEVICE TYPE DISK FORMAT   '/u05/backup/%d_%U';
CONFIGURE COMPRESSION ALGORITHM 'BASIC' AS OF RELEASE 'DEFAULT' OPTIMIZE FOR LOAD TRUE ; # default
CONFIGURE ARCHIVELOG DELETION POLICY TO NONE;
{SNAPSHOT}
"""


def test_a_fresh_database_needs_the_settings_that_differ_from_its_defaults() -> None:
    script = render("oracle_rman", "configure.rman.j2")
    assert RMAN.config_drift(SHOW_ALL_FRESH, script) == [
        "CONFIGURE RETENTION POLICY TO RECOVERY WINDOW OF 7 DAYS;",
        "CONFIGURE BACKUP OPTIMIZATION ON;",
        "CONFIGURE DEVICE TYPE DISK PARALLELISM 2 BACKUP TYPE TO COMPRESSED BACKUPSET;",
    ]


def test_a_configured_database_needs_nothing_whatever_the_blanks() -> None:
    script = render("oracle_rman", "configure.rman.j2", oracle_rman_backup_dest="/u05/backup")
    assert RMAN.config_drift(SHOW_ALL_CONFIGURED, script) == []


def test_each_changed_setting_is_drift() -> None:
    redundancy = render("oracle_rman", "configure.rman.j2", oracle_rman_retention="redundancy",
                        oracle_rman_backup_dest="/u05/backup", oracle_rman_dataguard_primary=True)
    assert RMAN.config_drift(SHOW_ALL_CONFIGURED, redundancy) == [
        "CONFIGURE RETENTION POLICY TO REDUNDANCY 2;",
        "CONFIGURE ARCHIVELOG DELETION POLICY TO APPLIED ON ALL STANDBY BACKED UP 1 TIMES TO DISK;",
    ]
    moved = render("oracle_rman", "configure.rman.j2", oracle_rman_backup_dest="/u06/backup")
    assert RMAN.config_drift(SHOW_ALL_CONFIGURED, moved) == [
        "CONFIGURE CONTROLFILE AUTOBACKUP FORMAT FOR DEVICE TYPE DISK TO '/u06/backup/%F';",
        "CONFIGURE CHANNEL DEVICE TYPE DISK FORMAT '/u06/backup/%d_%U';",
    ]


def test_unreadable_show_all_is_refused_not_read_as_nothing_configured() -> None:
    script = render("oracle_rman", "configure.rman.j2")
    error = ("RMAN-00571: ====\nRMAN-03002: failure of show command at 11/27/2026 01:00:01\n"
             "ORA-01034: ORACLE not available")
    with pytest.raises(AnsibleFilterError, match="ORA-01034"):
        RMAN.config_drift(error, script, 1)
    with pytest.raises(AnsibleFilterError, match="rc 3"):
        RMAN.config_drift(SHOW_ALL_FRESH, script, 3)
    with pytest.raises(AnsibleFilterError, match="no output"):
        RMAN.config_drift("", script)


def test_a_script_line_that_is_not_a_configure_command_is_refused() -> None:
    with pytest.raises(AnsibleFilterError, match="BACKUP DATABASE"):
        RMAN.config_drift(SHOW_ALL_FRESH, "CONFIGURE BACKUP OPTIMIZATION ON;\nBACKUP DATABASE;")


# --- oracle_rman: evidence -------------------------------------------------------------------

STARTED, FINISHED = 1795741200.0, 1795741500.0  # 2026-11-27 01:00:00Z and 01:05:00Z


def evidence(result: dict[str, Any], **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {"host": "his-db-1", "database": "HISPRD", "level": 0,
                            "cumulative": True, "tag": TAG, "kind": "full",
                            "started": STARTED, "finished": FINISHED}
    args.update(kw)
    out: dict[str, Any] = RMAN.backup_evidence(result, **args)
    return out


def test_backup_evidence_has_pg_backups_keys_and_the_logs_facts() -> None:
    log = {"pieces": [{"handle": "/u05/backup/HISPRD/7k3c1q06_1_1", "tag": TAG}],
           "tags": [TAG], "started": "2026-11-27T01:00:04", "finished": "2026-11-27T01:04:40",
           "elapsed_s": 276, "autobackup_piece": "/u05/backup/HISPRD/c-3871295524-20261127-00",
           "expired": [], "deleted": 3}
    ev = evidence({"log": log, "findings": [], "passed": True})
    assert {k: ev[k] for k in ("engine", "database", "host", "repository", "label", "kind",
                               "started_at", "finished_at", "database_bytes",
                               "stored_bytes")} == {
        "engine": "oracle", "database": "HISPRD", "host": "his-db-1", "repository": "his-db-1",
        "label": TAG, "kind": "full", "started_at": "2026-11-27T01:00:00+00:00",
        "finished_at": "2026-11-27T01:05:00+00:00", "database_bytes": None,
        "stored_bytes": None}
    assert (ev["level"], ev["cumulative"], ev["tag"]) == (0, False, TAG)
    assert ev["elapsed_s"] == 276.0
    assert ev["pieces"] == log["pieces"]
    assert ev["autobackup_piece"] == "/u05/backup/HISPRD/c-3871295524-20261127-00"
    assert (ev["rman_started"], ev["deleted"], ev["passed"]) == ("2026-11-27T01:00:04", 3, True)
    # what `hisops backups` reads back: an aware ISO time
    assert datetime.fromisoformat(ev["finished_at"]).utcoffset() is not None


def test_backup_evidence_of_an_unfinished_backup_takes_the_clock_and_keeps_the_errors() -> None:
    finding = {"check": "backup", "subject": "RMAN-06059", "problem": "expected archived log "
               "not found", "severity": "error", "line": "[backup] RMAN-06059: expected ..."}
    ev = evidence({"log": {"elapsed_s": None}, "findings": [finding], "passed": False},
                  level="1", kind="diff")
    assert ev["elapsed_s"] == 300.0
    assert (ev["level"], ev["cumulative"], ev["kind"]) == (1, True, "diff")
    # extra vars arrive as text: "false" is not a cumulative backup
    differential = evidence({"log": {}, "findings": [], "passed": True}, level=1,
                            cumulative="false", kind="incr")
    assert differential["cumulative"] is False
    assert ev["passed"] is False
    assert RMAN.error_lines(ev["findings"]) == ["[backup] RMAN-06059: expected ..."]
    # named as the drills name it (DB_NAME in capitals), whatever the inventory's case
    assert evidence({"log": {}}, database="hisprd")["database"] == "HISPRD"


def test_error_lines_leave_warnings_out() -> None:
    findings = [{"line": "[backup] gone: EXPIRED", "severity": "warning"},
                {"line": "[backup] RMAN-03009: failure", "severity": "error"},
                {"problem": "no line", "severity": "error"}]
    assert RMAN.error_lines(findings) == ["[backup] RMAN-03009: failure", "no line"]


# --- oracle_rman: the parse glue on the real parser --------------------------------------------


def test_backup_result_of_a_successful_level_0_log() -> None:
    result = RMAN.backup_result(fixture("rman_backup_level0_success.txt"), 0)
    assert result["passed"] is True
    assert [f for f in result["findings"] if f["severity"] == "error"] == []
    assert result["log"]["started"] == "2026-11-27T01:00:04"
    assert result["log"]["pieces"]
    ev = evidence(result)
    assert ev["elapsed_s"] == float(result["log"]["elapsed_s"])
    assert ev["deleted"] == result["log"]["deleted"] == 3


def test_backup_result_of_a_failed_log_names_the_error_the_role_fails_with() -> None:
    result = RMAN.backup_result(fixture("rman_backup_archivelog_missing.txt"), 1)
    assert result["passed"] is False
    lines = RMAN.error_lines(evidence(result)["findings"])
    assert any("RMAN-06059" in line and "ORA-19625" in line for line in lines)


def test_backup_result_of_an_empty_log() -> None:
    # rman could not even start (no log): the parser refuses the text, the glue turns that
    # into an error finding so the evidence is still published and the role fails
    result = RMAN.backup_result("", 1)
    assert result["passed"] is False
    assert result["log"] == {}
    assert RMAN.error_lines(result["findings"]) == [
        "[backup] unreadable RMAN log: no RMAN backup, crosscheck, deletion or error in the "
        "output: '(no output)'"]


# --- oracle_restore_verify: scripts from hisops' builders ------------------------------------


def test_validate_script_is_the_builders() -> None:
    script = DRILL.drill_script("validate", archivelog_from_scn="48211871")
    assert script == rman_validate_script(check_logical=True, archivelog_from_scn=48211871)
    assert "RESTORE DATABASE VALIDATE CHECK LOGICAL;" in commands(script)
    assert "RESTORE ARCHIVELOG FROM SCN 48211871 VALIDATE;" in commands(script)
    every_log = DRILL.drill_script("validate", check_logical="false", until="scn 48571420")
    assert commands(every_log)[1:4] == ["SET UNTIL SCN 48571420;", "RESTORE DATABASE VALIDATE;",
                                        "RESTORE ARCHIVELOG ALL VALIDATE;"]
    with pytest.raises(AnsibleFilterError, match="SCN number"):
        DRILL.drill_script("validate", archivelog_from_scn="latest")


def test_preview_script_is_the_builders_summary() -> None:
    script = DRILL.drill_script("preview", until="2026-03-10 06:00:00")
    assert script == rman_preview_script(until="2026-03-10 06:00:00", summary=True)
    assert "RESTORE DATABASE PREVIEW SUMMARY;" in script
    with pytest.raises(AnsibleFilterError, match="until"):
        DRILL.drill_script("preview", until="yesterday")


def test_duplicate_script_is_the_builders_and_its_refusals_stop_the_role() -> None:
    script = DRILL.drill_script("duplicate", database="hisprd", scratch_sid="HISDRILL",
                                backup_location="/mnt/backup/HISPRD", channels="4")
    assert script == rman_duplicate_script("hisprd", "HISDRILL", None,
                                           backup_location="/mnt/backup/HISPRD", channels=4)
    assert "DUPLICATE DATABASE HISPRD TO HISDRILL" in script
    assert "BACKUP LOCATION '/mnt/backup/HISPRD'" in script
    assert script.count("ALLOCATE AUXILIARY CHANNEL") == 4
    with pytest.raises(AnsibleFilterError, match="source's name"):
        DRILL.drill_script("duplicate", database="HISPRD", scratch_sid="hisprd",
                           backup_location="/mnt/backup")
    with pytest.raises(AnsibleFilterError, match="backup_location"):
        DRILL.drill_script("duplicate", database="HISPRD", scratch_sid="HISDRILL",
                           backup_location="")
    with pytest.raises(AnsibleFilterError, match="unknown drill mode 'restore'"):
        DRILL.drill_script("restore")


def test_drill_environment_points_at_the_instance() -> None:
    env = DRILL.drill_environment("/u01/app/oracle/product/19.0.0/dbhome_1", "HISDRILL")
    assert env["ORACLE_SID"] == "HISDRILL"
    assert env["NLS_LANG"] == RMAN_ENVIRONMENT["NLS_LANG"]
    with pytest.raises(AnsibleFilterError):
        DRILL.drill_environment("/u01", "")


def test_scratch_pfile_with_the_defaults() -> None:
    lines = commands(render("oracle_restore_verify", "init_scratch.ora.j2",
                            __oracle_restore_verify_scratch="HISDRILL",
                            __oracle_restore_verify_scratch_dir="/u02/hisops-drill/HISDRILL"))
    assert lines[:3] == ["db_name=HISDRILL", "db_unique_name=HISDRILL",
                         "control_files='/u02/hisops-drill/HISDRILL/oradata/control01.ctl'"]
    assert "db_create_file_dest='/u02/hisops-drill/HISDRILL/oradata'" in lines
    assert "compatible='19.0.0'" in lines
    assert "job_queue_processes=0" in lines
    assert not [line for line in lines if "convert" in line or "pluggable" in line]
    cdb = commands(render("oracle_restore_verify", "init_scratch.ora.j2",
                          __oracle_restore_verify_scratch="HISDRILL",
                          __oracle_restore_verify_scratch_dir="/u02/d",
                          oracle_restore_verify_enable_pluggable_database=True,
                          oracle_restore_verify_file_name_convert=["/u02/oradata/HISPRD",
                                                                   "/u02/d/oradata"]))
    assert "enable_pluggable_database=true" in cdb
    assert "db_file_name_convert='/u02/oradata/HISPRD','/u02/d/oradata'" in cdb


# --- oracle_restore_verify: evidence ---------------------------------------------------------


def raw(mode: str, log: str = "", rc: int = 0, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"mode": mode, "database": "HISPRD", "source_host": "his-db-1",
                           "scratch_host": "verify-1" if mode == "duplicate" else "his-db-1",
                           "scratch_sid": "HISDRILL", "until": "",
                           "run": {"rc": rc, "stdout": "", "stderr": ""}, "log": log,
                           "started": STARTED, "finished": STARTED + 372.5}
    out.update(extra)
    return out


def test_a_clean_validate_passes_and_names_the_datafile_backup_it_read() -> None:
    ev = DRILL.drill_evidence(raw("validate", fixture("restore_validate_clean.txt")))
    assert ev["passed"] is True
    assert ev["findings"] == []
    assert ev["checks"] == {"repository": "passed", "wal": "passed"}
    assert ev["backup"] == {"label": "HIS_L0_WEEKLY", "tags": ["HIS_L0_WEEKLY"]}
    assert (ev["engine"], ev["mode"], ev["database"]) == ("oracle", "validate", "HISPRD")
    # validate restores nothing: no restore time and no RTO to feed the estimates
    assert (ev["restore_s"], ev["recovery_s"], ev["rto_s"]) == (None, None, None)
    assert ev["checks_s"] == ev["elapsed_s"] == 372.5


def test_a_corrupt_piece_fails_validate_even_after_failover() -> None:
    ev = DRILL.drill_evidence(raw("validate", fixture("restore_validate_corrupt_piece.txt")))
    assert ev["passed"] is False
    subjects = [f["subject"] for f in ev["findings"]]
    assert subjects == ["/u03/backup/HISPRD/HISPRD_lvl0_1f3k2a9d_1_1.bkp"]
    assert "ORA-19599" in DRILL.error_lines(ev["findings"])[0]
    assert ev["checks"]["repository"] == "failed"


def test_a_missing_piece_names_the_piece_and_every_datafile_without_a_backup() -> None:
    ev = DRILL.drill_evidence(raw("validate", fixture("restore_validate_missing_piece.txt"),
                                  rc=1))
    subjects = {f["subject"] for f in ev["findings"]}
    assert {"/u03/backup/HISPRD/HISPRD_lvl0_1g3k2aih_1_1.bkp", "datafile 12", "datafile 10",
            "datafile 9"} <= subjects
    assert ev["passed"] is False


def test_preview_names_the_newest_backup_and_the_scn_recovery_must_reach() -> None:
    ev = DRILL.drill_evidence(raw("preview", fixture("restore_preview.txt")))
    assert ev["passed"] is True
    assert ev["backup"]["label"] == "TAG20260310T011158"
    assert ev["backup"]["finished_at"] == "2026-03-10T01:13:09+00:00"
    assert ev["backup"]["tags"] == ["HIS_L0_WEEKLY", "TAG20260310T011158"]
    assert (ev["recovery_scn"], ev["media_recovery_start_scn"]) == (48571420, 48571420)
    assert ev["restore_s"] is None


def test_a_truncated_preview_fails() -> None:
    text = fixture("restore_preview.txt").split("recovery will be done")[0]
    ev = DRILL.drill_evidence(raw("preview", text))
    assert ev["passed"] is False
    assert "no finished restore" in ev["findings"][0]["problem"]


def test_a_duplicate_stopped_by_a_missing_log_fails_on_that_log() -> None:
    ev = DRILL.drill_evidence(raw("duplicate", fixture("duplicate_unknown_archivelog.txt"),
                                  rc=1))
    assert ev["passed"] is False
    wal = [f for f in ev["findings"] if f["check"] == "wal"]
    assert [f["subject"] for f in wal] == ["archived log thread 1 sequence 1203"]
    assert ev["checks"] == {"repository": "passed", "wal": "failed", "open": "skipped",
                            "validate": "skipped"}


def _duplicate_ok(**extra: Any) -> dict[str, Any]:
    # a restore and recover transcript stands in for DUPLICATE's memory scripts: the same
    # "Starting restore/recover at" and "piece handle=... tag=" lines
    args: dict[str, Any] = {
        "open_mode": {"rc": 0, "stdout": "READ WRITE\n", "stderr": ""},
        "check": {"rc": 0, "stdout": fixture("validate_database_clean.txt"), "stderr": ""},
        "check_started": STARTED + 400, "check_finished": STARTED + 423}
    args.update(extra)
    return raw("duplicate", fixture("restore_recover_until_time_success.txt"), **args)


def test_a_duplicate_that_opens_and_validates_passes_with_its_times() -> None:
    ev = DRILL.drill_evidence(_duplicate_ok())
    assert ev["passed"] is True, ev["findings"]
    assert ev["checks"] == {"repository": "passed", "wal": "passed", "open": "passed",
                            "validate": "passed"}
    assert ev["backup"]["label"] == "HIS_L0_WEEKLY"
    assert ev["restore_s"] == 245.0  # 06:02:58 to 06:07:03
    assert ev["recovery_s"] == 28.0  # 06:07:03 to 06:07:31
    assert ev["checks_s"] == 23.0
    assert ev["rto_s"] == 395.5  # the duplicate's wall time plus the check
    assert (ev["scratch_host"], ev["scratch_sid"]) == ("verify-1", "HISDRILL")


def test_a_duplicate_with_corrupt_blocks_in_the_copy_fails_validate() -> None:
    check = {"rc": 0, "stdout": fixture("validate_database_corrupt.txt"), "stderr": ""}
    ev = DRILL.drill_evidence(_duplicate_ok(check=check))
    assert ev["passed"] is False
    assert ev["checks"]["validate"] == "failed"
    assert any(f["subject"].startswith("datafile 12") for f in ev["findings"])


def test_a_duplicate_that_did_not_open_fails() -> None:
    ev = DRILL.drill_evidence(_duplicate_ok(open_mode={"rc": 0, "stdout": "MOUNTED\n"}))
    assert ev["passed"] is False
    assert ev["checks"]["open"] == "failed"
    assert "MOUNTED" in DRILL.error_lines(ev["findings"])[0]


def test_a_drill_that_failed_before_rman_names_its_phase() -> None:
    failed = {"msg": "non-zero return code", "rc": 0, "stderr": "",
              "stdout": "ORA-00821: Specified value of sga_target 2048M is too small\n"}
    reason = DRILL.failure_reason(failed)
    assert reason == ("non-zero return code; ORA-00821: Specified value of sga_target 2048M is "
                      "too small")
    ev = DRILL.drill_evidence(raw("duplicate", run={}, log="", failure=["nomount", reason]))
    assert ev["passed"] is False
    assert [(f["check"], f["subject"]) for f in ev["findings"]] == [("nomount", "HISPRD")]
    assert ev["checks"] == {"repository": "skipped", "wal": "skipped", "open": "skipped",
                            "validate": "skipped", "nomount": "failed"}
    assert DRILL.failure_reason({"msg": "", "stdout": "", "stderr": "rman: not found"}) == \
        "rman: not found"


def test_a_drill_without_any_rman_run_never_passes() -> None:
    ev = DRILL.drill_evidence(raw("validate", run={}))
    assert ev["passed"] is False
    assert "did not run" in ev["findings"][0]["problem"]
    with pytest.raises(AnsibleFilterError, match="unknown drill mode"):
        DRILL.drill_evidence(raw("restore"))


# --- argument specs --------------------------------------------------------------------------


def _specs(role: str) -> tuple[dict[str, Any], dict[str, Any]]:
    base = ROOT / "roles" / role
    specs = yaml.safe_load((base / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    defaults = yaml.safe_load((base / "defaults" / "main.yml").read_text())
    return specs, defaults


@pytest.mark.parametrize(("role", "entry"), [("oracle_rman", "backup"),
                                             ("oracle_restore_verify", "main")])
def test_argument_specs_list_every_default_with_its_value(role: str, entry: str) -> None:
    specs, defaults = _specs(role)
    options = specs[entry]["options"]
    assert set(options) == set(defaults)
    for name, spec in options.items():
        assert spec.get("description"), name
        if "default" in spec:
            assert spec["default"] == defaults[name], name
        else:  # computed from the inventory: a Jinja default
            assert "{{" in str(defaults[name]), name


def test_oracle_rman_main_entry_takes_the_configuration_options_only() -> None:
    specs, defaults = _specs("oracle_rman")
    main = set(specs["main"]["options"])
    assert main < set(defaults)
    assert "oracle_rman_level" not in main
    assert "oracle_rman_retention" in main


def test_level_and_mode_choices_are_validated() -> None:
    rman, _ = _specs("oracle_rman")
    level = rman["backup"]["options"]["oracle_rman_level"]
    assert (level["type"], level["choices"]) == ("int", [0, 1])
    drill, _ = _specs("oracle_restore_verify")
    assert drill["main"]["options"]["oracle_restore_verify_mode"]["choices"] == [
        "validate", "preview", "duplicate"]


def test_playbooks_apply_the_roles_to_the_hosts_the_runbook_chooses() -> None:
    for name, role in (("oracle_backup.yml", "oracle_rman"),
                       ("oracle_verify_backup.yml", "oracle_restore_verify")):
        plays = yaml.safe_load((ROOT / "playbooks" / name).read_text())
        assert len(plays) == 1
        play = plays[0]
        assert (play["hosts"], play["gather_facts"]) == ("all", False)
        assert role in Path(ROOT / "playbooks" / name).read_text()


def test_hisops_backups_pairs_the_backup_with_the_drill_that_read_it() -> None:
    """The evidence keys are those `hisops backups` reads: the drill of the backup's tag is
    the verified restore of that backup, under one database name."""
    backup = evidence({"log": {}, "findings": [], "passed": True}, database="hisprd",
                      tag="HIS_L0_WEEKLY")
    drill = DRILL.drill_evidence(raw("validate", fixture("restore_validate_clean.txt")))
    payloads = [("backup", "his-db-1", backup), ("restore_drill", "HISPRD", drill)]
    records = [Record(seq=i + 1, ts=f"2026-11-27T0{i + 1}:10:00+00:00", run_id=f"r{i}",
                      kind=rk.EVIDENCE, payload={"step": "s", "type": kind, "subject": subject,
                                                 "evidence": ev}, prev_hash="", hash="")
               for i, (kind, subject, ev) in enumerate(payloads)]
    [status] = backup_overview(records, now=datetime.fromisoformat("2026-11-27T03:00:00+00:00"),
                               stale_after_s=86400)
    assert (status.database, status.engine) == ("HISPRD", "oracle")
    assert status.last_backup is not None
    assert status.last_verified is not None
    assert status.last_backup.label == status.last_verified.label == "HIS_L0_WEEKLY"
    assert status.problems == []
