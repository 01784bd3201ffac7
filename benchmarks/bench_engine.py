"""Benchmark: hisops's orchestration overhead, and planning at 1,000 hosts.

1. A 10-step runbook of small playbooks on a local connection, run with ``hisops run``,
   against the same 10 playbooks run one after another with ``ansible-playbook``. Both are
   measured side by side in one process, alternating, several rounds; the ratio of medians
   is printed. Target: at most 1.15.
2. ``hisops plan`` (the whole command, a fresh process) on a generated 1,000-host inventory.
   Target: under 2 s.

A benchmark measures; it asserts nothing. Results go to stdout and benchmarks/results/.
Run: .venv/bin/python benchmarks/bench_engine.py [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from _ratios import engine_ratios
from _results import save

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
STEPS = 10

PLAYBOOK = """---
- name: Small playbook {n}
  hosts: all
  gather_facts: false
  tasks:
    - name: Compute a value
      ansible.builtin.set_fact:
        bench_value: "{{{{ {n} * 3 }}}}"
    - name: Write it
      ansible.builtin.copy:
        dest: "{{{{ bench_dir }}}}/out-{n}.txt"
        content: "{{{{ bench_value }}}}\\n"
        mode: "0644"
    - name: Read it back
      ansible.builtin.command: cat {{{{ bench_dir }}}}/out-{n}.txt
      changed_when: false
"""


# The same playbooks through bare ansible_runner.run(), one after another, as the smallest
# program that uses the ansible-runner hisops must use: it separates ansible-runner's own
# cost from hisops's (plan, journal, locks, secrets handling, scrubbing, progress).
RUNNER_LOOP = """
import os, sys, tempfile, ansible_runner
inventory, out, work, *playbooks = sys.argv[1:]
pdd = tempfile.mkdtemp(dir=work)
os.makedirs(pdd + "/env")
open(pdd + "/env/settings", "w").write("pexpect_timeout: 1\\n")
for n, pb in enumerate(playbooks):
    r = ansible_runner.run(private_data_dir=pdd, ident=f"r{n}", playbook=pb,
                           inventory=inventory, extravars={"bench_dir": out}, quiet=True,
                           suppress_env_files=True)
    assert r.status == "successful", r.status
