"""What every database engine offers the backup and restore-drill runbooks.

The roles do the work on the hosts (pgBackRest, RMAN); this package turns what those tools print
into typed facts: the backup sets a repository holds, the findings of a verification, and the
drill evidence the journal keeps. PostgreSQL and Oracle implement the same interface so one
``verify-backup`` runbook shape fits both (see ``postgres.py``, ``oracle.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol


class BackupKind(StrEnum):
    FULL = "full"
    DIFFERENTIAL = "diff"  # pgBackRest diff; RMAN incremental level 1 differential
    INCREMENTAL = "incr"  # pgBackRest incr; RMAN incremental level 1 cumulative/differential
    ARCHIVELOG = "archivelog"  # RMAN archived-log backup sets
    CONTROLFILE = "controlfile"  # RMAN control file / spfile autobackups


class Severity(StrEnum):
    ERROR = "error"  # the backup cannot be trusted: the drill fails
    WARNING = "warning"  # worth a look, the drill still passes


@dataclass(frozen=True)
class BackupSet:
    """One backup a repository holds, as the engine's own catalogue describes it."""

    label: str  # pgBackRest label (20261126-053000F) or RMAN backup set key/tag
    kind: BackupKind
    started_at: datetime  # UTC
    finished_at: datetime  # UTC
    database_bytes: int  # size of the database the backup restores to
    stored_bytes: int  # size in the repository (after compression/deduplication)
    prior: str | None = None  # the backup this one depends on (diff/incr), None for full
    start_position: str = ""  # WAL segment / SCN where recovery must start
    stop_position: str = ""  # WAL segment / SCN the backup is consistent at
    error: bool = False  # the tool itself flagged the backup (pgBackRest "error": true)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind"] = self.kind.value
        data["started_at"] = self.started_at.isoformat()
        data["finished_at"] = self.finished_at.isoformat()
        return data


@dataclass(frozen=True)
class Finding:
    """One thing wrong with a backup or a restored copy, named precisely enough to act on."""

    check: str  # repository, wal, amcheck, content, smoke, preflight, restore, recovery
    subject: str  # a file, a WAL segment, a relation, a table, a datafile
    problem: str  # what is wrong, in the tool's terms
    severity: Severity = Severity.ERROR

    def one_line(self) -> str:
        where = f" {self.subject}:" if self.subject else ""
        return f"[{self.check}]{where} {self.problem}"

    def to_dict(self) -> dict[str, str]:
        return {"check": self.check, "subject": self.subject, "problem": self.problem,
                "severity": self.severity.value}


def errors(findings: Sequence[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity is Severity.ERROR]


def error_lines(findings: Sequence[Mapping[str, Any]]) -> list[str]:
    """The one-line messages of the error findings among published ones (finding dicts, as
    roles put them in their evidence): what a role fails with."""
    return [str(f.get("line") or f.get("problem")) for f in findings
            if f.get("severity", "error") == "error"]


@dataclass(frozen=True)
class ToolOutput:
    """What one command printed: the raw material every parser takes."""

    stdout: str
    stderr: str = ""
    rc: int = 0


class BackupEngine(Protocol):
    """Engine-specific knowledge the backup runbooks need; pure functions of tool output."""

    name: str  # "postgresql", "oracle"

    def backup_sets(self, listing: ToolOutput) -> list[BackupSet]:
        """The repository's catalogue: ``pgbackrest info --output=json`` / RMAN ``LIST BACKUP``."""
        ...

    def repository_findings(self, output: ToolOutput) -> list[Finding]:
        """Problems with the stored backup files and the logs recovery needs:
        ``pgbackrest verify`` / RMAN ``RESTORE DATABASE VALIDATE`` and ``RESTORE ... PREVIEW``."""
        ...

    def integrity_findings(self, output: ToolOutput) -> list[Finding]:
        """Logical or physical corruption in the restored copy: ``pg_amcheck`` / RMAN
        ``VALIDATE DATABASE`` plus ``v$database_block_corruption``."""
        ...


def select_backup(sets: Sequence[BackupSet], selector: str) -> BackupSet:
    """The backup a drill restores: ``latest``, a label, or an ISO time (newest set finished
    at or before it). Raises LookupError naming what exists when nothing matches."""
    usable = sorted((s for s in sets if not s.error and s.kind in RESTORABLE),
                    key=lambda s: s.finished_at)
    if not usable:
        raise LookupError("the repository holds no restorable backup")
    if selector == "latest":
        return usable[-1]
    for backup in usable:
        if backup.label == selector:
            return backup
    try:
        when = datetime.fromisoformat(selector)
    except ValueError:
        labels = ", ".join(s.label for s in usable[-5:])
        raise LookupError(f"no backup labelled {selector!r} (newest: {labels})") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    before = [s for s in usable if s.finished_at <= when]
    if not before:
        raise LookupError(f"no backup finished at or before {when.isoformat()} "
                          f"(oldest finished {usable[0].finished_at.isoformat()})")
    return before[-1]


RESTORABLE = frozenset({BackupKind.FULL, BackupKind.DIFFERENTIAL, BackupKind.INCREMENTAL})


@dataclass(frozen=True)
class Timings:
    """Seconds spent in each phase of a drill; RTO is what a real restore would take."""

    restore_s: float
    recovery_s: float
    checks_s: float

    @property
    def rto_s(self) -> float:
        return self.restore_s + self.recovery_s + self.checks_s


@dataclass(frozen=True)
class DrillEvidence:
    """What one restore drill proved, as the journal keeps it and ``hisops backups`` shows it."""

    engine: str
    database: str  # stanza / DB_UNIQUE_NAME
    source_host: str
    scratch_host: str
    backup: BackupSet
    timings: Timings
    rpo_s: float | None  # age of the newest archived WAL/redo at drill time
    findings: tuple[Finding, ...] = field(default_factory=tuple)
    checks: dict[str, str] = field(default_factory=dict)  # check -> passed/failed/skipped

    @property
    def passed(self) -> bool:
        return not errors(self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "engine": self.engine, "database": self.database,
            "source_host": self.source_host, "scratch_host": self.scratch_host,
            "backup": self.backup.to_dict(),
            "restore_s": self.timings.restore_s, "recovery_s": self.timings.recovery_s,
            "checks_s": self.timings.checks_s, "rto_s": self.timings.rto_s,
            "rpo_s": self.rpo_s, "passed": self.passed,
            "findings": [f.to_dict() for f in self.findings], "checks": dict(self.checks),
        }
