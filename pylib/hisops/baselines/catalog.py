"""What PostgreSQL knows about its parameters, offline: name, type, unit, context, enum values.

``pg15_settings.json`` is ``pg_settings`` of a real PostgreSQL 15 server (the lab's), so a
baseline naming a parameter the server does not have, or a value it would refuse, is an input
error before any host is contacted. Parameters with a dot (``pg_stat_statements.track``)
belong to extensions; PostgreSQL accepts any such name, and so do we when the catalog does
not list it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True)
class Parameter:
    name: str
    vartype: str  # bool integer real string enum
    unit: str | None
    context: str  # internal postmaster sighup superuser-backend backend superuser user
    enumvals: tuple[str, ...] = ()
    min: str | None = None
    max: str | None = None

    @property
    def needs(self) -> str:
        """What makes a changed value take effect: restart, reload, or 'manual' (internal)."""
        if self.context == "internal":
            return "manual"
        if self.context == "postmaster":
            return "restart"
        return "reload"


@cache
def pg_parameters() -> dict[str, Parameter]:
    text = resources.files("hisops.baselines").joinpath("pg15_settings.json").read_text(
        encoding="utf-8")
    raw = json.loads(text)["settings"]
    return {name: Parameter(name=name, vartype=spec["vartype"], unit=spec.get("unit"),
                            context=spec["context"],
                            enumvals=tuple(spec.get("enumvals") or ()),
                            min=spec.get("min"), max=spec.get("max"))
            for name, spec in raw.items()}


def pg_parameter(name: str) -> Parameter | None:
    """The parameter, a free-form string for an unknown extension parameter, or None."""
    known = pg_parameters().get(name)
    if known is not None:
        return known
    if "." in name:
        return Parameter(name=name, vartype="string", unit=None, context="user")
    return None
