"""``hisops inspect`` reads Oracle databases: an Oracle primary and its Active Data Guard standby
inspected at database level (thin mode, in parallel with the SSH probes), their ``ora.``
metrics, their findings at the contract's levels, the coverage rows and the report's words.

The database answers from the recorded rows of tests/fixtures/oracle/inspect (a fake
connection, as in test_oracle_inspect.py); the SSH probes are replaced as in
test_inspection.py. A database that cannot be read (no password; a real thin-mode attempt on a
closed loopback port; an ORA- error; a role not inspected) is one finding, never a crash, and
the coverage then says OS level only. A PostgreSQL-only estate never meets any of it.
"""

from __future__ import annotations

import _socket
import json
import re
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import oracledb
import pytest
from click.testing import CliRunner

from hisops.engines.base import Severity
from hisops.engines.oracle import inspect as oi
from hisops.engines.oracle.connect import PASSWORD_ENV, VAULT_ENV
from hisops.executors import probe
from hisops.inspection import oracle as om
from hisops.inspection.inspect import run_inspection
from hisops.inspection.report import render_html
from hisops.inventory import Inventory

FIXTURES = Path(__file__).parent.parent / "fixtures" / "oracle" / "inspect"
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")
NOW = "2026-03-16T08:00:05.000+00:00"
CANARY = "Canary-Pa55word-7f3e"  # noqa: S105 - a test password, asserted never to show

ORACLE_INVENTORY = """
all:
  children:
    db_primary:
      hosts:
        his-db-1: {ansible_host: 127.0.0.1, hisops_system: his, oracle_service_name: HISPRD,
                   oracle_listener_port: PORT1}
    db_standby:
      hosts:
        his-db-2: {ansible_host: 127.0.0.1, hisops_system: his, oracle_service_name: HISSTBY,
                   oracle_listener_port: PORT2}
    oracle:
      hosts:
        his-db-1:
        his-db-2:
"""

PG_INVENTORY = """
all:
  children:
    db_primary: {hosts: {emr-db-1: {ansible_host: 127.0.0.1, pg_port: 5432, hisops_system: emr}}}
    db_standby: {hosts: {emr-db-2: {ansible_host: 127.0.0.1, pg_port: 5433, hisops_system: emr}}}
    app: {hosts: {app-his-1: {ansible_host: 127.0.0.1}}}
"""


# --- the fake database (as test_oracle_inspect.py builds it) ------------------------------------


def rows(scenario: str) -> dict[str, list[list[Any]]]:
    """A fixture's rows as python-oracledb returns them: ISO text back to datetime."""
    data = json.loads((FIXTURES / f"{scenario}.json").read_text())
    return {name: [[datetime.fromisoformat(v) if isinstance(v, str) and ISO.match(v) else v
                    for v in row] for row in value]
            for name, value in data.items() if not name.startswith("_")}


class FakeCursor:
    def __init__(self, conn: FakeConnection) -> None:
        self.conn = conn
        self.name = ""

    def __enter__(self) -> FakeCursor:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def execute(self, sql: str, binds: dict[str, int]) -> None:
        [self.name] = [n for n, s in oi.INSPECTION_SQL.items() if s == sql]
        self.conn.calls.append((self.name, binds))
        if self.name in self.conn.fail:
            raise self.conn.fail[self.name]

    def fetchall(self) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self.conn.data[self.name]]


class FakeConnection:
    def __init__(self, data: dict[str, list[list[Any]]],
                 fail: dict[str, Exception] | None = None) -> None:
        self.data = data
        self.fail = fail or {}
        self.calls: list[tuple[str, dict[str, int]]] = []
        self.call_timeout = 0
        self.closed = False

    def cursor(self) -> FakeCursor:
        return FakeCursor(self)

    def close(self) -> None:
        self.closed = True


class Databases:
    """The connector ``hisops inspect`` calls, answering per host from a fixture."""

    def __init__(self, scenarios: dict[str, str],
                 fail: dict[str, dict[str, Exception]] | None = None) -> None:
        self.scenarios = scenarios
        self.fail = fail or {}
        self.opened: dict[str, FakeConnection] = {}
        self.timeouts: dict[str, float] = {}
        self.threads: set[str] = set()
        self.started = threading.Event()

    def __call__(self, host: str, host_vars: dict[str, Any], *, timeout_s: float
                 ) -> FakeConnection:
        self.started.set()
        self.threads.add(threading.current_thread().name)
        self.timeouts[host] = timeout_s
        conn = FakeConnection(rows(self.scenarios[host]), self.fail.get(host))
        self.opened[host] = conn
        return conn