"""


def write_fixture(work: Path) -> tuple[Path, Path, list[Path]]:
    inventory = work / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {"bench-host": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}))
    playbooks = []
    for n in range(1, STEPS + 1):
        path = work / f"pb{n:02d}.yml"
        path.write_text(PLAYBOOK.format(n=n))
        playbooks.append(path)
    runbook = work / "bench.yml"
    runbook.write_text(yaml.safe_dump({
        "name": "bench", "summary": "ten small playbooks",
        "parameters": {"dir": {"type": "str", "required": True}},
        "targets": ["all"],
        "steps": [{"id": f"s{n:02d}", "kind": "playbook", "hosts": "all",
                   "playbook": str(p), "idempotent": True,
                   "vars": {"bench_dir": "{{ params.dir }}"}}
                  for n, p in enumerate(playbooks, 1)],
    }, sort_keys=False))
    return inventory, runbook, playbooks


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    return time.perf_counter() - start


def bench_overhead(rounds: int) -> dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix="hisops-bench-"))
    try:
        inventory, runbook, playbooks = write_fixture(work)
        out = work / "out"
        out.mkdir()
        env = {**os.environ, "HISOPS_HOME": str(work / "home"), "ANSIBLE_NOCOLOR": "1",
               "PATH": f"{VENV_BIN}:{os.environ['PATH']}"}
        hisops_cmd = [str(VENV_BIN / "hisops"), "run", str(runbook), "-i", str(inventory),
                      "-e", f"dir={out}", "--yes"]

        def plain() -> float:
            start = time.perf_counter()
            for pb in playbooks:
                subprocess.run([str(VENV_BIN / "ansible-playbook"), "-i", str(inventory),
                                str(pb), "-e", f"bench_dir={out}"], check=True, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               stdin=subprocess.DEVNULL)
            return time.perf_counter() - start

        runner_cmd = [sys.executable, "-c", RUNNER_LOOP, str(inventory), str(out), str(work),
                      *map(str, playbooks)]

        timed(hisops_cmd, env)  # warm caches (pyc, page cache) for every side
        plain()
        timed(runner_cmd, env)
        hisops_times, plain_times, runner_times = [], [], []
        for _ in range(rounds):  # alternate, so load changes hit all three alike
            hisops_times.append(timed(hisops_cmd, env))
            plain_times.append(plain())
            runner_times.append(timed(runner_cmd, env))
        h, p = statistics.median(hisops_times), statistics.median(plain_times)
        r = statistics.median(runner_times)
        return {"steps": STEPS, "rounds": rounds, "hisops_s": hisops_times,
                "ansible_playbook_s": plain_times, "ansible_runner_loop_s": runner_times,
                "hisops_median_s": round(h, 3), "ansible_playbook_median_s": round(p, 3),
                "ansible_runner_loop_median_s": round(r, 3), "ratio": round(h / p, 3),
                "ratio_vs_bare_ansible_runner": round(h / r, 3), "target_ratio": 1.15}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def bench_plan(hosts: int, rounds: int) -> dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix="hisops-bench-plan-"))
    try:
        names = [f"db-{i:04d}" for i in range(hosts)]
        inventory = work / "inventory.yml"
        inventory.write_text(yaml.safe_dump({"all": {"children": {
            "db_primary": {"hosts": {n: {"ansible_host": "127.0.0.1", "ansible_port": 20000 + i}
                                     for i, n in enumerate(names[:hosts // 2])}},
            "db_standby": {"hosts": {n: {"ansible_host": "127.0.0.1", "ansible_port": 30000 + i}
                                     for i, n in enumerate(names[hosts // 2:])}},
        }}}))
        env = {**os.environ, "HISOPS_HOME": str(work / "home")}
        cmd = [str(VENV_BIN / "hisops"), "plan", "estate-check", "-i", str(inventory), "--json"]
        runbook = work / "fanout.yml"
        runbook.write_text(yaml.safe_dump({
            "name": "fanout", "summary": "plan on many hosts", "targets": ["all"],
            "guards": [{"name": "reachable", "kind": "ssh", "hosts": "all", "command": "true"}],
            "steps": [
                {"id": "probe", "kind": "ssh", "hosts": "all", "command": "true",
                 "read_only": True},
                {"id": "standby_first", "kind": "ssh", "hosts": "db_standby",
                 "command": "echo patch"},
                {"id": "primary", "kind": "ssh", "hosts": "db_primary", "command": "echo patch"},
            ]}, sort_keys=False))
        cmd = [str(VENV_BIN / "hisops"), "plan", str(runbook), "-i", str(inventory), "--json"]
        timed(cmd, env)
        times = [timed(cmd, env) for _ in range(rounds)]
        return {"hosts": hosts, "rounds": rounds, "plan_s": times,
                "plan_median_s": round(statistics.median(times), 3), "target_s": 2.0}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-overhead", action="store_true")
    args = parser.parse_args()
    results: dict[str, object] = {"python": sys.version.split()[0], "cpus": os.cpu_count()}
    if not args.skip_overhead:
        overhead = bench_overhead(args.rounds)
        results["overhead"] = overhead
        print(f"orchestration: hisops run {overhead['hisops_median_s']} s vs "
              f"{STEPS} x ansible-playbook {overhead['ansible_playbook_median_s']} s: "
              f"ratio {overhead['ratio']} (target <= 1.15)")
        print(f"  of which ansible-runner itself: {STEPS} x ansible_runner.run() "
              f"{overhead['ansible_runner_loop_median_s']} s; hisops vs bare ansible-runner: "
              f"ratio {overhead['ratio_vs_bare_ansible_runner']}")
    plan = bench_plan(1000, args.rounds)
    results["plan_1000_hosts"] = plan
    print(f"plan: hisops plan on 1,000 hosts {plan['plan_median_s']} s (target < 2 s)")
    results["ratios"] = engine_ratios(results)  # the rows bench_all.py collects
    save("engine", results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
