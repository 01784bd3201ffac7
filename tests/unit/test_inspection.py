"""Inspection without hosts: metrics from probe answers, the shipped rules, thresholds and
their overrides, findings and the health score."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hisops.inspection import metrics
from hisops.inspection.inspect import add_replica_expectations, evaluate, score
from hisops.inspection.rules import RulesError, load_rules

RULES = load_rules()


def _pg(**over: Any) -> dict[str, Any]:
    pg: dict[str, Any] = {
        "version": "15.18", "in_recovery": False, "max_connections": 100,
        "reserved_connections": 3, "connections": 10, "idle_in_transaction": 0,
        "oldest_xact_s": 2.0, "long_xacts": 0, "lock_waits": 0,
        "databases": [{"name": "his", "bytes": 1000, "deadlocks": 2, "blks_hit": 99_000,
                       "blks_read": 1_000}],
        "replicas": [{"name": "his-db-2", "state": "streaming", "lag_bytes": 0},
                     {"name": "his-db-3", "state": "streaming", "lag_bytes": 100}],
        "subscriptions": [], "filesystems": {"data": {"used_pct": 40.0,
                                                      "inodes_used_pct": 3.0}},
        "log": {"file": "/var/log/postgresql/x.log",
                "counts": {"PANIC": 0, "FATAL": 1, "ERROR": 3}},
        "per_database": {"his": {"tables": [
            {"table": "his.visits", "live": 50_000, "dead": 30_000, "dead_pct": 37.5}]}},
    }
    pg.update(over)
    return pg


def _answer(pg: dict[str, Any] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"os": {"cpus": 2, "load": [0.5, 0.4, 0.3], "uptime_s": 86400.0,
                                   "memory_used_pct": 50.0, "swap_used_bytes": 0,
                                   "filesystems": {"root": {"used_pct": 30.0}}},
                            "clock": 1000.2}
    if pg is not None:
        data["pg"] = pg
    return data


def _entry(host: str, groups: list[str], data: dict[str, Any],
           previous: dict[str, Any] | None = None) -> dict[str, Any]:
    found = {"host.reachable": True, **metrics.host_metrics(
        data, controller_mid_s=1000.0, previous=previous)}
    found["os.clock_offset_abs_s"] = abs(found["os.clock_offset_s"])
    pg = data.get("pg")
    return {"host": host, "groups": groups, "role": metrics.role_of(
        groups, pg if pg and "error" not in pg else None), "error": None, "metrics": found,
        "details": {"streaming": [r["name"] for r in (pg or {}).get("replicas") or []
                                  if r.get("state") == "streaming"]}}


def _rules_hit(entry: dict[str, Any], host_vars: dict[str, Any] | None = None
               ) -> dict[str, int]:
    return {f.rule: f.severity for f in evaluate(RULES, entry, host_vars or {})}


def test_metrics_from_a_healthy_primary() -> None:
    found = metrics.host_metrics(_answer(_pg()), controller_mid_s=1000.0,
                                 previous={"pg.deadlocks_total": 1, "pg.size_bytes": 800})
    assert found["pg.connections_pct"] == pytest.approx(10.3, abs=0.1)  # 10 of 97 usable
    assert found["pg.cache_hit_pct"] == 99.0
    assert found["pg.deadlocks_new"] == 1
    assert found["pg.growth_bytes"] == 200
    assert found["pg.dead_tuples_table"] == "his.his.visits"
    assert found["os.clock_offset_s"] == pytest.approx(0.2)
    assert found["repl.replicas_streaming"] == 2
    assert found["repl.max_replica_lag_bytes"] == 100
    assert "repl.receiver_streaming" not in found  # a primary has no receiver


def test_metrics_of_a_standby_and_a_down_cluster() -> None:
    standby = metrics.host_metrics(_answer(_pg(in_recovery=True, receiver=None,
                                               replay_lag_bytes=0)),
                                   controller_mid_s=None, previous=None)
    assert standby["repl.receiver_streaming"] is False
    down = metrics.host_metrics(_answer({"error": "RuntimeError: connection refused"}),
                                controller_mid_s=None, previous=None)
    assert down["pg.up"] is False
    assert "pg.connections_pct" not in down


def test_a_healthy_estate_has_only_what_the_fixture_says() -> None:
    primary = _entry("his-db-1", ["db_primary"], _answer(_pg()))
    add_replica_expectations([primary, _entry("his-db-2", ["db_standby"], _answer()),
                              _entry("his-db-3", ["db_replica"], _answer())], _Inv())
    hits = _rules_hit(primary)
    # the fixture's visits table is 37.5% dead (level 4 >= 20); no backup in the journal
    assert hits == {"pg.bloat": 4, "backup.age": 2, "backup.verified_restore": 2}


class _Inv:
    def host_vars(self, host: str) -> dict[str, Any]:
        return {}


def test_a_stopped_standby_is_a_level_2_replication_finding_on_the_primary() -> None:
    primary = _entry("his-db-1", ["db_primary"], _answer(_pg(replicas=[
        {"name": "his-db-3", "state": "streaming", "lag_bytes": 0}])))
    standby = {"host": "his-db-2", "groups": ["db_standby"], "role": "standby",
               "error": "connection refused", "metrics": {"host.reachable": False}}
    add_replica_expectations([primary, standby, _entry("his-db-3", ["db_replica"],
                                                       _answer())], _Inv())
    found = {f.rule: f for f in evaluate(RULES, primary, {})}
    assert found["repl.replicas_missing"].severity == 2
    assert found["repl.replicas_missing"].subject == "his-db-2"
    assert found["repl.replicas_missing"].detail_zh == "未在复制：his-db-2（共 1 个应有副本）"
    assert _rules_hit(standby) == {"host.unreachable": 2}


def test_primary_down_is_level_1_a_copy_down_level_2() -> None:
    down = {"error": "RuntimeError: could not connect"}
    assert _rules_hit(_entry("p", ["db_primary"], _answer(down)))["pg.down.primary"] == 1
    assert _rules_hit(_entry("s", ["db_standby"], _answer(down)))["pg.down.copy"] == 2


@pytest.mark.parametrize(("used", "level"), [(79.9, None), (80, 3), (91, 2), (98, 1)])
def test_disk_thresholds_pick_the_worst_level_crossed(used: float, level: int | None) -> None:
    fs = {"data": {"used_pct": used, "inodes_used_pct": 1.0}}
    hits = _rules_hit(_entry("p", ["db_primary"], _answer(_pg(filesystems=fs))))
    assert hits.get("os.disk.data") == level


def test_every_finding_text_exists_in_chinese() -> None:
    # the report is Chinese by default: a rule with its own English text needs a Chinese one
    assert [r.id for r in RULES if r.detail and not r.detail_zh] == []
    fs = {"data": {"used_pct": 91.0, "inodes_used_pct": 1.0}}
    disk = {f.rule: f for f in evaluate(RULES, _entry("p", ["db_primary"], _answer(
        _pg(filesystems=fs))), {})}["os.disk.data"]
    assert (disk.detail, disk.detail_zh) == ("91.0% >= 90% (level 2 threshold)",
                                             "91.0% >= 90%（2级阈值）")


def test_thresholds_are_overridable_per_host_or_switched_off() -> None:
    fs = {"data": {"used_pct": 86.0, "inodes_used_pct": 1.0}}
    entry = _entry("p", ["db_primary"], _answer(_pg(filesystems=fs)))
    assert _rules_hit(entry)["os.disk.data"] == 3
    tighter = {"hisops_inspection_thresholds": {"os.disk.data": {2: 85}}}
    assert _rules_hit(entry, tighter)["os.disk.data"] == 2
    off = {"hisops_inspection_thresholds": {"os.disk.data": "off"}}
    assert "os.disk.data" not in _rules_hit(entry, off)


def test_score_costs_more_for_worse_levels() -> None:
    assert score([]) == 100
    assert score([{"severity": 4}, {"severity": 3}]) == 94
    assert score([{"severity": 1}] * 3) == 0


def _rules_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.yml"
    path.write_text(text, encoding="utf-8")
    return path


BASE = ("rules:\n  - {id: x, title: X, title_zh: X, metric: os.memory_used_pct, "
        "recommendation: r, recommendation_zh: r, ")


@pytest.mark.parametrize(("tail", "message"), [
    ("op: '>=', levels: {2: 80, 3: 90}}\n", "level 1 must be the most severe"),
    ("op: '~', levels: {3: 1}}\n", "rules[0].op"),
    ("op: '>', levels: {5: 1}}\n", "rules[0].levels"),
    ("op: '>', levels: {3: 1}, colour: red}\n", "unknown field"),
    ("op: '>', levels: {3: yes}}\n", "numeric thresholds"),
])
def test_bad_rules_are_one_line_errors(tmp_path: Path, tail: str, message: str) -> None:
    path = _rules_file(tmp_path, BASE + tail)
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    assert message in caught.value.one_line()
    assert str(path) in caught.value.one_line()


# --- the whole loop without hosts: probes faked, journal and problems real ----------------------

INVENTORY = """all:
  children:
    db_primary: {hosts: {his-db-1: {ansible_host: 127.0.0.1, pg_port: 5432}}}
    db_standby: {hosts: {his-db-2: {ansible_host: 127.0.0.1, pg_port: 5433}}}
    app: {hosts: {app-his-1: {ansible_host: 127.0.0.1}}}
