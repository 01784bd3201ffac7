"""Data corrections: what the datafix transaction costs next to the bare UPDATE it wraps.

On a throwaway PostgreSQL (tests/fixtures/pg.py; or --dsn) a table shaped like his.billing
with --rows rows; for each size (100, 1,000, 10,000 rows changed) and round, alternating
which goes first: the bare statement in a transaction of its own (BEGIN; UPDATE; COMMIT), and
hisops.datafix.postgres.run_fix of the same statement (find and lock, before-images, the
statement, accounting for every row written, after-images, record, commit), then its undo,
then a check that the table's digest is the one before the fix. The fix's time is how long
the rows stay locked (the HIS waits at most that long on them).

    .venv/bin/python benchmarks/bench_datafix.py [--rows 100000] [--rounds 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "pylib"), str(ROOT), str(ROOT / "benchmarks")]

from _ratios import ratio_row  # noqa: E402

from hisops.datafix import postgres as pg  # noqa: E402
from hisops.datafix.spec import parse_spec  # noqa: E402
from hisops.datafix.undo import run_undo  # noqa: E402

SIZES = (100, 1_000, 10_000)
TARGET_10K_S = 5.0  # a 10,000-row correction keeps its rows locked less than this
STATEMENT = "UPDATE bench.billing SET amount = amount + 0.01 WHERE bill_id <= {n}"


@contextlib.contextmanager
def server(dsn: str | None) -> Iterator[str]:
    if dsn:
        yield dsn
        return
    from tests.fixtures.pg import throwaway_postgres

    with throwaway_postgres() as server_:
        yield server_.url()


def setup(conn: psycopg.Connection[Any], rows: int) -> None:
    conn.execute("DROP SCHEMA IF EXISTS bench CASCADE")
    conn.execute("CREATE SCHEMA bench")
    conn.execute("""CREATE TABLE bench.billing (bill_id bigint PRIMARY KEY,
        patient_id bigint NOT NULL, amount numeric(12, 2) NOT NULL, payment text NOT NULL,
        paid boolean NOT NULL, billed_at timestamp NOT NULL)""")
    conn.execute("""INSERT INTO bench.billing SELECT g, g %% 5000, (g %% 997) * 1.5,
        (ARRAY['医保', '自费', '商业保险'])[1 + g %% 3], g %% 7 <> 0,
        timestamp '2024-01-01' + g * interval '1 minute' FROM generate_series(1, %s) g""",
                 (rows,))
    conn.commit()


def digest(conn: psycopg.Connection[Any]) -> str:
    row = conn.execute("SELECT md5(string_agg(t::text, ',' ORDER BY bill_id)) "
                       "FROM bench.billing t").fetchone()
    conn.rollback()
    return str(row[0]) if row else ""


def bare(conn: psycopg.Connection[Any], n: int) -> float:
    started = time.monotonic()
    conn.execute(STATEMENT.format(n=n))  # noqa: S608 - a fixed benchmark statement
    conn.commit()
    return time.monotonic() - started


def datafix(conn: psycopg.Connection[Any], n: int, run_id: str) -> dict[str, Any]:
    spec = parse_spec({"find": [{"table": "bench.billing", "key": ["bill_id"],
                                 "where": "t.bill_id <= :n", "expect_rows": n}],
                       "fix": [STATEMENT.replace("{n}", ":n")], "binds": {"n": n}})
    before = digest(conn)
    started = time.monotonic()
    report = pg.run_fix(conn, spec, host="bench", run_id=run_id, step="fix", commit=True)
    fixed = time.monotonic() - started
    started = time.monotonic()
    run_undo(conn, fix_run=run_id, run_id=f"{run_id}-undo", step="undo", commit=True)
    undone = time.monotonic() - started
    exact = digest(conn) == before
    if report.counts()["updated"] != n or not exact:
        raise RuntimeError(f"{n} rows: updated {report.counts()['updated']}, exact {exact}")
    return {"fix_s": fixed, "undo_s": undone}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dsn", help="a database on another server (a schema bench is made)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    samples: dict[int, dict[str, list[float]]] = {
        n: {"bare_s": [], "fix_s": [], "undo_s": []} for n in SIZES}
    with server(args.dsn) as url, psycopg.connect(url) as conn:
        setup(conn, args.rows)
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("VACUUM ANALYZE bench.billing")
        for round_no in range(args.rounds):
            for n in SIZES:
                run_id = f"bench-{round_no}-{n}"
                sides = ["bare", "datafix"] if round_no % 2 == 0 else ["datafix", "bare"]
                for side in sides:
                    if side == "bare":
                        samples[n]["bare_s"].append(bare(conn, n))
                    else:
                        got = datafix(conn, n, run_id)
                        samples[n]["fix_s"].append(got["fix_s"])
                        samples[n]["undo_s"].append(got["undo_s"])
                print(f"round {round_no + 1}, {n:>6} rows: bare "
                      f"{samples[n]['bare_s'][-1]:.3f} s, datafix {samples[n]['fix_s'][-1]:.3f}"
                      f" s, undo {samples[n]['undo_s'][-1]:.3f} s", flush=True)
    medians = {n: {k: statistics.median(v) for k, v in s.items()} for n, s in samples.items()}
    ratios = []
    for n in SIZES:
        m = medians[n]
        ratios.append(ratio_row(f"datafix of {n:,} rows (locks held)", m["fix_s"],
                                "the bare UPDATE in its own transaction", m["bare_s"]))
        ratios.append(ratio_row(f"undo of {n:,} rows", m["undo_s"],
                                "the bare UPDATE in its own transaction", m["bare_s"]))
    ratios.append(ratio_row("10,000-row correction, rows locked", medians[10_000]["fix_s"],
                            f"target {TARGET_10K_S:g} s", TARGET_10K_S, target=1.0))
    result = {"rows": args.rows, "rounds": args.rounds, "samples": samples,
              "medians": medians, "ratios": ratios}
    text = json.dumps(result, indent=2, default=str)
    if args.json:
        args.json.write_text(text)
    for row in ratios:
        print(f"{row['name']:40s} {row['measured']:8.3f} s  vs {row['anchor_value']:8.3f} s "
              f"= {row['ratio']}  {row['verdict'] or ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
