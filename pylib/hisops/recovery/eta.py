"""How long a restore will take, from what earlier restore drills measured, and how much data
an incident lost.

The ETA is only ever a measurement scaled to this database's size: with no drill that timed
a restore of a known size there is no ETA and the reason says so. A made-up throughput at
3 a.m. would be worse than none: it would promise the contract's deadlines.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DrillTiming:
    """One restore drill's phases (``hisops.engines.postgres.drill_evidence``)."""

    label: str  # the backup it restored
    database_bytes: int | None
    restore_s: float | None  # pgbackrest restore: copying files
    recovery_s: float | None  # start to consistent: WAL replay
    checks_s: float | None  # repository verify, pg_amcheck, content and smoke queries

    @property
    def throughput(self) -> float | None:
        """Restore bytes per second; None unless both the size and the time are known."""
        if not self.database_bytes or not self.restore_s or self.restore_s <= 0:
            return None
        return self.database_bytes / self.restore_s


def drill_timings(drills: Iterable[Mapping[str, Any]],
                  backups: Iterable[Mapping[str, Any]] = ()) -> list[DrillTiming]:
    """Timings of the PASSED drills among DRILLS (journaled ``restore_drill`` evidence).

    The size restored is the drill's ``backup.database_bytes``, else the ``database_bytes``
    of the backup evidence with the same label. A failed drill is left out: its restore may
    have stopped half-way, and its time would understate the work.
    """
    sizes = {str(b.get("label")): _int(b.get("database_bytes")) for b in backups
             if b.get("label")}
    out = []
    for ev in drills:
        if ev.get("passed") is not True:
            continue
        raw = ev.get("backup")
        backup: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        label = str(backup.get("label") or "")
        size = _int(backup.get("database_bytes")) or sizes.get(label)
        out.append(DrillTiming(label=label, database_bytes=size,
                               restore_s=_num(ev.get("restore_s")),
                               recovery_s=_num(ev.get("recovery_s")),
                               checks_s=_num(ev.get("checks_s"))))
    return out


@dataclass(frozen=True)
class Eta:
    seconds: float | None  # None: no estimate, see reason
    reason: str
    drills: int = 0  # how many drills the estimate rests on
    throughput: float | None = None  # bytes/s, median over those drills
    restore_s: float | None = None
    recovery_s: float | None = None
    checks_s: float | None = None
    # the rest of the procedure (stop, set aside, open, standby rebuild, post-checks), median
    # of earlier emergency restores; None when none was measured
    procedure_s: float | None = None


def estimate(size_bytes: int, drills: Iterable[DrillTiming],
             procedure_s: Iterable[float] = ()) -> Eta:
    """ETA to restore SIZE_BYTES: size / median drill throughput + median recovery + median
    checks, plus the median time earlier emergency restores spent in their other steps
    (PROCEDURE_S). The median, not the mean: one drill slowed by a busy host should not
    move it."""
    if size_bytes <= 0:
        raise ValueError(f"the size to restore must be positive, not {size_bytes}")
    measured = [d for d in drills if d.throughput is not None]
    if not measured:
        return Eta(None, "no passed restore drill measured a restore of known size: run the "
                   "verify-backup runbook to measure one")
    rate = statistics.median(d.throughput for d in measured if d.throughput is not None)
    restore = size_bytes / rate
    # the drill replayed only the WAL up to its backup's consistency point; a restore to a
    # later target replays more, which this allowance does not cover (said in the reason)
    recovery = _median(d.recovery_s for d in measured)
    checks = _median(d.checks_s for d in measured)
    procedure = list(procedure_s)
    around = _median(procedure)
    total = restore + (recovery or 0.0) + (checks or 0.0) + (around or 0.0)
    many = "drill" if len(measured) == 1 else "drills"
    reason = (f"{len(measured)} {many}: median restore throughput {rate / 1e6:.1f} MB/s; "
              "replay of WAL beyond the backup's end is not included")
    if len(measured) == 1:
        reason += "; a single drill: the spread is unknown"
    if around is not None:
        reason += f"; the other steps: median of {len(procedure)} earlier emergency restore(s)"
    else:
        reason += ("; the other steps (stop, set aside, open, standby rebuild) are not "
                   "included: no earlier emergency restore was measured (run a --drill)")
    log.debug("eta %.0f s for %d bytes from %d drills", total, size_bytes, len(measured))
    return Eta(round(total, 1), reason, len(measured), rate, round(restore, 1), recovery,
               checks, None if around is None else round(around, 1))


def data_loss_window(reference: datetime, last_replayed: datetime | None) -> timedelta | None:
    """The RPO actually achieved: from the last replayed commit (or WAL) time to REFERENCE,
    the incident time, or the target time for a point-in-time restore.

    None when the last replayed time is unknown (a cluster with no commit since the backup
    reports none). Zero, never negative, when replay reached past the reference: a
    point-in-time restore stops there on purpose.
    """
    if last_replayed is None:
        return None
    if reference.tzinfo is None or last_replayed.tzinfo is None:
        raise ValueError("data loss window: both times need a UTC offset")
    return max(timedelta(0), reference - last_replayed)


def _median(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.median(known), 1) if known else None


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _int(value: Any) -> int | None:
    number = _num(value)
    return int(number) if number is not None else None
