"""Secret sources other than the environment: ansible-vault files.

We decrypt with ansible-core's own VaultLib rather than shelling out, so the vault password
never appears on a command line.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import yaml

from hisops.errors import InputError

REDACTED = "********"


class RedactingFilter(logging.Filter):
    """Replaces secret values in every log record that passes through a handler.

    The code never logs a secret on purpose; this catches what a library might (a command
    line in a debug message, an error that quotes its input)."""

    def __init__(self, values: list[str]) -> None:
        super().__init__()
        self.values = sorted((v for v in values if len(v) >= 4), key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.values:
            return True
        message = record.getMessage()
        for value in self.values:
            message = message.replace(value, REDACTED)
        record.msg, record.args = message, None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            for value in self.values:
                text = text.replace(value, REDACTED)
            record.exc_info, record.exc_text = None, text
        return True


def redact_logs(values: list[str]) -> None:
    """Install the redacting filter on every handler of the root logger."""
    flt = RedactingFilter(values)
    for handler in logging.getLogger().handlers:
        handler.addFilter(flt)


def read_vault(path: Path, password: str | None) -> dict[str, Any]:
    """Decrypt an ansible-vault YAML file of ``name: value`` pairs."""
    from ansible.parsing.vault import AnsibleVaultError, VaultLib, VaultSecret

    password = password or os.environ.pop("HISOPS_VAULT_PASSWORD", None)
    password_file = os.environ.get("HISOPS_VAULT_PASSWORD_FILE")
    if password is None and password_file:
        password = Path(password_file).read_text(encoding="utf-8").strip()
    if password is None:
        raise InputError("vault password needed: set HISOPS_VAULT_PASSWORD or "
                         "HISOPS_VAULT_PASSWORD_FILE", file=str(path))
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read vault: {exc.strerror}", file=str(path)) from None
    vault = VaultLib([("default", VaultSecret(password.encode()))])
    try:
        plain = vault.decrypt(raw) if vault.is_encrypted(raw) else raw
    except AnsibleVaultError:
        raise InputError("cannot decrypt vault (wrong password?)", file=str(path)) from None
    data = yaml.safe_load(plain) or {}
    if not isinstance(data, dict):
        raise InputError("a vault file holds a mapping of name: value", file=str(path))
    return data
