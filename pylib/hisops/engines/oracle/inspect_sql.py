"""The Oracle inspection's questions: each area's query, its typed row and its converter.

A converter takes a tuple as python-oracledb thin mode returns it and gives a frozen dataclass,
or raises ``RowShapeError`` on any other shape. ``INSPECTION_SQL``, ``BINDS`` and ``CONVERTERS``
share their keys, so ``tests/oracle_live`` runs every query and feeds each row to its converter.
The rules that judge the rows, the snapshot and the reading are in :mod:`.inspect`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from hisops.engines.oracle.opatch import DATAGUARD_STATS_SQL, dataguard_stat_from_row

# the row checks the backup views' converters use: one wording for a row of the wrong shape
from hisops.engines.oracle.sql import RowShapeError, _int, _text, _width

Row = Sequence[Any]

# --- SQL ---------------------------------------------------------------------------------------

#: Role and open mode: a mounted standby answers fixed (v$) views only, not DBA_ views.
DATABASE_ROLE_SQL = "SELECT database_role, open_mode FROM v$database"

#: USED_PERCENT is of the size the tablespace can reach (autoextend and free storage included);
#: sizes are in blocks, turned into bytes with the tablespace's block size.
TABLESPACES_SQL = """
SELECT m.tablespace_name, t.contents, t.status,
       m.used_space * t.block_size, m.tablespace_size * t.block_size,
       ROUND(m.used_percent, 2)
  FROM dba_tablespace_usage_metrics m
  JOIN dba_tablespaces t ON t.tablespace_name = m.tablespace_name
 ORDER BY m.used_percent DESC, m.tablespace_name
""".strip()

#: The fast recovery area; the used percent is net of what Oracle may delete on its own
#: (obsolete backups, applied logs). No FRA configured: limit 0 and a NULL percent.
FRA_SQL = """
SELECT name, space_limit, space_used, space_reclaimable, number_of_files,
       CASE WHEN space_limit > 0
            THEN ROUND((space_used - space_reclaimable) * 100 / space_limit, 2) END
  FROM v$recovery_file_dest
""".strip()

#: Invalid objects of application schemas (ORACLE_MAINTAINED = 'N', 12c and later).
INVALID_OBJECTS_SQL = """
SELECT owner, object_type, COUNT(*)
  FROM dba_objects
 WHERE status = 'INVALID'
   AND oracle_maintained = 'N'
 GROUP BY owner, object_type
 ORDER BY owner, object_type
""".strip()

#: Alert log messages carrying an ORA- error in the last :days days (this instance's ADR home).
ALERT_LOG_SQL = """
SELECT originating_timestamp, message_level, message_text
  FROM v$diag_alert_ext
 WHERE originating_timestamp > SYSTIMESTAMP - NUMTODSINTERVAL(:days, 'DAY')
   AND message_text LIKE '%ORA-%'
 ORDER BY originating_timestamp
""".strip()

#: Gaps that block recovery on a standby (a primary returns none).
ARCHIVE_GAPS_SQL = """
SELECT thread#, low_sequence#, high_sequence#
  FROM v$archive_gap
 ORDER BY thread#, low_sequence#
""".strip()

#: RMAN jobs of the last :days days, newest first, each job's age computed on the server.
RMAN_JOBS_SQL = """
SELECT session_key, input_type, status, start_time, end_time, elapsed_seconds,
       input_bytes, output_bytes, ROUND((SYSDATE - end_time) * 86400)
  FROM v$rman_backup_job_details
 WHERE start_time > SYSDATE - :days
 ORDER BY start_time DESC
""".strip()

#: Sessions by status and processes in use, against the ``sessions`` / ``processes`` limits.
SESSIONS_SQL = """
SELECT (SELECT COUNT(*) FROM v$session),
       (SELECT COUNT(*) FROM v$session WHERE status = 'ACTIVE'),
       (SELECT COUNT(*) FROM v$session WHERE status = 'INACTIVE'),
       (SELECT TO_NUMBER(value) FROM v$parameter WHERE name = 'sessions'),
       (SELECT COUNT(*) FROM v$process),
       (SELECT TO_NUMBER(value) FROM v$parameter WHERE name = 'processes')
  FROM dual
