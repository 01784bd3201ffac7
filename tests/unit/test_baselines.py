"""Baselines without hosts: units, the loader's refusals, each item kind's judgement on
snapshots shaped like the remote probe's output, desired state, history and diffs."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from hisops.baselines import units
from hisops.baselines.collect import Snapshot, build_request
from hisops.baselines.desired import desired_state
from hisops.baselines.evaluate import HostContext, evaluate
from hisops.baselines.history import diff, host_history
from hisops.baselines.loader import BaselineError, load_baseline
from hisops.baselines.model import Baseline
from hisops.journal import open_journal

# --- units -----------------------------------------------------------------------------------


def test_memory_units_equal_across_spellings() -> None:
    # shared_buffers is kept in 8kB pages: 16384 pages = 128MB = 131072kB
    assert units.to_base("128MB", "8kB") == units.to_base("131072kB", "8kB")
    assert units.to_base("16384", "8kB") == units.to_base("128MB", "8kB") == 128 * 1024**2
    assert units.to_base("1GB", "kB") == Decimal(1024**3)


def test_time_units_equal_across_spellings() -> None:
    assert units.to_base("1min", "ms") == units.to_base("60s", "ms") == units.to_base(
        "60000", "ms")
    assert units.to_base("10", "s") == Decimal(10000)


def test_bad_units_are_refused_with_a_hint() -> None:
    with pytest.raises(units.UnitError, match="case-sensitive"):
        units.to_base("128mb", "8kB")
    with pytest.raises(units.UnitError, match="not one of"):
        units.to_base("128MQ", "8kB")
    with pytest.raises(units.UnitError, match="takes no unit"):
        units.to_base("5MB", None)


def test_booleans_and_pretty_values() -> None:
    assert units.as_bool("on") is units.as_bool("TRUE") is units.as_bool("1") is True
    with pytest.raises(units.UnitError):
        units.as_bool("of")
    assert units.pretty(Decimal(128 * 1024**2), "8kB") == "128MB"
    assert units.pretty(Decimal(90000), "ms") == "90s"


# --- loader ------------------------------------------------------------------------------------

HEAD = "baseline: t\ntitle: T\nengine: postgresql\nscope: [db_primary]\nitems:\n"


def _write(tmp_path: Path, items: str) -> Path:
    path = tmp_path / "b.yml"
    path.write_text(HEAD + items, encoding="utf-8")
    return path


@pytest.mark.parametrize(("items", "message", "field"), [
    ("  - {id: a, title: x, severity: 3, kind: pg_knob, name: x}\n",
     "unknown item kind 'pg_knob'", "items[0](a).kind"),
    ("  - {id: a, title: x, severity: 3, kind: pg_setting, name: log_connectionz, value: on}\n",
     "PostgreSQL has no parameter 'log_connectionz'", "items[0](a).name"),
    ("  - {id: a, title: x, severity: 3, kind: pg_setting, name: shared_buffers, value: 1XB}\n",
     "unit 'XB' is not one of", "items[0](a).value"),
    ("  - {id: a, title: x, severity: 5, kind: pg_setting, name: fsync, value: on}\n",
     "", "items[0](a).severity"),
    ("  - {id: a, title: x, severity: 3, kind: pg_setting, name: fsync}\n",
     "exactly one of value", "items[0](a)"),
    ("  - {id: a, title: x, severity: 3, kind: pg_setting, name: wal_level, value: full}\n",
     "not one of minimal, replica, logical", "items[0](a).value"),
    ("  - {id: a, title: x, severity: 3, kind: pg_setting, name: work_mem,"
     " value: '{{ facts.memory_mb * }}MB'}\n", "template error", "items[0](a).value"),
    ("  - {id: a, title: x, severity: 3, kind: pg_hba, state: absent}\n",
     "at least one of", "items[0](a)"),
    ("  - {id: a, title: x, severity: 3, kind: pg_setting, name: fsync, value: on}\n"
     "  - {id: a, title: y, severity: 3, kind: pg_setting, name: fsync, value: on}\n",
     "used twice", "items"),
    ("  - {id: a, title: x, severity: 3, kind: pg_setting, name: fsync, value: on, colour: 1}\n",
     "unknown field", "items[0](a).colour"),
])
def test_bad_baselines_are_one_line_errors_naming_file_and_item(
        tmp_path: Path, items: str, message: str, field: str) -> None:
    path = _write(tmp_path, items)
    with pytest.raises(BaselineError) as caught:
        load_baseline(path)
    text = caught.value.one_line()
    assert "\n" not in text
    assert text.startswith(f"{path}:")
    assert field in text
    assert message in text
    assert caught.value.exit_status == 2


def test_units_and_computed_values_are_accepted(tmp_path: Path) -> None:
    path = _write(tmp_path, (
        "  - {id: a, title: x, severity: 3, kind: pg_setting, name: shared_buffers,"
        " value: '{{ (facts.memory_mb * 0.25) | int }}MB'}\n"
        "  - {id: b, title: x, severity: 3, kind: pg_setting, name: statement_timeout,"
        " max: 5min}\n"
        "  - {id: c, title: x, severity: 3, kind: pg_setting, name: log_connections, value: on}\n"
        "  - {id: d, title: x, severity: 3, kind: pg_setting, name: pg_stat_statements.max,"
        " value: '5000'}\n"))
    loaded = load_baseline(path)
    assert [i.id for i in loaded.baseline.items] == ["a", "b", "c", "d"]
    assert len(loaded.digest) == 64


@pytest.mark.parametrize("name", ["cis-postgresql-15", "his-production",
                                  "oracle-his-production"])
def test_shipped_baselines_load(name: str) -> None:
    loaded = load_baseline(name)
    assert len(loaded.baseline.items) >= 10
    assert all(item.title_zh for item in loaded.baseline.items), "every item has a Chinese title"


def test_cis_items_carry_their_section() -> None:
    loaded = load_baseline("cis-postgresql-15")
    assert all(item.section for item in loaded.baseline.items)


# --- evaluation ---------------------------------------------------------------------------------


def _items(*specs: dict[str, Any]) -> list[Any]:
    base = {"baseline": "t", "title": "T", "engine": "postgresql", "scope": ["db_primary"]}
    items = [{"id": f"i{n}", "title": "x", "severity": 3, **s} for n, s in enumerate(specs)]
    return list(Baseline.model_validate({**base, "items": items}).items)


def _setting(setting: str, unit: str | None, vartype: str, context: str = "sighup",
             display: str | None = None, pending: bool = False) -> dict[str, Any]:
    return {"setting": setting, "unit": unit, "vartype": vartype, "context": context,
            "pending_restart": pending, "display": display or setting}


def _ctx(pg: dict[str, Any] | None = None, host_vars: dict[str, Any] | None = None,
         **parts: Any) -> HostContext:
    data: dict[str, Any] = {"facts": {"memory_mb": 8192, "cpus": 4, "hostname": "h"}, **parts}
    if pg is not None:
        data["pg"] = pg
    return HostContext("h", Snapshot("h", data), host_vars or {})


def test_setting_drift_says_what_to_run_and_what_it_needs() -> None:
    item, = _items({"kind": "pg_setting", "name": "log_connections", "value": True})
    ctx = _ctx({"settings": {"log_connections": _setting("off", None, "bool",
                                                         "superuser-backend")}})
    result = evaluate(item, ctx)
    assert (result.status, result.expected, result.actual) == ("drift", "on", "off")
    assert result.needs == "reload"
    assert result.target == {"settings": [{"name": "log_connections", "value": "on"}]}


def test_setting_compared_in_base_units() -> None:
    low, high = _items({"kind": "pg_setting", "name": "shared_buffers", "value": "128MB"},
                       {"kind": "pg_setting", "name": "shared_buffers", "min": "1GB"})
    ctx = _ctx({"settings": {"shared_buffers": _setting("16384", "8kB", "integer",
                                                        "postmaster", "128MB")}})
    assert evaluate(low, ctx).status == "ok"
    result = evaluate(high, ctx)
    assert result.status == "drift"
    assert result.needs == "restart"
    assert result.target["settings"][0]["value"] == "1GB"


def test_computed_value_uses_facts_and_inventory_vars() -> None:
    item, = _items({"kind": "pg_setting", "name": "shared_buffers",
                    "value": "{{ ((vars.db_mb | default(facts.memory_mb)) * 0.25) | int }}MB"})
    settings = {"settings": {"shared_buffers": _setting("16384", "8kB", "integer",
                                                        "postmaster", "128MB")}}
    assert evaluate(item, _ctx(settings)).expected == "2048MB"  # 25% of 8192
    assert evaluate(item, _ctx(settings, {"db_mb": 512})).status == "ok"  # 25% of 512 = 128


def test_pending_restart_is_still_drift_and_says_so() -> None:
    item, = _items({"kind": "pg_setting", "name": "max_connections", "min": 100})
    ctx = _ctx({"settings": {"max_connections": _setting("40", None, "integer", "postmaster",
                                                         pending=True)},
                "file_settings": {"max_connections": "200"}})
    result = evaluate(item, ctx)
    assert result.status == "drift"
    assert "configured as 200, waiting for a restart" in result.detail


def test_internal_parameter_is_a_manual_fix() -> None:
    item, = _items({"kind": "pg_setting", "name": "data_checksums", "value": True,
                    "remediation": "pg_checksums --enable with the cluster stopped"})
    ctx = _ctx({"settings": {"data_checksums": _setting("off", None, "bool", "internal")}})
    result = evaluate(item, ctx)
    assert (result.status, result.needs) == ("drift", "manual")
    assert "pg_checksums" in result.fix
    assert not result.target


def _rule(line: int, type_: str, method: str, address: str | None = None,
          netmask: str | None = None, database: str = "all",
          user: str = "all") -> dict[str, Any]:
    return {"line": line, "type": type_, "database": [database], "user_name": [user],
            "address": address, "netmask": netmask, "auth_method": method, "options": None,
            "error": None}


def test_hba_absent_finds_every_offending_line_by_network() -> None:
    no_trust, no_world = _items(
        {"kind": "pg_hba", "state": "absent", "method": ["trust", "password"]},
        {"kind": "pg_hba", "state": "absent", "type": "host", "address": "0.0.0.0/0"})
    world = "0.0.0.0"  # noqa: S104 - an address in a pg_hba rule, not a bind
    rules = [_rule(90, "local", "peer"), _rule(91, "host", "trust", world, world),
             _rule(92, "host", "scram-sha-256", "10.0.0.0", "255.0.0.0")]
    ctx = _ctx({"hba": rules})
    result = evaluate(no_trust, ctx)
    assert result.status == "drift"
    assert "line 91: host all all 0.0.0.0/0 trust" in result.actual
    assert result.target["hba"] == [{"contype": "host", "databases": "all", "users": "all",
                                     "address": "0.0.0.0/0", "method": "trust", "options": "",
                                     "state": "absent"}]
    assert evaluate(no_world, ctx).status == "drift"
    assert evaluate(no_trust, _ctx({"hba": [rules[0], rules[2]]})).status == "ok"


def test_hba_present_rule() -> None:
    item, = _items({"kind": "pg_hba", "state": "present", "type": "hostssl",
                    "database": "his", "user": "his_app", "address": "10.0.0.0/8",
                    "method": "scram-sha-256"})
    there = _rule(5, "hostssl", "scram-sha-256", "10.0.0.0", "255.0.0.0", "his", "his_app")
    assert evaluate(item, _ctx({"hba": [there]})).status == "ok"
    missing = evaluate(item, _ctx({"hba": []}))
    assert missing.status == "drift"
    assert missing.target["hba"][0]["state"] == "present"


def test_roles_superusers_fixable_passwords_manual() -> None:
    supers, passwords, scram = _items(
        {"kind": "pg_roles", "rule": "superusers_only", "allowed": ["postgres"]},
        {"kind": "pg_roles", "rule": "password_required", "exempt": ["postgres"]},
        {"kind": "pg_roles", "rule": "scram_passwords"})
    roles = [{"name": "postgres", "super": True, "login": True, "password": False,
              "scram": False},
             {"name": "intruder", "super": True, "login": True, "password": True,
              "scram": False},
             {"name": "app", "super": False, "login": True, "password": False, "scram": False}]
    ctx = _ctx({"roles": roles})
    result = evaluate(supers, ctx)
    assert result.status == "drift"
    assert result.actual == "also superuser: intruder"
    assert result.target == {"roles": [{"name": "intruder", "role_attr_flags": "NOSUPERUSER"}]}
    pw = evaluate(passwords, ctx)
    assert (pw.status, pw.needs, pw.actual) == ("drift", "manual", "without a password: app")
    assert not pw.target
    assert evaluate(scram, ctx).actual == "not SCRAM: intruder"


def test_data_directory_mode_may_be_stricter() -> None:
    item, = _items({"kind": "pg_data_directory", "mode": "0750"})
    ok = _ctx({"datadir": {"owner": "postgres", "group": "postgres", "mode": "0700"}})
    loose = _ctx({"datadir": {"owner": "postgres", "group": "postgres", "mode": "0755"}})
    assert evaluate(item, ok).status == "ok"
    assert evaluate(item, loose).target == {"datadir": {"owner": "postgres",
                                                        "group": "postgres", "mode": "0750"}}


def test_extension_missing_database_is_an_error() -> None:
    item, = _items({"kind": "pg_extension", "name": "pg_stat_statements", "database": "his"})
    assert evaluate(item, _ctx({"extensions": {"his": ["plpgsql"]}})).status == "drift"
    assert evaluate(item, _ctx({"extensions": {"his": ["pg_stat_statements"]}})).status == "ok"
    broken = evaluate(item, _ctx({"extensions": {"his": {"error": "database does not exist"}}}))
    assert broken.status == "error"
    assert "does not exist" in broken.detail


def test_sysctl_is_not_applicable_where_the_kernel_is_shared() -> None:
    item, = _items({"kind": "sysctl", "name": "vm.swappiness", "max": 10})
    assert evaluate(item, _ctx(sysctl={"vm.swappiness": "60"})).status == "drift"
    assert evaluate(item, _ctx(sysctl={"vm.swappiness": "1"})).status == "ok"
    shared = evaluate(item, _ctx(None, {"hisops_kernel_shared": True},
                                 sysctl={"vm.swappiness": "60"}))
    assert shared.status == "n/a"
    assert "kernel" in shared.detail


def test_limits_later_files_win_and_dash_sets_both() -> None:
    item, = _items({"kind": "limit", "item": "nofile", "min": 65536})
    lines = [["/etc/security/limits.conf", "postgres", "-", "nofile", "100000"],
             ["/etc/security/limits.d/10.conf", "postgres", "soft", "nofile", "1024"]]
    result = evaluate(item, _ctx(limits=lines))
    assert result.status == "drift"
    assert result.actual == "soft 1024, hard 100000"
    assert evaluate(item, _ctx(limits=lines[:1])).status == "ok"


def test_sshd_canonical_spelling() -> None:
    item, = _items({"kind": "sshd", "key": "PermitRootLogin", "value": "prohibit-password"})
    assert evaluate(item, _ctx(sshd={"PermitRootLogin": "without-password"})).status == "ok"
    drift = evaluate(item, _ctx(sshd={"PermitRootLogin": "yes"}))
    assert drift.target == {"sshd": [{"key": "PermitRootLogin", "value": "prohibit-password"}]}


def test_file_line_present_replaces_other_matches() -> None:
    item, = _items({"kind": "file_line", "path": "/etc/x.conf", "line": "a = 1",
                    "pattern": "^#?a ="})
    assert evaluate(item, _ctx(files={"i0": {"exists": True, "line": True,
                                             "matches": ["a = 1"]}})).status == "ok"
    both = {"exists": True, "line": True, "matches": ["a = 1", "a = 2"]}
    assert evaluate(item, _ctx(files={"i0": both})).status == "drift"


def test_a_part_that_failed_is_an_error_not_a_pass() -> None:
    item, = _items({"kind": "pg_setting", "name": "fsync", "value": True})
    result = evaluate(item, _ctx({"error": "RuntimeError: connection refused"}))
    assert result.status == "error"
    assert "connection refused" in result.detail


def test_request_names_only_what_the_items_need() -> None:
    items = _items({"kind": "pg_setting", "name": "fsync", "value": True},
                   {"kind": "sshd", "key": "X11Forwarding", "value": "no"})
    request = build_request(items, 5433)
    assert request == {"pg": {"port": 5433, "settings": ["fsync"], "extension_dbs": []},
                       "sshd": ["X11Forwarding"]}


# --- desired state, history, diff --------------------------------------------------------------


def _report(run_id: str, when: str, rows: list[tuple[str, str, str]],
            host: str = "his-db-1") -> dict[str, Any]:
    results = [{"item": item, "status": status, "actual": actual, "severity": 3,
                "title": item, "fix_mode": "auto", "expected": "on", "fix": "", "needs": "reload",
                "detail": "", "target": ({"settings": [{"name": item, "value": "on"}]}
                                         if status == "drift" else {})}
               for item, status, actual in rows]
    return {"run_id": run_id, "started_at": when, "baseline": {"name": "t"},
            "hosts": [{"host": host, "error": None, "results": results}]}


def test_desired_state_holds_only_auto_drifts() -> None:
    report = _report("a", "t1", [("log_connections", "drift", "off"), ("fsync", "ok", "on")])
    report["hosts"][0]["results"].append({"item": "pw", "status": "drift", "fix_mode": "manual",
                                          "target": {}, "severity": 2})
    state = desired_state(report)
    assert list(state) == ["his-db-1"]
    assert state["his-db-1"]["settings"] == [{"name": "log_connections", "value": "on"}]
    assert state["his-db-1"]["items"] == ["log_connections"]
    assert desired_state(_report("b", "t2", [("fsync", "ok", "on")])) == {}


def test_history_shows_when_drift_started_and_stopped(tmp_path: Path) -> None:
    with open_journal(str(tmp_path / "j.sqlite3")) as journal:
        for run_id, when, status, actual in [("r1", "2026-10-01", "ok", "on"),
                                             ("r2", "2026-10-02", "drift", "off"),
                                             ("r3", "2026-10-03", "drift", "off"),
                                             ("r4", "2026-10-04", "ok", "on"),
                                             ("r5", "2026-10-05", "drift", "off")]:
            journal.append(run_id, "baseline.check",
                           _report(run_id, when, [("log_connections", status, actual)]))
        item, = host_history(journal, "his-db-1")
        assert [(e.started, e.stopped) for e in item.episodes] == [
            ("2026-10-02", "2026-10-04"), ("2026-10-05", None)]
        assert item.drifting_since == "2026-10-05"
        assert item.checks == 5
        with pytest.raises(Exception, match="no baseline check of host nope"):
            host_history(journal, "nope")


def test_diff_names_what_started_and_stopped_drifting() -> None:
    a = _report("a", "t1", [("x", "ok", "on"), ("y", "drift", "off"), ("z", "ok", "1")])
    b = _report("b", "t2", [("x", "drift", "off"), ("y", "ok", "on"), ("z", "ok", "1")])
    rows = {r["item"]: r["change"] for r in diff(a, b)}
    assert rows == {"x": "started drifting", "y": "fixed"}


# --- Oracle baselines through run_check (fixture answers, a fake thin connection) ---------------


class _FakeOracle:
    """Answers the three baseline queries from a real-format fixture, like oracledb would."""

    def __init__(self, fixture: str) -> None:
        import json

        from hisops.engines.oracle import baseline as oracle_baseline

        root = Path(__file__).resolve().parents[1] / "fixtures" / "oracle" / "baseline"
        data = json.loads((root / f"{fixture}.json").read_text(encoding="utf-8"))
        self.answers = {oracle_baseline.PARAMETERS_SQL: data["parameters"],
                        oracle_baseline.PROFILES_SQL: data["profiles"],
                        oracle_baseline.AUDIT_POLICIES_SQL: data["audit"]}
        self.closed = False
        self.last = ""

    def cursor(self) -> _FakeOracle:
        return self

    def __enter__(self) -> _FakeOracle:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def execute(self, sql: str, *args: object) -> None:
        self.last = sql

    def fetchall(self) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self.answers[self.last]]

    def close(self) -> None:
        self.closed = True


def test_oracle_baseline_check_reads_each_instance_and_judges(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hisops.baselines import oracle_check
    from hisops.baselines.check import run_check
    from hisops.inventory import Inventory

    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        "all:\n  children:\n    oracle:\n      hosts:\n"
        "        his-db-1: {oracle_dsn: 'localhost:1521/HISPRD'}\n"
        "        his-db-2: {oracle_dsn: 'localhost:1522/HISSBY'}\n"
        "        his-gg-1: {}\n", encoding="utf-8")
    opened: list[_FakeOracle] = []

    def fake_connect(host_vars: dict[str, Any]) -> _FakeOracle:
        if not host_vars.get("oracle_dsn"):
            raise LookupError("no oracle_dsn in the inventory for this host")
        conn = _FakeOracle("his_prd_healthy" if host_vars["oracle_dsn"].endswith("PRD")
                           else "his_prd_drifted")
        opened.append(conn)
        return conn

    monkeypatch.setattr(oracle_check, "connect", fake_connect)
    report = run_check(load_baseline("oracle-his-production"), Inventory(inventory))
    by_host = {h["host"]: h for h in report["hosts"]}
    assert {r["status"] for r in by_host["his-db-1"]["results"]} == {"ok"}
    drifted = [r for r in by_host["his-db-2"]["results"] if r["status"] == "drift"]
    assert drifted, "the drifted fixture must show drift"
    assert all(r["fix"] or r["needs"] in ("restart", "manual") for r in drifted)
    assert by_host["his-gg-1"]["error"] == "no oracle_dsn in the inventory for this host"
    assert report["summary"]["failed"] is True
    assert all(conn.closed for conn in opened)


def test_oracle_password_never_reaches_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from hisops.baselines import oracle_check

    monkeypatch.setenv(oracle_check.PASSWORD_ENV, "s3cret-canary")

    def leaky(host_vars: dict[str, Any]) -> Any:
        raise RuntimeError("ORA-01017: invalid credential s3cret-canary")

    read = oracle_check.read_all(["h"], lambda h: {}, connector=leaky)
    assert "s3cret-canary" not in read["h"][1]
    assert "ORA-01017" in read["h"][1]


# --- scope and standbys -------------------------------------------------------------------------

INVENTORY = """all:
  children:
    db_primary:
      hosts:
        p1: {ansible_host: 127.0.0.1, pg_port: 5432}
    db_standby:
      hosts:
        s1: {ansible_host: 127.0.0.1, pg_port: 5433}
    app:
      hosts:
        a1: {ansible_host: 127.0.0.1}
