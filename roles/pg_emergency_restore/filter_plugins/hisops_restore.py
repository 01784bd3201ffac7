"""Filters that hand the emergency restore's readings to hisops' recovery planning.

Which backup set restores to the target, and with which pgBackRest arguments, is decided in
one place, ``hisops.recovery`` (typed, unit-tested against recorded ``pgbackrest info``
output): the plan shown before the run and the restore itself choose the same way.
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

from hisops.engines.base import Severity, ToolOutput
from hisops.engines.postgres import PostgresEngine
from hisops.errors import HisopsError
from hisops.recovery import parse_target, restore_command, select_backup, stanza_info
from hisops.recovery.pglog import recovery_facts


def restore_selection(info_json: str, stanza: str, target: str) -> dict[str, Any]:
    """{label, args, disk_bytes, problems, caveats, target} for restoring STANZA to TARGET."""
    try:
        wanted = parse_target(str(target))
        selection = select_backup(stanza_info(str(info_json), str(stanza)), wanted)
    except HisopsError as exc:
        raise AnsibleFilterError(f"cannot choose a backup: {exc}") from None
    args = list(restore_command(str(stanza), selection))
    # "pgbackrest" and "restore" are the role's to place; the options in between are the plan's
    return {"label": selection.backup.label, "options": args[1:-1],
            "disk_bytes": selection.disk_bytes, "problems": list(selection.problems),
            "caveats": list(selection.caveats), "target": wanted.describe(),
            "target_kind": wanted.kind}


def integrity(result: dict[str, Any]) -> dict[str, list[str]]:
    """pg_amcheck's result judged as a restore drill judges it (hisops.engines.postgres):
    corruption is an error; an index flag that only needs a REINDEX is a warning."""
    output = ToolOutput(str(result.get("stdout", "")), str(result.get("stderr", "")),
                        int(result.get("rc", 1)))
    findings = PostgresEngine().integrity_findings(output)
    return {"errors": [f.one_line() for f in findings if f.severity is Severity.ERROR],
            "warnings": [f.one_line() for f in findings if f.severity is Severity.WARNING]}


def smoke_short(results: list[dict[str, Any]]) -> list[str]:
    """A finding for each smoke query that returned fewer rows than its min_rows."""
    out = []
    for result in results:
        item = result.get("item") or {}
        wanted = int(item.get("min_rows", 1))
        got = int(str(result.get("stdout", "0")).strip() or 0)
        if got < wanted:
            out.append(f"smoke query {item.get('name', '?')} returned {got} rows, "
                       f"expected at least {wanted}")
    return out


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"hisops_restore_selection": restore_selection,
                "hisops_recovery_facts": recovery_facts,
                "hisops_smoke_short": smoke_short, "hisops_integrity": integrity}