def _os_answer() -> dict[str, Any]:
    """A healthy OS (no PostgreSQL asked of an Oracle host), its clock the controller's."""
    return {"os": {"cpus": 8, "load": [0.5, 0.4, 0.3], "uptime_s": 864000.0,
                   "memory_used_pct": 50.0, "swap_used_bytes": 0,
                   "filesystems": {"root": {"used_pct": 30.0}}},
            "clock_end": datetime.fromisoformat(NOW).timestamp()}


def _fake_probes(monkeypatch: pytest.MonkeyPatch, *, unreachable: tuple[str, ...] = (),
                 wait_for: threading.Event | None = None) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []

    def fake(script: str, requests: dict[str, Any], inventory: Any, **_: Any
             ) -> dict[str, probe.ProbeResult]:
        if wait_for is not None:  # the databases are read while the hosts answer
            assert wait_for.wait(5.0), "no Oracle database was read during the SSH probes"
        seen.append(dict(requests))
        return {h: (probe.ProbeResult(h, error="ssh: connect to host 127.0.0.1 port 22: "
                                               "Connection refused")
                    if h in unreachable else probe.ProbeResult(h, _os_answer(), "", NOW, NOW))
                for h in requests}

    monkeypatch.setattr(probe, "run_probes", fake)
    return seen


def _inventory(tmp_path: Path, text: str = ORACLE_INVENTORY) -> Inventory:
    path = tmp_path / "hosts.yml"
    path.write_text(text.replace("PORT1", str(_closed_port()))
                    .replace("PORT2", str(_closed_port())), encoding="utf-8")
    return Inventory(path)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _inspect(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scenarios: dict[str, str],
             **kwargs: Any) -> tuple[dict[str, Any], Databases]:
    databases = Databases(scenarios, kwargs.pop("fail", None))
    monkeypatch.setattr(om, "connect_host", databases)
    _fake_probes(monkeypatch, **kwargs)
    return run_inspection(_inventory(tmp_path)), databases


def _host(report: dict[str, Any], host: str) -> dict[str, Any]:
    return next(e for e in report["hosts"] if e["host"] == host)


def _ora(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry["metrics"].items() if k.startswith("ora.")}


def _brief(entry: dict[str, Any]) -> list[tuple[int, str, str]]:
    return [(f["severity"], f["rule"], f["subject"]) for f in entry["findings"]]


def _coverage(report: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(r["host"], r["kind"], r["engine"], r["called"], r["read"], r["database_checks"],
             r["up"], r["replicating"], r["lag"]) for r in report["coverage"]]


NO_DRILL = (2, "backup.verified_restore", "")  # no restore drill in a journal-less run


# --- a healthy primary and its Active Data Guard standby -----------------------------------------


