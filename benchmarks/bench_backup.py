"""Benchmark restore drills against the raw tool (issue 4's targets; measured, not asserted).

On its own lab (HISOPS_LAB_NAME=benchbackup, ports from 23200, dataset scale 1 by default)
so the developer's lab is left alone:

- the backup runbook once (a full backup), then, alternating for --rounds rounds on the same
  backup set: a bare ``pgbackrest restore`` on the scratch host (what a DBA would type), and
  ``hisops run verify-backup`` (the whole drill, and its restore phase from the evidence);
- the scratch host's sequential write speed (dd, 1 GiB, fdatasync): the physical limit.

Ratio = bare restore time / hisops restore phase (target >= 0.8); whole drill at scale 1
(target < 3 min). Both restore times are measured on the scratch host around the pgbackrest
process. Run: .venv/bin/python benchmarks/bench_backup.py [--scale 1] [--rounds 3] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _ratios import backup_ratios
from _results import save

ROOT = Path(__file__).resolve().parent.parent
HISOPS = str(Path(sys.executable).parent / "hisops")
LAB = "benchbackup"
BARE_DIR = "/var/lib/postgresql/bench-bare"


def run(*args: str, env: dict[str, str], check: bool = True) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(args, env=env, capture_output=True, text=True, check=False,
                          stdin=subprocess.DEVNULL)
    took = time.perf_counter() - start
    if check and proc.returncode != 0:
        raise SystemExit(f"{' '.join(args[:4])}... failed ({proc.returncode}):\n{proc.stderr}")
    return took, proc.stdout


def on_host(host: str, script: str) -> str:
    proc = subprocess.run(["podman", "exec", f"hisops-{LAB}-{host}", "bash", "-euo", "pipefail",
                           "-c", script], capture_output=True, text=True, check=True)
    return proc.stdout


def bare_restore(label: str) -> float:
    """What a DBA would type on the scratch host; seconds measured there."""
    out = on_host("verify-1", f"""
rm -rf {BARE_DIR}; install -d -o postgres -g postgres -m 700 {BARE_DIR}
start=$(date +%s.%N)
runuser -u postgres -- pgbackrest --stanza=his --pg1-path={BARE_DIR} --set={label} \
  --archive-mode=off --process-max=2 --type=immediate --target-action=promote restore
