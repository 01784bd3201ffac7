"""The emergency-restore plan: what an engineer reads at 3 a.m. before anything happens.

It composes the pure parts of :mod:`hisops.recovery` (the backup chain and WAL, the ETA from
earlier drills, the level-1 clock) with the disk on the target host, the hosts the restore
touches and the ordered steps it will run. Nothing here touches a host either: the plan is
decided and shown first, so the engineer can see a shortfall or a missed deadline while
there is still time to act on it.
"""

from __future__ import annotations

import logging
import shlex
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from hisops.errors import InputError
from hisops.recovery.chain import Backup, RecoveryTarget, Selection, StanzaInfo, select_backup
from hisops.recovery.clock import IncidentClock, incident_clock, render_clock, span
from hisops.recovery.eta import DrillTiming, Eta, estimate

log = logging.getLogger(__name__)

RestoreMode = Literal["in-place", "new-host"]
RESTORE_MODES: tuple[RestoreMode, ...] = ("in-place", "new-host")
DiskStatus = Literal["enough", "short", "unknown"]
# the repository is read during the restore and receives the new timeline's WAL after it
Access = Literal["write", "read-only", "read, then archive", "configure, archive"]

_WIDTH = 78  # render(): fits a terminal split in two and a phone's landscape screen
_GB = 1_000_000_000  # decimal, like the MB/s of hisops.recovery.eta


@dataclass(frozen=True)
class DiskCheck:
    """Free space on the target host against what the restored cluster needs."""

    needed_bytes: int
    free_bytes: int | None  # None: not measured

    @property
    def status(self) -> DiskStatus:
        if self.free_bytes is None:
            return "unknown"
        return "enough" if self.free_bytes >= self.needed_bytes else "short"

    @property
    def shortfall_bytes(self) -> int:
        if self.free_bytes is None:
            return 0
        return max(0, self.needed_bytes - self.free_bytes)


@dataclass(frozen=True)
class HostTouch:
    """One host the restore reaches, and what it does there."""

    host: str
    role: Literal["target", "fenced", "standby", "repository"]
    access: Access
    what: str


@dataclass(frozen=True)
class Step:
    """One step of the procedure, in the order it runs."""

    id: str
    host: str
    description: str  # one line
    command: tuple[str, ...] = ()  # shown verbatim when the step is a single known command


