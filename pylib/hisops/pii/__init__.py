"""Personal data in HIS databases: find it (the scan) and prove it is gone (the guard).

Both work inside PostgreSQL and bring back only names of columns and counts, never a value.
"""

from __future__ import annotations

from hisops.pii.guard import (
    ColumnRef,
    GuardColumn,
    GuardError,
    GuardReport,
    Snapshot,
    check_originals,
    discard,
    snapshot_from_source,
    snapshot_originals,
)
from hisops.pii.names import Kind, match_column_name
from hisops.pii.render import render_table
from hisops.pii.scan import Evidence, Finding, ScanError, ScanReport, scan, scan_database

__all__ = [
    "ColumnRef", "Evidence", "Finding", "GuardColumn", "GuardError", "GuardReport", "Kind",
    "ScanError", "ScanReport", "Snapshot", "check_originals", "discard", "match_column_name",
    "render_table", "scan", "scan_database", "snapshot_from_source", "snapshot_originals",
]
