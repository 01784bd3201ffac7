"""Runs ON an inspected host (python3 from the OS, standard library only): read, never change.

hisops sends this file over SSH with a JSON request (the PostgreSQL port, how much of the
database log to scan) and reads back one JSON line of facts: the OS (disk and inode use of the
data and root filesystems, memory, load, uptime, the host's clock for the offset), the recent
errors of the database log, and the database (sizes, connections against the limit, long
transactions, lock waits, deadlocks, cache hit ratio, dead-tuple bloat estimate, top
statements, replication as primary, standby or subscriber). SQL runs as the postgres OS user
over the local socket (peer authentication): no password travels.
"""

from __future__ import annotations

import glob
import json
import os
import re
import sys
import time
from typing import Any

from hisops.executors.remote_psql import psql  # inlined when sent (probe.script_text)

_LOG_LEVELS = ("PANIC", "FATAL", "ERROR")
_LOG_LINE = re.compile(r"\b(PANIC|FATAL|ERROR):\s")



# One session for the cluster-wide facts; replication columns differ by role, so each role's
# part is NULL where it does not apply.
CLUSTER_SQL = """SELECT json_build_object(
 'version', split_part(current_setting('server_version'), ' ', 1),
 'in_recovery', pg_is_in_recovery(),
 'data_directory', current_setting('data_directory'),
 'log_directory', current_setting('log_directory'),
 'logging_collector', current_setting('logging_collector'),
 'started_at', pg_postmaster_start_time(),
 'max_connections', current_setting('max_connections')::int,
 'reserved_connections', current_setting('superuser_reserved_connections')::int,
 'connections', (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'),
 'active', (SELECT count(*) FROM pg_stat_activity
            WHERE backend_type = 'client backend' AND state = 'active'),
 'idle_in_transaction', (SELECT count(*) FROM pg_stat_activity
            WHERE state LIKE 'idle in transaction%'),
 'oldest_xact_s', (SELECT extract(epoch FROM max(now() - xact_start)) FROM pg_stat_activity
            WHERE backend_type = 'client backend' AND xact_start IS NOT NULL
              AND pid <> pg_backend_pid()),
 'long_xacts', (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'
            AND xact_start < now() - interval '5 minutes' AND pid <> pg_backend_pid()),
 'lock_waits', (SELECT count(*) FROM pg_locks WHERE NOT granted),
 'databases', (SELECT coalesce(json_agg(json_build_object(
      'name', d.datname, 'bytes', pg_database_size(d.datname),
      'deadlocks', s.deadlocks, 'xact_commit', s.xact_commit, 'xact_rollback', s.xact_rollback,
      'blks_hit', s.blks_hit, 'blks_read', s.blks_read, 'temp_bytes', s.temp_bytes,
      'conflicts', s.conflicts, 'stats_reset', s.stats_reset) ORDER BY d.datname), '[]')
    FROM pg_database d JOIN pg_stat_database s ON s.datid = d.oid
    WHERE d.datallowconn AND NOT d.datistemplate),
 'replicas', CASE WHEN NOT pg_is_in_recovery() THEN (SELECT coalesce(json_agg(json_build_object(
      'name', application_name, 'state', state, 'sync_state', sync_state,
      'lag_bytes', pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn),
      'replay_lag_s', extract(epoch FROM replay_lag)) ORDER BY application_name), '[]')
    FROM pg_stat_replication) END,
 'receiver', (SELECT json_build_object('status', status,
      'last_msg_age_s', extract(epoch FROM now() - last_msg_receipt_time))
    FROM pg_stat_wal_receiver),
 'replay_age_s', CASE WHEN pg_is_in_recovery() THEN
      extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END,
 'replay_lag_bytes', CASE WHEN pg_is_in_recovery() THEN
      pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()) END,
 'subscriptions', (SELECT coalesce(json_agg(json_build_object(
      'name', subname, 'enabled', subenabled,
      'worker', (SELECT pid IS NOT NULL FROM pg_stat_subscription s
                 WHERE s.subid = p.oid AND s.relid IS NULL LIMIT 1),
      'last_msg_age_s', (SELECT extract(epoch FROM now() - max(last_msg_receipt_time))
                         FROM pg_stat_subscription s WHERE s.subid = p.oid))
      ORDER BY subname), '[]') FROM pg_subscription p)
)
"""

# Per database: the tables with the most dead tuples (an estimate of bloat from the
# statistics collector: cheap, no table scan) and whether pg_stat_statements is installed IN
# THIS DATABASE (an extension is per database: asked in the maintenance database it says
# nothing about his); where it is, the statements with the most total execution time.
TABLES_SQL = """SELECT json_build_object(
 'tables', (SELECT coalesce(json_agg(t), '[]') FROM (
  SELECT schemaname || '.' || relname AS table, n_live_tup AS live, n_dead_tup AS dead,
         pg_total_relation_size(relid) AS bytes,
         round(100.0 * n_dead_tup / greatest(n_live_tup + n_dead_tup, 1), 1) AS dead_pct,
         greatest(last_autovacuum, last_vacuum) AS last_vacuum
  FROM pg_stat_user_tables ORDER BY n_dead_tup DESC, relid LIMIT 5) t),
 'statements_installed', EXISTS (SELECT 1 FROM pg_extension
                                 WHERE extname = 'pg_stat_statements'))"""

