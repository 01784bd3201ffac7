"""``hisops env diff A B``: what differs between two environments' databases.

Read-only. For each environment's first database host: the server version, the settings that
are not at their defaults (``pg_settings``: what an engineer changed, by file or ALTER SYSTEM),
the extensions, and the drift each host showed in its latest journaled baseline check. A test
copy that differs from production in a parameter the fault depends on reproduces nothing;
this says which ones before anyone spends a day on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hisops.envs import dbconn
from hisops.envs.environments import Environment
from hisops.inventory import Inventory
from hisops.journal import Journal

# settings that differ between any two servers and say nothing about their configuration
IGNORED_SETTINGS = frozenset({
    "data_directory", "config_file", "hba_file", "ident_file", "external_pid_file", "port",
    "cluster_name", "application_name", "transaction_read_only", "in_hot_standby",
    "unix_socket_directories", "archive_mode", "archive_command", "restore_command",
    "primary_conninfo", "primary_slot_name", "recovery_target_timeline"})

# every setting with its effective value, and whether someone set it (file, ALTER SYSTEM, ...)
SETTINGS_SQL = """SELECT name, setting, coalesce(unit, ''),
       source NOT IN ('default', 'override', 'client', 'session')
FROM pg_settings ORDER BY name"""


def read_database(inventory: Inventory, host: str, secrets: Mapping[str, str], *,
                  dbname: str = "postgres") -> dict[str, Any]:
    try:
        with dbconn.connect(inventory, host, dbname=dbname, secrets=secrets,
                            autocommit=True) as conn:
            version = conn.execute("SHOW server_version").fetchone()
            rows = [r for r in conn.execute(SETTINGS_SQL).fetchall()
                    if r[0] not in IGNORED_SETTINGS]
            extensions = {name: ver for name, ver in conn.execute(
                "SELECT extname, extversion FROM pg_extension ORDER BY 1").fetchall()}
            recovery = conn.execute("SELECT pg_is_in_recovery()").fetchone()
    except Exception as exc:  # one environment unreadable is a finding, not a crash
        return {"host": host, "error": str(exc)}
    return {"host": host, "version": version[0] if version else None,
            "in_recovery": bool(recovery and recovery[0]),
            "settings": {name: f"{value}{unit}" for name, value, unit, _ in rows},
            "configured": sorted(name for name, _, _, configured in rows if configured),
            "extensions": extensions}


def latest_baseline_drift(journal: Journal | None, host: str) -> dict[str, Any]:
    """baseline name -> drifting item ids on HOST in its latest journaled check."""
    out: dict[str, Any] = {}
    if journal is None:
        return out
    for record in journal.records(kinds=["baseline.check"]):
        report = record.payload
        for entry in report.get("hosts", []):
            if entry.get("host") != host or entry.get("error"):
                continue
            out[report["baseline"]["name"]] = {
                "run_id": report.get("run_id"), "at": report.get("started_at"),
                "drift": sorted(r["item"] for r in entry.get("results", [])
                                if r.get("status") == "drift")}
    return out


def compare(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """The differences between two read databases (each side's value, None when absent)."""
    def changed(left: Mapping[str, Any], right: Mapping[str, Any]) -> dict[str, list[Any]]:
        return {k: [left.get(k), right.get(k)] for k in sorted({*left, *right})
                if left.get(k) != right.get(k)}

    drift_a = {n: v["drift"] for n, v in (a.get("baselines") or {}).items()}
    drift_b = {n: v["drift"] for n, v in (b.get("baselines") or {}).items()}
    # a setting someone configured on either side, whose effective values differ (one side
    # setting a parameter to its default is no difference)
    configured = set(a.get("configured") or []) | set(b.get("configured") or [])
    settings_a = {k: v for k, v in (a.get("settings") or {}).items() if k in configured}
    settings_b = {k: v for k, v in (b.get("settings") or {}).items() if k in configured}
    return {"version": None if a.get("version") == b.get("version")
            else [a.get("version"), b.get("version")],
            "settings": changed(settings_a, settings_b),
            "extensions": changed(a.get("extensions") or {}, b.get("extensions") or {}),
            "baseline_drift": changed(drift_a, drift_b)}


def diff(inventory: Inventory, left: Environment, right: Environment, *,
         secrets: Mapping[str, str], journal: Journal | None) -> dict[str, Any]:
    sides = []
    for env in (left, right):
        if not env.databases:
            sides.append({"environment": env.to_dict(), "error": "no database host "
                          "(db_primary, db_test, db_standby or db_replica) in it"})
            continue
        host = env.databases[0]
        read = read_database(inventory, host, secrets)
        read["baselines"] = latest_baseline_drift(journal, host)
        sides.append({"environment": env.to_dict(), **read})
    readable = all("error" not in s for s in sides)
    return {"kind": "hisops.env.diff", "left": sides[0], "right": sides[1],
            "differences": compare(sides[0], sides[1]) if readable else None,
            "complete": readable}
