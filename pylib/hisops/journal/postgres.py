"""PostgreSQL backend: one journal shared by a team, so history and locks are shared too.

Writers serialise on the single ``chain_head`` row (``SELECT ... FOR UPDATE``); readers
use a REPEATABLE READ snapshot so that ``verify`` sees records and head from one instant.
Payloads are TEXT, not JSONB: JSONB rewrites numbers (1e20 becomes an integer) and key
order, and the hash must be recomputed from exactly what was stored.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, ClassVar

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.pq import TransactionStatus

from hisops.journal.base import Journal, Mode, Tx
from hisops.journal.url import redact_url, scrub, url_secrets

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10
# pg_advisory_xact_lock key for schema creation: arbitrary, fixed, unlikely to collide.
_SCHEMA_LOCK_KEY = 0x6869736F70730001  # "hisops" + 1


class _PgTx:
    def __init__(self, conn: psycopg.Connection[tuple[Any, ...]]) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._conn.cursor() as cur:
            cur.execute(sql.replace("?", "%s"), tuple(params))
            return cur.fetchall() if cur.description is not None else []


class PostgresJournal(Journal):
    """Journal in a PostgreSQL database given by URL."""

    bigint_type: ClassVar[str] = "BIGINT"
    has_schema_sql: ClassVar[str] = "SELECT 1 WHERE to_regclass('journal_meta') IS NOT NULL"
    driver_errors: ClassVar[tuple[type[Exception], ...]] = (psycopg.Error,)

    def __init__(self, url: str) -> None:
        super().__init__(redact_url(url))
        self._url = url
        self._secrets = url_secrets(url)
        self._conn = self._connect()
        try:
            self._ensure_schema()
        except BaseException:
            self._conn.close()
            raise
        log.debug("journal %s opened", self.location)

    def _scrub(self, text: str) -> str:
        return scrub(text, self._secrets)

    def _connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        try:
            given = conninfo_to_dict(self._url)
            extra: dict[str, Any] = {}
            if "connect_timeout" not in given:
                extra["connect_timeout"] = CONNECT_TIMEOUT_S
            if "application_name" not in given:
                extra["application_name"] = "hisops"
            # autocommit: transactions are explicit BEGIN/COMMIT issued by the base class.
            return psycopg.connect(self._url, autocommit=True, **extra)
        except psycopg.Error as exc:
            error = self._error("cannot connect", exc)
            if any(secret in str(exc) for secret in self._secrets):
                raise error from None  # the driver's message would leak the password
            raise error from exc

    def _begin(self, mode: Mode) -> Tx:
        if self._conn.closed or self._conn.broken:
            log.info("journal %s: connection lost, reconnecting", self.location)
            self._conn = self._connect()
        try:
            return self._start(mode)
        except psycopg.OperationalError:
            # The server dropped an idle connection (restart, idle timeout): nothing of this
            # transaction was done yet, so one fresh connection and a retry are safe.
            if not self._conn.broken:
                raise
            log.info("journal %s: connection lost, reconnecting", self.location)
            self._conn = self._connect()
            return self._start(mode)

    def _start(self, mode: Mode) -> Tx:
        if mode == "read":
            self._conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        elif mode == "write":
            self._conn.execute("BEGIN")
            self._conn.execute("SELECT seq FROM chain_head WHERE id = 1 FOR UPDATE")
        else:
            self._conn.execute("BEGIN")
            self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK_KEY,))
        return _PgTx(self._conn)

    def _commit(self) -> None:
        self._conn.execute("COMMIT")

    def _rollback(self) -> None:
        if self._conn.closed or self._conn.broken:
            return  # the server has already rolled back
        if self._conn.info.transaction_status != TransactionStatus.IDLE:
            self._conn.execute("ROLLBACK")

    def _close(self) -> None:
        self._conn.close()
