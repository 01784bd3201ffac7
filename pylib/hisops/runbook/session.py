"""The pipeline every command shares: find, load and validate a runbook, load the inventory,
resolve parameters, build the plan. Any bad input stops here, before anything executes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from hisops.inventory import Inventory
from hisops.journal.state import RunState
from hisops.runbook.loader import LoadedRunbook, find_runbook, load_runbook
from hisops.runbook.params import SecretPrompt, resolve_parameters
from hisops.runbook.planner import Plan, RowCounts, build_plan
from hisops.secrets import SecretStore


@dataclass(frozen=True)
class Prepared:
    loaded: LoadedRunbook
    inventory: Inventory
    plan: Plan
    secrets: SecretStore


def prepare(runbook: str | Path, inventory: str | Path, *, limit: str | None = None,
            given: Mapping[str, Any] | None = None, vault_file: Path | None = None,
            prompt: SecretPrompt | None = None,
            row_counts: RowCounts | Literal["count"] | None = None) -> Prepared:
    """``row_counts``: the rows each data correction's find entries match, which the plan
    (and its hash) carries: "count" counts them now (a new run, a plan), a mapping gives the
    ones a journaled run saw (a resume keeps what was approved), None leaves them out."""
    loaded = load_runbook(find_runbook(str(runbook)))
    inv = Inventory(inventory)
    params, secrets = resolve_parameters(
        loaded.runbook.parameters, {k: str(v) for k, v in (given or {}).items()},
        inventory=inv, runbook_file=str(loaded.path), vault_file=vault_file, prompt=prompt)
    plan = build_plan(loaded, inv, params=params, secrets=secrets, limit=limit)
    if row_counts is not None and any(s.kind == "sql" for s in plan.steps):
        if row_counts == "count":
            from hisops.datafix.preview import preview
            from hisops.datafix.preview import row_counts as counted

            row_counts = counted(preview(plan, inv, secrets, rehearse=False))
        plan = build_plan(loaded, inv, params=params, secrets=secrets, limit=limit,
                          row_counts=row_counts)
    return Prepared(loaded=loaded, inventory=inv, plan=plan, secrets=secrets)


def prepare_resume(state: RunState, *, vault_file: Path | None = None,
                   prompt: SecretPrompt | None = None) -> Prepared:
    """Rebuild the plan of a journaled run from what the journal recorded (secrets again from
    their sources: they were never recorded)."""
    from hisops.datafix.preview import journaled_row_counts

    given = {k: v for k, v in state.params.items() if v is not None}
    return prepare(state.runbook_path, state.inventory, limit=state.limit, given=given,
                   vault_file=vault_file, prompt=prompt,
                   row_counts=journaled_row_counts(state.plan))
