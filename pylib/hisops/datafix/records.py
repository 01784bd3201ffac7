"""What a database records of the corrections made to it (``hisops.datafix_runs``)."""

from __future__ import annotations

from typing import Any

from hisops.datafix.common import has_table
from hisops.envs import dbconn
from hisops.inventory import Inventory


def read_records(inventory: Inventory, host: str, database: str) -> list[dict[str, Any]]:
    """Every correction and undo recorded on HOST's DATABASE, oldest first (none when the
    database was never corrected by hisops)."""
    with dbconn.connect(inventory, host, dbname=database, secrets={}) as conn:
        conn.execute("SET TRANSACTION READ ONLY")
        if not has_table(conn, "hisops.datafix_runs"):
            return []
        rows = conn.execute(
            "SELECT run_id, step, kind, undo_of, undone_by, summary->'found', "
            "committed_by, committed_at FROM hisops.datafix_runs "
            "ORDER BY committed_at, run_id, step").fetchall()
    return [{"run_id": r[0], "step": r[1], "kind": r[2], "undo_of": r[3], "undone_by": r[4],
             "found": r[5], "committed_by": r[6], "committed_at": r[7].isoformat()}
            for r in rows]