def test_a_healthy_oracle_estate_is_read_at_database_level(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    report, databases = _inspect(tmp_path, monkeypatch, {
        "his-db-1": "healthy_primary", "his-db-2": "healthy_standby"})
    primary, standby = _host(report, "his-db-1"), _host(report, "his-db-2")
    assert _ora(primary) == {
        "ora.up": True, "ora.role": "primary", "ora.tablespace_used_pct_max": 59.77,
        "ora.tablespace_fullest": "HIS_DATA", "ora.fra_used_pct": 29.2,
        "ora.invalid_objects": 0, "ora.alert_log_errors": 0, "ora.blocked_sessions": 0,
        "ora.rman_failed_jobs": 0, "ora.backup_last_age_s": 24139, "ora.sessions_pct": 26.8,
        "ora.processes_pct": 29.8}
    assert _ora(standby) == {
        "ora.up": True, "ora.role": "physical_standby", "ora.tablespace_used_pct_max": 59.77,
        "ora.tablespace_fullest": "HIS_DATA", "ora.fra_used_pct": 1.6,
        "ora.invalid_objects": 0, "ora.alert_log_errors": 0, "ora.blocked_sessions": 0,
        "ora.rman_failed_jobs": 0, "ora.sessions_pct": 3.0, "ora.processes_pct": 5.8,
        "ora.apply_lag_s": 3.0, "ora.transport_lag_s": 0.0, "ora.archive_gaps": 0,
        "ora.replicating": True}
    # the newest good RMAN database backup (DB INCR 13098, 6.7 h old) is the host's last backup
    assert primary["metrics"]["backup.last_age_s"] == 24139
    assert "backup.last_age_s" not in standby["metrics"]  # backups run on the primary
    assert (primary["role"], standby["role"]) == ("primary", "standby")
    assert _brief(primary) == [NO_DRILL]
    assert _brief(standby) == []
    assert (primary["score"], standby["score"]) == (85, 100)
    assert report["partial"] is False
    assert _coverage(report) == [
        ("his-db-1", "primary", "oracle", "primary", True, True, True, None, None),
        ("his-db-2", "physical_standby", "oracle", "Active Data Guard", True, True, True,
         True, {"seconds": 3.0})]
    assert report["summary"]["coverage"] == {"primaries": 1, "copies": 1, "copies_read": 1,
                                             "copies_replicating": 1, "os_only": []}
    # every query ran on its own connection, bounded, and every connection was closed
    assert set(databases.opened) == {"his-db-1", "his-db-2"}
    assert all(c.closed and c.call_timeout == 60_000 for c in databases.opened.values())
    assert databases.timeouts == {"his-db-1": 10.0, "his-db-2": 10.0}
    assert [n for n, _ in databases.opened["his-db-2"].calls][:1] == ["database_role"]
    assert "dataguard" not in [n for n, _ in databases.opened["his-db-1"].calls]

    page = render_html(report, [], "en")
    assert "OS level only" not in page
    assert "<th>Oracle database role</th><td class=\"num\">primary</td>" in page
    assert "<th>Fullest tablespace</th><td class=\"num\">59.8% (HIS_DATA)</td>" in page
    assert "<th>Data Guard apply lag</th><td class=\"num\">3 s</td>" in page
    assert "<th>Since last good RMAN database backup</th><td class=\"num\">6 h 42 min</td>" \
        in page
    assert "1 primary database(s); 1 copies, 1 read and 1 replicating." in page
    zh = render_html(report, [], "zh")
    assert "Oracle 数据库角色" in zh
    assert "仅操作系统层" not in zh


def test_the_databases_are_read_while_the_ssh_probes_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    databases = Databases({"his-db-1": "healthy_primary", "his-db-2": "healthy_standby"})
    monkeypatch.setattr(om, "connect_host", databases)
    seen = _fake_probes(monkeypatch, wait_for=databases.started)
    report = run_inspection(_inventory(tmp_path), timeout_s=5.0)
    assert threading.current_thread().name not in databases.threads
    assert databases.timeouts == {"his-db-1": 5.0, "his-db-2": 5.0}  # never above the run's
    assert databases.opened["his-db-1"].call_timeout == 5000
    assert seen == [{"his-db-1": {}, "his-db-2": {}}]  # no psql asked of an Oracle host
    assert _host(report, "his-db-1")["metrics"]["ora.up"] is True


# --- a troubled primary and a lagging standby ----------------------------------------------------


TROUBLED = [
    (2, "backup.age", ""), NO_DRILL,
    (2, "oracle.alert_log", "ORA-00600"), (2, "oracle.alert_log", "ORA-01578"),
    (2, "oracle.fra", "+RECO"),
    (2, "oracle.rman", "job 13098"), (2, "oracle.rman", "job 13082"),
    (2, "oracle.tablespace", "HIS_DATA"),
    (3, "oracle.blocking", "sid 412"),
    (3, "oracle.patches", "patch 35643107"),
    (3, "oracle.rman", "job 13090"),
    (3, "oracle.sessions", "sessions"), (3, "oracle.sessions", "processes"),
    (3, "oracle.tablespace", "UNDOTBS1"), (3, "oracle.tablespace", "HIS_INDEX"),
    (4, "oracle.alert_log", "ORA-01555"), (4, "oracle.alert_log", "ORA-03136"),
    (4, "oracle.blocking", "sid 518"),
    (4, "oracle.invalid_objects", "HIS_APP PACKAGE BODY"),
    (4, "oracle.invalid_objects", "HIS_APP VIEW"),
    (4, "oracle.invalid_objects", "HIS_REPORT PROCEDURE"),
]


def test_a_troubled_primary_and_a_lagging_standby(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    report, _ = _inspect(tmp_path, monkeypatch, {
        "his-db-1": "troubled_primary", "his-db-2": "lagging_standby"})
    primary, standby = _host(report, "his-db-1"), _host(report, "his-db-2")
    assert _ora(primary) == {
        "ora.up": True, "ora.role": "primary",
        "ora.tablespace_used_pct_max": 97.12,  # HIS_ARCHIVE_2019 at 99.9% is READ ONLY
        "ora.tablespace_fullest": "HIS_DATA", "ora.fra_used_pct": 93.0,
        "ora.invalid_objects": 6, "ora.alert_log_errors": 5, "ora.blocked_sessions": 3,
        "ora.rman_failed_jobs": 2, "ora.backup_last_age_s": 191243, "ora.sessions_pct": 87.1,
        "ora.processes_pct": 91.2}
    assert _brief(primary) == TROUBLED
    by_key = {f["key"]: f for f in primary["findings"]}
    assert set(by_key) == {f"{rule}|his-db-1|{subject}" for _, rule, subject in TROUBLED}
    table = by_key["oracle.tablespace|his-db-1|HIS_DATA"]
    assert table == {
        "key": "oracle.tablespace|his-db-1|HIS_DATA", "rule": "oracle.tablespace",
        "host": "his-db-1", "subject": "HIS_DATA", "severity": 2,
        "title": "Tablespace nearly full", "title_zh": "表空间使用率高",
        "detail": "permanent tablespace HIS_DATA is 97.12% used (994.5 GiB of 1024.0 GiB it "
                  "can grow to)",
        "detail_zh": "permanent tablespace HIS_DATA is 97.12% used (994.5 GiB of 1024.0 GiB "
                     "it can grow to)",
        "recommendation": om.TEXTS["oracle.tablespace"][2],
        "recommendation_zh": om.TEXTS["oracle.tablespace"][3], "value": "error"}
    # the last good database backup is 53 h old: the backup.age rule, judged once, at level 2
    assert by_key["backup.age|his-db-1|"]["detail"] == "191243 s >= 172800 s (level 2 threshold)"
    assert by_key["oracle.blocking|his-db-1|sid 518"]["detail"].endswith(
        "blocked by sid 412 serial 3391 (HIS_APP, sql_id 9babjv8yq8ru3); head of the chain "
        "sid 287")
    assert primary["score"] == 0

    assert _ora(standby) == {
        "ora.up": True, "ora.role": "physical_standby", "ora.fra_used_pct": 4.8,
        "ora.alert_log_errors": 0, "ora.blocked_sessions": 0, "ora.rman_failed_jobs": 0,
        "ora.skipped": "tablespaces,invalid_objects,patches", "ora.sessions_pct": 2.9,
        "ora.processes_pct": 5.6, "ora.apply_lag_s": 462.0, "ora.transport_lag_s": 45.0,
        "ora.archive_gaps": 1, "ora.replicating": False}
    assert _brief(standby) == [(2, "oracle.archive_gap", "thread 1"),
                               (2, "oracle.dataguard", "apply lag"),
                               (3, "oracle.dataguard", "transport lag")]
    assert [f["detail"] for f in standby["findings"]] == [
        "archive gap on thread 1: sequences 1187 to 1189 (3 logs) missing, recovery is blocked",
        "apply lag is 462 s (+00 00:07:42), limit 300 s",
        "transport lag is 45 s (+00 00:00:45), limit 30 s"]
    assert standby["score"] == 100 - 15 - 15 - 5
    assert _coverage(report) == [
        ("his-db-1", "primary", "oracle", "primary", True, True, True, None, None),
        ("his-db-2", "physical_standby", "oracle", "Active Data Guard", True, True, True,
         False, {"seconds": 462.0})]
    assert report["summary"]["by_severity"] == {"1": 0, "2": 10, "3": 8, "4": 6}
    assert report["summary"]["worst_level"] == 2

    page = render_html(report, [], "en")
    assert "NOT replicating" in page
    assert "<th>Data Guard apply lag</th><td class=\"num\">7 min</td>" in page
    assert "1 primary database(s); 1 copies, 1 read and 0 replicating." in page
    assert "Archive log gap on the standby" in page
    assert "recovery area +RECO is 93% used net of reclaimable space" in page
    zh = render_html(report, [], "zh")
    assert "备库存在归档日志缺口" in zh
    assert "表空间使用率高" in zh


def test_the_cli_reports_an_oracle_estate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                           ) -> None:
    from hisops.cli import main_group

    monkeypatch.setattr(om, "connect_host", Databases({
        "his-db-1": "troubled_primary", "his-db-2": "lagging_standby"}))
    _fake_probes(monkeypatch)
    inventory = _inventory(tmp_path).source
    page = tmp_path / "inspection.html"
    result = CliRunner().invoke(main_group, ["inspect", "-i", str(inventory), "--json", "-",
                                             "--report", str(page), "--lang", "en",
                                             "--fail-on", "2"])
    assert result.exit_code == 1, result.output  # level 2 findings, --fail-on 2
    report = json.loads(result.stdout)
    assert _brief(_host(report, "his-db-1")) == TROUBLED
    assert _host(report, "his-db-2")["metrics"]["ora.apply_lag_s"] == 462.0
    assert report["problems"]["opened"]  # journaled: each finding a problem
    assert "Data Guard standby lags behind" in page.read_text(encoding="utf-8")


# --- a database that cannot be read --------------------------------------------------------------


NO_PASSWORD = (f"{PASSWORD_ENV}: no Oracle password: set {PASSWORD_ENV} (hisops --vault-file "
               f"exports it) or {VAULT_ENV} to an ansible-vault file with "
               "oracle_monitor_password")


def test_no_password_is_a_finding_and_the_report_says_os_level_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    monkeypatch.delenv(VAULT_ENV, raising=False)
    _fake_probes(monkeypatch)  # the real connector: its InputError, before any socket
    report = run_inspection(_inventory(tmp_path))
    for host in ("his-db-1", "his-db-2"):
        entry = _host(report, host)
        assert _ora(entry) == {"ora.up": False, "ora.error": NO_PASSWORD}
        assert entry["error"] is None  # the host itself was read over SSH
        not_read = next(f for f in entry["findings"] if f["rule"] == "oracle.not_read")
        assert not_read == {
            "key": f"oracle.not_read|{host}|", "rule": "oracle.not_read", "host": host,
            "subject": "", "severity": 2, "title": "Oracle database not read",
            "title_zh": "未能读取 Oracle 数据库",
            "detail": f"Oracle database not read: {NO_PASSWORD}",
            "detail_zh": f"未能读取 Oracle 数据库：{NO_PASSWORD}",
            "recommendation": om.TEXTS["oracle.not_read"][2],
            "recommendation_zh": om.TEXTS["oracle.not_read"][3], "value": None}
    # the inventory's roles; no RMAN history read, so the backup age is unknown
    assert _host(report, "his-db-1")["role"] == "primary"
    assert _brief(_host(report, "his-db-1")) == [
        (2, "backup.age", ""), NO_DRILL, (2, "oracle.not_read", "")]
    assert _brief(_host(report, "his-db-2")) == [(2, "oracle.not_read", "")]
    assert _coverage(report) == [
        ("his-db-1", "primary", "oracle", "primary", True, False, None, None, None),
        ("his-db-2", "physical_standby", "oracle", "Active Data Guard", True, False, None,
         None, None)]
    assert report["summary"]["coverage"]["os_only"] == ["his-db-1", "his-db-2"]
    page = render_html(report, [], "en")
    assert page.count("OS level only (the Oracle database could not be read: see the "
                      "findings)") == 2
    assert "Oracle database not read: HISOPS_SECRET_ORACLE_PASSWORD: no Oracle password" in page
    zh = render_html(report, [], "zh")
    assert zh.count("仅操作系统层（未能读取 Oracle 数据库，原因见问题清单）") == 2


def test_a_closed_listener_port_is_a_finding_without_the_password(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, CANARY)
    attempts: list[Any] = []

    def loopback_only(self: socket.socket, address: Any) -> Any:
        # a real thin-mode attempt on a closed loopback port; anything else stays forbidden
        attempts.append(address)
        assert address[0] == "127.0.0.1", address
        return _socket.socket.connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", loopback_only)
    _fake_probes(monkeypatch)
    inventory = _inventory(tmp_path)
    report = run_inspection(inventory)
    assert len(attempts) >= 2
    for host, service in (("his-db-1", "HISPRD"), ("his-db-2", "HISSTBY")):
        port = inventory.host_vars(host)["oracle_listener_port"]
        entry = _host(report, host)
        assert entry["metrics"]["ora.up"] is False
        assert re.fullmatch(
            rf"cannot connect to 127\.0\.0\.1:{port}/{service} as hisops_monitor: DPY-\d+: .+",
            entry["metrics"]["ora.error"])
        [detail] = [f["detail"] for f in entry["findings"] if f["rule"] == "oracle.not_read"]
        assert detail.startswith(f"Oracle database not read: cannot connect to 127.0.0.1:{port}")
    assert CANARY not in json.dumps(report, ensure_ascii=False)
    assert CANARY not in render_html(report, [], "en")
    assert [r["database_checks"] for r in report["coverage"]] == [False, False]


@pytest.mark.parametrize(("fail", "scenario", "reason"), [
    ({"fra": oracledb.DatabaseError(
        "ORA-00942: table or view does not exist\nHelp: https://docs.oracle.com/error-help")},
     "healthy_primary", "DatabaseError: ORA-00942: table or view does not exist"),
    ({}, "snapshot_standby", "guard 'oracle.role' failed: database role SNAPSHOT STANDBY is not "
                             "inspected (only PRIMARY and PHYSICAL STANDBY)"),
])
def test_a_query_that_fails_is_a_finding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         fail: dict[str, Exception], scenario: str,
                                         reason: str) -> None:
    data = rows("healthy_primary")
    if scenario == "snapshot_standby":
        data["database_role"] = [["SNAPSHOT STANDBY", "READ WRITE"]]
    opened: list[FakeConnection] = []

    def connector(host: str, host_vars: dict[str, Any], *, timeout_s: float
                  ) -> FakeConnection:
        conn = FakeConnection(data if host == "his-db-1" else rows("healthy_standby"),
                              fail if host == "his-db-1" else None)
        opened.append(conn)
        return conn

    monkeypatch.setattr(om, "connect_host", connector)
    _fake_probes(monkeypatch)
    report = run_inspection(_inventory(tmp_path))
    primary = _host(report, "his-db-1")
    assert _ora(primary) == {"ora.up": False, "ora.error": reason}
    assert (2, "oracle.not_read", "") in _brief(primary)
    assert all(c.closed for c in opened)  # closed after a failed query too
    assert _host(report, "his-db-2")["metrics"]["ora.up"] is True  # the other one is read
    assert [r["database_checks"] for r in report["coverage"]] == [False, True]


