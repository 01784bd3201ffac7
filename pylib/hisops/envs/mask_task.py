"""``mask_database``: mask a freshly restored copy and prove no original value is left.

One transaction on the target, so that nobody ever sees a half-masked database that looks
finished:

1. the originals of every identifying column the policy names (names, ID numbers, phones,
   addresses, dates) are hashed under a random one-off key into TEMP tables of this session
   (the values never leave the database; the key never leaves this process);
2. the policy masks every table with set-based SQL under the run's secret masking key
   (:mod:`hisops.masking`), a savepoint inside this transaction;
3. the guard counts masked values whose keyed hash is an original (:mod:`hisops.pii.guard`):
   a value left unmasked, or copied into another column, fails the step and rolls the whole
   transaction back (the step's rollback then removes the copy from the host);
4. a row in ``hisops.masking_runs`` records the run, the policy's digest and the key's
   fingerprint (never the key), then the transaction commits.

A step re-run after an interruption finds its run's row and does nothing: masking twice would
pseudonymise the pseudonyms.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import psycopg

from hisops import paths
from hisops.envs import dbconn
from hisops.errors import VerificationFailed
from hisops.executors.results import HostOutcome, HostStatus
from hisops.tasks import BadArgument, HostDone, TaskContext, TaskResult, TaskSpec, per_host

EVIDENCE_TYPE = "masking"
# Methods whose values identify a patient: no patient may keep their own value afterwards.
# The guard judges them per row: masked values are drawn from realistic spaces (names, valid
# ID numbers, mobile numbers, dates), so at a hospital's scale some masked value WILL equal
# another patient's real one by chance (about 20 ID numbers per million patients with the
# birth date kept); that links nothing to that patient, whereas a row keeping its own value
# is the leak the guard exists to catch.
GUARDED = frozenset({"name_zh", "id_number_cn", "phone_cn", "address_zh", "date_shift"})
ROW_ONLY = GUARDED
MARKER_SQL = """
CREATE SCHEMA IF NOT EXISTS hisops;
CREATE TABLE IF NOT EXISTS hisops.masking_runs (
    run_id text PRIMARY KEY, policy text NOT NULL, policy_digest text NOT NULL,
    key_id text NOT NULL, rows bigint NOT NULL, guard_columns integer NOT NULL,
    masked_at timestamptz NOT NULL DEFAULT now())"""


class GuardFailed(VerificationFailed):
    """Original values are still present after masking."""


def _policy_path(value: Any) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise BadArgument("policy", f"a masking policy file, not {value!r}")
    path = Path(value)
    return path if path.is_absolute() else paths.project_root() / path


def validate(args: Mapping[str, Any]) -> None:
    from hisops.masking.policy import load_policy

    load_policy(_policy_path(args.get("policy")))  # a bad policy is exit 2 at plan time


def mask_database(ctx: TaskContext) -> TaskResult:
    from hisops.masking.policy import load_policy

    policy = load_policy(_policy_path(ctx.args.get("policy")))
    key = ctx.secret("masking_key")
    dbname = str(ctx.args.get("database", "his"))

    def one(host: str) -> HostOutcome | HostDone:
        with dbconn.connect(ctx.inventory, host, dbname=dbname,
                            secrets=ctx.secrets.values) as conn:
            if ctx.check_mode:
                return _preview(conn, policy, host)
            done = _already_done(conn, ctx.run_id)
            if done is not None:
                return HostOutcome(host=host, status=HostStatus.SKIPPED,
                                   detail=f"already masked by this run ({done} rows)")
            evidence = _mask_and_prove(ctx, conn, policy, key, host)
        return HostDone(f"masked {evidence['rows']} rows in {evidence['seconds']:.1f} s; no "
                        f"original value left in {evidence['guard']['column_count']} columns",
                        evidence)

    return per_host(ctx, EVIDENCE_TYPE, one)


def _preview(conn: psycopg.Connection[Any], policy: Any, host: str) -> HostOutcome:
    from hisops.masking.planner import plan

    the_plan = plan(policy, conn)
    rows = sum(t.rows for t in the_plan.tables)
    conn.rollback()
    return HostOutcome(host=host, status=HostStatus.SKIPPED,
                       detail=f"check mode: would mask {len(the_plan.tables)} tables "
                              f"(~{rows} rows)")


def _already_done(conn: psycopg.Connection[Any], run_id: str) -> int | None:
    with conn.transaction():
        exists = conn.execute("SELECT to_regclass('hisops.masking_runs')").fetchone()
        if not exists or exists[0] is None:
            return None
        row = conn.execute("SELECT rows FROM hisops.masking_runs WHERE run_id = %s",
                           (run_id,)).fetchone()
    return int(row[0]) if row else None


def guarded_columns(policy: Any) -> tuple[list[Any], list[Any]]:
    """(columns whose originals must be gone, those judged per row) of POLICY."""
    from hisops.pii.guard import ColumnRef

    refs, row_only = [], []
    for table in policy.tables:
        for column, method in table.columns.items():
            if method.method in GUARDED:
                ref = ColumnRef(table.schema_name, table.table_name, column)
                refs.append(ref)
                if method.method in ROW_ONLY:
                    row_only.append(ref)
    return refs, row_only


def _mask_and_prove(ctx: TaskContext, conn: psycopg.Connection[Any], policy: Any, key: str,
                    host: str) -> dict[str, Any]:
    from hisops.datafix.postgres import remove_records
    from hisops.masking.engine import mask
    from hisops.pii.guard import check_originals, discard, snapshot_originals

    refs, row_only = guarded_columns(policy)

    def progress(table: Any) -> None:
        ctx.note(host, f"masked {table.table}: {table.rows} rows in {table.seconds:.1f} s")

    with conn.transaction():
        # a one-off key: the hashed originals mean nothing outside this session
        snapshot = snapshot_originals(conn, refs, secrets.token_bytes(32))
        ctx.note(host, f"hashed the originals of {len(refs)} columns")
        report = mask(conn, policy, key, progress=progress)
        guard = check_originals(conn, snapshot, row_only=row_only)
        if not guard.passed:
            raise GuardFailed("original values are still present after masking: "
                              + "; ".join(guard.failures()))
        discard(conn)
        # production's data-correction before-images hold original values outside every
        # masked column: a test copy must not carry them
        corrections = remove_records(conn)
        if corrections:
            ctx.note(host, f"removed {corrections} data-correction before-image(s)")
        for statement in MARKER_SQL.split(";"):
            conn.execute(statement)
        conn.execute("INSERT INTO hisops.masking_runs (run_id, policy, policy_digest, key_id,"
                     " rows, guard_columns) VALUES (%s, %s, %s, %s, %s, %s)",
                     (ctx.run_id, report.policy, report.policy_digest, report.key_id,
                      report.rows, len(refs)))
    return {"host": host, **report.to_dict(), "datafix_images_removed": corrections,
            "guard": {"column_count": len(refs), **guard.to_dict()}}


SPEC = TaskSpec(
    name="mask_database",
    func=mask_database,
    required=frozenset({"policy"}),
    optional=frozenset({"database"}),
    summary="mask the database with a masking policy under the secret masking_key and prove "
            "(keyed hashes, inside the database) that no original value is left",
    validate=validate,
)
