"""Benchmark Ansible's connection settings on 20 lab hosts through the project's executor:
SSH pipelining, ControlPersist, forks and fact gathering (issue 11), against the shipped defaults.

On its own lab (HISOPS_LAB_NAME=benchset, ports 25800-26099, containers hisops-benchset-*, its own
lab dir and runs dir) so no other lab is touched:

1. ``hisops lab up --hosts 17``: his-db-1..3 and 17 light hosts app-1..17, 20 hosts reached over
   SSH at 127.0.0.1 with strict host-key checking (the lab's known_hosts);
2. a job as a runbook runs it: two playbook steps (``benchmarks/ansible_job/``: 6 typical tasks,
   modules, files, a command, a become to postgres) on all 20 hosts, each step one
   ``hisops.executors.ansible.run_playbook`` call, so the project's environment (``_ansible_env``)
   and ansible-runner apply exactly as in ``hisops run``; every job runs in a fresh Python process
   with a fresh ControlPath directory (a new ``hisops run``), and every host must end ok;
3. variants, each changing ONE setting of the shipped defaults (the repo's ansible.cfg, read
   through ANSIBLE_CONFIG, plus the executor's env and forks): pipelining off, ControlPersist off,
   a 600 s ControlPersist, forks 5 / 10 / 20, fact gathering implicit (facts for every play);
   one warm-up job, then ROUNDS rounds in which every variant runs next to a shipped job of its
   own (which side goes first alternates each round), so a load change hits both sides of each
   ratio alike. Reported: median time of the two steps, the median of the paired ratios to the
   shipped defaults, and which is fastest among the safe ones.

Safety: pipelining needs sudo without ``requiretty`` (checked on a lab host: the sudoers defaults
are read and recorded); host-key checking stays on in every variant.

Run: .venv/bin/python benchmarks/bench_ansible.py [--rounds 3] [--keep] [--json out.json]
"""

from __future__ import annotations

import argparse
import configparser
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
JOB_DIR = Path(__file__).resolve().parent / "ansible_job"
STEPS = ("step1.yml", "step2.yml")
ANSIBLE_CFG = ROOT / "ansible.cfg"

from _benchlab import hisops, refuse_foreign_ports  # noqa: E402
from _pg_benchlab import machine, product_state  # noqa: E402
from _ratios import ansible_ratios, median  # noqa: E402
from _results import save  # noqa: E402

LAB, PORT_BASE, SPAN = "benchset", 25800, 300
LAB_DIR = Path.home() / ".hisops" / LAB
RUNS_DIR = Path.home() / ".hisops" / f"{LAB}-runs"
HOSTS = ["his-db-1", "his-db-2", "his-db-3", *(f"app-{i}" for i in range(1, 18))]

CP_OFF = "-o ControlMaster=no"
NOISE = 0.10  # a variant must be 10 % faster than shipped to count as faster
ANCHOR = "shipped"


def shipped_settings() -> dict[str, str]:
    """The [defaults] and [ssh_connection] settings of the repo's ansible.cfg."""
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(ANSIBLE_CFG)
    return {**dict(cfg["defaults"]), **dict(cfg["ssh_connection"])}


def variants(shipped: dict[str, str], product_forks: int) -> dict[str, dict[str, Any]]:
    """name -> {env: overrides of the executor's env, forks: N}; each changes one setting."""
    ssh_args = shipped["ssh_args"]
    long_cp = " ".join(p if not p.startswith("ControlPersist=") else "ControlPersist=600s"
                       for p in ssh_args.split())
    out: dict[str, dict[str, Any]] = {
        ANCHOR: {"env": {}, "forks": product_forks},
        "pipelining off": {"env": {"ANSIBLE_PIPELINING": "False"}, "forks": product_forks},
        "ControlPersist off": {"env": {"ANSIBLE_SSH_ARGS": CP_OFF}, "forks": product_forks},
        "ControlPersist 600s": {"env": {"ANSIBLE_SSH_ARGS": long_cp}, "forks": product_forks},
        "gathering implicit": {"env": {"ANSIBLE_GATHERING": "implicit"},
                               "forks": product_forks},
    }
    for n in (5, 10, 20):
        if n != product_forks:
            out[f"forks {n}"] = {"env": {}, "forks": n}
    return out


# --- one job, in a child process ---------------------------------------------------------------

