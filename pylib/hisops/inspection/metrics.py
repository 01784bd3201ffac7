"""From what a host answered to flat, named metrics the rules read (``pg.connections_pct``).

Pure functions of the probe's JSON (and of the previous inspection, for what grows between
two: database size, deadlocks). A metric that does not apply to a host (replication lag on a
primary) is absent, not zero: a rule only fires on what was measured.
"""

from __future__ import annotations

from typing import Any

DB_GROUPS = ("db_primary", "db_standby", "db_replica")
MIN_READS_FOR_HIT_RATIO = 10_000  # a cache hit ratio of a few reads says nothing
MIN_ROWS_FOR_BLOAT = 10_000  # dead tuples of tiny tables are noise


def role_of(groups: list[str], pg: dict[str, Any] | None) -> str:
    """primary, standby or subscriber as the server says; the inventory's when it is down."""
    if pg and "in_recovery" in pg:
        if pg["in_recovery"]:
            return "standby"
        return "subscriber" if pg.get("subscriptions") else "primary"
    if "db_standby" in groups:
        return "standby"
    if "db_replica" in groups:
        return "subscriber"
    return "primary" if "db_primary" in groups else "host"


def host_metrics(data: dict[str, Any], *, controller_mid_s: float | None,
                 previous: dict[str, Any] | None) -> dict[str, Any]:
    """Metrics of one host from its probe answer; ``previous`` is the last inspection's."""
    out: dict[str, Any] = {}
    os_part = data.get("os") or {}
    if "error" not in os_part and os_part:
        out.update(_os(os_part))
    if controller_mid_s is not None and data.get("clock") is not None:
        # the host's clock read between our send and receive: its offset from ours, +/- half
        # the round trip (a few ms here; NTP trouble is seconds)
        out["os.clock_offset_s"] = round(float(data["clock"]) - controller_mid_s, 3)
    pg = data.get("pg")
    if pg is not None:
        if "error" in pg:
            out["pg.up"] = False
            out["pg.error"] = pg["error"]
        else:
            out.update(_pg(pg, (previous or {})))
    return out


def _os(part: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "os.memory_used_pct": part.get("memory_used_pct"),
        "os.swap_used_bytes": part.get("swap_used_bytes"),
        "os.uptime_s": part.get("uptime_s"),
        "os.cpus": part.get("cpus"),
    }
    load = part.get("load") or []
    if load and part.get("cpus"):
        out["os.load1_per_cpu"] = round(float(load[0]) / int(part["cpus"]), 2)
        out["os.load15_per_cpu"] = round(float(load[2]) / int(part["cpus"]), 2)
    root = (part.get("filesystems") or {}).get("root") or {}
    out["os.disk.root.used_pct"] = root.get("used_pct")
    out["os.disk.root.inodes_used_pct"] = root.get("inodes_used_pct")
    return {k: v for k, v in out.items() if v is not None}


def _pg(pg: dict[str, Any], previous: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"pg.up": True, "pg.version": pg.get("version")}
    data_fs = (pg.get("filesystems") or {}).get("data") or {}
    out["os.disk.data.used_pct"] = data_fs.get("used_pct")
    out["os.disk.data.inodes_used_pct"] = data_fs.get("inodes_used_pct")
    out["os.disk.data.free_bytes"] = data_fs.get("free_bytes")
    usable = max(1, int(pg["max_connections"]) - int(pg.get("reserved_connections") or 0))
    out["pg.connections"] = pg.get("connections")
    out["pg.connections_pct"] = round(100.0 * int(pg.get("connections") or 0) / usable, 1)
    out["pg.idle_in_transaction"] = pg.get("idle_in_transaction")
    out["pg.oldest_xact_s"] = pg.get("oldest_xact_s")
    out["pg.long_xacts"] = pg.get("long_xacts")
    out["pg.lock_waits"] = pg.get("lock_waits")
    databases = pg.get("databases") or []
    out["pg.size_bytes"] = sum(int(d.get("bytes") or 0) for d in databases)
    deadlocks = sum(int(d.get("deadlocks") or 0) for d in databases)
    out["pg.deadlocks_total"] = deadlocks
    if previous.get("pg.deadlocks_total") is not None and deadlocks >= previous[
            "pg.deadlocks_total"]:
        out["pg.deadlocks_new"] = deadlocks - int(previous["pg.deadlocks_total"])
    if previous.get("pg.size_bytes"):
        out["pg.growth_bytes"] = out["pg.size_bytes"] - int(previous["pg.size_bytes"])
    ratios = [100.0 * d["blks_hit"] / (d["blks_hit"] + d["blks_read"]) for d in databases
              if (d.get("blks_hit") or 0) + (d.get("blks_read") or 0) >= MIN_READS_FOR_HIT_RATIO]
    if ratios:
        out["pg.cache_hit_pct"] = round(min(ratios), 2)
    out.update(_tables(pg))
    out.update(_log(pg.get("log") or {}))
    out.update(_replication(pg))
    return {k: v for k, v in out.items() if v is not None}


def _tables(pg: dict[str, Any]) -> dict[str, Any]:
    worst: tuple[float, str] | None = None
    for database, entry in (pg.get("per_database") or {}).items():
        for table in entry.get("tables") or []:
            if int(table.get("live") or 0) + int(table.get("dead") or 0) < MIN_ROWS_FOR_BLOAT:
                continue
            candidate = (float(table.get("dead_pct") or 0), f"{database}.{table['table']}")
            if worst is None or candidate > worst:
                worst = candidate
    if worst is None:
        return {}
    return {"pg.dead_tuples_pct_max": worst[0], "pg.dead_tuples_table": worst[1]}


def _log(log: dict[str, Any]) -> dict[str, Any]:
    counts = log.get("counts") or {}
    if not log.get("file"):
        return {}
    return {"pg.log.panic": counts.get("PANIC", 0), "pg.log.fatal": counts.get("FATAL", 0),
            "pg.log.error": counts.get("ERROR", 0), "pg.log.file": log.get("file")}


def _replication(pg: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if pg.get("in_recovery"):
        receiver = pg.get("receiver") or {}
        out["repl.receiver_streaming"] = receiver.get("status") == "streaming"
        out["repl.replay_lag_bytes"] = pg.get("replay_lag_bytes")
        out["repl.replay_age_s"] = pg.get("replay_age_s")
        out["repl.last_msg_age_s"] = receiver.get("last_msg_age_s")
        return out
    replicas = pg.get("replicas") or []
    out["repl.replicas"] = len(replicas)
    out["repl.replicas_streaming"] = sum(1 for r in replicas if r.get("state") == "streaming")
    lags = [float(r["lag_bytes"]) for r in replicas if r.get("lag_bytes") is not None]
    if lags:
        out["repl.max_replica_lag_bytes"] = max(lags)
    subscriptions = pg.get("subscriptions") or []
    if subscriptions:
        out["repl.subscriptions"] = len(subscriptions)
        out["repl.subscription_workers_down"] = sum(
            1 for s in subscriptions if s.get("enabled") and not s.get("worker"))
        ages = [float(s["last_msg_age_s"]) for s in subscriptions
                if s.get("last_msg_age_s") is not None]
        if ages:
            out["repl.subscription_last_msg_age_s"] = max(ages)
    return out
