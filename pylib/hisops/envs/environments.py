"""Environments as inventory groups (``env_prod``, ``env_dr``, ``env_test``, ``env_lab``) and
their properties from group variables: ``hisops_protected`` (a change needs the hosts typed
out, a refresh is refused outright), ``hisops_four_eyes`` (a second person approves every
change), ``hisops_environment`` (the name shown)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hisops.errors import InputError
from hisops.inventory import Inventory

ENV_PREFIX = "env_"
# the groups whose hosts hold an environment's databases, most important first
DATABASE_GROUPS = ("db_primary", "db_test", "db_standby", "db_replica")


@dataclass(frozen=True)
class Environment:
    group: str
    name: str
    hosts: tuple[str, ...]
    protected: bool
    four_eyes: bool
    databases: tuple[str, ...]  # hosts in a database group, primaries first

    def to_dict(self) -> dict[str, Any]:
        return {"group": self.group, "name": self.name, "hosts": list(self.hosts),
                "protected": self.protected, "four_eyes": self.four_eyes,
                "databases": list(self.databases)}


def environments(inventory: Inventory) -> list[Environment]:
    return [environment(inventory, g) for g in sorted(inventory.groups)
            if g.startswith(ENV_PREFIX)]


def environment(inventory: Inventory, group: str) -> Environment:
    if group not in inventory.groups:
        known = ", ".join(sorted(g for g in inventory.groups if g.startswith(ENV_PREFIX)))
        raise InputError(f"no environment group '{group}' in {inventory.source} "
                         f"(environments: {known or 'none'})", field="environment")
    hosts = tuple(inventory.hosts(group))
    host_vars = {h: inventory.host_vars(h) for h in hosts}
    names = {str(v.get("hisops_environment") or "") for v in host_vars.values()} - {""}
    databases = tuple(h for g in DATABASE_GROUPS if g in inventory.groups
                      for h in inventory.hosts(f"{g}:&{group}"))
    return Environment(
        group=group, name=", ".join(sorted(names)) or group.removeprefix(ENV_PREFIX),
        hosts=hosts, protected=any(v.get("hisops_protected") is True
                                   for v in host_vars.values()),
        four_eyes=any(v.get("hisops_four_eyes") is True for v in host_vars.values()),
        databases=tuple(dict.fromkeys(databases)))
