"""From a drift report to what the ``pg_baseline`` role enforces on each host.

Only drifts that hisops may fix are passed on (``fix: auto``; not what a standby takes from
its primary; not kernel parameters of a container). The role gets exact values, never a
template or a wildcard, so it is a plain idempotent enforcer and a second apply finds
nothing to do. The file is content-addressed and holds no secret: it is part of the run's
record, and a resumed run reads the same file.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from hisops import paths

KEYS = ("settings", "hba", "roles", "extensions", "sysctl", "limits", "sshd", "lines")


def desired_state(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """host -> {settings: [...], hba: [...], ..., datadir: {...} | None}; hosts with work only."""
    out: dict[str, dict[str, Any]] = {}
    for host in report["hosts"]:
        state: dict[str, Any] = {key: [] for key in KEYS}
        state["datadir"] = None
        state["sysctl_live"] = True
        items: list[str] = []
        for row in host["results"]:
            target = row.get("target") or {}
            if row["status"] != "drift" or row["fix_mode"] != "auto" or not target:
                continue
            items.append(row["item"])
            for key, value in target.items():
                if key == "datadir":
                    state["datadir"] = value
                else:
                    _extend(state[key], value)
        if items:
            state["items"] = items
            out[host["host"]] = state
    return out


def _extend(into: list[Any], values: list[Any]) -> None:
    for value in values:
        if value not in into:
            into.append(value)


def write_desired(state: dict[str, dict[str, Any]]) -> Path:
    text = json.dumps(state, indent=1, sort_keys=True, ensure_ascii=False)
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    folder = paths.hisops_home() / "baselines" / "desired"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / f"{digest}.json"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.chmod(tmp, 0o600)
        tmp.replace(path)
    return path
