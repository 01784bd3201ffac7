"""The hash chain: canonical encoding, record hashes and verification.

Pure functions, no database: both backends store exactly the text this module produces,
so a record hashes the same whether it lives in SQLite or PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from hisops.errors import JournalError
from hisops.journal.records import GENESIS_HASH, ChainReport, Record

log = logging.getLogger(__name__)

# (seq, ts, run_id, kind, payload_text, prev_hash, hash) as stored in the records table.
StoredRow = tuple[int, str, str, str, str, str, str]


def canonical_json(value: Any) -> str:
    """The one JSON spelling that is hashed; NaN/Infinity are refused (not portable JSON)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def encode_payload(payload: dict[str, Any]) -> str:
    """Validate a payload and return its canonical text; JournalError if it is not JSON."""
    if not isinstance(payload, dict):
        raise JournalError(f"journal payload must be a dict, not {type(payload).__name__}")
    try:
        text = canonical_json(payload)
        text.encode("utf-8")  # lone surrogates pass json.dumps but cannot be stored or hashed
    except (TypeError, ValueError) as exc:
        raise JournalError(f"journal payload is not JSON-serialisable: {exc}") from exc
    return text


def decode_payload(seq: int, text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise JournalError(f"record {seq}: payload is not valid JSON (run verify)") from exc
    if not isinstance(value, dict):
        raise JournalError(f"record {seq}: payload is not a JSON object (run verify)")
    return value


def record_hash(
    prev_hash: str, seq: int, ts: str, run_id: str, kind: str, payload: dict[str, Any]
) -> str:
    body = canonical_json(
        {"seq": seq, "ts": ts, "run_id": run_id, "kind": kind, "payload": payload}
    )
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def utc_now() -> str:
    """ISO-8601 UTC with microseconds, e.g. 2025-01-31T08:15:02.123456+00:00."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def row_to_record(row: StoredRow) -> Record:
    seq, ts, run_id, kind, payload_text, prev_hash, hash_ = row
    return Record(
        seq=int(seq), ts=ts, run_id=run_id, kind=kind,
        payload=decode_payload(int(seq), payload_text), prev_hash=prev_hash, hash=hash_,
    )


def _span(first: int, last: int) -> str:
    return f"record {first}" if first == last else f"records {first}-{last}"


class ChainVerifier:
    """Recomputes the chain from rows fed in seq order and describes each break in words.

    Rows are streamed so that verifying a journal of years does not load it into memory.
    """

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.count = 0
        self._last_seq = 0
        self._last_hash = GENESIS_HASH

    def feed(self, rows: Iterable[StoredRow]) -> None:
        for row in rows:
            self._check(row)

    def _check(self, row: StoredRow) -> None:
        seq, ts, run_id, kind, payload_text, prev_hash, stored_hash = row
        seq = int(seq)
        self.count += 1
        expected = self._last_seq + 1
        gap = seq > expected
        if gap:
            self.problems.append(f"{_span(expected, seq - 1)} missing (deleted)")
        # A gap already explains a prev_hash that does not match the record before it.
        if prev_hash != self._last_hash and not gap:
            what = "the genesis hash" if seq == 1 else f"the hash of record {self._last_seq}"
            self.problems.append(
                f"record {seq}: prev_hash does not match {what} "
                "(a record before it was edited, replaced or deleted)"
            )
        try:
            payload = decode_payload(seq, payload_text)
        except JournalError:
            self.problems.append(f"record {seq}: payload is not a valid JSON object (edited)")
        else:
            if record_hash(prev_hash, seq, ts, run_id, kind, payload) != stored_hash:
                self.problems.append(f"record {seq}: hash mismatch (edited)")
        self._last_seq = seq
        self._last_hash = stored_hash

    def finish(self, head: tuple[int, str] | None) -> ChainReport:
        """Compare the last record with the chain head, which catches a truncated tail."""
        if head is None:
            self.problems.append("chain head is missing (the chain_head row was deleted)")
        else:
            head_seq, head_hash = int(head[0]), head[1]
            if head_seq > self._last_seq:
                self.problems.append(
                    f"{_span(self._last_seq + 1, head_seq)} missing at the end "
                    f"(truncated: chain head is at record {head_seq}, "
                    f"last record is {self._last_seq})"
                )
            elif head_seq < self._last_seq:
                self.problems.append(
                    f"{_span(head_seq + 1, self._last_seq)} beyond the chain head "
                    f"(head is at record {head_seq}; added outside hisops)"
                )
            elif head_hash != self._last_hash:
                self.problems.append(
                    f"record {self._last_seq}: hash differs from the chain head "
                    "(last record replaced)"
                )
        report = ChainReport(ok=not self.problems, records=self.count, problems=self.problems)
        if not report.ok:
            log.warning("journal chain does not verify: %s", "; ".join(report.problems))
        return report
