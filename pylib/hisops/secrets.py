"""Secret sources other than the environment: ansible-vault files.

We decrypt with ansible-core's own VaultLib rather than shelling out, so the vault password
never appears on a command line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from hisops.errors import InputError


def read_vault(path: Path, password: str | None) -> dict[str, Any]:
    """Decrypt an ansible-vault YAML file of ``name: value`` pairs."""
    from ansible.parsing.vault import AnsibleVaultError, VaultLib, VaultSecret

    password = password or os.environ.get("HISOPS_VAULT_PASSWORD")
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
