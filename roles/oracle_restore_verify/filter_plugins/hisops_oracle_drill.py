"""Filters that hand the Oracle restore drill to hisops' Oracle engine.

The RMAN scripts come from ``hisops.engines.oracle.rman``'s builders and the logs are judged by
``OracleEngine.repository_findings`` / ``integrity_findings`` (typed, tested against recorded
RMAN output); these filters adapt Ansible's values and assemble the drill's evidence with the
keys pg_restore_verify's evidence uses. They run on the controller, where hisops is installed.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean

from hisops.engines.base import BackupKind, Finding, Severity, ToolOutput, error_lines
from hisops.engines.oracle.rman import (
    RMAN_ENVIRONMENT,
    OracleEngine,
    UnreadableOutput,
    rman_duplicate_script,
    rman_preview_script,
    rman_validate_script,
)
from hisops.errors import ParameterError

MODES = ("validate", "preview", "duplicate")
# the checks each mode runs; a check with no finding passed
_CHECKS = {"validate": ("repository", "wal"), "preview": ("repository", "wal"),
           "duplicate": ("repository", "wal", "open", "validate")}
_TAG = re.compile(r"\bpiece handle=\S+ tag=(\S+)")
# "starting validation of datafile backup set", "starting datafile backup set restore",
# "starting incremental datafile backup set restore", "starting archived log restore to ..."
_SECTION = re.compile(r"starting (?:validation of )?(?:incremental )?(datafile|archived log)")
_RMAN_TIME = "%Y-%m-%d %H:%M:%S"


def drill_environment(home: str, sid: str) -> dict[str, str]:
    """ORACLE_HOME, ORACLE_SID and ``RMAN_ENVIRONMENT`` (the NLS settings the parsers need)."""
    home, sid = str(home), str(sid)
    if not home.startswith("/") or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_$#]{0,11}", sid):
        raise AnsibleFilterError(f"oracle_home must be an absolute path and the SID a plain "
                                 f"instance name (got {home!r}, {sid!r})")
    return {"ORACLE_HOME": home, "ORACLE_SID": sid, **RMAN_ENVIRONMENT}


def _until(value: Any) -> str | None:
    text = str(value or "").strip()
    return text or None


def drill_script(mode: str, *, until: Any = "", check_logical: Any = True,
                 archivelog_from_scn: Any = "", database: str = "", scratch_sid: str = "",
                 backup_location: str = "", channels: Any = 2) -> str:
    """The mode's RMAN command file, from hisops' builders (never re-templated here)."""
    scn = str(archivelog_from_scn or "").strip()
    if mode == "validate" and scn and not scn.isdigit():
        raise AnsibleFilterError(f"oracle_restore_verify_archivelog_from_scn must be an SCN "
                                 f"number, not {scn!r}")
    try:
        if mode == "validate":
            return rman_validate_script(check_logical=boolean(check_logical, strict=False),
                                        until=_until(until),
                                        archivelog_from_scn=int(scn) if scn else None)
        if mode == "preview":
            return rman_preview_script(until=_until(until), summary=True)
        if mode == "duplicate":
            return rman_duplicate_script(str(database), str(scratch_sid), _until(until),
                                         backup_location=str(backup_location),
                                         channels=int(channels))
    except ParameterError as exc:
        raise AnsibleFilterError(f"cannot write the {mode} script: {exc}") from None
    raise AnsibleFilterError(f"unknown drill mode {mode!r} (one of {', '.join(MODES)})")


def _tool(result: Any, text: str | None = None) -> ToolOutput:
    """A registered command result (and, for rman log=..., the slurped log) as ToolOutput."""
    result = result if isinstance(result, dict) else {}
    stdout = str(result.get("stdout") or "") if text is None else str(text)
    return ToolOutput(stdout=stdout, stderr=str(result.get("stderr") or ""),
                      rc=int(result.get("rc", 0) if result.get("rc") is not None else 0))


def _span(text: str, what: str) -> float | None:
    """Seconds from the first ``Starting <what> at`` to the last ``Finished <what> at``."""
    starts = re.findall(rf"^Starting {what} at (\S+ \S+)", text, re.MULTILINE)
    ends = re.findall(rf"^Finished {what} at (\S+ \S+)", text, re.MULTILINE)
    if not starts or not ends:
        return None
    try:
        first = datetime.strptime(starts[0], _RMAN_TIME)
        last = datetime.strptime(ends[-1], _RMAN_TIME)
    except ValueError:
        return None
    return max(0.0, (last - first).total_seconds())


def datafile_tags(text: str) -> list[str]:
    """Tags of the datafile backup pieces a validate or duplicate log read, in order."""
    tags: list[str] = []
    datafiles = False
    for line in text.splitlines():
        section = _SECTION.search(line)
        if section:
            datafiles = section[1] == "datafile"
        elif datafiles and (tag := _TAG.search(line)) is not None and tag[1] not in tags:
            tags.append(tag[1])
    return tags


def _preview_backup(text: str) -> dict[str, Any]:
    """The newest datafile backup RESTORE ... PREVIEW SUMMARY lists (the restore's last)."""
    try:
        sets = OracleEngine().backup_sets(ToolOutput(stdout=text))
    except UnreadableOutput:
        return {}
    restorable = [s for s in sets if s.kind in (BackupKind.FULL, BackupKind.INCREMENTAL)]
    if not restorable:
        return {}
    newest = max(restorable, key=lambda s: s.finished_at)
    return {"label": newest.label.split("@")[0], "finished_at": newest.finished_at.isoformat(),
            "tags": list(dict.fromkeys(s.label.split("@")[0] for s in restorable))}


def _int(pattern: str, text: str) -> int | None:
    found = re.search(pattern, text)
    return int(found[1]) if found else None


def failure_reason(result: Any) -> str:
    """One line for a task that failed outside RMAN's log (sqlplus STARTUP, a template...)."""
    result = result if isinstance(result, dict) else {}
    parts = [str(result.get("msg") or "").strip()]
    output = f"{result.get('stdout') or ''}\n{result.get('stderr') or ''}"
    parts += [line.strip() for line in output.splitlines()
              if re.search(r"\b(?:ORA|SP2|RMAN|LRM)-\d{5}", line)]
    if len(parts) == 1 and output.strip():
        parts.append(output.strip().splitlines()[-1].strip())
    return "; ".join(dict.fromkeys(p for p in parts if p)) or "the task failed without a message"


def _copy_checked(raw: dict[str, Any], mode: str) -> bool:
    """Whether the duplicated copy was opened and validated (only after a clean DUPLICATE)."""
    return (mode == "duplicate" and bool(raw.get("run")) and not raw.get("failure")
            and _tool(raw.get("run")).rc == 0)


def _findings(raw: dict[str, Any], mode: str) -> list[Finding]:
    engine = OracleEngine()
    findings: list[Finding] = []
    run = raw.get("run")
    if run:
        findings += engine.repository_findings(_tool(run, raw.get("log")))
    if _copy_checked(raw, mode):
        scratch = str(raw.get("scratch_sid", ""))
        opened = _tool(raw.get("open_mode"))
        state = opened.stdout.strip()
        if opened.rc != 0 or state != "READ WRITE":
            findings.append(Finding("open", scratch, "the duplicated database is not open read "
                                    f"write: {state or opened.stderr.strip() or 'no answer'}"))
        findings += engine.integrity_findings(_tool(raw.get("check")))
    if raw.get("failure"):
        phase, reason = raw["failure"]
        findings.append(Finding(str(phase), str(raw.get("database", "")), str(reason)))
    if not run and not raw.get("failure"):
        findings.append(Finding("repository", "", "rman did not run: no log to judge"))
    return findings


def drill_evidence(raw: dict[str, Any]) -> dict[str, Any]:
    """The drill's verdict and evidence (keys as pg_restore_verify's where they exist).

    ``raw``: mode, database, source_host, scratch_host, scratch_sid, until, run (the rman
    command's registered result), log (its slurped log text), started/finished (epoch seconds
    around it), open_mode and check (duplicate: the scratch copy's open mode and its VALIDATE
    CHECK LOGICAL DATABASE), check_started/check_finished, failure ([phase, reason]).
    Only a duplicate restores: validate and preview record no restore, recovery or RTO time.
    """
    mode = str(raw.get("mode", ""))
    if mode not in MODES:
        raise AnsibleFilterError(f"unknown drill mode {mode!r} (one of {', '.join(MODES)})")
    findings = _findings(raw, mode)
    text = str(raw.get("log") or "")
    elapsed = _elapsed(raw.get("started"), raw.get("finished"))
    checks_s = _elapsed(raw.get("check_started"), raw.get("check_finished"))
    if mode == "preview":
        backup = _preview_backup(text)
    else:
        tags = datafile_tags(text)
        backup = {"label": tags[-1], "tags": tags} if tags else {}
    backup.setdefault("label", "")
    restore_s = recovery_s = rto_s = None
    if mode == "duplicate":
        restore_s, recovery_s = _span(text, "restore"), _span(text, "recover")
        rto_s = round((elapsed or 0.0) + (checks_s or 0.0), 2) if elapsed is not None else None
    elif mode == "validate":
        checks_s = elapsed
    errors = [f for f in findings if f.severity is Severity.ERROR]
    ran = list(_CHECKS[mode]) + [f.check for f in findings if f.check not in _CHECKS[mode]]
    skipped = set(_CHECKS[mode]) - ({"open", "validate"} if _copy_checked(raw, mode) else set())
    if raw.get("run"):  # rman ran: its log was judged
        skipped -= {"repository", "wal"}
    return {
        "engine": "oracle", "mode": mode, "database": str(raw.get("database", "")),
        "source_host": str(raw.get("source_host", "")),
        "scratch_host": str(raw.get("scratch_host", "")),
        "scratch_sid": str(raw.get("scratch_sid", "")) if mode == "duplicate" else "",
        "until": str(raw.get("until") or ""),
        "backup": backup,
        "recovery_scn": _int(r"recovery will be done up to SCN (\d+)", text),
        "media_recovery_start_scn": _int(r"Media recovery start SCN is (\d+)", text),
        "restore_s": restore_s, "recovery_s": recovery_s, "checks_s": checks_s,
        "rto_s": rto_s, "rpo_s": None, "elapsed_s": elapsed,
        "passed": not errors,
        "findings": [{**f.to_dict(), "line": f.one_line()} for f in findings],
        "checks": {name: ("failed" if any(f.check == name for f in errors)
                          else "skipped" if name in skipped else "passed")
                   for name in dict.fromkeys(ran)},
    }


def _elapsed(start: Any, end: Any) -> float | None:
    try:
        return round(float(end) - float(start), 2)
    except (TypeError, ValueError):
        return None


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "hisops_oracle_drill_environment": drill_environment,
            "hisops_oracle_drill_script": drill_script,
            "hisops_oracle_drill_evidence": drill_evidence,
            "hisops_oracle_drill_failure_reason": failure_reason,
            "hisops_oracle_drill_error_lines": error_lines,
        }
