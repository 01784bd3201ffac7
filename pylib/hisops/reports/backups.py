"""Backup and restore-drill status per database, folded from the journal's evidence records.

``hisops backups`` answers "could we restore this database, how long would it take, and when
did we last prove it?". Only a passed restore drill counts as proof; a backup is a claim.
Pure functions of journal records: nothing here reads hosts, prints or exits.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hisops.journal.records import EVIDENCE, RUN_STARTED, Record

log = logging.getLogger(__name__)

BACKUP = "backup"
RESTORE_DRILL = "restore_drill"
PREVIEW_ONLY = "preview"  # an Oracle drill mode that reads no backup piece

# A backup newer than the last verified restore gets this long to be drilled before it makes
# the database stale, so a nightly "backup, then verify-backup" schedule is never flagged in
# the hours between the two runs.
UNVERIFIED_GRACE_S = 86400.0


@dataclass(frozen=True)
class LastBackup:
    label: str
    kind: str
    finished_at: datetime
    database_bytes: int | None
    stored_bytes: int | None
    run_id: str
    host: str


@dataclass(frozen=True)
class VerifiedRestore:
    """The newest passed drill: the last time a backup was proved restorable."""

    label: str  # the backup that was restored
    drilled_at: datetime  # when the drill's evidence was journaled
    rto_s: float | None
    rpo_s: float | None
    restore_s: float | None
    recovery_s: float | None
    checks_s: float | None
    run_id: str
    scratch_host: str
    backup_finished_at: datetime | None = None  # of the restored backup


@dataclass(frozen=True)
class FailedDrill:
    drilled_at: datetime
    label: str
    finding: str  # the first error finding, on one line
    run_id: str


@dataclass(frozen=True)
class DatabaseBackupStatus:
    database: str
    engine: str
    as_of: datetime  # the "now" ages are measured from
    stale_after_s: float
    last_backup: LastBackup | None
    last_verified: VerifiedRestore | None
    last_drill_failed: FailedDrill | None  # None when the newest drill passed (or none ran)
    problems: list[str] = field(default_factory=list)

    @property
    def stale(self) -> bool:
        return bool(self.problems)

    def to_dict(self) -> dict[str, Any]:
        """JSON shape for ``hisops backups --json``: ISO-8601 UTC times, ages in seconds."""
        backup = verified = failed = None
        if self.last_backup is not None:
            b = self.last_backup
            backup = {"label": b.label, "kind": b.kind, "finished_at": _iso(b.finished_at),
                      "age_s": self._age(b.finished_at), "database_bytes": b.database_bytes,
                      "stored_bytes": b.stored_bytes, "run_id": b.run_id, "host": b.host}
        if self.last_verified is not None:
            v = self.last_verified
            verified = {"label": v.label, "drilled_at": _iso(v.drilled_at),
                        "age_s": self._age(v.drilled_at), "rto_s": v.rto_s, "rpo_s": v.rpo_s,
                        "restore_s": v.restore_s, "recovery_s": v.recovery_s,
                        "checks_s": v.checks_s, "run_id": v.run_id,
                        "scratch_host": v.scratch_host,
                        "backup_finished_at": _iso(v.backup_finished_at)
                        if v.backup_finished_at else None}
        if self.last_drill_failed is not None:
            f = self.last_drill_failed
            failed = {"label": f.label, "drilled_at": _iso(f.drilled_at),
                      "age_s": self._age(f.drilled_at), "finding": f.finding,
                      "run_id": f.run_id}
        return {"database": self.database, "engine": self.engine, "stale": self.stale,
                "problems": list(self.problems), "as_of": _iso(self.as_of),
                "stale_after_s": self.stale_after_s, "last_backup": backup,
                "last_verified": verified, "last_drill_failed": failed}

    def _age(self, when: datetime) -> float:
        return round((self.as_of - when).total_seconds(), 3)


def backup_overview(records: Iterable[Record], *, now: datetime, stale_after_s: float,
                    databases: Collection[str] | None = None,
                    unverified_grace_s: float = UNVERIFIED_GRACE_S,
                    ) -> list[DatabaseBackupStatus]:
    """One status per database that has evidence, sorted by name.

    ``databases`` restricts the overview to those names and reports a name with no evidence
    at all as stale, so that monitoring a database that was never backed up alerts.
    """
    now = _aware(now)
    by_db: dict[str, _Evidence] = {}
    for rec in _evidence_records(records):
        payload = rec.payload
        evidence = payload["evidence"]
        name = str(evidence.get("database") or payload.get("subject") or "")
        if not name:
            log.warning("journal record %s: evidence names no database; ignored", rec.seq)
            continue
        entry = by_db.setdefault(name, _Evidence())
        entry.engine = str(evidence.get("engine") or entry.engine)
        if payload.get("type") == BACKUP:
            backup = _backup(rec, evidence)
            if entry.backup is None or (backup.finished_at, rec.seq) >= (
                    entry.backup.finished_at, entry.backup_seq):
                entry.backup, entry.backup_seq = backup, rec.seq
        elif payload.get("type") == RESTORE_DRILL:
            if evidence.get("mode") == PREVIEW_ONLY:
                # RMAN's RESTORE ... PREVIEW lists what a restore would read and reads none of
                # it: a plan, not a proof (VALIDATE reads every piece; DUPLICATE restores)
                continue
            if evidence.get("passed") is True:
                entry.verified = _verified(rec, evidence)
                entry.failed = None
            else:
                entry.failed = _failed(rec, evidence)
    names = sorted(by_db if databases is None else set(databases))
    out = []
    for name in names:
        entry = by_db.get(name, _Evidence())
        out.append(DatabaseBackupStatus(
            database=name, engine=entry.engine, as_of=now, stale_after_s=stale_after_s,
            last_backup=entry.backup, last_verified=entry.verified,
            last_drill_failed=entry.failed,
            problems=_problems(entry, now, stale_after_s, unverified_grace_s)))
    return out


def human_age(seconds: float) -> str:
    """``40 s``, ``12 min``, ``5 h``, ``36 h``, ``9 d``: coarse, for how long ago."""
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{int(seconds)} s"
    for unit, size, below in (("min", 60, 90 * 60), ("h", 3600, 48 * 3600)):
        if seconds < below:
            return f"{_amount(seconds / size)} {unit}"
    return f"{_amount(seconds / 86400)} d"


def human_duration(seconds: float) -> str:
    """``4.2 s``, ``2 min 5 s``, ``1 h 3 min``: precise enough for an RTO."""
    if seconds < 10:
        return f"{_amount(seconds)} s"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return f"{secs} s"


@dataclass
class _Evidence:
    engine: str = ""
    backup: LastBackup | None = None
    backup_seq: int = -1
    verified: VerifiedRestore | None = None
    failed: FailedDrill | None = None


def _evidence_records(records: Iterable[Record]) -> list[Record]:
    """Well-formed evidence records in journal order, without those of check-mode runs."""
    ordered = sorted(records, key=lambda r: r.seq)
    check_runs = {r.run_id for r in ordered
                  if r.kind == RUN_STARTED and r.payload.get("check") is True}
    out = []
    for rec in ordered:
        if rec.kind != EVIDENCE or rec.run_id in check_runs:
            continue
        if not isinstance(rec.payload.get("evidence"), dict):
            log.warning("journal record %s: evidence is not an object; ignored", rec.seq)
            continue
        out.append(rec)
    return out


def _problems(entry: _Evidence, now: datetime, limit_s: float, grace_s: float) -> list[str]:
    limit = human_age(limit_s)
    problems: list[str] = []
    backup, verified, failed = entry.backup, entry.verified, entry.failed
    if backup is None:
        problems.append("no backup recorded")
    elif (age := (now - backup.finished_at).total_seconds()) > limit_s:
        problems.append(f"last backup {backup.label} is {human_age(age)} old (limit {limit})")
    if failed is not None:
        problems.append(f"last restore drill ({_short(failed.drilled_at)}, backup "
                        f"{failed.label or '?'}) failed: {failed.finding}")
    if verified is None:
        problems.append("no verified restore" + (" (no drill has passed)" if failed else
                                                 " (run the verify-backup runbook)"))
        return problems
    if (age := (now - verified.drilled_at).total_seconds()) > limit_s:
        problems.append(f"last verified restore is {human_age(age)} old (limit {limit})")
    if backup is not None and backup.label != verified.label:
        proved_until = verified.backup_finished_at or verified.drilled_at
        age = (now - backup.finished_at).total_seconds()
        if backup.finished_at > proved_until and age > grace_s:
            problems.append(f"last backup {backup.label} is {human_age(age)} old and newer "
                            f"than the last verified restore (of {verified.label}); it has "
                            "never been restored")
    return problems


def _backup(rec: Record, ev: dict[str, Any]) -> LastBackup:
    finished = _when(ev.get("finished_at")) or _when(rec.ts) or datetime.min.replace(tzinfo=UTC)
    return LastBackup(label=str(ev.get("label") or "?"), kind=str(ev.get("kind") or ""),
                      finished_at=finished, database_bytes=_int(ev.get("database_bytes")),
                      stored_bytes=_int(ev.get("stored_bytes")), run_id=rec.run_id,
                      host=str(ev.get("host") or rec.payload.get("subject") or ""))


def _verified(rec: Record, ev: dict[str, Any]) -> VerifiedRestore:
    raw = ev.get("backup")
    backup: dict[str, Any] = raw if isinstance(raw, dict) else {}
    restore, recovery, checks = (_num(ev.get(k)) for k in ("restore_s", "recovery_s",
                                                            "checks_s"))
    rto = _num(ev.get("rto_s"))
    if rto is None and None not in (restore, recovery, checks):
        rto = (restore or 0) + (recovery or 0) + (checks or 0)
    return VerifiedRestore(
        label=str(backup.get("label") or "?"), drilled_at=_drilled_at(rec), rto_s=rto,
        rpo_s=_num(ev.get("rpo_s")), restore_s=restore, recovery_s=recovery, checks_s=checks,
        run_id=rec.run_id, scratch_host=str(ev.get("scratch_host") or ""),
        backup_finished_at=_when(backup.get("finished_at")))


def _failed(rec: Record, ev: dict[str, Any]) -> FailedDrill:
    backup = ev.get("backup")
    label = str(backup.get("label") or "") if isinstance(backup, dict) else ""
    findings = [f for f in ev.get("findings") or [] if isinstance(f, dict)]
    chosen = next((f for f in findings if f.get("severity", "error") == "error"),
                  findings[0] if findings else None)
    if chosen is None:
        text = "no finding recorded"
    else:
        subject = f" {chosen['subject']}:" if chosen.get("subject") else ""
        text = f"[{chosen.get('check', '?')}]{subject} {chosen.get('problem', '')}".strip()
    return FailedDrill(drilled_at=_drilled_at(rec), label=label, finding=text,
                       run_id=rec.run_id)


def _drilled_at(rec: Record) -> datetime:
    return _when(rec.ts) or datetime.min.replace(tzinfo=UTC)


def _when(value: Any) -> datetime | None:
    """An aware UTC datetime from epoch seconds or ISO-8601 text; None if neither."""
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, int | float):
            return datetime.fromtimestamp(value, UTC)
        if isinstance(value, str) and value:
            return _aware(datetime.fromisoformat(value))
    except (ValueError, OverflowError, OSError):
        return None
    return None


def _aware(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _int(value: Any) -> int | None:
    number = _num(value)
    return None if number is None else int(number)


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat()


def _short(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _amount(value: float) -> str:
    if value >= 9.95:
        return str(round(value))
    return f"{value:.1f}".removesuffix(".0")
