"""Benchmark the patch-postgres runbook under a client write load (issue 5's targets).

On its own lab (HISOPS_LAB_NAME=benchpatch, ports 23400-23699, its own journal and inventory)
so the developer's lab on 22200-22499 is left alone. For each strategy (restart, switchover),
alternating when --repeat > 1:

1. put the lab back on the base release (``hisops lab pg-version <base>``, versions from the
   lab image's info) and wait until replication streams;
2. start a writer thread (psycopg, multi-host conninfo his-db-1,his-db-2 with
   target_session_attrs=read-write, one INSERT per transaction into bench_patch.writes,
   reconnecting on any error) and, unless --no-pgbench, a rate-limited pgbench on the primary;
3. run ``hisops run patch-postgres`` (unverified-backup guard waived, reason "benchmark");
4. measure the longest gap between acknowledged commits (client-seen write outage), failed
   attempts, lost commits (acknowledged but missing: must be 0), the server-side outage from the
   journal evidence, the runbook's wall time and the versions every host ends at.

Run: .venv/bin/python benchmarks/bench_patch.py [--strategies restart,switchover] [--repeat N]
     [--json out.json] [--no-pgbench] [--no-readme] [--note TEXT] [--down]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

ROOT = Path(__file__).resolve().parent.parent
LAB = "benchpatch"
PORT_BASE = 23400
PORT_SPAN = 300  # ssh, PostgreSQL and HTTP ports: base + 0..299
LAB_DIR = Path.home() / ".hisops" / LAB
RUNS_DIR = Path.home() / ".hisops" / f"{LAB}-runs"
PGBENCH = "/usr/lib/postgresql/15/bin/pgbench"
PGBENCH_DB = "bench_pgbench"
README = Path(__file__).resolve().parent / "README.md"
SECTION = "## Patching (issue 5)"
# issue 5: primary write outage per strategy, and the whole runbook
OUTAGE_TARGET_S = {"restart": 10.0, "switchover": 5.0}
RUNBOOK_TARGET_S = 300.0
GAP_REPORT_S = 0.5  # client gaps at least this long are listed one by one


# the figures' arithmetic (benchmarks/ is on sys.path when this runs as a script)
from _benchlab import HISOPS, hisops, refuse_foreign_ports, table  # noqa: E402
from _patch_metrics import (  # noqa: E402
    gaps,
    longest_gap,
    lost_commits,
    overlapping_gap,
    parse_pg_versions,
    parse_pgbench,
    replace_section,
    server_outages,
    spread,
    verdict,
)

# --- the load ----------------------------------------------------------------------------------

@dataclass
class WriteLog:
    attempts: int = 0
    failures: int = 0
    in_doubt: int = 0  # failed on an open connection: the commit may or may not have happened
    connects: int = 0
    acked: list[int] = field(default_factory=list)
    ack_times: list[float] = field(default_factory=list)  # epoch seconds of each ack
    servers: list[tuple[float, int]] = field(default_factory=list)  # (when, port) per connect
    errors: Counter[str] = field(default_factory=Counter)


class Writer(threading.Thread):
    """One INSERT per transaction, as fast as INTERVAL allows, reconnecting on any error."""

    def __init__(self, conninfo: str, interval: float, retry_delay: float) -> None:
        super().__init__(name="bench-writer", daemon=True)
        self.conninfo, self.interval, self.retry_delay = conninfo, interval, retry_delay
        self.log = WriteLog()
        self.halt = threading.Event()

    def run(self) -> None:
        conn: psycopg.Connection[Any] | None = None
        seq = 0
        while not self.halt.is_set():
            seq += 1
            self.log.attempts += 1
            sent = False
            try:
                if conn is None:
                    conn = psycopg.connect(self.conninfo, autocommit=True)
                    self.log.connects += 1
                    self.log.servers.append((time.time(), int(conn.info.port)))
                sent = True
                conn.execute("INSERT INTO bench_patch.writes (seq, client_ts) VALUES (%s, %s)",
                             (seq, datetime.now(UTC)))
            except psycopg.Error as exc:
                self.log.failures += 1
                self.log.in_doubt += sent
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                self.log.errors[re.sub(r"\d+", "N", first)[:120]] += 1
                if conn is not None:
                    conn.close()
                    conn = None
                self.halt.wait(self.retry_delay)
                continue
            self.log.acked.append(seq)
            self.log.ack_times.append(time.time())
            self.halt.wait(self.interval)
        if conn is not None:
            conn.close()


# --- the lab -----------------------------------------------------------------------------------



def check_ports(ours: set[int]) -> None:
    refuse_foreign_ports(ours, PORT_BASE, PORT_SPAN)


@dataclass(frozen=True)
class Lab:
    env: dict[str, str]
    inventory: str
    password: str
    ports: dict[str, int]  # PostgreSQL port per database host
    primary: str
    standby: str

    def conninfo(self, *, multi: bool, dbname: str = "his") -> str:
        hosts = [self.primary, self.standby] if multi else [self.primary]
        return make_conninfo(
            host=",".join("127.0.0.1" for _ in hosts),
            port=",".join(str(self.ports[h]) for h in hosts), dbname=dbname, user="postgres",
            password=self.password, connect_timeout=2,
            target_session_attrs="read-write" if multi else None,
            options="-c statement_timeout=5000")


def lab_env(home: Path) -> dict[str, str]:
    return {**os.environ, "HISOPS_LAB_NAME": LAB, "HISOPS_LAB_DIR": str(LAB_DIR),
            "HISOPS_LAB_PORT_BASE": str(PORT_BASE), "HISOPS_HOME": str(home),
            "HISOPS_JOURNAL": str(home / "journal.sqlite3"),
            "HISOPS_INVENTORY": str(LAB_DIR / "inventory" / "hosts.yml"),
            "HISOPS_PROJECT": str(ROOT), "HISOPS_OPERATOR": "bench_patch"}


def open_lab(env: dict[str, str]) -> Lab:
    from hisops.lab import state
    from hisops.lab.settings import LabSettings
    from hisops.lab.topology import Role

    settings = LabSettings.from_env(env)
    current = state.load(settings)
    if current is None:
        raise SystemExit("the bench lab did not come up")
    topo = current.topology()
    return Lab(env=env, inventory=str(settings.inventory_file),
               password=settings.pg_password_file.read_text().strip(),
               ports={h.name: h.pg for h in topo.hosts if h.runs_postgres},
               primary=topo.primary.name, standby=topo.by_role(Role.STANDBY)[0].name)


def wait_healthy(lab: Lab, timeout: float = 180.0) -> float:
    """Wait until the primary is writable and streams to every replica with < 1 MB lag."""
    start = time.monotonic()
    query = ("SELECT NOT pg_is_in_recovery(), count(*) FILTER (WHERE state = 'streaming'), "
             "coalesce(max(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)), 0) "
             "FROM pg_stat_replication")
    last: Any = None
    while time.monotonic() - start < timeout:
        try:
            with psycopg.connect(lab.conninfo(multi=False, dbname="postgres")) as conn:
                last = conn.execute(query).fetchone()
            if last is not None and last[0] and last[1] >= len(lab.ports) - 1 and last[2] < 1e6:
                return time.monotonic() - start
        except psycopg.OperationalError as exc:
            last = str(exc).strip()
        time.sleep(0.5)
    raise SystemExit(f"replication not healthy after {timeout:.0f} s: {last}")


def prepare(lab: Lab, pgbench: bool, scale: int) -> None:
    with psycopg.connect(lab.conninfo(multi=False), autocommit=True) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS bench_patch")
        conn.execute("CREATE TABLE IF NOT EXISTS bench_patch.writes (seq bigint PRIMARY KEY, "
                     "client_ts timestamptz NOT NULL, server_ts timestamptz NOT NULL DEFAULT "
                     "clock_timestamp(), server_port int NOT NULL DEFAULT inet_server_port())")
        conn.execute("TRUNCATE bench_patch.writes")
        if pgbench and not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                        (PGBENCH_DB,)).fetchone():
            conn.execute(f"CREATE DATABASE {PGBENCH_DB}")
    if pgbench:
        subprocess.run([PGBENCH, "-i", "-q", "-s", str(scale), *pgbench_conn(lab)],
                       env=pgbench_env(lab), check=True, capture_output=True,
                       stdin=subprocess.DEVNULL)


def pgbench_conn(lab: Lab) -> list[str]:
    return ["-h", "127.0.0.1", "-p", str(lab.ports[lab.primary]), "-U", "postgres", PGBENCH_DB]


def pgbench_env(lab: Lab) -> dict[str, str]:
    return {**lab.env, "PGPASSWORD": lab.password, "PGCONNECT_TIMEOUT": "2"}


def table_seqs(lab: Lab) -> tuple[set[int], Counter[int]]:
    """Sequence numbers in bench_patch.writes (on the writable primary) and rows per port."""
    with psycopg.connect(lab.conninfo(multi=True)) as conn:
        rows = conn.execute("SELECT seq, server_port FROM bench_patch.writes").fetchall()
    return {int(r[0]) for r in rows}, Counter(int(r[1]) for r in rows)


def run_evidence(env: dict[str, str]) -> tuple[str, dict[str, Any], dict[str, dict[str, Any]]]:
    """The last run's id, its start/finish records and its patch evidence per host."""
    from hisops.journal import open_journal
    from hisops.journal import records as rk

    with open_journal(env["HISOPS_JOURNAL"]) as journal:
        run_id = journal.run_ids()[-1]
        records = journal.records(run_id)
    started = next(r for r in records if r.kind == rk.RUN_STARTED)
    finished = next((r for r in records if r.kind == rk.RUN_FINISHED), None)
    journal_s = None
    if finished is not None:
        journal_s = (datetime.fromisoformat(finished.ts)
                     - datetime.fromisoformat(started.ts)).total_seconds()
    run = {"status": finished.payload.get("status") if finished else "unfinished",
           "detail": finished.payload.get("detail") if finished else "",
           "journal_s": journal_s}
    evidence = {r.payload["subject"]: r.payload["evidence"] for r in records
                if r.kind == rk.EVIDENCE and r.payload.get("type") == "patch"}
    begun: dict[str, datetime] = {}
    steps: dict[str, float] = {}
    for r in records:
        if r.kind == rk.STEP_STARTED:
            begun[r.payload["step"]] = datetime.fromisoformat(r.ts)
        elif r.kind == rk.STEP_FINISHED and r.payload["step"] in begun:
            took = datetime.fromisoformat(r.ts) - begun[r.payload["step"]]
            steps[r.payload["step"]] = round(took.total_seconds(), 1)
    run["steps_s"] = steps
    return run_id, run, evidence


