"""Benchmark masking (issue 8's target: 1,000,000 patients plus their visits in under 60 s on
2 cores) with the shipped policy masking/his.yml.

1. a throwaway PostgreSQL (tests/fixtures/pg.py; or --dsn: a database on another server from
   which the benchmark may CREATE and DROP databases named hisops_bench_mask*);
2. a template database with the lab's HIS schema (hisops.lab.dataset.SCHEMA_SQL: the same
   indexes and foreign keys) holding PATIENTS patients and 3 outpatient visits each on
   average (400 doctors), generated set-based in SQL (valid resident ID numbers, real mobile
   prefixes, names and addresses from the masking dictionaries); the other tables stay empty;
   VACUUM ANALYZE;
3. for each mode (``--modes parallel,serial``: the policy's parallel_workers as shipped, and 0),
   in turn and ROUNDS times: a fresh copy of the template (CREATE DATABASE ... TEMPLATE),
   ``hisops.masking.mask`` with masking/his.yml timed per table, the result checked (every ID
   valid and distinct, sex parity kept, no visit without its patient, sampled values all
   changed), the copy dropped. Modes alternate so load changes hit both alike.

Run: .venv/bin/python benchmarks/bench_masking.py [--patients 1000000] [--rounds 1]
     [--modes parallel,serial] [--dsn URL] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import re
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "pylib"))

from hisops.lab.dataset import SCHEMA_SQL  # noqa: E402
from hisops.masking import MaskReport, Policy, TableReport, load_policy, mask  # noqa: E402
from hisops.masking.dictionaries import load_dictionaries  # noqa: E402
from hisops.masking.reference import ID_CHECK, ID_WEIGHTS, derive_key  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _ratios import masking_ratios  # noqa: E402

TARGET_S = 60.0
KEY = "benchmark-masking-key-not-secret-000"  # a benchmark needs no secret

_CHECK = " + ".join(f"substr(f, {i + 1}, 1)::int * {w}" for i, w in enumerate(ID_WEIGHTS))

# set-based generation: patient i gets region i % R, a birth day from i / R, and a sequence
# number from i / (R * days), so that every ID number is distinct
PATIENTS_SQL = f"""
INSERT INTO his.patients (patient_id, name, sex, birth_date, id_number, phone, address,
                          registered_at)
SELECT i, name, CASE WHEN seq % 2 = 1 THEN 'M' ELSE 'F' END, birth,
       f || substr('{ID_CHECK}', 1 + ({_CHECK}) % 11, 1), phone, address, registered
  FROM (SELECT i, birth, seq,
               region || to_char(birth, 'YYYYMMDD') || lpad(seq::text, 3, '0') AS f,
               (%(surnames)s::text[])[1 + i * 7919 % %(n_surnames)s]
               || (%(given)s::text[])[1 + i * 104729 % %(n_given)s]
               || CASE WHEN i % 4 = 0 THEN '' ELSE (%(given)s::text[])[1 + i * 13 % %(n_given)s]
                  END AS name,
               (%(prefixes)s::text[])[1 + i * 31 % %(n_prefixes)s]
               || lpad((i * 2654435761 % 100000000)::text, 8, '0') AS phone,
               (%(cities)s::text[])[1 + i % %(n_cities)s] || '市'
               || (%(districts)s::text[])[1 + i * 7 % %(n_districts)s] || '区'
               || (i % 997 + 1) || '号' AS address,
               timestamp '2019-01-01 08:00' + (i * 7919 % 220000000) * interval '1 second'
                 AS registered
          FROM (SELECT i, (%(regions)s::text[])[1 + i % %(n_regions)s] AS region,
                       date '1930-01-01' + (i / %(n_regions)s % 32000)::int AS birth,
                       (i / (%(n_regions)s * 32000)) * 2 + i % 2 AS seq
                  FROM generate_series(1::bigint, %(n)s) AS i) AS base) AS p
"""  # noqa: S608 - constants only

VISITS_SQL = """
INSERT INTO his.outpatient_visits (visit_id, patient_id, visit_time, department, doctor,
                                   diagnosis_code, diagnosis)
SELECT row_number() OVER (), p.patient_id,
       timestamp '2019-01-01 08:00' + ((p.patient_id * 104729 + v * 7919) % 220000000)
         * interval '1 second',
       '内科', '医生' || ((p.patient_id * 7 + v) % 400), 'I10', '特发性高血压'
  FROM his.patients p CROSS JOIN LATERAL generate_series(1, 1 + p.patient_id % 5) AS v
