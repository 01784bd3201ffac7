"""Oracle database hosts in ``hisops inspect``: read at database level from the controller.

An Oracle database host (``db_primary``/``db_standby``/``db_replica`` whose engine is
``oracle``) is read in python-oracledb thin mode, in parallel with the SSH probes, by the
Oracle inspection (:func:`hisops.engines.oracle.inspect.collect` and ``judge_all``). What it
answers is folded into the host's entry: metrics under ``ora.`` and the engine's findings in the
inspection's own shape, at the contract's levels (``LEVELS`` below says why each). A database
that cannot be read (no password configured, listener down, an ORA- error) is one finding on
its host, never a crash, and the coverage then says the host was read at OS level only.

No Ansible here: the host-side checks (filesystems, listener, lsinventory, GoldenGate) are the
``oracle_inspect`` role's, for playbook runs.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from hisops.engines.base import Finding as EngineFinding
from hisops.engines.base import Severity
from hisops.engines.oracle.connect import connect_host
from hisops.engines.oracle.inspect import (
    DATABASE_BACKUPS,
    InspectionSnapshot,
    Role,
    Thresholds,
    collect,
    judge_all,
)
from hisops.errors import HisopsError
from hisops.inspection import metrics as metrics_mod
from hisops.inspection.rules import OVERRIDES_VAR, Finding
from hisops.inventory import db_engine

log = logging.getLogger(__name__)

PREFIX = "ora."
NOT_READ = "oracle.not_read"
CONNECT_TIMEOUT_S = 10.0  # the TCP connect; the queries are bounded by the inspection timeout
MAX_WORKERS = 16
FAILED_JOBS = frozenset({"FAILED", "COMPLETED WITH ERRORS"})

# The engine says ERROR or WARNING; the contract has four levels (rules/inspection.yml: 1 =
# database down or data loss, 2 = part of the applications stopped, 3 = performance abnormal or
# deadlocks, 4 = information and configuration advice). Each Oracle check takes the levels of
# the PostgreSQL rule that judges the same thing, so one estate is graded on one scale:
#  - tablespace, recovery area: os.disk.data (90% -> 2, 80% -> 3): a full tablespace or FRA
#    stops the writes (or archiving) of the applications using it;
#  - alert log: pg.log.panic (2) for the codes the engine calls errors (ORA-00600/07445
#    internal errors, ORA-01578 corruption, ORA-00257 archiver stuck); any other ORA- code is
#    pg.log.fatal's advice level (4);
#  - Data Guard lag and archive gaps: repl.lag (1 GiB -> 2, 64 MiB -> 3) and
#    repl.standby_receiver (2): past the critical lag, unknown lag or a gap, the hospital has
#    no usable disaster-recovery copy;
#  - RMAN: a failed job is backup.age's level 2 (no backup to trust), warnings level 3;
#  - sessions/processes near their limit: pg.connections (85% -> 3);
#  - blocking: pg.lock_waits (3, 4): the contract's level 3 names lock trouble, never 1-2;
#  - top SQL over its limit: level 3, performance abnormal;
#  - invalid objects: level 4, configuration advice;
#  - a datapatch with errors: baseline.drift's level 3 (the dictionary is not at the patch
#    level the binaries are).
# Level 1 is never given from here: it means the database is down, which a failed connection
# from the controller cannot tell apart from a firewall or a credential problem.
LEVELS: dict[tuple[str, Severity], int] = {
    ("oracle.tablespace", Severity.ERROR): 2, ("oracle.tablespace", Severity.WARNING): 3,
    ("oracle.fra", Severity.ERROR): 2, ("oracle.fra", Severity.WARNING): 3,
    ("oracle.alert_log", Severity.ERROR): 2, ("oracle.alert_log", Severity.WARNING): 4,
    ("oracle.dataguard", Severity.ERROR): 2, ("oracle.dataguard", Severity.WARNING): 3,
    ("oracle.archive_gap", Severity.ERROR): 2, ("oracle.archive_gap", Severity.WARNING): 3,
    ("oracle.rman", Severity.ERROR): 2, ("oracle.rman", Severity.WARNING): 3,
    ("oracle.sessions", Severity.ERROR): 2, ("oracle.sessions", Severity.WARNING): 3,
    ("oracle.blocking", Severity.ERROR): 3, ("oracle.blocking", Severity.WARNING): 4,
    ("oracle.top_sql", Severity.ERROR): 3, ("oracle.top_sql", Severity.WARNING): 3,
    ("oracle.invalid_objects", Severity.ERROR): 4,
    ("oracle.invalid_objects", Severity.WARNING): 4,
    ("oracle.patches", Severity.ERROR): 3, ("oracle.patches", Severity.WARNING): 4,
}
# A check the table does not know yet: the generic reading of the engine's two severities.
DEFAULT_LEVELS = {Severity.ERROR: 2, Severity.WARNING: 3}
# The database could not be read: host.unreachable's level (nothing on it was inspected).
NOT_READ_LEVEL = 2

# title, title_zh, recommendation, recommendation_zh per check
TEXTS: dict[str, tuple[str, str, str, str]] = {
    NOT_READ: (
        "Oracle database not read", "未能读取 Oracle 数据库",
        "Check the listener and the database, the oracle_dsn/oracle_service_name in the "
        "inventory and the monitoring password (HISOPS_SECRET_ORACLE_PASSWORD or "
        "HISOPS_ORACLE_VAULT); until then the database is not inspected.",
        "检查监听和数据库、清单中的 oracle_dsn/oracle_service_name 以及巡检账号密码"
        "（HISOPS_SECRET_ORACLE_PASSWORD 或 HISOPS_ORACLE_VAULT）；在此之前该数据库未被巡检。"),
    "oracle.tablespace": (
        "Tablespace nearly full", "表空间使用率高",
        "Add a datafile or extend the tablespace's maximum size before the applications' "
        "inserts fail (ORA-01653/ORA-01654).",
        "在应用写入失败（ORA-01653/ORA-01654）之前为表空间添加数据文件或提高其最大大小。"),
    "oracle.fra": (
        "Fast recovery area nearly full", "快速恢复区使用率高",
        "Delete obsolete backups and applied archived logs (RMAN DELETE OBSOLETE) or raise "
        "DB_RECOVERY_FILE_DEST_SIZE; a full recovery area stops archiving and the database "
        "(ORA-00257).",
        "删除过期备份和已应用的归档日志（RMAN DELETE OBSOLETE）或调大 "
        "DB_RECOVERY_FILE_DEST_SIZE；恢复区写满会导致归档停止、数据库挂起（ORA-00257）。"),
    "oracle.invalid_objects": (
        "Invalid objects in application schemas", "应用模式中存在无效对象",
        "Recompile them (utl_recomp or ALTER ... COMPILE) and check the errors of those "
        "that stay invalid (DBA_ERRORS).",
        "重新编译（utl_recomp 或 ALTER ... COMPILE），并查看仍无效对象的错误（DBA_ERRORS）。"),
    "oracle.alert_log": (
        "ORA- errors in the alert log", "告警日志中出现 ORA- 错误",
        "Read the alert log and the trace files it names; for ORA-00600/07445 open a service "
        "request with the incident package, for ORA-01578 find the object and restore the "
        "block (RMAN RECOVER BLOCK).",
        "查看告警日志及其指向的跟踪文件；ORA-00600/07445 需打包事件向 Oracle 提交服务请求，"
        "ORA-01578 需定位对象并恢复坏块（RMAN RECOVER BLOCK）。"),
    "oracle.dataguard": (
        "Data Guard standby lags behind", "Data Guard 备库延迟",
        "Check redo transport and apply on the standby (DGMGRL SHOW DATABASE, "
        "V$MANAGED_STANDBY) and the network between the two.",
        "检查备库的日志传输和应用（DGMGRL SHOW DATABASE、V$MANAGED_STANDBY）以及两者间的网络。"),
    "oracle.archive_gap": (
        "Archive log gap on the standby", "备库存在归档日志缺口",
        "Copy the missing archived logs from the primary (or its backups) and register them; "
        "the standby cannot recover past the gap.",
        "从主库（或其备份）复制缺失的归档日志并注册；在此之前备库无法越过缺口继续恢复。"),
    "oracle.rman": (
        "RMAN backup job failed or warned", "RMAN 备份作业失败或有告警",
        "Read the job's RMAN output (V$RMAN_OUTPUT) and run the backup again.",
        "查看该作业的 RMAN 输出（V$RMAN_OUTPUT）并重新执行备份。"),
    "oracle.sessions": (
        "Sessions or processes close to their limit", "会话数或进程数接近上限",
        "Find idle or leaked sessions and their applications (connection pools) before new "
        "logins fail (ORA-00018/ORA-00020).",
        "在新登录失败（ORA-00018/ORA-00020）之前排查空闲或泄漏的会话及其应用（连接池）。"),
    "oracle.blocking": (
        "Sessions blocked by locks", "存在锁阻塞的会话",
        "Find the blocking session at the head of the chain and its application; end its "
        "transaction with the application's owner.",
        "找出阻塞链首的会话及其应用，与应用负责人一起结束其事务。"),
    "oracle.top_sql": (
        "Slow SQL statement", "慢 SQL 语句",
        "Look at the statement's plan and statistics (DBMS_XPLAN, SQL Tuning Advisor).",
        "查看该语句的执行计划和统计信息（DBMS_XPLAN、SQL 优化顾问）。"),
    "oracle.patches": (
        "Datapatch did not complete", "datapatch 未成功完成",
        "Read the datapatch log of the patch and run datapatch again; the binaries and the "
        "dictionary are at different patch levels until then.",
        "查看该补丁的 datapatch 日志并重新执行 datapatch；"
        "在此之前软件与数据字典的补丁级别不一致。"),
}


@dataclass(frozen=True)
class OracleRead:
    """What one Oracle database answered: a snapshot and its findings, or why it could not."""

    host: str
    snapshot: InspectionSnapshot | None = None
    findings: tuple[EngineFinding, ...] = ()
    error: str = ""


def is_oracle_database(groups: list[str], host_vars: Mapping[str, Any]) -> bool:
    """A database host whose engine is Oracle: read at database level over thin mode."""
    return (bool(set(groups) & set(metrics_mod.DB_GROUPS))
            and db_engine(groups, host_vars) == "oracle")


def read_host(host: str, host_vars: Mapping[str, Any], *, timeout_s: float,
              thresholds: Thresholds | None = None) -> OracleRead:
    """Connect, collect and judge one database; every failure becomes ``error`` (the messages
    of the connector hold no secret)."""
    try:
        conn = connect_host(host, host_vars, timeout_s=min(CONNECT_TIMEOUT_S, timeout_s))
    except HisopsError as exc:  # InputError (no password, no DSN), OracleConnectError
        return OracleRead(host, error=str(exc))
    except Exception as exc:  # a connector that fails otherwise: this host's problem only
        log.warning("oracle inspection of %s: %s", host, exc)
        return OracleRead(host, error=_reason(exc))
    try:
        conn.call_timeout = int(timeout_s * 1000)  # every round trip bounded (milliseconds)
        # backups are judged by the backup.age rule (journal and RMAN history), not twice
        snapshot = collect(conn, backups_expected=False)
        found = judge_all(snapshot, thresholds)
    except Exception as exc:  # ORA- on a query, a row of another shape, a role not inspected
        log.warning("oracle inspection of %s: %s", host, exc)
        return OracleRead(host, error=_reason(exc))
    finally:
        with contextlib.suppress(Exception):  # a broken connection: nothing more to learn
            conn.close()
    return OracleRead(host, snapshot=snapshot, findings=tuple(found))


def _reason(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    text = " ".join(lines[0].split()) if lines else ""
    return text if isinstance(exc, HisopsError) else f"{type(exc).__name__}: {text}"


def read_all(targets: Mapping[str, Mapping[str, Any]], *, timeout_s: float,
             thresholds: Thresholds | None = None) -> dict[str, OracleRead]:
    """Read every host of ``targets`` (host -> its variables) at once."""
    if not targets:
        return {}
    with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(targets))) as pool:
        futures = {host: pool.submit(read_host, host, hv, timeout_s=timeout_s,
                                     thresholds=thresholds)
                   for host, hv in targets.items()}
        return {host: future.result() for host, future in futures.items()}


def role_of(groups: list[str], read: OracleRead) -> str:
    """The entry's role as V$DATABASE says; the inventory's when the database was not read.
    A GoldenGate target is a primary database of its own: a subscriber, as on PostgreSQL."""
    if read.snapshot is None:
        return metrics_mod.role_of(groups, None)
    if read.snapshot.role is Role.PHYSICAL_STANDBY:
        return "standby"
    return "subscriber" if "db_replica" in groups else "primary"


def oracle_metrics(read: OracleRead, thresholds: Thresholds | None = None) -> dict[str, Any]:
    """The ``ora.`` metrics of one read (unknown values are left out, never taken for 0)."""
    s = read.snapshot
    if s is None:
        return {"ora.up": False, "ora.error": read.error}
    t = thresholds or Thresholds()
    filling = [ts for ts in s.tablespaces if ts.status != "READ ONLY"]
    fullest = max(filling, key=lambda ts: ts.used_pct, default=None)
    fra = [f.net_used_pct for f in s.fra if f.net_used_pct is not None]
    backups = [j.age_seconds for j in s.rman_jobs if j.input_type in DATABASE_BACKUPS
               and j.status == "COMPLETED" and j.age_seconds is not None]
    found: dict[str, Any] = {
        "ora.up": True, "ora.role": s.role.value,
        "ora.tablespace_used_pct_max": fullest.used_pct if fullest else None,
        "ora.tablespace_fullest": fullest.name if fullest else None,
        "ora.fra_used_pct": max(fra) if fra else None,
        "ora.invalid_objects": (None if "invalid_objects" in s.skipped
                                else sum(o.count for o in s.invalid_objects)),
        "ora.alert_log_errors": len(s.alert_log),
        "ora.blocked_sessions": len(s.blocking),
        "ora.rman_failed_jobs": sum(1 for j in s.rman_jobs if j.status in FAILED_JOBS),
        "ora.backup_last_age_s": round(min(backups)) if backups else None,
        "ora.skipped": ",".join(s.skipped) or None,
    }
    for usage in s.sessions[:1]:
        found["ora.sessions_pct"] = _pct(usage.sessions, usage.sessions_limit)
        found["ora.processes_pct"] = _pct(usage.processes, usage.processes_limit)
    if s.role is Role.PHYSICAL_STANDBY:
        stats = {d.name: d for d in s.dataguard}
        apply, transport = stats.get("apply lag"), stats.get("transport lag")
        for name, stat in (("apply", apply), ("transport", transport)):
            if stat is not None and stat.lag is not None:
                found[f"ora.{name}_lag_s"] = stat.lag.total_seconds()
        found["ora.archive_gaps"] = len(s.archive_gaps)
        fresh = all(d is not None and d.lag is not None and d.time_computed is not None
                    and d.datum_time is not None
                    and d.time_computed - d.datum_time <= t.dataguard_stale_after
                    for d in (apply, transport))
        # receiving and applying redo with nothing missing; a lag only makes it late
        found["ora.replicating"] = fresh and not s.archive_gaps
    return {k: v for k, v in found.items() if v is not None}


def _pct(used: int, limit: int) -> float:
    return round(100.0 * used / limit, 1) if limit else 100.0


def level_of(check: str, severity: Severity) -> int:
    return LEVELS.get((check, severity), DEFAULT_LEVELS[severity])


def oracle_findings(read: OracleRead, host: str, host_vars: Mapping[str, Any]
                    ) -> list[Finding]:
    """The read's findings in the inspection's shape. A check switched off for the host
    (``hisops_inspection_thresholds: {oracle.tablespace: off}``) is left out."""
    overrides = host_vars.get(OVERRIDES_VAR) or {}
    if read.snapshot is None:
        if overrides.get(NOT_READ) in ("off", False):
            return []
        detail = f"Oracle database not read: {read.error}"
        return [_finding(NOT_READ, host, "", NOT_READ_LEVEL, detail,
                         f"未能读取 Oracle 数据库：{read.error}", None)]
    return [_finding(f.check, host, f.subject, level_of(f.check, f.severity), f.problem,
                     f.problem, f.severity.value)
            for f in read.findings if overrides.get(f.check) not in ("off", False)]


def _finding(check: str, host: str, subject: str, level: int, detail: str, detail_zh: str,
             value: Any) -> Finding:
    # the engine writes its problems in English, with the names and numbers an engineer acts
    # on; the Chinese report gives them as they are, under a Chinese title and recommendation
    title, title_zh, recommendation, recommendation_zh = TEXTS.get(
        check, (check, check, "Read the detail and act on it.", "请根据说明处理。"))
    return Finding(key=f"{check}|{host}|{subject}", rule=check, host=host, subject=subject,
                   severity=level, title=title, title_zh=title_zh, detail=detail,
                   detail_zh=detail_zh, recommendation=recommendation,
                   recommendation_zh=recommendation_zh, value=value)
