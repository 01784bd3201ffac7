"""Keyed hashes computed inside PostgreSQL, with a key that never appears in SQL text.

HMAC-SHA256 built from the server's own ``sha256()`` (PostgreSQL 11+, no pgcrypto needed):
``H((K ^ opad) || H((K ^ ipad) || m))``. Python derives the two padded keys and sends them with
``COPY ... FROM STDIN`` into a TEMP table: COPY data is never written to the server log, unlike
a statement's text or its bound parameters (``log_statement = all``,
``log_min_duration_statement``). Queries read the pads from that table by joining it.

The hash is cut to 64 bits and stored as ``bigint``, which makes joins cheap. A cut hash can
only err one way: two different values colliding looks like a leaked value (a false failure),
never like a masked one. With N originals and M values checked the expected number of false
matches is about N*M / 2**64: for ten million of each, 5e-6.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import psycopg
from psycopg import sql

from hisops.errors import InputError

KEY_TABLE = "hisops_pii_key"
MIN_KEY_BYTES = 16
_BLOCK = 64  # SHA-256 block size in bytes
_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def key_bytes(key: bytes | str) -> bytes:
    """The key as bytes, refused when too short to resist guessing."""
    raw = key.encode() if isinstance(key, str) else bytes(key)
    if len(raw) < MIN_KEY_BYTES:
        raise InputError(f"the guard key must be at least {MIN_KEY_BYTES} bytes")
    return raw


def _pads(key: bytes) -> tuple[bytes, bytes]:
    if len(key) > _BLOCK:  # as RFC 2104: long keys are hashed first
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def normalize(value: str) -> str:
    """How a value is compared: outer spaces dropped, ASCII letters upper-cased (x == X in an
    ID number, e-mail case ignored). The SQL side does the same with ``COLLATE "C"``, which
    leaves non-ASCII letters alone on every server, whatever its locale."""
    return value.strip(" ").translate(_ASCII_UPPER)


def keyed_hash(key: bytes | str, value: str) -> int:
    """The Python twin of :func:`hash_sql`: a signed 64-bit HMAC-SHA256 prefix."""
    digest = hmac.new(key_bytes(key), normalize(value).encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def install_key(conn: psycopg.Connection[Any], key: bytes | str, token: str) -> None:
    """Put the padded key into a TEMP table of CONN's session (replacing an earlier one)."""
    ipad, opad = _pads(key_bytes(key))
    with conn.cursor() as cur:
        cur.execute(sql.SQL("DROP TABLE IF EXISTS pg_temp.{}").format(sql.Identifier(KEY_TABLE)))
        cur.execute(sql.SQL("CREATE TEMP TABLE {} (token text NOT NULL, ipad bytea NOT NULL,"
                            " opad bytea NOT NULL)").format(sql.Identifier(KEY_TABLE)))
        copy_sql = sql.SQL("COPY pg_temp.{} (token, ipad, opad) FROM STDIN (FORMAT binary)")
        with cur.copy(copy_sql.format(sql.Identifier(KEY_TABLE))) as copy:
            copy.set_types(["text", "bytea", "bytea"])
            copy.write_row((token, ipad, opad))


def drop_key(conn: psycopg.Connection[Any]) -> None:
    conn.execute(sql.SQL("DROP TABLE IF EXISTS pg_temp.{}").format(sql.Identifier(KEY_TABLE)))


def key_join() -> sql.Composable:
    """The FROM item that makes the pads visible as ``k.ipad`` and ``k.opad``."""
    return sql.SQL("pg_temp.{} AS k").format(sql.Identifier(KEY_TABLE))


def hash_sql(value: sql.Composable) -> sql.Composable:
    """SQL for the keyed hash of VALUE (any type, compared as its text form)."""
    text = sql.SQL("convert_to(upper(btrim(({})::text) COLLATE \"C\"), 'UTF8')").format(value)
    digest = sql.SQL("sha256(k.opad || sha256(k.ipad || {}))").format(text)
    return sql.SQL("('x' || encode(substr({}, 1, 8), 'hex'))::bit(64)::bigint").format(digest)