CHILD = r"""
import json, sys, time
from pathlib import Path
import hisops.executors.ansible as ex
spec = json.loads(sys.argv[1])
orig = ex._ansible_env
ex._ansible_env = lambda req, binary: {**orig(req, binary), **spec["env"]}
out = []
for i, pb in enumerate(spec["playbooks"]):
    req = ex.PlaybookRequest(playbook=Path(pb), role=None, pattern="all",
        inventory=Path(spec["inventory"]), private_data_dir=Path(spec["pdd"]),
        ident=f"{spec['tag']}-{i}", forks=spec["forks"])
    t = time.perf_counter()
    res = ex.run_playbook(req)
    took = time.perf_counter() - t
    bad = {h: f"{o.status.value} {o.detail}"[:200] for h, o in res.hosts.items()
           if not o.status.is_success}
    out.append({"s": took, "status": res.status, "hosts": len(res.hosts), "bad": bad,
                "changed": sum(o.changed for o in res.hosts.values())})
print(json.dumps(out))
"""


def one_job(name: str, spec: dict[str, Any], inventory: Path, work: Path, tag: str,
            base_env: dict[str, str]) -> dict[str, Any]:
    pdd = work / tag
    cp_dir = work / f"cp-{tag}"
    cp_dir.mkdir(parents=True)
    env = {**spec["env"], "ANSIBLE_SSH_CONTROL_PATH_DIR": str(cp_dir)}
    arg = json.dumps({"env": env, "forks": spec["forks"], "inventory": str(inventory),
                      "pdd": str(pdd), "tag": "j", "playbooks": [str(JOB_DIR / s)
                                                                for s in STEPS]})
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CHILD, arg], env=base_env, cwd=work,
                          capture_output=True, text=True, check=False, timeout=600,
                          stdin=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"job {name} ({tag}) failed ({proc.returncode}): "
                         f"{proc.stderr.strip()[-800:]}")
    steps = json.loads(proc.stdout.strip().splitlines()[-1])
    for s in steps:
        if s["status"] != "successful" or s["bad"] or s["hosts"] != len(HOSTS):
            raise SystemExit(f"job {name} ({tag}): not every host ok: {s}")
    # ssh masters left by ControlPersist: stop them so no variant inherits another's
    for sock in cp_dir.iterdir():
        subprocess.run(["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "x"],
                       capture_output=True, check=False, timeout=10)
    shutil.rmtree(pdd, ignore_errors=True)
    return {"s": round(sum(s["s"] for s in steps), 3), "wall_s": round(wall, 3),
            "steps_s": [round(s["s"], 3) for s in steps],
            "changed": [s["changed"] for s in steps]}


# --- the lab -----------------------------------------------------------------------------------

def lab_env() -> dict[str, str]:
    return {**os.environ, "HISOPS_LAB_NAME": LAB, "HISOPS_LAB_DIR": str(LAB_DIR),
            "HISOPS_LAB_PORT_BASE": str(PORT_BASE), "HISOPS_HOME": str(RUNS_DIR),
            "HISOPS_JOURNAL": str(RUNS_DIR / "journal.sqlite3"), "HISOPS_PROJECT": str(ROOT),
            "HISOPS_OPERATOR": "bench_ansible", "ANSIBLE_CONFIG": str(ANSIBLE_CFG)}


def bench_inventory(lab_dir: Path, out: Path) -> None:
    """The 20 hosts of the lab's inventory with the connection settings the lab wrote."""
    inv = yaml.safe_load((lab_dir / "inventory" / "hosts.yml").read_text())
    env = inv["all"]["children"]["env_lab"]
    hosts = {h: env["hosts"][h] for h in HOSTS}
    out.write_text(yaml.safe_dump({"all": {"vars": env.get("vars") or {},
                                           "children": {"bench": {"hosts": hosts}}}},
                                  sort_keys=False))


def sudoers_defaults(lab_dir: Path) -> dict[str, Any]:
    """What pipelining with become needs: no ``requiretty`` in the hosts' sudoers."""
    name = f"hisops-{LAB}-app-1"
    out = subprocess.run(["podman", "exec", name, "sh", "-c",
                          "cat /etc/sudoers /etc/sudoers.d/* 2>/dev/null | grep -E "
                          "'^[[:space:]]*Defaults'"], capture_output=True, text=True,
                         check=False).stdout
    lines = [line.strip() for line in out.splitlines()]
    requiretty = any("requiretty" in line and "!requiretty" not in line for line in lines)
    return {"host": "app-1", "defaults": lines, "requiretty": requiretty}


def summarize(times: dict[str, list[dict[str, Any]]],
              pairs: dict[str, list[tuple[float, float]]]) -> dict[str, dict[str, Any]]:
    """Per variant: its median, the median of the shipped runs it was paired with, and the
    median of the per-pair ratios (variant / the shipped run next to it)."""
    out = {}
    for name, runs in times.items():
        s = [r["s"] for r in runs]
        v: dict[str, Any] = {"median_s": round(median(s) or 0.0, 3), "min_s": min(s),
                             "max_s": max(s), "runs_s": s,
                             "wall_median_s": round(median(r["wall_s"] for r in runs) or 0.0, 3)}
        if name in pairs:
            v["anchor_median_s"] = round(median(a for a, _ in pairs[name]) or 0.0, 3)
            v["pair_ratios"] = [round(b / a, 3) for a, b in pairs[name]]
            v["ratio"] = round(median(v["pair_ratios"]) or 0.0, 3)
        else:
            v["anchor_median_s"], v["ratio"] = v["median_s"], 1.0
        out[name] = v
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the bench lab at the end")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    from hisops.executors.ansible import PlaybookRequest

    product_forks = int(PlaybookRequest.__dataclass_fields__["forks"].default)  # type: ignore[arg-type]
    shipped = shipped_settings()
    specs = variants(shipped, product_forks)
    t_start = time.perf_counter()
    results: dict[str, Any] = {
        "benchmark": "bench_ansible", "rounds": args.rounds, "hosts": len(HOSTS),
        "machine": machine(LAB, os.getloadavg()), "product": product_state(),
        "ansible_cfg": shipped, "product_forks": product_forks,
        "variants": {k: {"env": v["env"], "forks": v["forks"]} for k, v in specs.items()}}
    env = lab_env()
    RUNS_DIR.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="hisops-bench-ansible-"))
    try:
        if not (LAB_DIR / "state.json").exists():
            refuse_foreign_ports(set(), PORT_BASE, SPAN)
        took, _ = hisops("lab", "up", "--hosts", "17", "--scale", "0.01", "--json", env=env)
        results["lab_up_s"] = round(took, 1)
        print(f"bench lab up in {took:.1f} s; load {results['machine']['load_at_start']}",
              flush=True)
        inventory = work / "inventory.yml"
        bench_inventory(LAB_DIR, inventory)
        results["sudoers"] = sudo = sudoers_defaults(LAB_DIR)
        child_env = {k: v for k, v in env.items() if not k.startswith("ANSIBLE_")}
        child_env["ANSIBLE_CONFIG"] = str(ANSIBLE_CFG)
        one_job(ANCHOR, specs[ANCHOR], inventory, work, "warmup", child_env)
        times: dict[str, list[dict[str, Any]]] = {k: [] for k in specs}
        pairs: dict[str, list[tuple[float, float]]] = {k: [] for k in specs if k != ANCHOR}
        others = [k for k in specs if k != ANCHOR]
        for rnd in range(args.rounds):
            # each variant beside a shipped run of its own, the side that goes first alternating
            # each round, so a load change between two jobs hits both sides of a ratio alike
            order = others[rnd % len(others):] + others[:rnd % len(others)]
            for name in order:
                pair = [ANCHOR, name] if rnd % 2 == 0 else [name, ANCHOR]
                got = {}
                for side in pair:
                    tag = f"r{rnd}-{others.index(name)}-{pair.index(side)}"
                    got[side] = r = one_job(side, specs[side], inventory, work, tag, child_env)
                    times[side].append(r)
                    print(f"round {rnd + 1}: {side:22s} {r['s']:6.2f} s (steps "
                          f"{r['steps_s'][0]:.2f} + {r['steps_s'][1]:.2f})", flush=True)
                pairs[name].append((got[ANCHOR]["s"], got[name]["s"]))
                print(f"  {name}: {got[name]['s'] / got[ANCHOR]['s']:.2f} x shipped",
                      flush=True)
        results["pairs"] = pairs
        results["runs"] = times
        results["summary"] = summary = summarize(times, pairs)
        # every variant keeps host keys checked; with requiretty in the hosts' sudoers only
        # the variant without pipelining is safe (a become would fail or hang)
        safe = {k: v for k, v in summary.items()
                if not sudo["requiretty"] or k == "pipelining off"}
        results["safe_variants"] = sorted(safe)
        best = min(safe, key=lambda k: safe[k]["ratio"])  # paired, not raw medians
        if safe[best]["ratio"] > 1 - NOISE:  # identical runs here vary by up to 30 %
            best = ANCHOR
        results["fastest_safe"] = best
        results["ratios"] = ansible_ratios(summary, ANCHOR)
    finally:
        if not args.keep:
            took, _ = hisops("lab", "down", env=env, check=False)
            results["lab_down_s"] = round(took, 1)
        shutil.rmtree(work, ignore_errors=True)
    results["total_s"] = round(time.perf_counter() - t_start, 1)
    print(f"\n20 hosts, 2 playbook steps (6 tasks), median of {args.rounds}; "
          f"sudo requiretty on the hosts: {sudo['requiretty']}")
    for name, v in summary.items():
        print(f"  {name:22s} {v['median_s']:6.2f} s  ratio {v['ratio']:.2f}  "
              f"({v['min_s']:.2f}-{v['max_s']:.2f})")
    print(f"fastest safe: {best}; whole benchmark {results['total_s']} s")
    path = save("bench_ansible", results)
    print(f"raw results: {path}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