def test_a_host_unreachable_over_ssh_still_has_its_database_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    report, _ = _inspect(tmp_path, monkeypatch, {
        "his-db-1": "healthy_primary", "his-db-2": "lagging_standby"},
        unreachable=("his-db-2",))
    standby = _host(report, "his-db-2")
    assert standby["error"].startswith("ssh: connect to host")
    assert _brief(standby) == [(2, "host.unreachable", ""), (2, "oracle.archive_gap", "thread 1"),
                               (2, "oracle.dataguard", "apply lag"),
                               (3, "oracle.dataguard", "transport lag")]
    assert report["unreachable"] == ["his-db-2"]
    row = report["coverage"][1]
    assert (row["read"], row["database_checks"], row["replicating"]) == (True, True, False)


# --- the contract's levels and the per-host switches --------------------------------------------


def test_every_engine_check_has_a_level_per_severity_and_texts_in_both_languages() -> None:
    checks = {getattr(oi, name) for name in dir(oi) if name.startswith("CHECK_")}
    assert checks == {check for check, _ in om.LEVELS}
    assert set(om.TEXTS) == checks | {om.NOT_READ}
    for check in checks:
        for severity in Severity:
            assert om.level_of(check, severity) in (2, 3, 4)  # never 1: see om.LEVELS
        assert om.level_of(check, Severity.ERROR) <= om.level_of(check, Severity.WARNING)
    assert all(title_zh and recommendation_zh and title_zh != title
               for title, title_zh, _, recommendation_zh in om.TEXTS.values())
    assert om.level_of("oracle.unknown_check", Severity.ERROR) == 2
    assert om.level_of("oracle.unknown_check", Severity.WARNING) == 3