"""


def _inventory(tmp_path: Path) -> Any:
    from hisops.inventory import Inventory

    path = tmp_path / "hosts.yml"
    path.write_text(INVENTORY, encoding="utf-8")
    return Inventory(path)


def test_scope_picks_hosts_per_item_and_names_missing_groups(tmp_path: Path) -> None:
    from hisops.baselines.check import hosts_in_scope

    path = tmp_path / "b.yml"
    path.write_text("baseline: t\ntitle: T\nengine: postgresql\n"
                    "scope: [db_primary, db_standby, db_replica]\nitems:\n"
                    "  - {id: a, title: x, severity: 3, kind: pg_setting, name: fsync,"
                    " value: 'on'}\n"
                    "  - {id: b, title: x, severity: 3, kind: sshd, key: X11Forwarding,"
                    " value: 'no', scope: [app]}\n", encoding="utf-8")
    loaded = load_baseline(path)
    per_host, missing = hosts_in_scope(loaded, _inventory(tmp_path), None)
    assert {h: [i.id for i in items] for h, items in per_host.items()} == {
        "p1": ["a"], "s1": ["a"], "a1": ["b"]}
    assert missing == ["db_replica"]
    with pytest.raises(BaselineError, match="no host of inventory .* is in the baseline's scope"):
        hosts_in_scope(loaded, _inventory(tmp_path), "nosuchhost")


def test_a_standby_is_not_given_roles_to_fix(tmp_path: Path) -> None:
    from hisops.baselines.check import _host_report

    supers, = _items({"kind": "pg_roles", "rule": "superusers_only", "allowed": ["postgres"]})
    roles = [{"name": "intruder", "super": True, "login": True, "password": True,
              "scram": True}]
    inventory = _inventory(tmp_path)
    standby = _host_report("s1", [supers], Snapshot("s1", {
        "pg": {"in_recovery": True, "roles": roles}}), inventory)
    primary = _host_report("p1", [supers], Snapshot("p1", {
        "pg": {"in_recovery": False, "roles": roles}}), inventory)
    assert standby["role"] == "standby"
    assert standby["results"][0]["status"] == "drift"
    assert standby["results"][0]["target"] == {}
    assert "fixed on the primary" in standby["results"][0]["detail"]
    assert primary["results"][0]["target"]["roles"][0]["name"] == "intruder"
    fixing = desired_state({"hosts": [standby, primary]})
    assert list(fixing) == ["p1"]
