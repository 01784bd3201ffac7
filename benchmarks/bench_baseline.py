"""Benchmark ``hisops baseline check`` of the CIS baseline on 1, 5 and 20 real PostgreSQL hosts
(issue 6's targets: 20 hosts under 20 s, one host under 3 s).

On its own lab (HISOPS_LAB_NAME=benchbl, ports 24000-24299, containers hisops-benchbl-*, its own
lab dir, journal and inventory) so the developer's lab on 22200-22499 is left alone:

1. ``hisops lab up --hosts 17``: the three database hosts his-db-1..3 (primary, streaming
   standby, logical subscriber) plus 17 light hosts app-1..17 that run sshd only;
2. on each light host, a PostgreSQL 15 cluster made as the lab makes its primary (pgsetup:
   data checksums, 127.0.0.1 only, shared_buffers 32MB) on port base + 100 + host index;
3. a bench inventory of those 20 hosts from the lab's generated one (the light hosts in
   db_primary, each with its pg_port; 127.0.0.1, keys and known_hosts as the lab wrote them);
4. ``hisops baseline check cis-postgresql-15 -i BENCH_INV --json`` as a user runs it (a fresh
   process: Python start-up included), ``-l`` limited to 1, 5 and 20 hosts: one warm-up each,
   then REPEAT rounds of 1, 5, 20 in turn so load changes hit every size alike. Every report is
   checked (all hosts read, none unreadable, no item unjudged) or the benchmark fails.
5. the lab is taken down at the end, also on failure (``--keep`` keeps it).

Run: .venv/bin/python benchmarks/bench_baseline.py [--repeat 5] [--keep] [--no-readme]
     [--json out.json] [--note TEXT]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "cis-postgresql-15"
README = Path(__file__).resolve().parent / "README.md"
SECTION = "## Baselines (issue 6)"
CHECK_TIMEOUT_S = 300

# the figures' arithmetic (benchmarks/ is on sys.path when this runs as a script)
from _baseline_lab import (  # noqa: E402
    SIZES,
    TARGET_S,
    busy_fraction,
    busy_seconds,
    figures,
    limit_pattern,
    psql_sessions,
    readme_body,
    summary_rows,
    verify_report,
)
from _benchlab import HISOPS, table  # noqa: E402
from _patch_metrics import replace_section  # noqa: E402
from _pg_benchlab import PgBenchLab, max_workers_default, product_state  # noqa: E402
from _pg_benchlab import machine as machine_of  # noqa: E402

BENCH = PgBenchLab(name="benchbl", port_base=24000, writer="bench_baseline")
LAB, PORT_BASE, LIGHT_HOSTS = BENCH.name, BENCH.port_base, BENCH.light_hosts
LAB_DIR, RUNS_DIR, BENCH_INVENTORY = BENCH.lab_dir, BENCH.runs_dir, BENCH.inventory


def lab_env(home: Path) -> dict[str, str]:
    return BENCH.lab_env(home)


def settings_of(env: dict[str, str]) -> Any:
    return BENCH.settings_of(env)


# --- the measured runs ---------------------------------------------------------------------------

def one_check(env: dict[str, str], hosts: list[str], out_dir: Path, tag: str) -> dict[str, Any]:
    """One ``hisops baseline check --json`` limited to HOSTS: wall time, CPU, the report."""
    stat0 = Path("/proc/stat").read_text()
    load = os.getloadavg()[0]
    ru0 = os.times()
    start = time.perf_counter()
    proc = subprocess.run(
        [HISOPS, "baseline", "check", BASELINE, "-i", str(BENCH_INVENTORY),
         "-l", limit_pattern(hosts), "--json"],
        env=env, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL,
        timeout=CHECK_TIMEOUT_S)
    wall = time.perf_counter() - start
    ru1 = os.times()
    stat1 = Path("/proc/stat").read_text()
    (out_dir / f"{tag}.json").write_text(proc.stdout)
    (out_dir / f"{tag}.err").write_text(proc.stderr)
    if proc.returncode not in (0, 1):  # 0 clean, 1 drift; anything else is a failed check
        raise SystemExit(f"check {tag} exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
    try:
        report = json.loads(proc.stdout)
    except ValueError as exc:
        raise SystemExit(f"check {tag} printed no JSON report ({exc})") from None
    problems = verify_report(report, hosts)
    if problems:
        raise SystemExit(f"check {tag} did not read every host: {'; '.join(problems)}")
    summary = report["summary"]
    return {"hosts": len(hosts), "wall_s": round(wall, 3), "duration_s": report["duration_s"],
            "rc": proc.returncode, "load_before": round(load, 2),
            "cpu_busy": busy_fraction(stat0, stat1),
            # everything on the machine: the CLI, sshd, python3, psql and the backends (other
            # users' work too, if any runs at the time)
            "machine_cpu_s": busy_seconds(stat0, stat1, os.sysconf("SC_CLK_TCK")),
            # the CLI process and its children (the SSH client is paramiko, in-process)
            "cli_cpu_s": round((ru1.children_user - ru0.children_user)
                               + (ru1.children_system - ru0.children_system), 2),
            "checked": summary["checked"], "ok": summary["ok"], "drift": summary["drift"],
            "not_applicable": summary["not_applicable"], "run_id": report["run_id"]}


def in_process(hosts: list[str]) -> dict[str, Any]:
    """Beside the CLI runs, two probes of HOSTS in this process (no CLI start-up):

    - SSH alone: ``true`` through the executor and connections the check uses;
    - at once: the check's own per-host commands, one executor call per host, all started
      together (at most run_command's max_workers): the floor the check's own probe (every
      command group in its own thread) is compared with.
    """
    from hisops.baselines import collect
    from hisops.baselines.check import hosts_in_scope
    from hisops.baselines.loader import load_baseline
    from hisops.executors import ssh as ssh_exec
    from hisops.inventory import Inventory

    inv = Inventory(BENCH_INVENTORY)
    per_host, _ = hosts_in_scope(load_baseline(BASELINE), inv, limit_pattern(hosts))
    requests = {h: collect.build_request(items, int(inv.host_vars(h)["pg_port"]))
                for h, items in per_host.items()}
    commands = {h: collect.command_for(r) for h, r in requests.items()}
    conns = {h: ssh_exec.connection_for(h, inv.host_vars(h)) for h in per_host}
    ticks = os.sysconf("SC_CLK_TCK")

    def timed(work: Any) -> tuple[Any, float, float]:
        stat0, start = Path("/proc/stat").read_text(), time.perf_counter()
        out = work()
        took, stat1 = time.perf_counter() - start, Path("/proc/stat").read_text()
        return out, round(took, 3), busy_seconds(stat0, stat1, ticks)

    outcomes, ssh_s, ssh_cpu = timed(lambda: ssh_exec.run_command(
        list(conns.values()), "true", timeout_s=60))
    failed = sorted(h for h, o in outcomes.items() if not o.status.is_success)
    if failed:
        raise SystemExit(f"ssh true failed on {', '.join(failed)}")

    def one(host: str) -> Any:
        outcome = ssh_exec.run_command([conns[host]], commands[host], timeout_s=60)[host]
        return collect.parse(host, outcome)

    def at_once() -> list[Any]:
        with ThreadPoolExecutor(max_workers=max_workers_default()) as pool:
            return list(pool.map(one, per_host))

    snapshots, once_s, once_cpu = timed(at_once)
    bad = [f"{s.host}: {s.error or s.part('pg')[1]}" for s in snapshots
           if s.error or s.part("pg")[1]]
    if bad:
        raise SystemExit(f"probing at once did not read every host: {'; '.join(bad)}")
    return {"hosts": len(per_host), "distinct_commands": len(set(commands.values())),
            "psql_sessions": max(psql_sessions(r) for r in requests.values()),
            "ssh_true_s": ssh_s, "ssh_true_cpu_s": ssh_cpu,
            "at_once_s": once_s, "at_once_cpu_s": once_cpu}


PSQL_COST = r"""
each() {  # mean wall ms of one call of "$@", over $N calls
  local s0 s1; s0=$(date +%s%N)
  for _ in $(seq "$N"); do "$@" >/dev/null; done
  s1=$(date +%s%N); echo $(( (s1 - s0) / N / 1000 ))
}
q=(-X -At -h /var/run/postgresql -p "$PORT" -d postgres -c 'SELECT 1')
for _ in 1 2; do  # alternated, so load changes hit both alike
  echo "wrapper $(each runuser -u postgres -- psql "${q[@]}")"
  echo "binary $(each runuser -u postgres -- "/usr/lib/postgresql/$MAJOR/bin/psql" "${q[@]}")"
done
"""


def psql_cost(env: dict[str, str], host: str, port: int, calls: int = 20) -> dict[str, Any]:
    """Wall ms of one ``runuser -u postgres -- psql -c 'SELECT 1'`` on HOST, as the probe runs
    it (Debian's /usr/bin/psql is pg_wrapper, a Perl script) and with the cluster's own psql
    binary: side by side, to show what each of the probe's psql sessions costs."""
    from hisops.lab import containers, podman
    from hisops.lab.settings import PG_MAJOR

    name = containers.container_name(settings_of(env), host)
    out = podman.exec_in(name, ["env", f"N={calls}", f"PORT={port}", f"MAJOR={PG_MAJOR}",
                                "bash", "-euo", "pipefail", "-c", PSQL_COST]).stdout
    got: dict[str, list[float]] = {}
    for line in out.split("\n"):
        label, _, micros = line.partition(" ")
        if micros.strip().isdigit():
            got.setdefault(label, []).append(int(micros) / 1000)
    if set(got) != {"wrapper", "binary"}:
        raise SystemExit(f"psql cost on {host}: unexpected output {out!r}")
    wrapper, binary = statistics.median(got["wrapper"]), statistics.median(got["binary"])
    return {"host": host, "calls": calls, "pg_wrapper_ms": round(wrapper, 1),
            "binary_ms": round(binary, 1), "ratio": round(wrapper / binary, 2)}


def measure(env: dict[str, str], hosts: list[str], repeat: int, out_dir: Path,
            ) -> tuple[dict[int, dict[str, Any]], dict[int, list[dict[str, Any]]],
                       list[dict[str, Any]]]:
    warm: dict[int, dict[str, Any]] = {}
    side: list[dict[str, Any]] = []
    runs: dict[int, list[dict[str, Any]]] = {n: [] for n in SIZES}
    for n in SIZES:
        warm[n] = one_check(env, hosts[:n], out_dir, f"warmup-{n}")
        print(f"warm-up {n:>2} hosts: {warm[n]['wall_s']:.2f} s wall, probe "
              f"{warm[n]['duration_s']:.2f} s", flush=True)
    for round_no in range(1, repeat + 1):
        for n in SIZES:
            r = one_check(env, hosts[:n], out_dir, f"round{round_no}-{n}")
            runs[n].append(r)
            print(f"round {round_no} {n:>2} hosts: {r['wall_s']:.2f} s wall, probe "
                  f"{r['duration_s']:.2f} s, CPU {r['cpu_busy']:.0%} busy, CLI "
                  f"{r['cli_cpu_s']:.2f} CPU-s, load {r['load_before']:.2f}; "
                  f"{r['checked']} items ({r['drift']} drift)", flush=True)
        extra = in_process(hosts)
        side.append(extra)
        print(f"round {round_no} in-process, {extra['hosts']} hosts: ssh true "
              f"{extra['ssh_true_s']:.2f} s ({extra['ssh_true_cpu_s']:.1f} CPU-s); the check's "
              f"commands at once {extra['at_once_s']:.2f} s ({extra['at_once_cpu_s']:.1f} CPU-s)"
              f"; {extra['distinct_commands']} distinct commands", flush=True)
    return warm, runs, side


# --- the figures ---------------------------------------------------------------------------------

def machine(load_at_start: tuple[float, float, float]) -> dict[str, Any]:
    return machine_of(LAB, load_at_start)


def save_results(results: dict[str, Any], extra: Path | None) -> list[Path]:
    from _ratios import fanout_ratios, ratio_row
    from _results import RESULTS, save  # benchmarks/ is on sys.path when run as a script

    if "figures" in results:  # the machine-readable ratios bench_all.py collects
        sizes = results["figures"]["sizes"]
        results["ratios"] = [
            *fanout_ratios("baseline check", results["figures"], None),
            *(ratio_row(f"baseline check, {n} host(s) (max wall)", sizes[str(n)]["wall_s"]["max"],
                        "target", t, target=1.0) for n, t in TARGET_S.items())]
    paths = [save("bench_baseline", results)]
    latest = RESULTS / "baseline.json"  # the latest run, at a fixed name
    latest.write_text(json.dumps(results, indent=2, default=str))
    paths.append(latest)
    if extra is not None:
        extra.write_text(json.dumps(results, indent=2, default=str))
        paths.append(extra)
    return paths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="measured rounds (default 5)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--no-readme", action="store_true", help="do not update README.md")
    parser.add_argument("--note", default="", help="a sentence for the README section")
    parser.add_argument("--keep", action="store_true", help="keep the bench lab at the end")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    t_start = time.perf_counter()
    load_at_start = os.getloadavg()
    home = RUNS_DIR / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    reports = home / "reports"
    reports.mkdir(parents=True)
    env = lab_env(home)
    BENCH.check_ports(env)
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine(load_at_start),
        "product": product_state(("pylib", "baselines")), "baseline": BASELINE,
        "repeat": args.repeat, "state": str(home), "note": args.note,
        "targets_s": {str(k): v for k, v in TARGET_S.items()},
        "setup": {"lab": LAB, "ports": BENCH.ports,
                  "light_hosts": LIGHT_HOSTS}}
    try:
        hosts = BENCH.bring_up(env, results, max(SIZES))
        t0 = time.perf_counter()
        warm, runs, side = measure(env, hosts, args.repeat, reports)
        results["checks_s"] = round(time.perf_counter() - t0, 1)
        results["warmup"] = {str(n): r for n, r in warm.items()}
        results["runs"] = {str(n): rs for n, rs in runs.items()}
        results["psql_cost"] = cost = psql_cost(env, hosts[-1], results["hosts"][hosts[-1]])
        print(f"one psql session on {cost['host']}: {cost['pg_wrapper_ms']:.0f} ms through "
              f"pg_wrapper, {cost['binary_ms']:.0f} ms with the binary", flush=True)
        results["in_process"] = side
        results["figures"] = figures(runs, side, max_workers_default())
    finally:
        if args.keep:
            print(f"bench lab kept; remove it with: {BENCH.down_command()}")
        else:
            took = BENCH.down(env)
            results["lab_down_s"] = round(took, 1)
            print(f"bench lab down in {took:.1f} s", flush=True)
    results["total_s"] = round(time.perf_counter() - t_start, 1)
    rows = summary_rows(results["figures"])
    print("\n" + table(rows))
    g, p = results["figures"]["growth"], results["figures"]["prediction"]
    print(f"\nper host (5 -> 20): probe +{g['probe_per_host_s_5_to_20']:.3f} s, wall "
          f"+{g['wall_per_host_s_5_to_20']:.3f} s; predicted for {p['hosts']} hosts at "
          f"max_workers={p['max_workers']}: serial (as measured) wall {p['serial_wall_s']:.1f} s;"
          f" one command for all: {p['one_command_here_wall_s']:.1f} s here, "
          f"{p['one_command_servers_wall_s']:.1f} s with hosts on their own servers")
    print(f"whole benchmark: {results['total_s']:.0f} s; reports and journal: {home}")
    saved = save_results(results, args.json)
    print(f"raw results: {', '.join(map(str, saved))}")
    if not args.no_readme:
        README.write_text(replace_section(README.read_text(), SECTION,
                                          readme_body(results, rows)))
        print(f"updated {README.relative_to(ROOT)} ({SECTION[3:]})")
    failed = [n for n in TARGET_S if results["figures"]["sizes"][str(n)]["verdict"] != "PASS"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
