"""The quarterly inspection report as one self-contained HTML page (Chinese by default).

Rendered from the inspection's report dict (as journaled) and the earlier inspections, which
give the trend charts. Every value is escaped; the page carries no script and loads nothing,
so it can be mailed, archived and printed to PDF as it is. The levels and their response
times come from ``hisops.severity``, the contract's single definition.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from jinja2 import Environment
from markupsafe import Markup

from hisops.inspection import charts
from hisops.reports import html
from hisops.severity import LEVELS

log = logging.getLogger(__name__)

LANGS = ("zh", "en")
HISTORY_KEEP = 8  # earlier inspections drawn in the trend charts
TOP_TABLES = 5
LOG_SAMPLES = 10
PROBLEM_KINDS = ("opened", "escalated", "reopened", "updated", "to_confirm")

# Every label the page shows, in both languages (the template holds no prose of its own).
STRINGS: dict[str, dict[str, str]] = {
    "zh": {
        "html_lang": "zh-CN", "colon": "：", "report": "数据库巡检报告",
        "period": "服务期间", "quarter": "{year} 年第 {q} 季度", "inspected_at": "巡检时间",
        "duration": "耗时", "seconds": "秒", "inventory": "清单", "limit": "主机范围",
        "all_hosts": "全部", "run_id": "巡检编号",
        "partial": "本次巡检不完整：以下主机无法读取，其状况未能检查",
        "coverage": "巡检覆盖范围：主库及其容灾、复制副本", "system": "系统",
        "copy_kind": "类型", "engine": "数据库", "read": "已读取", "db_checks": "数据库检查",
        "replicating": "复制状态", "lag": "延迟", "replicating_yes": "正常复制",
        "replicating_no": "未复制",
        "os_only": "仅操作系统层（未能读取 Oracle 数据库，原因见问题清单）",
        "kind_primary": "主库", "kind_physical_standby": "物理备库",
        "kind_logical_replica": "逻辑复制库", "coverage_note":
        "主库 {primaries} 个；副本 {copies} 个，其中已读取 {copies_read} 个、正常复制 "
        "{copies_replicating} 个。",
        "summary": "巡检结论概要", "score": "总体健康评分",
        "score_note": "满分 100；总体评分取各主机中最低的一台",
        "hosts_n": "主机数", "findings_n": "问题项数",
        "by_level": "按严重级别统计的问题", "level": "级别", "meaning": "定义（合同）",
        "respond": "响应时限", "solution": "提供解决方案", "resolve": "解决时限",
        "count": "问题项数", "hosts": "主机一览", "host": "主机", "role": "角色",
        "host_score": "评分", "state": "状态", "unreachable": "不可达", "ok": "正常",
        "problems": "问题单", "opened": "新开", "updated": "已更新", "escalated": "已升级",
        "reopened": "重新打开", "to_confirm": "待确认关闭",
        "findings": "问题清单（按严重级别排序）", "no_findings": "未发现问题。",
        "finding": "问题", "detail": "说明", "recommendation": "建议", "problem": "问题单号",
        "trends": "趋势（与历次巡检比较）", "trend_size": "数据库大小（主库及订阅库）",
        "trend_lag": "复制延迟（主库上最大的备库延迟）", "trend_conn": "连接数占最大连接数的比例",
        "no_trend": "巡检次数不足，尚无法绘制趋势（至少需要两次巡检）。",
        "per_host": "各主机巡检明细", "groups": "所属组", "host_error": "无法读取该主机",
        "metrics": "关键指标", "databases": "数据库大小", "database": "数据库",
        "size": "大小", "tables": "死元组最多的表", "table": "表", "live": "活元组",
        "dead": "死元组", "dead_pct": "死元组比例", "last_vacuum": "最近清理",
        "statements": "耗时最多的语句", "query": "语句", "calls": "调用次数",
        "total_ms": "总耗时 (ms)", "mean_ms": "平均 (ms)", "rows": "行数",
        "logs": "近期日志错误样例", "interfaces": "接口检查", "interface": "接口",
        "target": "地址", "latency": "延迟", "max_latency": "延迟上限", "up": "可用",
        "down": "不可用", "yes": "是", "no": "否", "none": "—", "generated": "由 hisops 生成",
        "role_primary": "主库", "role_standby": "备库（物理复制）",
        "role_subscriber": "订阅库（逻辑复制）", "role_host": "主机",
        "u_day": "{n} 天", "u_hour": "{n} 小时", "u_min": "{n} 分钟", "u_sec": "{n} 秒",
        "m_os.cpus": "CPU 核数", "m_os.load1_per_cpu": "每核负载（1 分钟）",
        "m_os.load15_per_cpu": "每核负载（15 分钟）", "m_os.memory_used_pct": "内存使用率",
        "m_os.swap_used_bytes": "交换区使用", "m_os.uptime_s": "运行时长",
        "m_os.disk.root.used_pct": "根分区使用率", "m_os.disk.data.used_pct": "数据分区使用率",
        "m_os.disk.data.inodes_used_pct": "数据分区 inode 使用率",
        "m_os.disk.data.free_bytes": "数据分区剩余空间", "m_os.clock_offset_s": "时钟偏差",
        "m_pg.up": "数据库运行", "m_pg.version": "PostgreSQL 版本",
        "m_pg.connections": "连接数", "m_pg.connections_pct": "连接使用率",
        "m_pg.idle_in_transaction": "事务中空闲的连接", "m_pg.long_xacts": "长事务",
        "m_pg.lock_waits": "锁等待", "m_pg.size_bytes": "数据库总大小",
        "m_pg.growth_bytes": "较上次巡检增长", "m_pg.cache_hit_pct": "缓冲区命中率",
        "m_pg.deadlocks_new": "新增死锁", "m_pg.dead_tuples_pct_max": "最高死元组比例",
        "m_pg.log.panic": "日志 PANIC 数", "m_pg.log.fatal": "日志 FATAL 数",
        "m_pg.log.error": "日志 ERROR 数", "m_repl.replicas": "备库/订阅数",
        "m_repl.replicas_streaming": "正在复制", "m_repl.max_replica_lag_bytes": "最大复制延迟",
        "m_repl.receiver_streaming": "正在接收主库日志", "m_repl.replay_lag_bytes": "回放延迟",
        "m_repl.replay_age_s": "距最近回放", "m_backup.last_age_s": "距最近备份",
        "m_backup.verified_restore_age_s": "距最近恢复演练", "m_baseline.drifts": "基线偏离项",
        "m_ora.up": "Oracle 数据库可读取", "m_ora.role": "Oracle 数据库角色",
        "m_ora.tablespace_used_pct_max": "最高表空间使用率",
        "m_ora.fra_used_pct": "快速恢复区使用率（扣除可回收）",
        "m_ora.invalid_objects": "应用模式无效对象", "m_ora.alert_log_errors": "告警日志 ORA- 错误",
        "m_ora.blocked_sessions": "被阻塞的会话", "m_ora.sessions_pct": "会话数占上限",
        "m_ora.processes_pct": "进程数占上限", "m_ora.rman_failed_jobs": "失败的 RMAN 作业",
        "m_ora.backup_last_age_s": "距最近成功的 RMAN 数据库备份",
        "m_ora.apply_lag_s": "Data Guard 应用延迟", "m_ora.transport_lag_s": "Data Guard 传输延迟",
        "m_ora.archive_gaps": "归档日志缺口", "m_ora.replicating": "Data Guard 正常复制",
    },
    "en": {
        "html_lang": "en", "colon": ": ", "report": "Database inspection report",
        "period": "Service period", "quarter": "{year} Q{q}", "inspected_at": "Inspected",
        "duration": "Duration", "seconds": "s", "inventory": "Inventory", "limit": "Hosts",
        "all_hosts": "all", "run_id": "Inspection run",
        "coverage": "Coverage: the primaries and their disaster-recovery and replica copies",
        "system": "System", "copy_kind": "Kind", "engine": "Engine", "read": "Read",
        "db_checks": "Database checks", "replicating": "Replication", "lag": "Lag",
        "replicating_yes": "replicating", "replicating_no": "NOT replicating",
        "os_only": "OS level only (the Oracle database could not be read: see the findings)",
        "kind_primary": "primary", "kind_physical_standby": "physical standby",
        "kind_logical_replica": "logical replica", "coverage_note":
        "{primaries} primary database(s); {copies} copies, {copies_read} read and "
        "{copies_replicating} replicating.",
        "partial": "This inspection is partial: these hosts could not be read and were not "
                   "inspected",
        "summary": "Summary", "score": "Overall health score",
        "score_note": "out of 100; the overall score is the lowest of the hosts' scores",
        "hosts_n": "Hosts", "findings_n": "Findings",
        "by_level": "Findings by severity level", "level": "Level",
        "meaning": "Contract meaning", "respond": "Respond", "solution": "Solution",
        "resolve": "Resolve", "count": "Findings", "hosts": "Hosts", "host": "Host",
        "role": "Role", "host_score": "Score", "state": "State", "unreachable": "unreachable",
        "ok": "read", "problems": "Problems", "opened": "opened", "updated": "updated",
        "escalated": "escalated", "reopened": "reopened", "to_confirm": "to confirm closed",
        "findings": "Findings (most severe first)", "no_findings": "Nothing was found.",
        "finding": "Finding", "detail": "Detail", "recommendation": "Recommendation",
        "problem": "Problem",
        "trends": "Trends (against earlier inspections)",
        "trend_size": "Database size (primaries and subscribers)",
        "trend_lag": "Replication lag (largest replica lag on the primary)",
        "trend_conn": "Connections in use (% of max_connections)",
        "no_trend": "Not enough inspections yet for a trend (it takes two).",
        "per_host": "Results per host", "groups": "Groups",
        "host_error": "The host could not be read", "metrics": "Key metrics",
        "databases": "Database sizes", "database": "Database", "size": "Size",
        "tables": "Tables with the most dead tuples", "table": "Table", "live": "Live",
        "dead": "Dead", "dead_pct": "Dead %", "last_vacuum": "Last vacuum",
        "statements": "Statements taking the most time", "query": "Statement",
        "calls": "Calls", "total_ms": "Total (ms)", "mean_ms": "Mean (ms)", "rows": "Rows",
        "logs": "Recent log error samples", "interfaces": "Interfaces",
        "interface": "Interface", "target": "Target", "latency": "Latency",
        "max_latency": "Latency limit", "up": "up", "down": "DOWN", "yes": "yes", "no": "no",
        "none": "-", "generated": "Generated by hisops",
        "role_primary": "primary", "role_standby": "standby (physical)",
        "role_subscriber": "subscriber (logical)", "role_host": "host",
        "u_day": "{n} d", "u_hour": "{n} h", "u_min": "{n} min", "u_sec": "{n} s",
        "m_os.cpus": "CPUs", "m_os.load1_per_cpu": "Load per CPU (1 min)",
        "m_os.load15_per_cpu": "Load per CPU (15 min)", "m_os.memory_used_pct": "Memory used",
        "m_os.swap_used_bytes": "Swap used", "m_os.uptime_s": "Uptime",
        "m_os.disk.root.used_pct": "Root file system used",
        "m_os.disk.data.used_pct": "Data file system used",
        "m_os.disk.data.inodes_used_pct": "Data file system inodes used",
        "m_os.disk.data.free_bytes": "Data file system free", "m_os.clock_offset_s":
        "Clock offset", "m_pg.up": "Database up", "m_pg.version": "PostgreSQL version",
        "m_pg.connections": "Connections", "m_pg.connections_pct": "Connections in use",
        "m_pg.idle_in_transaction": "Idle in transaction", "m_pg.long_xacts":
        "Long transactions", "m_pg.lock_waits": "Lock waits", "m_pg.size_bytes":
        "Total database size", "m_pg.growth_bytes": "Growth since last inspection",
        "m_pg.cache_hit_pct": "Buffer cache hit ratio", "m_pg.deadlocks_new": "New deadlocks",
        "m_pg.dead_tuples_pct_max": "Highest dead tuple ratio", "m_pg.log.panic":
        "Log PANICs", "m_pg.log.fatal": "Log FATALs", "m_pg.log.error": "Log ERRORs",
        "m_repl.replicas": "Replicas", "m_repl.replicas_streaming": "Replicas streaming",
        "m_repl.max_replica_lag_bytes": "Largest replica lag",
        "m_repl.receiver_streaming": "Receiving from primary",
        "m_repl.replay_lag_bytes": "Replay lag", "m_repl.replay_age_s": "Since last replay",
        "m_backup.last_age_s": "Since last backup",
        "m_backup.verified_restore_age_s": "Since last restore drill",
        "m_baseline.drifts": "Baseline drifts",
        "m_ora.up": "Oracle database read", "m_ora.role": "Oracle database role",
        "m_ora.tablespace_used_pct_max": "Fullest tablespace",
        "m_ora.fra_used_pct": "Recovery area used (net of reclaimable)",
        "m_ora.invalid_objects": "Invalid application objects",
        "m_ora.alert_log_errors": "Alert log ORA- errors",
        "m_ora.blocked_sessions": "Blocked sessions", "m_ora.sessions_pct": "Sessions of limit",
        "m_ora.processes_pct": "Processes of limit", "m_ora.rman_failed_jobs":
        "Failed RMAN jobs", "m_ora.backup_last_age_s": "Since last good RMAN database backup",
        "m_ora.apply_lag_s": "Data Guard apply lag",
        "m_ora.transport_lag_s": "Data Guard transport lag",
        "m_ora.archive_gaps": "Archive log gaps", "m_ora.replicating": "Data Guard replicating",
    },
}

# The key metrics shown per host, in this order, and how each is read.
METRICS: tuple[tuple[str, str], ...] = (
    ("pg.up", "bool"), ("pg.version", "text"), ("pg.size_bytes", "bytes"),
    ("pg.growth_bytes", "bytes"), ("pg.connections", "int"), ("pg.connections_pct", "pct"),
    ("pg.cache_hit_pct", "pct"), ("pg.idle_in_transaction", "int"), ("pg.long_xacts", "int"),
    ("pg.lock_waits", "int"), ("pg.deadlocks_new", "int"), ("pg.dead_tuples_pct_max", "pct"),
    ("pg.log.panic", "int"), ("pg.log.fatal", "int"), ("pg.log.error", "int"),
    ("repl.replicas", "int"), ("repl.replicas_streaming", "int"),
    ("repl.max_replica_lag_bytes", "bytes"), ("repl.receiver_streaming", "bool"),
    ("repl.replay_lag_bytes", "bytes"), ("repl.replay_age_s", "seconds"),
    ("backup.last_age_s", "seconds"), ("backup.verified_restore_age_s", "seconds"),
    ("baseline.drifts", "int"),
    # an Oracle database's (a PostgreSQL host has none of these)
    ("ora.up", "bool"), ("ora.role", "text"), ("ora.tablespace_used_pct_max", "pct"),
    ("ora.fra_used_pct", "pct"), ("ora.invalid_objects", "int"),
    ("ora.alert_log_errors", "int"), ("ora.blocked_sessions", "int"),
    ("ora.sessions_pct", "pct"), ("ora.processes_pct", "pct"),
    ("ora.rman_failed_jobs", "int"), ("ora.backup_last_age_s", "seconds"),
    ("ora.apply_lag_s", "seconds"), ("ora.transport_lag_s", "seconds"),
    ("ora.archive_gaps", "int"), ("ora.replicating", "bool"),
    ("os.cpus", "int"), ("os.load1_per_cpu", "num"), ("os.load15_per_cpu", "num"),
    ("os.memory_used_pct", "pct"), ("os.swap_used_bytes", "bytes"),
    ("os.disk.root.used_pct", "pct"), ("os.disk.data.used_pct", "pct"),
    ("os.disk.data.inodes_used_pct", "pct"), ("os.disk.data.free_bytes", "bytes"),
    ("os.clock_offset_s", "offset"), ("os.uptime_s", "seconds"),
)

# Trend charts: (title key, metric, which roles' hosts, y formatter kind)
TRENDS: tuple[tuple[str, str, tuple[str, ...] | None, str], ...] = (
    ("trend_size", "pg.size_bytes", ("primary", "subscriber"), "bytes"),
    ("trend_lag", "repl.max_replica_lag_bytes", ("primary",), "bytes"),
    ("trend_conn", "pg.connections_pct", None, "pct"),
)


def render_html(report: dict[str, Any], history: list[dict[str, Any]],
                lang: str = "zh") -> str:
    """The report as one self-contained HTML page in Chinese (``zh``) or English (``en``).

    ``history`` holds the earlier inspection reports, oldest first, for the trend charts.
    """
    if lang not in LANGS:
        raise ValueError(f"report language must be one of {', '.join(LANGS)}, not {lang!r}")
    text = STRINGS[lang]
    hosts = report.get("hosts") or []
    template = _environment().get_template("inspection.html.j2")
    return template.render(
        t=text, lang=lang, r=report, summary=report.get("summary") or {},
        period=_period(report.get("started_at"), text),
        started=_when(report.get("started_at")), finished=_when(report.get("finished_at")),
        levels=_levels(report, lang), findings=findings(report),
        host_rows=[_host_row(h) for h in hosts],
        hosts=[_host_view(h, text) for h in hosts],
        problems=[(kind, ids) for kind in PROBLEM_KINDS
                  if (ids := (report.get("problems") or {}).get(kind))],
        trends=_trends(report, history, text),
        coverage=[_coverage_row(row, text) for row in report.get("coverage") or []],
        coverage_note=text["coverage_note"].format(
            **{k: v for k, v in (summary_coverage(report)).items() if k != "os_only"}))


def summary_coverage(report: dict[str, Any]) -> dict[str, Any]:
    from hisops.inspection.coverage import summary

    return dict((report.get("summary") or {}).get("coverage")
                or summary(report.get("coverage") or []))


def _coverage_row(row: dict[str, Any], text: dict[str, str]) -> dict[str, Any]:
    lag = row.get("lag") or {}
    shown = [human_bytes(lag["bytes"])] if lag.get("bytes") is not None else []
    if lag.get("seconds") is not None:
        shown.append(human_seconds(lag["seconds"], text))
    state = row.get("replicating")
    return {**row, "kind_label": text[f"kind_{row['kind']}"],
            "replication": ("" if state is None else
                            text["replicating_yes"] if state else text["replicating_no"]),
            "replicating_bad": state is False, "lag_shown": " / ".join(shown)}


def write_html(report: dict[str, Any], history: list[dict[str, Any]], path: Path,
               lang: str = "zh") -> None:
    """Write the HTML page (UTF-8), replacing the file whole."""
    html.write_atomic(path, render_html(report, history, lang))
    log.info("wrote inspection report %s (run %s)", path, report.get("run_id"))


def earlier(payloads: Iterable[dict[str, Any]], run_id: str | None,
            keep: int = HISTORY_KEEP) -> list[dict[str, Any]]:
    """The last ``keep`` journaled inspections before this one (oldest first)."""
    return [p for p in payloads if p.get("run_id") != run_id][-keep:] if keep > 0 else []


def findings(report: dict[str, Any]) -> list[dict[str, Any]]:
    """All hosts' findings, the most severe first, then by host, rule and subject."""
    rows = [f for host in report.get("hosts") or [] for f in host.get("findings") or []]
    return sorted(rows, key=lambda f: (html.severity_number(f.get("severity")),
                                       str(f.get("host", "")), str(f.get("rule", "")),
                                       str(f.get("subject", ""))))


