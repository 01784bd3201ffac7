"""The live Oracle contract suite: what the fixtures assume, checked against a real server.

Two levels, each run only when its environment names a real target, and skipped with that
reason otherwise (so ``.ci/run`` collects it and says why it did not run):

* SQL level, ``HISOPS_ORACLE_DSN`` (``host:port/service``), ``HISOPS_ORACLE_USER`` and
  ``HISOPS_ORACLE_PASSWORD``: every query hisops runs through python-oracledb thin mode, each
  row through its converter, the inspection snapshot and the baseline check.
  ``HISOPS_ORACLE_STANDBY_DSN`` adds the queries only a standby answers.
* SSH level, ``HISOPS_ORACLE_HOST`` (``user@host:port``, the Oracle software owner) with
  ``HISOPS_ORACLE_KNOWN_HOSTS`` (host keys are checked, never added), optionally
  ``HISOPS_ORACLE_SSH_KEY``, and ``HISOPS_ORACLE_HOME`` / ``HISOPS_ORACLE_SID``: what the roles
  run on a database host (OPatch, RMAN validate and restore preview, SQL*Plus CSV,
  ``HISOPS_ORACLE_GG_HOME`` for GGSCI) and the parsers on what it prints.

The variables are read when this module is imported: the shared fixture that isolates each
test removes ``HISOPS_SECRET_*`` variables from the environment.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

LIVE = {name: os.environ.get(name, "") for name in (
    "HISOPS_ORACLE_DSN", "HISOPS_ORACLE_USER", "HISOPS_ORACLE_PASSWORD",
    "HISOPS_ORACLE_STANDBY_DSN", "HISOPS_ORACLE_HOST", "HISOPS_ORACLE_KNOWN_HOSTS",
    "HISOPS_ORACLE_SSH_KEY", "HISOPS_ORACLE_HOME", "HISOPS_ORACLE_SID", "HISOPS_ORACLE_GG_HOME")}
LIVE["HISOPS_ORACLE_PASSWORD"] = (LIVE["HISOPS_ORACLE_PASSWORD"]
                                  or os.environ.get("HISOPS_SECRET_ORACLE_PASSWORD", ""))
NO_DSN = ("HISOPS_ORACLE_DSN is not set: the Oracle contract suite needs a real Oracle server "
          "(see docs/oracle.md, 'The live contract suite')")
NO_HOST = ("HISOPS_ORACLE_HOST is not set: the host-level Oracle contract suite needs SSH to a "
           "real Oracle database host (see docs/oracle.md, 'The live contract suite')")


def _connect(dsn: str) -> Any:
    from hisops.engines.oracle.connect import OracleLogin, connect

    user, password = LIVE["HISOPS_ORACLE_USER"], LIVE["HISOPS_ORACLE_PASSWORD"]
    if not user or not password:
        pytest.fail("an Oracle DSN is set but HISOPS_ORACLE_USER/HISOPS_ORACLE_PASSWORD are not")
    return connect(OracleLogin(dsn=dsn, user=user, password=password))


@pytest.fixture(scope="module")
def conn() -> Iterator[Any]:
    if not LIVE["HISOPS_ORACLE_DSN"]:
        pytest.skip(NO_DSN)
    connection = _connect(LIVE["HISOPS_ORACLE_DSN"])
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def standby_conn() -> Iterator[Any]:
    if not LIVE["HISOPS_ORACLE_STANDBY_DSN"]:
        pytest.skip("HISOPS_ORACLE_STANDBY_DSN is not set: the standby-only queries need a "
                    "Data Guard standby open read only (Active Data Guard)")
    connection = _connect(LIVE["HISOPS_ORACLE_STANDBY_DSN"])
    yield connection
    connection.close()


_HOST = re.compile(r"^(?P<user>[^@\s]+)@(?P<host>[^:\s]+)(?::(?P<port>\d+))?$")


@dataclass(frozen=True)
class OracleHost:
    """SSH to the database host as the Oracle software owner, host key checked."""

    conn: Any
    home: str
    sid: str

    def run(self, command: str, *, timeout_s: float = 600) -> Any:
        from hisops.executors import ssh as ssh_exec

        env = f"export ORACLE_HOME={self.home} ORACLE_SID={self.sid} " \
              "NLS_LANG=AMERICAN_AMERICA.AL32UTF8 NLS_DATE_FORMAT='YYYY-MM-DD HH24:MI:SS'; "
        return ssh_exec.run_command([self.conn], f"bash -c {shlex.quote(env + command)}",
                                    timeout_s=timeout_s)[self.conn.name]


@pytest.fixture(scope="module")
def oracle_host() -> OracleHost:
    from hisops.executors import ssh as ssh_exec

    if not LIVE["HISOPS_ORACLE_HOST"]:
        pytest.skip(NO_HOST)
    match = _HOST.match(LIVE["HISOPS_ORACLE_HOST"])
    if not match:
        pytest.fail("HISOPS_ORACLE_HOST must be user@host[:port]")
    if not LIVE["HISOPS_ORACLE_KNOWN_HOSTS"] or not LIVE["HISOPS_ORACLE_HOME"]:
        pytest.fail("HISOPS_ORACLE_HOST needs HISOPS_ORACLE_KNOWN_HOSTS (host keys are checked) "
                    "and HISOPS_ORACLE_HOME")
    hostvars = {"ansible_host": match["host"], "ansible_port": int(match["port"] or 22),
                "ansible_user": match["user"], "hisops_known_hosts":
                LIVE["HISOPS_ORACLE_KNOWN_HOSTS"]}
    if LIVE["HISOPS_ORACLE_SSH_KEY"]:
        hostvars["ansible_ssh_private_key_file"] = LIVE["HISOPS_ORACLE_SSH_KEY"]
    return OracleHost(ssh_exec.connection_for("oracle-live", hostvars),
                      LIVE["HISOPS_ORACLE_HOME"], LIVE["HISOPS_ORACLE_SID"] or "FREE")
