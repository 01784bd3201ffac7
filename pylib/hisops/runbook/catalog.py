"""The shipped runbooks, and validation of every runbook and inventory in the project."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from hisops import paths
from hisops.errors import InputError
from hisops.inventory import Inventory
from hisops.runbook.loader import load_runbook


def runbook_files() -> list[Path]:
    folder = paths.runbooks_dir()
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in (".yml", ".yaml") and p.is_file())


def inventory_sources() -> list[Path]:
    """Each folder under inventories/ is one inventory; loose YAML files are one each."""
    folder = paths.project_root() / "inventories"
    if not folder.is_dir():
        return []
    found: list[Path] = []
    for entry in sorted(folder.iterdir()):
        inventory_dir = entry.is_dir() and any(
            p.suffix in (".yml", ".yaml", ".ini") or p.name == "hosts" for p in entry.iterdir())
        inventory_file = entry.is_file() and entry.suffix in (".yml", ".yaml")
        if inventory_dir or inventory_file:
            found.append(entry)
    return found


def catalog() -> list[dict[str, Any]]:
    entries = []
    for path in runbook_files():
        try:
            rb = load_runbook(path).runbook
            entries.append({"name": rb.name, "summary": rb.summary, "path": str(path),
                            "steps": len(rb.steps), "valid": True})
        except InputError:
            entries.append({"name": path.stem, "summary": "", "path": str(path), "steps": 0,
                            "valid": False})
    return entries


def _check(kind: str, path: Path, load: Callable[[Path], object]) -> dict[str, Any]:
    try:
        load(path)
    except InputError as exc:
        return {"kind": kind, "path": str(path), "ok": False, "error": exc.one_line()}
    return {"kind": kind, "path": str(path), "ok": True, "error": None}


def validate_all(files: list[Path], inventories: list[Path]) -> list[dict[str, Any]]:
    """Every given runbook (default: the shipped ones), baseline (a file in a ``baselines``
    folder; default: the shipped ones) and inventory (default: all under inventories/), each
    checked fully; one result per file."""
    from hisops.baselines.loader import available, load_baseline
    from hisops.inspection.rules import default_rules_path, load_rules

    given = [f for f in files if f.suffix in (".yml", ".yaml")]
    baselines = [f for f in given if f.resolve().parent.name == "baselines"]
    runbooks = [f for f in given if f not in baselines] if files else runbook_files()
    if not files:
        baselines = available()
    sources = inventories or ([] if files else inventory_sources())
    rules = [] if files else [default_rules_path()]
    return ([_check("runbook", path, load_runbook) for path in runbooks]
            + [_check("baseline", path, load_baseline) for path in baselines]
            + [_check("rules", path, load_rules) for path in rules]
            + [_check("inventory", path, Inventory) for path in sources])