@functools.cache
def _environment() -> Environment:
    env = html.environment("hisops.inspection")
    env.filters["bytes"] = human_bytes
    return env




def _levels(report: dict[str, Any], lang: str) -> list[dict[str, Any]]:
    text = STRINGS[lang]
    by_level = (report.get("summary") or {}).get("by_severity") or {}

    def limit(lvl: Any, which: str) -> str:
        found = lvl.limit(which)
        return found.text(lang) if found is not None else text["none"]

    return [{"number": n, "name": lvl.name(lang),
             "meaning": lvl.meaning_zh if lang == "zh" else lvl.meaning_en,
             "respond": limit(lvl, "respond"), "solution": limit(lvl, "solution"),
             "resolve": limit(lvl, "resolve"),
             "count": int(by_level.get(str(n), by_level.get(n, 0)) or 0)}
            for n, lvl in sorted(LEVELS.items())]


def _host_row(host: dict[str, Any]) -> dict[str, Any]:
    found = host.get("findings") or []
    return {"host": host.get("host", ""), "role": host.get("role", ""),
            "score": host.get("score"), "error": host.get("error"),
            "levels": [sum(1 for f in found if html.severity_number(f.get("severity")) == n)
                       for n in sorted(LEVELS)]}


def _host_view(host: dict[str, Any], text: dict[str, str]) -> dict[str, Any]:
    """What the template shows of one host, with values already in readable units."""
    values = host.get("metrics") or {}
    shown = []
    for name, kind in METRICS:
        if values.get(name) is None:
            continue
        value = _format(values[name], kind, text)
        if name == "pg.dead_tuples_pct_max" and values.get("pg.dead_tuples_table"):
            value += f" ({values['pg.dead_tuples_table']})"
        if name == "ora.tablespace_used_pct_max" and values.get("ora.tablespace_fullest"):
            value += f" ({values['ora.tablespace_fullest']})"
        shown.append((text.get(f"m_{name}", name), value))
    details = host.get("details") or {}
    per_db = details.get("per_database") or {}
    tables = sorted(({**row, "database": db} for db, entry in per_db.items()
                     for row in (entry or {}).get("tables") or []),
                    key=lambda row: -_number(row.get("dead")))[:TOP_TABLES]
    statements = sorted(({**row, "database": db} for db, entry in per_db.items()
                         for row in (entry or {}).get("statements") or []),
                        key=lambda row: -_number(row.get("total_ms")))[:TOP_TABLES]
    return {"host": host.get("host", ""), "role": host.get("role", ""),
            "groups": [g for g in host.get("groups") or [] if g != "all"],
            "error": host.get("error"), "score": host.get("score"),
            # two metrics a row: the page stays short on paper
            "metric_rows": [shown[i:i + 2] for i in range(0, len(shown), 2)],
            "databases": sorted(details.get("databases") or [],
                                key=lambda d: -_number(d.get("bytes"))),
            "tables": tables, "statements": statements,
            "db_errors": {db: e["error"] for db, e in per_db.items() if (e or {}).get("error")},
            "logs": list(details.get("log_samples") or [])[:LOG_SAMPLES],
            "interfaces": host.get("interfaces") or []}


