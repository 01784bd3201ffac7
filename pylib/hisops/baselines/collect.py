"""Read what a baseline needs from every host, in parallel, in one SSH round trip per host.

The request sent to each host is built from the items in its scope only (a host in no item's
scope is not contacted). ``remote_probe.py`` runs there with the host's own python3 and
prints one JSON line; a host that cannot be read gets an error, never an exception.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
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
from hisops.executors import ssh as ssh_exec
from hisops.executors.results import HostOutcome
from hisops.inventory import Inventory

DEFAULT_TIMEOUT_S = 30.0
MAX_PARALLEL = 20  # SSH sessions at once, as the SSH executor's own default


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


def _script() -> str:
    return resources.files("hisops.baselines").joinpath("remote_probe.py").read_text(
        encoding="utf-8")


def command_for(request: dict[str, Any]) -> str:
    return (f"python3 -c {shlex.quote(_script())} "
            f"{shlex.quote(json.dumps(request, separators=(',', ':')))}")


def parse(host: str, outcome: HostOutcome) -> Snapshot:
    if not outcome.status.is_success:
        why = outcome.detail or outcome.stderr.strip() or outcome.status.value
        return Snapshot(host=host, error=" ".join(why.split())[:300])
    lines = [ln for ln in outcome.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        last = (outcome.stderr.strip().splitlines() or ["no output"])[-1]
        return Snapshot(host=host, error=f"the probe printed nothing readable ({last[:200]})")
    try:
        return Snapshot(host=host, data=json.loads(lines[-1]))
    except ValueError as exc:
        return Snapshot(host=host, error=f"unreadable probe output ({exc})")


def collect(requests: dict[str, dict[str, Any]], inventory: Inventory, *,
            timeout_s: float = DEFAULT_TIMEOUT_S,
            on_host: Callable[[str], None] | None = None) -> dict[str, Snapshot]:
    """Probe every host of ``requests`` (host -> request) in parallel."""
    out: dict[str, Snapshot] = {}
    by_command: dict[str, list[Any]] = {}
    for host, request in requests.items():
        try:
            conn = ssh_exec.connection_for(host, inventory.host_vars(host))
        except Exception as exc:  # a bad inventory entry is this host's problem only
            out[host] = Snapshot(host=host, error=str(exc))
            continue
        by_command.setdefault(command_for(request), []).append(conn)
    # hosts with different requests (another port, other items) get different commands:
    # each group runs in its own thread, so every host is probed at once, not group by group
    def run(group: tuple[str, list[Any]]) -> dict[str, HostOutcome]:
        command, conns = group
        return ssh_exec.run_command(
            conns, command, timeout_s=timeout_s,
            on_host_done=(lambda o: on_host(o.host)) if on_host else None)

    groups = list(by_command.items())
    if groups:
        with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(groups))) as pool:
            for results in pool.map(run, groups):
                for name, outcome in results.items():
                    out[name] = parse(name, outcome)
    return {h: out[h] for h in requests}
