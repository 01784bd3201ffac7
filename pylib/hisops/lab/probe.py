"""Probes that ask each lab host whether it answers, the way a runbook would reach it.

SSH: a real login with paramiko, host keys from the lab's known_hosts and RejectPolicy (an
unknown or changed key fails), running ``true``. PostgreSQL: a psycopg connection to
127.0.0.1:port. Replication: the standby's WAL receiver and the subscription's workers.
"""

from __future__ import annotations

import json
import logging
import re
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import paramiko
import psycopg

from hisops.lab.pgsetup import SUBSCRIPTION, connect
from hisops.lab.topology import HostSpec, Role

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Probe:
    """One answer: ok or not, and a short word for the table (or the error's first line)."""

    ok: bool
    detail: str


def _first_line(exc: BaseException) -> str:
    """The gist of an error for a table cell: 'Connection refused', not libpq's paragraph."""
    reason = getattr(exc, "reason", None)  # urllib's URLError wraps the socket error
    text = str(reason if reason is not None else exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    line = re.sub(r"^\[Errno \d+\] ", "", line.rsplit(": ", 1)[-1].strip())
    return line[:60] or type(exc).__name__


def ssh(port: int, key: Path, known_hosts: Path, *, timeout: float = 5) -> Probe:
    client = paramiko.SSHClient()
    try:
        client.load_host_keys(str(known_hosts))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.connect("127.0.0.1", port=port, username="root", key_filename=str(key),
                       look_for_keys=False, allow_agent=False, timeout=timeout,
                       banner_timeout=timeout, auth_timeout=timeout)
        _, stdout, _ = client.exec_command("true", timeout=timeout)  # noqa: S601 - constant
        rc = stdout.channel.recv_exit_status()
        return Probe(rc == 0, "ok" if rc == 0 else f"true exited {rc}")
    except (OSError, paramiko.SSHException) as exc:
        return Probe(False, _first_line(exc))
    finally:
        client.close()


def postgres(port: int, password: str) -> Probe:
    try:
        with connect(port, password, dbname="postgres") as conn:
            row = conn.execute("SELECT current_setting('server_version'), "
                               "pg_is_in_recovery()").fetchone()
    except psycopg.Error as exc:
        return Probe(False, _first_line(exc))
    assert row is not None  # noqa: S101 - a SELECT without FROM returns one row
    version = str(row[0]).split()[0]
    return Probe(True, f"{version} ro" if row[1] else version)


def replication(host: HostSpec, password: str) -> Probe | None:
    """Standby: is the WAL receiver streaming? Subscriber: is the subscription applying?"""
    if host.pg_port is None or host.role not in (Role.STANDBY, Role.SUBSCRIBER):
        return None
    try:
        if host.role is Role.STANDBY:
            with connect(host.pg_port, password, dbname="postgres") as conn:
                row = conn.execute("SELECT status FROM pg_stat_wal_receiver").fetchone()
            state = row[0] if row else "no WAL receiver"
            return Probe(state == "streaming", str(state))
        with connect(host.pg_port, password) as conn:
            row = conn.execute(
                "SELECT s.pid IS NOT NULL, (SELECT count(*) FROM pg_subscription_rel "
                "WHERE srsubstate <> 'r') FROM pg_stat_subscription s "
                "WHERE s.subname = %s AND s.relid IS NULL", (SUBSCRIPTION,)).fetchone()
    except psycopg.Error as exc:
        return Probe(False, _first_line(exc))
    if row is None:
        return Probe(False, "no subscription")
    active, syncing = bool(row[0]), int(row[1])
    if not active:
        return Probe(False, "sub stopped")
    return Probe(True, f"syncing {syncing}" if syncing else "subscribed")


def http(port: int, *, timeout: float = 3) -> Probe:
    url = f"http://127.0.0.1:{port}/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - fixed http URL
            body = json.loads(resp.read())
        return Probe(body.get("status") == "ok", str(body.get("status")))
    except (OSError, ValueError) as exc:
        return Probe(False, _first_line(exc))
