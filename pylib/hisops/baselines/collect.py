"""Read what a baseline needs from every host, in parallel, in one SSH round trip per host.

The request sent to each host is built from the items in its scope only (a host in no item's
scope is not contacted). ``remote_probe.py`` runs there with the host's own python3 and
prints one JSON line; a host that cannot be read gets an error, never an exception.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hisops.baselines.model import (
    FileLine,
    Limit,
    PgDataDirectory,
    PgExtension,
    PgHbaRule,
    PgRoles,
    PgSetting,
    Sshd,
    Sysctl,
)
from hisops.executors import probe
from hisops.executors.results import HostOutcome
from hisops.inventory import Inventory

DEFAULT_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Snapshot:
    """What one host looked like (``error`` set when it could not be read at all)."""

    host: str
    data: dict[str, Any] = field(default_factory=dict)
    error: str = ""

    def part(self, name: str) -> tuple[dict[str, Any] | list[Any] | None, str]:
        """(the part, its error): a part can fail alone (e.g. the cluster is down)."""
        value = self.data.get(name)
        if isinstance(value, dict) and set(value) == {"error"}:
            return None, str(value["error"])
        return value, ""


def build_request(items: Sequence[Any], port: int) -> dict[str, Any]:
    pg: dict[str, Any] = {"port": port, "settings": [], "extension_dbs": []}
    wants_pg = False
    request: dict[str, Any] = {"sysctl": [], "limits": [], "sshd": [], "files": []}
    for item in items:
        if isinstance(item, PgSetting):
            pg["settings"].append(item.name)
            wants_pg = True
        elif isinstance(item, PgHbaRule):
            pg["hba"] = wants_pg = True
        elif isinstance(item, PgRoles):
            pg["roles"] = wants_pg = True
        elif isinstance(item, PgDataDirectory):
            pg["datadir"] = wants_pg = True
        elif isinstance(item, PgExtension):
            pg["extension_dbs"].append(item.database)
            wants_pg = True
        elif isinstance(item, Sysctl):
            request["sysctl"].append(item.name)
        elif isinstance(item, Limit):
            request["limits"].append(item.domain)
        elif isinstance(item, Sshd):
            request["sshd"].append(item.key)
        elif isinstance(item, FileLine):
            request["files"].append({"id": item.id, "path": item.path, "line": item.line,
                                     "pattern": item.pattern})
    if wants_pg:
        pg["settings"] = sorted(set(pg["settings"]))
        pg["extension_dbs"] = sorted(set(pg["extension_dbs"]))
        request["pg"] = pg
    request["limits"] = sorted(set(request["limits"]))
    return {k: v for k, v in request.items() if v}


def command_for(request: dict[str, Any]) -> str:
    return probe.command_for(probe.script_text("hisops.baselines", "remote_probe.py"), request)


def parse(host: str, outcome: HostOutcome) -> Snapshot:
    result = probe.parse(host, outcome)
    return Snapshot(host=host, data=result.data, error=result.error)


def collect(requests: dict[str, dict[str, Any]], inventory: Inventory, *,
            timeout_s: float = DEFAULT_TIMEOUT_S,
            on_host: Callable[[str], None] | None = None) -> dict[str, Snapshot]:
    """Probe every host of ``requests`` (host -> request) in parallel."""
    results = probe.run_probes(probe.script_text("hisops.baselines", "remote_probe.py"),
                               requests, inventory, timeout_s=timeout_s, on_host=on_host)
    return {host: Snapshot(host=host, data=r.data, error=r.error) for host, r in results.items()}
