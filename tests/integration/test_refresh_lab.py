"""Refreshing the test environment on the lab (issue 8's acceptance): env_test's database is
restored from env_lab's last VERIFIED backup, its patient data masked inside the database, the
absence of every original value proved, its application account and interfaces reset; a second
refresh under the same key gives the same pseudonyms; a protected target is refused (exit 3)
before anything runs. Real CLI, real pgBackRest, real PostgreSQL on podman hosts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from psycopg.types.json import Jsonb

from hisops.datafix.common import ensure_schema
from tests.fixtures.lab import Lab
from tests.integration.helpers import env_with, evidence_payloads, hisops

pytestmark = pytest.mark.lab

TARGET = "his-test-1"
KEY = "lab-masking-key-of-this-test-0123456789"
TEST_PASSWORD = "test-copy-app-password-4711"
CORRECTED_NAME = "更正前姓名"
IDENTIFYING = ("name", "id_number", "phone", "address")
# settings of the lab's primary a refreshed copy must run with, carried from its configuration
CARRIED = ("wal_level", "max_wal_size", "min_wal_size", "wal_keep_size", "hot_standby_feedback",
           "log_line_prefix", "shared_buffers", "max_connections", "max_wal_senders",
           "max_replication_slots", "DateStyle", "TimeZone", "lc_messages", "lc_monetary",
           "lc_numeric", "lc_time", "log_timezone", "default_text_search_config",
           "dynamic_shared_memory_type")
# what may still differ, each on purpose: certificate files are never carried (ssl off), a
# copy never archives (archive_* stay at the drill's), and the drill recovers to the backup's
# end (recovery_target immediate, then promote)
INTENTIONAL_DIFFERENCES = {"ssl", "ssl_cert_file", "ssl_key_file", "archive_timeout",
                           "recovery_target", "recovery_target_action"}


@pytest.fixture(scope="module")
def env(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A journal holding a fresh backup of env_lab's primary and its passed restore drill."""
    home = tmp_path_factory.mktemp("refresh-home")
    env = env_with(HISOPS_HOME=str(home), HISOPS_JOURNAL=str(home / "journal.sqlite3"),
                   HISOPS_SECRET_MASKING_KEY=KEY, HISOPS_SECRET_TEST_PASSWORD=TEST_PASSWORD)
    # the source carries a data correction's before-image (a production name in a jsonb
    # column no masking policy names): the copy must not
    with lab.connect("his-db-1") as conn:
        ensure_schema(conn)
        conn.execute("INSERT INTO hisops.datafix_rows (run_id, step, ord, tbl, key, before) "
                     "VALUES ('refresh-test', 'fix', 0, 'his.patients', '{\"patient_id\": 1}', "
                     "%s) ON CONFLICT DO NOTHING", (Jsonb({"name": CORRECTED_NAME}),))
        conn.commit()
    for runbook in ("backup", "verify-backup"):
        result = hisops("run", runbook, "--yes", env=env, timeout=900)
        assert result.rc == 0, f"{runbook}: {result.err}"
    yield env
    with lab.connect("his-db-1") as conn:
        conn.execute("DELETE FROM hisops.datafix_rows WHERE run_id = 'refresh-test'")


def patients(lab: Lab, host: str, *, port: int | None = None) -> dict[int, tuple[Any, ...]]:
    spec = lab.host(host)
    with psycopg.connect(host="127.0.0.1", port=port or spec.pg, user="postgres",
                         password=lab.password, dbname="his", connect_timeout=5) as conn:
        rows = conn.execute(f"SELECT patient_id, {', '.join(IDENTIFYING)}, birth_date "  # noqa: S608
                            "FROM his.patients ORDER BY patient_id").fetchall()
    return {int(r[0]): tuple(r[1:]) for r in rows}


def joins(lab: Lab, host: str) -> tuple[int, int, int]:
    with lab.connect(host) as conn:
        row = conn.execute("""
            SELECT (SELECT count(*) FROM his.patients p JOIN his.outpatient_visits v
                      USING (patient_id)),
                   (SELECT count(*) FROM his.prescriptions r
                      JOIN his.outpatient_visits v USING (visit_id)
                      JOIN his.patients p ON p.patient_id = r.patient_id
                     WHERE v.patient_id = r.patient_id),
                   (SELECT count(*) FROM his.outpatient_visits v JOIN his.patients p
                      USING (patient_id) WHERE v.visit_time >= p.registered_at)""").fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


def refresh(env: dict[str, str], *extra: str) -> Any:
    return hisops("env", "refresh", "--yes", "--json", *extra, env=env, timeout=1200)


def lab_inventory_with(tmp_path: Path, group: str, **variables: Any) -> Path:
    """A copy of the lab's inventory with VARIABLES set on GROUP."""
    from hisops import paths

    inventory = yaml.safe_load(paths.default_inventory().read_text())
    inventory["all"]["children"][group]["vars"].update(variables)
    path = tmp_path / f"hosts-{group}.yml"
    path.write_text(yaml.safe_dump(inventory))
    return path


