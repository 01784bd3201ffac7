"""A SQL session with the database of an inventory host, for controller tasks (masking, the
PII proof) that must run set-based SQL inside that database.

Where the database listens: ``ansible_host`` and ``pg_port`` (or the port a task names, such
as a refreshed instance's). Who connects: ``pg_superuser`` (default ``postgres``). The password
comes from a secret parameter when the runbook has one (``db_password``), else from the file
the inventory names (``pg_password_file``, the lab's), never from the inventory itself.

How: a loopback address (every lab host) or a host marked ``hisops_db_direct: true`` is
connected to directly; any other host through its SSH connection (the inventory's, host key
checked), forwarding a loopback port of the controller to the database's port on the host's
own loopback, so a database that listens on 127.0.0.1 only, as it should, is reachable and no
database port has to be opened to the controller. ``hisops_db_via_ssh: true`` forces the
tunnel (the lab's tests use it).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
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


def via_ssh(host_vars: Mapping[str, Any], host: str) -> bool:
    """Whether the database of this host is reached through an SSH tunnel."""
    if host_vars.get("hisops_db_via_ssh") is True:
        return True
    address = str(host_vars.get("ansible_host", host))
    return not (_is_loopback(address) or host_vars.get("hisops_db_direct") is True)


def conninfo_for(inventory: Inventory, host: str, *, dbname: str, port: int | None = None
                 ) -> dict[str, Any]:
    """Connection keywords without the password (safe to show), for a direct connection."""
    hv = inventory.host_vars(host)
    return {"host": str(hv.get("ansible_host", host)),
            "port": int(port or hv.get("pg_port", 5432)),
            "user": str(hv.get("pg_superuser", "postgres")), "dbname": dbname,
            "connect_timeout": CONNECT_TIMEOUT_S, "application_name": APPLICATION_NAME}


@contextmanager
def connect(inventory: Inventory, host: str, *, dbname: str, secrets: Mapping[str, str],
            port: int | None = None, autocommit: bool = False
            ) -> Iterator[psycopg.Connection[Any]]:
    hv = inventory.host_vars(host)
    info = conninfo_for(inventory, host, dbname=dbname, port=port)
    password = password_for(hv, secrets)
    with ExitStack() as stack:
        if via_ssh(hv, host):
            from hisops.executors import ssh

            remote_port = info["port"]
            info["port"] = stack.enter_context(
                ssh.forwarded_port(ssh.connection_for(host, hv), remote_port))
            info["host"] = "127.0.0.1"
            where = f"port {remote_port} through {host}'s SSH connection"
        else:
            where = f"{info['host']} port {info['port']}"
        try:
            conn = psycopg.connect(**info, password=password, autocommit=autocommit)
        except psycopg.OperationalError as exc:
            # the driver's message names host and port, never the password
            raise ExecutorError(f"{host}: cannot connect to {info['dbname']} on {where}: "
                                f"{str(exc).strip().splitlines()[-1]}") from None
        with conn:
            yield conn
