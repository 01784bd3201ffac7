"""Oracle side of the backup engine: RMAN's text turned into BackupSets and Findings.

RMAN has no machine-readable output, so these parsers read its printed tables. They are strict
where a silent misreading would be dangerous (a date or a row they cannot read raises
:class:`UnreadableOutput` rather than dropping a backup) and tested against recorded real
outputs in ``tests/fixtures/oracle`` (see ``SOURCES.md`` there for where each format came from).

Assumptions the Oracle roles must meet (``RMAN_ENVIRONMENT``):

* ``NLS_LANG=AMERICAN_AMERICA.AL32UTF8``: RMAN translates its messages and month names; only the
  English text is recognised.
* ``NLS_DATE_FORMAT='YYYY-MM-DD HH24:MI:SS'``: RMAN prints times in the session's date format.
  The default ``DD-MON-YY`` is also read, but it has no time of day: a set is then taken to
  finish at the *end* of its day (so a point-in-time drill never picks a backup that may have
  finished after the target) and to start at the time in its default ``TAGyyyymmddThhmmss`` tag.
* Times are the target host's local time; pass that zone as ``OracleEngine(host_tz=...)``.

The RMAN scripts below never carry a password: the roles run ``rman target /`` (or
``rman auxiliary /``) as the oracle OS user on the host, or ``rman target /@alias`` with an
Oracle wallet.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from hisops.engines.base import BackupKind, BackupSet, Finding, Severity, ToolOutput
from hisops.engines.oracle.sql import block_corruption_from_row
from hisops.errors import ParameterError, VerificationFailed

log = logging.getLogger(__name__)

RMAN_ENVIRONMENT: dict[str, str] = {
    "NLS_LANG": "AMERICAN_AMERICA.AL32UTF8",
    "NLS_DATE_FORMAT": "YYYY-MM-DD HH24:MI:SS",
}

CHECK_REPOSITORY = "repository"  # backup pieces, datafile/control file backups
CHECK_WAL = "wal"  # archived redo logs recovery needs (the engine-neutral name for the log stream)
CHECK_VALIDATE = "validate"  # RMAN VALIDATE and v$database_block_corruption


class UnreadableOutput(VerificationFailed):
    """RMAN printed something these parsers cannot read; nothing about the backups is known."""

    def __init__(self, what: str, line: str = "") -> None:
        self.what, self.line = what, line
        super().__init__(f"{what}: {line.strip()!r}" if line else what)


# --- dates -------------------------------------------------------------------------------------

_DATE = r"\d{2,4}-(?:\d{2}|[A-Za-z]{3})-\d{2,4}(?: \d{2}:\d{2}:\d{2})?"
_NLS_HINT = ("(run rman with NLS_DATE_FORMAT='YYYY-MM-DD HH24:MI:SS' "
             "NLS_LANG=AMERICAN_AMERICA.AL32UTF8)")
_FORMATS = (("%Y-%m-%d %H:%M:%S", True), ("%d-%b-%Y %H:%M:%S", True),
            ("%d-%b-%y", False), ("%d-%b-%Y", False))
_TAG_TIME = re.compile(r"^TAG(\d{8}T\d{6})$", re.IGNORECASE)


def _parse_date(text: str) -> tuple[datetime, bool]:
    """RMAN date text -> (naive host-local time, whether it has a time of day)."""
    for fmt, precise in _FORMATS:
        try:
            return datetime.strptime(text.strip(), fmt), precise
        except ValueError:
            continue
    raise UnreadableOutput(f"unknown RMAN date format {_NLS_HINT}", text)


_SIZE_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50}


def _size(text: str) -> int:
    """``1.05G`` -> bytes. RMAN rounds to two decimals, so this is approximate by design."""
    match = re.fullmatch(r"([\d.]+)([BKMGTP]?)", text.strip())
    if not match:
        raise UnreadableOutput("unreadable backup size", text)
    return int(float(match[1]) * _SIZE_UNITS[match[2]])


def _elapsed(text: str) -> timedelta:
    parts = [int(p) for p in text.split(":")]
    days = parts[0] if len(parts) == 4 else 0
    hours, minutes, seconds = parts[-3:]
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


# --- LIST BACKUP -------------------------------------------------------------------------------


@dataclass
class _Entry:
    """One RMAN backup set as listed; several of them make one BackupSet (one BACKUP command)."""

    key: int
    level: str  # F full, 0/1/2.. incremental level, A archivelog, C control file/SPFILE only
    tag: str
    bad: bool  # expired or unavailable
    completed: datetime
    precise: bool
    elapsed: timedelta | None = None
    stored_bytes: int = 0
    scns: list[tuple[int, int]] = field(default_factory=list)  # (low, high) per file/log
    datafiles: bool = False
    archivelogs: bool = False
    controlfile: bool = False


_SUMMARY_HEAD = re.compile(r"^\s*Key\s+TY\s+LV\s+S\s+Device Type\s+Completion Time\s+#Pieces")
_SUMMARY_ROW = re.compile(
    rf"^\s*(\d+)\s+([BP])\s+(\S)\s+([AUX])\s+(\S+)\s+({_DATE})\s+(\d+)\s+(\d+)\s+(\S+)\s+(.*?)\s*$")
_SET_HEAD = re.compile(r"^\s*BS Key\s+(?:Type\s+LV\s+)?Size\s+Device Type\s+Elapsed Time\s+"
                       r"Completion Time\s*$")
_SIZE = r"[\d.]+[BKMGTP]?"
_SET_ROW = re.compile(rf"^\s*(\d+)\s+(?:(Full|Incr)\s+(?:(\d)\s+)?)?({_SIZE})\s+(\S+)\s+"
                      rf"(\d+(?::\d\d){{2,3}})\s+({_DATE})\s*$")
_PIECE = re.compile(r"BP Key:\s*\d+\s+Status:\s*(\w+)\s+.*\bTag:\s*(.*?)\s*$")
_DATAFILE_ROW = re.compile(rf"^\s*\d+\s+(?:\d\s+)?(?:Full|Incr)\s+(\d+)\s+{_DATE}\s")
_LOG_ROW = re.compile(rf"^\s*\d+\s+\d+\s+(\d+)\s+{_DATE}\s+(\d+)\s+{_DATE}\s*$")


def _summary_entries(lines: list[str]) -> list[_Entry]:
    entries: list[_Entry] = []
    i = 0
    while i < len(lines):
        if not _SUMMARY_HEAD.match(lines[i]):
            i += 1
            continue
        i += 2  # heading and dashes
        while i < len(lines) and lines[i].strip():
            row = _SUMMARY_ROW.match(lines[i])
            if not row:
                raise UnreadableOutput(f"unreadable LIST BACKUP row {_NLS_HINT}", lines[i])
            completed, precise = _parse_date(row[6])
            level = row[3].upper()
            if level not in {"F", "A"} and not level.isdigit():
                raise UnreadableOutput("unknown backup level in LIST BACKUP SUMMARY", lines[i])
            entries.append(_Entry(key=int(row[1]), level=level, tag=row[10], bad=row[4] != "A",
                                  completed=completed, precise=precise))
            i += 1
    return entries


def _verbose_entries(lines: list[str]) -> list[_Entry]:
    entries: list[_Entry] = []
    current: _Entry | None = None
    in_table = ""  # "datafiles" or "logs" while reading a set's file list
    for i, line in enumerate(lines):
        if _SET_HEAD.match(line):
            data = lines[i + 2] if i + 2 < len(lines) else ""
            row = _SET_ROW.match(data)
            if not row:
                raise UnreadableOutput(f"unreadable LIST BACKUP set row {_NLS_HINT}", data)
            completed, precise = _parse_date(row[7])
            level = "A" if row[2] is None else ("F" if row[2] == "Full" else row[3] or "0")
            current = _Entry(key=int(row[1]), level=level, tag="", bad=False,
                             completed=completed, precise=precise, elapsed=_elapsed(row[6]),
                             stored_bytes=_size(row[4]))
            entries.append(current)
            in_table = ""
            continue
        if current is None:
            continue
        if "Backup Set Copy #" in line:
            raise UnreadableOutput("duplexed backup set copies are not supported; list with "
                                   "LIST BACKUP SUMMARY", line)
        piece = _PIECE.search(line)
        if piece:
            current.bad |= piece[1].upper() != "AVAILABLE"
            current.tag = current.tag or piece[2]
        elif "List of Datafiles in backup set" in line:
            current.datafiles, in_table = True, "datafiles"
        elif "List of Archived Logs in backup set" in line:
            current.archivelogs, in_table = True, "logs"
        elif "Control File Included:" in line or "SPFILE Included:" in line:
            current.controlfile = True
        elif in_table == "datafiles" and (df := _DATAFILE_ROW.match(line)):
            current.scns.append((int(df[1]), int(df[1])))
        elif in_table == "logs" and (lg := _LOG_ROW.match(line)):
            current.scns.append((int(lg[1]), int(lg[2])))
    for entry in entries:
        if not entry.datafiles and not entry.archivelogs:
            entry.level = "C" if entry.controlfile else entry.level
    return entries


def _kind(level: str) -> BackupKind:
    if level == "A":
        return BackupKind.ARCHIVELOG
    if level == "C":
        return BackupKind.CONTROLFILE
    # Level 0 and a non-incremental full both restore on their own; levels >= 1 need a parent.
    return BackupKind.FULL if level in {"F", "0"} else BackupKind.INCREMENTAL


class OracleEngine:
    """:class:`~hisops.engines.base.BackupEngine` for Oracle RMAN."""

    name = "oracle"

    def __init__(self, host_tz: tzinfo = UTC) -> None:
        self.host_tz = host_tz

    def _utc(self, local: datetime) -> datetime:
        return local.replace(tzinfo=self.host_tz).astimezone(UTC)

    def _times(self, entry: _Entry) -> tuple[datetime, datetime]:
        if entry.precise:
            return entry.completed - (entry.elapsed or timedelta()), entry.completed
        end = entry.completed + timedelta(days=1, seconds=-1)
        tag = _TAG_TIME.match(entry.tag)
        start = datetime.strptime(tag[1], "%Y%m%dT%H%M%S") if tag else entry.completed
        return min(start, end), end

    def backup_sets(self, listing: ToolOutput) -> list[BackupSet]:
        """BackupSets from ``LIST BACKUP [OF DATABASE|ARCHIVELOG ALL] [SUMMARY]``.

        Consecutive RMAN sets with one tag and level are one BackupSet, labelled by that tag:
        a drill restores what one BACKUP command wrote, and RMAN writes several sets for one
        command (channels, CDB containers). A reused tag gets ``@<first set key>`` appended so
        labels stay unique. In SUMMARY form a control file autobackup reads ``B F`` like a full
        backup; list ``BACKUP OF DATABASE`` (which excludes autobackups) or use the verbose form.
        Neither form gives the database size: ``database_bytes`` is 0 (see oracle_sql).
        """
        text = listing.stdout + "\n" + listing.stderr
        if listing.rc != 0:
            raise UnreadableOutput(f"rman LIST exited with status {listing.rc}", _last_error(text))
        lines = text.splitlines()
        entries = _summary_entries(lines) + _verbose_entries(lines)
        if not entries:
            if "specification does not match any backup in the repository" in text:
                return []
            raise UnreadableOutput("no LIST BACKUP table in the rman output")
        entries.sort(key=lambda e: e.key)
        groups: list[list[_Entry]] = []
        for entry in entries:
            if groups and (groups[-1][-1].tag, groups[-1][-1].level) == (entry.tag, entry.level):
                groups[-1].append(entry)
            else:
                groups.append([entry])
        return self._backup_sets(groups)

    def _backup_sets(self, groups: list[list[_Entry]]) -> list[BackupSet]:
        def family(group: list[_Entry]) -> str:
            kind = _kind(group[0].level)
            return "restorable" if kind in {BackupKind.FULL, BackupKind.INCREMENTAL} else kind

        seen: dict[tuple[str, str], int] = {}
        for group in groups:
            seen[(family(group), group[0].tag)] = seen.get((family(group), group[0].tag), 0) + 1
        sets: list[BackupSet] = []
        last_level0: str | None = None
        for group in groups:
            first = group[0]
            unique = seen[(family(group), first.tag)] == 1
            label = first.tag if unique else f"{first.tag}@{first.key}"
            times = [self._times(e) for e in group]
            scns = [s for e in group for s in e.scns]
            kind = _kind(first.level)
            sets.append(BackupSet(
                label=label, kind=kind,
                started_at=self._utc(min(t[0] for t in times)),
                finished_at=self._utc(max(t[1] for t in times)),
                database_bytes=0, stored_bytes=sum(e.stored_bytes for e in group),
                prior=last_level0 if kind is BackupKind.INCREMENTAL else None,
                start_position=str(min(s[0] for s in scns)) if scns else "",
                stop_position=str(max(s[1] for s in scns)) if scns else "",
                error=any(e.bad for e in group),
            ))
            if first.level == "0":
                last_level0 = label
        return sets

    def repository_findings(self, output: ToolOutput) -> list[Finding]:
        """Findings from ``RESTORE ... VALIDATE`` / ``RESTORE ... PREVIEW`` / ``BACKUP VALIDATE``.

        Every RMAN/ORA error stack becomes one finding per thing it names (a backup piece, a
        datafile, an archived log); a stack that names nothing is one finding. A piece RMAN
        could not read is an error even when RMAN then "failed over to previous backup": the
        backup the drill meant to prove is broken. A log that shows no finished operation is
        an error too, so a truncated or empty log never passes.
        """
        text = output.stdout + "\n" + output.stderr
        findings = _stack_findings(text, CHECK_REPOSITORY)
        if findings:
            return findings
        if output.rc != 0:
            return [Finding(CHECK_REPOSITORY, "", f"rman exited with status {output.rc}: "
                                                  f"{_last_error(text)}")]
        if not _FINISHED.search(text):
            return [Finding(CHECK_REPOSITORY, "", "the rman log shows no finished restore or "
                                                  "validation: the check did not run to its end")]
        return []

    def integrity_findings(self, output: ToolOutput) -> list[Finding]:
        """Findings from ``VALIDATE [CHECK LOGICAL] DATABASE`` / ``BACKUP VALIDATE ...``: one per
        datafile, control file, SPFILE or archived log that is FAILED, has failing blocks or has
        blocks marked corrupt, plus any error stack. Output without a ``List of Datafiles``
        validated nothing and is an error."""
        text = output.stdout + "\n" + output.stderr
        findings, files_seen = _validate_tables(text.splitlines())
        findings += _stack_findings(text, CHECK_VALIDATE)
        if findings:
            return findings
        if output.rc != 0:
            return [Finding(CHECK_VALIDATE, "", f"rman exited with status {output.rc}: "
                                                f"{_last_error(text)}")]
        if not files_seen:
            return [Finding(CHECK_VALIDATE, "", "no 'List of Datafiles' in the rman output: "
                                                "no datafile was validated")]
        return []

    def corruption_findings(self, rows: Iterable[Sequence[Any]]) -> list[Finding]:
        return corruption_findings(rows)


# --- error stacks ------------------------------------------------------------------------------

_CODE = re.compile(r"\b((?:RMAN|ORA)-\d{5}):\s?(.*?)\s*$")
_BANNER = {"RMAN-00571", "RMAN-00569"}
_CONTINUATION = re.compile(r"^\s*(?:\S.*\bError: \d+: |Additional information: |OSD-\d{5})")
_FINISHED = re.compile(r"^(?:Finished (?:restore|validate|backup|recover) at |.*: validation "
                       r"complete)", re.MULTILINE)

# code -> (pattern, subject template, check); the subject is what an operator acts on.
_SUBJECTS: dict[str, tuple[re.Pattern[str], str, str]] = {
    "ORA-19870": (re.compile(r"backup piece (\S+)"), "{0}", CHECK_REPOSITORY),
    "ORA-19505": (re.compile(r'identify file "([^"]+)"'), "{0}", CHECK_REPOSITORY),
    "ORA-19599": (re.compile(r"is corrupt in \w+(?: \w+)? (\S+)"), "{0}", CHECK_REPOSITORY),
    "ORA-19625": (re.compile(r"identifying file (\S+)"), "{0}", CHECK_WAL),
    "ORA-01110": (re.compile(r"data file (\d+):"), "datafile {0}", CHECK_REPOSITORY),
    "RMAN-06023": (re.compile(r"datafile (\d+)"), "datafile {0}", CHECK_REPOSITORY),
    "RMAN-06100": (re.compile(r"datafile (\d+)"), "datafile {0}", CHECK_REPOSITORY),
    "RMAN-06024": (re.compile(r"(control file)"), "{0}", CHECK_REPOSITORY),
    "RMAN-06025": (re.compile(r"thread (\d+) with sequence (\d+)"),
                   "archived log thread {0} sequence {1}", CHECK_WAL),
    "RMAN-06054": (re.compile(r"thread (\d+) with sequence (\d+)"),
                   "archived log thread {0} sequence {1}", CHECK_WAL),
}


def _stacks(text: str) -> list[list[tuple[str, str]]]:
    """Contiguous runs of error lines (and their OS-error continuation lines)."""
    stacks: list[list[tuple[str, str]]] = []
    current: list[tuple[str, str]] = []
    for line in text.splitlines():
        found = _CODE.search(line)
        if found:
            if found[1] not in _BANNER:
                current.append((found[1], found[2]))
        elif current and _CONTINUATION.match(line):
            if not line.strip().startswith("Additional information"):
                current.append(("", line.strip()))
        elif current or not line.strip():
            if current:
                stacks.append(current)
            current = []
    if current:
        stacks.append(current)
    return stacks


def _stack_findings(text: str, default_check: str) -> list[Finding]:
    findings: list[Finding] = []
    for stack in _stacks(text):
        subjects: list[tuple[str, str] | None] = []
        for code, message in stack:
            rule = _SUBJECTS.get(code)
            found = rule[0].search(message) if rule else None
            subjects.append((rule[1].format(*found.groups()), rule[2])
                            if rule and found else None)
        named = list(dict.fromkeys(s for s in subjects if s))
        lines = [f"{code}: {msg}" if code else msg for code, msg in stack]
        if not named:
            findings.append(Finding(default_check, "", "; ".join(lines)))
            continue
        context = [line for line, s in zip(lines, subjects, strict=True) if s is None]
        for subject, check in named:
            own = [line for line, s in zip(lines, subjects, strict=True)
                   if s and s[0] == subject]
            problem = "; ".join(own + context)
            findings.append(Finding(check, subject, problem))
    return list(dict.fromkeys(findings))


def _last_error(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    flagged = [line for line in lines
               if re.search(r"(?i)error|fail|abort|not found|denied|invalid", line)]
    return (flagged or lines or ["(no output)"])[-1]


# --- VALIDATE tables ---------------------------------------------------------------------------

_DF_HEAD = re.compile(r"^\s*File\s+Status\s+Marked Corrupt\s+Empty Blocks\s+Blocks Examined")
_DF_ROW = re.compile(r"^\s*(\d+)\s+(OK|FAILED)\s+(\d+)\s+(\d+)\s+(\d+)\b")
_BLOCK_HEAD = re.compile(r"^\s*Block Type\s+Blocks Failing\s+Blocks Processed")
_BLOCK_ROW = re.compile(r"^\s*([A-Za-z][A-Za-z ]*?)\s+(\d+)\s+(\d+)\s*$")
_CF_ROW = re.compile(r"^\s*(SPFILE|Control File)\s+(OK|FAILED)\s+(\d+)\s+(\d+)\s*$")
_LOG_HEAD = re.compile(r"^\s*Thrd\s+Seq\s+Status\s+Blocks Failing\s+Blocks Examined\s+Name")
_LOG_VROW = re.compile(r"^\s*(\d+)\s+(\d+)\s+(OK|FAILED)\s+(\d+)\s+(\d+)\s+(\S.*?)\s*$")
_TRACE = re.compile(r"See trace file (\S+) for details")


@dataclass
class _DatafileResult:
    file_no: int
    status: str
    marked: int
    examined: int
    name: str = ""
    failing: dict[str, int] = field(default_factory=dict)


def _validate_tables(lines: list[str]) -> tuple[list[Finding], bool]:
    results: list[_DatafileResult] = []
    findings: list[Finding] = []
    trace = ""
    in_blocks = in_logs = False
    for line in lines:
        if (match := _TRACE.search(line)) is not None:
            trace = match[1]
        if _DF_HEAD.match(line) or line.strip().startswith("File Type"):
            in_blocks = in_logs = False
        elif _BLOCK_HEAD.match(line):
            in_blocks = True
        elif _LOG_HEAD.match(line):
            in_logs = True
        elif (row := _DF_ROW.match(line)) is not None and not in_logs:
            results.append(_DatafileResult(int(row[1]), row[2], int(row[3]), int(row[5])))
            in_blocks = False
        elif results and line.strip().startswith("File Name:"):
            results[-1].name = line.split(":", 1)[1].strip()
        elif in_blocks and results and (blk := _BLOCK_ROW.match(line)) is not None:
            results[-1].failing[blk[1]] = int(blk[2])
        elif (cf := _CF_ROW.match(line)) is not None and (cf[2] == "FAILED" or int(cf[3])):
            findings.append(Finding(CHECK_VALIDATE, cf[1].lower(),
                                    f"VALIDATE status {cf[2]}, {cf[3]} block(s) failing of "
                                    f"{cf[4]} examined"))
        elif in_logs and (lv := _LOG_VROW.match(line)) is not None and (
                lv[3] == "FAILED" or int(lv[4])):
            findings.append(Finding(CHECK_VALIDATE, f"archived log thread {lv[1]} sequence "
                                    f"{lv[2]} ({lv[6]})", f"VALIDATE status {lv[3]}, {lv[4]} "
                                    f"block(s) failing of {lv[5]} examined"))
        elif not line.strip():
            in_logs = False
    for result in results:
        failing = sum(result.failing.values())
        if result.status == "OK" and not failing and not result.marked:
            continue
        parts = [f"VALIDATE status {result.status}"]
        if failing:
            detail = ", ".join(f"{k} {v}" for k, v in result.failing.items() if v)
            parts.append(f"{failing} block(s) failing ({detail})")
        if result.marked:
            parts.append(f"{result.marked} block(s) marked corrupt")
        parts.append(f"{result.examined} block(s) examined")
        if trace:
            parts.append(f"see trace file {trace}")
        where = f" ({result.name})" if result.name else ""
        findings.insert(0, Finding(CHECK_VALIDATE, f"datafile {result.file_no}{where}",
                                   "; ".join(parts)))
    return findings, bool(results)


def corruption_findings(rows: Iterable[Sequence[Any]]) -> list[Finding]:
    """One finding per ``v$database_block_corruption`` row (tuples as python-oracledb returns
    them). NOLOGGING ranges count too: in a restored copy those blocks hold no data."""
    findings = []
    for row in rows:
        c = block_corruption_from_row(row)
        change = f", change {c.corruption_change}" if c.corruption_change else ""
        findings.append(Finding(
            CHECK_VALIDATE, f"datafile {c.file_no}",
            f"{c.blocks} block(s) corrupt from block {c.block_no} ({c.corruption_type}{change}) "
            "in v$database_block_corruption", Severity.ERROR))
    return findings


# --- RMAN scripts ------------------------------------------------------------------------------

_HEADER = ("# Generated by hisops. Run as the oracle OS user: `rman {role} /` (OS authentication)\n"
           "# or `rman {role} /@<wallet alias>`; this script holds no password by design.\n"
           "# Environment: NLS_LANG=AMERICAN_AMERICA.AL32UTF8 "
           "NLS_DATE_FORMAT='YYYY-MM-DD HH24:MI:SS'\n")
_DB_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,7}$")


def _until(until: str | None, *, clause: bool) -> str:
    """``SET UNTIL ...;`` (or the bare ``UNTIL ...`` clause) from an SCN or a host-local time."""
    if until is None:
        return ""
    scn = re.fullmatch(r"(?i)\s*scn[\s:=]*(\d+)\s*", until)
    if scn:
        text = f"UNTIL SCN {scn[1]}"
    else:
        try:
            when = datetime.fromisoformat(until.strip())
        except ValueError:
            raise ParameterError("not an ISO time or 'scn <number>'", field="until") from None
        if when.tzinfo is not None:
            raise ParameterError("give the time in the target host's local time, without a zone "
                                 "(RMAN reads it in the host's clock)", field="until")
        text = (f"UNTIL TIME \"TO_DATE('{when:%Y-%m-%d %H:%M:%S}',"
                "'YYYY-MM-DD HH24:MI:SS')\"")
    return text if clause else f"SET {text};"


def _run_block(*commands: str, role: str = "target") -> str:
    body = "".join(f"  {c}\n" for c in commands if c)
    return f"{_HEADER.format(role=role)}RUN {{\n{body}}}\n"


def rman_validate_script(*, check_logical: bool = True, until: str | None = None,
                         archivelog_from_scn: int | None = None) -> str:
    """Read every backup piece a restore (to ``until``) would use, without writing a datafile.
    ``archivelog_from_scn`` limits log validation to what recovery needs; without it all
    archived-log backups are read, and an old, irrelevant gap would fail the check."""
    logical = " CHECK LOGICAL" if check_logical else ""
    logs = (f"RESTORE ARCHIVELOG FROM SCN {int(archivelog_from_scn)} VALIDATE;"
            if archivelog_from_scn is not None else "RESTORE ARCHIVELOG ALL VALIDATE;")
    return _run_block(_until(until, clause=False), f"RESTORE DATABASE VALIDATE{logical};", logs)


def rman_preview_script(*, until: str | None = None, summary: bool = False) -> str:
    """List what a restore to ``until`` would read, and the SCN recovery must reach."""
    return _run_block(_until(until, clause=False),
                      f"RESTORE DATABASE PREVIEW{' SUMMARY' if summary else ''};")


def rman_duplicate_script(target_db: str, scratch_sid: str, until: str | None, *,
                          backup_location: str, channels: int = 2) -> str:
    """Backup-based, targetless DUPLICATE onto a scratch instance started NOMOUNT: it proves the
    pieces in ``backup_location`` restore and recover into an open database.

    Run as ``rman auxiliary /`` on the scratch host only: NOFILENAMECHECK turns off the guard
    against overwriting the source's files, which is safe only where those files do not exist.
    The scratch name must differ from the source's so no one mistakes the copy for production.
    """
    for value, name in ((target_db, "target_db"), (scratch_sid, "scratch_sid")):
        if not _DB_NAME.match(value):
            raise ParameterError("an Oracle DB_NAME is 1-8 letters, digits or _", field=name)
    if target_db.upper() == scratch_sid.upper():
        raise ParameterError("the scratch database must not have the source's name",
                             field="scratch_sid")
    if (not backup_location.startswith(("/", "+")) or "'" in backup_location
            or "\n" in backup_location):
        raise ParameterError("an absolute path or ASM disk group without quotes",
                             field="backup_location")
    if not 1 <= channels <= 16:
        raise ParameterError("between 1 and 16", field="channels")
    allocate = [f"ALLOCATE AUXILIARY CHANNEL aux{n} DEVICE TYPE DISK;"
                for n in range(1, channels + 1)]
    until_clause = _until(until, clause=True)
    duplicate = (f"DUPLICATE DATABASE {target_db.upper()} TO {scratch_sid.upper()}\n"
                 + (f"    {until_clause}\n" if until_clause else "")
                 + f"    BACKUP LOCATION '{backup_location}'\n    NOFILENAMECHECK;")
    return _run_block(*allocate, duplicate, role="auxiliary")
