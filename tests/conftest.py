"""Shared test set-up. Unit tests touch no network and no host: see tests/unit/conftest.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"

pytest_plugins = ["tests.fixtures.pg", "tests.fixtures.sshd", "tests.fixtures.lab"]


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own HISOPS_HOME (journal, run artifacts) and no stray secrets."""
    home = tmp_path / "hisops-home"
    home.mkdir()
    monkeypatch.setenv("HISOPS_HOME", str(home))
    monkeypatch.setenv("HISOPS_PROJECT", str(ROOT))
    for name in list(os.environ):
        if name.startswith(("HISOPS_SECRET_", "HISOPS_FAILPOINTS", "HISOPS_JOURNAL",
                            "HISOPS_OPERATOR")):
            monkeypatch.delenv(name)
    return home
