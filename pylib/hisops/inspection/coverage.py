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


def database_checked(engine: str, entry: dict[str, Any]) -> bool:
    """Whether this host's database was inspected, per host: a PostgreSQL host's checks come
    with its SSH probe; an Oracle host's only from a database actually read (``ora.up``). A
    host read at OS level only is said so on the report, never implied otherwise."""
    if engine == "oracle":
        return entry["metrics"].get("ora.up") is True
    return not entry["error"]


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
        checked = database_checked(engine, entry)
        if engine == "oracle":
            rows.append({
                "system": str(hv.get("hisops_system") or ""), "host": entry["host"],
                "kind": kind, "engine": engine, "called": CALLED.get((engine, kind), "primary"),
                # over SSH or at database level: an Oracle database is read from here
                "read": not entry["error"] or checked, "database_checks": checked,
                "up": True if checked else None,
                "replicating": _oracle_replicating(kind, metrics),
                "lag": _oracle_lag(kind, metrics)})
            continue
        rows.append({
            "system": str(hv.get("hisops_system") or ""), "host": entry["host"], "kind": kind,
            "engine": engine, "called": CALLED.get((engine, kind), "primary"),
            "read": not entry["error"],
            "database_checks": checked,
            "up": metrics.get("pg.up"),
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


def _oracle_replicating(kind: str, metrics: dict[str, Any]) -> bool | None:
    """An ADG standby read: receiving and applying redo, nothing missing. A GoldenGate
    replica's replicat is read by the oracle_inspect role (GGSCI), not here: unknown."""
    if kind == "physical_standby":
        return metrics.get("ora.replicating")
    return None


def _oracle_lag(kind: str, metrics: dict[str, Any]) -> dict[str, Any] | None:
    if kind == "physical_standby" and metrics.get("ora.apply_lag_s") is not None:
        return {"seconds": metrics["ora.apply_lag_s"]}
    return None


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts for the cover: copies expected, read, replicating; hosts read at OS level only."""
    copies = [r for r in rows if r["kind"] != "primary"]
    return {"primaries": sum(1 for r in rows if r["kind"] == "primary"),
            "copies": len(copies), "copies_read": sum(1 for r in copies if r["read"]),
            "copies_replicating": sum(1 for r in copies if r["replicating"]),
            "os_only": [r["host"] for r in rows if r["read"] and not r["database_checks"]]}
