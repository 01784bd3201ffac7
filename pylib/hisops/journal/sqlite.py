"""SQLite backend: the default, embedded journal in one file.

WAL lets readers run beside the single writer; ``BEGIN IMMEDIATE`` takes the write lock
up front so two processes never read the same chain head and both append after it.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from hisops.errors import JournalError
from hisops.journal.base import Journal, Mode, Tx

log = logging.getLogger(__name__)

BUSY_TIMEOUT_S = 30.0


class _SqliteTx:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self._conn.execute(sql, tuple(params)).fetchall()]


class SqliteJournal(Journal):
    """Journal in a local SQLite file (keep it on a local disk: WAL needs shared memory)."""

    bigint_type: ClassVar[str] = "INTEGER"
    has_schema_sql: ClassVar[str] = (
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'journal_meta'"
    )
    driver_errors: ClassVar[tuple[type[Exception], ...]] = (sqlite3.Error,)

    def __init__(self, path: Path) -> None:
        super().__init__(f"sqlite://{path}")  # path is absolute: sqlite:///abs/path
        self.path = path
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, sqlite3 adds nothing.
            self._conn = sqlite3.connect(
                str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise self._error("cannot open", exc) from exc
        try:
            self._conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            self._enable_wal()
            self._conn.execute("PRAGMA synchronous = FULL")  # a journaled step must survive
            self._ensure_schema()
        except (sqlite3.Error, JournalError) as exc:
            self._conn.close()
            if isinstance(exc, JournalError):
                raise
            raise self._error("cannot open", exc) from exc
        log.debug("journal %s opened", self.location)

    def _enable_wal(self) -> None:
        """Switch to WAL, waiting out other processes doing the same on a new file.

        Changing the journal mode does not always go through the busy handler, so two
        processes opening a fresh journal at once would otherwise see "database is locked".
        """
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            try:
                self._conn.execute("PRAGMA journal_mode = WAL")
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
            else:
                return

    def _begin(self, mode: Mode) -> Tx:
        self._conn.execute("BEGIN" if mode == "read" else "BEGIN IMMEDIATE")
        return _SqliteTx(self._conn)

    def _commit(self) -> None:
        self._conn.execute("COMMIT")

    def _rollback(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    def _close(self) -> None:
        self._conn.close()