# --- one measured run --------------------------------------------------------------------------

def one_run(lab: Lab, strategy: str, base: str, patch: str, args: argparse.Namespace,
            logs: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"strategy": strategy, "load_before": os.getloadavg()}
    took, _ = hisops("lab", "pg-version", base, env=lab.env)
    out["reset_s"] = round(took, 1)
    prepare(lab, not args.no_pgbench, args.pgbench_scale)
    out["healthy_wait_s"] = round(wait_healthy(lab), 1)
    writer = Writer(lab.conninfo(multi=True), args.interval, args.retry_delay)
    writer.start()
    bench_proc = None
    tag = f"{strategy}-{time.strftime('%H%M%S')}"
    bench_out, bench_err = logs / f"pgbench-{tag}.out", logs / f"pgbench-{tag}.err"
    if not args.no_pgbench:
        with bench_out.open("w") as fout, bench_err.open("w") as ferr:
            bench_proc = subprocess.Popen(
                [PGBENCH, "-n", "-c", str(args.pgbench_clients), "-j", "1", "-R",
                 str(args.pgbench_rate), "-T", str(args.pgbench_seconds), "--progress", "1",
                 *pgbench_conn(lab)], env=pgbench_env(lab), stdin=subprocess.DEVNULL,
                stdout=fout, stderr=ferr)
    time.sleep(args.settle)  # a baseline of commits before the run
    run_log = logs / f"run-{tag}.log"
    started = time.time()
    with run_log.open("w") as fh:
        rc = subprocess.run(
            [HISOPS, "run", "patch-postgres", "-i", lab.inventory, "-e",
             f"target_version={patch}", "-e", f"strategy={strategy}", "-y",
             "--accept-unverified-backup", "--reason", "benchmark"],
            env=lab.env, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            check=False, timeout=3600).returncode
    ended = time.time()
    time.sleep(args.settle)
    writer.halt.set()
    writer.join(timeout=30)
    pgbench_note = "ended by itself"
    if bench_proc is not None:
        if bench_proc.poll() is None:  # still has live clients: stop it (no summary then)
            bench_proc.send_signal(signal.SIGINT)
            pgbench_note = "stopped by the benchmark after the run (pgbench prints no summary)"
        bench_proc.wait(timeout=30)
        out["pgbench"] = parse_pgbench(bench_out.read_text(), bench_err.read_text())
        out["pgbench"]["rc"] = bench_proc.returncode
        out["pgbench"]["note"] = pgbench_note
        last = out["pgbench"]["last_busy_progress_s"]
        out["pgbench"]["load_lasted_s_into_run"] = (None if last is None else
                                                    round(last - args.settle, 1))
    log = writer.log
    present, per_port = table_seqs(lab)
    lost = lost_commits(log.acked, present)
    acked = set(log.acked)
    run_id, run, evidence = run_evidence(lab.env)
    gap_start, gap = longest_gap(log.ack_times)
    try:
        healthy_after = round(wait_healthy(lab, timeout=120), 1)
    except SystemExit as exc:
        healthy_after = None
        out["unhealthy_after"] = str(exc)
    all_gaps = gaps(log.ack_times, GAP_REPORT_S)
    timings = (evidence.get(lab.primary) or {}).get("timings") or {}
    if strategy == "restart" and timings.get("stopped_at") and timings.get("ready_at"):
        # swap-packages.sh's "stopped_at" is when the stop began
        down, up = float(timings["stopped_at"]), float(timings["ready_at"])
        match = overlapping_gap(all_gaps, down, up)
        if match is not None:
            out["client_vs_server"] = {
                "last_commit_before_stop_s": round(match[0] - down, 3),
                "first_commit_after_vs_server_ready_s": round(match[0] + match[1] - up, 3),
                "server_install_s": timings.get("install_s"),
                "server_start_s": timings.get("start_s")}
    _, versions_out = hisops("lab", "pg-version", env=lab.env)
    versions = parse_pg_versions(versions_out)
    port_host = {p: h for h, p in lab.ports.items()}
    out.update({
        "run_id": run_id, "rc": rc, "run_status": run["status"], "run_detail": run["detail"],
        "runbook_wall_s": round(ended - started, 1),
        "runbook_journal_s": None if run["journal_s"] is None else round(run["journal_s"], 1),
        "client_outage_s": round(gap, 3),
        "client_outage_at_s": round(gap_start - started, 1),
        "run_started_at": started,
        "client_gaps": [{"at_s": round(s - started, 1), "length_s": round(n, 3),
                         "start_epoch": round(s, 3)} for s, n in all_gaps],
        "server_outages_s": server_outages(evidence, lab.primary),
        "steps_s": run["steps_s"],
        "replication_healthy_after_s": healthy_after,
        "attempts": log.attempts, "failed_attempts": log.failures, "in_doubt": log.in_doubt,
        "commits": len(log.acked), "connects": log.connects,
        "lost_commits": len(lost), "lost_seqs": lost[:20],
        "in_doubt_rows_present": len(present - acked),
        "rows_by_server": {port_host.get(p, str(p)): n for p, n in per_port.items()},
        "writer_servers": [(round(t - started, 1), port_host.get(p, str(p)))
                           for t, p in log.servers],
        "errors": dict(log.errors.most_common(4)),
        "host_outages_s": {h: ev.get("write_outage_s") for h, ev in evidence.items()},
        "evidence": evidence,
        "versions_after": versions,
        "all_at_patch": bool(versions) and all(v == patch for v in versions.values()),
        "load_after": os.getloadavg(),
        "run_log": str(run_log),
    })
    return out


