"""Resolve runbook parameters from defaults, ``-e k=v`` and secret sources, with types checked.

Secrets come from the environment (``HISOPS_SECRET_<NAME>``), an ansible-vault file, or a
prompt; their values are kept in :class:`SecretStore` and never in the resolved parameters
that reach the plan, the journal or any output.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hisops.errors import ParameterError
from hisops.inventory import Inventory
from hisops.runbook.durations import parse_duration
from hisops.runbook.model import Parameter
from hisops.secrets import SecretStore

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def parse_extra_vars(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ParameterError("expected NAME=VALUE", field=f"-e {pair}")
        out[key.strip()] = value
    return out


def coerce(name: str, spec: Parameter, value: Any, inventory: Inventory | None) -> Any:
    """Convert a value to the parameter's type, or raise a ParameterError naming it."""
    where = f"parameter {name}"
    text = str(value).strip() if not isinstance(value, bool | int | float) else value
    try:
        if spec.type == "int":
            if isinstance(value, bool):
                raise ValueError  # noqa: TRY301 - one handler turns every bad value into one error
            result: Any = int(text)
        elif spec.type == "number":
            if isinstance(value, bool):
                raise ValueError  # noqa: TRY301 - see above
            result = float(text)
            if result != result or result in (float("inf"), float("-inf")):
                raise ValueError  # noqa: TRY301 - nan and inf are not numbers a runbook can use
        elif spec.type == "bool":
            if isinstance(value, bool):
                result = value
            elif str(text).lower() in _TRUE:
                result = True
            elif str(text).lower() in _FALSE:
                result = False
            else:
                raise ValueError  # noqa: TRY301 - see above
        elif spec.type == "duration":
            result = parse_duration(value if isinstance(value, int) else str(text))
        elif spec.type == "timestamp":
            parsed = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            result = parsed.astimezone(UTC).isoformat()
        else:
            result = str(value)
    except (ValueError, TypeError):
        raise ParameterError(f"'{value}' is not a valid {spec.type}", field=where) from None
    if spec.type == "host" and inventory is not None and result not in inventory.host_names:
        raise ParameterError(f"no host '{result}' in inventory {inventory.source}", field=where)
    if spec.type == "group" and inventory is not None:
        # a union of groups ("db_standby:db_replica"), narrowed by intersections or exclusions
        # ("db_standby:&engine_oracle") is accepted: each group named must exist
        inventory.with_engine_groups(str(result))
        for group in (g.lstrip("&!") for g in str(result).split(":")):
            if group not in inventory.groups:
                raise ParameterError(f"no group '{group}' in inventory {inventory.source}",
                                     field=where)
    if spec.choices is not None and result not in spec.choices:
        choices = ", ".join(map(str, spec.choices))
        raise ParameterError(f"'{result}' is not one of: {choices}", field=where)
    return result


SecretPrompt = Callable[[str, str], str | None]


def _vault_secrets(vault_file: Path | None, vault_password: str | None) -> dict[str, Any]:
    if vault_file is None:
        return {}
    from hisops.secrets import read_vault

    return read_vault(vault_file, vault_password)


def resolve_parameters(
    specs: Mapping[str, Parameter], given: Mapping[str, str], *, inventory: Inventory | None,
    runbook_file: str, vault_file: Path | None = None, vault_password: str | None = None,
    prompt: SecretPrompt | None = None, environ: Mapping[str, str] | None = None,
) -> tuple[dict[str, Any], SecretStore]:
    """Return (non-secret parameters, secret store). Unknown or missing names are errors."""
    environ = os.environ if environ is None else environ
    for name in given:
        if name not in specs:
            known = ", ".join(sorted(specs)) or "none"
            raise ParameterError(f"unknown parameter (known: {known})",
                                 file=runbook_file, field=f"-e {name}")
    values: dict[str, Any] = {}
    secrets = SecretStore()
    vault: dict[str, Any] | None = None
    for name, spec in specs.items():
        if spec.secret:
            if name in given:
                raise ParameterError(
                    "secret parameters are not accepted on the command line (they would show "
                    f"in shell history and ps); set HISOPS_SECRET_{name.upper()}, a vault or "
                    "the prompt", file=runbook_file, field=f"-e {name}")
            env_name = f"HISOPS_SECRET_{name.upper()}"
            secret: str | None = environ.get(env_name)
            if secret is not None and environ is os.environ:
                # Taken out of our environment at once: ansible-runner writes the process
                # environment into its artifacts while a playbook runs, and children inherit it.
                del os.environ[env_name]
            if secret is None:
                if vault is None:
                    vault = _vault_secrets(vault_file, vault_password)
                if name in vault:
                    secret = str(vault[name])
            if secret is None and prompt is not None:
                secret = prompt(name, spec.description)
            if secret is None:
                if spec.required:
                    raise ParameterError(
                        f"secret is required: set {env_name}, pass --vault-file, or run on a "
                        "terminal to be prompted", file=runbook_file, field=f"parameter {name}")
                continue
            secrets.values[name] = secret
            continue
        if name in given:
            values[name] = coerce(name, spec, given[name], inventory)
        elif spec.default is not None:
            values[name] = coerce(name, spec, spec.default, inventory)
        elif spec.required:
            raise ParameterError("required parameter is missing (pass -e "
                                 f"{name}=VALUE)", file=runbook_file, field=f"parameter {name}")
        else:
            values[name] = None
    return values, secrets
