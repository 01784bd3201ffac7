"""Connections to Oracle from the control host: python-oracledb in thin mode, secrets kept out.

Thin mode talks SQL*Net itself: no Instant Client on the control host, nothing to install on
the database hosts. What it cannot do decides how credentials come in:

* **User and password** are the only login thin mode offers (python-oracledb's "Thin mode
  currently only allows user/password authentication"). The user is the host's ``oracle_user``
  (default ``hisops_monitor``: SELECT_CATALOG_ROLE, AUDIT_VIEWER, nothing else); the password is
  a secret, from the environment (``HISOPS_SECRET_ORACLE_PASSWORD``, what ``hisops`` exports
  from ``--vault-file``) or from an ansible-vault file named by ``HISOPS_ORACLE_VAULT`` (key
  ``oracle_monitor_password``). Never from the inventory.
* **An Oracle wallet** is used for what thin mode reads from one: TLS (``ewallet.pem`` in
  ``oracle_wallet_dir``, with ``tnsnames.ora`` aliases from the same directory and the wallet's
  password as the secret ``HISOPS_SECRET_ORACLE_WALLET_PASSWORD``). A Secure External Password
  Store wallet (``mkstore`` credentials, ``/@alias``) is external authentication, which only
  thick mode does: it is refused with that reason rather than half-supported.

No secret reaches a log, an error message or a repr: :class:`OracleLogin` hides its password,
and every error is re-raised with the secrets masked.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hisops.errors import HisopsError, InputError
from hisops.secrets import REDACTED, read_vault

if TYPE_CHECKING:
    import oracledb

PASSWORD_ENV = "HISOPS_SECRET_ORACLE_PASSWORD"  # noqa: S105 - a variable's name
WALLET_PASSWORD_ENV = "HISOPS_SECRET_ORACLE_WALLET_PASSWORD"  # noqa: S105 - a variable's name
VAULT_ENV = "HISOPS_ORACLE_VAULT"
VAULT_KEY = "oracle_monitor_password"
DEFAULT_USER = "hisops_monitor"
DEFAULT_PORT = 1521


class OracleConnectError(HisopsError):
    """A connection could not be opened; the message never holds a secret."""


@dataclass(frozen=True)
class OracleLogin:
    """Where and as whom to connect. ``repr`` and ``str`` never show the passwords."""

    dsn: str
    user: str
    password: str = field(repr=False)
    wallet_dir: str | None = None
    wallet_password: str | None = field(default=None, repr=False)

    def redact(self, text: str) -> str:
        for secret in (self.password, self.wallet_password):
            if secret:
                text = text.replace(secret, REDACTED)
        return text


def dsn_for(host: str, host_vars: Mapping[str, Any]) -> str:
    """The host's ``oracle_dsn``, else an Easy Connect string from its address, listener port
    and ``oracle_service_name``."""
    if host_vars.get("oracle_dsn"):
        return str(host_vars["oracle_dsn"])
    service = host_vars.get("oracle_service_name")
    if not service:
        raise InputError(f"{host}: set oracle_dsn or oracle_service_name in the inventory",
                         field="oracle_dsn")
    address = host_vars.get("ansible_host") or host
    port = int(host_vars.get("oracle_listener_port") or DEFAULT_PORT)
    return f"{address}:{port}/{service}"


def _password(environ: Mapping[str, str]) -> str:
    if environ.get(PASSWORD_ENV):
        return environ[PASSWORD_ENV]
    vault = environ.get(VAULT_ENV)
    if vault:
        value = read_vault(Path(vault), None).get(VAULT_KEY)
        if value:
            return str(value)
        raise InputError(f"the vault has no {VAULT_KEY}", file=vault, field=VAULT_KEY)
    raise InputError(f"no Oracle password: set {PASSWORD_ENV} (hisops --vault-file exports it) "
                     f"or {VAULT_ENV} to an ansible-vault file with {VAULT_KEY}",
                     field=PASSWORD_ENV)


def login_for(host: str, host_vars: Mapping[str, Any],
              environ: Mapping[str, str] | None = None) -> OracleLogin:
    """The login for ``host`` from its inventory variables and the secrets."""
    env = os.environ if environ is None else environ
    dsn = dsn_for(host, host_vars)
    if dsn.startswith("/@") or host_vars.get("oracle_external_auth"):
        raise InputError(f"{host}: a Secure External Password Store login (/@alias) needs "
                         "python-oracledb thick mode, which hisops does not use; give "
                         "oracle_user and the password secret", field="oracle_dsn")
    wallet_dir = host_vars.get("oracle_wallet_dir")
    return OracleLogin(dsn=dsn, user=str(host_vars.get("oracle_user") or DEFAULT_USER),
                       password=_password(env), wallet_dir=str(wallet_dir) if wallet_dir else None,
                       wallet_password=env.get(WALLET_PASSWORD_ENV) or None)


def connect_args(login: OracleLogin, *, timeout_s: float = 10) -> dict[str, Any]:
    """Keyword arguments of ``oracledb.connect`` for ``login`` (thin mode)."""
    args: dict[str, Any] = {"user": login.user, "password": login.password, "dsn": login.dsn,
                            "tcp_connect_timeout": timeout_s}
    if login.wallet_dir:
        args |= {"config_dir": login.wallet_dir, "wallet_location": login.wallet_dir}
        if login.wallet_password:
            args["wallet_password"] = login.wallet_password
    return args


def connect(login: OracleLogin, *, timeout_s: float = 10) -> oracledb.Connection:
    """Open a thin-mode connection; thick mode, if something enabled it, is refused (it would
    need client libraries this tool does not install, and behaves differently)."""
    import oracledb

    try:
        conn = oracledb.connect(**connect_args(login, timeout_s=timeout_s))
    except oracledb.Error as exc:
        raise OracleConnectError(f"cannot connect to {login.dsn} as {login.user}: "
                                 f"{login.redact(str(exc).splitlines()[0])}") from None
    if not conn.thin:
        conn.close()
        raise OracleConnectError("python-oracledb is in thick mode in this process: hisops "
                                 "connects in thin mode only")
    return conn


def connect_host(host: str, host_vars: Mapping[str, Any], *,
                 timeout_s: float = 10) -> oracledb.Connection:
    """:func:`login_for` then :func:`connect`."""
    return connect(login_for(host, host_vars), timeout_s=timeout_s)
