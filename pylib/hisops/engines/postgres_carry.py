"""Carrying a source server's configured settings to a restored copy of its data.

Debian keeps ``postgresql.conf`` outside the data directory, so a pgBackRest backup does not
carry it: a copy restored elsewhere (``hisops env refresh``) starts with the drill's minimal
configuration and does not look like the source. The role ``pg_restore_verify`` reads the
source's settings (``pg_settings``, read-only) and the target's memory, and these pure functions
decide what travels: never the settings in the exclusion list (the source's addresses, paths,
archiving, replication, certificates, libraries), and memory settings capped to a share of the
target's memory, so a production-sized value cannot keep a smaller test host from starting.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# pg_settings.unit of memory settings, in bytes (a unit may carry a multiplier: "8kB", "16MB")
_MEMORY_UNITS = {"B": 1, "kB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}
_MIB = 1 << 20


def unit_bytes(unit: str | None) -> int | None:
    """Bytes per unit of a memory setting's pg_settings.unit ("8kB" is 8192); None otherwise."""
    match = re.fullmatch(r"(\d*)\s*([kMGT]?B)", (unit or "").strip())
    if not match or match.group(2) not in _MEMORY_UNITS:
        return None
    return int(match.group(1) or 1) * _MEMORY_UNITS[match.group(2)]


def memory_bytes(texts: Iterable[str], budget_mb: Any = None) -> int | None:
    """The memory PostgreSQL may use on the target: the inventory's budget when it sets one
    (``hisops_db_memory_mb``, as the baselines use it), else the least of /proc/meminfo's
    MemTotal and a cgroup limit (a container sees the host's MemTotal, not its own limit)."""
    if str(budget_mb or "").strip() not in ("", "0"):
        return int(float(str(budget_mb))) * _MIB
    found: list[int] = []
    for text in texts:
        total = re.search(r"^MemTotal:\s+(\d+)\s*kB", text, re.MULTILINE)
        if total:
            found.append(int(total.group(1)) * 1024)
        elif text.strip().isdigit():  # cgroup v2 memory.max / v1 memory.limit_in_bytes
            found.append(int(text.strip()))
        # "max" (cgroup v2 without a limit) says nothing
    return min(found) if found else None


def conf_value(value: Any) -> str:
    """VALUE as a quoted postgresql.conf string. The server's config scanner reads backslash
    escapes inside quotes too, so backslashes are doubled as well as quotes, and a line break
    (which would end the line) is written as its escape."""
    text = str(value).replace("\\", "\\\\").replace("'", "''")
    return "'" + text.replace("\n", "\\n").replace("\r", "\\r") + "'"


def _excluded(name: str, patterns: Sequence[str]) -> bool:
    # setting names are case-insensitive (DateStyle, TimeZone)
    return any(fnmatch.fnmatchcase(name.lower(), p.strip().lower()) for p in patterns)


def _cap(row: Mapping[str, Any], fraction: float, memory: int) -> dict[str, Any] | None:
    """The capped value of one memory setting, or None when it fits (or is automatic: -1)."""
    unit = unit_bytes(row.get("unit"))
    setting = str(row.get("setting", ""))
    if unit is None or not setting.lstrip("-").isdigit() or int(setting) <= 0:
        return None
    limit = int(memory * fraction)
    if int(setting) * unit <= limit:
        return None
    # whole MB, never under one unit (shared_buffers' 8kB blocks) nor 1 MB
    to_mb = max(limit // _MIB, 1, -(-unit // _MIB))
    return {"from": str(row.get("value", setting)), "to": f"{to_mb}MB",
            "limit_bytes": limit, "fraction": fraction}


def _rows(source: Any) -> list[dict[str, Any]]:
    rows = json.loads(source) if isinstance(source, str) else source
    if not isinstance(rows, list) or not all(isinstance(r, dict) and "name" in r for r in rows):
        raise ValueError("the source's settings are not a list of {name, value, ...} rows")
    return rows


def carry_settings(source: Any, exclude: Sequence[str], memory: int | None,
                   caps: Mapping[str, Any]) -> dict[str, Any]:
    """What of the source's configured settings goes into the restored copy's postgresql.conf.

    SOURCE: the JSON rows {name, value (current_setting), setting, unit, vartype} the role
    reads from pg_settings (roles/pg_restore_verify/vars/main.yml), or those rows.

    ``settings``: name -> value to write; ``excluded``: the names the patterns of EXCLUDE
    dropped; ``capped``: name -> {from, to, limit_bytes, fraction} for the memory settings of
    CAPS (name -> fraction of MEMORY) that were larger than their share of the target's memory.
    """
    settings: dict[str, str] = {}
    excluded: list[str] = []
    capped: dict[str, dict[str, Any]] = {}
    for row in _rows(source):
        name = str(row["name"])
        if _excluded(name, exclude):
            excluded.append(name)
            continue
        settings[name] = str(row.get("value", row.get("setting", "")))
        if name in caps:
            if memory is None:
                raise ValueError(f"cannot cap {name}: the target's memory is unknown")
            cap = _cap(row, float(caps[name]), memory)
            if cap:
                capped[name] = cap
                settings[name] = cap["to"]
    return {"settings": settings, "excluded": excluded, "capped": capped,
            "memory_bytes": memory}
