"""Oracle baselines: read each instance over SQL*Net (oracledb thin mode), judge every item.

PostgreSQL hosts are read over SSH; an Oracle instance is read through its listener with a
read-only monitoring account: the host's ``oracle_dsn`` (e.g. ``his-db-1:1521/HISPRD``),
``oracle_user`` (default ``hisops_monitor``, needs SELECT_CATALOG_ROLE and AUDIT_VIEWER) and
the password from the secret ``HISOPS_SECRET_ORACLE_PASSWORD`` (environment or vault, never
the inventory). The SQL and the judgement are ``hisops.engines.oracle.baseline``'s.

Verified on real-format fixtures only; no Oracle server runs here (see docs/oracle.md).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from hisops.baselines.evaluate import Result
from hisops.engines.oracle.connect import PASSWORD_ENV


def connect(host_vars: Mapping[str, Any]) -> Any:
    """A thin-mode connection with the login :mod:`hisops.engines.oracle.connect` builds (the
    password from the environment or an ansible-vault file, a wallet for TLS)."""
    from hisops.engines.oracle.connect import connect_host

    return connect_host(str(host_vars.get("inventory_hostname") or "this host"), host_vars)


def read_all(hosts: list[str], host_vars: Callable[[str], Mapping[str, Any]],
             connector: Callable[[Mapping[str, Any]], Any] | None = None,
             ) -> dict[str, tuple[Any, str]]:
    """host -> (snapshot, error), read in parallel (one connection per host, closed after)."""
    from hisops.engines.oracle.baseline import collect

    open_one = connector or connect

    def one(host: str) -> tuple[Any, str]:
        try:
            conn = open_one(host_vars(host))
        except Exception as exc:  # a host we cannot reach is reported, not raised
            return None, _no_secret(str(exc))
        try:
            return collect(conn), ""
        except Exception as exc:
            return None, _no_secret(str(exc))
        finally:
            conn.close()

    with ThreadPoolExecutor(max_workers=max(1, min(20, len(hosts)))) as pool:
        return dict(zip(hosts, pool.map(one, hosts), strict=True))


def _no_secret(text: str) -> str:
    password = os.environ.get(PASSWORD_ENV)
    return text.replace(password, "********") if password else text


def judge(item: Any, snapshot: Any, host_vars: Mapping[str, Any]) -> Result:
    from hisops.engines.oracle.baseline import evaluate

    verdict = evaluate(item, snapshot, facts={}, host_vars=host_vars)
    fix = verdict.fix
    if verdict.needs == "manual" and item.remediation:
        fix = item.remediation
    return Result(item.id, verdict.status, verdict.expected, verdict.actual, fix=fix,
                  needs=verdict.needs, detail=verdict.detail)
