"""The SQL the Oracle backup runbooks ask of ``v$`` views, and typed rows for the answers.

Each query has two halves: a pure ``*_from_row`` converter (a tuple as python-oracledb returns it
-> a frozen dataclass) that unit tests feed with recorded tuples, and a thin I/O function taking
an open connection. Keeping them apart is what lets the parsing be tested here, where no Oracle
server runs, and lets ``tests/oracle_live`` prove against a real server that the queries still
return rows of the shape the converters expect.

Times: Oracle ``DATE`` columns carry no zone; python-oracledb returns them as naive datetimes in
the database host's clock. Ages (RPO, lag) are therefore computed *by the server*
(``SYSDATE - next_time``), never by comparing a server DATE with this machine's clock.

Connections use python-oracledb thin mode (no Oracle client install); ``oracledb`` is imported
lazily so importing this module costs nothing where Oracle is not used.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import oracledb

log = logging.getLogger(__name__)

Row = Sequence[Any]

# --- SQL ---------------------------------------------------------------------------------------

#: Recent RMAN jobs, newest first. ``FETCH FIRST`` needs Oracle 12c or later.
LAST_BACKUPS_SQL = """
SELECT session_key, input_type, status, start_time, end_time,
       input_bytes, output_bytes, elapsed_seconds
  FROM v$rman_backup_job_details
 WHERE start_time > SYSDATE - :days
 ORDER BY start_time DESC
 FETCH FIRST :max_rows ROWS ONLY
""".strip()

#: Blocks the last VALIDATE / BACKUP / RESTORE found corrupt (empty when all is well).
BLOCK_CORRUPTION_SQL = """
SELECT file#, block#, blocks, corruption_change#, corruption_type
  FROM v$database_block_corruption
 ORDER BY file#, block#
""".strip()

#: Newest archived log per redo thread of the current incarnation, with its age computed on the
#: server. A RAC database has one thread per instance; the RPO is the oldest of the newest.
ARCHIVE_LAG_SQL = """
SELECT thread#, MAX(sequence#), MAX(next_time),
       ROUND((SYSDATE - MAX(next_time)) * 86400)
  FROM v$archived_log
 WHERE resetlogs_change# = (SELECT resetlogs_change# FROM v$database)
   AND standby_dest = 'NO'
 GROUP BY thread#
 ORDER BY thread#
""".strip()

#: Data Guard lags; rows exist only on a standby (a primary returns none). Names are lower case
#: in 11g and later output, LOWER() keeps the filter independent of that.
DATAGUARD_LAG_SQL = """
SELECT name, value, unit, time_computed
  FROM v$dataguard_stats
 WHERE LOWER(name) IN ('apply lag', 'transport lag')
 ORDER BY name