end=$(date +%s.%N)
rm -rf {BARE_DIR}
echo "$start $end"
""")
    start, end = (float(x) for x in out.split())
    return end - start


def write_speed_mbps() -> float:
    out = on_host("verify-1", "dd if=/dev/zero of=/var/lib/postgresql/dd.test bs=1M count=1024 "
                              "conv=fdatasync 2>&1 | tail -1; rm -f /var/lib/postgresql/dd.test")
    # "1073741824 bytes (1.1 GB, 1.0 GiB) copied, 2.1 s, 511 MB/s"
    seconds = float(out.split("copied,")[1].split("s,")[0])
    return round(1024**3 / seconds / 1e6, 1)


def drill_evidence(env: dict[str, str]) -> dict[str, Any]:
    from hisops.journal import open_journal

    with open_journal(env["HISOPS_JOURNAL"]) as journal:
        records = journal.records(kinds=["evidence.recorded"])
    drills = [r.payload["evidence"] for r in records if r.payload["type"] == "restore_drill"]
    return dict(drills[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="leave the bench lab running")
    args = parser.parse_args()
    state = tempfile.mkdtemp(prefix="hisops-bench-backup-")
    env = {**os.environ, "HISOPS_LAB_NAME": LAB, "HISOPS_LAB_DIR": f"{state}/lab",
           "HISOPS_LAB_PORT_BASE": "23200", "HISOPS_HOME": f"{state}/home",
           "HISOPS_JOURNAL": f"{state}/home/journal.sqlite3", "HISOPS_PROJECT": str(ROOT)}
    Path(env["HISOPS_HOME"]).mkdir(parents=True)
    inventory = f"{state}/lab/inventory/hosts.yml"
    results: dict[str, Any] = {"scale": args.scale, "rounds": args.rounds}
    try:
        took, _ = run(HISOPS, "lab", "up", "--scale", str(args.scale), env=env)
        results["lab_up_s"] = round(took, 1)
        took, _ = run(HISOPS, "run", "backup", "-i", inventory, "--yes", env=env)
        results["backup_run_s"] = round(took, 1)
        from hisops.journal import open_journal
        with open_journal(env["HISOPS_JOURNAL"]) as journal:
            (backup,) = [r.payload["evidence"] for r in journal.records(
                kinds=["evidence.recorded"]) if r.payload["type"] == "backup"]
        results["backup"] = backup
        label, size = backup["label"], int(backup["database_bytes"])
        print(f"backup {label}: {size / 1e6:.0f} MB, run {results['backup_run_s']} s",
              flush=True)
        # a warm-up drill, not counted: it makes verify-1 a pgBackRest client of the repository
        # (the bare restore needs that) and warms the page cache for both sides alike
        took, _ = run(HISOPS, "run", "verify-backup", "-i", inventory, "--yes",
                      "-e", f"backup={label}", env=env)
        results["first_drill_run_s"] = round(took, 1)
        print(f"warm-up drill (sets up verify-1): {took:.1f} s", flush=True)
        bare, phase, whole, rto, checks, recovery = [], [], [], [], [], []
        for round_no in range(1, args.rounds + 1):
            bare.append(bare_restore(label))
            took, _ = run(HISOPS, "run", "verify-backup", "-i", inventory, "--yes",
                          "-e", f"backup={label}", env=env)
            proof = drill_evidence(env)
            if not proof["passed"]:
                raise SystemExit(f"drill failed: {json.dumps(proof['findings'])}")
            whole.append(took)
            phase.append(proof["restore_s"])
            recovery.append(proof["recovery_s"])
            checks.append(proof["checks_s"])
            rto.append(proof["rto_s"])
            print(f"round {round_no}: bare restore {bare[-1]:.1f} s, hisops restore "
                  f"{phase[-1]:.1f} s, recovery {recovery[-1]:.1f} s, checks {checks[-1]:.1f} s,"
                  f" RTO {rto[-1]:.1f} s, whole drill {took:.1f} s", flush=True)
        med = statistics.median
        results.update({
            "bare_restore_s": bare, "hisops_restore_s": phase, "recovery_s": recovery,
            "checks_s": checks, "rto_s": rto, "drill_run_s": [round(t, 1) for t in whole],
            "ratio_bare_over_hisops": round(med(bare) / med(phase), 3),
            "bare_mbps": round(size / med(bare) / 1e6, 1),
            "hisops_mbps": round(size / med(phase) / 1e6, 1),
            "write_mbps": write_speed_mbps(),
        })
        print(f"\nrestore of {size / 1e6:.0f} MB: bare {med(bare):.1f} s "
              f"({results['bare_mbps']} MB/s), hisops phase {med(phase):.1f} s "
              f"({results['hisops_mbps']} MB/s): ratio {results['ratio_bare_over_hisops']} "
              f"(target >= 0.8)")
        print(f"whole drill {med(whole):.1f} s (target < 180 s at scale 1): restore "
              f"{med(phase):.1f} + recovery {med(recovery):.1f} + checks {med(checks):.1f} = "
              f"RTO {med(rto):.1f} s; the rest is Ansible and set-up")
        print(f"scratch host sequential write: {results['write_mbps']} MB/s (dd, fdatasync)")
        results["ratios"] = backup_ratios(results)  # the rows bench_all.py collects
        print(f"raw results: {save('bench_backup', results)}")
    finally:
        if not args.keep:
            subprocess.run([HISOPS, "lab", "down"], env=env, check=False,
                           stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
