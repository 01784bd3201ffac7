"""Secret sources other than the environment: ansible-vault files.

We decrypt with ansible-core's own VaultLib rather than shelling out, so the vault password
never appears on a command line.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hisops.errors import InputError

REDACTED = "********"
MIN_SECRET_LEN = 4  # shorter values would mask innocent text everywhere


@dataclass
class SecretStore:
    """Secret values by parameter name. Its repr never shows a value."""

    values: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"SecretStore({sorted(self.values)})"

    def redact(self, text: str) -> str:
        for value in sorted(self.values.values(), key=len, reverse=True):
            if len(value) >= MIN_SECRET_LEN:
                text = text.replace(value, REDACTED)
        return text

    def redact_obj(self, obj: Any) -> Any:
        if not self.values:
            return obj
        if isinstance(obj, str):
            return self.redact(obj)
        if isinstance(obj, dict):
            return {k: self.redact_obj(v) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return [self.redact_obj(v) for v in obj]
        return obj


class RedactingFilter(logging.Filter):
    """Replaces secret values in every log record that passes through a handler.

    The code never logs a secret on purpose; this catches what a library might (a command
    line in a debug message, an error that quotes its input)."""

    def __init__(self, store: SecretStore) -> None:
        super().__init__()
        self.store = store

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.store.values:
            return True
        record.msg, record.args = self.store.redact(record.getMessage()), None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_info, record.exc_text = None, self.store.redact(text)
        return True


def redact_logs(store: SecretStore) -> None:
    """Install the redacting filter on every handler of the root logger."""
    flt = RedactingFilter(store)
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
