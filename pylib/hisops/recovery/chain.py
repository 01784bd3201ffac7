"""Which backup set, which chain and which WAL an emergency restore needs, from
``pgbackrest info --output=json``.

Pure functions of the tool's output, like :mod:`hisops.engines.postgres`, so the plan shown at
3 a.m. is decided here and tested against recorded outputs (tests/fixtures/pgbackrest/). The
selection mirrors what ``pgbackrest restore`` will do with ``--type`` and ``--set``; it refuses
rather than guesses when no backup can reach the target.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from hisops.engines.postgres import SEGMENTS_PER_XLOGID
from hisops.errors import InputError, PreconditionFailed

log = logging.getLogger(__name__)

BackupType = Literal["full", "diff", "incr"]
BACKUP_TYPES: tuple[BackupType, ...] = ("full", "diff", "incr")
TargetKind = Literal["latest", "time", "name", "xid"]
TARGET_KINDS: tuple[TargetKind, ...] = ("latest", "time", "name", "xid")

# Restored size = info.size (the cluster as the backup saw it) plus this margin:
# - pg_wal fills during recovery up to max_wal_size before restartpoints recycle it, and
#   PostgreSQL's default max_wal_size is 1 GB; below that a small database would not fit.
# - WAL replay re-applies everything written after the backup, so the cluster ends larger
#   than info.size by what it grew since the backup. info cannot say how much (it names WAL
#   segments, and WAL volume overstates growth by its full-page images), so 10 % stands for
#   several days of growth plus filesystem overhead; the plan shows the figure so an
#   operator who knows the database grew more can see the shortfall before restoring.
DISK_MARGIN_FRACTION = 0.10
DISK_MARGIN_MIN_BYTES = 1 << 30

_SEGMENT = re.compile(r"^[0-9A-F]{24}$")


class InfoFormatError(InputError):
    """``pgbackrest info --output=json`` printed something that is not its catalogue."""


class NoBackupForTarget(PreconditionFailed):
    """No backup set in the repository can reach the recovery target."""

    def __init__(self, target: RecoveryTarget, detail: str) -> None:
        self.target = target
        super().__init__("backup-reaches-target", detail)


# --- the catalogue -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Backup:
    """One backup set as ``pgbackrest info`` lists it."""

    label: str
    type: BackupType
    started_at: datetime
    stopped_at: datetime
    archive_start: str | None  # first WAL segment the backup needs
    archive_stop: str | None  # last one: replay must reach it for a consistent cluster
    lsn_start: str | None
    lsn_stop: str | None
    size: int  # the database cluster's size: what a restore writes
    delta: int  # what this backup itself copied
    repo_size: int  # the whole set in the repository (compressed)
    repo_delta: int
    prior: str | None
    references: tuple[str, ...]  # the earlier sets whose files a restore of this one reads
    database_id: int
    repo_key: int
    error: bool  # pgBackRest found page checksum errors while backing up


@dataclass(frozen=True)
class ArchiveRange:
    """The WAL a repository holds for one database id (one per PostgreSQL major/system id)."""

    database_id: int
    repo_key: int
    archive_id: str  # "15-1": version-db id, the repository's archive folder
    min: str | None
    max: str | None


@dataclass(frozen=True)
class StanzaInfo:
    name: str
    status_code: int
    status_message: str
    backups: tuple[Backup, ...]  # oldest first, by stop time
    archives: tuple[ArchiveRange, ...]

    def backup(self, label: str) -> Backup | None:
        return next((b for b in self.backups if b.label == label), None)

    def archive_for(self, backup: Backup) -> ArchiveRange | None:
        return next((a for a in self.archives if a.database_id == backup.database_id
                     and a.repo_key == backup.repo_key), None)


def parse_info(text: str) -> list[StanzaInfo]:
    """Every stanza in ``pgbackrest info --output=json``."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InfoFormatError(f"pgbackrest info did not print JSON: {exc}") from exc
    if not isinstance(data, list):
        raise InfoFormatError("pgbackrest info JSON is not a list of stanzas")
    return [_stanza(raw, i) for i, raw in enumerate(data)]


def stanza_info(text: str, name: str) -> StanzaInfo:
    """The stanza NAME from ``pgbackrest info --output=json``; an error naming those present."""
    stanzas = parse_info(text)
    for one in stanzas:
        if one.name == name:
            return one
    present = ", ".join(s.name for s in stanzas) or "none"
    raise InfoFormatError(f"stanza {name!r} is not in pgbackrest info (stanzas: {present})")


