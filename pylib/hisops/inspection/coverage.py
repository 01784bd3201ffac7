"""Which databases an inspection covered: per system, its primary and each copy the contract
names (the Active Data Guard standby and the GoldenGate replica at the hospital; a streaming
standby and a logical subscriber on PostgreSQL), whether it was read and whether it replicates.

The contract asks for an inspection of the HIS database *and its ADG/OGG copies*; this is the
part of the report that shows it was done, or says what was not.
"""

from __future__ import annotations

from typing import Any

from hisops.inventory import db_engine

KINDS = {"db_primary": "primary", "db_standby": "physical_standby",
         "db_replica": "logical_replica"}
# what the hospital calls each copy, by engine
CALLED = {("oracle", "physical_standby"): "Active Data Guard",
          ("oracle", "logical_replica"): "GoldenGate",
          ("postgresql", "physical_standby"): "streaming standby",
          ("postgresql", "logical_replica"): "logical subscriber"}
# Database-level checks exist for PostgreSQL; for Oracle the host is read at OS level only
# until the Oracle inspection SQL exists (issue 10): said on the report, never implied.
DB_CHECKS = {"postgresql": True, "oracle": False}


def coverage(entries: list[dict[str, Any]], host_vars: Any) -> list[dict[str, Any]]:
    """One row per database host, primaries first, grouped by system (``hisops_system``)."""
    rows = []
    for entry in entries:
        kind = next((KINDS[g] for g in KINDS if g in entry["groups"]), None)
        if kind is None:
            continue
        hv = host_vars(entry["host"])
        engine = db_engine(entry["groups"], hv)
        metrics = entry["metrics"]
        rows.append({
            "system": str(hv.get("hisops_system") or ""), "host": entry["host"], "kind": kind,
            "engine": engine, "called": CALLED.get((engine, kind), "primary"),
            "read": not entry["error"],
            "database_checks": DB_CHECKS[engine] and not entry["error"],
            "up": metrics.get("pg.up") if DB_CHECKS[engine] else None,
            "replicating": _replicating(kind, metrics),
            "lag": _lag(kind, metrics)})
    order = {"primary": 0, "physical_standby": 1, "logical_replica": 2}
    return sorted(rows, key=lambda r: (r["system"], order[r["kind"]], r["host"]))


def _replicating(kind: str, metrics: dict[str, Any]) -> bool | None:
    if kind == "physical_standby":
        return metrics.get("repl.receiver_streaming")
    if kind == "logical_replica":
        if not metrics.get("repl.subscriptions"):
            return None if metrics.get("pg.up") is not True else False
        return metrics.get("repl.subscription_workers_down") == 0
    return None


def _lag(kind: str, metrics: dict[str, Any]) -> dict[str, Any] | None:
    if kind == "physical_standby" and metrics.get("repl.replay_lag_bytes") is not None:
        return {"bytes": metrics["repl.replay_lag_bytes"],
                "seconds": metrics.get("repl.replay_age_s")}
    if kind == "logical_replica" and metrics.get("repl.subscription_last_msg_age_s") is not None:
        return {"seconds": metrics["repl.subscription_last_msg_age_s"]}
    return None


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts for the cover: copies expected, read, replicating; hosts read at OS level only."""
    copies = [r for r in rows if r["kind"] != "primary"]
    return {"primaries": sum(1 for r in rows if r["kind"] == "primary"),
            "copies": len(copies), "copies_read": sum(1 for r in copies if r["read"]),
            "copies_replicating": sum(1 for r in copies if r["replicating"]),
            "os_only": [r["host"] for r in rows if r["read"] and not r["database_checks"]]}
