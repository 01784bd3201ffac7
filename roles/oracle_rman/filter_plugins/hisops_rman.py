"""Filters that hand oracle_rman's RMAN output to hisops' Oracle engine.

What a backup log means is decided in one place, ``hisops.engines.oracle`` (typed, tested
against recorded RMAN output); these filters adapt Ansible's values and assemble the evidence.
They run on the controller, where hisops is installed.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean

from hisops.engines.base import Finding, Severity, error_lines
from hisops.engines.oracle.rman import RMAN_ENVIRONMENT
from hisops.errors import VerificationFailed

_SHOW_ALL_HEAD = re.compile(r"^\s*(?:RMAN>\s*)?RMAN configuration parameters for database "
                            r"with db_unique_name \S+ are:\s*$", re.MULTILINE)
_CONFIGURE = re.compile(r"^\s*(CONFIGURE\s.*?;)\s*(?:#.*)?$", re.IGNORECASE)


def rman_environment(home: str, sid: str) -> dict[str, str]:
    """The environment of every rman/sqlplus call: the home, the instance and the NLS settings
    hisops' parsers need (``hisops.engines.oracle.rman.RMAN_ENVIRONMENT``)."""
    home, sid = str(home), str(sid)
    if not home.startswith("/") or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_$#]{0,11}", sid):
        raise AnsibleFilterError(f"oracle_home must be an absolute path and oracle_sid a plain "
                                 f"instance name (got {home!r}, {sid!r})")
    return {"ORACLE_HOME": home, "ORACLE_SID": sid, **RMAN_ENVIRONMENT}


def _normalised(command: str) -> str:
    """One CONFIGURE command as compared: blanks collapsed (SHOW ALL wraps long values and
    prints ``TRUE ;``), no trailing comment."""
    return re.sub(r"\s+", " ", command).replace(" ;", ";").strip()


def configure_commands(script: str) -> list[str]:
    """The CONFIGURE commands of a command file, one per line, comments left out."""
    out = []
    for line in str(script).splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        match = _CONFIGURE.match(line)
        if not match:
            raise AnsibleFilterError(f"not a one-line CONFIGURE command: {line.strip()!r}")
        out.append(_normalised(match[1]))
    return out


def config_drift(show_all: str, script: str, rc: Any = 0) -> list[str]:
    """The commands of the configuration script that SHOW ALL does not show in effect (empty:
    nothing to configure). Output without SHOW ALL's heading is refused, never read as
    "nothing configured"."""
    text = str(show_all)
    if int(rc) != 0 or not _SHOW_ALL_HEAD.search(text):
        last = [line for line in text.splitlines() if line.strip()][-1:] or ["(no output)"]
        raise AnsibleFilterError(f"cannot read RMAN's SHOW ALL (rc {rc}): {last[0].strip()}")
    shown = {_normalised(m[1]) for line in text.splitlines()
             if (m := _CONFIGURE.match(line)) is not None}
    return [command for command in configure_commands(script) if command not in shown]


def _finding_dict(finding: Finding) -> dict[str, str]:
    return {**finding.to_dict(), "line": finding.one_line()}


def backup_result(log_text: str, rc: Any) -> dict[str, Any]:
    """The backup log judged by ``hisops.engines.oracle.rman_log.parse_backup_log``:
    ``{log: BackupLog.to_dict(), findings: [...], passed}``. A log the parser cannot read is an
    error finding, so the role still publishes evidence and fails."""
    # imported here, not at the top: this filter module loads (and its other filters work)
    # wherever rman_log is not installed
    from hisops.engines.oracle import rman_log

    try:
        parsed = rman_log.parse_backup_log(str(log_text), int(rc))
    except VerificationFailed as exc:
        finding = Finding("backup", "", f"unreadable RMAN log: {exc}")
        return {"log": {}, "findings": [_finding_dict(finding)], "passed": False}
    findings = parsed.findings()
    return {"log": parsed.to_dict(),
            "findings": [_finding_dict(f) for f in findings],
            "passed": not any(f.severity is Severity.ERROR for f in findings)}


def _seconds(value: Any) -> float | None:
    """An elapsed time as seconds: a number, or RMAN's ``[D:]HH:MM:SS`` text."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    parts = str(value).strip().split(":")
    if 3 <= len(parts) <= 4 and all(p.isdigit() for p in parts):
        nums = [int(p) for p in parts]
        days = nums[0] if len(nums) == 4 else 0
        return float(days * 86400 + nums[-3] * 3600 + nums[-2] * 60 + nums[-1])
    return None


def _iso(epoch: Any) -> str:
    return datetime.fromtimestamp(float(epoch), UTC).isoformat(timespec="seconds")


def backup_evidence(result: dict[str, Any], *, host: str, database: str, level: Any,
                    cumulative: Any, tag: str, kind: str, started: Any,
                    finished: Any) -> dict[str, Any]:
    """The backup's evidence, with pg_backup's key names where the two engines share a notion:
    ``label`` is the RMAN tag, ``kind`` full/diff/incr, ``started_at``/``finished_at`` ISO UTC
    from the controller's clock around the rman run (RMAN's own times are host-local; they are
    kept as ``rman_started``/``rman_finished``). The database is named in capitals, as
    oracle_restore_verify names its drills, so `hisops backups` pairs the two."""
    log: dict[str, Any] = dict(result.get("log") or {})
    elapsed = _seconds(log.get("elapsed_s"))
    if elapsed is None:  # a backup that did not finish: the time rman ran
        elapsed = round(float(finished) - float(started), 1)
    return {
        "engine": "oracle", "database": str(database).upper(), "host": str(host),
        "repository": str(host), "label": str(tag), "tag": str(tag), "kind": str(kind),
        "level": int(level), "cumulative": int(level) == 1 and boolean(cumulative, strict=False),
        "started_at": _iso(started), "finished_at": _iso(finished), "elapsed_s": elapsed,
        "rman_started": log.get("started"), "rman_finished": log.get("finished"),
        "pieces": list(log.get("pieces") or []), "tags": list(log.get("tags") or []),
        "autobackup_piece": log.get("autobackup_piece"),
        "expired": log.get("expired"), "deleted": log.get("deleted"),
        "database_bytes": None, "stored_bytes": None,  # not in the log; v$rman_backup_job_details
        "passed": bool(result.get("passed")),
        "findings": list(result.get("findings") or []),
    }


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "hisops_rman_environment": rman_environment,
            "hisops_rman_config_drift": config_drift,
            "hisops_rman_backup_result": backup_result,
            "hisops_rman_backup_evidence": backup_evidence,
            "hisops_rman_error_lines": error_lines,
        }