""".strip()

ALL_SQL: dict[str, str] = {
    "last_backups": LAST_BACKUPS_SQL,
    "block_corruption": BLOCK_CORRUPTION_SQL,
    "archive_lag": ARCHIVE_LAG_SQL,
    "dataguard_lag": DATAGUARD_LAG_SQL,
}


class RowShapeError(ValueError):
    """A row does not have the shape a converter expects: the view changed or the SQL did."""

    def __init__(self, what: str, row: Row, reason: str) -> None:
        self.what, self.row, self.reason = what, tuple(row), reason
        super().__init__(f"{what}: {reason} in row {tuple(row)!r}")


# --- typed rows --------------------------------------------------------------------------------


@dataclass(frozen=True)
class BackupJob:
    """One RMAN job from ``v$rman_backup_job_details`` (times in the database host's clock)."""

    session_key: int
    input_type: str  # DB FULL, DB INCR, ARCHIVELOG, CONTROLFILE, DATAFILE FULL, ...
    status: str  # COMPLETED, COMPLETED WITH WARNINGS, FAILED, RUNNING, ...
    start_time: datetime
    end_time: datetime | None  # None while RUNNING
    input_bytes: int
    output_bytes: int
    elapsed_seconds: float | None

    @property
    def succeeded(self) -> bool:
        # COMPLETED WITH WARNINGS usually means archived logs were skipped: not a clean backup.
        return self.status == "COMPLETED"


@dataclass(frozen=True)
class BlockCorruption:
    """One range of corrupt blocks from ``v$database_block_corruption``."""

    file_no: int
    block_no: int
    blocks: int
    corruption_change: int  # 0 for media corruption, the SCN for logical/NOLOGGING
    corruption_type: str  # ALL ZERO, FRACTURED, CHECKSUM, CORRUPT, NOLOGGING, LOGICAL, ...


@dataclass(frozen=True)
class ArchiveLag:
    """The newest archived log of one redo thread and how old it is on the server's clock."""

    thread: int
    sequence: int
    next_time: datetime
    age_seconds: float


@dataclass(frozen=True)
class DataGuardLag:
    """``apply lag`` / ``transport lag`` on a standby; ``lag`` is None when Oracle has no value."""

    name: str
    lag: timedelta | None
    raw_value: str
    unit: str
    time_computed: str


# --- converters (pure) -------------------------------------------------------------------------


def _number(what: str, row: Row, index: int) -> int | float:
    value = row[index]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RowShapeError(what, row, f"column {index + 1} is not a number")
    return value


def _int(what: str, row: Row, index: int, *, nullable: bool = False) -> int:
    if row[index] is None and nullable:
        return 0
    value = _number(what, row, index)
    if isinstance(value, float) and not value.is_integer():
        raise RowShapeError(what, row, f"column {index + 1} is not a whole number")
    return int(value)


def _datetime(what: str, row: Row, index: int) -> datetime:
    value = row[index]
    if not isinstance(value, datetime):
        raise RowShapeError(what, row, f"column {index + 1} is not a DATE")
    return value


def _text(what: str, row: Row, index: int) -> str:
    value = row[index]
    if not isinstance(value, str):
        raise RowShapeError(what, row, f"column {index + 1} is not text")
    return value


def _width(what: str, row: Row, width: int) -> None:
    if len(row) != width:
        raise RowShapeError(what, row, f"expected {width} columns, got {len(row)}")


def backup_job_from_row(row: Row) -> BackupJob:
    what = "v$rman_backup_job_details"
    _width(what, row, 8)
    end = row[4]
    if end is not None and not isinstance(end, datetime):
        raise RowShapeError(what, row, "column 5 is not a DATE")
    elapsed = None if row[7] is None else _number(what, row, 7)
    return BackupJob(
        session_key=_int(what, row, 0), input_type=_text(what, row, 1),
        status=_text(what, row, 2), start_time=_datetime(what, row, 3), end_time=end,
        input_bytes=_int(what, row, 5, nullable=True),
        output_bytes=_int(what, row, 6, nullable=True),
        elapsed_seconds=None if elapsed is None else float(elapsed),
    )


def block_corruption_from_row(row: Row) -> BlockCorruption:
    what = "v$database_block_corruption"
    _width(what, row, 5)
    return BlockCorruption(
        file_no=_int(what, row, 0), block_no=_int(what, row, 1), blocks=_int(what, row, 2),
        corruption_change=_int(what, row, 3, nullable=True),
        corruption_type=_text(what, row, 4).strip(),
    )


def archive_lag_from_row(row: Row) -> ArchiveLag:
    what = "v$archived_log"
    _width(what, row, 4)
    age = _number(what, row, 3)
    return ArchiveLag(thread=_int(what, row, 0), sequence=_int(what, row, 1),
                      next_time=_datetime(what, row, 2), age_seconds=float(age))


# v$dataguard_stats.VALUE is an INTERVAL DAY TO SECOND printed as text: "+00 00:00:05".
_INTERVAL = re.compile(r"^\s*([+-])(\d+) (\d{1,2}):(\d{2}):(\d{2})(?:\.(\d+))?\s*$")


def parse_interval(text: str | None) -> timedelta | None:
    """``+DD HH:MI:SS[.FF]`` -> timedelta; None for an empty value (Oracle could not compute it).
    Any other text is an error: a lag we cannot read must not pass as zero."""
    if text is None or not text.strip():
        return None
    match = _INTERVAL.match(text)
    if not match:
        raise ValueError(f"not an INTERVAL DAY TO SECOND value: {text!r}")
    sign, days, hours, minutes, seconds, fraction = match.groups()
    value = timedelta(days=int(days), hours=int(hours), minutes=int(minutes),
                      seconds=int(seconds) + (float(f"0.{fraction}") if fraction else 0.0))
    return -value if sign == "-" else value


def dataguard_lag_from_row(row: Row) -> DataGuardLag:
    what = "v$dataguard_stats"
    _width(what, row, 4)
    raw = row[1]
    if raw is not None and not isinstance(raw, str):
        raise RowShapeError(what, row, "column 2 is not text")
    try:
        lag = parse_interval(raw)
    except ValueError as exc:
        raise RowShapeError(what, row, str(exc)) from None
    return DataGuardLag(name=_text(what, row, 0).lower(), lag=lag, raw_value=raw or "",
                        unit=row[2] or "", time_computed=row[3] or "")


def rpo_seconds(lags: Sequence[ArchiveLag]) -> float | None:
    """The data a total loss of the primary would cost now: the age of the newest archived log
    of the thread that lags most. None when the database has archived nothing (no RPO at all)."""
    return max((lag.age_seconds for lag in lags), default=None)


# --- I/O ---------------------------------------------------------------------------------------



def _fetch(conn: oracledb.Connection, sql: str, **binds: Any) -> list[tuple[Any, ...]]:
    with conn.cursor() as cursor:
        cursor.execute(sql, binds)
        rows: list[tuple[Any, ...]] = cursor.fetchall()
    return rows


def last_backups(conn: oracledb.Connection, *, days: int = 8,
                 max_rows: int = 100) -> list[BackupJob]:
    return [backup_job_from_row(r)
            for r in _fetch(conn, LAST_BACKUPS_SQL, days=days, max_rows=max_rows)]


def block_corruption(conn: oracledb.Connection) -> list[BlockCorruption]:
    return [block_corruption_from_row(r) for r in _fetch(conn, BLOCK_CORRUPTION_SQL)]


def archive_lag(conn: oracledb.Connection) -> list[ArchiveLag]:
    return [archive_lag_from_row(r) for r in _fetch(conn, ARCHIVE_LAG_SQL)]


def dataguard_lag(conn: oracledb.Connection) -> list[DataGuardLag]:
    return [dataguard_lag_from_row(r) for r in _fetch(conn, DATAGUARD_LAG_SQL)]