def _trends(report: dict[str, Any], history: list[dict[str, Any]],
            text: dict[str, str]) -> list[dict[str, Any]]:
    runs = [*history, report]
    out = []
    for title, metric, roles, kind in TRENDS:
        series: dict[str, list[charts.Point]] = {}
        for run in runs:
            when = html.parse_time(run.get("started_at"))
            if when is None:
                continue
            for host in run.get("hosts") or []:
                value = (host.get("metrics") or {}).get(metric)
                if roles is not None and host.get("role") not in roles:
                    continue
                if isinstance(value, bool) or not isinstance(value, int | float):
                    continue
                series.setdefault(str(host.get("host", "")), []).append((when, float(value)))
        fmt: Callable[[float], str] = _pct
        if kind == "bytes":  # one unit for the whole axis, so its ticks are round numbers
            series, fmt = _in_unit(series)
        svg: Markup | None = charts.line_chart(series, label=text[title], fmt=fmt)
        out.append({"title": text[title], "svg": svg})
    return out


def _in_unit(series: dict[str, list[charts.Point]]
             ) -> tuple[dict[str, list[charts.Point]], Callable[[float], str]]:
    """Byte series scaled to the unit of their largest value, and a formatter in that unit."""
    top = max((abs(v) for points in series.values() for _, v in points), default=0.0)
    size, unit = next(((size, unit) for size, unit in (
        (1024**4, "TB"), (1024**3, "GB"), (1024**2, "MB"), (1024, "KB")) if top >= size),
        (1, "B"))
    scaled = {name: [(w, v / size) for w, v in points] for name, points in series.items()}
    return scaled, lambda value: f"{value:g} {unit}"