@dataclass(frozen=True)
class RestorePlan:
    database: str
    stanza: str
    mode: RestoreMode
    drill: bool
    target_host: str
    standby_hosts: tuple[str, ...]
    selection: Selection
    disk: DiskCheck
    hosts: tuple[HostTouch, ...]
    eta: Eta
    clock: IncidentClock
    steps: tuple[Step, ...]
    problems: tuple[str, ...]  # reasons the restore would fail as planned
    caveats: tuple[str, ...]  # what the engineer must know or do besides the steps

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def target(self) -> RecoveryTarget:
        return self.selection.target

    @property
    def restore_command(self) -> tuple[str, ...]:
        """The ``pgbackrest restore`` line the restore step runs (derived, never stored)."""
        return restore_command(self.stanza, self.selection)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types only; times in ISO 8601, UTC."""
        sel, clock = self.selection, self.clock
        return {
            "database": self.database, "stanza": self.stanza, "mode": self.mode,
            "drill": self.drill, "ok": self.ok, "problems": list(self.problems),
            "caveats": list(self.caveats),
            "target": {"kind": sel.target.kind, "value": sel.target.value,
                       "time_hint": _iso(sel.target.time_hint),
                       "described": sel.target.describe()},
            "target_host": self.target_host, "standby_hosts": list(self.standby_hosts),
            "backup": _backup_dict(sel.backup),
            "chain": [_backup_dict(b) for b in sel.chain],
            "wal": {"archive_id": sel.wal.archive_id, "start": sel.wal.start,
                    "consistent_at": sel.wal.consistent_at,
                    "archive_min": sel.wal.archive_min, "archive_max": sel.wal.archive_max,
                    "segments": sel.wal.segments},
            "disk": {"needed_bytes": self.disk.needed_bytes,
                     "free_bytes": self.disk.free_bytes, "status": self.disk.status,
                     "shortfall_bytes": self.disk.shortfall_bytes},
            "hosts": [{"host": h.host, "role": h.role, "access": h.access, "what": h.what}
                      for h in self.hosts],
            "eta": {"seconds": self.eta.seconds, "reason": self.eta.reason,
                    "drills": self.eta.drills,
                    "throughput_bytes_per_s": self.eta.throughput,
                    "restore_s": self.eta.restore_s, "recovery_s": self.eta.recovery_s,
                    "checks_s": self.eta.checks_s, "procedure_s": self.eta.procedure_s},
            "clock": clock.to_dict(),
            "steps": [{"number": n, "id": s.id, "host": s.host,
                       "description": s.description, "command": list(s.command)}
                      for n, s in enumerate(self.steps, 1)],
            "restore_command": list(self.restore_command),
        }

    def render(self) -> str:
        """The plan in English, short lines; problems first, in capitals, before anything."""
        lines: list[str] = []
        if self.problems:
            many = "PROBLEM" if len(self.problems) == 1 else "PROBLEMS"
            lines.append(f"!!! {len(self.problems)} {many}: DO NOT RESTORE AS PLANNED !!!")
            for problem in self.problems:
                lines.extend(_wrap(problem, "  ! ", "    "))
            lines.append("")
        kind = "DRILL (rehearsal, no real incident)" if self.drill else "EMERGENCY RESTORE"
        lines.append(f"{kind} PLAN: {self.database} (stanza {self.stanza}), {self.mode}")
        lines.append(f"Target: {self.target.describe()}")
        lines.append(f"Status: {'ready' if self.ok else 'NOT READY'}")
        lines.append("")
        sel = self.selection
        lines.append(f"Backup: {sel.backup.label} ({sel.backup.type}), "
                     f"size {_size(sel.backup.size)}")
        lines.append("Chain the restore reads (oldest first):")
        lines.extend(f"  {b.label}  {b.type:<4}  ended {_utc(b.stopped_at)}" for b in sel.chain)
        wal = sel.wal
        segments = wal.segments
        lines.append(f"WAL: {wal.start or '?'} .. {wal.archive_max or '?'} "
                     f"({segments if segments is not None else '?'} segments at most)")
        lines.append(f"  consistent at {wal.consistent_at or '?'}; "
                     f"archive {wal.archive_id or '?'}")
        lines.append("")
        lines.append(_disk_line(self.disk, self.target_host))
        lines.append("Hosts touched:")
        for h in self.hosts:
            lines.extend(_wrap(f"{h.host} [{h.role}, {h.access}]: {h.what}", "  ", "    "))
        lines.append("")
        if self.eta.seconds is None:
            lines.extend(_wrap(f"ETA: unknown: {self.eta.reason}", "", "  "))
        else:
            lines.append(f"ETA: {span(self.clock.eta)}")
            lines.extend(_wrap(self.eta.reason, "  ", "  "))
        lines.append(render_clock(self.clock))
        lines.append("")
        lines.append("Steps:")
        for n, step in enumerate(self.steps, 1):
            lines.extend(_wrap(f"{step.description}", f"{n:>2}. [{step.host}] ", "      "))
            if step.command:  # never wrapped: a quoted --target must survive copy and paste
                lines.append(f"      $ {shlex.join(step.command)}")
        if self.caveats:
            lines.append("")
            lines.append("Know before you start:")
            for caveat in self.caveats:
                lines.extend(_wrap(caveat, "  - ", "    "))
        return "\n".join(lines)


def build_plan(*, database: str, stanza: StanzaInfo, target: RecoveryTarget,
               mode: RestoreMode, target_host: str, standby_hosts: Sequence[str],
               incident_at: datetime, now: datetime, drills: Sequence[DrillTiming],
               free_bytes: int | None, drill: bool,
               procedure_s: Sequence[float] = (), primary: str | None = None) -> RestorePlan:
    """The plan to restore DATABASE from STANZA to TARGET on TARGET_HOST.

    Raises InputError for bad arguments and NoBackupForTarget when no backup can reach the
    target. A plan whose ETA misses a deadline is still the plan to run (there is no faster
    one), so that is a caveat to escalate, not a problem; problems are what would make the
    restore fail: a broken chain, an archive gap, too little disk.
    """
    standbys = _check_hosts(database, mode, target_host, standby_hosts, free_bytes)
    selection = select_backup(stanza, target)
    disk = DiskCheck(selection.disk_bytes, free_bytes)
    eta = estimate(selection.backup.size, drills, procedure_s)
    clock = incident_clock(incident_at, now, eta.seconds)
    restore = restore_command(stanza.name, selection)
    problems = list(selection.problems)
    if disk.status == "short":
        problems.append(f"not enough disk on {target_host}: {_size(disk.free_bytes or 0)} "
                        f"free, the restore needs {_size(disk.needed_bytes)} "
                        f"(short by {_size(disk.shortfall_bytes)})")
    caveats = _caveats(selection, disk, clock, mode, target_host, drill)
    plan = RestorePlan(
        database=database, stanza=stanza.name, mode=mode, drill=drill,
        target_host=target_host, standby_hosts=standbys, selection=selection, disk=disk,
        hosts=_hosts(selection.backup, mode, target_host, standbys, primary),
        eta=eta, clock=clock,
        steps=_steps(selection, mode, target_host, standbys, restore, primary),
        problems=tuple(problems), caveats=tuple(caveats))
    log.info("restore plan for %s: %s on %s, %d problems", database, selection.backup.label,
             target_host, len(problems))
    return plan


def restore_command(stanza: str, selection: Selection) -> tuple[str, ...]:
    """The ``pgbackrest restore`` command line for SELECTION.

    ``--set`` is always given: for a time target pgBackRest would otherwise restore the newest
    set and fail with "recovery ended before configured recovery target was reached"; for the
    others it pins the set the plan was judged on. ``--target-action=promote`` because
    pgBackRest's default (pause) would leave a read-only cluster waiting at 3 a.m.
    """
    target = selection.target
    args = ["pgbackrest", f"--stanza={stanza}", f"--set={selection.backup.label}"]
    if target.kind == "latest":
        args.append("--type=default")  # replay to the end of the archived WAL
    else:
        args += [f"--type={target.kind}", f"--target={target.value}",
                 "--target-action=promote"]
    args.append("restore")
    return tuple(args)


# --- the parts -----------------------------------------------------------------------------------


def _check_hosts(database: str, mode: str, target_host: str, standby_hosts: Sequence[str],
                 free_bytes: int | None) -> tuple[str, ...]:
    if not database.strip():
        raise InputError("the database to restore needs a name", field="database")
    if mode not in RESTORE_MODES:
        raise InputError(f"restore mode must be one of {', '.join(RESTORE_MODES)}, "
                         f"not {mode!r}", field="mode")
    if not target_host.strip():
        raise InputError("the restore needs a target host", field="target_host")
    standbys = tuple(standby_hosts)
    if target_host in standbys:
        raise InputError(f"{target_host} is both the target and a standby", field="standby")
    if len(set(standbys)) != len(standbys):
        raise InputError(f"a standby is listed twice: {', '.join(standbys)}", field="standby")
    if free_bytes is not None and free_bytes < 0:
        raise InputError(f"free bytes cannot be negative: {free_bytes}", field="free_bytes")
    return standbys


def _hosts(backup: Backup, mode: RestoreMode, target_host: str,
           standbys: tuple[str, ...], primary: str | None = None) -> tuple[HostTouch, ...]:
    what = ("the damaged primary: stopped, its data directory set aside, restored in place"
            if mode == "in-place" else
            "new primary: restored into an empty data directory, then clients re-pointed")
    hosts = [HostTouch(target_host, "target", "write", what)]
    if mode == "new-host":
        hosts.append(HostTouch(primary or "the damaged primary", "fenced", "write",
                               "stopped if it answers; its data is not touched"))
    hosts += [HostTouch(s, "standby", "write",
                        f"rebuilt from the restored primary and re-pointed to {target_host}")
              for s in standbys]
    repo_what = ("backup sets and archived WAL are read; once the restored primary opens, WAL "
                 "of its new timeline is archived (never the running timeline's)")
    if mode == "new-host":
        repo_what += "; its stanza is pointed at the new primary"
    hosts.append(HostTouch(f"pgBackRest repo{backup.repo_key}", "repository",
                           "read, then archive" if mode == "in-place" else "configure, archive",
                           repo_what))
    return tuple(hosts)


def _steps(selection: Selection, mode: RestoreMode, target_host: str,
           standbys: tuple[str, ...], restore: tuple[str, ...],
           primary: str | None = None) -> tuple[Step, ...]:
    """The emergency-restore runbook's steps, by the same ids (its journal and the timeline
    report use them)."""
    sel, wal = selection, selection.wal
    if mode == "in-place":
        steps = [
            Step("stop", target_host,
                 "Stop the damaged PostgreSQL instance so nothing writes while it is replaced"),
            Step("set_aside", target_host,
                 "Move its data directory aside (renamed, never deleted): evidence and a "
                 "way back"),
        ]
    else:
        steps = [
            Step("fence", primary or "the damaged primary",
                 "Fence the damaged primary: stop it if it answers (two primaries must never "
                 "write); if it is down, record how it was fenced (resume --skip-step fence "
                 "--reason)"),
            Step("stop", target_host, "Stop the instance on the new host, if one runs"),
            Step("prepare", target_host,
                 "Prepare the new host: its cluster (created on a spare), pgBackRest, SSH "
                 "trust, and the repository's stanza pointed at it"),
            Step("set_aside", target_host,
                 "Move the new host's data directory aside (renamed, never deleted)"),
        ]
    chain = " + ".join(b.type for b in sel.chain)  # the labels are listed above the steps
    steps.append(Step("restore", target_host,
                      f"Restore the chain ({chain}) into the emptied data directory with "
                      "pgBackRest, archiving off", restore))
    until = "to the end of archived WAL" if sel.target.kind == "latest" else (
        f"to {sel.target.describe()}")
    steps.append(Step("recover", target_host,
                      f"Start PostgreSQL closed to clients (no TCP listener), replay WAL from "
                      f"{wal.start or '?'} {until}, then promote to a new timeline"))
    steps.append(Step("checks", target_host,
                      "Check before anyone writes: pg_amcheck over every heap and index, the "
                      "application's smoke queries"))
    steps.append(Step("open", target_host,
                      "Prove the new timeline is not in the archive, archive again on it, "
                      "open to the applications" + (
                          " (same address: clients reconnect)" if mode == "in-place" else
                          f"; re-point the applications' connections to {target_host}")))
    if standbys:
        # they replayed WAL past what the restore keeps, so they cannot follow the new
        # timeline: rebuilding is the only way, whichever the target
        steps.append(Step("standby", ", ".join(standbys),
                          f"Rebuild each standby from the restored primary (its data set "
                          f"aside), until it streams from {target_host}"))
    replication = "standby replication, " if standbys else ""
    steps.append(Step("post_checks", target_host,
                      f"Post-checks: {replication}replication slots, smoke queries; then the "
                      "timeline report: each step against the clock, the data lost, what "
                      "remains"))
    return tuple(steps)


def _caveats(selection: Selection, disk: DiskCheck, clock: IncidentClock, mode: RestoreMode,
             target_host: str, drill: bool) -> list[str]:
    caveats: list[str] = []
    resolve = clock.deadline("resolve")
    if resolve is not None and resolve.met_by_plan is False:
        # first: escalating takes time the engineer does not have later
        caveats.append(f"the ETA ends after the {clock.level.name()} resolve deadline "
                       f"({span(-clock.spare) if clock.spare is not None else '?'} late): "
                       "escalate now")
    if clock.eta is None:
        caveats.append("no ETA: whether the restore meets the solution and resolve "
                       "deadlines cannot be judged")
    caveats.extend(selection.caveats)
    if disk.status == "unknown":
        caveats.append(f"free space on {target_host} is unknown: check it before restoring "
                       f"(needs {_size(disk.needed_bytes)})")
    if mode == "in-place":
        caveats.append("the set-aside data directory keeps its space: the free space must "
                       "be measured with it still there")
    else:
        caveats.append("the damaged primary is not touched: fence it (stop it or block its "
                       "port) before clients are re-pointed, or two primaries take writes")
    if drill and mode == "in-place":
        caveats.append(f"a drill in place stops and replaces the database on {target_host}: "
                       "it must not be a production host")
    return caveats


# --- text ----------------------------------------------------------------------------------------


def _disk_line(disk: DiskCheck, host: str) -> str:
    needed = _size(disk.needed_bytes)
    if disk.free_bytes is None:
        return f"Disk on {host}: needs {needed}, free unknown"
    free = _size(disk.free_bytes)
    if disk.status == "short":
        return f"Disk on {host}: needs {needed}, free {free}: SHORT"
    return f"Disk on {host}: needs {needed}, free {free}: enough"


def _wrap(text: str, first: str, rest: str) -> list[str]:
    return textwrap.wrap(text, _WIDTH, initial_indent=first, subsequent_indent=rest,
                         break_on_hyphens=False) or [first.rstrip()]


def _size(n: int) -> str:
    return f"{n / _GB:.1f} GB" if n >= _GB else f"{n / 1e6:.1f} MB"


def _utc(when: datetime) -> str:
    return f"{when.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def _iso(when: datetime | None) -> str | None:
    return when.astimezone(UTC).isoformat() if when is not None else None


def _backup_dict(b: Backup) -> dict[str, Any]:
    return {"label": b.label, "type": b.type, "started_at": _iso(b.started_at),
            "stopped_at": _iso(b.stopped_at), "size_bytes": b.size,
            "repo_key": b.repo_key}