def _stanza(raw: Any, index: int) -> StanzaInfo:
    where = f"stanza[{index}]"
    obj = _mapping(raw, where)
    status = _mapping(obj.get("status") or {}, f"{where}.status")
    backups = [_backup(b, f"{where}.backup[{i}]")
               for i, b in enumerate(_list(obj.get("backup"), f"{where}.backup"))]
    archives = [_archive(a, f"{where}.archive[{i}]")
                for i, a in enumerate(_list(obj.get("archive"), f"{where}.archive"))]
    return StanzaInfo(
        name=str(obj.get("name") or ""), status_code=int(status.get("code") or 0),
        status_message=str(status.get("message") or ""),
        backups=tuple(sorted(backups, key=lambda b: (b.stopped_at, b.label))),
        archives=tuple(archives))


def _backup(raw: Any, where: str) -> Backup:
    obj = _mapping(raw, where)
    try:
        kind = str(obj["type"])
        if kind not in BACKUP_TYPES:
            raise InfoFormatError(f"{where}.type: unknown backup type {kind!r}")
        stamp = _mapping(obj["timestamp"], f"{where}.timestamp")
        info = _mapping(obj["info"], f"{where}.info")
        repo = _mapping(info.get("repository") or {}, f"{where}.info.repository")
        archive = _mapping(obj.get("archive") or {}, f"{where}.archive")
        lsn = _mapping(obj.get("lsn") or {}, f"{where}.lsn")
        database = _mapping(obj.get("database") or {}, f"{where}.database")
        return Backup(
            label=str(obj["label"]), type=kind,  # narrowed by the check above
            started_at=_epoch(stamp["start"]), stopped_at=_epoch(stamp["stop"]),
            archive_start=_opt(archive.get("start")), archive_stop=_opt(archive.get("stop")),
            lsn_start=_opt(lsn.get("start")), lsn_stop=_opt(lsn.get("stop")),
            size=int(info["size"]), delta=int(info.get("delta") or 0),
            repo_size=int(repo.get("size") or 0), repo_delta=int(repo.get("delta") or 0),
            prior=_opt(obj.get("prior")),
            # null for a full backup, a list of labels otherwise
            references=tuple(str(r) for r in obj.get("reference") or ()),
            database_id=int(database.get("id") or 0),
            # repo-key appeared with multi-repository support (2.33); before, repo 1
            repo_key=int(database.get("repo-key") or 1),
            error=obj.get("error") is True)
    except (KeyError, TypeError, ValueError) as exc:
        raise InfoFormatError(f"{where}: not a pgbackrest backup entry ({exc!r})") from exc


def _archive(raw: Any, where: str) -> ArchiveRange:
    obj = _mapping(raw, where)
    database = _mapping(obj.get("database") or {}, f"{where}.database")
    return ArchiveRange(database_id=int(database.get("id") or 0),
                        repo_key=int(database.get("repo-key") or 1),
                        archive_id=str(obj.get("id") or ""),
                        min=_opt(obj.get("min")), max=_opt(obj.get("max")))


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InfoFormatError(f"{where}: expected an object, got {type(value).__name__}")
    return value