"""


@contextlib.contextmanager
def server(dsn: str | None) -> Iterator[str]:
    """The URL of a database from which databases can be created on the server."""
    if dsn:
        yield dsn
        return
    from tests.fixtures.pg import throwaway_postgres

    with throwaway_postgres() as pg:
        yield pg.url()


def _url(base: str, dbname: str) -> str:
    return psycopg.conninfo.make_conninfo(base, dbname=dbname)


def _create(base: str, name: str, template: str | None = None) -> None:
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
                      + (sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
                         if template else sql.SQL("")))


def _drop(base: str, name: str) -> None:
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))


def generate(conn: psycopg.Connection[Any], patients: int) -> dict[str, int]:
    d = load_dictionaries()
    conn.execute("DROP SCHEMA IF EXISTS his CASCADE")
    conn.execute(SCHEMA_SQL)
    params = {"n": patients, "surnames": list(d.surnames), "n_surnames": len(d.surnames),
              "given": list(d.given_chars), "n_given": len(d.given_chars),
              "prefixes": list(d.phone_prefixes), "n_prefixes": len(d.phone_prefixes),
              "cities": list(d.cities), "n_cities": len(d.cities),
              "districts": list(d.districts), "n_districts": len(d.districts),
              "regions": list(d.area_codes), "n_regions": len(d.area_codes)}
    # modulo signs doubled: the query has %(name)s parameters
    conn.execute(re.sub(r"%(?!\()", "%%", PATIENTS_SQL), params)
    conn.execute(VISITS_SQL)
    conn.commit()
    conn.autocommit = True
    conn.execute("VACUUM ANALYZE his.patients")
    conn.execute("VACUUM ANALYZE his.outpatient_visits")
    conn.autocommit = False
    return {t: int(conn.execute(f"SELECT count(*) FROM his.{t}").fetchone()[0])  # type: ignore[index]  # noqa: S608
            for t in ("patients", "outpatient_visits")}


CHECKS = {
    "distinct ID numbers": "SELECT count(DISTINCT id_number) = count(*) FROM his.patients",
    "visits without patient": "SELECT count(*) = 0 FROM his.outpatient_visits v "
                              "LEFT JOIN his.patients p USING (patient_id) "
                              "WHERE p.patient_id IS NULL",
    "valid check digits (sample)": f"""SELECT bool_and(substr(id_number, 18, 1) = substr(
        '{ID_CHECK}', 1 + ({_CHECK.replace('(f,', '(id_number,')}) % 11, 1))
        FROM (SELECT id_number FROM his.patients TABLESAMPLE SYSTEM (1)) s""",  # noqa: S608
    # 400 doctors ("医生N") in the generated visits: masked names carry no digit
    "every doctor masked": "SELECT count(*) = 0 FROM his.outpatient_visits WHERE doctor ~ '[0-9]'",
    "sex parity kept": "SELECT bool_and((substr(id_number, 17, 1)::int % 2 = 1) = (sex = 'M')) "
                       "FROM his.patients",
}


PRF_VARIANTS = {
    # what masking uses: a fixed-length 32-byte key prefix, outputs truncated to 32 bits
    "sha256(key || msg)": "sha256(k || convert_to(id_number, 'UTF8'))",
    # the textbook keyed hash, from the pgcrypto extension (contrib)
    "pgcrypto hmac()": "hmac(convert_to(id_number, 'UTF8'), k, 'sha256')",
    # HMAC built from the built-in sha256 (two hashes per value)
    "hmac from sha256()": "sha256(ko || sha256(ki || convert_to(id_number, 'UTF8')))",
}


def compare_prfs(url: str, repeat: int = 3) -> dict[str, float]:
    """Seconds per million values of each keyed hash, alternated REPEAT times (medians)."""
    times: dict[str, list[float]] = {name: [] for name in PRF_VARIANTS}
    with psycopg.connect(url) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pgcrypto")
        key = derive_key(KEY)  # the benchmark's key is no secret: a parameter is fine here
        conn.execute("CREATE TEMP TABLE prf_key (k bytea, ko bytea, ki bytea)")
        conn.execute("INSERT INTO prf_key VALUES (%s, %s, %s)",
                     (key, bytes(b ^ 0x5C for b in key), bytes(b ^ 0x36 for b in key)))
        rows = int(conn.execute("SELECT count(*) FROM his.patients").fetchone()[0])  # type: ignore[index]
        for _ in range(repeat):
            for name, expr in PRF_VARIANTS.items():
                t0 = time.monotonic()
                conn.execute(f"SELECT count({expr}) FROM his.patients, prf_key")  # noqa: S608
                times[name].append((time.monotonic() - t0) / rows * 1e6)
        conn.rollback()
    return {name: round(statistics.median(v), 3) for name, v in times.items()}


def run_once(url: str, policy: Policy) -> tuple[MaskReport, dict[str, bool]]:
    with psycopg.connect(url) as conn:
        before = conn.execute("SELECT id_number, phone, name FROM his.patients "
                              "ORDER BY patient_id LIMIT 1000").fetchall()
        conn.rollback()

        def progress(table: TableReport) -> None:
            if table.rows:
                staged = (f" (compute {table.compute_seconds:.2f} s)"
                          if table.compute_seconds else "")
                print(f"    {table.table:26s} {table.rows:>10,d} rows {table.seconds:8.2f} s "
                      f"{table.rows_per_second:>12,.0f} rows/s{staged}", flush=True)

        report = mask(conn, policy, KEY, progress=progress)
        after = conn.execute("SELECT id_number, phone, name FROM his.patients "
                             "ORDER BY patient_id LIMIT 1000").fetchall()
        checks = {name: bool(conn.execute(query).fetchone()[0])  # type: ignore[index]
                  for name, query in CHECKS.items()}
        checks["every sampled value changed"] = all(
            x != y for b, a in zip(before, after, strict=True) for x, y in zip(b, a, strict=True))
        conn.rollback()
    return report, checks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=1, help="runs of each mode")
    parser.add_argument("--modes", default="parallel,serial",
                        help="parallel (the policy as shipped) and/or serial (0 workers)")
    parser.add_argument("--dsn", help="a database on another server (see above)")
    parser.add_argument("--policy", type=Path, default=ROOT / "masking" / "his.yml")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--compare-prfs", action="store_true",
                        help="also time sha256(key||msg) against pgcrypto's hmac()")
    args = parser.parse_args()
    shipped = load_policy(args.policy)
    policies = {"parallel": shipped, "serial": dataclasses.replace(
        shipped, model=shipped.model.model_copy(update={"settings": shipped.settings.model_copy(
            update={"parallel_workers": 0})}))}
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    results: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
    ok = True
    with server(args.dsn) as base:
        template = "hisops_bench_mask_tmpl"
        _create(base, template)
        try:
            with psycopg.connect(_url(base, template)) as conn:
                t0 = time.monotonic()
                counts = generate(conn, args.patients)
                settings = dict(conn.execute(
                    "SELECT name, setting FROM pg_settings WHERE name IN ('shared_buffers', "
                    "'fsync', 'synchronous_commit', 'full_page_writes', 'wal_level', "
                    "'server_version', 'max_parallel_workers', 'work_mem')").fetchall())
            print(f"generated {counts} in {time.monotonic() - t0:.1f} s", flush=True)
            prfs = compare_prfs(_url(base, template)) if args.compare_prfs else {}
            for name, seconds in prfs.items():
                print(f"  keyed hash {name:22s} {seconds:6.2f} s per million values")
            for round_no in range(1, args.rounds + 1):
                for mode in modes:
                    copy = "hisops_bench_mask_run"
                    _create(base, copy, template)
                    print(f"  round {round_no}, {mode} (parallel_workers "
                          f"{policies[mode].settings.parallel_workers}):", flush=True)
                    try:
                        report, checks = run_once(_url(base, copy), policies[mode])
                    finally:
                        _drop(base, copy)
                    print(f"    total {report.seconds:.2f} s, {report.rows_per_second:,.0f} "
                          f"rows/s; checks {'ok' if all(checks.values()) else checks}",
                          flush=True)
                    ok = ok and all(checks.values())
                    results[mode].append({"report": report.to_dict(), "checks": checks})
        finally:
            _drop(base, template)
    print_summary(results, settings, args.patients)
    if args.json:
        out = {"results": results, "settings": settings, "keyed_hash_s_per_million": prfs,
               "patients": args.patients, "counts": counts, "cpus": os.cpu_count(),
               "load": os.getloadavg(), "ok": ok}
        out["ratios"] = masking_ratios(out, TARGET_S)  # the rows bench_all.py collects
        args.json.write_text(json.dumps(out, indent=2, ensure_ascii=False))
    return 0 if ok else 1


def print_summary(results: dict[str, list[dict[str, Any]]], settings: dict[str, str],
                  patients: int) -> None:
    print(f"\n{patients:,d} patients; target: mask in < {TARGET_S:.0f} s")
    medians = {}
    for mode, runs in results.items():
        if not runs:
            continue
        seconds = statistics.median(r["report"]["seconds"] for r in runs)
        medians[mode] = seconds
        rows = runs[0]["report"]["rows"]
        print(f"  {mode:9s} median {seconds:7.2f} s  {rows / seconds:>10,.0f} rows/s  "
              f"{'PASS' if seconds < TARGET_S else 'MISS'}  ({len(runs)} runs)")
        for table in runs[-1]["report"]["tables"]:
            if table["rows"]:
                staged = (f" (parallel compute {table['compute_seconds']:.2f} s)"
                          if table["compute_seconds"] else "")
                print(f"      {table['table']:26s} {table['rows']:>10,d} rows "
                      f"{table['seconds']:7.2f} s {table['rows_per_second']:>10,.0f} rows/s"
                      f"{staged}")
        print(f"      index/FK rebuild {runs[-1]['report']['rebuild_seconds']:.2f} s")
    if len(medians) == 2 and medians.get("serial"):
        print(f"  parallel / serial: {medians['parallel'] / medians['serial']:.2f}")
    print(f"  server: {settings}; load average {os.getloadavg()}")


if __name__ == "__main__":
    sys.exit(main())
