"""Run history, locks and approvals: an append-only, hash-chained journal.

``open_journal()`` returns a :class:`Journal` backed by SQLite (default, one file) or
PostgreSQL (shared by a team). Both run the same code in ``base.py``.
"""

from __future__ import annotations

from hisops.journal.base import Journal
from hisops.journal.factory import open_journal
from hisops.journal.liveness import is_holder_alive
from hisops.journal.records import (
    GENESIS_HASH,
    ChainReport,
    LockHolder,
    LockInfo,
    Record,
)
from hisops.journal.url import redact_url

__all__ = [
    "GENESIS_HASH",
    "ChainReport",
    "Journal",
    "LockHolder",
    "LockInfo",
    "Record",
    "is_holder_alive",
    "open_journal",
    "redact_url",
]
