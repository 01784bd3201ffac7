"""The pure helpers of bench_baseline.py: the bench inventory it writes, the checks it makes of
every report, and every figure it prints. tests/unit/test_bench_baseline.py checks them
without a lab."""

from __future__ import annotations

import copy
import math
import statistics
import textwrap
from typing import Any

# the groups the bench inventory keeps: the CIS baseline's scope
DB_GROUPS = ("db_primary", "db_standby", "db_replica")
SIZES = (1, 5, 20)  # hosts per check
TARGET_S = {1: 3.0, 20: 20.0}  # issue 6: wall time of the whole command
PREDICT_HOSTS = 100


def psql_sessions(request: dict[str, Any]) -> int:
    """How many psql sessions remote_probe.py opens for REQUEST: settings, file settings and
    the server state always, then one each for pg_hba, roles and every extension database."""
    pg = request.get("pg")
    if not pg:
        return 0
    return 3 + bool(pg.get("hba")) + bool(pg.get("roles")) + len(pg.get("extension_dbs") or [])


def light_pg_port(port_base: int, index: int, stride: int = 100) -> int:
    """A light host's PostgreSQL port, from the lab's scheme (base + 100 + host index)."""
    return port_base + stride + index


def bench_inventory(lab_inventory: dict[str, Any], pg_ports: dict[str, int],
                    light_group: str = "db_primary") -> dict[str, Any]:
    """The lab's generated inventory cut down to the PostgreSQL hosts named in PG_PORTS.

    Each host keeps the connection settings the lab wrote (127.0.0.1, its ssh port, key,
    known_hosts) and gets its ``pg_port``; the hosts that were in no database group (the light
    app hosts, which now run a cluster) are put in LIGHT_GROUP. Only the database groups are
    kept, so no other host can come into a check's scope. The lab's variables stay as they are.
    """
    env_name, env = _only_child(lab_inventory)
    hosts: dict[str, Any] = env.get("hosts") or {}
    unknown = sorted(set(pg_ports) - set(hosts))
    if unknown:
        raise ValueError(f"not in the lab's inventory: {', '.join(unknown)}")
    groups: dict[str, Any] = env.get("children") or {}
    members = {g: [h for h in (groups.get(g) or {}).get("hosts") or {} if h in pg_ports]
               for g in DB_GROUPS}
    placed = {h for names in members.values() for h in names}
    members[light_group] += [h for h in hosts if h in pg_ports and h not in placed]
    new_hosts = {}
    for name, hv in hosts.items():  # the lab's order
        if name in pg_ports:
            new_hosts[name] = {**copy.deepcopy(hv or {}), "pg_port": pg_ports[name]}
    children = {g: {"hosts": dict.fromkeys(names)} for g, names in members.items() if names}
    return {"all": {"children": {env_name: {
        "hosts": new_hosts, "vars": copy.deepcopy(env.get("vars") or {}),
        "children": children}}}}


LAB_ENV = "env_lab"  # the lab's own environment (env_test beside it is left out)