STATEMENTS_SQL = """SELECT coalesce(json_agg(s), '[]') FROM (
  SELECT left(regexp_replace(query, '\\s+', ' ', 'g'), 160) AS query, calls,
         round(total_exec_time::numeric, 1) AS total_ms,
         round(mean_exec_time::numeric, 2) AS mean_ms, rows
  FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database
                                        WHERE datname = current_database())
  ORDER BY total_exec_time DESC LIMIT 5) s"""


def read_pg(req: dict[str, Any]) -> dict[str, Any]:
    port = int(req["port"])
    cluster: dict[str, Any] = json.loads(psql(port, CLUSTER_SQL))
    per_db: dict[str, Any] = {}
    databases = req.get("databases")
    if databases is None:  # every database an application uses (not the maintenance one)
        databases = [d["name"] for d in cluster.get("databases") or [] if d["name"] != "postgres"]
    for database in databases:
        entry: dict[str, Any] = {}
        try:
            found = json.loads(psql(port, TABLES_SQL, database))
        except RuntimeError as exc:
            entry["error"] = str(exc)
        else:
            entry["tables"] = found["tables"]
            if found["statements_installed"]:
                try:
                    entry["statements"] = json.loads(psql(port, STATEMENTS_SQL, database))
                except RuntimeError as exc:  # e.g. installed but not in shared_preload_libraries
                    entry["statements_error"] = str(exc)
        per_db[database] = entry
    cluster["per_database"] = per_db
    cluster["log"] = scan_log(cluster, req)
    cluster["filesystems"] = {"data": filesystem(cluster["data_directory"])}
    return cluster


def newest_log(cluster: dict[str, Any], req: dict[str, Any]) -> str | None:
    if cluster.get("logging_collector") == "on":
        folder = cluster["log_directory"]
        if not folder.startswith("/"):
            folder = os.path.join(cluster["data_directory"], folder)
        candidates = glob.glob(os.path.join(folder, "*"))
    else:  # Debian's pg_ctlcluster sends stderr to /var/log/postgresql
        candidates = glob.glob(req.get("fallback_log") or "/var/log/postgresql/*.log")
    candidates = [c for c in candidates if os.path.isfile(c)]
    return max(candidates, key=os.path.getmtime) if candidates else None


def scan_log(cluster: dict[str, Any], req: dict[str, Any]) -> dict[str, Any]:
    """Counts of PANIC/FATAL/ERROR lines in the newest log's tail, and the last few of them."""
    path = newest_log(cluster, req)
    if path is None:
        return {"file": None, "counts": {}, "samples": []}
    tail = int(req.get("log_tail_bytes") or 4 * 1024 * 1024)
    with open(path, "rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - tail))
        text = handle.read().decode("utf-8", errors="replace")
    counts = {level: 0 for level in _LOG_LEVELS}
    samples: list[str] = []
    for line in text.splitlines():
        match = _LOG_LINE.search(line)
        if match:
            counts[match.group(1)] += 1
            samples.append(line[:300])
    return {"file": path, "scanned_bytes": min(size, tail), "counts": counts,
            "samples": samples[-5:]}


def filesystem(path: str) -> dict[str, Any]:
    st = os.statvfs(path)
    total = st.f_blocks * st.f_frsize
    free = st.f_bavail * st.f_frsize
    inodes = st.f_files or 0
    return {"path": path, "total_bytes": total, "free_bytes": free,
            "used_pct": round(100.0 * (total - free) / total, 1) if total else None,
            "inodes_used_pct": (round(100.0 * (inodes - st.f_favail) / inodes, 1)
                                if inodes else None)}


def read_os() -> dict[str, Any]:
    meminfo: dict[str, int] = {}
    with open("/proc/meminfo", encoding="utf-8") as handle:
        for line in handle:
            key, _, rest = line.partition(":")
            meminfo[key] = int(rest.split()[0]) * 1024
    with open("/proc/uptime", encoding="utf-8") as handle:
        uptime = float(handle.read().split()[0])
    total, available = meminfo.get("MemTotal", 0), meminfo.get("MemAvailable", 0)
    return {"cpus": os.cpu_count() or 1, "load": list(os.getloadavg()), "uptime_s": uptime,
            "memory_bytes": total, "memory_available_bytes": available,
            "memory_used_pct": round(100.0 * (total - available) / total, 1) if total else None,
            "swap_used_bytes": meminfo.get("SwapTotal", 0) - meminfo.get("SwapFree", 0),
            "filesystems": {"root": filesystem("/")}}


def main(request: dict[str, Any]) -> None:
    report: dict[str, Any] = {"clock": time.time()}
    parts: tuple[tuple[str, Any], ...] = (("os", lambda _: read_os()), ("pg", read_pg))
    for key, reader in parts:
        if key == "os" or request.get(key):
            try:
                report[key] = reader(request.get(key))
            except Exception as exc:  # one part failing must not hide the others
                report[key] = {"error": f"{type(exc).__name__}: {exc}"}
    report["clock_end"] = time.time()
    sys.stdout.write(json.dumps(report, default=str) + "\n")


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