def _list(value: Any, where: str) -> Sequence[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InfoFormatError(f"{where}: expected a list, got {type(value).__name__}")
    return value


def _opt(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _epoch(value: Any) -> datetime:
    return datetime.fromtimestamp(float(value), tz=UTC)


# --- WAL segment names ---------------------------------------------------------------------------


def segment_position(name: str) -> tuple[int, int, int]:
    """Order key of a WAL segment name (TTTTTTTT LLLLLLLL SSSSSSSS, hex).

    Plain string order would put timeline 2's segment 3 after timeline 1's segment 5; WAL
    position is the log and segment numbers, the timeline only breaks ties.
    """
    if not _SEGMENT.match(name):
        raise ValueError(f"not a WAL segment name: {name!r}")
    return int(name[8:16], 16), int(name[16:24], 16), int(name[0:8], 16)


# --- the target and the selection ----------------------------------------------------------------


@dataclass(frozen=True)
class RecoveryTarget:
    """Where recovery stops: pgBackRest's ``--type`` (default/time/name/xid) and ``--target``.

    ``time_hint`` is the operator's best knowledge of when a named restore point or a
    transaction happened: pgBackRest cannot map them to a backup, so without a hint the
    newest backup is chosen and the plan says the target must lie after it.
    """

    kind: TargetKind
    value: str = ""
    time_hint: datetime | None = None

    def __post_init__(self) -> None:
        if self.kind not in TARGET_KINDS:
            raise InputError(f"recovery target must be one of {', '.join(TARGET_KINDS)}, "
                             f"not {self.kind!r}", field="target")
        if self.kind != "latest" and not self.value.strip():
            raise InputError(f"a {self.kind} recovery target needs a value", field="target")
        if self.kind == "xid" and not self.value.strip().isdigit():
            raise InputError(f"a transaction id is a number, not {self.value!r}",
                             field="target")
        if self.kind == "time":
            self.at()  # refuse a bad or naive timestamp now, not when the restore starts
        if self.time_hint is not None and self.time_hint.tzinfo is None:
            raise InputError("the time hint needs a UTC offset", field="time_hint")

    def at(self) -> datetime:
        """The target time (kind ``time``), aware. A time without offset is refused: the
        database and the operator may not share a time zone, and daylight saving repeats an
        hour."""
        if self.kind != "time":
            raise ValueError(f"a {self.kind} target has no time")
        try:
            when = datetime.fromisoformat(self.value.strip())
        except ValueError as exc:
            raise InputError(f"recovery target time {self.value!r} is not an ISO 8601 "
                             "timestamp", field="target") from exc
        if when.tzinfo is None:
            raise InputError(f"recovery target time {self.value!r} has no UTC offset "
                             "(write it as 2026-11-26 05:44:00+08:00)", field="target")
        return when

    def describe(self) -> str:
        return "latest (end of archived WAL)" if self.kind == "latest" else (
            f"{self.kind} {self.value}")


def parse_target(text: str, *, time_hint: datetime | None = None) -> RecoveryTarget:
    """The target as an operator types it: ``latest``, an ISO 8601 time with its UTC offset,
    ``name:RESTORE_POINT`` or ``xid:TRANSACTION_ID``."""
    value = text.strip()
    if value in ("", "latest"):
        return RecoveryTarget("latest", time_hint=time_hint)
    for kind in ("name", "xid", "time"):
        if value.startswith(f"{kind}:"):
            return RecoveryTarget(kind, value[len(kind) + 1:].strip(), time_hint=time_hint)
    if value[:1].isdigit():
        return RecoveryTarget("time", value, time_hint=time_hint)
    raise InputError(f"{text!r} is not a recovery target: latest, an ISO time with its UTC "
                     "offset (2026-11-27 03:10:00+00:00), name:RESTORE_POINT or xid:NUMBER",
                     field="target")


@dataclass(frozen=True)
class WalRange:
    """The WAL a restore of the selected backup replays."""

    archive_id: str | None
    start: str | None  # the backup's first segment
    consistent_at: str | None  # the backup's last segment: the earliest point to stop at
    archive_min: str | None
    archive_max: str | None  # the newest archived segment: the furthest recovery can reach

    @property
    def segments(self) -> int | None:
        """How many segments from START to ARCHIVE_MAX (16 MB each by default)."""
        if not self.start or not self.archive_max:
            return None
        first, last = segment_position(self.start), segment_position(self.archive_max)
        return max(0, (last[0] - first[0]) * SEGMENTS_PER_XLOGID + last[1] - first[1] + 1)


@dataclass(frozen=True)
class Selection:
    """What the restore needs and what stands in its way."""

    target: RecoveryTarget
    backup: Backup
    chain: tuple[Backup, ...]  # full first, then the diff/incr sets the restore reads
    wal: WalRange
    disk_bytes: int
    problems: tuple[str, ...] = field(default=())  # reasons the restore may fail
    caveats: tuple[str, ...] = field(default=())  # things the operator must know

    @property
    def ok(self) -> bool:
        return not self.problems


def select_backup(info: StanzaInfo, target: RecoveryTarget) -> Selection:
    """The backup set, chain and WAL range a restore to TARGET needs.

    Raises NoBackupForTarget when no backup can reach it (none at all, or all end after a
    time target): recovery can never go back before a backup's end.
    """
    usable = info.backups
    if not usable:
        raise NoBackupForTarget(target, f"stanza {info.name!r} has no backup "
                                f"({info.status_message or 'no backups listed'})")
    newest = usable[-1]
    problems: list[str] = []
    caveats: list[str] = []
    if target.kind == "time":
        when = target.at()
        before = [b for b in usable if b.stopped_at <= when]
        if not before:
            raise NoBackupForTarget(target, f"the target {_ts(when)} is before the end of the "
                                    f"oldest backup {usable[0].label} "
                                    f"({_ts(usable[0].stopped_at)}); no backup can reach it")
        chosen = before[-1]
        if newest.stopped_at > when:
            # not a problem but an instruction: pgBackRest must be told --set, or it restores
            # the newest set and stops with "recovery ended before configured recovery target
            # was reached"; the operator must know that newer changes are discarded
            caveats.append(f"backup {newest.label} ended {_ts(newest.stopped_at)}, after the "
                           f"target {_ts(when)}: restore with --set={chosen.label}; all "
                           "changes after the target are discarded")
    elif target.kind == "latest":
        chosen = newest
    else:
        hint = target.time_hint
        before = [b for b in usable if hint is None or b.stopped_at <= hint]
        if not before:
            assert hint is not None  # noqa: S101 - an empty list needs a hint to filter
            raise NoBackupForTarget(target, f"the {target.kind} target is said to lie at "
                                    f"{_ts(hint)}, before the end of the oldest backup "
                                    f"{usable[0].label} ({_ts(usable[0].stopped_at)})")
        chosen = before[-1]
        # PostgreSQL cannot tell where a restore point or xid lies until replay meets it
        caveats.append(f"the {target.kind} target {target.value!r} must lie after "
                       f"{chosen.label} ended ({_ts(chosen.stopped_at)}); if it is older, "
                       "recovery reaches the end of WAL without finding it and fails")
    chain, broken = _chain(info, chosen)
    problems.extend(broken)
    wal, wal_problems = _wal(info, chosen)
    problems.extend(wal_problems)
    if info.status_code != 0:
        problems.append(f"stanza {info.name} status: {info.status_message} "
                        f"(code {info.status_code})")
    problems.extend(f"backup {b.label} has page checksum errors (pgbackrest info: error)"
                    for b in chain if b.error)
    if target.kind == "time":
        caveats.append("pgbackrest info names WAL segments, not times: whether archived WAL "
                       f"reaches {_ts(target.at())} is known only when replay gets there")
    log.debug("selected %s for %s (%d in chain)", chosen.label, target.describe(), len(chain))
    return Selection(target=target, backup=chosen, chain=chain, wal=wal,
                     disk_bytes=disk_needed(chosen), problems=tuple(problems),
                     caveats=tuple(caveats))


def disk_needed(backup: Backup) -> int:
    """Bytes the restored cluster needs on the target host (see DISK_MARGIN_*)."""
    margin = max(int(backup.size * DISK_MARGIN_FRACTION), DISK_MARGIN_MIN_BYTES)
    return backup.size + margin


def _chain(info: StanzaInfo, chosen: Backup) -> tuple[tuple[Backup, ...], list[str]]:
    # ``reference`` lists every earlier set whose files the manifest points at: exactly what
    # a restore reads (an incr may skip a diff when no file of it survived)
    found, missing = [], []
    for label in chosen.references:
        ref = info.backup(label)
        if ref is None:
            missing.append(label)
        else:
            found.append(ref)
    problems = [f"backup {chosen.label} references {label}, which the repository no longer "
                "lists" for label in missing]
    if chosen.type != "full" and not any(b.type == "full" for b in found) and not missing:
        problems.append(f"{chosen.type} backup {chosen.label} references no full backup")
    chain = tuple(sorted(found, key=lambda b: (b.stopped_at, b.label))) + (chosen,)
    return chain, problems


def _wal(info: StanzaInfo, chosen: Backup) -> tuple[WalRange, list[str]]:
    archive = info.archive_for(chosen)
    wal = WalRange(archive_id=archive.archive_id if archive else None,
                   start=chosen.archive_start, consistent_at=chosen.archive_stop,
                   archive_min=archive.min if archive else None,
                   archive_max=archive.max if archive else None)
    problems = []
    if archive is None or archive.max is None:
        problems.append(f"no WAL archived for database id {chosen.database_id} "
                        f"(repo {chosen.repo_key}): {chosen.label} cannot be made consistent")
    elif chosen.archive_stop is None:
        problems.append(f"backup {chosen.label} records no stop WAL segment: whether the "
                        "archive makes it consistent cannot be checked")
    elif segment_position(archive.max) < segment_position(chosen.archive_stop):
        problems.append(f"archive gap: the newest archived WAL {archive.max} is older than "
                        f"{chosen.archive_stop}, which {chosen.label} needs to be consistent")
    if (archive is not None and archive.min is not None and chosen.archive_start is not None
            and segment_position(archive.min) > segment_position(chosen.archive_start)):
        problems.append(f"archive gap: the oldest archived WAL {archive.min} is newer than "
                        f"{chosen.archive_start}, where {chosen.label} starts")
    return wal, problems


def _ts(when: datetime) -> str:
    return f"{when.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
