"""``hisops inspect``: read every host at once, add what the journal knows, judge by the rules.

Read-only: one SSH round trip per host (``remote_probe.py``), the journal for backups,
restore drills, baseline checks and the previous inspection. An Oracle database host is also
read at database level in thin mode, in parallel with the SSH probes (``oracle.py``). An
unreachable host, a failed probe or an unreadable database is a finding, never a crash; the
other hosts are inspected all the same and the report says it is partial. The report is plain
data, journaled as one ``inspection.run`` record.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hisops.executors import probe
from hisops.inspection import coverage as coverage_mod
from hisops.inspection import interfaces
from hisops.inspection import metrics as metrics_mod
from hisops.inspection import oracle as oracle_mod
from hisops.inspection.rules import Finding, Rule, applies, judge, load_rules, thresholds
from hisops.inventory import Inventory, db_engine
from hisops.journal import Journal
from hisops.runbook.engine import new_run_id

RECORD_KIND = "inspection.run"
REPORT_KIND = "hisops.inspection"
DEFAULT_TIMEOUT_S = 60.0
# health score: what a finding of each level costs (100 = nothing found)
SCORE_COST = {1: 40, 2: 15, 3: 5, 4: 1}
HOST_MEASURED = ("os.", "pg.", "repl.")  # what an unreachable host cannot tell


def request_for(groups: list[str], host_vars: dict[str, Any]) -> dict[str, Any]:
    """What to read on a host over SSH: OS facts always; PostgreSQL's when it is a PostgreSQL
    database host (an Oracle database is read over thin mode from here: ``oracle.py``)."""
    if (set(groups) & set(metrics_mod.DB_GROUPS)
            and db_engine(groups, host_vars) == "postgresql"):
        return {"pg": {"port": int(host_vars.get("pg_port", 5432)), "databases": None}}
    return {}


def _previous(journal: Journal | None) -> dict[str, dict[str, Any]]:
    """host -> its metrics in the last inspection (growth and deadlocks are measured from it)."""
    if journal is None:
        return {}
    records = journal.records(kinds=[RECORD_KIND])
    if not records:
        return {}
    return {h["host"]: h.get("metrics") or {} for h in records[-1].payload.get("hosts", [])}


def _iso_s(value: str) -> float | None:
    try:
        return datetime.fromisoformat(value).timestamp()
    except (TypeError, ValueError):
        return None


def _clock_reference(result: probe.ProbeResult) -> float | None:
    """The controller's time when the host last read its clock: the end of the SSH call.

    The host reads ``clock_end`` just before it prints its answer; we stop the clock when the
    answer is in, milliseconds later. (The middle of the call would be biased by the SSH
    connection set-up, a few hundred milliseconds, all before the script starts.)
    """
    return _iso_s(result.ended_at)


def _host_clock(data: dict[str, Any]) -> dict[str, Any]:
    if data.get("clock_end") is not None:
        return {**data, "clock": float(data["clock_end"])}
    return data


def run_inspection(inventory: Inventory, *, limit: str | None = None,
                   journal: Journal | None = None, rules_path: Path | None = None,
                   on_host: Callable[[str], None] | None = None,
                   timeout_s: float = DEFAULT_TIMEOUT_S) -> dict[str, Any]:
    rules = load_rules(rules_path)  # exit 2 on bad rules, before any host
    groups = inventory.groups_by_host
    hosts = inventory.hosts("all", limit)
    started = datetime.now(UTC)
    t0 = time.monotonic()
    requests = {h: request_for(groups.get(h, []), inventory.host_vars(h)) for h in hosts}
    script = probe.script_text("hisops.inspection", "remote_probe.py")
    declared = {h: interfaces.declared(inventory.host_vars(h)) for h in hosts}
    oracle_hosts = {h: inventory.host_vars(h) for h in hosts if oracle_mod.is_oracle_database(
        groups.get(h, []), inventory.host_vars(h))}
    # interfaces and Oracle databases while the hosts answer
    with ThreadPoolExecutor(max_workers=2) as pool:
        calls = pool.submit(interfaces.probe_all, declared)
        databases = pool.submit(oracle_mod.read_all, oracle_hosts, timeout_s=timeout_s)
        answers = probe.run_probes(script, requests, inventory, timeout_s=timeout_s,
                                   on_host=on_host)
        called = calls.result()
        oracle_reads = databases.result()
    iface_facts = interfaces.interface_metrics(called)
    previous = _previous(journal)
    from_journal = journal_facts(journal, hosts, inventory, groups, now=started)
    entries: list[dict[str, Any]] = []
    for host in hosts:
        answer = answers[host]
        host_groups = groups.get(host, [])
        if answer.error:
            found: dict[str, Any] = {"host.reachable": False}
            pg = None
        else:
            found = {"host.reachable": True, **metrics_mod.host_metrics(
                _host_clock(answer.data), controller_mid_s=_clock_reference(answer),
                previous=previous.get(host))}
            pg = answer.data.get("pg")
        if "os.clock_offset_s" in found:
            found["os.clock_offset_abs_s"] = abs(found["os.clock_offset_s"])
        role = metrics_mod.role_of(host_groups, pg if isinstance(pg, dict) and
                                   "error" not in pg else None)
        found.update(from_journal.get(host, {}))
        if host in oracle_reads:
            role = _fold_oracle(found, host_groups, oracle_reads[host])
        found.update(iface_facts.get(host, {}))
        entries.append({"host": host, "groups": host_groups, "role": role,
                        "error": answer.error or None, "metrics": found,
                        "details": _details(answer.data),
                        "interfaces": [asdict(r) for r in called if r.host == host]})
    add_replica_expectations(entries, inventory)
    for entry in entries:
        host_vars = inventory.host_vars(entry["host"])
        found_here = evaluate(rules, entry, host_vars)
        if entry["host"] in oracle_reads:
            found_here = sorted([*found_here, *oracle_mod.oracle_findings(
                oracle_reads[entry["host"]], entry["host"], host_vars)],
                key=lambda f: (f.severity, f.rule))
        entry["findings"] = [_finding_dict(f) for f in found_here]
        entry["score"] = score(entry["findings"])
    report = _report(inventory, limit, entries, started, time.monotonic() - t0)
    report["coverage"] = coverage_mod.coverage(entries, inventory.host_vars)
    report["summary"]["coverage"] = coverage_mod.summary(report["coverage"])
    if journal is not None:
        # problems first, so the journaled report names the problem of each finding
        report["problems"] = track_problems(journal, report, observed_at=started)
        journal.append(report["run_id"], RECORD_KIND, report)
    return report


def _fold_oracle(found: dict[str, Any], groups: list[str], read: oracle_mod.OracleRead
                 ) -> str:
    """Add an Oracle database's ``ora.`` metrics to its host's; return the host's role.

    The newest good RMAN database backup counts as the host's last backup when it is newer
    than what the journal knows: the ``backup.age`` rule then judges Oracle's backups as it
    does PostgreSQL's (the engine's own backup-age check is not run, so it is never said twice).
    """
    found.update(oracle_mod.oracle_metrics(read))
    rman_age = found.get("ora.backup_last_age_s")
    if rman_age is not None and "db_primary" in groups:
        known = found.get("backup.last_age_s")
        found["backup.last_age_s"] = rman_age if known is None else min(known, rman_age)
    return oracle_mod.role_of(groups, read)


def track_problems(journal: Journal, report: dict[str, Any], *, observed_at: datetime
                   ) -> dict[str, Any]:
    """Open or update a problem per finding; a problem of a fully inspected host that was not
    found again is marked for confirmation (an unreachable host's problems stay as they are,
    and so do those of an Oracle host whose database could not be read)."""
    from hisops.problems import sync_findings

    findings = [f for entry in report["hosts"] for f in entry["findings"]]
    scope = [e["host"] for e in report["hosts"]
             if not e["error"] and e["metrics"].get("ora.up") is not False]
    result = sync_findings(journal, findings, source=report["run_id"],
                           observed_at=observed_at, scope=scope)
    for finding in findings:
        finding["problem"] = result.by_key.get(finding["key"])
    return {"opened": list(result.opened), "updated": list(result.updated),
            "escalated": list(result.escalated), "reopened": list(result.reopened),
            "to_confirm": list(result.to_confirm)}


def _details(data: dict[str, Any]) -> dict[str, Any]:
    """What the report shows beside the metrics: top statements and tables, log samples."""
    pg = data.get("pg") or {}
    if "error" in pg:
        return {}
    return {"per_database": pg.get("per_database") or {},
            "log_samples": (pg.get("log") or {}).get("samples") or [],
            "databases": pg.get("databases") or [],
            "streaming": [r["name"] for r in pg.get("replicas") or []
                          if r.get("state") == "streaming"]}


def journal_facts(journal: Journal | None, hosts: list[str], inventory: Inventory,
                  groups: dict[str, list[str]], *, now: datetime) -> dict[str, dict[str, Any]]:
    """Backups, restore drills and baseline drift per host, from the journal."""
    if journal is None:
        return {}
    from hisops.reports.backups import backup_overview

    out: dict[str, dict[str, Any]] = {h: {} for h in hosts}
    records = journal.records(kinds=["evidence.recorded", "run.started"])
    overview = backup_overview(records, now=now, stale_after_s=86400.0)
    for host in hosts:
        if "db_primary" not in groups.get(host, []):
            continue
        system = inventory.host_vars(host).get("hisops_system")
        mine = [s for s in overview if system is None or s.database == system]
        backups = [s.last_backup.finished_at for s in mine if s.last_backup]
        drills = [s.last_verified.drilled_at for s in mine if s.last_verified]
        if backups:
            out[host]["backup.last_age_s"] = round((now - min(backups)).total_seconds())
        if drills:
            out[host]["backup.verified_restore_age_s"] = round(
                (now - min(drills)).total_seconds())
    _baseline_facts(journal, out)
    return out


def _baseline_facts(journal: Journal, out: dict[str, dict[str, Any]]) -> None:
    latest: dict[str, dict[str, Any]] = {}
    for record in journal.records(kinds=["baseline.check"]):
        latest[record.payload["baseline"]["name"]] = record.payload
    for report in latest.values():
        for entry in report.get("hosts", []):
            if entry["host"] not in out or entry.get("error"):
                continue
            drifts = [r["severity"] for r in entry["results"] if r["status"] == "drift"]
            facts = out[entry["host"]]
            facts["baseline.drifts"] = facts.get("baseline.drifts", 0) + len(drifts)
            if drifts:
                facts["baseline.drifts_worst_level"] = min(
                    drifts + [facts.get("baseline.drifts_worst_level", 4)])


def add_replica_expectations(entries: list[dict[str, Any]], inventory: Inventory) -> None:
    """A primary expects every standby and replica of its system to stream from it."""
    copies = [e for e in entries if set(e["groups"]) & {"db_standby", "db_replica"}]
    for entry in entries:
        if entry["role"] != "primary" or not entry["metrics"].get("pg.up"):
            continue
        system = inventory.host_vars(entry["host"]).get("hisops_system")
        expected = sorted(c["host"] for c in copies
                          if system is None
                          or inventory.host_vars(c["host"]).get("hisops_system") == system)
        streaming = set((entry.get("details") or {}).get("streaming") or [])
        missing = [h for h in expected if h not in streaming]
        entry["metrics"]["repl.replicas_missing"] = len(missing)
        entry["metrics"]["repl.replicas_missing_names"] = ",".join(missing)


def evaluate(rules: list[Rule], entry: dict[str, Any], host_vars: dict[str, Any]
             ) -> list[Finding]:
    found = []
    reachable = entry["metrics"].get("host.reachable", False)
    for rule in rules:
        if not applies(rule, entry["groups"], entry["role"]):
            continue
        if not reachable and rule.metric.startswith(HOST_MEASURED):
            continue  # not measured: the unreachable finding says so
        levels = thresholds(rule, host_vars)
        if levels is None:
            continue
        finding = judge(rule, entry["host"], entry["metrics"], levels)
        if finding is not None:
            found.append(finding)
    return sorted(found, key=lambda f: (f.severity, f.rule))


def score(findings: list[dict[str, Any]]) -> int:
    return max(0, 100 - sum(SCORE_COST[int(f["severity"])] for f in findings))


def _finding_dict(finding: Finding) -> dict[str, Any]:
    return {"key": finding.key, "rule": finding.rule, "host": finding.host,
            "subject": finding.subject, "severity": finding.severity, "title": finding.title,
            "title_zh": finding.title_zh, "detail": finding.detail,
            "detail_zh": finding.detail_zh,
            "recommendation": finding.recommendation,
            "recommendation_zh": finding.recommendation_zh, "value": finding.value}


def _report(inventory: Inventory, limit: str | None, entries: list[dict[str, Any]],
            started: datetime, duration_s: float) -> dict[str, Any]:
    findings = [f for e in entries for f in e["findings"]]
    by_level = {str(n): sum(1 for f in findings if f["severity"] == n) for n in (1, 2, 3, 4)}
    unreachable = [e["host"] for e in entries if e["error"]]
    return {
        "kind": REPORT_KIND, "run_id": f"inspect-{new_run_id()}",
        "inventory": str(inventory.source), "limit": limit,
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "duration_s": round(duration_s, 2),
        "partial": bool(unreachable), "unreachable": unreachable,
        "summary": {"hosts": len(entries), "findings": len(findings),
                    "by_severity": by_level,
                    "score": min((e["score"] for e in entries), default=100),
                    "worst_level": min((f["severity"] for f in findings), default=None)},
        "hosts": entries,
    }
