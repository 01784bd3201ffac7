"""Masking of patient data in a test copy, set-based inside PostgreSQL (issue 8).

``load_policy(path)`` reads a policy (YAML), ``plan(policy, conn)`` checks it against the live
schema and shows the SQL, ``mask(conn, policy, key)`` runs it in one transaction and returns a
JSON-able :class:`MaskReport`. Pure-Python references of every method are in
:mod:`hisops.masking.reference`.
"""

from __future__ import annotations

from hisops.masking.engine import (
    MaskingFailed,
    MaskingKeyError,
    MaskReport,
    TableReport,
    mask,
    working_key,
)
from hisops.masking.planner import MaskPlan, TablePlan, plan
from hisops.masking.policy import Policy, PolicyError, load_policy, policy_from_dict

__all__ = ["MaskPlan", "MaskReport", "MaskingFailed", "MaskingKeyError", "Policy",
           "PolicyError", "TablePlan", "TableReport", "load_policy", "mask", "plan",
           "policy_from_dict", "working_key"]
