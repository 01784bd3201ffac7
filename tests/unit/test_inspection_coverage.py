"""Which databases an inspection covered: the primary and the copies the contract names (ADG
standby, GoldenGate replica), read or not, replicating or not; Oracle hosts read at OS level
only until issue 10, and said so."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hisops.inspection.coverage import coverage, summary
from hisops.inspection.inspect import request_for
from hisops.inspection.report import render_html
from hisops.inventory import Inventory, db_engine

EXAMPLE = Path(__file__).resolve().parents[2] / "inventories" / "production.example"


def _entry(host: str, groups: list[str], metrics: dict[str, Any],
           error: str | None = None) -> dict[str, Any]:
    return {"host": host, "groups": groups, "role": "host", "error": error,
            "metrics": metrics, "findings": [], "score": 100}


def test_engine_comes_from_the_inventory() -> None:
    assert db_engine(["db_primary", "oracle"], {}) == "oracle"
    assert db_engine(["db_primary", "postgres"], {}) == "postgresql"
    assert db_engine(["db_primary"], {"hisops_engine": "oracle"}) == "oracle"
    assert db_engine(["db_primary", "oracle"], {"hisops_engine": "postgresql"}) == "postgresql"


def test_oracle_hosts_are_not_probed_with_psql() -> None:
    inv = Inventory(EXAMPLE)
    groups = inv.groups_by_host
    his = "his-db-1.hospital.example"
    emr = "emr-db-1.hospital.example"
    assert request_for(groups[his], inv.host_vars(his)) == {}
    assert request_for(groups[emr], inv.host_vars(emr))["pg"]["port"] == 5432


def test_the_example_estate_names_its_adg_and_goldengate_copies() -> None:
    inv = Inventory(EXAMPLE)
    groups = inv.groups_by_host
    entries = [_entry(h, groups[h], {"pg.up": True, "repl.receiver_streaming": True,
                                     "repl.replay_lag_bytes": 4096})
               for h in inv.hosts("db_primary:db_standby:db_replica")]
    rows = coverage(entries, inv.host_vars)
    by_host = {r["host"]: r for r in rows}
    adg = by_host["his-db-2.hospital.example"]
    assert (adg["kind"], adg["engine"], adg["called"]) == ("physical_standby", "oracle",
                                                          "Active Data Guard")
    assert adg["database_checks"] is False  # OS level only: no Oracle SQL checks yet
    assert by_host["his-gg-1.hospital.example"]["called"] == "GoldenGate"
    emr = by_host["emr-db-2.hospital.example"]
    assert (emr["called"], emr["replicating"], emr["lag"]) == (
        "streaming standby", True, {"bytes": 4096, "seconds": None})
    # primaries first within each system
    assert [r["kind"] for r in rows if r["system"] == "his"] == [
        "primary", "physical_standby", "logical_replica"]
    counted = summary(rows)
    assert counted["copies"] == 3
    assert sorted(counted["os_only"]) == ["his-db-1.hospital.example",
                                          "his-db-2.hospital.example",
                                          "his-gg-1.hospital.example"]


def test_a_stopped_copy_is_shown_unread_and_not_replicating() -> None:
    class _Vars:
        def __call__(self, host: str) -> dict[str, Any]:
            return {}

    entries = [_entry("p", ["db_primary"], {"pg.up": True}),
               _entry("s", ["db_standby"], {"host.reachable": False}, error="refused"),
               _entry("r", ["db_replica"], {"pg.up": True, "repl.subscriptions": 1,
                                            "repl.subscription_workers_down": 1})]
    rows = coverage(entries, _Vars())
    assert [(r["host"], r["read"], r["replicating"]) for r in rows] == [
        ("p", True, None), ("s", False, None), ("r", True, False)]
    assert summary(rows) == {"primaries": 1, "copies": 2, "copies_read": 1,
                             "copies_replicating": 0, "os_only": []}
    report = {"run_id": "inspect-x", "hosts": entries, "coverage": rows,
              "summary": {"coverage": summary(rows)}, "started_at": "2026-11-26T10:00:00+00:00"}
    page = render_html(report, [], "en")
    assert "1 primary database(s); 2 copies, 1 read and 0 replicating." in page
    assert "NOT replicating" in page
