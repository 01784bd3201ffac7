"""Thin-mode logins: where the password comes from, what a wallet is used for, and that no
secret reaches a repr or an error. The last test opens a real python-oracledb thin connection
to a closed port on 127.0.0.1 (no Oracle server exists here): the driver's own error path."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from hisops.engines.oracle.connect import (
    PASSWORD_ENV,
    VAULT_ENV,
    WALLET_PASSWORD_ENV,
    OracleConnectError,
    OracleLogin,
    connect,
    connect_args,
    dsn_for,
    login_for,
)
from hisops.errors import InputError
from tests.conftest import ROOT

CANARY = "canary-Pw-7f3a"
HV = {"ansible_host": "127.0.0.1", "oracle_service_name": "hisprd.hospital.example",
      "oracle_listener_port": 1521}


def test_dsn_from_the_inventory_or_easy_connect() -> None:
    assert dsn_for("h", {"oracle_dsn": "db:1522/X"}) == "db:1522/X"
    assert dsn_for("h", HV) == "127.0.0.1:1521/hisprd.hospital.example"
    with pytest.raises(InputError, match="oracle_service_name"):
        dsn_for("h", {})


def test_password_from_the_environment_and_never_shown() -> None:
    login = login_for("h", HV, {PASSWORD_ENV: CANARY})
    assert login.user == "hisops_monitor"
    assert login.password == CANARY
    assert CANARY not in repr(login)
    assert CANARY not in str(login)
    assert login.redact(f"ORA-01017 for {CANARY}") == "ORA-01017 for ********"


def test_password_from_an_ansible_vault(tmp_path: Path) -> None:
    plain = tmp_path / "vault.yml"
    plain.write_text(f"oracle_monitor_password: {CANARY}\n")
    password_file = tmp_path / "pw"
    password_file.write_text("vault-pass\n")
    subprocess.run([str(ROOT / ".venv" / "bin" / "ansible-vault"), "encrypt", str(plain),
                    "--vault-password-file", str(password_file)], check=True,
                   capture_output=True)
    assert CANARY not in plain.read_text()
    env = {VAULT_ENV: str(plain), "HISOPS_VAULT_PASSWORD_FILE": str(password_file)}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HISOPS_VAULT_PASSWORD_FILE", str(password_file))
        assert login_for("h", HV, env).password == CANARY


def test_no_password_is_an_input_error_naming_both_sources() -> None:
    with pytest.raises(InputError, match=f"{PASSWORD_ENV}.*{VAULT_ENV}"):
        login_for("h", HV, {})


def test_external_password_store_is_refused_with_the_reason() -> None:
    with pytest.raises(InputError, match="thick mode"):
        login_for("h", {"oracle_dsn": "/@hisprd"}, {PASSWORD_ENV: CANARY})


def test_a_wallet_gives_tls_and_aliases() -> None:
    login = login_for("h", HV | {"oracle_wallet_dir": "/etc/hisops/wallet"},
                      {PASSWORD_ENV: CANARY, WALLET_PASSWORD_ENV: "wallet-pw-1"})
    args = connect_args(login)
    assert args["config_dir"] == args["wallet_location"] == "/etc/hisops/wallet"
    assert args["wallet_password"] == "wallet-pw-1"
    assert "wallet-pw-1" not in repr(login)
    assert "config_dir" not in connect_args(login_for("h", HV, {PASSWORD_ENV: CANARY}))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_failed_connection_says_where_and_hides_the_password() -> None:
    login = OracleLogin(dsn=f"127.0.0.1:{_closed_port()}/HISPRD", user="hisops_monitor",
                        password=CANARY)
    with pytest.raises(OracleConnectError) as caught:
        connect(login, timeout_s=2)
    assert "127.0.0.1" in str(caught.value)
    assert CANARY not in str(caught.value)
    assert caught.value.__cause__ is None