def test_a_check_switched_off_for_a_host_is_left_out(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = ORACLE_INVENTORY.replace(
        "oracle_listener_port: PORT1}",
        "oracle_listener_port: PORT1, hisops_inspection_thresholds: "
        "{oracle.invalid_objects: off, oracle.alert_log: off, backup.verified_restore: off}}")
    monkeypatch.setattr(om, "connect_host", Databases({
        "his-db-1": "troubled_primary", "his-db-2": "healthy_standby"}))
    _fake_probes(monkeypatch)
    report = run_inspection(_inventory(tmp_path, text))
    rules = {rule for _, rule, _ in _brief(_host(report, "his-db-1"))}
    assert rules == {"backup.age", "oracle.fra", "oracle.rman", "oracle.tablespace",
                     "oracle.blocking", "oracle.patches", "oracle.sessions"}


def test_an_unread_database_keeps_its_problems_open(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hisops.journal import open_journal
    from hisops.problems import load_problems

    inventory = _inventory(tmp_path)
    _fake_probes(monkeypatch)
    key = "oracle.tablespace|his-db-1|HIS_DATA"

    def status(journal: Any) -> str:
        return {p.key: p.status for p in load_problems(journal).values()}[key]

    def run(connector: Callable[..., Any], journal: Any) -> dict[str, Any]:
        monkeypatch.setattr(om, "connect_host", connector)
        return run_inspection(inventory, journal=journal)

    with open_journal(str(tmp_path / "j.sqlite3")) as journal:
        run(Databases({"his-db-1": "troubled_primary", "his-db-2": "healthy_standby"}),
            journal)
        opened = status(journal)
        assert opened != "to_confirm"
        monkeypatch.delenv(PASSWORD_ENV, raising=False)
        from hisops.engines.oracle.connect import connect_host
        unread = run(connect_host, journal)  # no password: the database is not read
        assert _host(unread, "his-db-1")["metrics"]["ora.up"] is False
        assert status(journal) == opened  # not seen is not gone
        run(Databases({"his-db-1": "healthy_primary", "his-db-2": "healthy_standby"}), journal)
        assert status(journal) == "to_confirm"  # read and not found: a person confirms


# --- a PostgreSQL estate never meets the Oracle inspection -------------------------------------


def _pg_answer(standby: bool) -> dict[str, Any]:
    pg: dict[str, Any] = {
        "version": "15.18", "in_recovery": standby, "max_connections": 100,
        "reserved_connections": 3, "connections": 10, "idle_in_transaction": 0,
        "oldest_xact_s": 2.0, "long_xacts": 0, "lock_waits": 0,
        "databases": [{"name": "emr", "bytes": 1000, "deadlocks": 0, "blks_hit": 99_000,
                       "blks_read": 1_000}],
        "replicas": None if standby else [{"name": "emr-db-2", "state": "streaming",
                                           "lag_bytes": 0}],
        "subscriptions": [], "filesystems": {"data": {"used_pct": 40.0,
                                                      "inodes_used_pct": 3.0}},
        "log": {"file": "/var/log/postgresql/x.log",
                "counts": {"PANIC": 0, "FATAL": 0, "ERROR": 0}}}
    if standby:
        pg |= {"receiver": {"status": "streaming"}, "replay_lag_bytes": 0}
    return {**_os_answer(), "pg": pg}


def test_a_postgresql_estate_is_untouched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    def never(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a PostgreSQL host was read as an Oracle database")

    monkeypatch.setattr(om, "connect_host", never)

    def fake(script: str, requests: dict[str, Any], inventory: Any, **_: Any
             ) -> dict[str, probe.ProbeResult]:
        assert requests == {"emr-db-1": {"pg": {"port": 5432, "databases": None}},
                            "emr-db-2": {"pg": {"port": 5433, "databases": None}},
                            "app-his-1": {}}
        return {"emr-db-1": probe.ProbeResult("emr-db-1", _pg_answer(False), "", NOW, NOW),
                "emr-db-2": probe.ProbeResult("emr-db-2", _pg_answer(True), "", NOW, NOW),
                "app-his-1": probe.ProbeResult("app-his-1", _os_answer(), "", NOW, NOW)}

    monkeypatch.setattr(probe, "run_probes", fake)
    report = run_inspection(_inventory(tmp_path, PG_INVENTORY))
    for entry in report["hosts"]:
        assert not [k for k in entry["metrics"] if k.startswith("ora.")]
        assert not [f for f in entry["findings"] if f["rule"].startswith("oracle.")]
    assert _coverage(report) == [
        ("emr-db-1", "primary", "postgresql", "primary", True, True, True, None, None),
        ("emr-db-2", "physical_standby", "postgresql", "streaming standby", True, True, True,
         True, {"bytes": 0, "seconds": None})]
    assert _brief(_host(report, "emr-db-1")) == [(2, "backup.age", ""), NO_DRILL]
    page = render_html(report, [], "en")
    assert "Oracle" not in page
    assert "OS level only" not in page
    assert datetime.fromisoformat(report["started_at"]).tzinfo == UTC
