"""The pipeline every command shares: find, load and validate a runbook, load the inventory,
resolve parameters, build the plan. Any bad input stops here, before anything executes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hisops.inventory import Inventory
from hisops.journal.state import RunState
from hisops.runbook.loader import LoadedRunbook, find_runbook, load_runbook
from hisops.runbook.params import SecretPrompt, resolve_parameters
from hisops.runbook.planner import Plan, build_plan
from hisops.secrets import SecretStore


@dataclass(frozen=True)
class Prepared:
    loaded: LoadedRunbook
    inventory: Inventory
    plan: Plan
    secrets: SecretStore


def prepare(runbook: str | Path, inventory: str | Path, *, limit: str | None = None,
            given: Mapping[str, Any] | None = None, vault_file: Path | None = None,
            prompt: SecretPrompt | None = None) -> Prepared:
    loaded = load_runbook(find_runbook(str(runbook)))
    inv = Inventory(inventory)
    params, secrets = resolve_parameters(
        loaded.runbook.parameters, {k: str(v) for k, v in (given or {}).items()},
        inventory=inv, runbook_file=str(loaded.path), vault_file=vault_file, prompt=prompt)
    plan = build_plan(loaded, inv, params=params, secrets=secrets, limit=limit)
    return Prepared(loaded=loaded, inventory=inv, plan=plan, secrets=secrets)


def prepare_resume(state: RunState, *, vault_file: Path | None = None,
                   prompt: SecretPrompt | None = None) -> Prepared:
    """Rebuild the plan of a journaled run from what the journal recorded (secrets again from
    their sources: they were never recorded)."""
    given = {k: v for k, v in state.params.items() if v is not None}
    return prepare(state.runbook_path, state.inventory, limit=state.limit, given=given,
                   vault_file=vault_file, prompt=prompt)