# --- reporting ---------------------------------------------------------------------------------

def summary_rows(runs: dict[str, list[dict[str, Any]]]) -> list[tuple[str, ...]]:
    """The side-by-side table: one column per strategy, PASS/FAIL on the worst round."""
    rows: list[tuple[str, ...]] = [("figure", *runs, "target")]

    def row(label: str, key: str, target: str = "", judge: dict[str, float] | None = None,
            digits: int = 0) -> None:
        cells = []
        for strategy, rs in runs.items():
            values = [float(r[key]) for r in rs if r.get(key) is not None]
            cell = spread(values, digits)
            if judge and values:
                cell += f" {verdict(max(values), judge[strategy])}"
            cells.append(cell)
        rows.append((label, *cells, target))

    def each(label: str, cell: Any, target: str = "") -> None:
        rows.append((label, *("; ".join(cell(r) for r in rs) for rs in runs.values()), target))

    row("client-seen write outage (longest gap), s", "client_outage_s",
        "restart < 10, switchover < 5", OUTAGE_TARGET_S, digits=2)
    rows.append(("server-side write outage (journal), s", *(
        "; ".join(" + ".join(f"{o:.2f}" for o in r["server_outages_s"]) or "-" for r in rs)
        + " " + verdict(max((o for r in rs for o in r["server_outages_s"]), default=None),
                        OUTAGE_TARGET_S[s]) for s, rs in runs.items()), "per hand-over"))
    row("whole runbook (wall), s", "runbook_wall_s", "< 300",
        dict.fromkeys(runs, RUNBOOK_TARGET_S), digits=1)
    each("steps stage / standbys / primary, s",
         lambda r: " / ".join(f"{v:.0f}" for v in r["steps_s"].values()))
    row("write attempts", "attempts")
    row("failed write attempts", "failed_attempts")
    row("acknowledged commits", "commits")
    row("lost commits (must be 0)", "lost_commits", "0")
    each("every host at the patch version", lambda r: "yes" if r["all_at_patch"] else "NO",
         "yes")
    each("run status", lambda r: str(r["run_status"]), "succeeded")
    row("replication healthy again after the run, s", "replication_healthy_after_s", digits=1)
    if all("pgbench" in r for rs in runs.values() for r in rs):
        each("pgbench processed / failed / aborted clients", lambda r: (
            f"{r['pgbench']['processed']} / {r['pgbench']['failed']} / "
            f"{r['pgbench']['aborted_clients']}"))
    return rows




