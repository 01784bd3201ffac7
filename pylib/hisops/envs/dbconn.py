"""A SQL session with the database of an inventory host, for controller tasks (masking, the
PII proof) that must run set-based SQL inside that database.

Where the database listens: ``ansible_host`` and ``pg_port`` (or the port a task names, such
as a refreshed instance's). Who connects: ``pg_superuser`` (default ``postgres``). The password
comes from a secret parameter when the runbook has one (``db_password``), else from the file
the inventory names (``pg_password_file``, the lab's), never from the inventory itself.

Only loopback addresses (every lab host) or hosts marked ``hisops_db_direct: true`` are
connected to directly. Reaching a database through an SSH tunnel is not built yet: such a host
is refused with a message that says so, rather than a connection attempt to an address the
operator did not approve.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from hisops.errors import ExecutorError
from hisops.inventory import Inventory

CONNECT_TIMEOUT_S = 10
APPLICATION_NAME = "hisops"


def _is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def password_for(host_vars: Mapping[str, Any], secrets: Mapping[str, str]) -> str:
    given = secrets.get("db_password")
    if given:
        return given
    path = host_vars.get("pg_password_file")
    if path:
        try:
            return Path(str(path)).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ExecutorError(f"cannot read pg_password_file {path}: {exc.strerror}") from None
    raise ExecutorError("no database password: set the secret parameter db_password "
                        "(HISOPS_SECRET_DB_PASSWORD) or pg_password_file in the inventory")


def conninfo_for(inventory: Inventory, host: str, *, dbname: str, port: int | None = None
                 ) -> dict[str, Any]:
    """Connection keywords without the password (safe to show)."""
    hv = inventory.host_vars(host)
    address = str(hv.get("ansible_host", host))
    if not (_is_loopback(address) or hv.get("hisops_db_direct") is True):
        raise ExecutorError(
            f"{host}: the database at {address} is not on this machine and the host is not "
            "marked hisops_db_direct: true; connecting through an SSH tunnel is not built yet")
    return {"host": address, "port": int(port or hv.get("pg_port", 5432)),
            "user": str(hv.get("pg_superuser", "postgres")), "dbname": dbname,
            "connect_timeout": CONNECT_TIMEOUT_S, "application_name": APPLICATION_NAME}


@contextmanager
def connect(inventory: Inventory, host: str, *, dbname: str, secrets: Mapping[str, str],
            port: int | None = None, autocommit: bool = False
            ) -> Iterator[psycopg.Connection[Any]]:
    info = conninfo_for(inventory, host, dbname=dbname, port=port)
    password = password_for(inventory.host_vars(host), secrets)
    try:
        conn = psycopg.connect(**info, password=password, autocommit=autocommit)
    except psycopg.OperationalError as exc:
        # the driver's message names host and port, never the password
        raise ExecutorError(f"{host}: cannot connect to {info['dbname']} on port "
                            f"{info['port']}: {str(exc).strip().splitlines()[-1]}") from None
    with conn:
        yield conn
