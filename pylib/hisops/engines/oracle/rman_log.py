"""What the nightly RMAN backup printed: pieces, tags, times, crosscheck and deletion, errors.

The Oracle backup role runs one command file as the oracle OS user (``rman target /``, no
password) with :data:`~hisops.engines.oracle.rman.RMAN_ENVIRONMENT`: ``BACKUP INCREMENTAL
LEVEL 0|1 DATABASE PLUS ARCHIVELOG``, ``BACKUP CURRENT CONTROLFILE``, the control file
autobackup, ``CROSSCHECK`` and ``DELETE NOPROMPT OBSOLETE``. :func:`parse_backup_log` reads that
transcript into a :class:`BackupLog` whose :meth:`~BackupLog.findings` say whether the night's
backup can be trusted. Dates and error stacks are read by the helpers of
:mod:`hisops.engines.oracle.rman`, so a date format it refuses is refused here too.

RMAN says "Finished backup" per BACKUP command, so a log is good only when every backup it
started finished, no RMAN-/ORA- stack was printed, RMAN exited 0 and the session ended with
``Recovery Manager complete.``. A channel failure (``RMAN-03009 ... continuing other job
steps``) is printed again in the final stack; it is reported once.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hisops.engines.base import Finding, Severity
from hisops.engines.oracle.rman import UnreadableOutput, _elapsed, _parse_date, _stacks

log = logging.getLogger(__name__)

CHECK_BACKUP = "backup"  # the backup run itself: did RMAN write what it was asked to

# Codes that only say "a command failed" and wrap the cause printed below them.
_WRAPPERS = {"RMAN-03002", "RMAN-03009", "RMAN-03014", "RMAN-03015"}
# What an operator does about the causes the hospital has met; the stack is always quoted too.
_HINTS = {
    "ORA-19809": "the fast recovery area is full: raise db_recovery_file_dest_size or free it "
                 "(DELETE OBSOLETE, archived logs already backed up)",
    "ORA-19804": "the fast recovery area is full and RMAN could not reclaim space",
    "ORA-27040": "RMAN could not create the backup file: the destination is missing, full or "
                 "not writable by the oracle user",
    "ORA-19504": "RMAN could not create the backup file",
    "RMAN-06059": "an archived log the control file lists is gone from disk: recoverability "
                  "is compromised; CROSSCHECK ARCHIVELOG ALL and take a new level 0",
}


@dataclass(frozen=True)
class BackupPiece:
    handle: str
    tag: str
    channel: str
    content: str  # datafile, archivelog, controlfile (current control file / SPFILE only)
    level: int | None  # incremental level; None for a full or an archived-log set
    set_elapsed: timedelta | None  # "backup set complete, elapsed time" of its set

    def to_dict(self) -> dict[str, Any]:
        return {"handle": self.handle, "tag": self.tag, "channel": self.channel,
                "content": self.content, "level": self.level,
                "set_elapsed_s": _secs(self.set_elapsed)}


@dataclass(frozen=True)
class BackupError:
    """One RMAN-/ORA- stack; ``code`` is its cause (the first code that is not a wrapper)."""

    code: str
    lines: tuple[str, ...]  # "CODE: message" and OS-error continuation lines, banners dropped
    warning: bool = False  # RMAN-08120, RMAN-06207...: printed as "warning:", the run goes on

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(line.split(":", 1)[0] for line in self.lines
                     if re.match(r"(?:RMAN|ORA)-\d{5}:", line))

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "lines": list(self.lines), "warning": self.warning}


@dataclass(frozen=True)
class BackupLog:
    """An RMAN backup transcript, read. Times are host-local and naive, as RMAN prints them."""

    rc: int
    pieces: tuple[BackupPiece, ...]
    tags: tuple[str, ...]  # in order of first use
    started: datetime | None  # first "Starting backup at"
    finished: datetime | None  # last "Finished backup at"
    elapsed: timedelta | None  # finished - started; None unless every backup finished and
    # both times carry a time of day (the default DD-MON-YY format has none)
    autobackup_piece: str | None  # the last control file and SPFILE autobackup piece
    expired: tuple[str, ...]  # pieces and archived logs CROSSCHECK found EXPIRED
    deleted: int  # objects DELETE reported deleted ("Deleted N [EXPIRED] objects", summed)
    errors: tuple[BackupError, ...]  # distinct stacks, warnings included (``warning=True``)
    channels: tuple[str, ...] = ()
    backups_started: int = 0
    backups_finished: int = 0
    crosschecked: int = 0
    complete: bool = False  # "Recovery Manager complete."

    def findings(self) -> list[Finding]:
        """ERROR per error stack (naming its code), per backup that did not finish, for rc != 0
        without a stack and for a cut-off session; WARNING per expired piece or log and per
        RMAN warning. An empty list means the backup ran to its end cleanly."""
        out: list[Finding] = []
        for err in self.errors:
            hint = _HINTS.get(err.code)
            stack = "; ".join(err.lines)
            out.append(Finding(CHECK_BACKUP, err.code, f"{hint} ({stack})" if hint else stack,
                               Severity.WARNING if err.warning else Severity.ERROR))
        if not self.backups_finished:
            out.append(Finding(CHECK_BACKUP, "", "no 'Finished backup at' in the rman log: "
                               "no backup command completed"))
        elif self.backups_started > self.backups_finished:
            missing = self.backups_started - self.backups_finished
            out.append(Finding(CHECK_BACKUP, "", f"{missing} of {self.backups_started} backup "
                               "command(s) started but did not finish"))
        hard = [e for e in self.errors if not e.warning]
        if self.rc != 0 and not hard:
            out.append(Finding(CHECK_BACKUP, "", f"rman exited with status {self.rc} but "
                               "printed no RMAN-/ORA- error"))
        if not self.complete:
            out.append(Finding(CHECK_BACKUP, "", "the log does not end with 'Recovery Manager "
                               "complete.': the rman session was cut off"))
        for item in self.expired:
            out.append(Finding(CHECK_BACKUP, item, "EXPIRED at crosscheck: the file is gone "
                               "from its device; a restore that needs it will fail",
                               Severity.WARNING))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "rc": self.rc, "pieces": [p.to_dict() for p in self.pieces], "tags": list(self.tags),
            "started": _iso(self.started), "finished": _iso(self.finished),
            "elapsed_s": _secs(self.elapsed), "autobackup_piece": self.autobackup_piece,
            "expired": list(self.expired), "deleted": self.deleted,
            "errors": [e.to_dict() for e in self.errors], "channels": list(self.channels),
            "backups_started": self.backups_started, "backups_finished": self.backups_finished,
            "crosschecked": self.crosschecked, "complete": self.complete,
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _secs(value: timedelta | None) -> int | None:
    return None if value is None else int(value.total_seconds())


_DATE = r"(.+?)"
_STARTING = re.compile(rf"^Starting backup at {_DATE}\s*$")
_FINISHED = re.compile(rf"^Finished backup at {_DATE}\s*$")
_AUTO_START = re.compile(rf"^Starting Control File and SPFILE Autobackup at {_DATE}\s*$")
_AUTO_END = re.compile(rf"^Finished Control File and SPFILE Autobackup at {_DATE}\s*$")
_CHANNEL = re.compile(r"^(?:allocated channel|using channel):? (\S+)\s*$")
_SET_START = re.compile(r"^channel (\S+): starting (?:compressed )?(?:(full|incremental level "
                        r"(\d+)) datafile|(archived log)) backup ?set\s*$")
_CF_IN_SET = re.compile(r"^including current (?:control file|SPFILE) in backup ?set\s*$")
_FINISHED_PIECE = re.compile(r"^channel (\S+): finished piece \d+ at ")
_PIECE = re.compile(r"^piece handle=(\S+) tag=(\S+) comment=")
_AUTO_PIECE = re.compile(r"^piece handle=(\S+) comment=")
_SET_DONE = re.compile(r"^channel (\S+): backup set complete, elapsed time: (\d+(?::\d\d){2,3})")
_EXPIRED = re.compile(r"^crosschecked backup piece: found to be 'EXPIRED'\s*$")
_LOG_FAILED = re.compile(r"^validation failed for archived log\s*$")
_NAME_AFTER = re.compile(r"^(?:backup piece handle|archived? log file ?name)=(\S+)")
# DELETE EXPIRED says "Deleted N EXPIRED objects" (from memory, see SOURCES.md)
_COUNT = re.compile(r"^(Crosschecked|Deleted) (\d+) (?:EXPIRED )?objects?\s*$")
_COMPLETE = re.compile(r"^Recovery Manager complete\.\s*$", re.MULTILINE)
_AT_TIME = re.compile(r" at \d\d/\d\d/\d{4} \d\d:\d\d:\d\d$")  # RMAN-03009's own timestamp


@dataclass
class _Set:
    """The backup set a channel is writing, filled in as its lines arrive."""

    archivelog: bool
    level: int | None
    datafiles: bool = False
    controlfile: bool = False
    elapsed: timedelta | None = None

    @property
    def content(self) -> str:
        if self.archivelog:
            return "archivelog"
        return "controlfile" if self.controlfile and not self.datafiles else "datafile"


def _errors(text: str) -> tuple[BackupError, ...]:
    seen: dict[tuple[str, ...], BackupError] = {}
    for stack in _stacks(text):
        lines = tuple(f"{code}: {msg}" if code else msg for code, msg in stack)
        codes = [code for code, _ in stack if code]
        cause = next((c for c in codes if c not in _WRAPPERS), codes[0] if codes else "")
        warning = stack[0][1].lower().startswith("warning")
        # a channel failure is printed where it happens and again in the final stack
        key = tuple(_AT_TIME.sub("", line) for line in lines)
        seen.setdefault(key, BackupError(cause, lines, warning))
    return tuple(seen.values())


def parse_backup_log(text: str, rc: int) -> BackupLog:
    """Read the transcript of an RMAN backup run and its exit status.

    Raises :class:`UnreadableOutput` for output that shows no RMAN work at all (no backup,
    crosscheck, deletion, error or end of session), for a ``piece handle=`` line it cannot
    read and for a date outside the formats :mod:`~hisops.engines.oracle.rman` accepts.
    """
    lines = [line.strip() for line in text.splitlines()]
    pieces: list[tuple[str, str, str, _Set | None]] = []  # handle, tag, channel, its set
    sets: dict[str, _Set] = {}  # the open set per channel
    channels: list[str] = []
    starts: list[tuple[datetime, bool]] = []
    ends: list[tuple[datetime, bool]] = []
    autobackup: str | None = None
    in_autobackup = False
    last_channel = ""
    expired: list[str] = []
    expect_name = False
    counts = {"Crosschecked": 0, "Deleted": 0}
    for line in lines:
        if m := _STARTING.match(line):
            starts.append(_parse_date(m[1]))
        elif m := _FINISHED.match(line):
            ends.append(_parse_date(m[1]))
        elif _AUTO_START.match(line):
            in_autobackup = True
        elif _AUTO_END.match(line):
            in_autobackup = False
        elif m := _CHANNEL.match(line):
            if m[1] not in channels:
                channels.append(m[1])
        elif m := _SET_START.match(line):
            sets[m[1]] = _Set(bool(m[4]), int(m[3]) if m[3] is not None else None)
            last_channel = m[1]
        elif _CF_IN_SET.match(line) and last_channel in sets:
            sets[last_channel].controlfile = True
        elif line.startswith("input datafile") and last_channel in sets:
            sets[last_channel].datafiles = True
        elif m := _FINISHED_PIECE.match(line):
            last_channel = m[1]
        elif m := _PIECE.match(line):
            pieces.append((m[1], m[2], last_channel, sets.get(last_channel)))
        elif m := _AUTO_PIECE.match(line):
            if not in_autobackup:
                raise UnreadableOutput("a backup piece without a tag outside the control file "
                                       "autobackup", line)
            autobackup = m[1]
        elif line.startswith("piece handle="):
            raise UnreadableOutput("unreadable 'piece handle=' line", line)
        elif m := _SET_DONE.match(line):
            done = sets.pop(m[1], None)
            if done is not None:
                done.elapsed = _elapsed(m[2])
        elif _EXPIRED.match(line) or _LOG_FAILED.match(line):
            expect_name = True
            continue
        elif expect_name and (m := _NAME_AFTER.match(line)):
            expired.append(m[1])
        elif m := _COUNT.match(line):
            counts[m[1]] += int(m[2])
        expect_name = False
    errors = _errors(text)
    complete = bool(_COMPLETE.search(text))
    if not (starts or counts["Crosschecked"] or counts["Deleted"] or errors or complete
            or autobackup):
        tail = [line for line in lines if line]
        raise UnreadableOutput("no RMAN backup, crosscheck, deletion or error in the output",
                               tail[-1] if tail else "(no output)")
    built = tuple(
        BackupPiece(handle=h, tag=t, channel=c, content=s.content if s else "unknown",
                    level=s.level if s else None, set_elapsed=s.elapsed if s else None)
        for h, t, c, s in pieces)
    started = starts[0] if starts else None
    finished = ends[-1] if ends else None
    # a run with a backup that did not finish has no meaningful duration
    elapsed = (finished[0] - started[0] if started and finished and started[1] and finished[1]
               and len(starts) == len(ends) else None)
    return BackupLog(
        rc=rc, pieces=built, tags=tuple(dict.fromkeys(p.tag for p in built)),
        started=started[0] if started else None, finished=finished[0] if finished else None,
        elapsed=elapsed, autobackup_piece=autobackup, expired=tuple(dict.fromkeys(expired)),
        deleted=counts["Deleted"], errors=errors, channels=tuple(channels),
        backups_started=len(starts), backups_finished=len(ends),
        crosschecked=counts["Crosschecked"], complete=complete)