def machine() -> dict[str, Any]:
    mem_kib = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                       if line.startswith("MemTotal:")))
    others = subprocess.run(["podman", "ps", "--format", "{{.Names}}"], capture_output=True,
                            text=True, check=False).stdout.split()
    return {"nproc": os.cpu_count(), "memory_gib": round(mem_kib / 1024**2, 1),
            "uptime": subprocess.run(["uptime"], capture_output=True, text=True,
                                     check=False).stdout.strip(),
            "other_containers": len([n for n in others if not n.startswith(f"hisops-{LAB}-")])}


def _para(text: str, bullet: bool = False) -> str:
    return textwrap.fill(text, width=100, initial_indent="- " if bullet else "",
                         subsequent_indent="  " if bullet else "", break_on_hyphens=False)


def _run_line(strategy: str, r: dict[str, Any], primary: str) -> str:
    gap_list = ", ".join(f"{g['length_s']:.2f} s at +{g['at_s']:.0f} s"
                         for g in r["client_gaps"]) or "none"
    text = (f"{strategy} (load {r['load_before'][0]:.2f} -> {r['load_after'][0]:.2f}): client "
            f"gaps >= {GAP_REPORT_S} s: {gap_list}; journaled write outage "
            f"{' + '.join(f'{o:.2f}' for o in r['server_outages_s']) or '-'} s; standbys' "
            "restarts (read outage) " + ", ".join(
                f"{h} {float(v):.1f} s" for h, v in r["host_outages_s"].items()
                if h != primary and v is not None)
            + f"; rows written per server {r['rows_by_server']}")
    cvs = r.get("client_vs_server")
    if cvs:
        text += (f"; the primary was down for dpkg -i {cvs['server_install_s']} s, and the writer"
                 f" committed again {-cvs['first_commit_after_vs_server_ready_s']:.2f} s before"
                 f" the role's `ready_at` (its start phase: {cvs['server_start_s']} s)")
    pg = r.get("pgbench")
    if pg is not None:
        text += (f"; pgbench: {pg['processed']} transactions processed, {pg['failed']} failed, "
                 f"{pg['aborted_clients']} clients aborted"
                 + (f" ({pg['abort_reasons'][0]})" if pg["abort_reasons"] else "")
                 + (f" {pg['load_lasted_s_into_run']:.0f} s into the run"
                    if pg["load_lasted_s_into_run"] is not None else ""))
    return _para(text, bullet=True)