""".strip()

#: Blocked sessions and who blocks them. The blocker is joined only when it is on this instance
#: (RAC: a blocker elsewhere has NULL columns 9-11); longest waits first.
BLOCKING_SQL = """
SELECT w.sid, w.serial#, w.username, w.sql_id, w.event, w.wait_class, w.seconds_in_wait,
       w.blocking_session, b.serial#, b.username, b.sql_id
  FROM v$session w
  LEFT OUTER JOIN v$session b
    ON b.sid = w.blocking_session
   AND w.blocking_instance = (SELECT instance_number FROM v$instance)
 WHERE w.blocking_session IS NOT NULL
 ORDER BY w.seconds_in_wait DESC, w.sid
""".strip()

#: The :top statements by elapsed time since they entered the cache (times in seconds).
TOP_SQL_SQL = """
SELECT sql_id, executions, ROUND(elapsed_time / 1e6, 2), ROUND(cpu_time / 1e6, 2),
       buffer_gets, disk_reads
  FROM v$sqlstats
 ORDER BY elapsed_time DESC
 FETCH FIRST :top ROWS ONLY
""".strip()

#: The newest datapatch action of each patch.
PATCHES_SQL = """
SELECT patch_id, action, status, action_time, description, target_version
  FROM (SELECT patch_id, action, status, action_time, description, target_version,
               ROW_NUMBER() OVER (PARTITION BY patch_id ORDER BY action_time DESC) AS newest
          FROM dba_registry_sqlpatch)
 WHERE newest = 1
 ORDER BY action_time
