"""Oracle side of the emergency restore: the in-place RMAN point-in-time restore, its log read
back, and the ordered steps around it. Data Guard failover, the alternative, is in
:mod:`hisops.engines.oracle.failover`.

Pure functions, like :mod:`hisops.engines.oracle.rman`: the roles run ``rman target /`` on the
damaged host as the oracle OS user (no password anywhere) with ``RMAN_ENVIRONMENT``; this
module writes the script and reads the transcript. The restore assumes the **current control
file survives** (a logical error, lost or corrupt datafiles): RMAN then needs no catalog, no
DBID and no control file restore. A lost control file is a different procedure, not planned here.

Recovery targets (:class:`hisops.recovery.chain.RecoveryTarget`) map to RMAN as follows:

* ``latest``: complete recovery, no UNTIL, plain ``ALTER DATABASE OPEN`` (needs the online redo
  logs intact: if they are lost, give a time or an SCN).
* ``time``: ``SET UNTIL TIME`` with ``TO_DATE`` in the **host's** wall clock. Redo carries the
  database host's local time, so the aware target is converted to the zone the caller passes as
  ``host_tz`` (never guessed). A target in the hour a DST change repeats is refused: its wall
  time names two instants and RMAN cannot tell which. RMAN's limit is *exclusive* and counts
  whole seconds: a fraction of a second is dropped, which stops recovery earlier, never later.
* ``name``: ``SET TO RESTORE POINT`` (19c moved restore points out of the untilClause into
  SET's ``TO RESTORE POINT``, which stops *at* the point's SCN, inclusive).
* ``xid``: refused. Oracle cannot stop at a transaction id; give its SCN as ``scn=``.
* ``scn=N`` (keyword, instead of a target): ``SET UNTIL SCN N``, exclusive: to keep the changes
  of SCN N itself, pass N + 1.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum

from hisops.engines.base import Finding
from hisops.engines.oracle.rman import (
    _CODE,
    _HEADER,
    CHECK_REPOSITORY,
    UnreadableOutput,
    _elapsed,
    _parse_date,
    _stack_findings,
    _stacks,
)
from hisops.errors import ParameterError
from hisops.recovery.chain import RecoveryTarget
from hisops.recovery.plan import RESTORE_MODES, Step

log = logging.getLogger(__name__)

# An unquoted Oracle identifier (restore points are up to 128 bytes from 12.2 on). Nothing else
# is interpolated into a script except integers and a datetime the code formats itself.
_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_$#]{0,127}$")


# --- the target --------------------------------------------------------------------------------


@dataclass(frozen=True)
class OracleUntil:
    """Where RMAN stops, as the ``SET`` line of the RUN block ("" for complete recovery)."""

    command: str
    described: str

    @property
    def complete(self) -> bool:
        """Complete recovery opens without RESETLOGS; anything else starts a new incarnation."""
        return not self.command


def oracle_until(target: RecoveryTarget | None, *, scn: int | None = None,
                 host_tz: tzinfo | None = None) -> OracleUntil:
    """The RMAN form of TARGET, or of ``scn`` when no target is given (exactly one of them)."""
    if target is None or scn is not None:
        if target is not None or scn is None:
            raise ParameterError("give either a recovery target or an SCN, not both or "
                                 "neither", field="target")
        if isinstance(scn, bool) or not isinstance(scn, int) or scn <= 0:
            raise ParameterError(f"an SCN is a positive integer, not {scn!r}", field="scn")
        return OracleUntil(f"SET UNTIL SCN {scn};", f"until SCN {scn} (exclusive)")
    if target.kind == "latest":
        return OracleUntil("", "latest (complete recovery: all archived and online redo)")
    if target.kind == "xid":
        raise ParameterError(
            "Oracle cannot stop recovery at a transaction id: find the transaction's SCN "
            "(FLASHBACK_TRANSACTION_QUERY or LogMiner) and give it as scn=", field="target")
    if target.kind == "name":
        name = target.value.strip()
        if not _IDENTIFIER.match(name):
            raise ParameterError(f"restore point {name!r} is not a plain Oracle identifier "
                                 "(letter, then letters, digits, _ $ #)", field="target")
        return OracleUntil(f"SET TO RESTORE POINT {name.upper()};",
                           f"restore point {name.upper()} (inclusive)")
    return _until_time(target.at(), host_tz)


def _until_time(when: datetime, host_tz: tzinfo | None) -> OracleUntil:
    if host_tz is None:
        raise ParameterError("a time target needs the database host's time zone: RMAN reads "
                             "UNTIL TIME in the host's clock", field="host_tz")
    local = when.astimezone(host_tz).replace(microsecond=0)
    wall = local.replace(tzinfo=None)
    offsets = {wall.replace(tzinfo=host_tz, fold=f).utcoffset() for f in (0, 1)}
    if len(offsets) > 1:
        raise ParameterError(f"{wall:%Y-%m-%d %H:%M:%S} occurs twice on the host (daylight "
                             "saving ends): RMAN cannot tell which; give an SCN instead",
                             field="target")
    text = f"{wall:%Y-%m-%d %H:%M:%S}"
    return OracleUntil(f"SET UNTIL TIME \"TO_DATE('{text}','YYYY-MM-DD HH24:MI:SS')\";",
                       f"until {text} host time (exclusive), {when.isoformat()}")


# --- the script --------------------------------------------------------------------------------


def rman_restore_script(target: RecoveryTarget | None, *, scn: int | None = None,
                        host_tz: tzinfo | None = None, channels: int = 2) -> str:
    """The in-place restore, run as ``rman target /`` on the fenced, damaged host.

    ``STARTUP FORCE MOUNT`` (an abort if the instance still runs) comes before the RUN block, as
    in the RMAN reference's example; the set-aside copies must be taken before it. The SET line
    precedes RESTORE so RMAN picks backups older than the target. OPEN RESETLOGS follows an
    incomplete recovery; complete recovery opens plainly.
    """
    until = oracle_until(target, scn=scn, host_tz=host_tz)
    if isinstance(channels, bool) or not isinstance(channels, int) or not 1 <= channels <= 16:
        raise ParameterError("between 1 and 16", field="channels")
    allocate = [f"ALLOCATE CHANNEL c{n} DEVICE TYPE DISK;" for n in range(1, channels + 1)]
    body = [until.command, *allocate, "RESTORE DATABASE;", "RECOVER DATABASE;"]
    run = "".join(f"  {c}\n" for c in body if c)
    opening = "ALTER DATABASE OPEN;" if until.complete else "ALTER DATABASE OPEN RESETLOGS;"
    return (f"{_HEADER.format(role='target')}# Target: {until.described}\n"
            f"STARTUP FORCE MOUNT;\nRUN {{\n{run}}}\n{opening}\n")


# --- the transcript ----------------------------------------------------------------------------


class RestoreFailure(StrEnum):
    """What went wrong, in the terms the runbook acts on."""

    MISSING_BACKUP = "missing_backup"  # no backup reaches the target: pick another target
    MISSING_ARCHIVED_LOG = "missing_archived_log"  # a gap: recovery cannot pass it
    CORRUPT_PIECE = "corrupt_piece"  # a piece could not be read (corrupt or gone)
    NOT_CONSISTENT = "not_consistent"  # recovery stopped short: OPEN RESETLOGS refused
    TARGET_BEFORE_BACKUP = "target_before_backup"  # target older than the backup/incarnation
    OTHER = "other"


_KINDS: dict[str, RestoreFailure] = {
    "RMAN-06023": RestoreFailure.MISSING_BACKUP,
    "RMAN-06025": RestoreFailure.MISSING_ARCHIVED_LOG,
    "RMAN-06054": RestoreFailure.MISSING_ARCHIVED_LOG,
    "ORA-19599": RestoreFailure.CORRUPT_PIECE,
    "ORA-19870": RestoreFailure.CORRUPT_PIECE,
    "ORA-01194": RestoreFailure.NOT_CONSISTENT,
    "ORA-01547": RestoreFailure.NOT_CONSISTENT,
    "ORA-01152": RestoreFailure.NOT_CONSISTENT,
    "RMAN-20207": RestoreFailure.TARGET_BEFORE_BACKUP,
    "RMAN-20208": RestoreFailure.TARGET_BEFORE_BACKUP,
    "RMAN-06556": RestoreFailure.TARGET_BEFORE_BACKUP,
}

_STARTED = re.compile(r"^Starting (restore|recover) at (.+?)\s*$")
_ENDED = re.compile(r"^Finished (restore|recover) at (.+?)\s*$")
_DATAFILE = re.compile(r"^\S+ \S+: restoring datafile (\d+) to (\S+)")
_PIECE = re.compile(r"^channel \S+: piece handle=(\S+) tag=(\S*)")
_RESTORED = re.compile(r"^channel \S+: restored backup piece \d+")
_APPLIED = re.compile(r"^archived log file name=(\S+) thread=(\d+) sequence=(\d+)")
_MEDIA_DONE = re.compile(r"^media recovery complete, elapsed time: (\d+(?::\d\d){2,3})")
_OPEN_ECHO = re.compile(r"^RMAN> ALTER DATABASE OPEN( RESETLOGS)?;", re.IGNORECASE)
_OPENED = re.compile(r"^(?:Statement processed|database opened)\s*$")


@dataclass(frozen=True)
class RestoredPiece:
    handle: str
    tag: str


@dataclass(frozen=True)
class RestoreLogResult:
    """What an RMAN restore/recover/open transcript shows. Times are host-local, naive (as
    RMAN prints them); ``findings`` are the RMAN/ORA stacks, ``failures`` their classification."""

    restore_started: datetime | None
    restore_finished: datetime | None
    recover_started: datetime | None
    recover_finished: datetime | None
    datafiles: dict[int, str]  # file number -> where it was restored
    pieces: tuple[RestoredPiece, ...]  # pieces RMAN reported as restored
    logs_applied: tuple[tuple[int, int], ...]  # (thread, sequence), in order
    media_recovery_elapsed: timedelta | None
    open_attempted: bool
    resetlogs: bool
    opened: bool
    findings: tuple[Finding, ...]
    failures: tuple[RestoreFailure, ...]

    @property
    def last_applied(self) -> dict[int, int]:
        """Highest sequence applied per redo thread."""
        last: dict[int, int] = {}
        for thread, seq in self.logs_applied:
            last[thread] = max(seq, last.get(thread, 0))
        return last

    @property
    def ok(self) -> bool:
        return self.opened and not self.findings and self.recover_finished is not None


def parse_restore_log(text: str) -> RestoreLogResult:
    """Read an RMAN transcript of :func:`rman_restore_script` (echoed commands included).

    Raises :class:`UnreadableOutput` for empty text or text with neither an RMAN operation nor
    an RMAN/ORA error: nothing can be said about such a restore, so nothing is assumed."""
    lines = text.splitlines()
    marks: dict[str, datetime] = {}
    datafiles: dict[int, str] = {}
    pieces: list[RestoredPiece] = []
    handles: dict[str, RestoredPiece] = {}
    logs: list[tuple[int, int]] = []
    media: timedelta | None = None
    open_attempted = resetlogs = opened = False
    for i, line in enumerate(lines):
        stripped = line.strip()
        if (m := _STARTED.match(stripped)) or (m := _ENDED.match(stripped)):
            when = _parse_date(m[2])[0]
            if stripped.startswith("Starting"):  # from the first start to the last finish
                marks.setdefault(f"start {m[1]}", when)
            else:
                marks[f"end {m[1]}"] = when
        elif m := _DATAFILE.match(stripped):
            datafiles[int(m[1])] = m[2]
        elif m := _PIECE.match(stripped):
            handles[stripped.split(":", 1)[0]] = RestoredPiece(m[1], m[2])
        elif _RESTORED.match(stripped):
            piece = handles.pop(stripped.split(":", 1)[0], None)
            if piece is not None:
                pieces.append(piece)
        elif m := _APPLIED.match(stripped):
            logs.append((int(m[2]), int(m[3])))
        elif m := _MEDIA_DONE.match(stripped):
            media = _elapsed(m[1])
        elif m := _OPEN_ECHO.match(stripped):
            open_attempted, resetlogs = True, bool(m[1])
            opened = _opened_after(lines[i + 1:])
    stacks = _stacks(text)
    if not marks and not stacks and not open_attempted:
        raise UnreadableOutput("no RMAN restore, recover or error in the output",
                               _tail(lines))
    return RestoreLogResult(
        restore_started=marks.get("start restore"), restore_finished=marks.get("end restore"),
        recover_started=marks.get("start recover"), recover_finished=marks.get("end recover"),
        datafiles=datafiles, pieces=tuple(pieces), logs_applied=tuple(logs),
        media_recovery_elapsed=media, open_attempted=open_attempted, resetlogs=resetlogs,
        opened=opened, findings=tuple(_stack_findings(text, CHECK_REPOSITORY)),
        failures=tuple(dict.fromkeys(k for s in stacks for k in _classify(s))))


def _opened_after(rest: list[str]) -> bool:
    for line in rest:
        if line.startswith("RMAN>") or _CODE.search(line):  # next command, or an error
            return False
        if _OPENED.match(line.strip()):
            return True
    return False


def _classify(stack: list[tuple[str, str]]) -> list[RestoreFailure]:
    kinds = list(dict.fromkeys(_KINDS[code] for code, _ in stack if code in _KINDS))
    if kinds:
        return kinds
    # "some targets not found" names its targets in the lines below it; alone it is a backup
    if any(code == "RMAN-06026" for code, _ in stack):
        return [RestoreFailure.MISSING_BACKUP]
    return [RestoreFailure.OTHER]


def _tail(lines: list[str]) -> str:
    rest = [line.strip() for line in lines if line.strip()]
    return rest[-1] if rest else "(no output)"


# --- the steps ---------------------------------------------------------------------------------


def oracle_restore_steps(target: RecoveryTarget | None, mode: str, *, host: str,
                         standby_hosts: tuple[str, ...] = (), scn: int | None = None,
                         host_tz: tzinfo | None = None, channels: int = 2) -> list[Step]:
    """The in-place Oracle restore as :class:`hisops.recovery.plan.Step` rows, in order.

    Only ``in-place`` is planned: a restore onto a new host also needs the SPFILE and control
    file from autobackup, the DBID and ``SET NEWNAME``, which this module does not write yet.
    """
    if mode not in RESTORE_MODES:
        raise ParameterError(f"restore mode must be one of {', '.join(RESTORE_MODES)}, "
                             f"not {mode!r}", field="mode")
    if mode != "in-place":
        raise ParameterError("the Oracle restore is planned in place only (a new host needs "
                             "the control file from autobackup, the DBID and SET NEWNAME)",
                             field="mode")
    if not host.strip() or host in standby_hosts:
        raise ParameterError("the damaged host, not empty and not a standby", field="host")
    rman_restore_script(target, scn=scn, host_tz=host_tz, channels=channels)  # refuse early
    until = oracle_until(target, scn=scn, host_tz=host_tz)
    steps = [
        Step("fence", host,
             "Fence the damaged database: stop its services and listener registration so no "
             "client writes; record the datafile, control file and online redo log names "
             "(v$datafile, v$controlfile, v$logfile), then SHUTDOWN IMMEDIATE (ABORT if it "
             "hangs)"),
        Step("set-aside", host,
             "Copy (never move) the control files and every online redo log member, with the "
             "file lists, to a set-aside directory: evidence, and the way back. Datafiles are "
             "not copied: RESTORE overwrites them, and a copy of a multi-terabyte database "
             "(BACKUP AS COPY) takes as long as the restore; a storage snapshot can keep them"),
        Step("restore", host,
             f"STARTUP FORCE MOUNT, then RESTORE DATABASE {until.described} on {channels} "
             "disk channel(s): RMAN picks the newest backups that precede the target",
             ("rman", "target", "/")),
        Step("recover", host,
             "RECOVER DATABASE: incremental backups, then archived redo"
             + (" and the online redo to its end" if until.complete else
                f" {until.described}")),
    ]
    if until.complete:
        steps.append(Step("open", host, "ALTER DATABASE OPEN (complete recovery: no RESETLOGS, "
                                        "same incarnation); services stay stopped"))
    else:
        steps.append(Step("open", host, "ALTER DATABASE OPEN RESETLOGS: a new incarnation "
                                        "with reset online redo; services stay stopped"))
    steps += [
        Step("integrity-checks", host,
             "Check before clients return: RMAN VALIDATE CHECK LOGICAL DATABASE, "
             "v$database_block_corruption empty, no more INVALID objects in dba_objects than "
             "recorded before, row counts of key tables, smoke queries"),
        Step("open-to-clients", host,
             "Start the database services again: clients reconnect to the same address"),
    ]
    if standby_hosts:
        steps.append(Step("standbys", ", ".join(standby_hosts), _standby_text(until)))
    steps += [
        Step("post-checks", host,
             "ALTER SYSTEM ARCHIVE LOG CURRENT and see the log in v$archived_log"
             + (" and applied on each standby" if standby_hosts else "")
             + ", then start a new level 0 backup"),
        Step("timeline-report", host,
             "Report the timeline: each step's times, deadlines met or missed, the data lost"),
    ]
    return steps


def _standby_text(until: OracleUntil) -> str:
    if until.complete:
        return ("No RESETLOGS: each standby keeps applying the same redo stream; check that "
                "apply resumed and its lag falls")
    return ("After OPEN RESETLOGS: a standby that has not applied redo past the new primary's "
            "RESETLOGS_CHANGE# follows the new incarnation by itself; one that has must, with "
            "Flashback Database on, FLASHBACK STANDBY DATABASE TO SCN <RESETLOGS_CHANGE# - 2> "
            "(v$database on the primary) and restart redo apply; without Flashback it is "
            "re-created (RMAN DUPLICATE FOR STANDBY)")
