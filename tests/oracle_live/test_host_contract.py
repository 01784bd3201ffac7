"""Contract, host level: what the Oracle roles run on a database host, and the parsers on what
it prints. The unit tests prove the parsers on fixtures composed in published layouts; only
this suite proves the layouts are those of the Oracle software the hospital runs.

Needs HISOPS_ORACLE_HOST and friends (conftest.py); skipped with that reason otherwise. Every
command here is read-only: OPatch queries, RMAN LIST / VALIDATE / PREVIEW (they read backup
pieces, they write no datafile), SQL*Plus queries, GGSCI ``info all``.
"""

from __future__ import annotations

import shlex
from typing import Any

import pytest

from hisops.engines.base import ToolOutput
from hisops.engines.oracle import goldengate, opatch
from hisops.engines.oracle.opatch import DATAGUARD_STATS_SQL, REGISTRY_COLUMNS
from hisops.engines.oracle.patch_facts import registry_rows
from hisops.engines.oracle.rman import OracleEngine, rman_preview_script, rman_validate_script
from hisops.engines.oracle.sqlplus import query_script, rows
from tests.oracle_live.conftest import LIVE, OracleHost


def _ok(result: Any) -> str:
    assert result.status.is_success, f"rc {result.rc}: {result.stderr or result.stdout}"
    return str(result.stdout)


def _rman(host: OracleHost, script: str) -> ToolOutput:
    result = host.run(f"printf %s {shlex.quote(script)} | $ORACLE_HOME/bin/rman target /")
    return ToolOutput(result.stdout, result.stderr, result.rc)


def _sqlplus(host: OracleHost, sql: str) -> str:
    return _ok(host.run("$ORACLE_HOME/bin/sqlplus -S -L / as sysdba <<'EOF'\n"
                        f"{query_script(sql)}EOF"))


def test_opatch_version_and_inventory_parse(oracle_host: OracleHost) -> None:
    version = opatch.parse_opatch_version(
        _ok(oracle_host.run("$ORACLE_HOME/OPatch/opatch version")))
    assert version.count(".") >= 3
    inventory = opatch.parse_lsinventory(_ok(oracle_host.run(
        "$ORACLE_HOME/OPatch/opatch lsinventory")))
    assert inventory.home.rstrip("/") == LIVE["HISOPS_ORACLE_HOME"].rstrip("/")
    assert inventory.products


def test_rman_catalogue_lists_and_parses(oracle_host: OracleHost) -> None:
    listing = _rman(oracle_host, "LIST BACKUP OF DATABASE SUMMARY;\nEXIT;\n")
    assert listing.rc == 0, listing.stdout[-2000:]
    OracleEngine().backup_sets(listing)  # raises on a layout it does not know


def test_restore_validate_and_preview_are_read(oracle_host: OracleHost) -> None:
    engine = OracleEngine()
    sets = engine.backup_sets(_rman(oracle_host, "LIST BACKUP OF DATABASE SUMMARY;\nEXIT;\n"))
    if not sets:
        pytest.skip("the database has no backup to validate (take one: hisops run backup)")
    validate = _rman(oracle_host, rman_validate_script())
    assert engine.repository_findings(validate) == [], validate.stdout[-3000:]
    preview = _rman(oracle_host, rman_preview_script(summary=True))
    assert engine.repository_findings(preview) == [], preview.stdout[-3000:]


def test_sqlplus_csv_is_what_the_roles_read(oracle_host: OracleHost) -> None:
    got = registry_rows(_sqlplus(oracle_host, opatch.REGISTRY_SQLPATCH_SQL))
    assert all(isinstance(r["PATCH_ID"], int) for r in got)
    assert all(set(r) == set(REGISTRY_COLUMNS) for r in got)
    lags = rows(_sqlplus(oracle_host, DATAGUARD_STATS_SQL),
                ("NAME", "VALUE", "UNIT", "TIME_COMPUTED", "DATUM_TIME"))
    assert all(r["NAME"] in ("apply lag", "transport lag") for r in lags)


def test_goldengate_status_parses(oracle_host: OracleHost) -> None:
    gg_home = LIVE["HISOPS_ORACLE_GG_HOME"]
    if not gg_home:
        pytest.skip("HISOPS_ORACLE_GG_HOME is not set: no GoldenGate (classic) on this host")
    text = _ok(oracle_host.run(f"cd {shlex.quote(gg_home)} && printf %s "
                               f"{shlex.quote(goldengate.GGSCI_COMMANDS)} | ./ggsci"))
    processes = goldengate.parse_info_all(text)
    assert any(p.program == "MANAGER" for p in processes)
