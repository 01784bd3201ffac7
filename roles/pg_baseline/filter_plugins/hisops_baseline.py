"""Filters that turn pg_baseline's probes into decisions (what to set, whether to restart).

Kept in Python rather than Jinja: the rules about values waiting for a restart are the part of
the role that is easiest to get wrong, and here they read as code.
"""

from __future__ import annotations

import re
from typing import Any

from ansible.errors import AnsibleFilterError

# what PostgreSQL writes into pg_file_settings.error for a restart-only value still waiting
WAITING_FOR_RESTART = "setting could not be applied"
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


def _text(value: Any) -> str:
    """A setting's value as PostgreSQL spells it (YAML may hand over a bool or a number)."""
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def _same_text(a: str, b: str) -> bool:
    """Equal as written, ignoring the blanks ALTER SYSTEM puts after a list's commas."""
    def norm(v: str) -> str:
        return re.sub(r"\s*,\s*", ",", v.strip())
    return norm(a) == norm(b)


def _rows(rows: Any) -> list[dict[str, Any]]:
    # postgresql_query returns {} rather than [] when a query has no rows
    return list(rows) if isinstance(rows, list) else []


def _pin_statement(name: str, value: str) -> tuple[str, list[str]]:
    """ALTER SYSTEM SET with the values as bind arguments, lists split as the module splits."""
    if "," in value and not name.endswith(("_command", "_prefix")):
        elements = [e.strip() for e in value.split(",")]
    else:
        elements = [value]
    return f"ALTER SYSTEM SET {name} = " + ", ".join(["%s"] * len(elements)), elements


def settings_plan(desired: list[dict[str, Any]], rows: Any) -> list[dict[str, Any]]:
    """One entry per desired setting: its canonical name, value, context and the action to take.

    ``rows`` come from the settings probe (vars/main.yml): per setting its pg_settings context
    and the last value the configuration files hold for it, with pg_file_settings.applied.

    Actions:
      ``set``   hand it to postgresql_alter_system (it compares with the running value);
      ``pin``   a restart-only setting for which the files already hold ANOTHER value waiting for
                a restart: ALTER SYSTEM SET the desired one, whatever the running value is
                (the module would see the running value is right and leave the waiting one);
      ``none``  a restart-only setting the files already hold (waiting for a restart or not):
                running it again would report a change on every run.
    """
    by_key = {str(r["key"]): r for r in _rows(rows)}
    plan = []
    for item in desired:
        name = str(item["name"])
        value = _text(item["value"])
        row = by_key.get(name.lower())
        if row is None:
            raise AnsibleFilterError(f"pg_baseline: PostgreSQL has no setting named {name!r}")
        canonical = str(row["name"])
        if not _NAME_RE.match(canonical):
            raise AnsibleFilterError(f"pg_baseline: unexpected setting name {canonical!r}")
        restart_only = row["context"] == "postmaster"
        in_files = row.get("file_setting")
        written = in_files is not None and _same_text(str(in_files), value)
        if restart_only and written:
            action = "none"
        elif restart_only and in_files is not None and row.get("file_applied") is False:
            action = "pin"
        else:
            action = "set"
        sql, args = _pin_statement(canonical, value)
        plan.append({"name": canonical, "value": value, "context": row["context"],
                     "action": action, "pin_sql": sql, "pin_args": args})
    return plan


def restart_state(plan: list[dict[str, Any]], waiting_rows: Any,
                  set_results: list[dict[str, Any]], check_mode: bool = False) -> dict[str, Any]:
    """Which of the desired settings wait for a restart, which other ones do, what is broken.

    ``waiting_rows``: pg_file_settings entries (the last one per name) that are not applied,
    read after the settings were written. In check mode nothing was written: the settings the
    modules would change (and the pins) count as waiting too.
    """
    desired = {p["name"].lower() for p in plan}
    waiting: set[str] = set()
    other: set[str] = set()
    broken: list[str] = []
    for row in _rows(waiting_rows):
        key = str(row["key"])
        error = row.get("error")
        if error == WAITING_FOR_RESTART:
            (waiting if key in desired else other).add(key)
        elif error:
            broken.append(f"{row.get('sourcefile')}:{row.get('sourceline')}: {key}: {error}")
    if check_mode:
        restart_only = {p["name"].lower() for p in plan if p["context"] == "postmaster"}
        for result in set_results or []:
            item = result.get("item") or {}
            name = str(item.get("name", "")).lower()
            if result.get("changed") and name in restart_only:
                waiting.add(name)
        waiting.update(p["name"].lower() for p in plan if p["action"] == "pin")
    return {"waiting": sorted(waiting), "other": sorted(other), "broken": broken}


def sshd_not_effective(wanted: list[dict[str, Any]], sshd_t_output: str) -> list[str]:
    """Keys of ``wanted`` whose value ``sshd -T`` does not report (an earlier line or an
    sshd_config.d file wins: sshd keeps the first value it reads)."""
    effective: dict[str, list[str]] = {}
    for line in str(sshd_t_output or "").splitlines():
        key, _, value = line.strip().partition(" ")
        effective.setdefault(key.lower(), []).append(" ".join(value.split()).lower())
    aliases = {"prohibit-password": "without-password"}
    out = []
    for item in wanted:
        key = str(item["key"])
        value = " ".join(_text(item["value"]).split()).lower()
        values = effective.get(key.lower(), [])
        if value not in values and aliases.get(value) not in values:
            running = ", ".join(values) or "nothing"
            out.append(f"{key} {_text(item['value'])} (sshd runs with {running})")
    return out


def hba_text(rule: dict[str, Any]) -> str:
    """``absent host all all 0.0.0.0/0 trust``: a pg_hba rule as the evidence names it."""
    parts = [rule.get("state") or "present", rule["contype"], rule["databases"], rule["users"]]
    if rule["contype"] != "local":
        parts += [rule.get("address") or "", rule.get("netmask") or ""]
    parts += [rule["method"], rule.get("options") or ""]
    return " ".join(str(p) for p in parts if str(p))


_LABELS = {
    "setting": lambda i: str(i["name"]),
    "hba": hba_text,
    "role": lambda i: str(i["name"]),
    "extension": lambda i: f"{i['name']} in {i['db']}",
    "sysctl": lambda i: str(i["name"]),
    "limit": lambda i: f"{i['domain']} {i['limit_type']} {i['limit_item']}",
    "sshd": lambda i: str(i["key"]),
    "line": lambda i: f"{i['path']}: {i.get('line') or i.get('regexp')}",
}


def changed_items(registered: Any, kind: str) -> list[str]:
    """``KIND WHAT`` for each item of a registered loop result that changed (none if skipped)."""
    results = registered.get("results", []) if isinstance(registered, dict) else []
    label = _LABELS[kind]
    return [f"{kind} {label(r['item'])}" for r in results
            if isinstance(r, dict) and r.get("changed") and "item" in r]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "hisops_baseline_settings_plan": settings_plan,
            "hisops_baseline_restart_state": restart_state,
            "hisops_baseline_sshd_not_effective": sshd_not_effective,
            "hisops_baseline_hba_text": hba_text,
            "hisops_baseline_changed": changed_items,
        }
