"""Benchmark the lab against issue 3's targets (measured, not asserted).

- ``lab up`` from a cached image, a fresh lab (target < 60 s);
- ``lab up`` when everything already runs (idempotent re-run);
- ``lab up --hosts 20``: time and the memory the containers use (must fit 2 cores, 24 GiB);
- with ``--image``: a full image rebuild (target < 5 min).

It uses its own lab (HISOPS_LAB_NAME=bench, ports from 23200) so a developer's lab is left
alone, and takes it down at the end. Run: .venv/bin/python benchmarks/bench_lab.py [--image]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HISOPS = str(Path(sys.executable).parent / "hisops")


def hisops(*args: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([HISOPS, "lab", *args], check=True, env=env, stdout=subprocess.DEVNULL,
                   stdin=subprocess.DEVNULL)
    return round(time.perf_counter() - start, 1)


def used_memory_mib() -> int:
    info = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    kib = int(info["MemTotal"].split()[0]) - int(info["MemAvailable"].split()[0])
    return kib // 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", action="store_true", help="also time a full image rebuild")
    args = parser.parse_args()
    state = tempfile.mkdtemp(prefix="hisops-bench-lab-")
    env = {**os.environ, "HISOPS_LAB_NAME": "bench", "HISOPS_LAB_DIR": state,
           "HISOPS_LAB_PORT_BASE": "23200"}
    results: dict[str, object] = {}
    if args.image:
        results["image_rebuild_s"] = hisops("image", "--rebuild", env=env)
    else:
        hisops("image", env=env)  # make sure it is cached; not timed
    hisops("down", env=env)
    before = used_memory_mib()
    try:
        results["up_fresh_s"] = hisops("up", env=env)
        results["up_again_s"] = hisops("up", env=env)
        results["up_hosts_20_s"] = hisops("up", "--hosts", "20", env=env)
        time.sleep(5)
        results["memory_used_by_lab_mib"] = used_memory_mib() - before
        results["status_s"] = hisops("status", env=env)
    finally:
        results["down_s"] = hisops("down", env=env)
    print(json.dumps(results, indent=2))
    out_dir = ROOT / "benchmarks" / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    (out_dir / f"lab-{stamp}.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
