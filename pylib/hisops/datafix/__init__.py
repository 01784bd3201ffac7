"""Audited data corrections ("datafixes"): a runbook's ``sql`` step finds the rows a fix may
change, bounds their number, keeps their before-images, runs the fix and its checks in one
transaction, and can be undone exactly (``hisops datafix undo RUN_ID``). docs/datafix.md.

Imports nothing: ``hisops show`` asks :func:`journaled_corrections` of every run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

TASK = "datafix"  # the task a sql step is planned as


def journaled_corrections(plan: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The data-correction steps of a journaled plan (``RunState.plan``)."""
    return [step for step in plan.get("steps", [])
            if (step.get("action") or {}).get("task") == TASK]