"""


def test_inspection_opens_problems_and_marks_them_for_confirmation(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hisops.executors import probe
    from hisops.inspection.inspect import run_inspection
    from hisops.inventory import Inventory
    from hisops.journal import open_journal
    from hisops.problems import load_problems

    inventory_path = tmp_path / "hosts.yml"
    inventory_path.write_text(INVENTORY, encoding="utf-8")
    standby_up = {"value": False}

    def fake_probes(script: str, requests: dict[str, Any], inventory: Any, **_: Any
                    ) -> dict[str, probe.ProbeResult]:
        assert set(requests) == {"his-db-1", "his-db-2", "app-his-1"}
        assert requests["app-his-1"] == {}  # no database asked of an application host
        now = "2026-11-26T12:00:00.000+00:00"
        replicas = [{"name": "his-db-2", "state": "streaming", "lag_bytes": 0}]
        out = {"his-db-1": probe.ProbeResult("his-db-1", _answer(_pg(
                   replicas=replicas if standby_up["value"] else [])), "", now, now),
               "app-his-1": probe.ProbeResult("app-his-1", _answer(), "", now, now)}
        out["his-db-2"] = (probe.ProbeResult("his-db-2", _answer(_pg(in_recovery=True,
                           receiver={"status": "streaming"}, replicas=None)), "", now, now)
                           if standby_up["value"] else
                           probe.ProbeResult("his-db-2", error="connection refused"))
        return out

    monkeypatch.setattr(probe, "run_probes", fake_probes)
    with open_journal(str(tmp_path / "j.sqlite3")) as journal:
        first = run_inspection(Inventory(inventory_path), journal=journal)
        assert first["partial"] is True
        assert first["unreachable"] == ["his-db-2"]
        by_rule = {f["rule"]: f for e in first["hosts"] for f in e["findings"]}
        assert by_rule["repl.replicas_missing"]["severity"] == 2
        assert by_rule["host.unreachable"]["host"] == "his-db-2"
        assert by_rule["repl.replicas_missing"]["problem"] in first["problems"]["opened"]
        problems = {p.key: p for p in load_problems(journal).values()}
        assert problems["repl.replicas_missing|his-db-1|his-db-2"].severity == 2

        standby_up["value"] = True
        second = run_inspection(Inventory(inventory_path), journal=journal)
        assert second["partial"] is False
        gone = {p.key: p.status for p in load_problems(journal).values()}
        # not found again: waiting for a person to confirm, never closed silently
        assert gone["repl.replicas_missing|his-db-1|his-db-2"] == "to_confirm"
        assert gone["host.unreachable|his-db-2|"] == "to_confirm"
        records = journal.records(kinds=["inspection.run"])
        assert [r.payload["run_id"] for r in records] == [first["run_id"], second["run_id"]]


def test_interfaces_down_and_slow_become_findings() -> None:
    from hisops.inspection import interfaces

    declared = {"app-his-1": interfaces.declared({"hisops_interfaces": [
        {"name": "HIS-LIS", "url": "http://lis/status", "max_latency_ms": 100},
        {"name": "HIS-PACS", "tcp": "pacs:104"},
        {"name": "no target"}]})}
    assert [d["name"] for d in declared["app-his-1"]] == ["HIS-LIS", "HIS-PACS"]

    def fake(host: str, entry: Any) -> interfaces.InterfaceResult:
        up = entry["name"] == "HIS-LIS"
        return interfaces.InterfaceResult(host, entry["name"], "x", up, 250.0 if up else None,
                                          "HTTP 200" if up else "cannot connect",
                                          entry.get("max_latency_ms"))

    facts = interfaces.interface_metrics(interfaces.probe_all(declared, fake))["app-his-1"]
    assert facts == {"iface.declared": 2, "iface.down": 1, "iface.down_names": "HIS-PACS",
                     "iface.slow": 1, "iface.slow_names": "HIS-LIS"}
    entry = {"host": "app-his-1", "groups": ["app"], "role": "host", "error": None,
             "metrics": {"host.reachable": True, **facts}}
    found = {f.rule: f for f in evaluate(RULES, entry, {})}
    assert (found["iface.down"].severity, found["iface.down"].subject) == (2, "HIS-PACS")
    assert (found["iface.slow"].severity, found["iface.slow"].subject) == (3, "HIS-LIS")


@pytest.mark.parametrize("package", ["hisops.baselines", "hisops.inspection"])
def test_probe_scripts_travel_self_contained(package: str) -> None:
    from hisops.executors import probe

    script = probe.script_text(package, "remote_probe.py")
    assert "from hisops" not in script  # the host has no hisops: shared helpers are inlined
    assert script.count("def psql(") == 1
    compile(script, "remote_probe.py", "exec")
