"""Where hisops finds its runbooks, playbooks, roles and its own state."""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def project_root() -> Path:
    """The checkout holding runbooks/, playbooks/ and roles/ (HISOPS_PROJECT overrides)."""
    override = os.environ.get("HISOPS_PROJECT")
    if override:
        return Path(override).resolve()
    candidate = _PACKAGE_DIR.parent.parent  # pylib/hisops -> project root
    if (candidate / "runbooks").is_dir():
        return candidate
    return Path.cwd()


def hisops_home() -> Path:
    """Per-user state: default journal, run artifacts, lab files."""
    return Path(os.environ.get("HISOPS_HOME") or Path.home() / ".hisops")


def runbooks_dir() -> Path:
    return project_root() / "runbooks"


def playbooks_dir() -> Path:
    return project_root() / "playbooks"


def roles_dirs() -> list[Path]:
    return [project_root() / "roles"]


def runs_dir() -> Path:
    return hisops_home() / "runs"


def default_inventory() -> Path:
    """HISOPS_INVENTORY, else the lab inventory that ``hisops lab up`` writes."""
    override = os.environ.get("HISOPS_INVENTORY")
    if override:
        return Path(override)
    return project_root() / "inventories" / "lab" / "hosts.yml"