""".strip()

INSPECTION_SQL: dict[str, str] = {
    "database_role": DATABASE_ROLE_SQL,
    "tablespaces": TABLESPACES_SQL,
    "fra": FRA_SQL,
    "invalid_objects": INVALID_OBJECTS_SQL,
    "alert_log": ALERT_LOG_SQL,
    "dataguard": DATAGUARD_STATS_SQL,
    "archive_gaps": ARCHIVE_GAPS_SQL,
    "rman_jobs": RMAN_JOBS_SQL,
    "sessions": SESSIONS_SQL,
    "blocking": BLOCKING_SQL,
    "top_sql": TOP_SQL_SQL,
    "patches": PATCHES_SQL,
}

#: Default binds per query (every key of INSPECTION_SQL; {} when it takes none).
BINDS: dict[str, dict[str, int]] = {name: {} for name in INSPECTION_SQL} | {
    "alert_log": {"days": 7}, "rman_jobs": {"days": 7}, "top_sql": {"top": 10}}

#: Areas read from the data dictionary: unreadable on a mounted standby.
DICTIONARY_AREAS = ("tablespaces", "invalid_objects", "patches")


class Role(StrEnum):
    PRIMARY = "primary"
    PHYSICAL_STANDBY = "physical_standby"


# --- typed rows --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatabaseState:
    role: str  # V$DATABASE.DATABASE_ROLE: PRIMARY, PHYSICAL STANDBY, SNAPSHOT STANDBY, ...
    open_mode: str  # MOUNTED, READ WRITE, READ ONLY, READ ONLY WITH APPLY

    @property
    def dictionary_readable(self) -> bool:
        return self.open_mode.startswith("READ")


@dataclass(frozen=True)
class TablespaceUsage:
    name: str
    contents: str  # PERMANENT, UNDO, TEMPORARY (LOST WRITE PROTECTION from 18c)
    status: str  # ONLINE, OFFLINE, READ ONLY
    used_bytes: int
    max_bytes: int  # what it can grow to: autoextend maximum, bounded by free storage
    used_pct: float


@dataclass(frozen=True)
class FraUsage:
    name: str | None
    limit_bytes: int
    used_bytes: int
    reclaimable_bytes: int
    files: int
    net_used_pct: float | None  # None: no recovery area (limit 0)


@dataclass(frozen=True)
class InvalidObjects:
    owner: str
    object_type: str
    count: int


@dataclass(frozen=True)
class AlertMessage:
    at: datetime  # ORIGINATING_TIMESTAMP (python-oracledb drops its zone)
    level: int  # 1 critical, 2 severe, 8 important, 16 normal
    text: str

    @property
    def codes(self) -> list[str]:
        """ORA- codes in the message, five digits (``ORA-3136`` -> ``ORA-03136``)."""
        return [f"ORA-{int(n):05d}" for n in _ORA.findall(self.text)]


_ORA = re.compile(r"\bORA-(\d{1,5})\b")


@dataclass(frozen=True)
class ArchiveGap:
    thread: int
    low_sequence: int
    high_sequence: int


@dataclass(frozen=True)
class RmanJob:
    session_key: int
    input_type: str  # DB FULL, DB INCR, ARCHIVELOG, RECVR AREA, DATAFILE FULL, ...
    status: str  # COMPLETED, COMPLETED WITH WARNINGS/ERRORS, FAILED, RUNNING[ WITH ...]
    start_time: datetime
    end_time: datetime | None
    elapsed_seconds: float | None
    input_bytes: int
    output_bytes: int
    age_seconds: float | None  # SYSDATE - END_TIME on the server; None while running


@dataclass(frozen=True)
class SessionUsage:
    sessions: int
    active: int
    inactive: int
    sessions_limit: int
    processes: int
    processes_limit: int


@dataclass(frozen=True)
class BlockedSession:
    sid: int
    serial: int
    username: str | None  # None for background sessions
    sql_id: str | None
    event: str
    wait_class: str
    seconds_in_wait: int
    blocker_sid: int
    blocker_serial: int | None  # None: the blocker is on another RAC instance
    blocker_username: str | None
    blocker_sql_id: str | None


@dataclass(frozen=True)
class TopSql:
    sql_id: str
    executions: int
    elapsed_s: float
    cpu_s: float
    buffer_gets: int
    disk_reads: int

    @property
    def elapsed_per_exec_s(self) -> float:
        return self.elapsed_s / self.executions if self.executions else self.elapsed_s


@dataclass(frozen=True)
class SqlPatch:
    patch_id: int
    action: str  # APPLY, ROLLBACK
    status: str  # SUCCESS, WITH ERRORS, BEGIN, END
    action_time: datetime
    description: str
    target_version: str | None


# --- converters (pure) -------------------------------------------------------------------------



def _opt_num(what: str, row: Row, i: int) -> float | None:
    return None if row[i] is None else _num(what, row, i)


def _num(what: str, row: Row, i: int) -> float:
    value = row[i]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RowShapeError(what, row, f"column {i + 1} is not a number")
    return float(value)



def _opt_int(what: str, row: Row, i: int) -> int | None:
    return None if row[i] is None else _int(what, row, i)



def _opt_text(what: str, row: Row, i: int) -> str | None:
    return None if row[i] is None else _text(what, row, i)


def _when(what: str, row: Row, i: int) -> datetime:
    value = row[i]
    if not isinstance(value, datetime):
        raise RowShapeError(what, row, f"column {i + 1} is not a DATE/TIMESTAMP")
    return value


def database_state_from_row(row: Row) -> DatabaseState:
    what = "v$database"
    _width(what, row, 2)
    return DatabaseState(_text(what, row, 0), _text(what, row, 1))


def tablespace_from_row(row: Row) -> TablespaceUsage:
    what = "dba_tablespace_usage_metrics"
    _width(what, row, 6)
    return TablespaceUsage(_text(what, row, 0), _text(what, row, 1), _text(what, row, 2),
                           _int(what, row, 3), _int(what, row, 4), _num(what, row, 5))


def fra_from_row(row: Row) -> FraUsage:
    what = "v$recovery_file_dest"
    _width(what, row, 6)
    return FraUsage(_opt_text(what, row, 0), _int(what, row, 1), _int(what, row, 2),
                    _int(what, row, 3), _int(what, row, 4), _opt_num(what, row, 5))


def invalid_objects_from_row(row: Row) -> InvalidObjects:
    what = "dba_objects"
    _width(what, row, 3)
    return InvalidObjects(_text(what, row, 0), _text(what, row, 1), _int(what, row, 2))


def alert_message_from_row(row: Row) -> AlertMessage:
    what = "v$diag_alert_ext"
    _width(what, row, 3)
    return AlertMessage(_when(what, row, 0), _int(what, row, 1), _text(what, row, 2))


def archive_gap_from_row(row: Row) -> ArchiveGap:
    what = "v$archive_gap"
    _width(what, row, 3)
    return ArchiveGap(_int(what, row, 0), _int(what, row, 1), _int(what, row, 2))


def rman_job_from_row(row: Row) -> RmanJob:
    what = "v$rman_backup_job_details"
    _width(what, row, 9)
    end = row[4]
    if end is not None and not isinstance(end, datetime):
        raise RowShapeError(what, row, "column 5 is not a DATE")
    return RmanJob(
        session_key=_int(what, row, 0), input_type=_text(what, row, 1),
        status=_text(what, row, 2), start_time=_when(what, row, 3), end_time=end,
        elapsed_seconds=_opt_num(what, row, 5),
        input_bytes=_opt_int(what, row, 6) or 0, output_bytes=_opt_int(what, row, 7) or 0,
        age_seconds=_opt_num(what, row, 8))


def sessions_from_row(row: Row) -> SessionUsage:
    what = "v$session"
    _width(what, row, 6)
    return SessionUsage(*(_int(what, row, i) for i in range(6)))


def blocked_session_from_row(row: Row) -> BlockedSession:
    what = "v$session"
    _width(what, row, 11)
    return BlockedSession(
        sid=_int(what, row, 0), serial=_int(what, row, 1), username=_opt_text(what, row, 2),
        sql_id=_opt_text(what, row, 3), event=_text(what, row, 4),
        wait_class=_text(what, row, 5), seconds_in_wait=_int(what, row, 6),
        blocker_sid=_int(what, row, 7), blocker_serial=_opt_int(what, row, 8),
        blocker_username=_opt_text(what, row, 9), blocker_sql_id=_opt_text(what, row, 10))


def top_sql_from_row(row: Row) -> TopSql:
    what = "v$sqlstats"
    _width(what, row, 6)
    return TopSql(_text(what, row, 0), _int(what, row, 1), _num(what, row, 2),
                  _num(what, row, 3), _int(what, row, 4), _int(what, row, 5))


def sql_patch_from_row(row: Row) -> SqlPatch:
    what = "dba_registry_sqlpatch"
    _width(what, row, 6)
    return SqlPatch(_int(what, row, 0), _text(what, row, 1), _text(what, row, 2),
                    _when(what, row, 3), _opt_text(what, row, 4) or "", _opt_text(what, row, 5))


CONVERTERS: dict[str, Callable[[Row], object]] = {
    "database_role": database_state_from_row,
    "tablespaces": tablespace_from_row,
    "fra": fra_from_row,
    "invalid_objects": invalid_objects_from_row,
    "alert_log": alert_message_from_row,
    "dataguard": dataguard_stat_from_row,
    "archive_gaps": archive_gap_from_row,
    "rman_jobs": rman_job_from_row,
    "sessions": sessions_from_row,
    "blocking": blocked_session_from_row,
    "top_sql": top_sql_from_row,
    "patches": sql_patch_from_row,
}