def _only_child(inventory: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    children = ((inventory.get("all") or {}).get("children") or {})
    if LAB_ENV not in children:
        raise ValueError(f"expected the {LAB_ENV} group under all, found {sorted(children)}")
    return LAB_ENV, children[LAB_ENV] or {}


def limit_pattern(hosts: list[str]) -> str:
    """An Ansible limit naming exactly HOSTS."""
    return ":".join(hosts)


def verify_report(report: dict[str, Any], expected: list[str]) -> list[str]:
    """What is wrong with a check's JSON report, [] when it read every host it should have.

    A run that read nothing must not count as a fast run: every expected host is there, none
    is unreadable, no item errored (an errored item is one whose part, e.g. PostgreSQL, could
    not be read) and every host has judged items.
    """
    problems = []
    summary = report.get("summary") or {}
    if summary.get("hosts") != len(expected):
        problems.append(f"summary.hosts is {summary.get('hosts')}, expected {len(expected)}")
    got = [h.get("host") for h in report.get("hosts") or []]
    if sorted(got) != sorted(expected):
        problems.append(f"hosts {sorted(got)} are not the limited {sorted(expected)}")
    if summary.get("unreadable", 1) != 0:
        problems.append(f"{summary.get('unreadable')} host(s) unreadable")
    if summary.get("error", 1) != 0:
        problems.append(f"{summary.get('error')} item(s) could not be judged")
    for host in report.get("hosts") or []:
        if host.get("error"):
            problems.append(f"{host.get('host')}: {host['error']}")
        elif not any(r.get("status") in ("ok", "drift") for r in host.get("results") or []):
            problems.append(f"{host.get('host')}: no item judged")
    return problems


def summarize(values: list[float]) -> dict[str, float | int | None]:
    """Median, min and max of VALUES (rounded to ms), and how many there are."""
    if not values:
        return {"n": 0, "median": None, "min": None, "max": None}
    return {"n": len(values), "median": round(statistics.median(values), 3),
            "min": round(min(values), 3), "max": round(max(values), 3)}


def per_host_increment(t_small: float, n_small: int, t_large: float, n_large: int) -> float:
    """Seconds each host adds between N_SMALL and N_LARGE hosts (the slope of the line)."""
    if n_large <= n_small:
        raise ValueError("n_large must be more than n_small")
    return (t_large - t_small) / (n_large - n_small)


def predict(n: int, *, probe_1: float, probe_5: float, probe_20: float, at_once_20: float,
            fixed: float, max_workers: int = 20) -> dict[str, float]:
    """Probe and wall time of a check of N hosts, three ways, from what was measured: the
    probe (the report's duration_s) for 1, 5 and 20 hosts, 20 hosts' commands all started at
    once (AT_ONCE_20), and the fixed cost outside the probe (CLI start-up, loading the
    baseline and inventory, the report and the journal).

    - serial: the per-host increment from 5 to 20 hosts carried on, which is what the check
      does when every host gets a command of its own (collect runs one command's hosts at a
      time, and the command names the host's pg_port: on the lab every host has its own);
    - one command, here: every host the same command, one executor call running MAX_WORKERS
      (20, the size measured at once) hosts at a time on this machine, each round taking what
      20 at once took;
    - one command, own servers: the same, with the hosts' side on their own machines, each
      round taking a single host's probe (latency, not this machine's CPU).
    """
    slope = per_host_increment(probe_5, 5, probe_20, 20)
    rounds = math.ceil(n / max_workers)
    serial = probe_20 + (n - 20) * slope
    here = rounds * at_once_20
    servers = rounds * probe_1
    return {"per_host_s": round(slope, 4), "rounds": rounds,
            "serial_probe_s": round(serial, 2), "serial_wall_s": round(serial + fixed, 2),
            "one_command_here_probe_s": round(here, 2),
            "one_command_here_wall_s": round(here + fixed, 2),
            "one_command_servers_probe_s": round(servers, 2),
            "one_command_servers_wall_s": round(servers + fixed, 2)}


def cpu_times(proc_stat: str) -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs from /proc/stat's first line; iowait counts as idle."""
    fields = proc_stat.splitlines()[0].split()
    if fields[0] != "cpu":
        raise ValueError("not /proc/stat")
    values = [float(v) for v in fields[1:]]
    # user nice system idle iowait irq softirq steal (guest time is in user already)
    total = sum(values[:8])
    idle = values[3] + (values[4] if len(values) > 4 else 0.0)
    return total - idle, total


def busy_fraction(before: str, after: str) -> float | None:
    """How busy all CPUs were between two /proc/stat readings (0..1), None when no time passed."""
    b0, t0 = cpu_times(before)
    b1, t1 = cpu_times(after)
    return None if t1 <= t0 else round((b1 - b0) / (t1 - t0), 3)


def busy_seconds(before: str, after: str, clock_ticks: int) -> float:
    """CPU-seconds all CPUs spent busy between two /proc/stat readings (CLOCK_TICKS a second)."""
    return round((cpu_times(after)[0] - cpu_times(before)[0]) / clock_ticks, 2)


def verdict(value: float | None, target: float) -> str:
    return "n/a" if value is None else ("PASS" if value < target else "FAIL")




def markdown(rows: list[tuple[str, ...]]) -> str:
    out = ["| " + " | ".join(rows[0]) + " |", "|" + " --- |" * len(rows[0])]
    out += ["| " + " | ".join(c.replace("|", "/") for c in r) + " |" for r in rows[1:]]
    return "\n".join(out)


# --- the figures and how they are shown --------------------------------------------------------

def figures(runs: dict[int, list[dict[str, Any]]], side: list[dict[str, Any]],
            max_workers: int) -> dict[str, Any]:
    per_size: dict[str, Any] = {}
    for n, rs in runs.items():
        wall = summarize([r["wall_s"] for r in rs])
        per_size[str(n)] = {
            "wall_s": wall, "duration_s": summarize([r["duration_s"] for r in rs]),
            "outside_probe_s": summarize([r["wall_s"] - r["duration_s"] for r in rs]),
            "cpu_busy": summarize([r["cpu_busy"] for r in rs if r["cpu_busy"] is not None]),
            "cli_cpu_s": summarize([r["cli_cpu_s"] for r in rs]),
            "machine_cpu_s": summarize([r["machine_cpu_s"] for r in rs]),
            "items_checked": rs[0]["checked"] if rs else None,
            "target_s": TARGET_S.get(n),
            "verdict": verdict(wall["max"], TARGET_S[n]) if n in TARGET_S else None,
        }
    med = {n: per_size[str(n)]["duration_s"]["median"] for n in SIZES}
    wall_med = {n: per_size[str(n)]["wall_s"]["median"] for n in SIZES}
    fixed = round(statistics.median([per_size[str(n)]["outside_probe_s"]["median"]
                                     for n in SIZES]), 3)
    growth = {
        "probe_per_host_s_5_to_20": round((med[20] - med[5]) / 15, 4),
        "wall_per_host_s_5_to_20": round((wall_med[20] - wall_med[5]) / 15, 4),
        "cli_cpu_per_host_s_5_to_20": round(
            (per_size["20"]["cli_cpu_s"]["median"] - per_size["5"]["cli_cpu_s"]["median"]) / 15,
            4),
        "machine_cpu_per_host_s_5_to_20": round(
            (per_size["20"]["machine_cpu_s"]["median"]
             - per_size["5"]["machine_cpu_s"]["median"]) / 15, 4),
        "outside_probe_s": fixed,
    }
    here: dict[str, Any] = {key: summarize([r[key] for r in side])
            for key in ("ssh_true_s", "ssh_true_cpu_s", "at_once_s", "at_once_cpu_s")}
    here["hosts"] = side[0]["hosts"]
    here["distinct_commands"] = side[0]["distinct_commands"]
    here["psql_sessions"] = side[0]["psql_sessions"]
    # the same rounds' CLI probe of 20 hosts against the same commands started at once
    here["serial_vs_at_once"] = round(statistics.median(
        r["duration_s"] / o["at_once_s"] for r, o in zip(runs[20], side, strict=True)), 2)
    prediction = predict(PREDICT_HOSTS, probe_1=med[1], probe_5=med[5], probe_20=med[20],
                         at_once_20=here["at_once_s"]["median"], fixed=fixed,
                         max_workers=max_workers)
    prediction.update({"hosts": PREDICT_HOSTS, "max_workers": max_workers})
    return {"sizes": per_size, "growth": growth, "in_process_20": here,
            "prediction": prediction}


def summary_rows(fig: dict[str, Any]) -> list[tuple[str, ...]]:
    def cell(stats: dict[str, Any], digits: int = 2, pct: bool = False) -> str:
        if stats["median"] is None:
            return "-"
        if pct:
            return f"{stats['median']:.0%} (max {stats['max']:.0%})"
        return f"{stats['median']:.{digits}f} (max {stats['max']:.{digits}f})"

    sizes = fig["sizes"]
    rows: list[tuple[str, ...]] = [("figure", *(f"{n} host{'s' * (n > 1)}" for n in SIZES))]
    rows.append(("wall time (CLI), s: median (max)", *(cell(sizes[str(n)]["wall_s"])
                                                       for n in SIZES)))
    rows.append(("target", *(f"< {TARGET_S[n]:.0f} s {sizes[str(n)]['verdict']}"
                             if n in TARGET_S else "-" for n in SIZES)))
    rows.append(("probe (report duration_s), s", *(cell(sizes[str(n)]["duration_s"])
                                                   for n in SIZES)))
    rows.append(("outside the probe (start-up, load, report), s",
                 *(cell(sizes[str(n)]["outside_probe_s"]) for n in SIZES)))
    rows.append(("CPU busy, both cores", *(cell(sizes[str(n)]["cpu_busy"], pct=True)
                                           for n in SIZES)))
    rows.append(("CLI process CPU, s", *(cell(sizes[str(n)]["cli_cpu_s"]) for n in SIZES)))
    rows.append(("whole machine CPU, s", *(cell(sizes[str(n)]["machine_cpu_s"])
                                           for n in SIZES)))
    here = fig["in_process_20"]
    rows.append(("in-process: the check's commands at once, s", "-", "-",
                 cell(here["at_once_s"])))
    rows.append(("in-process: at once, whole machine CPU, s", "-", "-",
                 cell(here["at_once_cpu_s"])))
    rows.append(("in-process: SSH alone (`true`), s", "-", "-", cell(here["ssh_true_s"])))
    rows.append(("items judged per run", *(str(sizes[str(n)]["items_checked"])
                                           for n in SIZES)))
    return rows


def _para(text: str, bullet: bool = False) -> str:
    return textwrap.fill(text, width=100, initial_indent="- " if bullet else "",
                         subsequent_indent="  " if bullet else "", break_on_hyphens=False)


def readme_body(results: dict[str, Any], rows: list[tuple[str, ...]]) -> str:
    m, fig, lab = results["machine"], results["figures"], results["setup"]
    g, p = fig["growth"], fig["prediction"]
    sizes, c, h = fig["sizes"], results["psql_cost"], fig["in_process_20"]
    return "\n".join([
        _para("`.venv/bin/python benchmarks/bench_baseline.py [--repeat 5] [--keep] "
              "[--no-readme]` times `hisops baseline check cis-postgresql-15 -i BENCH_INV "
              "--json` as a user runs it (a fresh process each time, Python start-up included) "
              "with `-l` limited to 1, 5 and 20 hosts: one warm-up each, then "
              f"{results['repeat']} rounds of 1, 5, 20 in turn. It runs on its own lab "
              f"(`{lab['lab']}`, ports {lab['ports']}, containers `hisops-{lab['lab']}-*`, its "
              f"own journal) with `--hosts {lab['light_hosts']}`; each light "
              "host gets a PostgreSQL 15 cluster made as the lab makes its primary (data "
              "checksums, 127.0.0.1 only, shared_buffers 32MB, port base + 100 + index), so "
              "all 20 hosts are real PostgreSQL hosts reached over SSH at 127.0.0.1. Every "
              "report is checked (summary.hosts is the host count, no host unreadable, no item "
              "unjudged) or the benchmark fails. The lab is taken down at the end."),
        "",
        _para(f"Measured {results['date']} on {m['nproc']} cores / {m['memory_gib']} GiB with "
              f"{m['other_containers']} containers of other labs running beside it; load "
              f"average at the start {', '.join(f'{v:.2f}' for v in m['load_at_start'])}. "
              f"Product: {results['product']}. Whole benchmark "
              f"{results['total_s']:.0f} s (lab up {results['lab_up_s']:.0f} s, light "
              f"clusters {results['light_clusters_s']:.0f} s, checks "
              f"{results['checks_s']:.0f} s, lab down {results.get('lab_down_s') or 0:.0f} s)."),
        "",
        markdown(rows),
        "",
        _para(f"*Growth*: from 5 to 20 hosts each host adds {g['probe_per_host_s_5_to_20']:.3f}"
              f" s to the probe ({g['wall_per_host_s_5_to_20']:.3f} s to the wall time) and "
              f"{g['machine_cpu_per_host_s_5_to_20']:.2f} CPU-s to the machine, of which "
              f"{g['cli_cpu_per_host_s_5_to_20']:.3f} CPU-s in the CLI process; the fixed cost "
              f"outside the probe is about {g['outside_probe_s']:.2f} s.", bullet=True),
        _para(f"*Orchestration*: the {h['hosts']} hosts got {h['distinct_commands']} distinct "
              "probe commands (each lab host has its own port); `collect` runs every command "
              "group in its own thread, so all hosts are probed at once. The same commands "
              f"started all at once in-process took {h['at_once_s']['median']:.2f} s against "
              f"the check's {sizes['20']['duration_s']['median']:.2f} s probe "
              f"({h['serial_vs_at_once']:.1f}x).", bullet=True),
        _para(f"*{p['hosts']} hosts* at the SSH executor's default parallelism "
              f"({p['max_workers']} at a time): the per-host increment carried on gives "
              f"about **{p['serial_wall_s']:.0f} s** (probe {p['serial_probe_s']:.1f} s; an "
              "upper bound, the increment was measured on 2 shared cores). In rounds (clusters "
              f"on the same port): {p['rounds']} rounds of {p['max_workers']}, about "
              f"{p['one_command_here_wall_s']:.0f} s on this machine ({p['rounds']} x the "
              f"{h['at_once_s']['median']:.2f} s that 20 at once took) and about "
              f"{p['one_command_servers_wall_s']:.0f} s with the hosts' side on their own "
              f"servers ({p['rounds']} x a single host's {sizes['1']['duration_s']['median']:.2f}"
              " s probe), start-up included.", bullet=True),
        _para("*What limits it on this machine*: the CLI, every host's sshd, the probe's python3 "
              f"and psql and the backends share {m['nproc']} cores (every host is a container "
              f"here); at 20 hosts the CPUs were {sizes['20']['cpu_busy']['median']:.0%} busy "
              "(median, other users' work included). SSH itself is cheap (`true` on 20 hosts: "
              f"{h['ssh_true_s']['median']:.2f} s) and the CLI process used "
              f"{g['cli_cpu_per_host_s_5_to_20']:.3f} CPU-s per extra host: nearly all of a "
              "host's cost is on the host's side. 20 hosts at once cost the machine "
              f"{h['at_once_cpu_s']['median']:.1f} CPU-s, so on {m['nproc']} cores they cannot "
              f"take much less than {h['at_once_cpu_s']['median'] / m['nproc']:.1f} s here.",
              bullet=True),
        _para(f"*One psql session*, as the probe runs it (`runuser -u postgres -- psql ... -c "
              f"'SELECT 1'`, measured on {c['host']} in the same run, {c['calls']} calls, "
              f"twice, alternated): {c['pg_wrapper_ms']:.0f} ms through Debian's "
              f"`/usr/bin/psql` (pg_wrapper, a Perl script) against {c['binary_ms']:.0f} ms "
              f"with `/usr/lib/postgresql/15/bin/psql` ({c['ratio']:.1f}x): the probe uses the "
              "binary, in one session for everything but extensions; a single host's probe "
              f"took {sizes['1']['duration_s']['median'] * 1000:.0f} ms.", bullet=True),
        *([_para(results["note"], bullet=True)] if results.get("note") else []),
    ])
