"""hisops: tested, idempotent, journaled runbooks for hospital database operations.

The names a library user needs are importable from here; they load on first use so that the
command line does not pay for what it does not call.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

_EXPORTS = {
    "plan_runbook": "hisops.api",
    "run_runbook": "hisops.api",
    "load_runbook": "hisops.runbook.loader",
    "RunOutcome": "hisops.runbook.engine",
    "Plan": "hisops.runbook.planner",
    "open_journal": "hisops.journal",
    "ExitStatus": "hisops.errors",
    "HisopsError": "hisops.errors",
    "InputError": "hisops.errors",
    "RunbookError": "hisops.errors",
    "InventoryError": "hisops.errors",
    "ParameterError": "hisops.errors",
    "LockBusy": "hisops.errors",
    "PreconditionFailed": "hisops.errors",
    "ApprovalRequired": "hisops.errors",
    "ResumeRefused": "hisops.errors",
    "StepFailed": "hisops.errors",
    "VerificationFailed": "hisops.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hisops' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