def product_state() -> str:
    """The commit measured, and the product files changed in the working tree beside it."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True,
                              check=False).stdout.rstrip()

    dirty = [line[3:] for line in git("status", "--porcelain", "--", "roles", "playbooks",
                                      "runbooks", "pylib").splitlines()]
    return git("rev-parse", "--short", "HEAD") + (
        f" + uncommitted {', '.join(dirty)}" if dirty else "")


def readme_body(results: dict[str, Any], rows: list[tuple[str, ...]]) -> str:
    m = results["machine"]
    md = ["| " + " | ".join(rows[0]) + " |", "|" + " --- |" * len(rows[0])]
    md += ["| " + " | ".join(c.replace("|", "/") for c in r) + " |" for r in rows[1:]]
    load = ("no pgbench" if results["pgbench"] is None else
            f"pgbench on the primary's port ({results['pgbench']['clients']} clients, "
            f"{results['pgbench']['rate']} tps, scale {results['pgbench']['scale']}, database "
            f"{PGBENCH_DB})")
    return "\n".join([
        _para("`bench_patch.py [--strategies restart,switchover] [--repeat N] [--json out.json]"
              f"` runs `hisops run patch-postgres` ({results['base']} -> {results['patch']}, "
              "versions from the lab image; the verified-restore guard is waived with "
              "`--accept-unverified-backup --reason benchmark`: the bench lab has no verified "
              f"restore) on its own lab (`{LAB}`, ports {PORT_BASE}-"
              f"{PORT_BASE + PORT_SPAN - 1}, its own journal and inventory) under a client "
              "write load: a psycopg writer (one INSERT per transaction into "
              f"`bench_patch.writes` every {results['interval_s'] * 1000:.0f} ms, multi-host "
              "conninfo his-db-1,his-db-2 with `target_session_attrs=read-write`, reconnecting "
              f"{results['retry_delay_s'] * 1000:.0f} ms after any error) and {load}."),
        "",
        _para(f"Measured {results['date']} on {m['nproc']} cores / {m['memory_gib']} GiB, "
              f"with {m['other_containers']} containers of other labs running beside it; "
              f"`uptime` at the start: {' '.join(m['uptime'].split())}. Product: "
              + (results["product"][0] if len(set(results["product"])) == 1 else
                 f"{results['product'][0]} at the start, {results['product'][1]} at the end")
              + "."),
        "",
        *md,
        "",
        *(_run_line(s, r, results["primary"]) for s, rs in results["runs"].items()
          for r in rs),
        *(["", _para(results["note"])] if results.get("note") else []),
        "",
        _para("*Client-seen write outage*: the longest gap between two acknowledged commits of "
              "the writer; it includes the writer's reconnect delay and libpq trying each host, "
              "and is what an application with a multi-host connection string sees.",
              bullet=True),
        _para("*Server-side write outage*: the journal's patch evidence. Restart: his-db-1's "
              "`write_outage_s` (stop began -> the role's psql loop gets an answer after "
              "`pg_ctlcluster start` returned). Switchover: each hand-over's `outage_s` (stop "
              "of the primary began -> promoted standby writable); there are two when the "
              "runbook switches back.", bullet=True),
        _para("*Lost commits*: acknowledged sequence numbers missing from `bench_patch.writes` "
              "afterwards (must be 0; the benchmark asserts it). pgbench connects to the "
              "primary's port only and aborts a client whose connection is lost (it never "
              "reconnects), so its load ends when the primary first stops; processed counts "
              "cover the time before that.", bullet=True),
        _para(f"The lab is kept; remove it with `HISOPS_LAB_NAME={LAB} HISOPS_LAB_PORT_BASE="
              f"{PORT_BASE} HISOPS_LAB_DIR=~/.hisops/{LAB} .venv/bin/hisops lab down` (or run "
              "with `--down`).", bullet=True),
    ])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategies", default="restart,switchover")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--interval", type=float, default=0.01, help="writer pause, s")
    parser.add_argument("--retry-delay", type=float, default=0.1, help="after an error, s")
    parser.add_argument("--settle", type=float, default=3.0, help="load before/after, s")
    parser.add_argument("--no-pgbench", action="store_true")
    parser.add_argument("--pgbench-clients", type=int, default=2)
    parser.add_argument("--pgbench-rate", type=int, default=50, help="tps (-R)")
    parser.add_argument("--pgbench-scale", type=int, default=1)
    parser.add_argument("--pgbench-seconds", type=int, default=900, help="-T")
    parser.add_argument("--no-readme", action="store_true", help="do not update README.md")
    parser.add_argument("--note", default="", help="a sentence for the README section")
    parser.add_argument("--down", action="store_true", help="remove the bench lab at the end")
    args = parser.parse_args()
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    if not strategies or set(strategies) - set(OUTAGE_TARGET_S):
        parser.error(f"--strategies takes {', '.join(OUTAGE_TARGET_S)}")
    home = RUNS_DIR / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    logs = home / "logs"
    logs.mkdir(parents=True)
    env = lab_env(home)
    from hisops.lab.settings import LabSettings
    from hisops.lab.state import load as load_state

    kept = load_state(LabSettings.from_env(env))
    check_ports(set() if kept is None else {p for h in kept.topology().hosts
                                            for p, _ in h.ports()})
    results: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                               "machine": machine(), "interval_s": args.interval,
                               "retry_delay_s": args.retry_delay, "state": str(home),
                               "note": args.note, "product": [product_state()],
                               "waiver": "--accept-unverified-backup --reason benchmark"}
    print(f"machine: {results['machine']['nproc']} cores, {results['machine']['memory_gib']} "
          f"GiB; uptime: {results['machine']['uptime']}", flush=True)
    try:
        took, up_json = hisops("lab", "up", "--json", env=env)
        image = json.loads(up_json)["image"]
        from hisops.patching.media import server_version_of

        if not image["patch_version"]:
            raise SystemExit("the lab image offers no patch release: nothing to benchmark")
        base, patch = server_version_of(image["pg_version"]), server_version_of(
            image["patch_version"])
        lab = open_lab(env)
        results.update({"lab_up_s": round(took, 1), "base": base, "patch": patch,
                        "primary": lab.primary,
                        "pgbench": None if args.no_pgbench else {
                            "clients": args.pgbench_clients, "rate": args.pgbench_rate,
                            "scale": args.pgbench_scale}})
        print(f"bench lab up in {took:.1f} s; patching {base} -> {patch} "
              "(unverified-backup guard waived: --accept-unverified-backup --reason benchmark)",
              flush=True)
        runs: dict[str, list[dict[str, Any]]] = {s: [] for s in strategies}
        for round_no in range(1, args.repeat + 1):
            for strategy in strategies:
                r = one_run(lab, strategy, base, patch, args, logs)
                runs[strategy].append(r)
                print(f"round {round_no} {strategy}: {r['run_status']} in "
                      f"{r['runbook_wall_s']} s; client outage {r['client_outage_s']} s, "
                      f"server {r['server_outages_s']} s, {r['failed_attempts']} failed "
                      f"attempts, {r['lost_commits']} lost; load "
                      f"{r['load_before'][0]:.2f} -> {r['load_after'][0]:.2f}", flush=True)
        results["runs"] = runs
        results["product"].append(product_state())
        rows = summary_rows(runs)
        print("\n" + table(rows))
        print(f"\nmachine: {results['machine']}")
        print(f"logs and journal: {home}")
        saved = save_results(results, args.json)
        print(f"raw results: {', '.join(map(str, saved))}")
        if not args.no_readme:
            README.write_text(replace_section(README.read_text(), SECTION,
                                              readme_body(results, rows)))
            print(f"updated {README.relative_to(ROOT)} ({SECTION[3:]})")
        lost = sum(r["lost_commits"] for rs in runs.values() for r in rs)
        assert lost == 0, f"{lost} acknowledged commits were lost"
    finally:
        if args.down:
            hisops("lab", "down", env=env, check=False)
        else:
            print(f"bench lab kept; remove it with: HISOPS_LAB_NAME={LAB} HISOPS_LAB_PORT_BASE="
                  f"{PORT_BASE} HISOPS_LAB_DIR={LAB_DIR} {HISOPS} lab down")
    return 0


def save_results(results: dict[str, Any], extra: Path | None) -> list[Path]:
    from _ratios import patch_ratios
    from _results import save  # benchmarks/ is on sys.path when run as a script

    if results.get("runs"):  # the machine-readable ratios bench_all.py collects
        results["ratios"] = patch_ratios(results, OUTAGE_TARGET_S)
    paths = [save("bench_patch", results)]
    if extra is not None:
        extra.write_text(json.dumps(results, indent=2, default=str))
        paths.append(extra)
    return paths


if __name__ == "__main__":
    sys.exit(main())
