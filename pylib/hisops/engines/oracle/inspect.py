"""The Oracle quarterly inspection: what it asks the database, and the rules that judge the answer.

Each area (tablespaces, recovery area, invalid objects, alert log, Data Guard lag and archive
gaps, RMAN jobs, sessions and blocking, top SQL, SQL patches) has a query and a pure
``*_from_row`` converter (a tuple as python-oracledb thin mode returns it -> a frozen dataclass,
RowShapeError on any other shape), both in :mod:`.inspect_sql` and re-exported here, and a pure
``judge_<area>(items, thresholds)`` here returning ``Finding``s.
:func:`collect` runs the queries on one connection and :func:`snapshot_from_rows` turns
their rows into an :class:`InspectionSnapshot`; :func:`judge_all` judges a snapshot. Reading
and judging stay apart so unit tests feed recorded rows (``tests/fixtures/oracle/inspect``)
and ``tests/oracle_live`` can run every query of ``INSPECTION_SQL`` with ``BINDS[name]`` and feed
each row to ``CONVERTERS[name]``.

Ages and percentages are computed by the server (``SYSDATE - end_time``, used net of
reclaimable space): a server DATE carries no zone, so it is never compared with this machine's
clock. Queries use ``FETCH FIRST`` and ``DBA_OBJECTS.ORACLE_MAINTAINED``: Oracle 12c or later.
Connect to a non-CDB or to the PDB inspected (DBA_ views in CDB$ROOT show only the root). The
user needs SELECT_CATALOG_ROLE. A mounted (not open) standby answers only fixed views: the
dictionary areas are then skipped and named in ``InspectionSnapshot.skipped``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from hisops.engines.base import Finding, Severity
from hisops.engines.oracle.inspect_sql import (
    ALERT_LOG_SQL,
    ARCHIVE_GAPS_SQL,
    BINDS,
    BLOCKING_SQL,
    CONVERTERS,
    DATABASE_ROLE_SQL,
    DICTIONARY_AREAS,
    FRA_SQL,
    INSPECTION_SQL,
    INVALID_OBJECTS_SQL,
    PATCHES_SQL,
    RMAN_JOBS_SQL,
    SESSIONS_SQL,
    TABLESPACES_SQL,
    TOP_SQL_SQL,
    AlertMessage,
    ArchiveGap,
    BlockedSession,
    DatabaseState,
    FraUsage,
    InvalidObjects,
    RmanJob,
    Role,
    Row,
    SessionUsage,
    SqlPatch,
    TablespaceUsage,
    TopSql,
    alert_message_from_row,
    archive_gap_from_row,
    blocked_session_from_row,
    database_state_from_row,
    fra_from_row,
    invalid_objects_from_row,
    rman_job_from_row,
    sessions_from_row,
    sql_patch_from_row,
    tablespace_from_row,
    top_sql_from_row,
)
from hisops.engines.oracle.opatch import DataGuardStat
from hisops.engines.oracle.sql import RowShapeError
from hisops.errors import PreconditionFailed

if TYPE_CHECKING:
    import oracledb

log = logging.getLogger(__name__)

# the queries, rows and converters live in inspect_sql; this module is the inspection's one API
__all__ = [
    "ALERT_LOG_SQL",
    "ARCHIVE_GAPS_SQL",
    "AlertMessage",
    "ArchiveGap",
    "BINDS",
    "BLOCKING_SQL",
    "BlockedSession",
    "CONVERTERS",
    "DATABASE_ROLE_SQL",
    "DICTIONARY_AREAS",
    "DatabaseState",
    "FRA_SQL",
    "FraUsage",
    "INSPECTION_SQL",
    "INVALID_OBJECTS_SQL",
    "InvalidObjects",
    "PATCHES_SQL",
    "RMAN_JOBS_SQL",
    "RmanJob",
    "Role",
    "SESSIONS_SQL",
    "SessionUsage",
    "SqlPatch",
    "TABLESPACES_SQL",
    "TOP_SQL_SQL",
    "TablespaceUsage",
    "TopSql",
    "alert_message_from_row",
    "archive_gap_from_row",
    "blocked_session_from_row",
    "database_state_from_row",
    "fra_from_row",
    "invalid_objects_from_row",
    "rman_job_from_row",
    "sessions_from_row",
    "sql_patch_from_row",
    "tablespace_from_row",
    "top_sql_from_row",
]


CHECK_TABLESPACE = "oracle.tablespace"
CHECK_FRA = "oracle.fra"
CHECK_INVALID_OBJECTS = "oracle.invalid_objects"
CHECK_ALERT_LOG = "oracle.alert_log"
CHECK_DATAGUARD = "oracle.dataguard"
CHECK_ARCHIVE_GAP = "oracle.archive_gap"
CHECK_RMAN = "oracle.rman"
CHECK_SESSIONS = "oracle.sessions"
CHECK_BLOCKING = "oracle.blocking"
CHECK_TOP_SQL = "oracle.top_sql"
CHECK_PATCHES = "oracle.patches"


# --- rules -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Thresholds:
    """Where a measurement becomes a warning or an error; a value at a threshold crosses it."""

    tablespace_warn_pct: float = 85.0
    tablespace_critical_pct: float = 95.0
    fra_warn_pct: float = 80.0  # of the limit, net of reclaimable space
    fra_critical_pct: float = 90.0
    apply_lag_warn: timedelta = timedelta(seconds=30)
    apply_lag_critical: timedelta = timedelta(seconds=300)
    transport_lag_warn: timedelta = timedelta(seconds=30)
    transport_lag_critical: timedelta = timedelta(seconds=300)
    dataguard_stale_after: timedelta = timedelta(minutes=1)  # DATUM_TIME behind TIME_COMPUTED
    sessions_warn_pct: float = 85.0  # of the sessions and of the processes limit
    blocking_warn_s: int = 60
    blocking_critical_s: int = 300
    invalid_objects_max: int = 0  # more invalid objects of one owner and type: a warning
    backup_max_age: timedelta = timedelta(hours=26)
    top_sql_elapsed_per_exec_warn_s: float | None = None  # None: top SQL is listed, not judged
    alert_error_codes: frozenset[str] = frozenset(
        {"ORA-00600", "ORA-07445", "ORA-01578", "ORA-00257"})

    def __post_init__(self) -> None:
        pairs: list[tuple[str, float, float]] = [
            ("tablespace", self.tablespace_warn_pct, self.tablespace_critical_pct),
            ("fra", self.fra_warn_pct, self.fra_critical_pct),
            ("apply_lag", self.apply_lag_warn.total_seconds(),
             self.apply_lag_critical.total_seconds()),
            ("transport_lag", self.transport_lag_warn.total_seconds(),
             self.transport_lag_critical.total_seconds()),
            ("blocking", self.blocking_warn_s, self.blocking_critical_s)]
        for name, warn, critical in pairs:
            if warn > critical:
                raise ValueError(f"{name}: the warning threshold {warn:g} is above the "
                                 f"critical one {critical:g}")


def _level(value: float, warn: float, critical: float) -> Severity | None:
    if value >= critical:
        return Severity.ERROR
    return Severity.WARNING if value >= warn else None


def judge_tablespaces(items: Sequence[TablespaceUsage], t: Thresholds) -> list[Finding]:
    """UNDO and TEMPORARY tablespaces warn at most: their used space counts expired undo and
    sort segments Oracle reuses. A READ ONLY tablespace cannot fill up."""
    found = []
    for ts in items:
        if ts.status == "READ ONLY":
            continue
        severity = _level(ts.used_pct, t.tablespace_warn_pct, t.tablespace_critical_pct)
        if severity is None:
            continue
        if ts.contents != "PERMANENT":
            severity = Severity.WARNING
        found.append(Finding(CHECK_TABLESPACE, ts.name, (
            f"{ts.contents.lower()} tablespace {ts.name} is {ts.used_pct:g}% used "
            f"({_gib(ts.used_bytes)} of {_gib(ts.max_bytes)} it can grow to)"), severity))
    return found


def judge_fra(items: Sequence[FraUsage], t: Thresholds) -> list[Finding]:
    found = []
    for fra in items:
        if fra.net_used_pct is None:  # no recovery area configured
            continue
        severity = _level(fra.net_used_pct, t.fra_warn_pct, t.fra_critical_pct)
        if severity is not None:
            found.append(Finding(CHECK_FRA, fra.name or "", (
                f"recovery area {fra.name} is {fra.net_used_pct:g}% used net of reclaimable "
                f"space ({_gib(fra.used_bytes - fra.reclaimable_bytes)} of "
                f"{_gib(fra.limit_bytes)}, {fra.files} files)"), severity))
    return found


def judge_invalid_objects(items: Sequence[InvalidObjects], t: Thresholds) -> list[Finding]:
    return [Finding(CHECK_INVALID_OBJECTS, f"{o.owner} {o.object_type}",
                    f"{o.count} invalid {o.object_type} object(s) in schema {o.owner}",
                    Severity.WARNING)
            for o in items if o.count > t.invalid_objects_max]


def judge_alert_log(items: Sequence[AlertMessage], t: Thresholds) -> list[Finding]:
    """One finding per leading error code (the first listed error code of a message, else its
    first code: ORA-01578 is followed by the ORA-01110 naming the file), counted and dated."""
    groups: dict[str, list[AlertMessage]] = {}
    for message in items:
        codes = message.codes
        if not codes:
            continue
        lead = next((c for c in codes if c in t.alert_error_codes), codes[0])
        groups.setdefault(lead, []).append(message)
    found = []
    for code, messages in sorted(groups.items()):
        last = " ".join(messages[-1].text.split())
        found.append(Finding(CHECK_ALERT_LOG, code, (
            f"{code} {len(messages)} time(s) in the alert log from "
            f"{messages[0].at:%Y-%m-%d %H:%M:%S} to {messages[-1].at:%Y-%m-%d %H:%M:%S}; "
            f"last: {last[:300]}"),
            Severity.ERROR if code in t.alert_error_codes else Severity.WARNING))
    return found


def judge_dataguard(items: Sequence[DataGuardStat], t: Thresholds) -> list[Finding]:
    """On a standby: a missing row, an empty value or stale data is a finding as much as a long
    lag: an unknown lag is never taken for a small one."""
    by_name = {s.name: s for s in items}
    limits = {"apply lag": (t.apply_lag_warn, t.apply_lag_critical),
              "transport lag": (t.transport_lag_warn, t.transport_lag_critical)}
    found = []
    for name, (warn, critical) in limits.items():
        stat = by_name.get(name)
        severity = Severity.ERROR
        if stat is None:
            problem = f"no {name} row in v$dataguard_stats: the lag is unknown"
        elif stat.lag is None:
            problem = f"{name} is empty (apply stopped or no redo received): the lag is unknown"
        elif stat.lag >= warn:
            severity = Severity.ERROR if stat.lag >= critical else Severity.WARNING
            limit = critical if severity is Severity.ERROR else warn
            problem = (f"{name} is {stat.lag.total_seconds():g} s "
                       f"({stat.raw_value.strip()}), limit {limit.total_seconds():g} s")
        elif stat.time_computed is None or stat.datum_time is None:
            problem = f"{name} has no DATUM_TIME: the data it is computed from is of unknown age"
        elif stat.time_computed - stat.datum_time > t.dataguard_stale_after:
            age = (stat.time_computed - stat.datum_time).total_seconds()
            problem = (f"{name} is computed from data received {age:g} s before "
                       f"{stat.time_computed:%Y-%m-%d %H:%M:%S}: the standby receives nothing")
        else:
            continue
        found.append(Finding(CHECK_DATAGUARD, name, problem, severity))
    return found


def judge_archive_gaps(items: Sequence[ArchiveGap], t: Thresholds) -> list[Finding]:
    return [Finding(CHECK_ARCHIVE_GAP, f"thread {g.thread}", (
        f"archive gap on thread {g.thread}: sequences {g.low_sequence} to {g.high_sequence} "
        f"({g.high_sequence - g.low_sequence + 1} logs) missing, recovery is blocked"))
        for g in items]


DATABASE_BACKUPS = frozenset({"DB FULL", "DB INCR"})


def judge_rman(items: Sequence[RmanJob], t: Thresholds, *,
               backups_expected: bool = True) -> list[Finding]:
    """A failed job is an error; one with warnings, or still running with errors, a warning.
    With ``backups_expected`` the newest COMPLETED whole-database job (DB FULL/DB INCR) must
    have ended within ``backup_max_age``."""
    found = []
    for job in items:
        if job.status in ("FAILED", "COMPLETED WITH ERRORS"):
            severity: Severity | None = Severity.ERROR
        elif job.status in ("COMPLETED WITH WARNINGS", "RUNNING WITH WARNINGS",
                            "RUNNING WITH ERRORS"):
            severity = Severity.WARNING
        else:
            severity = None
        if severity is not None:
            found.append(Finding(CHECK_RMAN, f"job {job.session_key}", (
                f"{job.input_type} job {job.session_key} started "
                f"{job.start_time:%Y-%m-%d %H:%M:%S} ended {job.status}"), severity))
    if backups_expected:
        ages = [j.age_seconds for j in items if j.input_type in DATABASE_BACKUPS
                and j.status == "COMPLETED" and j.age_seconds is not None]
        limit = t.backup_max_age.total_seconds()
        if not ages:
            found.append(Finding(CHECK_RMAN, "database backup", (
                "no COMPLETED DB FULL/DB INCR job in the RMAN history read "
                f"(limit {limit / 3600:g} h)")))
        elif min(ages) > limit:
            found.append(Finding(CHECK_RMAN, "database backup", (
                f"newest COMPLETED DB FULL/DB INCR job ended {min(ages) / 3600:.1f} h ago, "
                f"limit {limit / 3600:g} h")))
    return found


def judge_sessions(items: Sequence[SessionUsage], t: Thresholds) -> list[Finding]:
    found = []
    for usage in items:
        for name, used, limit in (("sessions", usage.sessions, usage.sessions_limit),
                                  ("processes", usage.processes, usage.processes_limit)):
            pct = 100.0 * used / limit if limit else 100.0
            if pct >= t.sessions_warn_pct:
                found.append(Finding(CHECK_SESSIONS, name, (
                    f"{used} {name} of the limit {limit} ({pct:.1f}%; {usage.active} active, "
                    f"{usage.inactive} inactive sessions)"), Severity.WARNING))
    return found


def judge_blocking(items: Sequence[BlockedSession], t: Thresholds) -> list[Finding]:
    """One finding per blocked session waiting at least ``blocking_warn_s``, naming its blocker
    and the head of the chain (the blocker nobody blocks)."""
    blocker_of = {b.sid: b.blocker_sid for b in items}
    found = []
    for b in items:
        severity = _level(b.seconds_in_wait, t.blocking_warn_s, t.blocking_critical_s)
        if severity is None:
            continue
        head, seen = b.blocker_sid, {b.sid}
        while head in blocker_of and head not in seen:
            seen.add(head)
            head = blocker_of[head]
        blocker = (f"sid {b.blocker_sid} serial {b.blocker_serial} "
                   f"({b.blocker_username or 'background'}, sql_id {b.blocker_sql_id or '-'})"
                   if b.blocker_serial is not None
                   else f"sid {b.blocker_sid} on another instance")
        chain = f"; head of the chain sid {head}" if head != b.blocker_sid else ""
        found.append(Finding(CHECK_BLOCKING, f"sid {b.sid}", (
            f"sid {b.sid} serial {b.serial} ({b.username or 'background'}, sql_id "
            f"{b.sql_id or '-'}) has waited {b.seconds_in_wait} s on {b.event} "
            f"({b.wait_class}), blocked by {blocker}{chain}"), severity))
    return found


def judge_top_sql(items: Sequence[TopSql], t: Thresholds) -> list[Finding]:
    limit = t.top_sql_elapsed_per_exec_warn_s
    if limit is None:
        return []
    return [Finding(CHECK_TOP_SQL, s.sql_id, (
        f"sql_id {s.sql_id} takes {s.elapsed_per_exec_s:.1f} s per execution "
        f"({s.executions} executions, {s.elapsed_s:g} s elapsed, {s.cpu_s:g} s CPU, "
        f"{s.buffer_gets} buffer gets, {s.disk_reads} disk reads), limit {limit:g} s"),
        Severity.WARNING) for s in items if s.elapsed_per_exec_s >= limit]


def judge_patches(items: Sequence[SqlPatch], t: Thresholds) -> list[Finding]:
    return [Finding(CHECK_PATCHES, f"patch {p.patch_id}", (
        f"patch {p.patch_id} ({p.description}): newest datapatch action {p.action} "
        f"ended {p.status} at {p.action_time:%Y-%m-%d %H:%M:%S}"))
        for p in items if p.status != "SUCCESS"]


def _gib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB"


# --- snapshot ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class InspectionSnapshot:
    """Everything one inspection read from one database. Data Guard stats and archive gaps are
    judged only on a standby; areas named in ``skipped`` were not read (mounted standby)."""

    role: Role
    tablespaces: tuple[TablespaceUsage, ...] = ()
    fra: tuple[FraUsage, ...] = ()
    invalid_objects: tuple[InvalidObjects, ...] = ()
    alert_log: tuple[AlertMessage, ...] = ()
    dataguard: tuple[DataGuardStat, ...] = ()
    archive_gaps: tuple[ArchiveGap, ...] = ()
    rman_jobs: tuple[RmanJob, ...] = ()
    sessions: tuple[SessionUsage, ...] = ()
    blocking: tuple[BlockedSession, ...] = ()
    top_sql: tuple[TopSql, ...] = ()
    patches: tuple[SqlPatch, ...] = ()
    backups_expected: bool = True  # False where backups run elsewhere (standby of a primary)
    skipped: tuple[str, ...] = field(default_factory=tuple)


def judge_all(snapshot: InspectionSnapshot, thresholds: Thresholds | None = None
              ) -> list[Finding]:
    t = thresholds or Thresholds()
    s = snapshot
    found = [*judge_tablespaces(s.tablespaces, t), *judge_fra(s.fra, t),
             *judge_invalid_objects(s.invalid_objects, t), *judge_alert_log(s.alert_log, t)]
    if s.role is Role.PHYSICAL_STANDBY:
        found += [*judge_dataguard(s.dataguard, t), *judge_archive_gaps(s.archive_gaps, t)]
    found += [*judge_rman(s.rman_jobs, t, backups_expected=s.backups_expected),
              *judge_sessions(s.sessions, t), *judge_blocking(s.blocking, t),
              *judge_top_sql(s.top_sql, t), *judge_patches(s.patches, t)]
    return found


# --- I/O ---------------------------------------------------------------------------------------

_ROLES = {"PRIMARY": Role.PRIMARY, "PHYSICAL STANDBY": Role.PHYSICAL_STANDBY}
_STANDBY_ONLY = ("dataguard", "archive_gaps")


def areas_to_read(state: DatabaseState) -> list[str]:
    """The queries worth running on this database: no Data Guard views on a primary, no
    dictionary views on a mounted standby."""
    primary = _ROLES.get(state.role) is Role.PRIMARY
    return [name for name in INSPECTION_SQL if name != "database_role"
            and not (primary and name in _STANDBY_ONLY)
            and (state.dictionary_readable or name not in DICTIONARY_AREAS)]


def snapshot_from_rows(rows: Mapping[str, Sequence[Row]], *, role: Role | None = None,
                       backups_expected: bool | None = None) -> InspectionSnapshot:
    """Rows per INSPECTION_SQL name (as fetched) -> snapshot. ``role`` is checked against
    V$DATABASE (None: taken from there); ``backups_expected`` defaults to "on a primary"."""
    states = [database_state_from_row(r) for r in rows.get("database_role", ())]
    if len(states) != 1:
        raise RowShapeError("v$database", (), f"expected one row, got {len(states)}")
    state = states[0]
    actual = _ROLES.get(state.role)
    if actual is None:
        raise PreconditionFailed("oracle.role", f"database role {state.role} is not inspected "
                                 "(only PRIMARY and PHYSICAL STANDBY)")
    if role is not None and role is not actual:
        raise PreconditionFailed("oracle.role", f"expected a {role.value} database, V$DATABASE "
                                 f"says {state.role}")
    read: dict[str, tuple[Any, ...]] = {}
    for name in areas_to_read(state):
        if name not in rows:
            raise RowShapeError(name, (), "no rows given for an area this database answers")
        read[name] = tuple(CONVERTERS[name](r) for r in rows[name])

    def got(name: str) -> tuple[Any, ...]:
        return read.get(name, ())

    return InspectionSnapshot(
        role=actual, tablespaces=got("tablespaces"), fra=got("fra"),
        invalid_objects=got("invalid_objects"), alert_log=got("alert_log"),
        dataguard=got("dataguard"), archive_gaps=got("archive_gaps"),
        rman_jobs=got("rman_jobs"), sessions=got("sessions"), blocking=got("blocking"),
        top_sql=got("top_sql"), patches=got("patches"),
        backups_expected=(actual is Role.PRIMARY if backups_expected is None
                          else backups_expected),
        skipped=() if state.dictionary_readable else DICTIONARY_AREAS)


def _fetch(conn: oracledb.Connection, name: str, binds: dict[str, int]) -> list[Any]:
    with conn.cursor() as cursor:
        cursor.execute(INSPECTION_SQL[name], binds)
        rows: list[tuple[Any, ...]] = cursor.fetchall()
    log.debug("oracle inspection read %d %s row(s)", len(rows), name)
    return rows


def collect(conn: oracledb.Connection, *, days: int = 7, top: int = 10,
            role: Role | None = None, backups_expected: bool | None = None
            ) -> InspectionSnapshot:
    """Run every inspection query this database answers on an open thin-mode connection."""
    binds = BINDS | {"alert_log": {"days": days}, "rman_jobs": {"days": days},
                     "top_sql": {"top": top}}
    rows = {"database_role": _fetch(conn, "database_role", {})}
    if len(rows["database_role"]) == 1:
        state = database_state_from_row(rows["database_role"][0])
        if state.role in _ROLES:
            for name in areas_to_read(state):
                rows[name] = _fetch(conn, name, binds[name])
    return snapshot_from_rows(rows, role=role, backups_expected=backups_expected)
