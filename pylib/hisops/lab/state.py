"""The lab's state file (``<lab dir>/state.json``): which hosts exist, their ports, the dataset.

Why a file: ``lab status``, the tests and other tools read the lab without asking podman, and
``lab up`` without ``--hosts`` keeps the size the lab already has.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from hisops.errors import InputError
from hisops.lab.settings import LabSettings
from hisops.lab.topology import HostSpec, Role, Topology

log = logging.getLogger(__name__)

STATE_VERSION = 1


@dataclass(frozen=True)
class LabState:
    port_base: int
    app_hosts: int
    image: str
    recipe_hash: str
    pg_version: str
    patch_version: str | None
    scale: float | None
    seed: int | None
    updated_at: str
    hosts: list[dict[str, Any]] = field(default_factory=list)

    def topology(self) -> Topology:
        """The topology recorded in the state (ports exactly as they were started)."""
        specs = tuple(
            HostSpec(name=h["name"], role=Role(h["role"]), index=h["index"],
                     ssh_port=h["ssh_port"], pg_port=h.get("pg_port"),
                     http_port=h.get("http_port"))
            for h in self.hosts
        )
        return Topology(hosts=specs, port_base=self.port_base)


def make(topology: Topology, **kwargs: Any) -> LabState:
    hosts = [
        {"name": h.name, "role": h.role.value, "index": h.index, "groups": list(h.groups),
         "ssh_port": h.ssh_port, "pg_port": h.pg_port, "http_port": h.http_port}
        for h in topology.hosts
    ]
    return LabState(port_base=topology.port_base, app_hosts=topology.app_hosts,
                    updated_at=datetime.now().astimezone().isoformat(timespec="seconds"),
                    hosts=hosts, **kwargs)


def load(settings: LabSettings) -> LabState | None:
    path = settings.state_file
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text())
        if raw.pop("version", None) != STATE_VERSION:
            raise InputError("unknown state file version; run `hisops lab down` first",
                             file=str(path))
        return LabState(**raw)
    except (ValueError, TypeError) as exc:
        raise InputError(f"unreadable lab state: {exc}", file=str(path)) from exc


def save(settings: LabSettings, state: LabState) -> None:
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    tmp = settings.state_file.with_name("state.json.tmp")
    tmp.write_text(json.dumps({"version": STATE_VERSION, **asdict(state)}, indent=2) + "\n")
    tmp.replace(settings.state_file)


def remove(settings: LabSettings) -> None:
    settings.state_file.unlink(missing_ok=True)