def human_bytes(value: Any) -> str:
    """Bytes as people read them: 512 B, 23.5 MB, 1.2 GB (1024-based, as PostgreSQL does)."""
    number = _number(value)
    sign = "-" if number < 0 else ""
    number = abs(number)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if number < 1024 or unit == "TB":
            return f"{sign}{number:.0f} {unit}" if unit == "B" else f"{sign}{number:.1f} {unit}"
        number /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def human_seconds(value: Any, text: dict[str, str]) -> str:
    """A span in the two largest units that matter: 2 d 3 h, 53 min, 12 s."""
    seconds = int(round(_number(value)))
    parts = []
    for unit, size in (("u_day", 86400), ("u_hour", 3600), ("u_min", 60)):
        if seconds >= size:
            parts.append(text[unit].format(n=seconds // size))
            seconds %= size
        if len(parts) == 2:
            break
    if not parts:
        parts.append(text["u_sec"].format(n=seconds))
    return " ".join(parts)


def _pct(value: float) -> str:
    return f"{value:g}%"


def _format(value: Any, kind: str, text: dict[str, str]) -> str:
    if kind == "bool":
        return text["yes"] if value else text["no"]
    if kind == "text" or isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if kind == "bytes":
        return human_bytes(value)
    if kind == "seconds":
        return human_seconds(value, text)
    if kind == "offset":  # the clock: milliseconds either way
        return f"{value * 1000:+.0f} ms"
    if kind == "pct":
        return f"{value:.1f}%"
    if kind == "int":
        return f"{int(value)}"
    return f"{value:g}"


def _number(value: Any) -> float:
    if isinstance(value, bool):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0




def _when(value: Any) -> str:
    when = html.parse_time(value)
    return f"{when:%Y-%m-%d %H:%M:%S %Z}".strip() if when else str(value or "")


def _period(started_at: Any, text: dict[str, str]) -> str:
    """The calendar quarter of the inspection: the contract's service period."""
    return html.quarter(started_at, text["quarter"])

