"""The journal's shared logic: appends, reads, locks and verification.

Backends (``sqlite.py``, ``postgres.py``) supply only a connection, a placeholder style
and the statements that serialise writers; every rule lives here, once.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from types import TracebackType
from typing import Any, ClassVar, Literal, Protocol, Self

from hisops.errors import JournalError, LockBusy
from hisops.journal.chain import (
    ChainVerifier,
    StoredRow,
    decode_payload,
    encode_payload,
    record_hash,
    row_to_record,
    utc_now,
)
from hisops.journal.records import (
    GENESIS_HASH,
    LOCK_ACQUIRED,
    LOCK_BROKEN,
    LOCK_RELEASED,
    ChainReport,
    LockHolder,
    LockInfo,
    Record,
)

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
_VERIFY_BATCH = 1000

Mode = Literal["read", "write", "schema"]

# {bigint} is the only type that differs between backends.
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS journal_meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS records (
        seq {bigint} PRIMARY KEY,
        ts TEXT NOT NULL,
        run_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        payload TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS records_run_id ON records (run_id, seq)",
    """CREATE TABLE IF NOT EXISTS chain_head (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq {bigint} NOT NULL,
        hash TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS locks (
        host TEXT PRIMARY KEY,
        run_id TEXT NOT NULL,
        operator TEXT NOT NULL,
        started_at TEXT NOT NULL,
        pid {bigint} NOT NULL,
        machine TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS locks_run_id ON locks (run_id)",
)

_RECORD_COLUMNS = "seq, ts, run_id, kind, payload, prev_hash, hash"


class Tx(Protocol):
    """One open transaction; SQL uses ``?`` placeholders whatever the backend."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...


def _marks(n: int) -> str:
    return ", ".join("?" * n)


def _check_name(what: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise JournalError(f"journal {what} must be a non-empty string, got {value!r}")
    return value


class Journal(ABC):
    """Append-only, hash-chained log of runs, steps, approvals and locks.

    One instance is one connection; a lock makes it safe to share between threads of a
    process, and the backend's write lock serialises writers across processes. Open one
    journal per process: a connection must not be carried across ``fork()``.
    """

    bigint_type: ClassVar[str] = "BIGINT"
    has_schema_sql: ClassVar[str]  # returns one row when journal_meta exists
    driver_errors: ClassVar[tuple[type[Exception], ...]]

    def __init__(self, location: str) -> None:
        self.location = location  # for messages: never holds a password
        self._mutex = threading.RLock()
        self._closed = False

    # --- backend hooks -------------------------------------------------------------------

    @abstractmethod
    def _begin(self, mode: Mode) -> Tx:
        """Start a transaction; "write" and "schema" must hold the cross-process lock."""

    @abstractmethod
    def _commit(self) -> None: ...

    @abstractmethod
    def _rollback(self) -> None: ...

    @abstractmethod
    def _close(self) -> None: ...

    def _scrub(self, text: str) -> str:
        """Remove secrets from driver messages; backends with secrets override."""
        return text

    # --- transactions --------------------------------------------------------------------

    def _error(self, doing: str, exc: BaseException) -> JournalError:
        detail = " ".join(self._scrub(str(exc)).split()) or type(exc).__name__
        return JournalError(f"journal {self.location}: {doing}: {detail}")

    def _safe_rollback(self) -> None:
        try:
            self._rollback()
        except self.driver_errors as exc:  # the connection may be gone already
            log.warning("journal %s: rollback failed: %s", self.location, self._scrub(str(exc)))

    @contextmanager
    def _tx(self, mode: Mode, doing: str) -> Iterator[Tx]:
        with self._mutex:
            if self._closed:
                raise JournalError(f"journal {self.location} is closed")
            try:
                tx = self._begin(mode)
            except self.driver_errors as exc:
                self._safe_rollback()
                raise self._error(doing, exc) from exc
            try:
                yield tx
            except self.driver_errors as exc:
                self._safe_rollback()
                raise self._error(doing, exc) from exc
            except BaseException:
                self._safe_rollback()
                raise
            try:
                self._commit()
            except self.driver_errors as exc:
                self._safe_rollback()
                raise self._error(doing, exc) from exc

    def _ensure_schema(self) -> None:
        """Create the tables once; skip DDL when present so a DML-only role can open it."""
        with self._tx("read", "read schema") as tx:
            present = bool(tx.execute(self.has_schema_sql))
        if not present:
            with self._tx("schema", "create schema") as tx:
                for statement in _SCHEMA:
                    tx.execute(statement.format(bigint=self.bigint_type))
                tx.execute(
                    "INSERT INTO journal_meta (key, value) VALUES ('schema_version', ?) "
                    "ON CONFLICT (key) DO NOTHING",
                    (str(SCHEMA_VERSION),),
                )
                tx.execute(
                    "INSERT INTO chain_head (id, seq, hash) VALUES (1, 0, ?) "
                    "ON CONFLICT (id) DO NOTHING",
                    (GENESIS_HASH,),
                )
            log.info("journal %s: schema created", self.location)
        with self._tx("read", "read schema version") as tx:
            rows = tx.execute("SELECT value FROM journal_meta WHERE key = 'schema_version'")
        version = int(rows[0][0]) if rows and str(rows[0][0]).isdigit() else 0
        if version != SCHEMA_VERSION:
            raise JournalError(
                f"journal {self.location} has schema version {version}; "
                f"this hisops reads version {SCHEMA_VERSION}"
            )

    # --- appends -------------------------------------------------------------------------

    def append(self, run_id: str, kind: str, payload: dict[str, Any]) -> Record:
        """Append one record, chained to the last one, in its own transaction."""
        return self.append_many(run_id, [(kind, payload)])[0]

    def append_many(self, run_id: str, items: list[tuple[str, dict[str, Any]]]) -> list[Record]:
        """Append several records in one transaction: all are written or none."""
        _check_name("run id", run_id)
        entries = [(_check_name("record kind", kind), encode_payload(p)) for kind, p in items]
        if not entries:
            return []
        with self._tx("write", "append") as tx:
            return self._append_in_tx(tx, run_id, entries)

    def append_if_latest(self, kinds: Collection[str], expected_seq: int,
                         items: list[tuple[str, str, dict[str, Any]]]) -> bool:
        """Compare and append: write ITEMS (run_id, kind, payload) in one transaction only if
        the newest record of KINDS is still ``expected_seq`` (0: none). False when another
        writer came first: the caller reads again and decides again. This is how a state
        folded from records (the problem list) is changed without lost updates."""
        wanted = sorted({_check_name("record kind", k) for k in kinds})
        entries = [(_check_name("run id", run_id), _check_name("record kind", kind),
                    encode_payload(p)) for run_id, kind, p in items]
        with self._tx("write", "append if unchanged") as tx:
            rows = tx.execute(
                f"SELECT max(seq) FROM records WHERE kind IN ({_marks(len(wanted))})",  # noqa: S608
                wanted)
            latest = int(rows[0][0]) if rows and rows[0][0] is not None else 0
            if latest != expected_seq:
                return False
            for run_id, kind, text in entries:
                self._append_in_tx(tx, run_id, [(kind, text)])
        return True

    def _append_in_tx(self, tx: Tx, run_id: str, entries: list[tuple[str, str]]) -> list[Record]:
        head = tx.execute("SELECT seq, hash FROM chain_head WHERE id = 1")
        if not head:
            raise JournalError(f"journal {self.location}: chain head is missing (run verify)")
        seq, prev_hash = int(head[0][0]), str(head[0][1])
        out: list[Record] = []
        for kind, payload_text in entries:
            seq += 1
            ts = utc_now()
            payload = decode_payload(seq, payload_text)
            hash_ = record_hash(prev_hash, seq, ts, run_id, kind, payload)
            tx.execute(
                "INSERT INTO records (seq, ts, run_id, kind, payload, prev_hash, hash) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (seq, ts, run_id, kind, payload_text, prev_hash, hash_),
            )
            out.append(
                Record(seq=seq, ts=ts, run_id=run_id, kind=kind, payload=payload,
                       prev_hash=prev_hash, hash=hash_)
            )
            prev_hash = hash_
        tx.execute("UPDATE chain_head SET seq = ?, hash = ? WHERE id = 1", (seq, prev_hash))
        log.debug("journal %s: run %s appended records up to %d", self.location, run_id, seq)
        return out

    # --- reads ---------------------------------------------------------------------------

    def records(
        self, run_id: str | None = None, *, kinds: Collection[str] | None = None
    ) -> list[Record]:
        """Records in seq order, optionally of one run and of some kinds."""
        where: list[str] = []
        params: list[Any] = []
        if run_id is not None:
            where.append("run_id = ?")
            params.append(run_id)
        if kinds is not None:
            wanted = sorted(set(kinds))
            if not wanted:
                return []
            where.append(f"kind IN ({_marks(len(wanted))})")
            params.extend(wanted)
        sql = f"SELECT {_RECORD_COLUMNS} FROM records"  # noqa: S608 - placeholders only
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._tx("read", "read records") as tx:
            rows = tx.execute(sql + " ORDER BY seq", params)
        return [row_to_record(_stored(row)) for row in rows]

    def run_ids(self) -> list[str]:
        """Run ids in order of their first record."""
        with self._tx("read", "read run ids") as tx:
            rows = tx.execute(
                "SELECT run_id FROM records GROUP BY run_id ORDER BY MIN(seq)"
            )
        return [str(row[0]) for row in rows]

    def verify(self) -> ChainReport:
        """Recompute every hash and compare with the chain head, in one snapshot."""
        verifier = ChainVerifier()
        with self._tx("read", "verify") as tx:
            last = 0
            while True:
                rows = tx.execute(
                    f"SELECT {_RECORD_COLUMNS} FROM records "  # noqa: S608
                    "WHERE seq > ? ORDER BY seq LIMIT ?",
                    (last, _VERIFY_BATCH),
                )
                verifier.feed(_stored(row) for row in rows)
                if len(rows) < _VERIFY_BATCH:
                    break
                last = int(rows[-1][0])
            head = tx.execute("SELECT seq, hash FROM chain_head WHERE id = 1")
        return verifier.finish((int(head[0][0]), str(head[0][1])) if head else None)

    # --- locks ---------------------------------------------------------------------------

    def acquire_locks(self, holder: LockHolder, hosts: Iterable[str]) -> None:
        """Lock all hosts for the run or none; the locks and their record commit together.

        Hosts the same run already holds are fine (a resumed run re-acquires them).
        """
        if isinstance(hosts, str):  # would otherwise lock one "host" per character
            raise JournalError(f"hosts must be a list of host names, not the string {hosts!r}")
        wanted = sorted({_check_name("host", host) for host in hosts})
        if not wanted:
            return
        with self._tx("write", "acquire locks") as tx:
            rows = tx.execute(
                "SELECT host, run_id, operator, started_at FROM locks "  # noqa: S608
                f"WHERE host IN ({_marks(len(wanted))}) ORDER BY host",
                wanted,
            )
            for host, run_id, operator, started_at in rows:
                if run_id != holder.run_id:
                    log.info(
                        "journal %s: run %s refused: host %s locked by run %s",
                        self.location, holder.run_id, host, run_id,
                    )
                    raise LockBusy(host, run_id, operator, started_at)
            held = {str(row[0]) for row in rows}
            for host in wanted:
                if host not in held:
                    tx.execute(
                        "INSERT INTO locks (host, run_id, operator, started_at, pid, machine) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        (host, holder.run_id, holder.operator, holder.started_at,
                         holder.pid, holder.machine),
                    )
            self._append_in_tx(
                tx, holder.run_id, [(LOCK_ACQUIRED, encode_payload({"hosts": wanted}))]
            )
        log.info("journal %s: run %s locked %s", self.location, holder.run_id, wanted)

    def release_locks(self, run_id: str) -> list[str]:
        """Release the run's locks; journals LOCK_RELEASED unless it held none."""
        hosts = self._drop_locks(run_id, LOCK_RELEASED, {}, "release locks")
        if hosts:
            log.info("journal %s: run %s released %s", self.location, run_id, hosts)
        return hosts

    def break_locks(self, run_id: str, *, operator: str, reason: str) -> list[str]:
        """Remove another run's locks by hand; who and why are journaled (LOCK_BROKEN)."""
        _check_name("operator", operator)
        _check_name("reason", reason)
        hosts = self._drop_locks(
            run_id, LOCK_BROKEN, {"operator": operator, "reason": reason}, "break locks"
        )
        if hosts:
            log.warning(
                "journal %s: %s broke locks of run %s on %s: %s",
                self.location, operator, run_id, hosts, reason,
            )
        return hosts

    def _drop_locks(
        self, run_id: str, kind: str, extra: dict[str, Any], doing: str
    ) -> list[str]:
        with self._tx("write", doing) as tx:
            rows = tx.execute("SELECT host FROM locks WHERE run_id = ? ORDER BY host", (run_id,))
            hosts = [str(row[0]) for row in rows]
            if hosts:
                tx.execute("DELETE FROM locks WHERE run_id = ?", (run_id,))
                self._append_in_tx(tx, run_id, [(kind, encode_payload({"hosts": hosts, **extra}))])
        return hosts

    def list_locks(self) -> list[LockInfo]:
        with self._tx("read", "list locks") as tx:
            rows = tx.execute(
                "SELECT host, run_id, operator, started_at, pid, machine FROM locks ORDER BY host"
            )
        return [
            LockInfo(
                host=str(host),
                holder=LockHolder(run_id=str(run_id), operator=str(operator),
                                  started_at=str(started_at), pid=int(pid), machine=str(machine)),
            )
            for host, run_id, operator, started_at, pid, machine in rows
        ]

    def update_lock_owner(self, run_id: str, pid: int, machine: str) -> None:
        """A resumed run's new process takes over its locks (so liveness checks see it)."""
        with self._tx("write", "update lock owner") as tx:
            tx.execute(
                "UPDATE locks SET pid = ?, machine = ? WHERE run_id = ?", (pid, machine, run_id)
            )

    # --- lifetime ------------------------------------------------------------------------

    def close(self) -> None:
        with self._mutex:
            if not self._closed:
                self._closed = True
                try:
                    self._close()
                except self.driver_errors as exc:
                    log.warning("journal %s: close failed: %s", self.location, exc)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.location}>"


def _stored(row: tuple[Any, ...]) -> StoredRow:
    seq, ts, run_id, kind, payload, prev_hash, hash_ = row
    return (int(seq), str(ts), str(run_id), str(kind), str(payload), str(prev_hash), str(hash_))