def test_refresh_masks_proves_and_is_deterministic(lab: Lab, env: dict[str, str],
                                                   tmp_path: Path) -> None:
    # the first refresh reaches the database through the host's SSH connection, as on a real
    # estate where the database listens on its own loopback only; the second one directly
    tunnelled = lab_inventory_with(tmp_path, "env_test", hisops_db_via_ssh=True)
    first = refresh(env, "-i", str(tunnelled))
    assert first.rc == 0, first.err
    assert first.json()["status"] == "succeeded"
    source, masked = patients(lab, "his-db-1"), patients(lab, TARGET)
    assert masked.keys() == source.keys()  # every patient is there, under the same key
    for column, index in zip(IDENTIFYING, range(4), strict=True):
        same = sum(1 for pid, row in masked.items() if row[index] == source[pid][index])
        assert same == 0, f"{same} rows kept their original {column}"
    # the ID numbers are still valid ones, unique, and keep the birth date and sex
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    ids = [row[1] for row in masked.values()]
    assert len(set(ids)) == len(ids)
    for pid, row in masked.items():
        number = row[1]
        check = "10X98765432"[sum(int(d) * w for d, w in zip(number[:17], weights,
                                                               strict=True)) % 11]
        assert number[17] == check, number
        assert number[6:14] == source[pid][1][6:14]  # birth kept by the policy
        assert int(number[16]) % 2 == int(source[pid][1][16]) % 2
    # joins between patients, visits and prescriptions match as in the source, and a
    # patient's visits still follow the registration (their dates moved together)
    assert joins(lab, TARGET) == joins(lab, "his-db-1")

    # the proof the refresh made: no original value left, counted inside the database
    [masking] = [e["evidence"] for e in evidence_payloads("masking", env)]
    assert masking["guard"]["passed"] is True
    assert masking["guard"]["column_count"] >= 4
    assert all(c["found"] == 0 or c["mode"] == "row" for c in masking["guard"]["columns"])
    assert KEY not in json.dumps(masking)
    assert masking["datafix_images_removed"] >= 1
    with lab.connect(TARGET) as conn:
        assert conn.execute("SELECT to_regclass('hisops.datafix_rows')").fetchone() == (None,)
    # the application account's production password is gone; interfaces point at stubs
    with psycopg.connect(host="127.0.0.1", port=lab.host(TARGET).pg, user="his_app",
                         password=TEST_PASSWORD, dbname="his", connect_timeout=5) as app:
        assert app.execute("SELECT 1").fetchone() == (1,)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(host="127.0.0.1", port=lab.host(TARGET).pg, user="his_app",
                        password=lab.password, dbname="his", connect_timeout=5)
    with lab.connect(TARGET) as conn:
        urls = [r[0] for r in conn.execute("SELECT url FROM his_config.interface_endpoints")]
    assert urls
    assert all(u.startswith("http://127.0.0.1:") and "/stub/" in u for u in urls), urls

    # the copy runs with the source's configuration (carried over by the restore step), so
    # what still differs is what must: the certificates (never carried) and the drill's own
    # recovery target (pgBackRest's, in postgresql.auto.conf); each named with both values
    diff = hisops("env", "diff", "env_lab", "env_test", "--json", env=env)
    assert diff.rc == 1, diff.err  # they differ (exit 1); both sides were read
    found = diff.json()
    assert found["complete"] is True
    assert (found["left"]["host"], found["right"]["host"]) == ("his-db-1", TARGET)
    settings = found["differences"]["settings"]
    assert set(settings) <= INTENTIONAL_DIFFERENCES, settings
    assert settings["ssl"] == ["on", "off"]
    left, right = found["left"]["settings"], found["right"]["settings"]
    for name in CARRIED:
        assert left[name] == right[name], (name, left[name], right[name])
    assert lab.password not in diff.out
    # the journal's evidence of the restore names what was carried, capped and left behind
    restore = [e["evidence"] for e in evidence_payloads("restore_drill", env)
               if e["evidence"].get("scratch_host") == TARGET][-1]
    configuration = restore["configuration"]
    assert configuration["carried"]["wal_level"] == "logical"
    assert configuration["capped"] == {}  # the lab's 32MB fit the test host's 512 MB budget
    assert {"port", "ssl", "cluster_name", "listen_addresses"} <= set(
        configuration["not_carried"])

    # a second refresh with the same key: the same pseudonyms
    second = refresh(env)
    assert second.rc == 0, second.err
    assert patients(lab, TARGET) == masked


def test_a_protected_target_is_refused_before_anything_runs(
        lab: Lab, env: dict[str, str], tmp_path: Path) -> None:
    path = lab_inventory_with(tmp_path, "env_test", hisops_protected=True)
    runs_before = hisops("runs", "--json", env=env).json()
    refused = refresh(env, "-i", str(path))
    assert refused.rc == 3, refused.err
    assert "his-test-1 is protected" in refused.err
    assert hisops("runs", "--json", env=env).json() == runs_before
