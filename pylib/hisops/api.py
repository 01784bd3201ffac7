"""The library entry points: plan or run a runbook from Python, as the CLI does."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hisops.journal import Journal, open_journal
from hisops.runbook.engine import Engine, RunOutcome
from hisops.runbook.planner import Plan
from hisops.runbook.reporter import Reporter
from hisops.runbook.session import prepare


def plan_runbook(runbook: str | Path, inventory: str | Path, *,
                 params: Mapping[str, Any] | None = None, limit: str | None = None) -> Plan:
    """Resolve a runbook (name or path) against an inventory; raises InputError on bad input."""
    return prepare(runbook, inventory, limit=limit, given=params).plan


def run_runbook(runbook: str | Path, inventory: str | Path, *,
                params: Mapping[str, Any] | None = None, limit: str | None = None,
                check: bool = False, journal: Journal | str | None = None,
                operator: str | None = None, reporter: Reporter | None = None,
                vault_file: Path | None = None,
                waivers: Mapping[str, str] | None = None) -> RunOutcome:
    """Plan and run a runbook, journaled. Secrets come from HISOPS_SECRET_<NAME> or the vault.

    Returns the outcome (``outcome.exit_status`` is what the CLI would exit with); raises a
    HisopsError subclass when the run is refused before it starts (bad input, lock busy,
    guard failed). ``waivers`` maps a guard's waiver name to the journaled reason it is
    waived for, as ``hisops run --waive NAME --reason TEXT`` does.
    """
    prepared = prepare(runbook, inventory, limit=limit, given=params, vault_file=vault_file)
    owned = not isinstance(journal, Journal)
    store = open_journal(journal if isinstance(journal, str) else None) if owned else journal
    assert isinstance(store, Journal)  # noqa: S101 - narrowed for the type checker
    try:
        engine = Engine(store, reporter=reporter, operator=operator)
        return engine.start(prepared.plan, prepared.inventory, prepared.secrets, check=check,
                            waivers=waivers)
    finally:
        if owned:
            store.close()
