"""``hisops baseline check``: probe the hosts in scope, judge every item, journal the report.

The report is plain data (the JSON output, the HTML annex and the journal record are the
same dict), so history and diffs read exactly what people were shown.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from hisops.baselines import collect
from hisops.baselines.evaluate import DRIFT, ERROR, NA, OK, HostContext, Result, evaluate
from hisops.baselines.loader import BaselineError, LoadedBaseline
from hisops.inventory import Inventory
from hisops.journal import Journal
from hisops.runbook.engine import new_run_id

RECORD_KIND = "baseline.check"
REPORT_KIND = "hisops.baseline.check"


def hosts_in_scope(loaded: LoadedBaseline, inventory: Inventory,
                   limit: str | None) -> tuple[dict[str, list[Any]], list[str]]:
    """(host -> its items in inventory order, scope groups the inventory lacks)."""
    baseline = loaded.baseline
    groups = {g for item in baseline.items for g in baseline.scope_of(item)}
    missing = sorted(g for g in groups if g not in inventory.groups)
    per_host: dict[str, list[Any]] = {}
    for item in baseline.items:
        present = [g for g in baseline.scope_of(item) if g in inventory.groups]
        if not present:
            continue
        for host in inventory.hosts(":".join(present), limit):
            per_host.setdefault(host, []).append(item)
    if not per_host:
        where = f" (limited to {limit})" if limit else ""
        raise BaselineError(f"no host of inventory {inventory.source}{where} is in the "
                            f"baseline's scope ({', '.join(sorted(groups))})",
                            file=str(loaded.path), field="scope")
    order = inventory.hosts("all")
    return {h: per_host[h] for h in order if h in per_host}, missing


def run_check(loaded: LoadedBaseline, inventory: Inventory, *, limit: str | None = None,
              fail_on: int = 4, journal: Journal | None = None,
              on_host: Callable[[str], None] | None = None,
              timeout_s: float = collect.DEFAULT_TIMEOUT_S) -> dict[str, Any]:
    per_host, missing = hosts_in_scope(loaded, inventory, limit)
    started = datetime.now(UTC)
    t0 = time.monotonic()
    if loaded.baseline.engine == "oracle":
        hosts = _oracle_hosts(per_host, inventory)
    else:
        requests = {host: collect.build_request(items, int(inventory.host_vars(host).get(
            "pg_port", 5432))) for host, items in per_host.items()}
        snapshots = collect.collect(requests, inventory, timeout_s=timeout_s, on_host=on_host)
        hosts = [_host_report(host, items, snapshots[host], inventory)
                 for host, items in per_host.items()]
    report = _report(loaded, inventory, limit, fail_on, hosts, missing, started,
                     time.monotonic() - t0)
    if journal is not None:
        journal.append(report["run_id"], RECORD_KIND, report)
    return report


def _oracle_hosts(per_host: dict[str, list[Any]], inventory: Inventory) -> list[dict[str, Any]]:
    from hisops.baselines import oracle_check

    read = oracle_check.read_all(list(per_host), inventory.host_vars)
    out = []
    for host, items in per_host.items():
        snapshot, error = read[host]
        entry: dict[str, Any] = {"host": host, "groups": inventory.groups_by_host.get(host, []),
                                 "error": error or None, "results": []}
        if not error:
            host_vars = inventory.host_vars(host)
            entry["results"] = [_row(item, oracle_check.judge(item, snapshot, host_vars))
                                for item in items]
        out.append(entry)
    return out


def _host_report(host: str, items: list[Any], snapshot: collect.Snapshot,
                 inventory: Inventory) -> dict[str, Any]:
    host_vars = inventory.host_vars(host)
    groups = inventory.groups_by_host.get(host, [])
    if snapshot.error:
        return {"host": host, "groups": groups, "error": snapshot.error, "results": []}
    ctx = HostContext(host=host, snapshot=snapshot, host_vars=host_vars)
    pg = snapshot.data.get("pg") or {}
    results = []
    for item in items:
        result = evaluate(item, ctx)
        row = _row(item, result)
        if result.status == DRIFT and item.kind in ("pg_roles", "pg_extension") \
                and pg.get("in_recovery"):
            row["detail"] = ("a standby has the primary's roles and extensions: fixed on the "
                             "primary, it follows by replication")
            row["target"] = {}
        results.append(row)
    return {"host": host, "groups": groups, "error": None,
            "role": ("standby" if pg.get("in_recovery") else "primary") if pg else None,
            "facts": snapshot.data.get("facts", {}), "results": results}


def _row(item: Any, result: Result) -> dict[str, Any]:
    out = asdict(result)
    out.update(item=item.id, section=item.section, title=item.title,
               title_zh=item.title_zh or item.title, severity=item.severity, kind=item.kind,
               fix_mode="manual" if result.needs == "manual" else item.fix)
    return out


def _report(loaded: LoadedBaseline, inventory: Inventory, limit: str | None, fail_on: int,
            hosts: list[dict[str, Any]], missing: list[str], started: datetime,
            duration_s: float) -> dict[str, Any]:
    counts = {OK: 0, DRIFT: 0, ERROR: 0, NA: 0}
    by_level = {str(n): 0 for n in (1, 2, 3, 4)}
    for host in hosts:
        for row in host["results"]:
            counts[row["status"]] += 1
            if row["status"] == DRIFT:
                by_level[str(row["severity"])] += 1
    unreadable = sum(1 for h in hosts if h["error"])
    failing = sum(by_level[str(n)] for n in range(1, fail_on + 1))
    baseline = loaded.baseline
    return {
        "kind": REPORT_KIND, "run_id": f"bl-{new_run_id()}",
        "baseline": {"name": baseline.baseline, "title": baseline.title,
                     "title_zh": baseline.title_zh or baseline.title, "source": baseline.source,
                     "version": baseline.version, "digest": loaded.digest,
                     "engine": baseline.engine, "path": str(loaded.path)},
        "inventory": str(inventory.source), "limit": limit,
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "duration_s": round(duration_s, 2), "fail_on": fail_on, "scope_missing": missing,
        "summary": {"hosts": len(hosts), "unreadable": unreadable,
                    "checked": sum(counts.values()), "ok": counts[OK], "drift": counts[DRIFT],
                    "error": counts[ERROR], "not_applicable": counts[NA],
                    "drift_by_severity": by_level,
                    "failed": bool(failing or unreadable or counts[ERROR])},
        "hosts": hosts,
    }

