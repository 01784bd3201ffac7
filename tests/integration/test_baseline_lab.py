"""Baselines on the lab: drift introduced by hand is found with the right item and severity,
``apply`` fixes it through the pg_baseline role, a second apply changes nothing, the check is
clean, and the journal tells when each item started and stopped drifting.

Runs the real CLI against the lab's three database hosts with the shipped CIS baseline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hisops.baselines.loader import load_baseline
from hisops.lab import containers
from tests.fixtures.lab import Lab
from tests.integration.helpers import env_with, hisops

pytestmark = pytest.mark.lab

CIS = "cis-postgresql-15"
TRUST_LINE = "host all all 0.0.0.0/0 trust"


def _item_ids(name: str) -> dict[str, Any]:
    """The CIS items the drift below must be reported under (read from the baseline file)."""
    items = load_baseline(name).baseline.items
    log_connections = next(i for i in items if i.kind == "pg_setting"
                           and i.name == "log_connections")
    no_trust = next(i for i in items if i.kind == "pg_hba" and i.state == "absent"
                    and i.method is not None and "trust" in i.method)
    superusers = next(i for i in items if i.kind == "pg_roles" and i.rule == "superusers_only")
    return {"log_connections": log_connections, "trust": no_trust, "superuser": superusers}


def _sh(lab: Lab, host: str, script: str) -> None:
    import subprocess

    name = containers.container_name(lab.settings, host)
    subprocess.run(["podman", "exec", name, "bash", "-c", script],  # noqa: S603, S607
                   check=True, capture_output=True, timeout=60)


def _introduce_drift(lab: Lab) -> None:
    with lab.connect("his-db-1", dbname="postgres", autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET log_connections = off")
        conn.execute("DROP ROLE IF EXISTS intruder")
        conn.execute("CREATE ROLE intruder SUPERUSER LOGIN PASSWORD 'lab-only-intruder'")
        conn.execute("SELECT pg_reload_conf()")
    _sh(lab, "his-db-1", f"echo '{TRUST_LINE}' >> /etc/postgresql/15/main/pg_hba.conf && "
        "runuser -u postgres -- psql -X -q -h /var/run/postgresql -p "
        f"{lab.host('his-db-1').pg_port} -c 'SELECT pg_reload_conf()'")


def _rows(report: dict[str, Any], host: str) -> dict[str, dict[str, Any]]:
    entry = next(h for h in report["hosts"] if h["host"] == host)
    assert entry["error"] is None, entry["error"]
    return {r["item"]: r for r in entry["results"]}


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return env_with(HISOPS_HOME=str(tmp_path), HISOPS_JOURNAL=str(tmp_path / "j.sqlite3"))


def test_bad_baseline_is_refused_before_any_host(env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("baseline: bad\ntitle: B\nengine: postgresql\nscope: [db_primary]\n"
                   "items:\n  - {id: x, title: x, severity: 3, kind: pg_setting,"
                   " name: log_connectionz, value: 'on'}\n", encoding="utf-8")
    result = hisops("baseline", "check", str(bad), env=env)
    assert result.rc == 2
    assert result.err.strip().count("\n") == 0
    assert f"{bad}:6: items[0](x).name: PostgreSQL has no parameter 'log_connectionz'" \
        in result.err
    assert "read his-db" not in result.err  # no host was contacted
    assert not (tmp_path / "j.sqlite3").exists() or hisops(
        "baseline", "history", "his-db-1", env=env).rc == 2


def test_drift_found_fixed_idempotent_clean_and_remembered(lab: Lab,
                                                           env: dict[str, str]) -> None:
    ids = _item_ids(CIS)
    # start from a clean lab (an earlier run may have left it anywhere)
    first = hisops("baseline", "apply", CIS, "--yes", "--allow-restart", env=env, timeout=900)
    assert first.rc == 0, first.err + first.out
    _introduce_drift(lab)

    drift = hisops("baseline", "check", CIS, "--json", env=env)
    assert drift.rc == 1, drift.err
    report = drift.json()
    rows = _rows(report, "his-db-1")
    for key, item in ids.items():
        row = rows[item.id]
        assert row["status"] == "drift", (key, row)
        assert row["severity"] == item.severity
    assert rows[ids["log_connections"].id]["actual"] == "off"
    assert rows[ids["log_connections"].id]["needs"] == "reload"
    assert "0.0.0.0/0 trust" in rows[ids["trust"].id]["actual"]
    assert "intruder" in rows[ids["superuser"].id]["actual"]

    # --check shows what would change and changes nothing
    dry = hisops("baseline", "apply", CIS, "--check", "--json", env=env, timeout=600)
    assert dry.rc == 0, dry.err
    planned = dry.json()
    assert planned["hosts"] == ["his-db-1"]
    assert planned["changes"]["his-db-1"]["changed"], planned
    still = hisops("baseline", "check", CIS, "--json", env=env)
    assert still.rc == 1

    fixed = hisops("baseline", "apply", CIS, "--yes", "--json", env=env, timeout=900)
    assert fixed.rc == 0, fixed.err + fixed.out
    result = fixed.json()
    assert result["hosts"] == ["his-db-1"]
    changed = " ".join(result["changes"]["his-db-1"]["changed"])
    assert "log_connections" in changed
    assert "intruder" in changed
    assert "trust" in changed
    assert result["left_over"] == []

    again = hisops("baseline", "apply", CIS, "--yes", "--json", env=env, timeout=900)
    assert again.rc == 0, again.err
    assert again.json()["run_id"] is None  # nothing to fix: no run, no change
    assert again.json()["hosts"] == []

    clean = hisops("baseline", "check", CIS, "--json", env=env)
    assert clean.rc == 0, clean.out[-3000:]
    assert clean.json()["summary"]["drift"] == 0

    with lab.connect("his-db-1", dbname="postgres") as conn:
        assert conn.execute("SHOW log_connections").fetchone() == ("on",)
        assert conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = 'intruder'"
                            ).fetchone() == (False,)
        assert conn.execute("SELECT count(*) FROM pg_hba_file_rules WHERE auth_method = "
                            "'trust'").fetchone() == (0,)

    history = hisops("baseline", "history", "his-db-1", "--baseline", CIS, "--json", env=env)
    assert history.rc == 0, history.err
    by_item = {h["item"]: h for h in history.json()}
    for item in ids.values():
        episodes = by_item[item.id]["episodes"]
        assert episodes[-1]["started"] == report["started_at"]
        assert episodes[-1]["stopped"] is not None
        assert by_item[item.id]["drifting_since"] is None

    diff = hisops("baseline", "diff", report["run_id"], clean.json()["run_id"], "--json",
                  env=env)
    assert diff.rc == 0, diff.err
    changes = {(c["host"], c["item"]): c["change"] for c in diff.json()["changes"]}
    for item in ids.values():
        assert changes[("his-db-1", item.id)] == "fixed"


def test_reports_in_both_languages(lab: Lab, env: dict[str, str], tmp_path: Path) -> None:
    html_zh, html_en, data = tmp_path / "zh.html", tmp_path / "en.html", tmp_path / "r.json"
    result = hisops("baseline", "check", "his-production", "--report", str(html_zh),
                    "--json-report", str(data), env=env)
    assert result.rc in (0, 1), result.err
    hisops("baseline", "check", "his-production", "--report", str(html_en), "--lang", "en",
           env=env)
    assert "基线" in html_zh.read_text(encoding="utf-8")
    assert "Baseline" in html_en.read_text(encoding="utf-8") or "baseline" in \
        html_en.read_text(encoding="utf-8")
    assert '"kind": "hisops.baseline.check"' in data.read_text(encoding="utf-8")
