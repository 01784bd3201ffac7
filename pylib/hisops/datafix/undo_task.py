"""The ``datafix_undo`` task's spec (its code is in :mod:`hisops.datafix.task`)."""

from hisops.datafix.task import UNDO_SPEC as SPEC

__all__ = ["SPEC"]
